//! What a person sees: live output prefixed by job, and the run summary.
//! Text for people (colour on a terminal), or JSON lines for programs.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use slipway_engine::events::{Event, EventSink};
use slipway_engine::ports::{LineSink, StepExit, Stream};
use slipway_engine::records::{CacheStatus, JobResult, RunSummary};

const COLOURS: [&str; 6] = ["36", "35", "33", "32", "34", "91"];

/// Live output to standard output.
pub struct Terminal {
    json: bool,
    colour: bool,
    explain: bool,
    width: usize,
    /// Standard output was closed (`slipway run | head`): stop writing.
    closed: Arc<AtomicBool>,
}

impl Terminal {
    pub fn new(json: bool, colour: &str, explain: bool, job_keys: &[String]) -> Terminal {
        let colour = match colour {
            "always" => true,
            "never" => false,
            _ => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        let width = job_keys
            .iter()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0)
            .min(28);
        Terminal {
            json,
            colour: colour && !json,
            explain,
            width,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn prefix(&self, job: &str) -> Vec<u8> {
        let shown: String = job.chars().take(self.width).collect();
        let padded = format!("{shown:<width$} │ ", width = self.width);
        if self.colour {
            let colour = COLOURS[job
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
                % COLOURS.len()];
            format!("\x1b[{colour}m{padded}\x1b[0m").into_bytes()
        } else {
            padded.into_bytes()
        }
    }

    fn write(&self, bytes: &[u8]) {
        write_out(&self.closed, bytes);
    }

    fn say(&self, job: &str, text: &str) {
        let mut line = self.prefix(job);
        line.extend_from_slice(text.as_bytes());
        line.push(b'\n');
        self.write(&line);
    }

    fn json_event(&self, value: serde_json::Value) {
        let mut line = value.to_string().into_bytes();
        line.push(b'\n');
        self.write(&line);
    }

    /// Prints the table at the end of a run.
    pub fn summary(&self, summary: &RunSummary) {
        if self.json {
            self.json_event(json!({ "event": "summary", "summary": summary }));
            return;
        }
        let mut out = String::new();
        let width = summary
            .jobs
            .iter()
            .map(|j| j.key.chars().count())
            .max()
            .unwrap_or(3)
            .max(3);
        out.push('\n');
        out.push_str(&format!(
            "{:<width$}  {:<9}  {:>8}  {}\n",
            "job", "status", "time", "cache"
        ));
        for job in &summary.jobs {
            let status = format!("{:<9}", job.result.as_str());
            let status = match job.result {
                JobResult::Success => self.paint("32", &status),
                JobResult::Failure => self.paint("31", &status),
                _ => self.paint("2", &status),
            };
            let cache = match &job.cache {
                CacheStatus::Uncached => "-".to_string(),
                CacheStatus::Hit { key } if self.explain => {
                    format!(
                        "{}: inputs unchanged (key {})",
                        self.paint("32", "hit"),
                        key.short()
                    )
                }
                CacheStatus::Hit { .. } => self.paint("32", "hit"),
                CacheStatus::Miss { reasons, .. } if self.explain => {
                    format!("miss: {}", reasons.join("; "))
                }
                CacheStatus::Miss { .. } => "miss".to_string(),
            };
            out.push_str(&format!(
                "{:<width$}  {status}  {:>8}  {cache}\n",
                job.key,
                seconds(job.duration_ms)
            ));
            if let Some(error) = &job.error
                && job.result != JobResult::Success
            {
                out.push_str(&format!(
                    "{:<width$}  {}\n",
                    "",
                    self.paint("2", &format!("↳ {error}"))
                ));
            }
        }
        let artifacts: Vec<_> = summary
            .jobs
            .iter()
            .flat_map(|j| j.artifacts.iter().map(move |a| (j, a)))
            .collect();
        if !artifacts.is_empty() {
            out.push_str("\nartifacts\n");
            for (job, artifact) in artifacts {
                out.push_str(&format!(
                    "  {}/{}  blake3:{}  {}\n",
                    job.key,
                    artifact.name,
                    artifact.digest,
                    bytes(artifact.size)
                ));
            }
        }
        for job in &summary.jobs {
            let Some(tests) = &job.tests else { continue };
            let t = &tests.totals;
            out.push_str(&format!(
                "\ntests of {}: {} tests, {} passed, {} failed, {} errors, {} skipped, {} flaky\n",
                job.key,
                t.tests,
                t.passed + t.flaky,
                t.failed,
                t.errored,
                t.skipped,
                t.flaky
            ));
            for (name, message) in &tests.failures {
                let first = message.lines().next().unwrap_or("");
                out.push_str(&format!("  {} {name}  {first}\n", self.paint("31", "FAIL")));
            }
            for name in &tests.flaky {
                out.push_str(&format!("  {} {name}\n", self.paint("33", "FLAKY")));
            }
            for warning in &tests.warnings {
                out.push_str(&format!("  {} {warning}\n", self.paint("33", "warning:")));
            }
        }
        let verdict = match summary.result {
            JobResult::Success => self.paint("32", "succeeded"),
            JobResult::Failure => self.paint("31", "failed"),
            JobResult::Cancelled => self.paint("33", "was cancelled"),
            JobResult::Skipped => "was skipped".to_string(),
        };
        out.push_str(&format!(
            "\nrun {} {verdict} in {}\n",
            summary.run,
            seconds(summary.duration_ms)
        ));
        self.write(out.as_bytes());
    }
}

fn write_out(closed: &AtomicBool, bytes: &[u8]) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

fn seconds(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

fn bytes(size: u64) -> String {
    match size {
        s if s >= 1 << 20 => format!("{:.1} MiB", s as f64 / (1u64 << 20) as f64),
        s if s >= 1 << 10 => format!("{:.1} KiB", s as f64 / 1024.0),
        s => format!("{s} B"),
    }
}

fn exit_text(exit: &StepExit) -> String {
    match exit {
        StepExit::Exited(code) => format!("exit code {code}"),
        StepExit::Signalled(signal) => format!("killed by signal {signal}"),
        StepExit::TimedOut => "timed out".to_string(),
        StepExit::Cancelled => "cancelled".to_string(),
        StepExit::SpawnFailed(message) => format!("could not start: {message}"),
    }
}

impl EventSink for Terminal {
    fn event(&self, event: Event<'_>) {
        if self.json {
            let value = match event {
                Event::RunStarted {
                    run,
                    pipeline,
                    jobs,
                } => {
                    json!({"event": "run_started", "run": run, "pipeline": pipeline, "jobs": jobs})
                }
                Event::JobStarted { job } => json!({"event": "job_started", "job": job}),
                Event::StepStarted { job, step, name } => {
                    json!({"event": "step_started", "job": job, "step": step, "name": name})
                }
                Event::StepFinished {
                    job,
                    step,
                    name,
                    exit,
                    duration_ms,
                } => {
                    json!({"event": "step_finished", "job": job, "step": step, "name": name, "exit": exit, "duration_ms": duration_ms})
                }
                Event::Warning { job, message } => {
                    json!({"event": "warning", "job": job, "message": message})
                }
                Event::Note { job, message } => {
                    json!({"event": "note", "job": job, "message": message})
                }
                Event::JobFinished {
                    job,
                    result,
                    duration_ms,
                    cache,
                    artifacts,
                    tests,
                    reason,
                } => json!({
                    "event": "job_finished", "job": job, "result": result, "duration_ms": duration_ms,
                    "cache": cache, "artifacts": artifacts, "tests": tests, "reason": reason,
                }),
                Event::RunFinished {
                    run,
                    result,
                    duration_ms,
                } => {
                    json!({"event": "run_finished", "run": run, "result": result, "duration_ms": duration_ms})
                }
            };
            self.json_event(value);
            return;
        }
        match event {
            Event::RunStarted {
                run,
                pipeline,
                jobs,
            } => {
                self.write(
                    format!(
                        "{} run {run} of {pipeline}: {jobs} jobs\n",
                        self.paint("1", "slipway")
                    )
                    .as_bytes(),
                );
            }
            Event::JobStarted { .. } => {}
            Event::StepStarted { job, name, .. } => {
                self.say(job, &self.paint("2", &format!("$ {name}")))
            }
            Event::StepFinished { job, exit, .. } if !exit.success() => {
                self.say(job, &self.paint("31", &format!("✗ {}", exit_text(exit))))
            }
            Event::StepFinished { .. } => {}
            Event::Warning { job, message } => {
                self.say(job, &self.paint("33", &format!("warning: {message}")))
            }
            Event::Note { job, message } => self.say(job, &self.paint("2", message)),
            Event::JobFinished {
                job,
                result,
                duration_ms,
                cache,
                reason,
                ..
            } => {
                let cache_note = match cache {
                    CacheStatus::Hit { key } => format!(", cache hit {}", key.short()),
                    CacheStatus::Miss { reasons, .. } if self.explain => {
                        format!(", cache miss: {}", reasons.join("; "))
                    }
                    CacheStatus::Miss { .. } => ", cache miss".to_string(),
                    CacheStatus::Uncached => String::new(),
                };
                let text = match result {
                    JobResult::Success => self.paint(
                        "32",
                        &format!("✓ success in {}{cache_note}", seconds(duration_ms)),
                    ),
                    JobResult::Failure => self.paint(
                        "31",
                        &format!("✗ failure in {}{cache_note}", seconds(duration_ms)),
                    ),
                    other => self.paint("2", &format!("○ {}", other.as_str())),
                };
                match reason {
                    Some(reason) if result != JobResult::Success => {
                        self.say(job, &format!("{text}: {reason}"))
                    }
                    _ => self.say(job, &text),
                }
            }
            Event::RunFinished { .. } => {}
        }
    }

    fn step_output(&self, job: &str, step: usize) -> Box<dyn LineSink> {
        Box::new(StepLines {
            json: self.json,
            job: job.to_string(),
            step,
            prefix: self.prefix(job),
            buffer: Vec::with_capacity(8192),
            closed: self.closed.clone(),
        })
    }
}

/// One step's live lines, batched per chunk: one lock of stdout per chunk
/// read from the process, not one per line.
struct StepLines {
    json: bool,
    job: String,
    step: usize,
    prefix: Vec<u8>,
    buffer: Vec<u8>,
    closed: Arc<AtomicBool>,
}

impl LineSink for StepLines {
    fn line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]) {
        if self.json {
            let value = json!({
                "event": "line", "job": self.job, "step": self.step,
                "stream": if stream == Stream::Stderr { "stderr" } else { "stdout" },
                "ts_ms": ts_ms, "text": String::from_utf8_lossy(line),
            });
            self.buffer.extend_from_slice(value.to_string().as_bytes());
        } else {
            self.buffer.extend_from_slice(&self.prefix);
            self.buffer.extend_from_slice(line);
        }
        self.buffer.push(b'\n');
        if self.buffer.len() >= 1 << 16 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            write_out(&self.closed, &self.buffer);
            self.buffer.clear();
        }
    }
}

impl Drop for StepLines {
    fn drop(&mut self) {
        self.flush();
    }
}
