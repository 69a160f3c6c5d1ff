//! Job-level `concurrency:`: at most one job instance of a group in
//! progress at a time (docs/pipeline.md, "Concurrency").
//!
//! A [`JobGroups`] registry is shared by every run that must see the same
//! groups: `slipway run` makes one per run, the server one for all its runs
//! (each project's groups apart, by the handle's scope). The dispatcher
//! asks for a slot before it hands a job to the launcher and gives it back
//! when the job's outcome arrives, so a waiting job costs no agent and no
//! process. Newcomers queue in the order they asked; with
//! `cancel-in-progress` a newcomer supersedes the holder (its cancel signal
//! fires) and every waiter (answered at once), and goes first.
//!
//! In memory: after a server restart the resumed runs ask again, oldest
//! run first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use crate::contexts::{Scope, matrix_value};
use crate::events::Event;
use crate::job::{JobOutcome, Upstream};
use crate::ports::CancelSignal;
use crate::records::{CacheStatus, JobResult};
use crate::run::{Launcher, RunContext};

/// The groups of some runs, and the scope that keeps one registry's users
/// apart (the server's projects).
#[derive(Clone, Default)]
pub struct JobGroupsHandle {
    pub groups: Arc<JobGroups>,
    /// Prefixed to every group name, e.g. `project 3`.
    pub scope: String,
}

impl std::fmt::Debug for JobGroupsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobGroupsHandle")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub struct JobGroups {
    groups: Mutex<HashMap<String, Group>>,
    next_id: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Group {
    /// The group's name for people (the key may carry a scope).
    shown: String,
    holder: Option<Holder>,
    waiting: VecDeque<Waiter>,
}

struct Holder {
    id: u64,
    label: String,
    supersede: watch::Sender<Option<String>>,
}

struct Waiter {
    id: u64,
    label: String,
    answer: oneshot::Sender<Result<(), String>>,
    supersede: watch::Sender<Option<String>>,
}

/// A held place in a group; giving it back (dropping it) lets the next
/// waiter go.
pub struct GroupSlot {
    groups: Arc<JobGroups>,
    group: String,
    id: u64,
    /// Turns `Some(reason)` when a newcomer with `cancel-in-progress`
    /// supersedes this job.
    pub superseded: watch::Receiver<Option<String>>,
}

/// Waiting for a slot: resolves to the slot, or to why the job will not
/// run (a newcomer superseded it while it waited).
pub struct Queued {
    pub answer: oneshot::Receiver<Result<(), String>>,
    /// Who holds the group now, for the waiting job's note.
    pub held_by: String,
    slot: GroupSlot,
}

/// The outcome of [`JobGroups::join`].
pub enum Joined {
    /// The group was free (or freed for a superseding newcomer that goes at once).
    Holding(GroupSlot),
    /// Someone holds it: wait on [`Queued::answer`], then take [`Queued::into_slot`].
    Queued(Queued),
}

impl Queued {
    /// The slot, once `answer` said `Ok` (dropping it gives it back).
    pub fn into_slot(self) -> GroupSlot {
        self.slot
    }
}

impl JobGroups {
    /// Joins `group` (a registry key; `shown` is its name for people) as
    /// `label` (a job instance, e.g. `deploy (eu) of run 7`).
    pub fn join(
        self: &Arc<Self>,
        group: &str,
        shown: &str,
        label: &str,
        cancel_in_progress: bool,
    ) -> Joined {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (supersede, superseded) = watch::channel(None);
        let slot = GroupSlot {
            groups: self.clone(),
            group: group.to_string(),
            id,
            superseded,
        };
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = groups.entry(group.to_string()).or_default();
        state.shown = shown.to_string();
        if cancel_in_progress {
            let reason = format!("superseded by {label} (concurrency group `{shown}`)");
            for waiter in state.waiting.drain(..) {
                let _ = waiter.answer.send(Err(reason.clone()));
            }
            if let Some(holder) = &state.holder {
                let _ = holder.supersede.send(Some(reason));
            }
        }
        match &state.holder {
            None => {
                state.holder = Some(Holder {
                    id,
                    label: label.to_string(),
                    supersede,
                });
                Joined::Holding(slot)
            }
            Some(holder) => {
                let held_by = holder.label.clone();
                let (answer_tx, answer) = oneshot::channel();
                let waiter = Waiter {
                    id,
                    label: label.to_string(),
                    answer: answer_tx,
                    supersede,
                };
                state.waiting.push_back(waiter);
                Joined::Queued(Queued {
                    answer,
                    held_by,
                    slot,
                })
            }
        }
    }

    /// What `label` waits for, if it waits in a group: the group's name
    /// and who holds it.
    pub fn waiting_for(&self, label: &str) -> Option<(String, String)> {
        let groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        groups.values().find_map(|group| {
            let waits = group.waiting.iter().any(|waiter| waiter.label == label);
            let holder = group.holder.as_ref()?;
            waits.then(|| (group.shown.clone(), holder.label.clone()))
        })
    }

    /// `id` leaves the group (done, cancelled, or gave up waiting): when it
    /// held it, the next waiter still waiting takes it.
    fn leave(&self, group: &str, id: u64) {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(state) = groups.get_mut(group) else {
            return;
        };
        state.waiting.retain(|waiter| waiter.id != id);
        if state.holder.as_ref().is_some_and(|holder| holder.id == id) {
            state.holder = None;
            while let Some(waiter) = state.waiting.pop_front() {
                if waiter.answer.send(Ok(())).is_ok() {
                    state.holder = Some(Holder {
                        id: waiter.id,
                        label: waiter.label,
                        supersede: waiter.supersede,
                    });
                    break;
                }
            }
        }
        if state.holder.is_none() && state.waiting.is_empty() {
            groups.remove(group);
        }
    }
}

impl Drop for GroupSlot {
    fn drop(&mut self) {
        self.groups.leave(&self.group, self.id);
    }
}

/// The rendered group of plan job `job` and its `cancel-in-progress`, if
/// the job has `concurrency:`. The group may use `git`, `inputs`, `matrix`
/// and `env` (the pipeline's).
pub(crate) fn job_group(run: &RunContext, job: usize) -> Result<Option<(String, bool)>, String> {
    let Some(planned) = run.plan.jobs.get(job) else {
        return Ok(None);
    };
    let Some(concurrency) = &run.pipeline.jobs[planned.spec].concurrency else {
        return Ok(None);
    };
    let matrix = matrix_value(&planned.matrix);
    let mut scope = Scope::empty();
    scope.inputs = &run.inputs;
    scope.git = &run.git;
    scope.env = &run.pipeline_env_value;
    scope.matrix = &matrix;
    let group = concurrency
        .group
        .render(&scope)
        .map_err(|e| format!("concurrency group: {e}"))?;
    if group.trim().is_empty() {
        return Err("concurrency group: the group rendered empty".to_string());
    }
    Ok(Some((group, concurrency.cancel_in_progress)))
}

/// How a job instance is named to the people waiting for its group:
/// `deploy (eu) of run 7` (`run` is the engine's run name: the server's
/// run id, or `slipway run`'s number).
pub fn job_label(key: &str, run: &str) -> String {
    format!("{key} of run {run}")
}

/// Hands plan job `job` to `launcher` once it holds its group `group`
/// (see [`job_group`]); its outcome reaches `done` as usual, and the slot
/// is given back when it does. A job superseded while it waits, or whose
/// run is cancelled meanwhile, ends cancelled without being launched; one
/// superseded while it runs is cancelled and says by whom.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_in_group<L: Launcher>(
    launcher: Arc<L>,
    run: Arc<RunContext>,
    job: usize,
    upstream: Vec<Upstream>,
    cancel: CancelSignal,
    done: mpsc::UnboundedSender<(usize, JobOutcome)>,
    (group, cancel_in_progress): (String, bool),
) {
    let key = run.plan.jobs[job].key.clone();
    let handle = &run.options.job_groups;
    let scoped = if handle.scope.is_empty() {
        group.clone()
    } else {
        format!("{}/{group}", handle.scope)
    };
    let label = job_label(&key, &run.run);
    let joined = handle
        .groups
        .join(&scoped, &group, &label, cancel_in_progress);
    tokio::spawn(async move {
        let started = Instant::now();
        let ended = |reason: String| {
            let mut outcome = JobOutcome::failed(reason, CacheStatus::Uncached, started);
            outcome.result = JobResult::Cancelled;
            outcome
        };
        let slot = match joined {
            Joined::Holding(slot) => slot,
            Joined::Queued(mut queued) => {
                run.events.event(Event::Note {
                    job: &key,
                    message: &format!(
                        "waiting: concurrency group `{group}` is held by {}",
                        queued.held_by
                    ),
                });
                let mut run_cancel = cancel.clone();
                tokio::select! {
                    answer = &mut queued.answer => match answer {
                        Ok(Ok(())) => queued.into_slot(),
                        Ok(Err(reason)) => {
                            let _ = done.send((job, ended(reason)));
                            return;
                        }
                        Err(_) => {
                            let reason = "the concurrency group's registry went away".to_string();
                            let _ = done.send((job, ended(reason)));
                            return;
                        }
                    },
                    () = crate::ports::cancel_raised(&mut run_cancel) => {
                        let reason = format!(
                            "the run was cancelled while the job waited for its concurrency group `{group}`"
                        );
                        let _ = done.send((job, ended(reason)));
                        return;
                    }
                }
            }
        };
        // The job's cancel: the run's, or a newcomer superseding it.
        let (job_cancel_tx, job_cancel) = watch::channel(*cancel.borrow());
        let (inner_done, mut outcome_rx) = mpsc::unbounded_channel();
        launcher.launch(&run, job, upstream, job_cancel, inner_done);
        let mut run_cancel = cancel;
        let mut superseded = slot.superseded.clone();
        let mut superseded_by: Option<String> = None;
        let (mut run_open, mut superseded_open) = (true, true);
        let outcome = loop {
            tokio::select! {
                outcome = outcome_rx.recv() => break outcome,
                changed = run_cancel.changed(), if run_open => match changed {
                    Ok(()) if *run_cancel.borrow() => { let _ = job_cancel_tx.send(true); }
                    Ok(()) => {}
                    Err(_) => run_open = false,
                },
                changed = superseded.changed(), if superseded_open => match changed {
                    Ok(()) => {
                        if let Some(reason) = superseded.borrow().clone() {
                            superseded_by = Some(reason);
                            let _ = job_cancel_tx.send(true);
                        }
                    }
                    Err(_) => superseded_open = false,
                },
            }
        };
        drop(slot);
        let outcome = match outcome {
            Some((_, mut outcome)) => {
                if outcome.result == JobResult::Cancelled
                    && let Some(reason) = superseded_by
                {
                    outcome.error = Some(reason);
                }
                outcome
            }
            None => JobOutcome::failed(
                "the job's launcher ended without an outcome".to_string(),
                CacheStatus::Uncached,
                started,
            ),
        };
        let _ = done.send((job, outcome));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(joined: Joined) -> GroupSlot {
        match joined {
            Joined::Holding(slot) => slot,
            Joined::Queued(_) => panic!("expected to hold the group"),
        }
    }

    fn queued(joined: Joined) -> Queued {
        match joined {
            Joined::Queued(queued) => queued,
            Joined::Holding(_) => panic!("expected to wait"),
        }
    }

    #[tokio::test]
    async fn one_holder_at_a_time_in_the_order_asked() {
        let groups = Arc::new(JobGroups::default());
        let first = holding(groups.join("deploy", "deploy", "run 1", false));
        let mut second = queued(groups.join("deploy", "deploy", "run 2", false));
        let mut third = queued(groups.join("deploy", "deploy", "run 3", false));
        assert_eq!(second.held_by, "run 1");
        assert_eq!(
            groups.waiting_for("run 3"),
            Some(("deploy".to_owned(), "run 1".to_owned()))
        );
        assert_eq!(groups.waiting_for("run 1"), None, "it holds the group");
        // Another group is independent.
        drop(holding(groups.join("other", "other", "run 4", false)));
        assert!(second.answer.try_recv().is_err(), "still waiting");

        drop(first);
        assert_eq!((&mut second.answer).await, Ok(Ok(())));
        assert!(third.answer.try_recv().is_err(), "third waits for second");
        drop(second.into_slot());
        assert_eq!((&mut third.answer).await, Ok(Ok(())));
        drop(third.into_slot());
        assert!(groups.groups.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_is_skipped() {
        let groups = Arc::new(JobGroups::default());
        let first = holding(groups.join("g", "g", "run 1", false));
        let gave_up = queued(groups.join("g", "g", "run 2", false));
        let mut third = queued(groups.join("g", "g", "run 3", false));
        drop(gave_up); // its run was cancelled while it waited
        drop(first);
        assert_eq!((&mut third.answer).await, Ok(Ok(())));
    }

    #[tokio::test]
    async fn cancel_in_progress_supersedes_the_holder_and_the_waiters() {
        let groups = Arc::new(JobGroups::default());
        let first = holding(groups.join("g", "g", "run 1", false));
        let mut second = queued(groups.join("g", "g", "run 2", false));
        let mut newcomer = queued(groups.join("g", "g", "run 3", true));
        assert_eq!(
            first.superseded.borrow().as_deref(),
            Some("superseded by run 3 (concurrency group `g`)")
        );
        assert_eq!(
            (&mut second.answer).await,
            Ok(Err("superseded by run 3 (concurrency group `g`)".into()))
        );
        drop(second);
        // The holder stops (its job is cancelled), then the newcomer goes.
        drop(first);
        assert_eq!((&mut newcomer.answer).await, Ok(Ok(())));
        // Into a free group a superseding newcomer goes at once.
        drop(newcomer.into_slot());
        drop(holding(groups.join("g", "g", "run 4", true)));
    }
}
