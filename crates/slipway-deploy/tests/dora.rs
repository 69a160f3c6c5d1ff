//! DORA metrics from release records as they are stored: written to `deployments.jsonl` by
//! `EnvFiles`, read back by `Deployer::deployments`, computed, and the JSON the CLI and the
//! server's `/api/v1/dora` exchange.

use std::time::Duration;

use slipway_deploy::dora::{Dora, DoraClass, dora};
use slipway_deploy::state::EnvFiles;
use slipway_deploy::{Deployer, DeploymentRecord, Outcome, StrategyRecord};

const NOW: u64 = 1_795_800_000_000;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

fn record(n: usize, kind: &str, outcome: Outcome, finished_ms: u64) -> DeploymentRecord {
    DeploymentRecord {
        id: format!("production-{n}"),
        run: n.to_string(),
        environment: "production".to_owned(),
        digest: format!("{n:064x}"),
        artifact_name: "demo".to_owned(),
        version: format!("run {n}"),
        kind: kind.to_owned(),
        strategy: StrategyRecord::BlueGreen { keep_old_ms: 0 },
        started_ms: finished_ms - 60_000,
        finished_ms,
        outcome,
        message: None,
        targets: Vec::new(),
        commit: Some(format!("{n:040x}")),
        // Committed 3 hours before the release finished.
        commit_time: Some((finished_ms - 3 * HOUR) / 1000),
        approvals: Vec::new(),
        verifications: Vec::new(),
        freeze_override: None,
    }
}

#[test]
fn metrics_of_stored_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = EnvFiles::new(dir.path(), "production");
    // A week: one release a day, the third fails and is fixed 90 minutes later, the sixth is
    // rolled back 30 minutes after it went live.
    let mut n = 0;
    let mut write = |kind: &str, outcome: Outcome, finished_ms: u64| {
        n += 1;
        files
            .append_record(&record(n, kind, outcome, finished_ms))
            .expect("append");
    };
    for day in (1..=7).rev() {
        let at = NOW - day * DAY + HOUR;
        match day {
            5 => {
                write("deploy", Outcome::Failed, at);
                write("deploy", Outcome::Succeeded, at + 90 * 60_000);
            }
            2 => {
                write("deploy", Outcome::Succeeded, at);
                write("rollback", Outcome::Succeeded, at + 30 * 60_000);
            }
            _ => write("deploy", Outcome::Succeeded, at),
        }
    }
    let records = Deployer::new(dir.path())
        .deployments("production")
        .expect("records");
    assert_eq!(records.len(), 9);
    let metrics = dora("production", &records, NOW, Duration::from_secs(7 * 86_400));

    // Successful changes: 7 (the fix on day 5 included, the rollback not).
    assert_eq!(metrics.deployment_frequency.releases, 7);
    assert_eq!(metrics.deployment_frequency.per_day, 1.0);
    assert_eq!(metrics.deployment_frequency.class, Some(DoraClass::Elite));
    assert_eq!(metrics.lead_time.measured, 7);
    assert_eq!(metrics.lead_time.median_ms, Some(3 * HOUR));
    assert_eq!(metrics.lead_time.p90_ms, Some(3 * HOUR));
    // 8 changes, 2 failures (the failed one, the one rolled back).
    let cfr = &metrics.change_failure_rate;
    assert_eq!((cfr.releases, cfr.failures()), (8, 2));
    assert_eq!(cfr.rate, Some(0.25));
    assert_eq!(cfr.class, Some(DoraClass::Low));
    // Restored after 90 and 30 minutes.
    let restore = &metrics.time_to_restore;
    assert_eq!((restore.incidents, restore.restored), (2, 2));
    assert_eq!(restore.median_ms, Some(60 * 60_000));
    assert_eq!(restore.class, Some(DoraClass::High));

    // The JSON shape the server answers and the CLI reads.
    let json = serde_json::to_value(&metrics).expect("json");
    assert_eq!(json["environment"], "production");
    assert_eq!(json["deployment_frequency"]["releases"], 7);
    assert_eq!(json["lead_time"]["median_ms"], 3 * HOUR);
    assert_eq!(json["change_failure_rate"]["rate"], 0.25);
    assert_eq!(json["change_failure_rate"]["class"], "low");
    assert_eq!(json["time_to_restore"]["median_ms"], HOUR);
    let back: Dora = serde_json::from_value(json).expect("read back");
    assert_eq!(back, metrics);
}
