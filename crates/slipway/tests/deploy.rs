//! The deploy example (examples/deploy, README "Deploy") end to end with the
//! real binary, a real HAProxy started by the example's `haproxy.sh`, and the
//! real demo service: run → v1 everywhere; run again → v2 with 0 failed
//! requests under load; `env show`, `deployments`, `rollback` → v1
//! everywhere; `env stop` leaves nothing running. Plus bad input.
//!
//! The example is copied to a temporary directory as `examples/deploy/`, its
//! fixed ports (9100-9103) replaced by free ones, and driven with the
//! README's commands. HAProxy and the demo binary come from `scripts/test`
//! (which installs haproxy and builds the workspace first).

mod common;

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::example::{Example, Load, json, require, version_at};

const FILE: &str = "examples/deploy/slipway.yml";

/// The example on free ports: the frontend (9100), then the targets.
fn example() -> Example {
    Example::new(
        "deploy",
        "local",
        &[],
        &[9100, 9101, 9102, 9103],
        &["haproxy.sh"],
    )
}

fn require_haproxy() {
    require("/usr/sbin/haproxy");
}

fn frontend(example: &Example) -> SocketAddr {
    example.addr(0)
}

fn target_ports(example: &Example) -> Vec<u16> {
    example.ports[1..].to_vec()
}

fn assert_everywhere(example: &Example, version: &str) {
    for port in target_ports(example) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(
            version_at(addr).as_deref(),
            Ok(version),
            "target on port {port}"
        );
    }
    for _ in 0..6 {
        assert_eq!(version_at(frontend(example)).as_deref(), Ok(version));
    }
}

#[test]
fn the_readme_deploy_flow_works_end_to_end() {
    require_haproxy();
    let example = example();
    let started = example.script("haproxy.sh", "start");
    assert_eq!(started.code, Some(0), "haproxy.sh start: {}", started.all());

    // First run: v1 on the three targets.
    let first = example.deploy("v1", &[]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    assert_everywhere(&example, "v1");

    // Second run under load: v2, rolling, no request fails.
    let load = Load::start(frontend(&example), "/version", 4);
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        thread::sleep(Duration::from_millis(10));
    }
    let second = example.deploy("v2", &[]);
    let deployed = Instant::now();
    // Keep the load on a little after the deploy so that "after" is not empty.
    thread::sleep(Duration::from_millis(300));
    let samples = load.finish();
    assert_eq!(second.code, Some(0), "{}", second.all());
    assert!(
        samples.len() >= 100,
        "the load generator sent only {} requests",
        samples.len()
    );
    let failed: Vec<String> = samples
        .iter()
        .filter_map(|(_, r)| match r {
            Ok(answer) if answer.status == 200 => None,
            Ok(answer) => Some(format!("status {}", answer.status)),
            Err(error) => Some(error.clone()),
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the rolling deploy: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(10)]
    );
    let late: Vec<&str> = samples
        .iter()
        .filter(|(sent, _)| *sent >= deployed)
        .filter_map(|(_, r)| r.as_ref().ok().map(|a| a.body.as_str()))
        .collect();
    assert!(!late.is_empty(), "no request after the deploy");
    assert!(
        late.iter().all(|v| *v == "v2"),
        "after the deploy: {late:?}"
    );
    assert_everywhere(&example, "v2");

    // `deployments`: two records, the second one's digest is v2's.
    let records = example.slipway(&["deployments", "local", "--file", FILE, "--json"]);
    assert_eq!(records.code, Some(0), "{}", records.all());
    let records = json(&records);
    let records = records.as_array().expect("an array of records");
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r["outcome"] == "succeeded"));
    let v1_digest = records[0]["digest"].as_str().expect("digest").to_owned();
    let v2_digest = records[1]["digest"].as_str().expect("digest").to_owned();
    assert_ne!(v1_digest, v2_digest);
    assert_eq!(records[1]["targets"].as_array().map(Vec::len), Some(3));
    let table = example.slipway(&["deployments", "local", "--file", FILE]);
    assert_eq!(table.code, Some(0), "{}", table.all());
    assert!(table.stdout.contains("local-1") && table.stdout.contains("local-2"));
    let last = example.slipway(&[
        "deployments",
        "local",
        "--file",
        FILE,
        "--json",
        "--limit",
        "1",
    ]);
    assert_eq!(json(&last).as_array().map(Vec::len), Some(1));

    // `env show`: three targets, v2's digest, serving, healthy, ready in HAProxy.
    let shown = example.slipway(&["env", "show", "local", "--file", FILE, "--json"]);
    assert_eq!(shown.code, Some(0), "{}", shown.all());
    let shown = json(&shown);
    let targets = shown["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 3, "{shown}");
    for target in targets {
        assert_eq!(target["digest"], v2_digest.as_str(), "{target}");
        assert_eq!(target["phase"], "serving", "{target}");
        assert!(target["health"].get("Ok").is_some(), "{target}");
        assert_eq!(target["lb"]["Ok"]["admin"], "ready", "{target}");
    }
    let table = example.slipway(&["env", "show", "local", "--file", FILE]);
    assert_eq!(table.code, Some(0), "{}", table.all());
    for name in ["web-1", "web-2", "web-3"] {
        let row = table
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {}", table.stdout));
        assert!(
            row.contains(&v2_digest[..12]) && row.contains("healthy") && row.contains("ready"),
            "{row}"
        );
    }

    // `rollback`: v1 again everywhere, recorded as a rollback.
    let rollback = example.slipway(&["rollback", "local", "--file", FILE]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.all());
    assert!(
        rollback.stdout.contains("web-3: ready"),
        "{}",
        rollback.stdout
    );
    assert_everywhere(&example, "v1");
    let records = json(&example.slipway(&["deployments", "local", "--file", FILE, "--json"]));
    let last = &records[2];
    assert_eq!(
        (last["kind"].as_str(), last["digest"].as_str()),
        (Some("rollback"), Some(v1_digest.as_str()))
    );

    // `env stop`: nothing of the environment keeps running.
    let stopped = example.slipway(&["env", "stop", "local", "--file", FILE]);
    assert_eq!(stopped.code, Some(0), "{}", stopped.all());
    for port in target_ports(&example) {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers after env stop"
        );
    }
    let shown = json(&example.slipway(&["env", "show", "local", "--file", FILE, "--json"]));
    for target in shown["targets"].as_array().expect("targets") {
        assert_eq!(target["digest"], serde_json::Value::Null, "{target}");
        assert_eq!(target["lb"]["Ok"]["admin"], "maint", "{target}");
    }
}

#[test]
fn bad_input_is_refused_with_exit_2() {
    let example = example();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // An unknown environment lists the known ones.
    for command in [
        args(&["env", "show", "nope", "--file", FILE]),
        args(&["deployments", "nope", "--file", FILE]),
        args(&["rollback", "nope", "--file", FILE]),
        args(&["env", "stop", "nope", "--file", FILE]),
    ] {
        let refs: Vec<&str> = command.iter().map(String::as_str).collect();
        let run = example.slipway(&refs);
        assert_eq!(run.code, Some(2), "{command:?}: {}", run.all());
        assert!(
            run.stderr.contains("no environment `nope`")
                && run.stderr.contains("environments: local"),
            "{command:?}: {}",
            run.stderr
        );
    }

    // An invalid environment file: file:line:column.
    std::fs::write(
        example.dir().join(".slipway/environments/broken.yml"),
        "targets:\n  - name: web-1\n    kind: lokal\n    port: 1\n",
    )
    .expect("write broken.yml");
    let run = example.slipway(&["env", "show", "broken", "--file", FILE]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains(".slipway/environments/broken.yml:3:11")
            && run.stderr.contains("lokal"),
        "{}",
        run.stderr
    );
    let listed = example.slipway(&["env", "list", "--file", FILE]);
    assert_eq!(listed.stdout, "broken\nlocal\n");

    // Nothing deployed yet: nothing to roll back to.
    let run = example.slipway(&["rollback", "local", "--file", FILE]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("nothing to roll back to"),
        "{}",
        run.stderr
    );

    // `artifact:` naming an artifact that `build` does not declare.
    let pipeline = std::fs::read_to_string(example.dir().join("slipway.yml")).expect("read");
    std::fs::write(
        example.dir().join("slipway.yml"),
        pipeline.replace("artifact: build.service", "artifact: build.nothing"),
    )
    .expect("write");
    let run = example.slipway(&["run", "--file", FILE]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("nothing") && run.stderr.contains("slipway.yml:"),
        "{}",
        run.stderr
    );
    assert!(
        !example
            .dir()
            .join(".slipway/local/environments/local/state.json")
            .exists()
    );
}
