//! Throughput of the log pipeline against `cat` into a file.
//!
//! `cargo run --release -p slipway-exec --example log_throughput [MiB]` (default 1024) writes a
//! file of log lines, then times `cat FILE > OUT` and a step `cat FILE` whose lines go through
//! the executor (pipes, line splitting, masking with one secret) into a file sink. Prints both
//! rates, their ratio (target ≥ 0.5) and the peak resident memory of this process (target
//! < 50 MB).

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use slipway_engine::ports::{
    Executor, LineSink, SecretMasker, Shell, StepCommand, Stream, Workspace, WorkspaceRequest,
};
use slipway_exec::{LocalConfig, LocalExecutor};

struct FileSink(BufWriter<std::fs::File>);

impl LineSink for FileSink {
    fn line(&mut self, _stream: Stream, _ts_ms: u64, line: &[u8]) {
        let _ = self.0.write_all(line);
        let _ = self.0.write_all(b"\n");
    }
    fn flush(&mut self) {}
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("input.log");
    {
        let mut out = BufWriter::new(std::fs::File::create(&input)?);
        let mut written = 0u64;
        let mut n = 0u64;
        while written < mib << 20 {
            let line = format!("{n:>10} compiling crate number {n} with some ordinary log text\n");
            out.write_all(line.as_bytes())?;
            written += line.len() as u64;
            n += 1;
        }
    }
    let bytes = std::fs::metadata(&input)?.len();

    let started = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("cat input.log > cat.out")
        .current_dir(dir.path())
        .status()?;
    let cat_time = started.elapsed();
    assert!(status.success());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let step_time = runtime.block_on(async {
        let executor = LocalExecutor::new(LocalConfig::in_place(dir.path()));
        let request = WorkspaceRequest {
            run: "1".into(),
            job_key: "bench".into(),
            container: None,
        };
        let mut ws = executor.prepare(&request).await?;
        let masker = SecretMasker::new(["hunter2-secret"]);
        let mut sink = FileSink(BufWriter::with_capacity(
            256 * 1024,
            std::fs::File::create(dir.path().join("step.out"))?,
        ));
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let cmd = StepCommand {
            script: "cat input.log",
            shell: Shell::Bash,
            env: &[],
            workdir: None,
            timeout: None,
            image: None,
        };
        let started = Instant::now();
        let exit = ws.run_step(cmd, &masker, &mut sink, &rx).await;
        sink.0.flush()?;
        let elapsed = started.elapsed();
        println!("step exit: {exit:?}");
        Ok::<Duration, Box<dyn std::error::Error>>(elapsed)
    })?;

    let rate = |d: Duration| bytes as f64 / (1 << 20) as f64 / d.as_secs_f64();
    println!("input: {} MiB", bytes >> 20);
    println!(
        "cat > file:     {:>8.0} MiB/s ({cat_time:.2?})",
        rate(cat_time)
    );
    println!(
        "slipway step:   {:>8.0} MiB/s ({step_time:.2?})",
        rate(step_time)
    );
    println!(
        "ratio: {:.2} (target >= 0.50); peak RSS: {} MiB (target < 50)",
        cat_time.as_secs_f64() / step_time.as_secs_f64(),
        peak_rss_kib() / 1024
    );
    Ok(())
}
