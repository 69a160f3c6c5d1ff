//! Local targets and deployments without a load balancer: pid tracking that never signals a
//! reused pid, failures within `max_fail_percentage`, one deployment per environment at a time,
//! cancellation. Real `slipway-demo` processes (see `support`).

mod support;

use std::path::Path;
use std::time::Duration;

use slipway_deploy::targets::{Release, TargetDriver};
use slipway_deploy::{
    Artifact, DeployError, DeployRequest, Deployer, Digest, Outcome, Phase, VecLog,
};
use slipway_spec::deploy::{
    Action, BatchSize, Group, Rolling, ServiceDef, Strategy, Target, TargetKind,
};
use slipway_spec::model::Span;
use support::{TestLog, World};
use tokio::sync::watch;
use tokio::time::Instant;

const THREE: [(&str, Option<Group>); 3] = [("web-1", None), ("web-2", None), ("web-3", None)];

fn rolling(batch: usize, max_fail_percentage: u32) -> Strategy {
    Strategy::Rolling(Rolling {
        batch: BatchSize::Count(batch),
        max_unavailable: None,
        max_fail_percentage,
    })
}

fn request<'a>(
    world: &'a World,
    artifact: &Artifact,
    version: &str,
    strategy: &'a Strategy,
) -> DeployRequest<'a> {
    DeployRequest {
        environment: &world.env,
        root: Path::new("/"),
        artifact: artifact.clone(),
        strategy,
        run: version.to_owned(),
        version: version.to_owned(),
        release: Default::default(),
        approver: None,
    }
}

fn no_cancel() -> watch::Receiver<bool> {
    watch::channel(false).1
}

/// `(state, pgrp, session)` of a process from /proc, or `None` when it is gone.
fn proc_status(pid: i32) -> Option<(char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(2)?.parse().ok()?,
        fields.get(3)?.parse().ok()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_detaches_and_stop_never_signals_a_pid_that_is_not_ours() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target {
        name: "svc".to_owned(),
        kind: TargetKind::Local,
        port: None,
        lb_server: "svc".to_owned(),
        group: None,
        span: Span { line: 1, col: 1 },
    };
    let service = ServiceDef {
        activate: Some(Action::Start {
            command: "echo started $GREETING; sleep 60".to_owned(),
        }),
        env: vec![("GREETING".to_owned(), "hi".to_owned())],
        ..ServiceDef::default()
    };
    let file = dir.path().join("app");
    std::fs::write(&file, "#!/bin/sh\n").expect("artifact");
    let artifact = Artifact::File {
        name: "app".to_owned(),
        path: file,
        digest: Digest::of(b"#!/bin/sh\n"),
    };
    let env_dir = dir.path().join("env");
    let driver = TargetDriver::new(&target, &service, &env_dir).expect("driver");
    let release =
        Release::new(&target, &service, artifact, "v1".to_owned(), &env_dir).expect("release");
    let mut log = VecLog::default();
    driver.install(&release, &mut log).await.expect("install");
    assert!(
        release.dir.join("artifact").is_file(),
        "copied into {}",
        release.dir.display()
    );
    driver.activate(&release, &mut log).await.expect("activate");
    let record = driver.process().expect("a process record");
    let (state, pgrp, session) = proc_status(record.pid).expect("running");
    assert_ne!(state, 'Z');
    assert_eq!(
        (pgrp, session),
        (record.pid, record.pid),
        "own process group and session"
    );

    // The recorded start time no longer matches: as if the pid had been reused.
    let path = env_dir.join("processes/svc.json");
    let mut tampered = record.clone();
    tampered.start_time += 1;
    std::fs::write(&path, serde_json::to_vec(&tampered).expect("json")).expect("write record");
    driver
        .deactivate(&release, &mut log)
        .await
        .expect("deactivate");
    assert!(
        log.0
            .iter()
            .any(|l| l.contains("belongs to another process")),
        "{:?}",
        log.0
    );
    assert!(
        proc_status(record.pid).is_some_and(|(s, _, _)| s != 'Z'),
        "a foreign pid was signalled"
    );

    // With the true record, stop ends the whole group.
    std::fs::write(&path, serde_json::to_vec(&record).expect("json")).expect("write record");
    driver
        .deactivate(&release, &mut log)
        .await
        .expect("deactivate");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_status(record.pid).is_some_and(|(s, _, _)| s != 'Z') {
        assert!(
            Instant::now() < deadline,
            "process {} still running",
            record.pid
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(driver.process().is_none(), "the record is forgotten");
    let output = std::fs::read_to_string(&record.log).expect("service log");
    assert!(output.contains("started hi"), "{output:?}");
    driver
        .uninstall(&release, &mut log)
        .await
        .expect("uninstall");
    assert!(!release.dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_load_balancer_failures_within_the_threshold_let_the_rollout_finish() {
    let mut world = World::start(&THREE).await;
    world.env.load_balancer = None;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = world.release("v1");
    let v2 = world.release("v2");
    let strategy = rolling(1, 50);
    deployer
        .deploy(request(&world, &v1, "v1", &strategy), &mut log, no_cancel())
        .await
        .expect("v1");
    world.fail_health("web-2", "v2");
    let report = deployer
        .deploy(request(&world, &v2, "v2", &strategy), &mut log, no_cancel())
        .await
        .expect("one failure of three is within 50%");
    assert_eq!(report.outcome, Outcome::Succeeded);
    let message = report.message.unwrap_or_default();
    assert!(
        message.contains("web-2") && message.contains("GET /healthz"),
        "{message}"
    );
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology");
    for target in &topology.targets {
        assert!(target.lb.is_none());
        assert_eq!(target.digest.as_deref(), Some(v2.digest()), "{target:?}");
        let expected = if target.name == "web-2" {
            Phase::Failed
        } else {
            Phase::Serving
        };
        assert_eq!(target.phase, expected, "{target:?}");
        assert_eq!(
            target.health.as_ref().is_some_and(|h| h.is_ok()),
            target.name != "web-2",
            "{target:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deployments_of_one_environment_never_interleave() {
    let mut world = World::start(&THREE).await;
    world.env.load_balancer = None;
    let deployer = Deployer::new(&world.state_dir);
    let v1 = world.release("v1");
    let v2 = world.release("v2");
    let strategy = rolling(1, 0);
    let (mut log_a, mut log_b) = (TestLog::default(), TestLog::default());
    let (a, b) = tokio::join!(
        deployer.deploy(
            request(&world, &v1, "v1", &strategy),
            &mut log_a,
            no_cancel()
        ),
        deployer.deploy(
            request(&world, &v2, "v2", &strategy),
            &mut log_b,
            no_cancel()
        ),
    );
    a.expect("first");
    b.expect("second");
    let records = deployer.deployments("staging").expect("records");
    assert_eq!(records.len(), 2);
    assert!(
        records[1].started_ms >= records[0].finished_ms,
        "{records:?}"
    );
    let waited = [&log_a, &log_b].iter().any(|log| {
        log.0
            .lock()
            .expect("log")
            .iter()
            .any(|l| l.contains("waiting for the deployment"))
    });
    assert!(waited, "neither deployment waited for the other");
    let last = records[1].digest.clone();
    assert!(
        world.digests().values().all(|d| *d == last),
        "{:?}",
        world.digests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_deployment_puts_back_what_it_touched() {
    let mut world = World::start(&THREE).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let strategy = rolling(1, 0);
    let v1 = world.release("v1");
    deployer
        .deploy(request(&world, &v1, "v1", &strategy), &mut log, no_cancel())
        .await
        .expect("v1 everywhere");
    let v1_digests = world.digests();

    // v2's health checks take a while: the cancel lands during web-1's.
    if let Some(health) = world.env.service.health.as_mut() {
        health.successes = 20;
        health.max_wait = Duration::from_secs(10);
    }
    let v2 = world.release("v2");
    let (cancel_tx, cancel) = watch::channel(false);
    let state_path = world.state_dir.join("staging/state.json");
    let canceller = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(text) = std::fs::read_to_string(&state_path)
                && text.contains("\"checking\"")
            {
                let _ = cancel_tx.send(true);
                return Some(text);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    });
    let error = deployer
        .deploy(request(&world, &v2, "v2", &strategy), &mut log, cancel)
        .await
        .expect_err("cancelled");
    let during = canceller
        .await
        .expect("task")
        .expect("never saw a health check");
    assert!(matches!(error, DeployError::Cancelled), "{error:?}");
    // While it ran, state.json said which batch (the environment page shows it).
    let during: serde_json::Value = serde_json::from_str(&during).expect("state.json");
    assert_eq!(
        during["rollout"],
        serde_json::json!({ "step": "batch 1 of 3", "targets": ["web-1"], "version": "v2" })
    );
    assert!(world.state()["rollout"].is_null(), "cleared at the end");
    let record = deployer
        .deployments("staging")
        .expect("records")
        .pop()
        .expect("record");
    assert_eq!(record.outcome, Outcome::Cancelled);
    assert!(
        record
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("cancelled; the updated targets were rolled back")),
        "{record:?}"
    );
    // web-1 serves v1 again, in the pool; the others were never touched.
    assert_eq!(world.digests(), v1_digests);
    let state = world.state();
    assert_eq!(state["targets"]["web-1"]["phase"], "serving", "{state}");
    assert_eq!(state["targets"]["web-1"]["lb"], "ready", "{state}");
    let lines = log.0.lock().expect("log").clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("rollout stopped: cancelled; rolling back 1 target(s)")),
        "{lines:?}"
    );
}
