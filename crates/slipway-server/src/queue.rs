//! The jobs waiting for agents, and the agents waiting for jobs.
//!
//! The store is the truth about which job is queued, claimed or running
//! (claiming is one atomic statement there). This module only keeps what a
//! database cannot: the run driver's channel for each job's outcome, and the
//! agents blocked in a long poll, so that a queued job wakes one agent whose
//! labels fit at once instead of at its next poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use slipway_engine::ports::CancelSignal;
use slipway_engine::{JobOutcome, RunContext, Upstream};
use tokio::sync::{Notify, mpsc};

/// A job the dispatcher launched and awaits.
pub struct PendingJob {
    pub run_id: i64,
    pub job_key: String,
    /// The job's index in the run's plan.
    pub index: usize,
    pub run: Arc<RunContext>,
    /// The pipeline's text, sent to the agent.
    pub pipeline_source: Arc<str>,
    pub upstream: Vec<Upstream>,
    pub labels: Vec<String>,
    pub cancel: CancelSignal,
    /// Where the outcome goes (exactly once).
    pub done: mpsc::UnboundedSender<(usize, JobOutcome)>,
    /// Step names by index, from the agent's `step_started` records.
    pub step_names: Mutex<HashMap<u32, String>>,
    /// When the job was queued, for the queue-wait metric.
    pub queued_at: std::time::Instant,
    /// An agent holds the job.
    pub claimed: std::sync::atomic::AtomicBool,
}

struct Waiter {
    id: u64,
    labels: Vec<String>,
    wake: Arc<Notify>,
}

/// Pending jobs by job id, and waiting agents.
#[derive(Default)]
pub struct Queue {
    jobs: Mutex<HashMap<i64, Arc<PendingJob>>>,
    waiters: Mutex<Vec<Waiter>>,
    next_waiter: AtomicU64,
}

/// An agent's place in the wait list; leaves it when dropped.
pub struct WaitTicket<'a> {
    queue: &'a Queue,
    id: u64,
    pub wake: Arc<Notify>,
}

impl Drop for WaitTicket<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiters) = self.queue.waiters.lock() {
            waiters.retain(|w| w.id != self.id);
        }
    }
}

fn fits(agent: &[String], job: &[String]) -> bool {
    job.iter().all(|label| agent.contains(label))
}

impl Queue {
    /// Registers a launched job and wakes one waiting agent that can take it.
    pub fn add(&self, job_id: i64, job: Arc<PendingJob>) {
        let labels = job.labels.clone();
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(job_id, job);
        }
        self.wake_for(&labels);
    }

    /// Wakes one waiting agent whose labels fit (a requeued job).
    pub fn wake_for(&self, labels: &[String]) {
        let Ok(mut waiters) = self.waiters.lock() else {
            return;
        };
        if let Some(pos) = waiters.iter().position(|w| fits(&w.labels, labels)) {
            let waiter = waiters.swap_remove(pos);
            waiter.wake.notify_one();
        }
    }

    pub fn get(&self, job_id: i64) -> Option<Arc<PendingJob>> {
        self.jobs.lock().ok()?.get(&job_id).cloned()
    }

    pub fn remove(&self, job_id: i64) -> Option<Arc<PendingJob>> {
        self.jobs.lock().ok()?.remove(&job_id)
    }

    /// Joins the wait list. Join before trying to claim, so that a job
    /// queued between the attempt and the wait still wakes this agent.
    pub fn wait_ticket(&self, labels: &[String]) -> WaitTicket<'_> {
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(Notify::new());
        if let Ok(mut waiters) = self.waiters.lock() {
            waiters.push(Waiter {
                id,
                labels: labels.to_vec(),
                wake: wake.clone(),
            });
        }
        WaitTicket {
            queue: self,
            id,
            wake,
        }
    }

    /// Jobs an agent holds now.
    pub fn claimed_jobs(&self) -> usize {
        self.jobs
            .lock()
            .map(|j| {
                j.values()
                    .filter(|p| p.claimed.load(Ordering::Relaxed))
                    .count()
            })
            .unwrap_or(0)
    }
}
