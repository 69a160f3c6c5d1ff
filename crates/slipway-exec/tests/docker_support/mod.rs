//! Helpers of the Docker tests: the test image, an executor, requests with labels unique to a
//! test, and looking for what a test left behind. Every check that cannot run fails with a
//! message naming `scripts/test`, which installs and starts what is missing.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use slipway_engine::ports::{ContainerRequest, Executor, PullPolicy, Workspace, WorkspaceRequest};
use slipway_exec::{DockerConfig, DockerExecutor, DockerWorkspace, LocalConfig};

#[path = "../common/mod.rs"]
mod common;
pub use common::{Outcome, Step, VecSink, live_processes_with, run_with_cancel};

/// The image every test runs in: busybox-static with its applets, imported from a root file
/// system (no registry is reachable).
pub const IMAGE: &str = "slipway-test/busybox:latest";

fn docker_cli(args: &[&str]) -> std::process::Output {
    match Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!(
            "the docker command is missing ({e}); run scripts/test, which installs docker.io \
             and starts dockerd"
        ),
    }
}

/// Builds [`IMAGE`] when the Docker host does not have it, with the same script as the
/// example pipeline (`examples/docker/build-image.sh`): one way to make images here.
pub fn ensure_test_image() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/docker/build-image.sh");
    let built = Command::new(&script)
        .arg(IMAGE)
        .output()
        .expect("run build-image.sh");
    assert!(
        built.status.success(),
        "could not build the test image {IMAGE}: {}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
}

/// An executor on the Docker daemon for jobs working in `root`, with a short grace period.
pub async fn executor(root: &Path) -> DockerExecutor {
    let config = DockerConfig::default().grace(Duration::from_millis(500));
    match DockerExecutor::connect(LocalConfig::in_place(root), config).await {
        Ok(executor) => {
            ensure_test_image();
            executor
        }
        Err(e) => panic!(
            "these tests need a Docker daemon: {e}; run scripts/test, which installs docker.io \
             and starts dockerd"
        ),
    }
}

/// A run name unique to this test process and `test`, found again through the labels.
pub fn run_name(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// A request for a job in [`IMAGE`] without services.
pub fn request(run: &str) -> WorkspaceRequest {
    WorkspaceRequest {
        run: run.to_owned(),
        job_key: "job (docker)".to_owned(),
        container: Some(ContainerRequest {
            image: IMAGE.to_owned(),
            services: Vec::new(),
            cpus: Some(1.0),
            memory: Some(256 * 1024 * 1024),
            pull: PullPolicy::Never,
        }),
    }
}

pub async fn prepare(executor: &DockerExecutor, request: &WorkspaceRequest) -> DockerWorkspace {
    match executor.prepare(request).await {
        Ok(ws) => ws,
        Err(e) => panic!("prepare failed: {e}"),
    }
}

/// Names of containers (any state) labelled with `run`.
pub fn containers_of(run: &str) -> Vec<String> {
    listed(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=slipway.run={run}"),
        "--format",
        "{{.Names}}",
    ])
}

/// Names of networks labelled with `run`.
pub fn networks_of(run: &str) -> Vec<String> {
    listed(&[
        "network",
        "ls",
        "--filter",
        &format!("label=slipway.run={run}"),
        "--format",
        "{{.Name}}",
    ])
}

fn listed(args: &[&str]) -> Vec<String> {
    let output = docker_cli(args);
    assert!(output.status.success(), "docker {args:?} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Releases the workspace and checks that nothing labelled with `run` is left.
pub async fn release_and_check(ws: DockerWorkspace, run: &str) {
    ws.release().await;
    assert_eq!(containers_of(run), Vec::<String>::new(), "containers left");
    assert_eq!(networks_of(run), Vec::<String>::new(), "networks left");
}

pub async fn run(ws: &mut DockerWorkspace, step: &Step<'_>) -> Outcome {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    run_with_cancel(ws, step, &rx).await
}
