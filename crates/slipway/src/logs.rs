//! `slipway logs RUN [--job J] [--follow]`: a run's log lines from the
//! server's event stream, printed as `[job] line`. Following also shows
//! jobs starting and finishing (from the run's detail, polled), reconnects
//! with `Last-Event-ID` when the stream drops, and exits with the run's
//! result.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use slipway_api::{LogEvent, RunDetail, RunView};
use tokio::time::Instant;

use crate::Exit;
use crate::args::LogsArgs;
use crate::client::{ApiError, Client};
use crate::commands::{connect, fail};
use crate::output::{self, duration};
use crate::sse::{SseEvent, SseParser};

/// How often a follower asks for the run's state.
const POLL: Duration = Duration::from_millis(250);
/// Once the run has ended, how long the stream may stay silent before the
/// follower stops waiting for more lines.
const QUIET_AFTER_END: Duration = Duration::from_secs(2);
/// Reconnection attempts in a row before giving up.
const MAX_RECONNECTS: u32 = 60;

pub async fn logs(args: LogsArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    if args.follow {
        follow(&client, args.run, args.job.as_deref()).await
    } else {
        print_stored(&client, args.run, args.job.as_deref()).await
    }
}

async fn open(
    client: &Client,
    run: i64,
    job: Option<&str>,
    follow: bool,
    last_event_id: Option<&str>,
) -> Result<reqwest::Response, ApiError> {
    let mut query: Vec<(&str, &str)> = vec![("follow", if follow { "true" } else { "false" })];
    if let Some(job) = job {
        query.push(("job", job));
    }
    let mut request = client
        .request(Method::GET, &format!("/api/v1/runs/{run}/logs"))
        .query(&query)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    client.send(request).await
}

/// The lines stored so far, then exit.
async fn print_stored(client: &Client, run: i64, job: Option<&str>) -> Exit {
    let mut response = match open(client, run, job, false, None).await {
        Ok(response) => response,
        Err(error) => return fail(&error),
    };
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                if let Err(error) = parser.push(&bytes, &mut events) {
                    eprintln!("error: {error}");
                    return Exit::Failure;
                }
                for event in events.drain(..) {
                    if let Shown::Closed = show(&event, None).0 {
                        return Exit::Success;
                    }
                }
            }
            Ok(None) => return Exit::Success,
            Err(error) => return fail(&client.transport(&error)),
        }
    }
}

enum Shown {
    Printed,
    Closed,
    Other,
}

/// Prints a log line (after the job's start when `watcher` has not shown
/// it yet); other events may carry the run (its end) or the server's error.
fn show(event: &SseEvent, watcher: Option<&mut Watcher<'_>>) -> (Shown, Option<RunView>) {
    if event.event.as_deref() == Some("error") {
        eprintln!("warning: the server says: {}", event.data);
        return (Shown::Other, None);
    }
    if let Ok(line) = serde_json::from_str::<LogEvent>(&event.data) {
        if let Some(started) = watcher.and_then(|w| w.first_line(&line.job)) {
            output::line(started);
        }
        let printed = output::line(format_args!("[{}] {}", line.job, line.text));
        return (
            if printed {
                Shown::Printed
            } else {
                Shown::Closed
            },
            None,
        );
    }
    (
        Shown::Other,
        serde_json::from_str::<RunView>(&event.data).ok(),
    )
}

/// Follows the run until it ends; exits 0 when it succeeded, 1 otherwise.
pub async fn follow(client: &Client, run: i64, job: Option<&str>) -> Exit {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut watcher = Watcher::new(job);
    let mut failures = 0u32;
    let mut ended: Option<RunView> = None;
    let mut quiet_until = Instant::now() + QUIET_AFTER_END;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        match open(client, run, job, true, parser.last_event_id()).await {
            Ok(mut response) => {
                failures = 0;
                loop {
                    tokio::select! {
                        chunk = response.chunk() => match chunk {
                            Ok(Some(bytes)) => {
                                quiet_until = Instant::now() + QUIET_AFTER_END;
                                if let Err(error) = parser.push(&bytes, &mut events) {
                                    eprintln!("error: {error}");
                                    return Exit::Failure;
                                }
                                for event in events.drain(..) {
                                    match show(&event, Some(&mut watcher)) {
                                        (Shown::Closed, _) => return Exit::Success,
                                        (_, Some(view)) if is_final(&view.status) => {
                                            ended = Some(view);
                                        }
                                        _ => {}
                                    }
                                }
                            }
                            // The server ends the stream when the run is over
                            // (or the connection broke): ask the run below.
                            Ok(None) | Err(_) => break,
                        },
                        _ = poll.tick() => match watcher.poll(client, run).await {
                            Ok(Some(view)) => {
                                if ended.is_none() {
                                    quiet_until = Instant::now() + QUIET_AFTER_END;
                                }
                                ended = Some(view);
                            }
                            Ok(None) => {}
                            Err(Stop(exit)) => return exit,
                        },
                        _ = tokio::time::sleep_until(quiet_until), if ended.is_some() => break,
                    }
                }
            }
            Err(error) if error.status().is_some() => return fail(&error),
            Err(error) => {
                failures += 1;
                if failures > MAX_RECONNECTS {
                    return fail(&error);
                }
                if failures == 1 {
                    eprintln!("warning: {error}; reconnecting");
                }
            }
        }
        parser.forget_partial_event();
        if let Some(view) = ended.take() {
            return finish(&mut watcher, client, view).await;
        }
        // The stream ended or dropped while the run was going on: ask the
        // run, then resume from the last line received.
        match watcher.poll(client, run).await {
            Ok(Some(view)) => return finish(&mut watcher, client, view).await,
            Ok(None) => {}
            Err(Stop(exit)) => return exit,
        }
        let backoff = Duration::from_millis(200 * u64::from(failures.min(10)) + 100);
        tokio::time::sleep(backoff).await;
    }
}

/// Prints the jobs' last transitions and the run's result.
async fn finish(watcher: &mut Watcher<'_>, client: &Client, run: RunView) -> Exit {
    // One more look, so that jobs that finished since the last poll show.
    let run = match watcher.poll(client, run.id).await {
        Ok(Some(latest)) => latest,
        _ => run,
    };
    let took = match (run.started_ms, run.finished_ms) {
        (Some(start), Some(end)) => format!(" in {}", duration(end - start)),
        _ => String::new(),
    };
    let reason = run
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    output::line(format_args!(
        "run {} ({}#{}) {}{took}{reason}",
        run.id, run.project, run.number, run.status
    ));
    if run.status == "succeeded" {
        Exit::Success
    } else {
        Exit::Failure
    }
}

pub fn is_final(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

/// The follower must stop with this exit (an API error, already printed).
struct Stop(Exit);

/// Remembers each job's status to print its transitions.
struct Watcher<'a> {
    job: Option<&'a str>,
    jobs: HashMap<String, String>,
    warned: bool,
}

impl<'a> Watcher<'a> {
    fn new(job: Option<&'a str>) -> Watcher<'a> {
        Watcher {
            job,
            jobs: HashMap::new(),
            warned: false,
        }
    }

    /// Asks the run's state, prints what changed, and returns the run once
    /// it has ended. A lost connection is not fatal (the caller retries).
    async fn poll(&mut self, client: &Client, run: i64) -> Result<Option<RunView>, Stop> {
        match client
            .get::<RunDetail>(&format!("/api/v1/runs/{run}"))
            .await
        {
            Ok(detail) => {
                self.warned = false;
                for line in self.changes(&detail) {
                    output::line(line);
                }
                Ok(is_final(&detail.run.status).then_some(detail.run))
            }
            Err(error) if error.status().is_some() => Err(Stop(fail(&error))),
            Err(error) => {
                if !self.warned {
                    eprintln!("warning: {error}");
                    self.warned = true;
                }
                Ok(None)
            }
        }
    }

    /// A job's first log line arrived: the job has started, whether or not
    /// a poll saw it running (fast jobs start and end between two polls).
    fn first_line(&mut self, key: &str) -> Option<String> {
        if self.jobs.get(key).is_some_and(|status| status != "queued") {
            return None;
        }
        self.jobs.insert(key.to_string(), "running".to_string());
        Some(format!("• {key} started"))
    }

    /// The lines that say which jobs started or finished since last time.
    fn changes(&mut self, detail: &RunDetail) -> Vec<String> {
        let mut lines = Vec::new();
        for job in &detail.jobs {
            if self.job.is_some_and(|wanted| wanted != job.key) {
                continue;
            }
            if self.jobs.get(&job.key) == Some(&job.status) {
                continue;
            }
            self.jobs.insert(job.key.clone(), job.status.clone());
            match job.status.as_str() {
                "running" => lines.push(format!(
                    "• {} started{}",
                    job.key,
                    job.agent
                        .as_deref()
                        .map(|a| format!(" on {a}"))
                        .unwrap_or_default()
                )),
                "queued" => {}
                status => {
                    let took = match (job.started_ms, job.finished_ms) {
                        (Some(start), Some(end)) => format!(" in {}", duration(end - start)),
                        _ => String::new(),
                    };
                    let reason = job
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    lines.push(format!("• {} {status}{took}{reason}", job.key));
                }
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use slipway_api::JobView;

    use super::*;

    fn job(key: &str, status: &str) -> JobView {
        JobView {
            id: 1,
            key: key.into(),
            status: status.into(),
            agent: Some("builtin".into()),
            attempt: 1,
            reason: None,
            queued_ms: 0,
            started_ms: Some(1_000),
            finished_ms: (status != "running").then_some(2_500),
            steps: Vec::new(),
        }
    }

    fn detail(jobs: Vec<JobView>) -> RunDetail {
        RunDetail {
            run: RunView {
                id: 1,
                project: "hello".into(),
                number: 1,
                status: "running".into(),
                reason: None,
                trigger: "manual".into(),
                branch: None,
                tag: None,
                commit: None,
                created_ms: 0,
                started_ms: None,
                finished_ms: None,
            },
            jobs,
        }
    }

    #[test]
    fn transitions_are_printed_once() {
        let mut watcher = Watcher::new(None);
        let first = watcher.changes(&detail(vec![
            job("build", "running"),
            job("test", "queued"),
        ]));
        assert_eq!(first, vec!["• build started on builtin"]);
        let again = watcher.changes(&detail(vec![
            job("build", "running"),
            job("test", "queued"),
        ]));
        assert!(again.is_empty());
        let mut failed = job("test", "failed");
        failed.reason = Some("exit code 1".into());
        let last = watcher.changes(&detail(vec![job("build", "succeeded"), failed]));
        assert_eq!(
            last,
            vec![
                "• build succeeded in 1.5s",
                "• test failed in 1.5s: exit code 1"
            ]
        );
    }

    #[test]
    fn a_first_line_shows_the_start_once() {
        let mut watcher = Watcher::new(None);
        assert_eq!(
            watcher.first_line("build").as_deref(),
            Some("• build started")
        );
        assert_eq!(watcher.first_line("build"), None);
        let later = watcher.changes(&detail(vec![job("build", "running")]));
        assert!(later.is_empty(), "{later:?}");
        watcher.changes(&detail(vec![job("test", "succeeded")]));
        assert_eq!(watcher.first_line("test"), None);
    }

    #[test]
    fn a_job_filter_hides_other_jobs() {
        let mut watcher = Watcher::new(Some("test"));
        let lines = watcher.changes(&detail(vec![
            job("build", "running"),
            job("test", "running"),
        ]));
        assert_eq!(lines, vec!["• test started on builtin"]);
    }

    /// A fake server whose log stream breaks in the middle of an event:
    /// the follower must come back with the id of the last whole event,
    /// print every line once, and exit with the run's result.
    #[tokio::test]
    async fn a_dropped_stream_resumes_from_the_last_event_id() {
        use std::sync::{Arc, Mutex};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let resumed_from: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let seen = resumed_from.clone();
        let line = |n: u64| {
            format!(
                r#"{{"job":"build","step":0,"line":{n},"stream":"o","ts_ms":0,"text":"line {n}"}}"#
            )
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request).to_lowercase();
                let (content_type, body) = if request.starts_with("get /api/v1/runs/5/logs") {
                    let last_id = request
                        .lines()
                        .find_map(|l| l.strip_prefix("last-event-id: "))
                        .map(str::to_string);
                    let mut calls = seen.lock().unwrap();
                    calls.push(last_id);
                    let body = if calls.len() == 1 {
                        format!(
                            "id: 1.0.0\ndata: {}\n\nid: 1.0.1\ndata: {}\n\nid: 1.0.2\ndata: {{\"jo",
                            line(0),
                            line(1)
                        )
                    } else {
                        format!("id: 1.0.2\ndata: {}\n\nevent: end\ndata: {{}}\n\n", line(2))
                    };
                    ("text/event-stream", body)
                } else {
                    let done = seen.lock().unwrap().len() >= 2;
                    let status = if done { "succeeded" } else { "running" };
                    let body = format!(
                        r#"{{"run":{{"id":5,"project":"p","number":1,"status":"{status}","trigger":"manual","created_ms":0}},"jobs":[]}}"#
                    );
                    ("application/json", body)
                };
                // The first stream promises more than it sends: the
                // connection drops in the middle of an event.
                let broken = content_type == "text/event-stream" && body.ends_with("jo");
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len() + if broken { 100 } else { 0 }
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            }
        });
        let client = Client::new(&crate::client::Connection {
            server: format!("http://{addr}"),
            token: "t".into(),
        })
        .unwrap();
        let exit = follow(&client, 5, None).await;
        assert_eq!(exit, Exit::Success);
        assert_eq!(
            *resumed_from.lock().unwrap(),
            vec![None, Some("1.0.1".to_string())]
        );
    }

    #[test]
    fn only_ended_runs_are_final() {
        for status in ["succeeded", "failed", "cancelled"] {
            assert!(is_final(status));
        }
        for status in ["queued", "running", ""] {
            assert!(!is_final(status));
        }
    }
}
