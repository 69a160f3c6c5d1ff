//! `slipway dora` with the real binary: the metrics of a repository's local release records
//! (text and `--json`), bad periods and environments, and `--project` asking a server (a
//! one-request HTTP server on 127.0.0.1 standing in for `/api/v1/dora`, answering the same
//! JSON).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Project;
use serde_json::{Value, json};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

const ENVIRONMENT: &str = "\
targets:
  - {name: web-1, kind: local, port: 9999}
service:
  activate: {start: '\"$ARTIFACT\"'}
  deactivate: stop
";

/// Now, in whole seconds (commit times are whole seconds: lead times come out exact).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() * 1000)
        .unwrap_or(0)
}

/// A release record as `deployments.jsonl` holds it.
fn record(n: u64, kind: &str, outcome: &str, finished_ms: u64, lead_ms: Option<u64>) -> Value {
    let mut record = json!({
        "id": format!("production-{n}"),
        "run": n.to_string(),
        "environment": "production",
        "digest": format!("{n:064x}"),
        "artifact_name": "demo",
        "version": format!("run {n}"),
        "kind": kind,
        "strategy": {"kind": "blue_green", "keep_old_ms": 0},
        "started_ms": finished_ms - 60_000,
        "finished_ms": finished_ms,
        "outcome": outcome,
        "message": null,
        "targets": [],
    });
    if let Some(lead) = lead_ms {
        record["commit"] = json!(format!("{n:040x}"));
        record["commit_time"] = json!((finished_ms - lead) / 1000);
    }
    record
}

/// A repository with `production` and these records, oldest first.
fn repository(records: &[Value]) -> Project {
    let project = Project::new("jobs: {}\n");
    project.write(".slipway/environments/production.yml", ENVIRONMENT);
    let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
    project.write(
        ".slipway/local/environments/production/deployments.jsonl",
        &lines,
    );
    project
}

#[test]
fn metrics_of_the_local_records() {
    let now = now_ms();
    // In the last 30 days: 3 successful changes (lead times 1 h, 2 h, 30 h), one failed change
    // restored 45 minutes later by the next; 40 days ago one more, outside the period.
    let project = repository(&[
        record(1, "deploy", "succeeded", now - 40 * DAY, Some(HOUR)),
        record(2, "deploy", "succeeded", now - 20 * DAY, Some(HOUR)),
        record(3, "deploy", "failed", now - 10 * DAY, None),
        record(
            4,
            "deploy",
            "succeeded",
            now - 10 * DAY + 45 * 60_000,
            Some(2 * HOUR),
        ),
        record(5, "deploy", "succeeded", now - DAY, Some(30 * HOUR)),
    ]);

    let run = project.run(&["dora", "--env", "production", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let dora: Value = serde_json::from_str(&run.stdout).expect("--json prints JSON");
    assert_eq!(dora["environment"], "production");
    let period = dora["to_ms"].as_u64().unwrap_or(0) - dora["from_ms"].as_u64().unwrap_or(0);
    assert_eq!(period, 30 * DAY);
    assert_eq!(dora["deployment_frequency"]["releases"], 3);
    assert_eq!(dora["deployment_frequency"]["class"], "medium");
    assert_eq!(dora["lead_time"]["measured"], 3);
    assert_eq!(dora["lead_time"]["median_ms"], 2 * HOUR);
    assert_eq!(dora["lead_time"]["p90_ms"], 30 * HOUR);
    assert_eq!(dora["lead_time"]["class"], "elite");
    assert_eq!(dora["change_failure_rate"]["releases"], 4);
    assert_eq!(dora["change_failure_rate"]["failed"], 1);
    assert_eq!(dora["change_failure_rate"]["rate"], 0.25);
    assert_eq!(dora["time_to_restore"]["incidents"], 1);
    assert_eq!(dora["time_to_restore"]["median_ms"], 45 * 60_000);
    assert_eq!(dora["time_to_restore"]["class"], "elite");

    let run = project.run(&["dora", "--env", "production"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    for part in [
        "DORA metrics of production over 30 days up to ",
        "deployment frequency   medium  3 successful releases, 0.10 a day",
        "lead time for changes  elite   median 2h00m, p90 1d06h over 3 releases",
        "change failure rate    low     25.0% (1 of 4: 1 failed, 0 rolled back, 0 replaced by a rollback)",
        "time to restore        elite   median 45m00s over 1 restored incident",
    ] {
        assert!(
            run.stdout.contains(part),
            "{part:?} missing in:\n{}",
            run.stdout
        );
    }

    // A longer period takes the first release in.
    let run = project.run(&["dora", "--env", "production", "--since", "6w", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let dora: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(dora["deployment_frequency"]["releases"], 4);
}

#[test]
fn bad_periods_and_environments_are_refused() {
    let project = repository(&[]);
    for bad in ["30", "30x", "0d", "1.5d"] {
        let run = project.run(&["dora", "--env", "production", "--since", bad]);
        assert_eq!(run.code, Some(2), "{bad}: {}", run.all());
        assert!(
            run.stderr.starts_with(&format!("error: --since `{bad}`")),
            "{bad}: {}",
            run.stderr
        );
    }
    let run = project.run(&["dora", "--env", "prod"]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("no environment `prod`") && run.stderr.contains("production"),
        "{}",
        run.stderr
    );
    let run = project.run(&["dora", "--env", "../etc"]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    // No records yet: zeros, not an error.
    let run = project.run(&["dora", "--env", "production"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("0 successful releases") && run.stdout.contains("no incidents"),
        "{}",
        run.stdout
    );
}

/// Serves one request with `status` and `body`; returns the request's head.
fn serve_once(status: &str, body: String) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let status = status.to_owned();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        head
    });
    (address, server)
}

#[test]
fn with_a_project_the_server_is_asked() {
    let now = now_ms();
    let records: Vec<slipway_deploy::DeploymentRecord> = [
        record(1, "deploy", "succeeded", now - 3 * DAY, Some(HOUR)),
        record(2, "deploy", "succeeded", now - DAY, Some(3 * HOUR)),
    ]
    .into_iter()
    .map(|r| serde_json::from_value(r).expect("a record"))
    .collect();
    let answer =
        slipway_deploy::dora::dora("production", &records, now, Duration::from_secs(7 * 86_400));
    let (server, request) = serve_once("200 OK", serde_json::to_string(&answer).expect("JSON"));
    let project = Project::new("jobs: {}\n");
    let run = project.run(&[
        "dora",
        "--env",
        "production",
        "--since",
        "1w",
        "--project",
        "web shop",
        "--server",
        &server,
        "--token",
        "secret-token",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let head = request.join().expect("server thread");
    assert_eq!(
        head.first().map(String::as_str),
        Some("GET /api/v1/dora?project=web%20shop&env=production&since=604800 HTTP/1.1"),
        "{head:?}"
    );
    assert!(
        head.iter()
            .any(|h| h.eq_ignore_ascii_case("authorization: Bearer secret-token")),
        "{head:?}"
    );
    assert!(
        run.stdout
            .contains("deployment frequency   high    2 successful releases, 0.29 a day"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("lead time for changes  elite   median 2h00m, p90 3h00m over 2 releases"),
        "{}",
        run.stdout
    );

    // The server's refusal is shown with its meaning.
    let (server, request) = serve_once(
        "404 Not Found",
        json!({"error": "no project `nope`"}).to_string(),
    );
    let run = project.run(&[
        "dora",
        "--env",
        "production",
        "--project",
        "nope",
        "--server",
        &server,
        "--token",
        "t",
    ]);
    request.join().expect("server thread");
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("no project `nope`"), "{}", run.stderr);
}
