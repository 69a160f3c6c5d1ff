//! What the engine tells the person watching: a terminal, a JSON stream, or
//! (later) the server's live view. Sinks do their own I/O.

use crate::ports::{LineSink, StepExit};
use crate::records::{ArtifactRecord, CacheStatus, JobResult, TestSummary};

/// A moment in a run worth showing.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    RunStarted {
        run: &'a str,
        pipeline: &'a str,
        jobs: usize,
    },
    JobStarted {
        job: &'a str,
    },
    StepStarted {
        job: &'a str,
        step: usize,
        name: &'a str,
    },
    StepFinished {
        job: &'a str,
        step: usize,
        name: &'a str,
        exit: &'a StepExit,
        duration_ms: u64,
    },
    /// Something wrong that does not fail the job (an unreadable report).
    Warning {
        job: &'a str,
        message: &'a str,
    },
    /// Something a person watching should know about a job (it waits for
    /// its concurrency group).
    Note {
        job: &'a str,
        message: &'a str,
    },
    JobFinished {
        job: &'a str,
        result: JobResult,
        duration_ms: u64,
        cache: &'a CacheStatus,
        artifacts: &'a [ArtifactRecord],
        tests: Option<&'a TestSummary>,
        /// Why the job failed, was skipped or cancelled.
        reason: Option<&'a str>,
    },
    RunFinished {
        run: &'a str,
        result: JobResult,
        duration_ms: u64,
    },
}

/// Receives events and step output.
pub trait EventSink: Send + Sync + 'static {
    fn event(&self, event: Event<'_>);
    /// A sink for the output lines of one step of `job`.
    fn step_output(&self, job: &str, step: usize) -> Box<dyn LineSink>;
}

/// Shows nothing; for tests and embedding.
pub struct Silent;

struct Discard;

impl LineSink for Discard {
    fn line(&mut self, _: crate::ports::Stream, _: u64, _: &[u8]) {}
    fn flush(&mut self) {}
}

impl EventSink for Silent {
    fn event(&self, _: Event<'_>) {}
    fn step_output(&self, _: &str, _: usize) -> Box<dyn LineSink> {
        Box::new(Discard)
    }
}
