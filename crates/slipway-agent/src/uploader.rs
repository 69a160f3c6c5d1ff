//! A job's uploader: sends its step records and log lines to the server in
//! batches, keeps its lease alive, and hears the server's cancel.
//!
//! - **Ticker.** Every 100 ms, whatever arrived since the last batch is
//!   sent, so a printed line reaches the server within about 100 ms (plus
//!   the call) and the flush period stays far below 250 ms. Nothing is sent
//!   on a tick with nothing to say, except:
//! - **Heartbeat.** An empty batch goes out when nothing was delivered for
//!   a third of the lease: the events call renews the lease.
//! - **Delivery.** A batch is kept and sent again, unchanged, until the
//!   server answers 2xx (it stores a batch whole before answering). So a line
//!   the server acknowledged is never lost, and a line arrives twice only
//!   when the server stored a batch but its answer was lost (a restart at
//!   that moment): delivery is at least once, and the server may see a
//!   batch again.
//! - **Answers.** `cancel: true` flips the job's cancel signal (the engine
//!   kills the step's process group). 404 or 409 mean the job is no longer
//!   this agent's (its lease expired and it was requeued): the job is
//!   cancelled, nothing more is sent, and its outcome is not reported.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_api::EventBatch;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::client::{Api, CallError};
use crate::job_store::Upload;
use crate::retry::Backoff;

/// The fixed flush period.
const TICK: Duration = Duration::from_millis(100);
/// A batch carries at most this many lines or about this many bytes of
/// text, so that a chatty step never makes a request the server refuses.
const MAX_LINES: usize = 5_000;
const MAX_TEXT_BYTES: usize = 1 << 20;

/// How the uploader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Everything the job produced reached the server.
    Delivered,
    /// The server no longer considers the job this agent's.
    Gone,
    /// The agent is shutting down and the server could not be reached in
    /// time: what was not delivered is lost.
    Abandoned,
}

pub(crate) struct Uploader {
    pub(crate) api: Arc<Api>,
    pub(crate) job_id: i64,
    pub(crate) lease: Duration,
    pub(crate) uploads: UnboundedReceiver<Upload>,
    /// Flipped when the server says so.
    pub(crate) cancel: Arc<watch::Sender<bool>>,
    /// Turns true when the agent stops waiting for the server.
    pub(crate) abandon: watch::Receiver<bool>,
}

impl Uploader {
    /// Runs until every sender of `uploads` is gone and everything was
    /// delivered (or the job is gone, or delivery was abandoned).
    pub(crate) async fn run(mut self) -> Delivery {
        let heartbeat = (self.lease / 3).max(TICK);
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pending: VecDeque<Upload> = VecDeque::new();
        let mut in_flight: Option<EventBatch> = None;
        // The claim (or the previous agent call) renewed the lease.
        let mut last_delivery = Instant::now();
        let mut backoff = Backoff::new();
        let mut retry_at: Option<Instant> = None;
        let mut outage_logged = false;
        let mut open = true;
        let mut gone = false;
        loop {
            tokio::select! {
                received = self.uploads.recv(), if open => {
                    match received {
                        Some(upload) => {
                            if !gone {
                                pending.push_back(upload);
                            }
                            continue;
                        }
                        None => open = false,
                    }
                }
                _ = ticker.tick() => {}
            }
            if gone {
                if open {
                    continue;
                }
                return Delivery::Gone;
            }
            let now = Instant::now();
            let nothing_left = in_flight.is_none() && pending.is_empty();
            if !open && nothing_left {
                return Delivery::Delivered;
            }
            if retry_at.is_some_and(|at| now < at) {
                continue;
            }
            if nothing_left && now.duration_since(last_delivery) < heartbeat {
                continue;
            }
            let batch = match in_flight.take() {
                Some(batch) => batch,
                None => self.take_batch(&mut pending),
            };
            match self.api.events(self.job_id, &batch).await {
                Ok(ack) => {
                    if outage_logged {
                        tracing::info!(job = self.job_id, "events are delivered again");
                        outage_logged = false;
                    }
                    last_delivery = Instant::now();
                    retry_at = None;
                    backoff.reset();
                    if ack.cancel && !*self.cancel.borrow() {
                        tracing::info!(job = self.job_id, "the server cancelled the job");
                        self.cancel.send_replace(true);
                    }
                }
                Err(error @ (CallError::Gone(_) | CallError::Unauthorized(_))) => {
                    tracing::warn!(
                        job = self.job_id,
                        "stopping the job: {error}; its outcome will not be reported"
                    );
                    self.cancel.send_replace(true);
                    gone = true;
                }
                Err(error) if error.retryable() => {
                    if *self.abandon.borrow() {
                        tracing::warn!(
                            job = self.job_id,
                            "giving up on delivering the job's events at shutdown: {error}"
                        );
                        return Delivery::Abandoned;
                    }
                    if !outage_logged {
                        tracing::warn!(
                            job = self.job_id,
                            "cannot deliver events: {error}; retrying until the server answers"
                        );
                        outage_logged = true;
                    }
                    in_flight = Some(batch);
                    retry_at = Some(Instant::now() + backoff.next_delay());
                }
                Err(error) => {
                    // The server will never take this batch (malformed, too
                    // large): keep the job going without it.
                    tracing::warn!(
                        job = self.job_id,
                        lines = batch.lines.len(),
                        "the server refused a batch of events, which is dropped: {error}"
                    );
                }
            }
        }
    }

    /// The next batch to send: pending uploads from the oldest, as many as
    /// fit the limits (the rest stay pending, in order, so a record never
    /// overtakes the lines printed before it).
    fn take_batch(&self, pending: &mut VecDeque<Upload>) -> EventBatch {
        let mut batch = EventBatch {
            agent: self.api.agent.clone(),
            records: Vec::new(),
            lines: Vec::new(),
        };
        let mut bytes = 0usize;
        while let Some(upload) = pending.pop_front() {
            match upload {
                Upload::Record(record) => batch.records.push(record),
                Upload::Line(line) => {
                    bytes += line.text.len() + 32;
                    batch.lines.push(line);
                }
            }
            if batch.lines.len() >= MAX_LINES || bytes >= MAX_TEXT_BYTES {
                break;
            }
        }
        batch
    }
}
