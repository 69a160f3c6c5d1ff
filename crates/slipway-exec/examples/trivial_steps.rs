//! Cost of a trivial step: `cargo run --release -p slipway-exec --example trivial_steps [N]`
//! runs `true` N times (default 1000) through the fast path and through the shell, one after
//! the other, and prints the mean time per step of each.

use std::time::{Duration, Instant};

use slipway_engine::ports::{
    Executor, LineSink, SecretMasker, Shell, StepCommand, Stream, Workspace, WorkspaceRequest,
};
use slipway_exec::{LocalConfig, LocalExecutor};

struct Discard;

impl LineSink for Discard {
    fn line(&mut self, _stream: Stream, _ts_ms: u64, _line: &[u8]) {}
    fn flush(&mut self) {}
}

async fn time_steps(fast_path: bool, n: u32) -> Result<Duration, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir();
    let executor = LocalExecutor::new(LocalConfig::in_place(&dir).fast_path(fast_path));
    let request = WorkspaceRequest {
        run: "1".into(),
        job_key: "bench".into(),
        container: None,
    };
    let mut ws = executor.prepare(&request).await?;
    let masker = SecretMasker::new(["secret-value"]);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    for _ in 0..n {
        let cmd = StepCommand {
            script: "true",
            shell: Shell::Bash,
            env: &[],
            workdir: None,
            timeout: None,
            image: None,
        };
        let exit = ws.run_step(cmd, &masker, &mut Discard, &rx).await;
        if !exit.success() {
            return Err(format!("step failed: {exit:?}").into());
        }
    }
    Ok(started.elapsed() / n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fast = runtime.block_on(time_steps(true, n))?;
    let shell = runtime.block_on(time_steps(false, n))?;
    println!("per step: fast path {fast:.2?}, through bash {shell:.2?}");
    Ok(())
}
