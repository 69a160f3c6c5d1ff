//! The canary example (examples/canary, README "Canary release") end to end
//! with the real binary, HAProxy and Prometheus started by the example's
//! scripts, and the real demo service under load through HAProxy:
//! v1 everywhere (no baseline yet: the rolling path); v2 as a canary at 10%,
//! verified by both judges, 50%, 100%, then promoted to every target with 0
//! failed requests; v3 answering every 20th request with 500 is judged bad,
//! rolled back (v2 everywhere again), every failed request answered by the
//! canary, and the release record holds the judges' evidence.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::example::{Example, Load, Sample, json, require, version_at};

const FILE: &str = "examples/canary/slipway.yml";

/// The example on free ports: the frontend (9200), the four targets, Prometheus (9290).
fn example() -> Example {
    Example::new(
        "canary",
        "production",
        &["deploy"],
        &[9200, 9201, 9202, 9203, 9204, 9290],
        &["haproxy.sh", "prometheus.sh"],
    )
}

fn assert_everywhere(example: &Example, version: &str) {
    for index in 1..=4 {
        assert_eq!(
            version_at(example.addr(index)).as_deref(),
            Ok(version),
            "target web-{index}"
        );
    }
}

/// The answers of `samples` by version: (answered, failed).
fn by_version(samples: &[Sample], version: &str) -> (usize, usize) {
    let answers = samples
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .filter(|a| a.version == version);
    answers.fold((0, 0), |(all, failed), a| {
        (all + 1, failed + usize::from(a.status != 200))
    })
}

fn run_under_load(example: &Example, version: &str, inputs: &[&str]) -> (common::Run, Vec<Sample>) {
    let load = Load::start(example.addr(0), "/", 3);
    thread::sleep(Duration::from_millis(300));
    let run = example.deploy(version, inputs);
    thread::sleep(Duration::from_millis(300));
    (run, load.finish())
}

#[test]
fn the_readme_canary_flow_works_end_to_end() {
    require("/usr/sbin/haproxy");
    require("/usr/bin/prometheus");
    let example = example();
    let started = example.script("haproxy.sh", "start");
    assert_eq!(started.code, Some(0), "haproxy.sh start: {}", started.all());
    let started = example.script("prometheus.sh", "start");
    assert_eq!(
        started.code,
        Some(0),
        "prometheus.sh start: {}",
        started.all()
    );

    // v1: nothing runs yet, so there is no baseline: every target by the rolling path.
    let first = example.deploy("v1", &[]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    assert_everywhere(&example, "v1");

    // v2: a healthy canary, promoted through 10% → 50% → 100%, then everywhere.
    let began = Instant::now();
    let (second, samples) = run_under_load(&example, "v2", &[]);
    assert_eq!(second.code, Some(0), "{}", second.all());
    println!("v2 released in {:.1} s", began.elapsed().as_secs_f64());
    let failed: Vec<_> = samples
        .iter()
        .filter(|(_, r)| !matches!(r, Ok(a) if a.status == 200))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during a healthy canary release: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(5)]
    );
    for weight in ["10%", "50%", "100%"] {
        assert!(
            second.stdout.contains(weight),
            "no {weight} step in the log:\n{}",
            second.stdout
        );
    }
    assert_everywhere(&example, "v2");

    // v3 answers every 20th request with 500: judged bad, rolled back.
    let (third, samples) = run_under_load(&example, "v3", &["errors=20"]);
    assert_eq!(
        third.code,
        Some(1),
        "a bad canary fails the run: {}",
        third.all()
    );
    let (v3_answers, v3_failed) = by_version(&samples, "v3");
    let (v2_answers, v2_failed) = by_version(&samples, "v2");
    let unanswered = samples.iter().filter(|(_, r)| r.is_err()).count();
    println!(
        "v2: {v2_answers} answers, {v2_failed} failed; v3 (canary): {v3_answers}, {v3_failed} failed"
    );
    assert!(v3_answers > 0, "the canary never answered");
    assert!(v3_failed > 0, "the canary's errors never reached a client");
    assert_eq!(
        (v2_failed, unanswered),
        (0, 0),
        "requests failed outside the canary's share"
    );
    assert!(
        v3_answers * 3 < v2_answers,
        "the canary took more than its share: {v3_answers} of {}",
        v2_answers + v3_answers
    );
    assert_everywhere(&example, "v2");

    // The release record of v3: rolled back, with both judges' evidence.
    let records = example.slipway(&["deployments", "production", "--file", FILE, "--json"]);
    assert_eq!(records.code, Some(0), "{}", records.all());
    let records = json(&records);
    let last = records
        .as_array()
        .and_then(|r| r.last())
        .expect("records")
        .clone();
    assert_eq!(last["outcome"], "rolled_back", "{last}");
    let verification = &last["verifications"][0];
    assert_eq!(verification["phase"], "Failed", "{verification}");
    // The judge that failed it says which metric and shows its evidence
    // (the comparison is skipped once the threshold analysis has failed).
    let thresholds = &verification["thresholds"];
    let comparison = &verification["comparison"];
    assert!(
        thresholds["phase"] == "Failed" || comparison["phase"] == "Failed",
        "neither judge failed the canary: {verification}"
    );
    assert!(
        verification.to_string().contains("error-rate"),
        "the evidence does not name the metric: {verification}"
    );
}
