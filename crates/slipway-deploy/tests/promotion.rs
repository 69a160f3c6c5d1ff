//! The release gates with real deployments of `slipway-demo` on local targets: promotion
//! (`requires: [staging]`) refuses a digest staging never released successfully and lets it
//! through once staging did; freeze windows refuse, an override is logged and recorded;
//! rollbacks pass both gates. A refusal touches nothing: the state directory is the same
//! byte for byte. And the engine's port returns the release record of a failed rollout, with
//! the commit time git gives. See `support` for how the components start.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use slipway_deploy::port::EnginePort;
use slipway_deploy::{
    Artifact, DeployError, DeployRequest, Deployer, DeploymentRecord, Outcome, ReleaseInfo,
};
use slipway_engine::ports::{
    ApprovalDecision, DeployArtifact, DeployLine, DeployRequest as JobRequest,
};
use slipway_spec::deploy::{
    ArtifactRef, BatchSize, DeployJob, Environment, FreezeWhen, FreezeWindow, Rolling, Strategy,
    Target, TargetKind,
};
use slipway_spec::model::Span;
use support::{TestLog, World, free_port};
use tokio::sync::watch;

fn rolling() -> Strategy {
    Strategy::Rolling(Rolling {
        batch: BatchSize::Count(1),
        max_unavailable: None,
        max_fail_percentage: 0,
    })
}

/// `production`: two local targets of the demo on their own ports, no load balancer.
fn production(world: &World) -> Environment {
    let targets = ["prod-1", "prod-2"]
        .into_iter()
        .map(|name| Target {
            name: name.to_owned(),
            kind: TargetKind::Local,
            port: Some(free_port()),
            lb_server: name.to_owned(),
            group: None,
            span: Span { line: 1, col: 1 },
        })
        .collect();
    Environment {
        name: "production".to_owned(),
        file: ".slipway/environments/production.yml".to_owned(),
        targets,
        load_balancer: None,
        ..world.env.clone()
    }
}

/// Kills the process groups a deployment of `ENV` recorded under the state directory (the
/// `World` reaps only staging's).
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.0.join("processes")) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(pid) = record["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
                && pid > 1
            {
                // SAFETY: kill(2) on a process group a test deployment started.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
    }
}

async fn deploy(
    deployer: &Deployer,
    environment: &Environment,
    artifact: &Artifact,
    version: &str,
    release: ReleaseInfo,
    log: &mut TestLog,
) -> Result<DeploymentRecord, DeployError> {
    let (_cancel_tx, cancel) = watch::channel(false);
    deployer
        .deploy_recorded(
            DeployRequest {
                environment,
                root: Path::new("/"),
                artifact: artifact.clone(),
                strategy: &rolling(),
                run: version.to_owned(),
                version: version.to_owned(),
                release,
                approver: None,
            },
            log,
            cancel,
        )
        .await
}

/// Every file under `dir` with its content: a refusal must leave this unchanged.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    files
}

fn records(deployer: &Deployer, environment: &str) -> Vec<DeploymentRecord> {
    deployer.deployments(environment).expect("records")
}

fn decision() -> ApprovalDecision {
    ApprovalDecision {
        job_key: "approve".to_owned(),
        gate: String::new(),
        approved: true,
        reason: "approved by alice".to_owned(),
        votes: Vec::new(),
        inputs: serde_json::Map::new(),
        at_ms: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_takes_only_digests_staging_released_successfully_and_rollbacks_are_exempt() {
    let world = World::start(&[("web-1", None), ("web-2", None)]).await;
    let deployer = Deployer::new(&world.state_dir);
    let _reaper = Reaper(world.state_dir.join("production"));
    let mut log = TestLog::default();
    let mut production = production(&world);
    let (v0, v1, v2) = (
        world.release("v0"),
        world.release("v1"),
        world.release("v2"),
    );

    // v0 goes to production before it requires staging.
    let first = deploy(
        &deployer,
        &production,
        &v0,
        "v0",
        ReleaseInfo::default(),
        &mut log,
    )
    .await
    .expect("v0 to production");
    assert_eq!(first.outcome, Outcome::Succeeded);

    // Now production requires staging: v1 never went there.
    production.requires = vec!["staging".to_owned()];
    let before = snapshot(&world.state_dir);
    let error = deploy(
        &deployer,
        &production,
        &v1,
        "v1",
        ReleaseInfo::default(),
        &mut log,
    )
    .await
    .expect_err("v1 never passed staging");
    assert!(matches!(error, DeployError::Config(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "production requires a successful release to staging first; digest {} was never \
             released there successfully (staging has no releases yet)",
            v1.short_digest()
        )
    );
    assert_eq!(
        snapshot(&world.state_dir),
        before,
        "a refusal touched the state"
    );

    // Through staging, then production accepts it, with what the release keeps.
    deploy(
        &deployer,
        &world.env,
        &v1,
        "v1",
        ReleaseInfo::default(),
        &mut log,
    )
    .await
    .expect("v1 to staging");
    let release = ReleaseInfo {
        commit: Some("0123abcd".to_owned()),
        commit_time: Some(1_795_000_000),
        approvals: vec![decision()],
        freeze_override: None,
    };
    let promoted = deploy(&deployer, &production, &v1, "v1", release, &mut log)
        .await
        .expect("v1 to production after staging");
    assert_eq!(promoted.outcome, Outcome::Succeeded, "{promoted:?}");
    assert_eq!(promoted.commit.as_deref(), Some("0123abcd"));
    assert_eq!(promoted.commit_time, Some(1_795_000_000));
    assert_eq!(promoted.approvals, vec![decision()]);
    assert_eq!(promoted.freeze_override, None);
    assert_eq!(records(&deployer, "production").last(), Some(&promoted));
    for target in &production.targets {
        let port = target.port.expect("port");
        let version = version_of(port).await;
        assert_eq!(version, "v1", "{} answers {version}", target.name);
    }

    // v2 fails on staging and is rolled back there: the record is still returned (and is the
    // one on disk), `deploy` says it failed, and production refuses v2.
    world.fail_health("web-2", "v2");
    let failed = deploy(
        &deployer,
        &world.env,
        &v2,
        "v2",
        ReleaseInfo::default(),
        &mut log,
    )
    .await
    .expect("a failed rollout still has its record");
    assert!(
        matches!(failed.outcome, Outcome::RolledBack | Outcome::Failed),
        "{failed:?}"
    );
    assert_eq!(records(&deployer, "staging").last(), Some(&failed));
    let error = deploy(
        &deployer,
        &production,
        &v2,
        "v2",
        ReleaseInfo::default(),
        &mut log,
    )
    .await
    .expect_err("v2 failed on staging");
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "digest {} was never released there successfully (staging's last: {} of {} (v2), {})",
            v2.short_digest(),
            failed.id,
            v2.short_digest(),
            if failed.outcome == Outcome::RolledBack {
                "rolled_back"
            } else {
                "failed"
            }
        )),
        "{message}"
    );

    // Rolling production back to v0, which staging never saw, is not refused.
    let (_cancel_tx, cancel) = watch::channel(false);
    let back = deployer
        .rollback(&production, Path::new("/"), &mut log, cancel)
        .await
        .expect("rollbacks are exempt from promotion");
    assert_eq!(
        (back.kind.as_str(), back.digest.as_str()),
        ("rollback", v0.digest())
    );
    assert_eq!(
        records(&deployer, "production")
            .iter()
            .map(|r| r.version.as_str())
            .collect::<Vec<_>>(),
        vec!["v0", "v1", "v0"]
    );
}

/// `GET /version` of a demo target: its first line.
async fn version_of(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the target");
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    body.lines().next().unwrap_or_default().to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_refuses_until_overridden_and_the_record_keeps_the_reason() {
    let world = World::start(&[("web-1", None)]).await;
    let deployer = Deployer::new(&world.state_dir);
    let _reaper = Reaper(world.state_dir.join("production"));
    let mut log = TestLog::default();
    let until = now() + 3600;
    let production = Environment {
        freeze: vec![FreezeWindow {
            name: "release-freeze".to_owned(),
            when: FreezeWhen::Range {
                from: now() - 60,
                until,
            },
            span: Span { line: 1, col: 1 },
        }],
        ..production(&world)
    };
    let (v1, v2) = (world.release("v1"), world.release("v2"));

    let error = deploy(
        &deployer,
        &production,
        &v1,
        "v1",
        ReleaseInfo::default(),
        &mut log,
    )
    .await
    .expect_err("frozen");
    assert!(matches!(error, DeployError::Config(_)), "{error:?}");
    assert!(
        error.to_string().starts_with(&format!(
            "environment production is frozen by \"release-freeze\" until {} UTC",
            slipway_deploy::gates::utc(until)
        )),
        "{error}"
    );
    assert!(
        !world.state_dir.join("production").exists(),
        "a refusal wrote something"
    );

    let overridden = |reason: &str| ReleaseInfo {
        freeze_override: Some(reason.to_owned()),
        ..ReleaseInfo::default()
    };
    let first = deploy(
        &deployer,
        &production,
        &v1,
        "v1",
        overridden("INC-42 hotfix"),
        &mut log,
    )
    .await
    .expect("overridden");
    assert_eq!(first.outcome, Outcome::Succeeded);
    assert_eq!(first.freeze_override.as_deref(), Some("INC-42 hotfix"));
    assert_eq!(records(&deployer, "production"), vec![first.clone()]);
    let logged = log.0.lock().expect("log").join("\n");
    assert!(
        logged.contains(&format!(
            "freeze window \"release-freeze\" (until {} UTC) overridden: INC-42 hotfix",
            slipway_deploy::gates::utc(until)
        )),
        "{logged}"
    );
    deploy(
        &deployer,
        &production,
        &v2,
        "v2",
        overridden("INC-43"),
        &mut log,
    )
    .await
    .expect("overridden again");

    // A rollback restores v1 inside the window without an override.
    let (_cancel_tx, cancel) = watch::channel(false);
    let back = deployer
        .rollback(&production, Path::new("/"), &mut log, cancel)
        .await
        .expect("rollbacks are not refused by a freeze");
    assert_eq!(back.digest, v1.digest());
    assert_eq!(back.freeze_override, None);
}

/// Lines of the engine's port, kept.
#[derive(Default)]
struct Lines(Vec<String>);

impl DeployLine for Lines {
    fn line(&mut self, text: &str) {
        println!("deploy: {text}");
        self.0.push(text.to_owned());
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_COMMITTER_DATE", "2026-11-01T00:00:00Z")
        .env("GIT_AUTHOR_DATE", "2026-11-01T00:00:00Z")
        .output()
        .expect("git is installed");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_port_returns_the_record_of_a_failed_rollout_with_the_commit_time() {
    let world = World::start(&[("web-1", None)]).await;
    let root = world.dir.path().join("repo");
    std::fs::create_dir_all(root.join(".slipway/environments")).expect("mkdir");
    // The staging environment as a file, without its load balancer.
    std::fs::write(
        root.join(".slipway/environments/staging.yml"),
        format!(
            "targets:\n  - {{name: web-1, kind: local, port: {}}}\nservice:\n  activate: {{start: '\"$ARTIFACT\"'}}\n  deactivate: stop\n  uninstall: remove\n  health: {{http: /healthz, interval: 100ms, timeout: 1s, successes: 2, max_wait: 2s}}\n",
            world.ports["web-1"]
        ),
    )
    .expect("write staging.yml");
    git(&root, &["init", "-q"]);
    git(
        &root,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "release",
        ],
    );
    let sha = git(&root, &["rev-parse", "HEAD"]);
    let port = EnginePort::new(&world.state_dir);
    let job = DeployJob {
        environment: "staging".to_owned(),
        artifact: ArtifactRef::Job {
            job: "build".to_owned(),
            artifact: "demo".to_owned(),
        },
        strategy: rolling(),
        span: Span { line: 1, col: 1 },
    };
    let v1 = world.release("v1");
    world.fail_health("web-1", "v1");
    let Artifact::File { name, path, digest } = v1.clone() else {
        unreachable!("a file release")
    };
    let request = JobRequest {
        job: &job,
        root: &root,
        artifact: DeployArtifact::File { name, path, digest },
        run: "7",
        job_key: "deploy",
        version: "run 7".to_owned(),
        approver: None,
        approvals: vec![decision()],
        commit: Some(sha.clone()),
        commit_time: None,
        freeze_override: None,
    };
    let mut lines = Lines::default();
    let (_cancel_tx, cancel) = watch::channel(false);
    let result = slipway_engine::ports::Deployer::deploy(&port, request, &mut lines, &cancel).await;
    let error = result.result.expect_err("web-1 fails its health check");
    assert!(error.contains("web-1"), "{error}");
    let release = result.release.expect("the failed rollout's record");
    let record: DeploymentRecord = serde_json::from_value(release).expect("a record");
    assert!(
        matches!(record.outcome, Outcome::Failed | Outcome::RolledBack),
        "{record:?}"
    );
    assert_eq!(record.digest, v1.digest());
    assert_eq!(record.commit.as_deref(), Some(sha.as_str()));
    // 2026-11-01T00:00:00Z, as git log says.
    assert_eq!(record.commit_time, Some(1_793_491_200));
    assert_eq!(record.approvals, vec![decision()]);
    assert_eq!(
        Deployer::new(&world.state_dir)
            .deployments("staging")
            .expect("records"),
        vec![record]
    );

    // A refusal before anything is touched has no record.
    let missing = DeployJob {
        environment: "nowhere".to_owned(),
        ..job
    };
    let request = JobRequest {
        job: &missing,
        root: &root,
        artifact: DeployArtifact::File {
            name: "demo".to_owned(),
            path: root.join("absent"),
            digest: slipway_deploy::Digest("d".to_owned()),
        },
        run: "8",
        job_key: "deploy",
        version: "run 8".to_owned(),
        approver: None,
        approvals: Vec::new(),
        commit: None,
        commit_time: None,
        freeze_override: None,
    };
    let result = slipway_engine::ports::Deployer::deploy(&port, request, &mut lines, &cancel).await;
    assert!(result.release.is_none());
    assert!(
        result
            .result
            .expect_err("no such environment")
            .contains("no environment `nowhere`")
    );
}

#[tokio::test]
async fn commit_time_needs_git_and_an_object_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Not a repository.
    assert_eq!(
        slipway_deploy::port::commit_time(dir.path(), "0123abcd").await,
        None
    );
    git(dir.path(), &["init", "-q"]);
    git(
        dir.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
    );
    let sha = git(dir.path(), &["rev-parse", "HEAD"]);
    assert_eq!(
        slipway_deploy::port::commit_time(dir.path(), &sha).await,
        Some(1_793_491_200)
    );
    // Options and revision expressions are not passed to git.
    let range = format!("{sha}..");
    for bad in ["--all", "HEAD", "", "HEAD~1", range.as_str()] {
        assert_eq!(
            slipway_deploy::port::commit_time(dir.path(), bad).await,
            None,
            "{bad}"
        );
    }
}
