//! The jobs waiting for agents, and the agents waiting for jobs.
//!
//! The store is the truth about which job is queued, claimed or running
//! (claiming is one atomic statement there). This module only keeps what a
//! database cannot: the run driver's channel for each job's outcome, and the
//! agents blocked in a long poll, so that a queued job wakes one agent whose
//! labels fit at once instead of at its next poll.
//!
//! Prefetch hints: as soon as a webhook delivery is verified, [`Queue::hint`]
//! answers one waiting agent (that accepts hints) with the commit, so it
//! fetches while the server fetches and reads the pipeline; a job of that
//! commit then wakes that agent first ([`Queue::wake_for`]). A hint reserves
//! nothing: jobs are claimed from the store by whichever agent asks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use slipway_api::PrefetchHint;
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
    /// The numbered event batches stored: the agent, its attempt and the
    /// last number. Held while a batch is stored, so a batch sent again
    /// while the first copy is being stored waits and is then recognised.
    pub delivered: tokio::sync::Mutex<Delivered>,
}

/// See [`PendingJob::delivered`].
#[derive(Debug, Default)]
pub struct Delivered {
    pub agent: String,
    pub attempt: u32,
    pub seq: u64,
}

struct Waiter {
    id: u64,
    labels: Vec<String>,
    /// The agent accepts a prefetch hint instead of a job.
    accepts_hints: bool,
    /// The commit the agent said it has ready from an earlier hint.
    prefetched: Option<String>,
    wake: Arc<Wake>,
}

/// How a waiting agent is woken: for a job (claim again), or with a hint.
#[derive(Default)]
pub struct Wake {
    notify: Notify,
    hint: Mutex<Option<PrefetchHint>>,
}

impl Wake {
    /// Resolves once the agent is woken (a permit is kept if it is woken
    /// before it waits).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// The hint this agent was woken with, if any (taken once).
    pub fn take_hint(&self) -> Option<PrefetchHint> {
        self.hint.lock().ok()?.take()
    }
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
    pub wake: Arc<Wake>,
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

/// What a waiting agent says about itself (from its claim).
pub struct WaiterInfo<'a> {
    pub labels: &'a [String],
    pub accepts_hints: bool,
    pub prefetched: Option<&'a str>,
}

impl Queue {
    /// Registers a launched job and wakes one waiting agent that can take it.
    pub fn add(&self, job_id: i64, job: Arc<PendingJob>) {
        let labels = job.labels.clone();
        let commit = job.run.options.git.sha.clone();
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(job_id, job);
        }
        self.wake_for(&labels, commit.as_deref());
    }

    /// Wakes one waiting agent whose labels fit, preferring one that has
    /// `commit` ready from a prefetch hint.
    pub fn wake_for(&self, labels: &[String], commit: Option<&str>) {
        let Ok(mut waiters) = self.waiters.lock() else {
            return;
        };
        let ready = |w: &Waiter| commit.is_some() && w.prefetched.as_deref() == commit;
        let chosen = waiters
            .iter()
            .position(|w| fits(&w.labels, labels) && ready(w))
            .or_else(|| waiters.iter().position(|w| fits(&w.labels, labels)));
        if let Some(pos) = chosen {
            let waiter = waiters.swap_remove(pos);
            waiter.wake.notify.notify_one();
        }
    }

    /// A delivery for `commit` was just verified: a job of it will likely
    /// follow. Hands the hint to one waiting agent that accepts hints (it
    /// leaves the wait list, fetches, and claims again at once), unless a
    /// waiting agent has the commit ready already. Best effort: no job is
    /// reserved, so a hint never holds a job back from another agent.
    pub fn hint(&self, repo_url: &str, commit: &str) {
        let Ok(mut waiters) = self.waiters.lock() else {
            return;
        };
        if waiters
            .iter()
            .any(|w| w.prefetched.as_deref() == Some(commit))
        {
            return;
        }
        let Some(pos) = waiters.iter().position(|w| w.accepts_hints) else {
            return;
        };
        let waiter = waiters.swap_remove(pos);
        if let Ok(mut hint) = waiter.wake.hint.lock() {
            *hint = Some(PrefetchHint {
                repo_url: repo_url.to_owned(),
                commit: commit.to_owned(),
            });
        }
        waiter.wake.notify.notify_one();
    }

    pub fn get(&self, job_id: i64) -> Option<Arc<PendingJob>> {
        self.jobs.lock().ok()?.get(&job_id).cloned()
    }

    pub fn remove(&self, job_id: i64) -> Option<Arc<PendingJob>> {
        self.jobs.lock().ok()?.remove(&job_id)
    }

    /// Joins the wait list. Join before trying to claim, so that a job
    /// queued between the attempt and the wait still wakes this agent.
    pub fn wait_ticket(&self, agent: &WaiterInfo<'_>) -> WaitTicket<'_> {
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(Wake::default());
        if let Ok(mut waiters) = self.waiters.lock() {
            waiters.push(Waiter {
                id,
                labels: agent.labels.to_vec(),
                accepts_hints: agent.accepts_hints,
                prefetched: agent.prefetched.map(str::to_owned),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter<'a>(
        labels: &'a [String],
        accepts_hints: bool,
        prefetched: Option<&'a str>,
    ) -> WaiterInfo<'a> {
        WaiterInfo {
            labels,
            accepts_hints,
            prefetched,
        }
    }

    /// Whether the agent was woken, without waiting.
    fn woken(wake: &Wake) -> bool {
        let notified = wake.notified();
        poll_once(notified)
    }

    /// Polls a future once (a `Notify` permit makes `notified` ready at once).
    fn poll_once(future: impl std::future::Future<Output = ()>) -> bool {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        future.as_mut().poll(&mut context).is_ready()
    }

    #[test]
    fn a_job_wakes_the_agent_that_has_its_commit_ready_first() {
        let queue = Queue::default();
        let none: Vec<String> = Vec::new();
        let plain = queue.wait_ticket(&waiter(&none, false, None));
        let other = queue.wait_ticket(&waiter(&none, true, Some("b")));
        let ready = queue.wait_ticket(&waiter(&none, true, Some("a")));
        queue.wake_for(&none, Some("a"));
        assert!(woken(&ready.wake));
        assert!(!woken(&plain.wake) && !woken(&other.wake));
        // Without a ready agent, the first that fits.
        queue.wake_for(&none, Some("c"));
        assert!(woken(&plain.wake));
        assert!(!woken(&other.wake));
    }

    #[test]
    fn a_ready_agent_whose_labels_do_not_fit_is_passed_over() {
        let queue = Queue::default();
        let (none, docker) = (Vec::new(), vec!["docker".to_string()]);
        let ready = queue.wait_ticket(&waiter(&none, true, Some("a")));
        let fits = queue.wait_ticket(&waiter(&docker, false, None));
        queue.wake_for(&docker, Some("a"));
        assert!(woken(&fits.wake));
        assert!(!woken(&ready.wake));
    }

    #[test]
    fn a_hint_goes_to_one_agent_that_accepts_hints_and_takes_it_off_the_list() {
        let queue = Queue::default();
        let none: Vec<String> = Vec::new();
        let plain = queue.wait_ticket(&waiter(&none, false, None));
        let first = queue.wait_ticket(&waiter(&none, true, None));
        let second = queue.wait_ticket(&waiter(&none, true, None));
        queue.hint("/repo", "a");
        assert!(woken(&first.wake));
        assert_eq!(
            first.wake.take_hint(),
            Some(PrefetchHint {
                repo_url: "/repo".into(),
                commit: "a".into()
            })
        );
        assert!(first.wake.take_hint().is_none(), "a hint is taken once");
        assert!(!woken(&plain.wake) && !woken(&second.wake));
        // The hinted agent left the wait list: a job wakes another one.
        queue.wake_for(&none, Some("a"));
        assert!(woken(&plain.wake));
        assert!(plain.wake.take_hint().is_none());
    }

    #[test]
    fn no_hint_when_a_waiting_agent_has_the_commit_ready_or_none_accepts_hints() {
        let queue = Queue::default();
        let none: Vec<String> = Vec::new();
        let plain = queue.wait_ticket(&waiter(&none, false, None));
        queue.hint("/repo", "a");
        assert!(!woken(&plain.wake));
        let ready = queue.wait_ticket(&waiter(&none, true, Some("a")));
        let idle = queue.wait_ticket(&waiter(&none, true, None));
        queue.hint("/repo", "a");
        assert!(!woken(&ready.wake) && !woken(&idle.wake));
        queue.hint("/repo", "b");
        assert!(woken(&ready.wake) || woken(&idle.wake));
    }
}
