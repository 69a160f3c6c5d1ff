//! The server's side of live logs: agent lines into
//! [`slipway_logs::live::LiveLogs`] (per-step files, archived when the job
//! ends), and their streams out.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use slipway_api::AgentLine;
use slipway_logs::Stream;
use slipway_logs::live::{Cursor, LiveInput, LiveLogs, LiveStream};

/// Log storage and streaming.
pub struct LogHub {
    logs: Arc<LiveLogs>,
}

impl LogHub {
    pub fn new(dir: PathBuf) -> LogHub {
        LogHub {
            logs: Arc::new(LiveLogs::new(dir)),
        }
    }

    /// Stores lines of one step. Lines the store refuses as out of place
    /// (a step before the latest, a finished job: an agent re-sending after
    /// the job ended, or a new attempt of a requeued job) are dropped with a
    /// warning rather than failing the agent forever; other errors are
    /// returned, so the agent sends the batch again.
    pub fn append(
        &self,
        run: i64,
        job: i64,
        job_key: &str,
        step: u32,
        lines: &[AgentLine],
    ) -> io::Result<()> {
        let inputs: Vec<LiveInput<'_>> = lines
            .iter()
            .map(|line| LiveInput {
                stream: if line.stream == 'e' {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                },
                ts_ms: line.ts_ms,
                text: line.text.as_bytes(),
            })
            .collect();
        match self.logs.append(run, job, job_key, step, &inputs) {
            Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
                tracing::warn!(run, job, step, %error, "log lines dropped");
                Ok(())
            }
            other => other,
        }
    }

    /// Closes and archives the job's logs (compression: on a blocking
    /// thread).
    pub async fn finish_job(&self, run: i64, job: i64) {
        let logs = self.logs.clone();
        let done = tokio::task::spawn_blocking(move || logs.finish_job(run, job)).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(run, job, %error, "could not archive the job's logs"),
            Err(error) => tracing::warn!(run, job, %error, "the archiving task failed"),
        }
    }

    pub fn finish_run(&self, run: i64) {
        if let Err(error) = self.logs.finish_run(run) {
            tracing::warn!(run, %error, "could not mark the run's logs finished");
        }
    }

    /// Applies the retention settings, sparing runs still going.
    pub async fn prune(&self, max_age: Option<std::time::Duration>, max_bytes: Option<u64>) {
        let logs = self.logs.clone();
        let retention = slipway_logs::Retention {
            max_age,
            max_total_bytes: max_bytes,
        };
        match tokio::task::spawn_blocking(move || logs.prune(&retention)).await {
            Ok(Ok(report)) if !report.deleted.is_empty() => tracing::info!(
                files = report.deleted.len(),
                bytes = report.deleted_bytes,
                "old step logs deleted"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "log retention failed"),
            Err(error) => tracing::warn!(%error, "the log retention task failed"),
        }
    }

    pub fn stream(&self, run: i64, job: Option<i64>, cursor: Cursor, follow: bool) -> LiveStream {
        self.logs.stream(run, job, cursor, follow)
    }

    /// One step's log for reading by line number (the web UI's pages and
    /// search): the plain log while it is written, else its archive; `None`
    /// when it has neither. Blocking file I/O: call it off the async threads.
    /// The paths are the store's layout (`<root>/<run>/<job>/<step>.log`,
    /// `.log.zst`), every component a number.
    pub fn open_step(&self, run: i64, job: i64, step: u32) -> io::Result<Option<StepLog>> {
        let dir = self.logs.root().join(run.to_string()).join(job.to_string());
        let plain = dir.join(format!("{step}{}", slipway_logs::PLAIN_LOG_SUFFIX));
        match std::fs::File::open(plain) {
            Ok(file) => {
                return Ok(Some(StepLog::Plain(slipway_logs::PlainLogReader::open(
                    file,
                )?)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let archived = dir.join(format!("{step}{}", slipway_logs::ARCHIVED_LOG_SUFFIX));
        match std::fs::File::open(archived) {
            Ok(file) => Ok(Some(StepLog::Archived(slipway_logs::ArchiveReader::open(
                file,
            )?))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A step's log opened by [`LogHub::open_step`].
pub enum StepLog {
    Plain(slipway_logs::PlainLogReader<std::fs::File>),
    Archived(slipway_logs::ArchiveReader<std::fs::File>),
}

impl slipway_logs::LogSource for StepLog {
    fn line_count(&mut self) -> io::Result<u64> {
        match self {
            StepLog::Plain(log) => log.line_count(),
            StepLog::Archived(log) => log.line_count(),
        }
    }

    fn read_lines(
        &mut self,
        first: u64,
        count: usize,
        out: &mut Vec<slipway_logs::OwnedRecord>,
    ) -> io::Result<()> {
        match self {
            StepLog::Plain(log) => log.read_lines(first, count, out),
            StepLog::Archived(log) => log.read_lines(first, count, out),
        }
    }

    fn visit_lines(
        &mut self,
        first: u64,
        visit: &mut dyn FnMut(u64, slipway_logs::Record<'_>) -> std::ops::ControlFlow<()>,
    ) -> io::Result<()> {
        match self {
            StepLog::Plain(log) => log.visit_lines(first, visit),
            StepLog::Archived(log) => log.visit_lines(first, visit),
        }
    }
}
