//! `slipway run` end to end: the real binary, real processes, real files.

mod common;

use common::Project;

#[test]
fn example_pipeline_runs_then_hits_the_cache_and_explains_misses() {
    let project = Project::example("hello");
    let first = project.run(&["run", "--explain"]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    assert!(
        first
            .stdout
            .contains("tests of test: 4 tests, 3 passed, 0 failed, 0 errors, 1 skipped"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("build/app  blake3:"),
        "artifact digest listed: {}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains("no earlier run of this job is recorded"),
        "{}",
        first.stdout
    );

    let second = project.run(&["run", "--json"]);
    assert_eq!(second.code, Some(0), "{}", second.all());
    let jobs = second.finished_jobs();
    assert_eq!(jobs.len(), 5);
    for job in &jobs {
        assert_eq!(
            job["cache"]["status"], "hit",
            "every job is a cache hit: {job}"
        );
    }

    project.write("src/hello.sh", "#!/bin/sh\necho changed\n");
    let third = project.run(&["run", "--explain", "build"]);
    assert_eq!(third.code, Some(0), "{}", third.all());
    assert!(
        third.stdout.contains("miss: file `src/hello.sh` changed"),
        "{}",
        third.stdout
    );
}

#[test]
fn failing_step_fails_the_run_and_skips_dependents() {
    let project = Project::new(
        "
jobs:
  build:
    steps:
      - run: echo building; exit 3
  deploy:
    needs: [build]
    steps: [{run: echo never}]
  lint:
    steps: [{run: echo linted}]
",
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("exited with code 3"), "{}", run.stdout);
    assert!(
        run.stdout.contains("needs build which did not succeed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("linted"),
        "independent jobs go on: {}",
        run.stdout
    );
    assert!(!run.stdout.contains("never"), "{}", run.stdout);
}

#[test]
fn outputs_flow_from_steps_to_jobs_and_conditions_see_them() {
    let project = Project::new(
        r#"
jobs:
  version:
    steps:
      - id: v
        run: |
          echo "number=1.2.3" >> "$SLIPWAY_OUTPUT"
          echo "unused=x" >> "$SLIPWAY_OUTPUT"
    outputs:
      number: ${{ steps.v.outputs.number }}
  release:
    needs: [version]
    if: needs.version.outputs.number == '1.2.3'
    steps:
      - run: echo "releasing ${{ needs.version.outputs.number }} ($NUMBER)"
        env:
          NUMBER: ${{ needs.version.outputs.number }}
  never:
    needs: [version]
    if: needs.version.result == 'failure'
    steps: [{run: echo never}]
"#,
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("releasing 1.2.3 (1.2.3)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("is false"), "{}", run.stdout);
    assert!(!run.stdout.contains("│ never"), "{}", run.stdout);
}

#[test]
fn step_timeout_fails_the_step() {
    let project = Project::new(
        "
jobs:
  slow:
    steps:
      - run: sleep 30
        timeout: 1s
",
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("timed out"), "{}", run.stdout);
}

#[test]
fn retries_run_a_failing_step_again() {
    let project = Project::new(
        r#"
jobs:
  flaky:
    steps:
      - run: |
          n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count
          echo "attempt $n"
          [ "$n" -ge 3 ]
        retry: 2
"#,
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stdout.contains("attempt 3"), "{}", run.stdout);
}

#[test]
fn artifact_paths_that_leave_the_workspace_are_refused() {
    let project = Project::new(
        "
jobs:
  escape:
    steps:
      - run: ln -sf /etc/passwd link
    artifacts:
      link: link
",
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("artifact `link`"), "{}", run.stdout);
    assert!(
        run.stdout.to_lowercase().contains("outside"),
        "{}",
        run.stdout
    );
}

#[test]
fn artifacts_reach_jobs_in_clean_checkouts() {
    let project = Project::new(
        "
jobs:
  build:
    steps:
      - run: mkdir -p out && echo payload > out/app.txt
    artifacts:
      app: out/app.txt
  use:
    needs: [build]
    steps:
      - run: cat out/app.txt; cat uncommitted.txt 2>/dev/null || echo 'no uncommitted file'
",
    );
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(project.path())
            .output()
            .expect("git");
        assert!(
            status.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "slipway.yml"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "pipeline",
    ]);
    project.write("uncommitted.txt", "local change");
    let run = project.run(&["run", "--clean"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stdout.contains("│ payload"), "{}", run.stdout);
    assert!(run.stdout.contains("no uncommitted file"), "{}", run.stdout);
}

#[test]
fn failing_tests_are_listed_with_their_messages() {
    let project = Project::new(
        r#"
jobs:
  test:
    steps:
      - run: |
          mkdir -p reports
          cat > reports/junit.xml <<'XML'
          <testsuite name="s" tests="2" failures="1">
            <testcase classname="math" name="adds"/>
            <testcase classname="math" name="divides"><failure message="expected 2, got 3"/></testcase>
          </testsuite>
          XML
          echo "<not xml" > reports/broken.xml
    reports:
      junit: ["reports/*.xml"]
"#,
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("FAIL math::divides  expected 2, got 3"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("report `reports/broken.xml` could not be read"),
        "{}",
        run.stdout
    );
}

#[test]
fn no_store_leaves_no_files() {
    let project = Project::new("jobs:\n  a:\n    steps: [{run: echo hi}]\n");
    let run = project.run(&["run", "--no-store"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(!project.path().join(".slipway").exists());
}

#[test]
fn manual_inputs_are_typed() {
    let project = Project::new(
        r#"
on:
  manual:
    inputs:
      count: {type: number, required: true}
jobs:
  a:
    steps: [{run: "echo count is ${{ inputs.count }}"}]
"#,
    );
    let missing = project.run(&["run"]);
    assert_eq!(missing.code, Some(2), "{}", missing.all());
    assert!(
        missing.stderr.contains("input `count` is required"),
        "{}",
        missing.stderr
    );
    let wrong = project.run(&["run", "--input", "count=many"]);
    assert_eq!(wrong.code, Some(2));
    let run = project.run(&["run", "--input", "count=3"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stdout.contains("count is 3"), "{}", run.stdout);
}

#[test]
fn directory_cache_is_saved_then_restored_by_key() {
    let project = Project::new(
        r#"
jobs:
  deps:
    cache:
      key: deps-${{ hashFiles('lockfile') }}
      paths: [vendor]
    steps:
      - run: |
          if [ -f vendor/lib.txt ]; then echo "restored: $(cat vendor/lib.txt)"; else echo "downloading"; mkdir -p vendor; echo "lib v1" > vendor/lib.txt; fi
"#,
    );
    project.write("lockfile", "lib = 1\n");
    let first = project.run(&["run"]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    assert!(first.stdout.contains("downloading"), "{}", first.stdout);
    std::fs::remove_dir_all(project.path().join("vendor")).expect("remove vendor");
    let second = project.run(&["run"]);
    assert!(
        second.stdout.contains("restored: lib v1"),
        "{}",
        second.stdout
    );
    project.write("lockfile", "lib = 2\n");
    std::fs::remove_dir_all(project.path().join("vendor")).expect("remove vendor");
    let third = project.run(&["run"]);
    assert!(
        third.stdout.contains("downloading"),
        "a new key misses: {}",
        third.stdout
    );
}

#[test]
fn job_timeout_and_job_retry() {
    let project = Project::new(
        r#"
jobs:
  slow:
    timeout: 1s
    steps:
      - run: echo one
      - run: sleep 30
  again:
    retry: 1
    steps:
      - run: |
          if [ -f tried ]; then echo "second attempt"; else touch tried; echo "first attempt"; exit 1; fi
"#,
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stdout.contains("the job timed out after 1s"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("second attempt"), "{}", run.stdout);
    assert!(
        run.stdout.contains("again    success") || run.stdout.contains("again  success"),
        "{}",
        run.stdout
    );
}

#[test]
fn status_functions_job_status_and_hash_files_in_steps() {
    let project = Project::new(
        r#"
jobs:
  build:
    steps:
      - run: exit 1
      - name: never
        run: echo "skipped step ran"
      - name: report
        if: failure()
        run: echo "job status is ${{ job.status }}; lock hash ${{ hashFiles('lockfile') }}"
  notify:
    needs: [build]
    if: failure()
    steps: [{run: echo "notified of failure"}]
  cleanup:
    needs: [build]
    if: always()
    steps: [{run: echo "cleaned up"}]
  deploy:
    needs: [build]
    steps: [{run: echo "deployed"}]
"#,
    );
    project.write("lockfile", "x");
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(!run.stdout.contains("skipped step ran"), "{}", run.stdout);
    assert!(
        run.stdout.contains("job status is failure; lock hash "),
        "{}",
        run.stdout
    );
    let hash_line = run
        .stdout
        .lines()
        .find(|l| l.contains("lock hash "))
        .unwrap_or_default();
    let hash = hash_line.rsplit(' ').next().unwrap_or_default();
    assert_eq!(hash.len(), 64, "hashFiles gives a digest: {hash_line}");
    assert!(run.stdout.contains("notified of failure"), "{}", run.stdout);
    assert!(run.stdout.contains("cleaned up"), "{}", run.stdout);
    assert!(!run.stdout.contains("│ deployed"), "{}", run.stdout);
}

#[test]
fn continue_on_error_keeps_the_job_and_the_run_green() {
    let project = Project::new(
        r#"
jobs:
  lint:
    continue-on-error: true
    steps: [{run: exit 4}]
  build:
    steps:
      - id: optional
        run: exit 2
        continue-on-error: true
      - run: echo "optional step outcome ${{ steps.optional.outcome }}, conclusion ${{ steps.optional.conclusion }}"
  after:
    needs: [lint]
    steps: [{run: echo "after lint"}]
"#,
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout
            .contains("optional step outcome failure, conclusion success"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("after lint"), "{}", run.stdout);
}

#[test]
fn job_concurrency_groups_run_one_instance_at_a_time() {
    // Both instances are ready at once and nothing else limits them (the
    // default parallelism is above 2): only the group keeps them apart.
    let project = Project::new(
        "
on: [manual]
jobs:
  deploy:
    matrix:
      region: [eu, us]
    concurrency: deploy-${{ git.branch }}
    steps:
      - run: echo ${{ matrix.region }} start >> order; sleep 1; echo ${{ matrix.region }} end >> order
",
    );
    let ran = project.run(&["run", "--parallel", "4"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(
        ran.stdout.contains("waiting: concurrency group `deploy-")
            && ran.stdout.contains("is held by deploy ("),
        "{}",
        ran.stdout
    );
    let order = std::fs::read_to_string(project.path().join("order")).expect("order");
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 4, "{order}");
    let first = lines[0].split(' ').next().expect("region");
    let second = if first == "eu" { "us" } else { "eu" };
    assert_eq!(
        lines,
        [
            format!("{first} start"),
            format!("{first} end"),
            format!("{second} start"),
            format!("{second} end"),
        ]
    );

    // With cancel-in-progress the later instance supersedes the earlier:
    // that one is cancelled naming it, and so is the run.
    project.write(
        "slipway.yml",
        "
on: [manual]
jobs:
  deploy:
    matrix:
      region: [eu, us]
    concurrency:
      group: prod
      cancel-in-progress: true
    steps:
      - run: sleep 1
",
    );
    let superseded = project.run(&["run", "--parallel", "4"]);
    assert_eq!(superseded.code, Some(1), "{}", superseded.all());
    assert!(
        superseded
            .stdout
            .contains("superseded by deploy (us) of run 2 (concurrency group `prod`)"),
        "{}",
        superseded.stdout
    );
}
