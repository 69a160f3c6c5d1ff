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
//! - **Memory.** While the server cannot be reached, lines wait in memory
//!   up to [`MAX_PENDING_BYTES`] of text; beyond that, lines are dropped
//!   (records never are) and a line saying how many were dropped takes
//!   their place, so a chatty step cannot exhaust the agent's memory.
//! - **Answers.** `cancel: true` flips the job's cancel signal (the engine
//!   kills the step's process group). 404 or 409 mean the job is no longer
//!   this agent's (its lease expired and it was requeued): the job is
//!   cancelled, nothing more is sent, and its outcome is not reported.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_api::{AgentLine, EventBatch};
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
/// Text waiting for the server beyond which lines are dropped.
pub(crate) const MAX_PENDING_BYTES: usize = 64 << 20;
/// Counted per line on top of its text: its other fields and the JSON.
const LINE_OVERHEAD: usize = 32;

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
    /// The claim's attempt, sent with every batch.
    pub(crate) attempt: u32,
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
        // Checked on ticks, so a tick early: the gap stays within lease/3.
        let heartbeat = (self.lease / 3).saturating_sub(TICK).max(TICK);
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pending = Pending::default();
        let mut in_flight: Option<EventBatch> = None;
        // Batches are numbered from 1; one sent again keeps its number, so
        // the server stores it once even when an answer was lost.
        let mut numbered = 0u64;
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
                                pending.push(upload);
                            }
                            continue;
                        }
                        None => {
                            open = false;
                            pending.close();
                        }
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
            let nothing_left = in_flight.is_none() && pending.queue.is_empty();
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
                None => {
                    numbered += 1;
                    self.take_batch(&mut pending, numbered)
                }
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
    fn take_batch(&self, pending: &mut Pending, seq: u64) -> EventBatch {
        let mut batch = EventBatch {
            agent: self.api.agent.clone(),
            attempt: self.attempt,
            seq,
            records: Vec::new(),
            lines: Vec::new(),
        };
        let mut bytes = 0usize;
        while let Some(upload) = pending.queue.pop_front() {
            match upload {
                Upload::Record(record) => batch.records.push(record),
                Upload::Line(line) => {
                    let size = line.text.len() + LINE_OVERHEAD;
                    bytes += size;
                    pending.bytes = pending.bytes.saturating_sub(size);
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

/// What waits to be sent, with the memory its lines take.
#[derive(Default)]
struct Pending {
    queue: VecDeque<Upload>,
    /// Text bytes (plus overhead) of the lines in `queue`.
    bytes: usize,
    /// Lines dropped since the queue was last full, and where.
    dropped: u64,
    dropped_step: u32,
    dropped_ts_ms: u64,
}

impl Pending {
    fn push(&mut self, upload: Upload) {
        let Upload::Line(line) = upload else {
            self.queue.push_back(upload);
            return;
        };
        let size = line.text.len() + LINE_OVERHEAD;
        if self.bytes + size > MAX_PENDING_BYTES {
            if self.dropped == 0 {
                self.dropped_step = line.step;
                self.dropped_ts_ms = line.ts_ms;
            }
            self.dropped += 1;
            return;
        }
        self.note_dropped();
        self.bytes += size;
        self.queue.push_back(Upload::Line(line));
    }

    /// No more uploads will come: say what was dropped at the end.
    fn close(&mut self) {
        self.note_dropped();
    }

    /// Puts a line where dropped lines were, once there is room again.
    fn note_dropped(&mut self) {
        if self.dropped == 0 {
            return;
        }
        let text = format!(
            "slipway: {} line(s) dropped here: the server could not be reached and the agent's buffer was full",
            self.dropped
        );
        self.bytes += text.len() + LINE_OVERHEAD;
        self.queue.push_back(Upload::Line(AgentLine {
            step: self.dropped_step,
            stream: 'e',
            ts_ms: self.dropped_ts_ms,
            text,
        }));
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(step: u32, text: String) -> Upload {
        Upload::Line(AgentLine {
            step,
            stream: 'o',
            ts_ms: 1,
            text,
        })
    }

    fn texts(pending: &Pending) -> Vec<String> {
        pending
            .queue
            .iter()
            .filter_map(|u| match u {
                Upload::Line(l) => Some(l.text.clone()),
                Upload::Record(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_full_buffer_drops_lines_and_says_so_where_they_were() {
        let mut pending = Pending::default();
        let big = "x".repeat(MAX_PENDING_BYTES / 2 - 40);
        pending.push(line(0, big.clone()));
        pending.push(line(0, big.clone()));
        // No room: these two are dropped.
        pending.push(line(1, "lost 1".to_string()));
        pending.push(line(1, "lost 2".to_string()));
        assert_eq!(pending.queue.len(), 2);
        // Room again once the first batch went out.
        pending.queue.clear();
        pending.bytes = 0;
        pending.push(line(1, "kept".to_string()));
        let shown = texts(&pending);
        assert_eq!(shown.len(), 2);
        assert!(shown[0].contains("2 line(s) dropped"), "{shown:?}");
        assert_eq!(shown[1], "kept");
    }

    #[test]
    fn dropped_lines_at_the_end_are_reported_on_close() {
        let mut pending = Pending {
            bytes: MAX_PENDING_BYTES,
            ..Pending::default()
        };
        pending.push(line(2, "lost".to_string()));
        assert!(pending.queue.is_empty());
        pending.close();
        let shown = texts(&pending);
        assert_eq!(shown.len(), 1);
        assert!(shown[0].contains("1 line(s) dropped"), "{shown:?}");
    }
}
