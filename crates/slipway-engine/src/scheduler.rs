//! The scheduler: a pure state machine over a [`Plan`].
//!
//! It owns the state of every job instance of a run and is driven by three
//! inputs: [`Scheduler::start`], [`Scheduler::job_finished`] and
//! [`Scheduler::cancel`]. Each returns the [`Action`]s to perform, in order;
//! the dispatcher records each action's [`Record`] through the store before
//! performing it, so replaying the records ([`Scheduler::restore`]) rebuilds
//! the state after a restart. No I/O, no clock (times are passed in), no
//! threads: every decision is testable with plain values.

use std::collections::VecDeque;

use crate::plan::Plan;
use crate::records::{CacheStatus, JobResult, Record};

/// How the scheduler reacts to a failed job.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// Jobs that may run at once (at least 1).
    pub parallelism: usize,
    /// Stop the run at the first failure: running jobs are cancelled and no
    /// new job starts. Otherwise independent jobs go on.
    pub fail_fast: bool,
}

/// What the dependencies of a job amount to when it becomes ready; the
/// inputs of the status functions `success()`, `failure()`, `cancelled()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyStatus {
    /// Every job it needs succeeded (or failed with `continue-on-error`).
    pub needs_succeeded: bool,
    /// Some job it needs failed.
    pub needs_failed: bool,
    /// The run was cancelled.
    pub cancelled: bool,
}

/// The verdict on a ready job's `if:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run,
    Skip(String),
    /// The condition could not be evaluated: the job fails with this message.
    Error(String),
}

/// Evaluates `if:` conditions; implemented by the engine over expressions.
pub trait Conditions {
    fn decide(&self, job: usize, status: ReadyStatus, scheduler: &Scheduler) -> Decision;
}

/// Something the dispatcher must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start running the job.
    Start { job: usize },
    /// The job will not run; it is finished with `result` (skipped, or
    /// cancelled, or failed when its condition could not be evaluated).
    Finish {
        job: usize,
        result: JobResult,
        reason: String,
    },
    /// Cancel every running job.
    CancelRunning,
    /// The run is over.
    RunFinished { result: JobResult },
}

impl Action {
    /// The record to persist before performing this action.
    pub fn record(&self, at_ms: u64) -> Option<Record> {
        Some(match self {
            Action::Start { job } => Record::JobStarted { job: *job, at_ms },
            Action::Finish {
                job,
                result: JobResult::Skipped,
                reason,
            } => Record::JobSkipped {
                job: *job,
                at_ms,
                reason: reason.clone(),
            },
            Action::Finish {
                job,
                result,
                reason,
            } => Record::JobFinished {
                job: *job,
                result: *result,
                at_ms,
                cache: CacheStatus::Uncached,
                outputs: Vec::new(),
                error: Some(reason.clone()),
                artifacts: Vec::new(),
            },
            Action::CancelRunning => Record::CancelRequested { at_ms },
            Action::RunFinished { result } => Record::RunFinished {
                result: *result,
                at_ms,
            },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Queued,
    Running,
    Done(JobResult),
}

#[derive(Debug, Clone)]
struct Slot {
    state: State,
    unfinished_needs: u32,
    continue_on_error: bool,
}

/// The state of one run's jobs.
#[derive(Debug, Clone)]
pub struct Scheduler {
    needs: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    slots: Vec<Slot>,
    outputs: Vec<Vec<(String, String)>>,
    ready: VecDeque<usize>,
    /// Jobs finished but not yet propagated to their dependents.
    done_queue: VecDeque<usize>,
    running: usize,
    finished: usize,
    options: SchedulerOptions,
    cancelled: bool,
    failed: bool,
    /// A job ended cancelled while the run was not (a newcomer of its
    /// concurrency group superseded it): the run ends cancelled too.
    job_cancelled: bool,
    over: bool,
}

impl Scheduler {
    /// `continue_on_error[i]` says whether a failure of job `i` is tolerated.
    pub fn new(plan: &Plan, continue_on_error: &[bool], options: SchedulerOptions) -> Scheduler {
        let slots = plan
            .jobs
            .iter()
            .enumerate()
            .map(|(i, job)| Slot {
                state: State::Waiting,
                unfinished_needs: job.needs.len() as u32,
                continue_on_error: continue_on_error.get(i).copied().unwrap_or(false),
            })
            .collect();
        Scheduler {
            needs: plan.jobs.iter().map(|j| j.needs.clone()).collect(),
            dependents: plan.jobs.iter().map(|j| j.dependents.clone()).collect(),
            slots,
            outputs: vec![Vec::new(); plan.jobs.len()],
            ready: VecDeque::new(),
            done_queue: VecDeque::new(),
            running: 0,
            finished: 0,
            options: SchedulerOptions {
                parallelism: options.parallelism.max(1),
                ..options
            },
            cancelled: false,
            failed: false,
            job_cancelled: false,
            over: false,
        }
    }

    /// The result of a finished job.
    pub fn result(&self, job: usize) -> Option<JobResult> {
        match self.slots.get(job)?.state {
            State::Done(result) => Some(result),
            _ => None,
        }
    }

    /// The outputs a finished job published.
    pub fn outputs(&self, job: usize) -> &[(String, String)] {
        self.outputs.get(job).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Plan indexes of the jobs `job` needs.
    pub fn needs(&self, job: usize) -> &[usize] {
        self.needs.get(job).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// True once `RunFinished` was emitted.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// Number of jobs running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Decides the jobs that need nothing and starts as many as allowed.
    pub fn start(&mut self, conditions: &dyn Conditions) -> Vec<Action> {
        let mut actions = Vec::new();
        for job in 0..self.slots.len() {
            if self.slots[job].state == State::Waiting && self.slots[job].unfinished_needs == 0 {
                self.decide(job, conditions, &mut actions);
            }
        }
        self.settle(conditions, &mut actions);
        actions
    }

    /// A running job ended.
    pub fn job_finished(
        &mut self,
        job: usize,
        result: JobResult,
        outputs: Vec<(String, String)>,
        conditions: &dyn Conditions,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.slots.get(job).map(|s| s.state) != Some(State::Running) {
            return actions;
        }
        self.running -= 1;
        self.outputs[job] = outputs;
        self.mark_done(job, result);
        if result == JobResult::Cancelled {
            self.job_cancelled = true;
        }
        if result == JobResult::Failure && !self.slots[job].continue_on_error {
            self.failed = true;
            if self.options.fail_fast && !self.cancelled {
                self.stop(&mut actions);
            }
        }
        self.settle(conditions, &mut actions);
        actions
    }

    /// Ctrl-C, SIGTERM, or a cancel from the API.
    pub fn cancel(&mut self, conditions: &dyn Conditions) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.cancelled && !self.over {
            self.stop(&mut actions);
        }
        self.settle(conditions, &mut actions);
        actions
    }

    /// Rebuilds the state from the records of an interrupted run. Jobs that
    /// were running when it stopped are returned: the dispatcher decides
    /// whether to run them again or mark them failed. Waiting jobs whose
    /// needs are all done are decided by the next call of [`Scheduler::start`].
    pub fn restore(
        plan: &Plan,
        continue_on_error: &[bool],
        options: SchedulerOptions,
        records: &[Record],
    ) -> (Scheduler, Vec<usize>) {
        let mut s = Scheduler::new(plan, continue_on_error, options);
        for record in records {
            match record {
                Record::JobStarted { job, .. } if *job < s.slots.len() => {
                    s.slots[*job].state = State::Running;
                    s.running += 1;
                }
                Record::JobSkipped { job, .. } if *job < s.slots.len() => {
                    s.mark_done(*job, JobResult::Skipped);
                }
                Record::JobFinished {
                    job,
                    result,
                    outputs,
                    ..
                } if *job < s.slots.len() => {
                    if s.slots[*job].state == State::Running {
                        s.running -= 1;
                    }
                    s.outputs[*job] = outputs.clone();
                    s.mark_done(*job, *result);
                    if *result == JobResult::Failure && !s.slots[*job].continue_on_error {
                        s.failed = true;
                    }
                    if *result == JobResult::Cancelled {
                        s.job_cancelled = true;
                    }
                }
                Record::CancelRequested { .. } => s.cancelled = true,
                Record::RunFinished { .. } => s.over = true,
                _ => {}
            }
        }
        // Counters of unfinished needs follow from the states.
        s.done_queue.clear();
        for job in 0..s.slots.len() {
            let unfinished = s.needs[job]
                .iter()
                .filter(|&&n| !matches!(s.slots[n].state, State::Done(_)))
                .count();
            s.slots[job].unfinished_needs = unfinished as u32;
        }
        let interrupted = (0..s.slots.len())
            .filter(|&j| s.slots[j].state == State::Running)
            .collect();
        (s, interrupted)
    }

    fn stop(&mut self, actions: &mut Vec<Action>) {
        self.cancelled = true;
        if self.running > 0 {
            actions.push(Action::CancelRunning);
        }
        // Queued jobs never start; waiting ones are decided as their needs
        // finish, with `cancelled()` true.
        while let Some(job) = self.ready.pop_front() {
            let reason = "the run was cancelled before the job started".to_string();
            actions.push(Action::Finish {
                job,
                result: JobResult::Cancelled,
                reason,
            });
            self.mark_done(job, JobResult::Cancelled);
        }
    }

    /// Evaluates the condition of a job whose needs are all done.
    fn decide(&mut self, job: usize, conditions: &dyn Conditions, actions: &mut Vec<Action>) {
        let mut needs_succeeded = true;
        let mut needs_failed = false;
        for &need in &self.needs[job] {
            match self.slots[need].state {
                State::Done(JobResult::Success) => {}
                State::Done(JobResult::Failure) if self.slots[need].continue_on_error => {}
                State::Done(JobResult::Failure) => {
                    needs_succeeded = false;
                    needs_failed = true;
                }
                _ => needs_succeeded = false,
            }
        }
        let status = ReadyStatus {
            needs_succeeded,
            needs_failed,
            cancelled: self.cancelled,
        };
        match conditions.decide(job, status, self) {
            // After a cancel nothing new starts, whatever its condition says:
            // Ctrl-C means stop now.
            Decision::Run | Decision::Skip(_) if self.cancelled => {
                let reason = "the run was cancelled".to_string();
                actions.push(Action::Finish {
                    job,
                    result: JobResult::Cancelled,
                    reason,
                });
                self.mark_done(job, JobResult::Cancelled);
            }
            Decision::Run => {
                self.slots[job].state = State::Queued;
                self.ready.push_back(job);
            }
            Decision::Skip(reason) => {
                actions.push(Action::Finish {
                    job,
                    result: JobResult::Skipped,
                    reason,
                });
                self.mark_done(job, JobResult::Skipped);
            }
            Decision::Error(message) => {
                self.failed = true;
                actions.push(Action::Finish {
                    job,
                    result: JobResult::Failure,
                    reason: message,
                });
                self.mark_done(job, JobResult::Failure);
            }
        }
    }

    /// Propagates finished jobs to their dependents (a worklist, so a long
    /// chain of skipped jobs cannot overflow the stack), starts what the
    /// parallelism allows, and ends the run when every job is done.
    fn settle(&mut self, conditions: &dyn Conditions, actions: &mut Vec<Action>) {
        while let Some(done) = self.done_queue.pop_front() {
            for i in 0..self.dependents[done].len() {
                let dependent = self.dependents[done][i];
                let slot = &mut self.slots[dependent];
                slot.unfinished_needs = slot.unfinished_needs.saturating_sub(1);
                if slot.unfinished_needs == 0 && slot.state == State::Waiting {
                    self.decide(dependent, conditions, actions);
                }
            }
        }
        if !self.cancelled {
            while self.running < self.options.parallelism {
                let Some(job) = self.ready.pop_front() else {
                    break;
                };
                self.slots[job].state = State::Running;
                self.running += 1;
                actions.push(Action::Start { job });
            }
        }
        if !self.over && self.finished == self.slots.len() {
            self.over = true;
            let result = if self.failed {
                JobResult::Failure
            } else if self.cancelled || self.job_cancelled {
                JobResult::Cancelled
            } else {
                JobResult::Success
            };
            actions.push(Action::RunFinished { result });
        }
    }

    fn mark_done(&mut self, job: usize, result: JobResult) {
        if !matches!(self.slots[job].state, State::Done(_)) {
            self.finished += 1;
            self.done_queue.push_back(job);
        }
        self.slots[job].state = State::Done(result);
    }
}
