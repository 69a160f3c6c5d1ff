//! Paging a 1,000,000-line step log (~100 MB plain): how long opening it and reading one page of
//! 100 lines takes, at its start, middle and end, as a plain log and as an archive; the
//! archive's size; and archive block sizes compared.
//!
//! Run with `cargo run --release -p slipway-logs --example paging [LINES]`. Each figure is the
//! median of several runs, each on a freshly opened file (the OS page cache is warm: this measures
//! the code, not the disk). Target from issue 6: under 100 ms each. It asserts nothing.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use slipway_logs::{
    ArchiveOptions, ArchiveReader, LogSource, LogWriter, PlainLogReader, Stream, archive_with,
    search,
};

const PAGE: usize = 100;
const RUNS: usize = 9;

fn main() -> io::Result<()> {
    let lines: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("slipway-paging-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, lines);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(dir: &Path, lines: u64) -> io::Result<()> {
    let plain = dir.join("step.log");
    let started = Instant::now();
    write_log(&plain, lines)?;
    let plain_len = std::fs::metadata(&plain)?.len();
    println!(
        "wrote {lines} lines, {:.1} MB plain, in {:.2?}",
        plain_len as f64 / 1e6,
        started.elapsed()
    );

    println!("\nblock size   archive MB   ratio   archive time   middle page (open + read)");
    let mut default_archive = None;
    for block_kib in [64usize, 128, 256, 1024] {
        let archived = dir.join(format!("step-{block_kib}.log.zst"));
        let options = ArchiveOptions {
            block_bytes: block_kib * 1024,
            ..ArchiveOptions::default()
        };
        let started = Instant::now();
        let stats = archive_with(File::open(&plain)?, File::create(&archived)?, &options)?;
        let took = started.elapsed();
        let middle = median(|| page_of(&mut ArchiveReader::open(File::open(&archived)?)?, Middle))?;
        println!(
            "{block_kib:>6} KiB   {:>10.2}   {:>5.1}x   {:>12.2?}   {:>10.2?}",
            stats.archived_bytes as f64 / 1e6,
            plain_len as f64 / stats.archived_bytes as f64,
            took,
            middle
        );
        if options.block_bytes == slipway_logs::DEFAULT_BLOCK_BYTES {
            default_archive = Some(archived);
        }
    }
    let Some(archived) = default_archive else {
        return Ok(());
    };

    println!("\nmedian of {RUNS}, each on a newly opened file; page = {PAGE} lines");
    println!("                              plain        archive (128 KiB blocks)");
    for (label, at) in [
        ("first page", First),
        ("middle page", Middle),
        ("last page", Last),
    ] {
        let plain_time = median(|| page_of(&mut PlainLogReader::open(File::open(&plain)?)?, at))?;
        let archive_time =
            median(|| page_of(&mut ArchiveReader::open(File::open(&archived)?)?, at))?;
        println!("open + {label:<20}  {plain_time:>10.2?}   {archive_time:>10.2?}");
    }

    // A reader the server keeps between requests: the plain log was indexed once.
    let mut kept = PlainLogReader::open(File::open(&plain)?)?;
    kept.line_count()?;
    let warm = median(|| page_of(&mut kept, Last))?;
    println!(
        "last page, kept plain reader  {warm:>10.2?}   (index: {} bytes)",
        kept.index_bytes()
    );

    let needle = b"needle-that-is-nowhere";
    let plain_search = median(|| {
        search(
            &mut PlainLogReader::open(File::open(&plain)?)?,
            needle,
            1,
            10,
        )
        .map(|_| ())
    })?;
    let archive_search = median(|| {
        search(
            &mut ArchiveReader::open(File::open(&archived)?)?,
            needle,
            1,
            10,
        )
        .map(|_| ())
    })?;
    println!("search whole log, no hit      {plain_search:>10.2?}   {archive_search:>10.2?}");
    Ok(())
}

#[derive(Clone, Copy)]
enum Where {
    First,
    Middle,
    Last,
}
use Where::{First, Last, Middle};

/// Reads one page at `at`, checking it is full and numbered right.
fn page_of(source: &mut impl LogSource, at: Where) -> io::Result<()> {
    let first = match at {
        First => 1,
        Middle => source.line_count()? / 2,
        Last => source.line_count()?.saturating_sub(PAGE as u64 - 1).max(1),
    };
    let mut page = Vec::with_capacity(PAGE);
    source.read_lines(first, PAGE, &mut page)?;
    if page.len() != PAGE || page.first().map(|r| r.line) != Some(first) {
        return Err(io::Error::other("short or misnumbered page"));
    }
    Ok(())
}

fn median(mut run: impl FnMut() -> io::Result<()>) -> io::Result<Duration> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        run()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times.get(RUNS / 2).copied().unwrap_or_default())
}

/// About 100 bytes a line of varied build output, both streams, a timestamp per ~20 lines.
fn write_log(path: &Path, lines: u64) -> io::Result<()> {
    const CRATES: [&str; 6] = ["serde", "tokio", "axum", "slipway-engine", "regex", "hyper"];
    let mut writer = LogWriter::new(BufWriter::new(File::create(path)?));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut text = Vec::with_capacity(256);
    for n in 0..lines {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        text.clear();
        let krate = CRATES[(seed % 6) as usize];
        let stream = match seed % 10 {
            0 => {
                write!(
                    text,
                    "warning: unused variable `x{}` --> src/{krate}/mod.rs:{}:{} (#{n})",
                    seed % 1000,
                    seed % 5000,
                    seed % 80
                )?;
                Stream::Stderr
            }
            1..=3 => {
                write!(
                    text,
                    "test {krate}::tests::case_{:x} ... ok ({} ms) line {n}",
                    seed % 100_000,
                    seed % 900
                )?;
                Stream::Stdout
            }
            _ => {
                write!(
                    text,
                    "   Compiling {krate} v1.{}.{} (/work/target/{:016x}) step {n} of the build output",
                    seed % 40,
                    seed % 9,
                    krate.len() as u64 * 0x9e37_79b9_7f4a_7c15
                )?;
                Stream::Stdout
            }
        };
        writer.write_line(1_767_225_600_000 + n / 20, stream, &text)?;
    }
    writer.into_inner()?.flush()
}
