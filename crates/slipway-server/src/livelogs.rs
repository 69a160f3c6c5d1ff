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
}
