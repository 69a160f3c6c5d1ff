//! Environment files (`.slipway/environments/NAME.yml`): every
//! `tests/fixtures/environments/valid/*.yml` renders its model, every
//! `tests/fixtures/environments/invalid/*.yml` renders its diagnostics. Adding a case is
//! adding a file. Also: the examples of docs/deploy.md and docs/delivery.md are valid, and the committed
//! `environment.schema.json` is what the code generates.

use std::path::{Path, PathBuf};

use slipway_spec::deploy::{Action, Environment, HealthProbe, KnownHosts, TargetKind};
use slipway_spec::parse_environment;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/environments")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn read(path: &Path) -> (String, String) {
    let source =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (name, source)
}

fn settings(kind: &str, source: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("fixtures/snapshots/environments/{kind}"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(source);
    settings.set_omit_expression(true);
    settings
}

fn valid(source: &str, name: &str) -> Environment {
    let file = format!(".slipway/environments/{name}.yml");
    match parse_environment(source, &file, name) {
        Ok(environment) => environment,
        Err(diagnostics) => panic!(
            "{file} should be valid:\n{}",
            diagnostics.render(source, false)
        ),
    }
}

#[test]
fn valid_fixtures_parse() {
    for path in fixtures("valid") {
        let (name, source) = read(&path);
        let environment = valid(&source, &name);
        settings("valid", &source)
            .bind(|| insta::assert_snapshot!(name, format!("{environment:#?}")));
    }
}

#[test]
fn invalid_fixtures_report() {
    for path in fixtures("invalid") {
        let (name, source) = read(&path);
        let file = format!("{name}.yml");
        let Err(diagnostics) = parse_environment(&source, &file, &name) else {
            panic!("{file} should be invalid");
        };
        settings("invalid", &source)
            .bind(|| insta::assert_snapshot!(name, diagnostics.render(&source, false)));
    }
}

#[test]
fn defaults_are_filled_in() {
    let environment = valid(
        "targets:\n  - {name: a, kind: ssh, host: h, user: u}\nservice:\n  health: {command: \"true\"}\n",
        "dev",
    );
    assert_eq!(environment.parallelism, 1);
    assert!(environment.load_balancer.is_none());
    let target = &environment.targets[0];
    assert_eq!((target.lb_server.as_str(), target.port), ("a", None));
    let TargetKind::Ssh(ssh) = &target.kind else {
        panic!("an ssh target: {target:?}");
    };
    assert_eq!(ssh.ssh_port, 22);
    assert_eq!(ssh.known_hosts, KnownHosts::Strict);
    assert_eq!(ssh.dir, ".slipway/deploy");
    let health = environment.service.health.as_ref().expect("a health check");
    assert_eq!(health.check, HealthProbe::Command("true".into()));
    assert_eq!(health.interval.as_millis(), 500);
    assert_eq!(health.timeout.as_secs(), 2);
    assert_eq!(health.successes, 1);
    assert_eq!(health.max_wait.as_secs(), 60);
    assert_eq!(environment.service.install, None);
}

#[test]
fn words_are_builtins_only_in_their_slots() {
    let environment = valid(
        "targets: [{name: a, kind: local, port: 1}]\nservice:\n  install: stop\n  activate: remove\n  deactivate: stop\n  uninstall: remove\n",
        "dev",
    );
    let service = &environment.service;
    assert_eq!(service.install, Some(Action::Command("stop".into())));
    assert_eq!(service.activate, Some(Action::Command("remove".into())));
    assert_eq!(service.deactivate, Some(Action::Stop));
    assert_eq!(service.uninstall, Some(Action::Remove));
}

#[test]
fn environment_name_is_checked() {
    let source = "targets: [{name: a, kind: local, port: 1}]\n";
    for bad in ["", "-prod", "prod env", "prod/eu", "é"] {
        let Err(d) = parse_environment(source, "x.yml", bad) else {
            panic!("`{bad}` should be refused");
        };
        assert!(
            d.0[0].message.contains("invalid environment name"),
            "{d:#?}"
        );
    }
    for good in ["prod", "eu-west.1", "0", "Staging_2"] {
        valid(source, good);
    }
}

#[test]
fn errors_carry_the_file_name_and_positions() {
    let source = "targets:\n  - {name: a, kind: lokal, port: 1}\n";
    let Err(d) = parse_environment(source, ".slipway/environments/dev.yml", "dev") else {
        panic!("invalid");
    };
    assert_eq!(
        d.to_string(),
        ".slipway/environments/dev.yml:2:21: error: unknown target kind `lokal`\n"
    );
    assert_eq!(d.0[0].help.as_deref(), Some("did you mean `local`?"));
}

#[test]
fn hostile_input_is_bounded() {
    let big = "a".repeat(slipway_spec::MAX_FILE_BYTES + 1);
    let Err(d) = parse_environment(&big, "big.yml", "big") else {
        panic!("refused");
    };
    assert!(
        d.0[0]
            .message
            .contains("an environment file may be at most"),
        "{d:#?}"
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let Err(d) = parse_environment(&deep, "deep.yml", "deep") else {
        panic!("refused");
    };
    assert!(d.0[0].message.contains("nested more than"), "{d:#?}");
    for odd in [
        "",
        "~",
        "targets",
        "targets: 1",
        "targets: [1, [2], {}]",
        "targets: [{name: [], kind: {}}]",
        "\0",
    ] {
        assert!(parse_environment(odd, "odd.yml", "odd").is_err(), "{odd:?}");
    }
}

/// Every complete example in docs/deploy.md and docs/delivery.md must be valid: environment
/// files (a ```yaml block with a top-level `targets:`) and pipelines (a top-level `jobs:`).
#[test]
fn reference_examples_are_valid() {
    for (doc, at_least) in [("deploy.md", 2), ("delivery.md", 2)] {
        check_examples(doc, at_least);
    }
}

fn check_examples(doc: &str, at_least: usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(doc);
    let Ok(reference) = std::fs::read_to_string(&path) else {
        println!("skipped: no {doc} at {}", path.display());
        return;
    };
    let shown = format!("docs/{doc}");
    let mut checked = 0;
    for block in reference.split("```yaml\n").skip(1) {
        let source = block.split("```").next().unwrap_or_default();
        if source.lines().any(|line| line == "targets:") {
            if let Err(d) = parse_environment(source, &shown, "example") {
                panic!(
                    "an environment example of {shown} is invalid:\n{source}\n{}",
                    d.render(source, false)
                );
            }
            checked += 1;
        } else if source.lines().any(|line| line == "jobs:") {
            if let Err(d) = slipway_spec::parse_pipeline(source, &shown) {
                panic!(
                    "a pipeline example of {shown} is invalid:\n{source}\n{}",
                    d.render(source, false)
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= at_least,
        "fewer than {at_least} complete examples in {}",
        path.display()
    );
}

/// The committed `environment.schema.json` must equal what the code generates. Run with
/// `UPDATE_SCHEMA=1` to rewrite it after changing the format.
#[test]
fn committed_schema_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("environment.schema.json");
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&slipway_spec::environment_schema())
            .expect("a JSON value serialises")
    );
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the code; regenerate it with `UPDATE_SCHEMA=1 cargo test -p slipway-spec --test environments` and commit it",
        path.display()
    );
}

#[test]
fn schema_describes_every_key() {
    let schema = slipway_spec::environment_schema();
    let top = &schema["properties"];
    for key in [
        "targets",
        "service",
        "load_balancer",
        "parallelism",
        "requires",
        "freeze",
    ] {
        assert!(top.get(key).is_some(), "{key}");
    }
    let window = &top["freeze"]["items"];
    assert_eq!(window["required"], serde_json::json!(["name"]));
    for key in ["name", "cron", "duration", "from", "until"] {
        assert!(window["properties"].get(key).is_some(), "freeze key {key}");
    }
    let target = &top["targets"]["items"]["properties"];
    for key in [
        "name",
        "kind",
        "port",
        "lb_server",
        "group",
        "host",
        "ssh_port",
        "user",
        "key",
        "known_hosts",
        "known_hosts_file",
        "dir",
        "docker_host",
        "container_port",
    ] {
        assert!(target.get(key).is_some(), "target key {key}");
    }
    assert_eq!(
        top["targets"]["items"]["required"],
        serde_json::json!(["name", "kind"])
    );
    let health = &top["service"]["properties"]["health"]["properties"];
    for key in [
        "http",
        "command",
        "interval",
        "timeout",
        "successes",
        "max_wait",
    ] {
        assert!(health.get(key).is_some(), "health key {key}");
    }
}
