//! Rolling and blue-green deployments of real `slipway-demo` processes behind a real HAProxy,
//! under load: zero failed requests, the new version everywhere afterwards, bad releases and
//! lost nodes rolled back, rollback restoring the previous digest. See `support` for how the
//! components start and why HAProxy has no health checks, retries or redispatch.

mod support;

use std::path::Path;
use std::time::Duration;

use slipway_deploy::{Artifact, DeployError, DeployRequest, Deployer, Outcome, Phase};
use slipway_spec::deploy::{BatchSize, BlueGreen, Group, Rolling, Strategy};
use support::{Load, TestLog, World, assert_no_failures, versions_after};
use tokio::sync::watch;
use tokio::time::Instant;

const SIX: [(&str, Option<Group>); 6] = [
    ("web-1", None),
    ("web-2", None),
    ("web-3", None),
    ("web-4", None),
    ("web-5", None),
    ("web-6", None),
];

fn rolling(batch: usize) -> Strategy {
    Strategy::Rolling(Rolling {
        batch: BatchSize::Count(batch),
        max_unavailable: None,
        max_fail_percentage: 0,
    })
}

async fn deploy(
    world: &World,
    deployer: &Deployer,
    artifact: &Artifact,
    version: &str,
    strategy: &Strategy,
    log: &mut TestLog,
) -> Result<slipway_deploy::DeployReport, DeployError> {
    let (_cancel_tx, cancel) = watch::channel(false);
    deployer
        .deploy(
            DeployRequest {
                environment: &world.env,
                root: Path::new("/"),
                artifact: artifact.clone(),
                strategy,
                run: version.to_owned(),
                version: version.to_owned(),
                release: Default::default(),
                approver: None,
            },
            log,
            cancel,
        )
        .await
}

/// Every target serving `artifact`'s digest, healthy, ready in HAProxy.
async fn assert_all_serving(world: &World, deployer: &Deployer, artifact: &Artifact) {
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology");
    for target in &topology.targets {
        assert_eq!(
            target.digest.as_deref(),
            Some(artifact.digest()),
            "{target:?}"
        );
        assert_eq!(target.phase, Phase::Serving, "{target:?}");
        assert_eq!(target.health, Some(Ok(())), "{target:?}");
        let lb = target
            .lb
            .as_ref()
            .expect("lb state")
            .as_ref()
            .expect("server");
        assert_eq!(lb.admin, "ready", "{target:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_deploy_under_load_loses_no_request_and_rollback_restores_the_previous_digest() {
    let world = World::start(&SIX).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = world.release("v1");
    let v2 = world.release("v2");
    deploy(&world, &deployer, &v1, "v1", &rolling(2), &mut log)
        .await
        .expect("first deployment");
    assert_all_serving(&world, &deployer, &v1).await;

    let load = Load::start(world.haproxy.frontend, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = deploy(&world, &deployer, &v2, "v2", &rolling(2), &mut log)
        .await
        .expect("rolling deployment of v2");
    let done = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);
    let after = versions_after(&samples, done);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        vec!["v2"],
        "versions after the rollout: {after:?}"
    );
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.targets.len(), 6);
    assert!(
        report
            .targets
            .iter()
            .all(|t| t.from_digest.as_deref() == Some(v1.digest()))
    );
    assert_all_serving(&world, &deployer, &v2).await;

    // Rollback, under load too.
    let load = Load::start(world.haproxy.frontend, 4);
    let (_cancel_tx, cancel) = watch::channel(false);
    let report = deployer
        .rollback(&world.env, Path::new("/"), &mut log, cancel)
        .await
        .expect("rollback");
    let done = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);
    assert_eq!(report.kind, "rollback");
    assert_eq!(report.digest, v1.digest());
    assert_eq!(
        versions_after(&samples, done).keys().collect::<Vec<_>>(),
        vec!["v1"]
    );
    assert!(
        world.digests().values().all(|d| d == v1.digest()),
        "{:?}",
        world.digests()
    );
    assert_all_serving(&world, &deployer, &v1).await;

    let records = deployer.deployments("staging").expect("records");
    assert_eq!(records.len(), 3);
    assert_eq!(
        records
            .iter()
            .map(|r| r.version.as_str())
            .collect::<Vec<_>>(),
        vec!["v1", "v2", "v1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_failing_health_on_one_target_is_rolled_back_without_a_failed_request() {
    let world = World::start(&SIX).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = world.release("v1");
    let v2 = world.release("v2");
    deploy(&world, &deployer, &v1, "v1", &rolling(2), &mut log)
        .await
        .expect("first deployment");
    world.fail_health("web-3", "v2");
    let web3 = format!("127.0.0.1:{}", world.ports["web-3"]);

    let load = Load::start(world.haproxy.frontend, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let error = deploy(&world, &deployer, &v2, "v2", &rolling(2), &mut log)
        .await
        .expect_err("v2 must fail on web-3");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);

    let message = error.to_string();
    assert!(matches!(error, DeployError::Failed(_)), "{error:?}");
    assert!(
        message.contains("web-3") && message.contains("GET /healthz"),
        "{message}"
    );
    // HAProxy never sent a request to web-3 while it ran the unhealthy v2.
    let from_bad: Vec<_> = samples
        .iter()
        .filter(|s| matches!(&s.result, Ok((v, addr)) if v == "v2" && *addr == web3))
        .collect();
    assert!(
        from_bad.is_empty(),
        "{} requests reached the unhealthy web-3",
        from_bad.len()
    );
    // Batches 1 and 2 were touched and went back; batch 3 never changed.
    assert!(
        world.digests().values().all(|d| d == v1.digest()),
        "{:?}",
        world.digests()
    );
    assert_all_serving(&world, &deployer, &v1).await;
    let record = deployer
        .deployments("staging")
        .expect("records")
        .pop()
        .expect("a record");
    assert_eq!(record.outcome, Outcome::RolledBack);
    let touched: Vec<&str> = record.targets.iter().map(|t| t.target.as_str()).collect();
    assert_eq!(touched.len(), 4, "{touched:?}");
    assert!(
        !touched.contains(&"web-5") && !touched.contains(&"web-6"),
        "{touched:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lost_during_its_batch_is_rolled_back_without_a_failed_request() {
    let mut world = World::start(&SIX).await;
    // Slower health so the new process is certainly observed before it passes.
    if let Some(health) = world.env.service.health.as_mut() {
        health.successes = 4;
        health.interval = Duration::from_millis(200);
    }
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = world.release("v1");
    let v2 = world.release("v2");
    deploy(&world, &deployer, &v1, "v1", &rolling(2), &mut log)
        .await
        .expect("first deployment");

    let load = Load::start(world.haproxy.frontend, 4);
    let state_path = world.state_dir.join("staging/state.json");
    let v2_digest = v2.digest().to_owned();
    // Kill web-4's new process while it is being checked (batch 2).
    let killer = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(text) = std::fs::read_to_string(&state_path)
                && let Ok(state) = serde_json::from_str::<serde_json::Value>(&text)
            {
                let target = &state["targets"]["web-4"];
                if target["phase"] == "checking"
                    && target["digest"] == v2_digest.as_str()
                    && let Some(pid) = target["process"]["pid"]
                        .as_i64()
                        .and_then(|p| i32::try_from(p).ok())
                {
                    // SAFETY: kill(2) on the process group the deployment just started.
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    });
    let error = deploy(&world, &deployer, &v2, "v2", &rolling(2), &mut log)
        .await
        .expect_err("v2 must fail on web-4");
    assert!(
        killer.await.expect("killer task"),
        "web-4 was never seen in its health check"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);
    assert!(error.to_string().contains("web-4"), "{error}");
    assert!(
        world.digests().values().all(|d| d == v1.digest()),
        "{:?}",
        world.digests()
    );
    assert_all_serving(&world, &deployer, &v1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_switches_in_one_step_and_switches_back_instantly() {
    let world = World::start(&[
        ("blue-1", Some(Group::Blue)),
        ("blue-2", Some(Group::Blue)),
        ("blue-3", Some(Group::Blue)),
        ("green-1", Some(Group::Green)),
        ("green-2", Some(Group::Green)),
        ("green-3", Some(Group::Green)),
    ])
    .await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let strategy = Strategy::BlueGreen(BlueGreen {
        keep_old: Duration::from_secs(300),
    });
    let v1 = world.release("v1");
    let v2 = world.release("v2");
    deploy(&world, &deployer, &v1, "v1", &strategy, &mut log)
        .await
        .expect("first deployment (to green)");

    let load = Load::start(world.haproxy.frontend, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    deploy(&world, &deployer, &v2, "v2", &strategy, &mut log)
        .await
        .expect("blue-green deployment of v2 (to blue)");
    let switched = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);
    assert_eq!(
        versions_after(&samples, switched)
            .keys()
            .collect::<Vec<_>>(),
        vec!["v2"]
    );
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology");
    for target in &topology.targets {
        let lb = target
            .lb
            .as_ref()
            .and_then(|l| l.as_ref().ok())
            .expect("lb");
        let (digest, admin, phase) = if target.name.starts_with("blue") {
            (v2.digest(), "ready", Phase::Serving)
        } else {
            (v1.digest(), "drain", Phase::Standby)
        };
        assert_eq!(
            (target.digest.as_deref(), lb.admin.as_str(), target.phase),
            (Some(digest), admin, phase),
            "{target:?}"
        );
    }

    // Rollback within keep_old: green still runs v1, so traffic switches straight back.
    let load = Load::start(world.haproxy.frontend, 4);
    let (_cancel_tx, cancel) = watch::channel(false);
    let started = Instant::now();
    let report = deployer
        .rollback(&world.env, Path::new("/"), &mut log, cancel)
        .await
        .expect("rollback");
    let back = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);
    assert!(
        report.targets.is_empty(),
        "an instant switch reinstalls nothing: {report:?}"
    );
    assert_eq!(
        versions_after(&samples, back).keys().collect::<Vec<_>>(),
        vec!["v1"]
    );
    println!("switch back took {:?}", back - started);

    // An HAProxy reload forgets the drained blue set; reconcile restores the intent.
    let blue_admin = |topology: &slipway_deploy::Topology| -> Vec<String> {
        topology
            .targets
            .iter()
            .filter(|t| t.name.starts_with("blue"))
            .filter_map(|t| t.lb.as_ref()?.as_ref().ok().map(|l| l.admin.clone()))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut signalled: Option<Instant> = None;
    loop {
        // A reload signalled right after start is sometimes not acted on: repeat it every 2 s.
        if signalled.is_none_or(|at| at.elapsed() >= Duration::from_secs(2)) {
            world.haproxy.reload();
            signalled = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(topology) = deployer.topology(&world.env, Path::new("/")).await
            && blue_admin(&topology).iter().all(|a| a == "ready")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "HAProxy did not reload: {}",
            world.haproxy.log()
        );
    }
    let changes = deployer
        .reconcile(&world.env, Path::new("/"))
        .await
        .expect("reconcile");
    assert_eq!(changes.len(), 3, "{changes:?}");
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology");
    assert_eq!(blue_admin(&topology), vec!["drain"; 3]);
    let load = Load::start(world.haproxy.frontend, 4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = load.finish().await;
    assert_no_failures(&samples);
    assert_eq!(
        versions_after(&samples, load_started(&samples))
            .keys()
            .collect::<Vec<_>>(),
        vec!["v1"]
    );
}

fn load_started(samples: &[support::Sample]) -> Instant {
    samples.first().map(|s| s.sent).unwrap_or_else(Instant::now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_servers_and_missing_sockets_are_refused_before_anything_is_touched() {
    let mut world = World::start(&SIX[..2]).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = world.release("v1");
    world.env.targets[1].lb_server = "web-9".to_owned();
    let error = deploy(&world, &deployer, &v1, "v1", &rolling(1), &mut log)
        .await
        .expect_err("unknown server");
    let message = error.to_string();
    assert!(matches!(error, DeployError::Config(_)), "{error:?}");
    assert!(
        message.contains("web-9") && message.contains("web-1, web-2"),
        "{message}"
    );
    assert!(
        !world.state_dir.join("staging/state.json").exists(),
        "state was written"
    );
    assert_eq!(world.haproxy.total_sessions().await.len(), 2);

    world.env.targets[1].lb_server = "web-2".to_owned();
    if let Some(lb) = world.env.load_balancer.as_mut() {
        lb.backend = "nope".to_owned();
    }
    let message = deploy(&world, &deployer, &v1, "v1", &rolling(1), &mut log)
        .await
        .expect_err("unknown backend")
        .to_string();
    assert!(
        message.contains("nope") && message.contains("app"),
        "{message}"
    );

    if let Some(lb) = world.env.load_balancer.as_mut() {
        lb.haproxy =
            slipway_spec::deploy::HaproxyAddress::Socket("/nonexistent/admin.sock".to_owned());
    }
    let error = deploy(&world, &deployer, &v1, "v1", &rolling(1), &mut log)
        .await
        .expect_err("missing socket");
    assert!(
        matches!(error, DeployError::Config(_))
            && error.to_string().contains("/nonexistent/admin.sock"),
        "{error}"
    );
    assert!(
        !world.state_dir.join("staging/state.json").exists(),
        "state was written"
    );

    // The topology still shows the targets, each saying why HAProxy's state is unknown.
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology without HAProxy");
    assert_eq!(topology.targets.len(), 2);
    for target in &topology.targets {
        match &target.lb {
            Some(Err(why)) => assert!(why.contains("/nonexistent/admin.sock"), "{why}"),
            other => panic!("{}: lb {other:?}", target.name),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_takes_every_target_out_of_the_pool_and_keeps_the_records() {
    let world = World::start(&SIX[..3]).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = world.release("v1");
    deploy(&world, &deployer, &v1, "v1", &rolling(2), &mut log)
        .await
        .expect("deploy");
    assert_all_serving(&world, &deployer, &v1).await;

    let (_cancel_tx, cancel) = watch::channel(false);
    deployer
        .stop(&world.env, Path::new("/"), &mut log, cancel)
        .await
        .expect("stop");
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology");
    for target in &topology.targets {
        assert_eq!(target.digest, None, "{target:?}");
        assert_eq!(target.phase, Phase::New, "{target:?}");
        let lb = target.lb.as_ref().and_then(|lb| lb.as_ref().ok());
        assert_eq!(lb.map(|s| s.admin.as_str()), Some("maint"), "{target:?}");
        let port = world.ports[&target.name];
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{} still answers on {port}",
            target.name
        );
    }
    assert_eq!(deployer.deployments("staging").expect("records").len(), 1);
    let lines = log.0.lock().expect("log").join("\n");
    assert!(lines.contains("web-1: app/web-1 in maint"), "{lines}");

    // A second stop finds nothing deployed and succeeds.
    let (_cancel_tx, cancel) = watch::channel(false);
    deployer
        .stop(&world.env, Path::new("/"), &mut log, cancel)
        .await
        .expect("second stop");
}
