//! Zero downtime with ssh targets: four targets on a real sshd (the demo service copied to
//! each over one multiplexed connection, started detached), behind a real HAProxy (the shared
//! `support` module: no health checks, no retries, no redispatch), rolled from v1 to v2 while
//! a load generator sends requests through HAProxy.

mod ssh_support;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_deploy::{Artifact, DeployRequest, Deployer, Outcome};
use slipway_spec::deploy::{Action, BatchSize, Rolling, Strategy, TargetKind};
use ssh_support::demo::demo_artifact;
use ssh_support::{HostDir, START, Sshd};
use support::{Load, TestLog, World, assert_no_failures, versions_after};
use tokio::sync::watch;
use tokio::time::Instant;

/// Kills what the deployments started on the "host" (every `service.pid` under the releases
/// directory), even when the test fails.
struct KillStarted(PathBuf);

impl Drop for KillStarted {
    fn drop(&mut self) {
        for pid_file in find(&self.0, "service.pid") {
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if let Some(pid) = text
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<i32>().ok())
                .filter(|p| *p > 1)
            {
                // SAFETY: kill(2) on a process group a test deployment started.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(find(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
    found
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

/// Four ssh targets on `sshd` behind HAProxy; the demo reads its health from
/// `HOST/health-TARGET-VERSION` (a line `fail-health` makes `/healthz` fail).
async fn ssh_world(sshd: &Sshd, host: &HostDir) -> World {
    let mut world = World::start(&[
        ("ssh-1", None),
        ("ssh-2", None),
        ("ssh-3", None),
        ("ssh-4", None),
    ])
    .await;
    let ssh = sshd.ssh_target(&host.path());
    for target in &mut world.env.targets {
        target.kind = TargetKind::Ssh(ssh.clone());
    }
    world.env.service.install = Some(Action::Copy {
        to: "bin/slipway-demo".to_owned(),
    });
    world.env.service.activate = Some(Action::Start {
        command: format!(
            "{START} --state-file {}/health-$TARGET-$VERSION",
            host.path()
        ),
    });
    world
}

fn rolling(batch: usize) -> Strategy {
    Strategy::Rolling(Rolling {
        batch: BatchSize::Count(batch),
        max_unavailable: None,
        max_fail_percentage: 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_deploy_of_four_ssh_targets_under_load_loses_no_request() {
    let sshd = Sshd::start();
    let host = HostDir::new();
    let _kill = KillStarted(PathBuf::from(host.path()));
    let world = ssh_world(&sshd, &host).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = demo_artifact(world.dir.path(), "v1");
    let v2 = demo_artifact(world.dir.path(), "v2");
    let strategy = rolling(1);
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
    assert_eq!(report.targets.len(), 4);
    // v1's release directories were uninstalled; each target holds v2 only.
    let digests: Vec<String> = find(Path::new(&host.path()), "slipway-demo")
        .iter()
        .filter_map(|p| p.parent()?.parent()?.file_name())
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    assert_eq!(digests.len(), 4, "{digests:?}");
    assert!(digests.iter().all(|d| d == v2.digest()), "{digests:?}");

    // `stop`: every target out of the pool (maint), stopped and removed; the records stay.
    let (_cancel_tx, cancel) = watch::channel(false);
    deployer
        .stop(&world.env, Path::new("/"), &mut log, cancel)
        .await
        .expect("stop");
    assert!(
        find(Path::new(&host.path()), "slipway-demo").is_empty(),
        "a release is left on the host"
    );
    assert!(
        find(Path::new(&host.path()), "service.pid").is_empty(),
        "a service is left running"
    );
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology");
    for target in &topology.targets {
        assert_eq!(target.digest, None, "{target:?}");
        assert_eq!(target.phase, slipway_deploy::Phase::New, "{target:?}");
        let lb = target.lb.as_ref().and_then(|lb| lb.as_ref().ok());
        assert_eq!(lb.map(|s| s.admin.as_str()), Some("maint"), "{target:?}");
    }
    assert_eq!(deployer.deployments("staging").expect("records").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ssh_target_is_reported_before_anything_is_touched() {
    let sshd = Sshd::start();
    let host = HostDir::new();
    let _kill = KillStarted(PathBuf::from(host.path()));
    let mut world = ssh_world(&sshd, &host).await;
    let closed = support::free_port();
    if let Some(TargetKind::Ssh(ssh)) = world.env.targets.get_mut(2).map(|t| &mut t.kind) {
        ssh.ssh_port = closed;
    }
    let deployer = Deployer::new(&world.state_dir);
    let v1 = demo_artifact(world.dir.path(), "v1");
    let (_cancel_tx, cancel) = watch::channel(false);
    let request = DeployRequest {
        environment: &world.env,
        root: Path::new("/"),
        artifact: v1,
        strategy: &rolling(1),
        run: "v1".to_owned(),
        version: "v1".to_owned(),
        release: Default::default(),
        approver: None,
    };
    let error = deployer
        .deploy(request, &mut TestLog::default(), cancel)
        .await
        .expect_err("an unreachable target");
    let message = error.to_string();
    assert!(
        matches!(error, slipway_deploy::DeployError::Config(_)),
        "{error:?}"
    );
    assert!(
        message.contains("ssh-3")
            && message.contains(&format!("127.0.0.1:{closed}"))
            && message.contains("connection refused"),
        "{message}"
    );
    // Nothing touched: no state, nothing installed, every server still ready in HAProxy.
    assert!(!world.state_dir.join("staging/state.json").exists());
    assert!(find(Path::new(&host.path()), "slipway-demo").is_empty());
    let servers = world.haproxy.command("show servers state app").await;
    assert!(
        !servers.lines().skip(2).any(|l| {
            l.split_whitespace()
                .nth(6)
                .is_some_and(|admin| admin != "0")
        }),
        "{servers}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_failing_health_on_an_ssh_target_is_rolled_back_without_a_failed_request() {
    let sshd = Sshd::start();
    let host = HostDir::new();
    let _kill = KillStarted(PathBuf::from(host.path()));
    let world = ssh_world(&sshd, &host).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TestLog::default();
    let v1 = demo_artifact(world.dir.path(), "v1");
    let v2 = demo_artifact(world.dir.path(), "v2");
    let first = deploy(&world, &deployer, &v1, "v1", &rolling(2), &mut log).await;
    assert_eq!(first.outcome, Outcome::Succeeded);
    std::fs::write(
        Path::new(&host.path()).join("health-ssh-3-v2"),
        "fail-health\n",
    )
    .expect("health state file");
    let bad = format!("127.0.0.1:{}", world.ports["ssh-3"]);

    let load = Load::start(world.haproxy.frontend, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_cancel_tx, cancel) = watch::channel(false);
    let request = DeployRequest {
        environment: &world.env,
        root: Path::new("/"),
        artifact: v2.clone(),
        strategy: &rolling(2),
        run: "v2".to_owned(),
        version: "v2".to_owned(),
        release: Default::default(),
        approver: None,
    };
    let error = deployer
        .deploy(request, &mut log, cancel)
        .await
        .expect_err("v2 must fail on ssh-3");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = load.finish().await;

    assert_no_failures(&samples);
    let message = error.to_string();
    assert!(
        message.contains("ssh-3") && message.contains("/healthz"),
        "{message}"
    );
    let reached_bad = samples
        .iter()
        .filter(|s| matches!(&s.result, Ok((v, addr)) if v == "v2" && *addr == bad))
        .count();
    assert_eq!(reached_bad, 0, "requests reached the unhealthy ssh-3");
    assert!(
        world.digests().values().all(|d| d == v1.digest()),
        "{:?}",
        world.digests()
    );
    let record = deployer
        .deployments("staging")
        .expect("records")
        .pop()
        .expect("a record");
    assert_eq!(record.outcome, Outcome::RolledBack);
    // Every target serves v1 again.
    for port in world.ports.values() {
        let addr = format!("127.0.0.1:{port}");
        assert_eq!(
            ssh_support::demo::version_at(&addr).await.as_deref(),
            Some("v1"),
            "{addr}"
        );
    }
}
