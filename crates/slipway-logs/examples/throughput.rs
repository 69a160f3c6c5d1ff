//! Rough throughput of the log pipeline: ~200 MB of generated build-log lines, fed in 64 KiB
//! chunks (a pipe's usual read size) through `LineSplitter` and `LogWriter` into `io::sink()`,
//! without secrets and with a handful of them.
//!
//! Run with `cargo run --release -p slipway-logs --example throughput [MEGABYTES]`. A quick look for
//! comparison with `cat`, not a benchmark: it asserts nothing.

use std::io;
use std::time::Instant;

use slipway_logs::{LineSplitter, LogWriter, SecretMasker, Stream};

const CHUNK: usize = 64 * 1024;

fn main() -> io::Result<()> {
    let megabytes: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(200);
    let block = generated_lines(4 * 1024 * 1024);
    let repeats = (megabytes * 1_000_000).div_ceil(block.len());

    let no_secrets: [&str; 0] = [];
    run("no secrets", SecretMasker::new(no_secrets), &block, repeats)?;
    let secrets = [
        "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
        "hunter2-but-longer",
        "postgres://ci:s3cr3t-p4ss@db.internal:5432/app",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\n-----END OPENSSH PRIVATE KEY-----",
        "AKIAIOSFODNN7EXAMPLE",
    ];
    run("5 secrets", SecretMasker::new(secrets), &block, repeats)?;
    Ok(())
}

fn run(label: &str, masker: SecretMasker, block: &[u8], repeats: usize) -> io::Result<()> {
    let mut splitter = LineSplitter::new(masker);
    let mut writer = LogWriter::new(io::sink());
    let mut result = Ok(());
    let mut lines = 0u64;
    let started = Instant::now();
    for repeat in 0..repeats {
        for (index, chunk) in block.chunks(CHUNK).enumerate() {
            // A real caller reads the clock once per chunk, not once per line.
            let ts_ms = 1_767_225_600_000 + (repeat * 1000 + index) as u64;
            splitter.feed(chunk, |line| {
                lines += 1;
                if result.is_ok() {
                    result = writer.write_line(ts_ms, Stream::Stdout, line);
                }
            });
        }
    }
    splitter.finish(|line| {
        lines += 1;
        if result.is_ok() {
            result = writer.write_line(0, Stream::Stdout, line);
        }
    });
    result?;
    writer.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = (block.len() * repeats) as f64;
    println!(
        "{label:>10}: {:.0} MB in {seconds:.2} s, {:.0} MB/s, {lines} lines",
        bytes / 1e6,
        bytes / 1e6 / seconds
    );
    Ok(())
}

/// Lines that look like a build log, of varied lengths, one in a thousand with a secret in it.
fn generated_lines(size: usize) -> Vec<u8> {
    let templates: [&str; 5] = [
        "   Compiling serde_derive v1.0.219 (registry+https://example.invalid/index)",
        "test tests::scheduler::resumes_after_restart ... ok",
        "warning: unused variable: `x` --> src/lib.rs:12:9",
        "",
        "npm notice 1234 packages audited in 3.2s; token=ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
    ];
    let mut out = Vec::with_capacity(size + 256);
    let mut n = 0usize;
    while out.len() < size {
        let template = if n % 1000 == 999 {
            templates[4]
        } else {
            templates[n % 4]
        };
        out.extend_from_slice(template.as_bytes());
        out.extend_from_slice(format!(" #{n}\n").as_bytes());
        n += 1;
    }
    out
}
