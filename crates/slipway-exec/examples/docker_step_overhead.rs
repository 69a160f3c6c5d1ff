//! Per-step overhead of the Docker executor against a raw `docker exec`:
//! `cargo run --release -p slipway-exec --example docker_step_overhead [N] [IMAGE]` prepares one
//! job container (default image `slipway-test/busybox:latest`, which the Docker tests build),
//! then runs `true` N times (default 100) through `DockerWorkspace::run_step` and N times as
//! `docker exec <container> true` with the docker CLI, interleaved (one of each per round, so
//! both see the same machine), and prints the median of each and their ratio.
//!
//! Both sides pay the daemon's exec; the Slipway side also starts the step's shell (`sh -e -c
//! true`) and streams its output through the line pipeline; the CLI side also starts the
//! `docker` process.

use std::time::{Duration, Instant};

use slipway_engine::ports::{
    ContainerRequest, Executor, LineSink, PullPolicy, SecretMasker, Shell, StepCommand, StepExit,
    Stream, Workspace, WorkspaceRequest,
};
use slipway_exec::{DockerConfig, DockerExecutor, LocalConfig};

struct Discard;

impl LineSink for Discard {
    fn line(&mut self, _stream: Stream, _ts_ms: u64, _line: &[u8]) {}
    fn flush(&mut self) {}
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let image = args
        .next()
        .unwrap_or_else(|| "slipway-test/busybox:latest".to_owned());
    let dir = tempfile::tempdir()?;
    let executor =
        DockerExecutor::connect(LocalConfig::in_place(dir.path()), DockerConfig::default()).await?;
    let request = WorkspaceRequest {
        run: format!("bench-{}", std::process::id()),
        job_key: "overhead".into(),
        container: Some(ContainerRequest {
            image,
            services: Vec::new(),
            cpus: None,
            memory: None,
            pull: PullPolicy::Never,
        }),
    };
    let mut ws = executor.prepare(&request).await?;
    let container = ws.container_id().unwrap_or_default().to_owned();
    let masker = SecretMasker::new(["secret-value"]);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut slipway = Vec::with_capacity(n);
    let mut raw = Vec::with_capacity(n);
    let mut failures = 0;
    // One of each before measuring: connections, caches.
    for round in 0..=n {
        let started = Instant::now();
        let cmd = StepCommand {
            script: "true",
            shell: Shell::Sh,
            env: &[],
            workdir: None,
            timeout: None,
            image: None,
        };
        let exit = ws.run_step(cmd, &masker, &mut Discard, &rx).await;
        let ours = started.elapsed();
        let started = Instant::now();
        let status = tokio::process::Command::new("docker")
            .args(["exec", &container, "true"])
            .status()
            .await?;
        let theirs = started.elapsed();
        if exit != StepExit::Exited(0) || !status.success() {
            failures += 1;
        }
        if round > 0 {
            slipway.push(ours);
            raw.push(theirs);
        }
    }
    ws.release().await;
    let ours = median(&mut slipway);
    let theirs = median(&mut raw);
    println!("steps: {n} of each, interleaved; failures: {failures}");
    println!("slipway run_step (sh -e -c true): median {ours:.2?}");
    println!("docker exec CLI (true):           median {theirs:.2?}");
    println!(
        "ratio slipway / docker exec: {:.2}",
        ours.as_secs_f64() / theirs.as_secs_f64().max(f64::MIN_POSITIVE)
    );
    Ok(())
}
