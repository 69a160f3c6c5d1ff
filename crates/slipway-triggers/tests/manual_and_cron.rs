//! Manual runs with typed inputs, and cron ticks, against a real git origin and SQLite store.

mod common;

use common::{Fixture, pipeline};
use serde_json::{Map, Value, json};
use slipway_triggers::TriggerError;

const ON: &str = "  manual:
    inputs:
      target:
        type: choice
        options: [dev, prod]
        required: true
      dry_run:
        type: boolean
        default: true
      replicas:
        type: number
  schedule:
    - cron: \"*/5 * * * *\"
    - cron: \"0 3 * * *\"";

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn manual_inputs_are_checked_and_typed() {
    let f = Fixture::new("main", &pipeline(ON)).await;

    let err = f
        .triggers
        .manual(
            &f.project,
            None,
            object(json!({"target": "staging", "replicas": true})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::Input(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("\"staging\" is not one of the options: dev, prod"),
        "{message}"
    );
    assert!(
        message.contains("input `replicas`: expected a number, found a boolean"),
        "{message}"
    );
    let err = f
        .triggers
        .manual(&f.project, None, Map::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`target` is required"), "{err}");
    assert!(f.recorder.taken().is_empty(), "no run for bad inputs");

    let run = f
        .triggers
        .manual(
            &f.project,
            None,
            object(json!({"target": "prod", "replicas": "3"})),
        )
        .await
        .unwrap();
    assert_eq!(run, 1);
    let requests = f.recorder.taken();
    let [request] = requests.as_slice() else {
        panic!("one request expected: {requests:?}");
    };
    assert_eq!(request.trigger, "manual");
    assert_eq!(request.git.event, "manual");
    assert_eq!(request.branch.as_deref(), Some("main"));
    assert_eq!(
        Value::Object(request.inputs.clone()),
        json!({"target": "prod", "dry_run": true, "replicas": 3})
    );
    assert!(request.pipeline.is_ok());
}

#[tokio::test]
async fn manual_refs_resolve_to_branches_tags_and_commits() {
    let f = Fixture::new("main", &pipeline(ON)).await;
    let first = f.origin.git(&["rev-parse", "HEAD"]);
    f.origin.git(&["tag", "v1"]);
    f.origin.commit(&[("src/a.rs", Some("a\n"))]);
    let inputs = || object(json!({"target": "dev"}));

    f.triggers
        .manual(&f.project, Some("v1"), inputs())
        .await
        .unwrap();
    f.triggers
        .manual(&f.project, Some(&first), inputs())
        .await
        .unwrap();
    let requests = f.recorder.taken();
    assert_eq!(requests[0].tag.as_deref(), Some("v1"));
    assert_eq!(requests[0].commit.as_deref(), Some(first.as_str()));
    assert_eq!(
        (requests[1].branch.as_deref(), requests[1].tag.as_deref()),
        (None, None)
    );
    assert_eq!(requests[1].commit.as_deref(), Some(first.as_str()));

    for bad in ["no-such-branch", "--upload-pack=evil", "main..v1"] {
        let err = f
            .triggers
            .manual(&f.project, Some(bad), inputs())
            .await
            .unwrap_err();
        assert!(matches!(err, TriggerError::UnknownRef(_)), "{bad}: {err:?}");
    }
    assert!(f.recorder.taken().is_empty());
}

#[tokio::test]
async fn manual_run_of_a_commit_without_pipeline_is_refused() {
    let f = Fixture::new("main", &pipeline(ON)).await;
    f.origin.commit(&[("slipway.yml", None)]);
    let err = f
        .triggers
        .manual(&f.project, None, Map::new())
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::Pipeline(_)), "{err:?}");
    assert!(f.recorder.taken().is_empty());
}

/// 2026-01-01T00:00:00Z in ms.
const JAN_1: u64 = 1_767_225_600_000;
const MINUTE: u64 = 60_000;

#[tokio::test]
async fn cron_starts_one_run_per_due_schedule_and_never_twice_for_a_tick() {
    let f = Fixture::new("main", &pipeline(ON)).await;
    // The first tick only records the time.
    assert!(
        f.triggers
            .cron_tick(JAN_1 + MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing due between 00:01 and 00:03.
    assert!(
        f.triggers
            .cron_tick(JAN_1 + 3 * MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    // 00:05 is due for `*/5`.
    assert_eq!(
        f.triggers
            .cron_tick(JAN_1 + 5 * MINUTE)
            .await
            .unwrap()
            .len(),
        1
    );
    // The same tick again (or a restart ticking at the same time): nothing.
    assert!(
        f.triggers
            .cron_tick(JAN_1 + 5 * MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.restarted()
            .cron_tick(JAN_1 + 5 * MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    let requests = f.recorder.taken();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].trigger, "schedule");
    assert_eq!(requests[0].git.event, "schedule");
    assert_eq!(requests[0].branch.as_deref(), Some("main"));
    assert!(
        requests[0].reason.contains("*/5 * * * *"),
        "{}",
        requests[0].reason
    );

    // A day of downtime: each schedule that fired starts one run, not one per firing.
    let runs = f
        .triggers
        .cron_tick(JAN_1 + 24 * 60 * MINUTE + 5 * MINUTE)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
}
