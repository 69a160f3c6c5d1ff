//! Zero downtime with docker targets: three containers of the demo image on the real Docker
//! engine (published on 127.0.0.1), behind a real HAProxy (the shared `support` module: no
//! health checks, no retries, no redispatch), rolled from the v1 image to the v2 image while
//! a load generator sends requests through HAProxy.

mod docker_support;
mod support;

use std::path::Path;
use std::time::Duration;

use docker_support::{CONTAINER_PORT, START, containers_of, demo_image, remove_containers_of};
use slipway_deploy::{Artifact, DeployRequest, Deployer, Outcome};
use slipway_spec::deploy::{Action, BatchSize, DockerTarget, Rolling, Strategy, TargetKind};
use support::{Load, TestLog, World, assert_no_failures, versions_after};
use tokio::sync::watch;
use tokio::time::Instant;

/// Removes the environment's containers even when the test fails.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_containers_of(&self.0);
    }
}

async fn deploy(
    world: &World,
    deployer: &Deployer,
    artifact: &Artifact,
    version: &str,
    strategy: &Strategy,
    log: &mut TestLog,
) -> slipway_deploy::DeployReport {
    let (_cancel_tx, cancel) = watch::channel(false);
    let request = DeployRequest {
        environment: &world.env,
        root: Path::new("/"),
        artifact: artifact.clone(),
        strategy,
        run: version.to_owned(),
        version: version.to_owned(),
        release: Default::default(),
        approver: None,
    };
    match deployer.deploy(request, log, cancel).await {
        Ok(report) => report,
        Err(e) => panic!(
            "deployment of {version} failed: {e}\nhaproxy: {}",
            world.haproxy.log()
        ),
    }
}

/// Three docker targets behind HAProxy in an environment named `name`.
async fn docker_world(name: &str) -> World {
    let mut world = World::start(&[("ctr-1", None), ("ctr-2", None), ("ctr-3", None)]).await;
    world.env.name = name.to_owned();
    for target in &mut world.env.targets {
        target.kind = TargetKind::Docker(DockerTarget {
            docker_host: None,
            container_port: Some(CONTAINER_PORT),
        });
    }
    let service = &mut world.env.service;
    service.install = None;
    service.activate = Some(Action::Start {
        command: START.to_owned(),
    });
    if let Some(health) = &mut service.health {
        // A container takes a moment to start on a busy machine.
        health.max_wait = Duration::from_secs(20);
    }
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_deploy_of_three_docker_targets_under_load_loses_no_request() {
    let v1 = demo_image("v1");
    let v2 = demo_image("v2");
    let env_name = format!("zd{}", std::process::id());
    let _cleanup = Cleanup(env_name.clone());
    let world = docker_world(&env_name).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let strategy = Strategy::Rolling(Rolling {
        batch: BatchSize::Count(1),
        max_unavailable: None,
        max_fail_percentage: 0,
    });
    let first = deploy(&world, &deployer, &v1, "v1", &strategy, &mut log).await;
    assert_eq!(first.outcome, Outcome::Succeeded);

    let load = Load::start(world.haproxy.frontend, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = deploy(&world, &deployer, &v2, "v2", &strategy, &mut log).await;
    let done = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = load.finish().await;

    assert_no_failures(&samples);
    let seconds = samples
        .last()
        .zip(samples.first())
        .map_or(0.0, |(l, f)| (l.sent - f.sent).as_secs_f64());
    assert!(
        samples.len() as f64 >= 100.0 * seconds,
        "fewer than 100 requests a second: {} in {seconds:.1} s",
        samples.len()
    );
    let after = versions_after(&samples, done);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        vec!["v2"],
        "versions after the rollout: {after:?}"
    );
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.targets.len(), 3);
    // One container per target, each of v2's image.
    let mut containers = containers_of(&env_name);
    containers.sort();
    let short: String = v2
        .digest()
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    let expected: Vec<String> = ["ctr-1", "ctr-2", "ctr-3"]
        .iter()
        .map(|t| format!("slipway-{env_name}-{t}-{short}"))
        .collect();
    assert_eq!(containers, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_lost_during_its_batch_is_rolled_back_without_a_failed_request() {
    let v1 = demo_image("v1");
    let v2 = demo_image("v2");
    let env_name = format!("lost{}", std::process::id());
    let _cleanup = Cleanup(env_name.clone());
    let mut world = docker_world(&env_name).await;
    if let Some(health) = world.env.service.health.as_mut() {
        // Slower health, so that the new container is seen before it passes.
        health.successes = 4;
        health.interval = Duration::from_millis(200);
        // The killed container never becomes healthy: fail sooner than the default here.
        health.max_wait = Duration::from_secs(8);
    }
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let strategy = Strategy::Rolling(Rolling {
        batch: BatchSize::Count(1),
        max_unavailable: None,
        max_fail_percentage: 0,
    });
    let first = deploy(&world, &deployer, &v1, "v1", &strategy, &mut log).await;
    assert_eq!(first.outcome, Outcome::Succeeded);

    let load = Load::start(world.haproxy.frontend, 4);
    // Kill ctr-2's new container while it is being checked.
    let state_path = world.state_dir.join(&env_name).join("state.json");
    let v2_digest = v2.digest().to_owned();
    let short: String = v2_digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    let victim = format!("slipway-{env_name}-ctr-2-{short}");
    let killer = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(text) = std::fs::read_to_string(&state_path)
                && let Ok(state) = serde_json::from_str::<serde_json::Value>(&text)
            {
                let target = &state["targets"]["ctr-2"];
                if target["phase"] == "checking" && target["digest"] == v2_digest.as_str() {
                    let killed = tokio::process::Command::new("docker")
                        .args(["kill", &victim])
                        .output()
                        .await;
                    return matches!(killed, Ok(o) if o.status.success());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    });
    let (_cancel_tx, cancel) = watch::channel(false);
    let request = DeployRequest {
        environment: &world.env,
        root: Path::new("/"),
        artifact: v2.clone(),
        strategy: &strategy,
        run: "v2".to_owned(),
        version: "v2".to_owned(),
        release: Default::default(),
        approver: None,
    };
    let error = deployer
        .deploy(request, &mut log, cancel)
        .await
        .expect_err("v2 must fail on ctr-2");
    assert!(
        killer.await.expect("killer task"),
        "ctr-2's new container was never seen in its health check"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = load.finish().await;

    assert_no_failures(&samples);
    assert!(error.to_string().contains("ctr-2"), "{error}");
    let record = deployer
        .deployments(&env_name)
        .expect("records")
        .pop()
        .expect("a record");
    assert_eq!(record.outcome, Outcome::RolledBack);
    // Back on v1 everywhere: one v1 container per target, each answering.
    let v1_short: String = v1
        .digest()
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    let mut containers = containers_of(&env_name);
    containers.sort();
    let expected: Vec<String> = ["ctr-1", "ctr-2", "ctr-3"]
        .iter()
        .map(|t| format!("slipway-{env_name}-{t}-{v1_short}"))
        .collect();
    assert_eq!(containers, expected);
    for port in world.ports.values() {
        let addr = format!("127.0.0.1:{port}");
        assert_eq!(
            docker_support::demo::version_at(&addr).await.as_deref(),
            Some("v1"),
            "{addr}"
        );
    }
}
