//! Benchmark of the web UI's run page and log pages (issue 6,
//! "Performance"): run with `scripts/bench-ui` (a release build of this
//! ignored test), which prints medians and a markdown table for
//! docs/PERFORMANCE.md. Not a test of speed: it asserts only that each
//! response is what it should be, never a time.
//!
//! Workloads, made once by the server's built-in agent on a real server on
//! 127.0.0.1: a run of 1,000 jobs (10 layers of 100, each job after one of
//! the layer before: 900 edges; one step each), and a run whose one step
//! prints 1,000,000 lines (archived when the job ends, as every finished
//! log is). Measured interleaved, round after round, wall time from sending
//! the request to the last byte of the body:
//! - the run page of the 1,000-job run, against the JSON API call of the
//!   same run (`GET /api/v1/runs/{id}`) as the reference;
//! - the first page of the million-line log, the jump to its last line
//!   (`?at=last`), and to a line in the middle (`?at=500000`);
//! - the same three on a log of 1,000,000 lines still being written (a
//!   step that prints them, then sleeps until the run is cancelled), read
//!   from the plain file instead of the archive.

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;

const ROUNDS: usize = 30;

fn thousand_jobs() -> String {
    let mut yaml = String::from("on: { manual: {} }\njobs:\n");
    for layer in 0..10 {
        for i in 0..100 {
            let _ = writeln!(yaml, "  j{layer}_{i}:");
            if layer > 0 {
                let _ = writeln!(yaml, "    needs: [j{}_{i}]", layer - 1);
            }
            yaml.push_str("    steps:\n      - run: \"true\"\n");
        }
    }
    yaml
}

const MILLION: &str = r#"
on: { manual: {} }
jobs:
  log:
    steps:
      - run: seq 1 1000000
"#;

const MILLION_LIVE: &str = r#"
on: { manual: {} }
jobs:
  log:
    steps:
      - run: seq 1 1000000 && sleep 900
"#;

/// The first job's first step's log page path, once the job has started.
async fn log_path(server: &common::TestServer, run: i64) -> String {
    for _ in 0..600 {
        let (_, detail) = server.get(&format!("/runs/{run}")).await;
        if let Some(job) = detail["jobs"][0]["id"].as_i64() {
            return format!("/runs/{run}/jobs/{job}/steps/0/log");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {run} never started its job");
}

async fn run_of(
    server: &common::TestServer,
    project: &str,
    pipeline: &str,
) -> (i64, tempfile::TempDir) {
    let (id, work) = common::project_run(server, project, &[("slipway.yml", pipeline)]).await;
    // wait_run gives up after 60 s; a thousand jobs may take longer.
    for _ in 0..20 {
        let (_, detail) = server.get(&format!("/runs/{id}")).await;
        if matches!(
            detail["run"]["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let detail = server.wait_run(id).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    (id, work)
}

/// One timed GET: (milliseconds, status, body).
async fn timed(server: &common::TestServer, path: &str) -> (f64, u16, String) {
    let started = Instant::now();
    let response = server
        .client
        .get(format!("{}{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    (started.elapsed().as_secs_f64() * 1000.0, status, body)
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-ui runs it in release mode"]
async fn bench_run_page_and_log_pages() {
    let server = common::start(true).await;
    let setup = Instant::now();
    let (big, _w1) = run_of(&server, "big", &thousand_jobs()).await;
    let (logs, _w2) = run_of(&server, "logs", MILLION).await;
    let (live_run, _w3) =
        common::project_run(&server, "live", &[("slipway.yml", MILLION_LIVE)]).await;
    let live = log_path(&server, live_run).await;
    // Until all the lines have reached the server (bounded, not timed).
    let mut total = 0;
    for _ in 0..1200 {
        let (_, _, body) = timed(&server, &format!("{live}?at=last&format=json")).await;
        let page: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        total = page["total"].as_u64().unwrap_or(0);
        if total >= 1_000_000 {
            assert_eq!(page["live"], true, "the step still runs");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        total, 1_000_000,
        "the live log never reached a million lines"
    );
    eprintln!(
        "setup (both runs by the built-in agent): {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let (_, detail) = server.get(&format!("/runs/{logs}")).await;
    let job = detail["jobs"][0]["id"].as_i64().expect("job");
    let log = format!("/runs/{logs}/jobs/{job}/steps/0/log");

    let cases: [(&str, String, &str); 8] = [
        (
            "run page, 1,000 jobs (`GET /runs/{id}`)",
            format!("/runs/{big}"),
            "j9_99",
        ),
        (
            "reference: JSON API of the same run (`GET /api/v1/runs/{id}`)",
            format!("/api/v1/runs/{big}"),
            "j9_99",
        ),
        (
            "log, first page of 1,000,000 lines (`…/log`)",
            log.clone(),
            "id=\"L500\"",
        ),
        (
            "log, jump to the last line (`…/log?at=last`)",
            format!("{log}?at=last"),
            "id=\"L1000000\"",
        ),
        (
            "log, jump to line 500,000 (`…/log?at=500000`)",
            format!("{log}?at=500000"),
            "id=\"L500000\"",
        ),
        (
            "live log being written, first page (`…/log`)",
            live.clone(),
            "id=\"L500\"",
        ),
        (
            "live log, jump to the last line (`…/log?at=last`)",
            format!("{live}?at=last"),
            "id=\"L1000000\"",
        ),
        (
            "live log, jump to line 500,000 (`…/log?at=500000`)",
            format!("{live}?at=500000"),
            "id=\"L500000\"",
        ),
    ];
    // One untimed warm-up of each (opens files, fills the SQLite cache).
    for (name, path, expect) in &cases {
        let (_, status, body) = timed(&server, path).await;
        assert_eq!(status, 200, "{name}");
        assert!(body.contains(expect), "{name}: {expect} missing");
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); cases.len()];
    let mut sizes = vec![0usize; cases.len()];
    for round in 0..ROUNDS {
        // Alternate the order so that load hits every case alike.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..cases.len()).collect()
        } else {
            (0..cases.len()).rev().collect()
        };
        for i in order {
            let (ms, status, body) = timed(&server, &cases[i].1).await;
            assert_eq!(status, 200);
            times[i].push(ms);
            sizes[i] = body.len();
        }
    }
    let mut table = String::from(
        "| measurement | median | min–max | response | target |\n|---|---|---|---|---|\n",
    );
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let min = times[i].iter().copied().fold(f64::INFINITY, f64::min);
        let max = times[i].iter().copied().fold(0.0, f64::max);
        let median = median(&mut times[i]);
        let target = if name.starts_with("reference") {
            "—".to_string()
        } else if median < 100.0 {
            "< 100 ms: met".to_string()
        } else {
            "< 100 ms: MISSED".to_string()
        };
        eprintln!(
            "{name}: median {median:.1} ms (min {min:.1}, max {max:.1}), {} KB",
            sizes[i] / 1024
        );
        let _ = writeln!(
            table,
            "| {name} | {median:.1} ms | {min:.1}–{max:.1} ms | {} KB | {target} |",
            sizes[i] / 1024
        );
    }
    println!("\n{ROUNDS} rounds each, interleaved\n\n{table}");
    let (status, _) = server
        .post(&format!("/runs/{live_run}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "cancel the live run");
    server.wait_run(live_run).await;
    server.stop().await;
}
