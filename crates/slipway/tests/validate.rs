//! `slipway validate` and bad input: clear errors with file:line:column, exit 2, no panic.

mod common;

use common::Project;

#[test]
fn validate_points_at_line_and_column_of_every_error() {
    let project = Project::new(
        "jobs:
  build:
    steps:
      - run: make
  test:
    nedes: [build]
    steps:
      - run: echo ${{ matrix.os }}
  deploy:
    needs: [biuld]
    steps:
      - run: echo ${{ 1 + }}
",
    );
    let run = project.run(&["validate"]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("slipway.yml:6:5"),
        "unknown key `nedes`: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `needs`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("slipway.yml:10:13"),
        "unknown job `biuld`: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("slipway.yml:8:"),
        "undefined matrix axis: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("slipway.yml:12:"),
        "bad expression: {}",
        run.stderr
    );
    // `run` refuses the same file with the same errors and runs nothing.
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(2));
    assert!(!project.path().join(".slipway/local/runs").exists());
}

#[test]
fn a_cycle_is_reported_with_its_path() {
    let project = Project::new(
        "jobs:
  a: {needs: [c], steps: [{run: 'true'}]}
  b: {needs: [a], steps: [{run: 'true'}]}
  c: {needs: [b], steps: [{run: 'true'}]}
",
    );
    let run = project.run(&["validate"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("a -> c -> b -> a"), "{}", run.stderr);
}

#[test]
fn huge_binary_and_missing_files_get_clear_errors() {
    let project = Project::new("jobs: {}\n");
    std::fs::write(project.path().join("big.yml"), vec![b'#'; 100 << 20]).expect("write");
    let big = project.run(&["validate", "big.yml"]);
    assert_eq!(big.code, Some(2));
    assert!(big.stderr.contains("at most"), "{}", big.stderr);

    std::fs::write(
        project.path().join("garbage.yml"),
        [0xff, 0xfe, 0x00, 0x12, 0x80, 0x81],
    )
    .expect("write");
    let garbage = project.run(&["validate", "garbage.yml"]);
    assert_eq!(garbage.code, Some(2));
    assert!(garbage.stderr.contains("garbage.yml"), "{}", garbage.stderr);

    let missing = project.run(&["validate", "nope.yml"]);
    assert_eq!(missing.code, Some(2));
    assert!(
        missing.stderr.contains("no such file"),
        "{}",
        missing.stderr
    );
}

#[test]
fn schema_matches_the_committed_file() {
    let project = Project::new("jobs: {}\n");
    let run = project.run(&["schema"]);
    assert_eq!(run.code, Some(0));
    let printed: serde_json::Value = serde_json::from_str(&run.stdout).expect("schema is JSON");
    let committed_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../slipway-spec/slipway.schema.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(committed_path).expect("committed schema"))
            .expect("JSON");
    assert_eq!(
        printed, committed,
        "run UPDATE_SCHEMA=1 cargo test -p slipway-spec to refresh the committed schema"
    );
}

#[test]
fn usage_errors_exit_2() {
    let project = Project::new("jobs:\n  a: {steps: [{run: 'true'}]}\n");
    assert_eq!(project.run(&["run", "--frobnicate"]).code, Some(2));
    let unknown = project.run(&["run", "nosuchjob"]);
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown.stderr.contains("no job named nosuchjob"),
        "{}",
        unknown.stderr
    );
}
