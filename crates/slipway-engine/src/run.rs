//! The dispatcher: owns a run's state, linearises every event, records each
//! transition before acting on it.
//!
//! Jobs run as tasks and report back on one channel; cancellation (Ctrl-C,
//! SIGTERM, the API) arrives on a watch channel. Only this loop touches the
//! [`Scheduler`], so there is no lock around run state.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use slipway_expr::Value;
use slipway_spec::model::Pipeline;
use tokio::sync::{mpsc, watch};

use crate::contexts::{Scope, Status, git_value, matrix_value, string_object};
use crate::events::{Event, EventSink};
use crate::job::{JobOutcome, Upstream, needs_value, run_job};
use crate::plan::Plan;
use crate::ports::{
    ApprovalDecision, CancelSignal, Executor, RunStore, SecretMasker, Store, StoreError,
};
use crate::records::{
    ArtifactRecord, CacheStatus, GitInfo, JobResult, JobSummary, Record, RunMeta, RunSummary,
    TestSummary,
};
use crate::scheduler::{Action, Conditions, Decision, ReadyStatus, Scheduler, SchedulerOptions};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How to run a pipeline.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The pipeline file, as shown to people.
    pub file: String,
    pub parallelism: usize,
    pub fail_fast: bool,
    /// Secret values by name: the `secrets` context, and what is masked.
    pub secrets: Vec<(String, String)>,
    /// The `inputs` context.
    pub inputs: serde_json::Map<String, serde_json::Value>,
    pub git: GitInfo,
    /// Restore the artifacts of needed jobs into each workspace; needed when
    /// jobs do not share one directory (`--clean`, remote agents).
    pub restore_artifacts: bool,
    /// Carries out `deploy:` jobs; `None` fails them with a clear message.
    pub deployer: Option<crate::ports::DeployerHandle>,
    /// Answers `approval:` jobs; `None` fails them with a clear message.
    pub approver: Option<crate::ports::ApproverHandle>,
    /// An admin's reason to deploy inside a freeze window: set only by the
    /// server, for the release runs of `slipway release --override-freeze`
    /// (never from a pipeline's inputs, which anyone who triggers a run sets).
    pub freeze_override: Option<String>,
    /// Where jobs' `concurrency:` groups are held: a registry of this run
    /// alone by default (`slipway run`), the server's shared one per
    /// project.
    pub job_groups: crate::groups::JobGroupsHandle,
}

/// A run could not be carried out at all (its store failed).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the run store failed: {0}")]
    Store(#[from] StoreError),
}

/// Shared, read-only state of one run: what every job of it sees, wherever
/// it runs.
pub struct RunContext {
    pub pipeline: Arc<Pipeline>,
    pub plan: Plan,
    pub events: Arc<dyn EventSink>,
    pub masker: SecretMasker,
    pub run: String,
    pub options: RunOptions,
    pub inputs: Value,
    pub secrets: Value,
    pub git: Value,
    /// The pipeline's `env:`, rendered once.
    pub pipeline_env: Vec<(String, String)>,
    pub pipeline_env_value: Value,
    /// The decisions of the approval gates this process decided for the
    /// run, in order; later `deploy:` jobs put them in their release
    /// record. Under the server each job runs in a context of its own, so
    /// this stays empty there and the server attaches them itself.
    pub approvals: std::sync::Mutex<Vec<ApprovalDecision>>,
}

impl RunContext {
    /// Evaluates what every job of the run shares. The second value is why
    /// the pipeline's `env:` could not be rendered, if it could not: every
    /// job then fails with that reason.
    pub fn new(
        run: String,
        pipeline: Arc<Pipeline>,
        plan: Plan,
        events: Arc<dyn EventSink>,
        options: RunOptions,
    ) -> (RunContext, Option<String>) {
        let masker = SecretMasker::new(options.secrets.iter().map(|(_, v)| v.as_str()));
        let secrets = string_object(
            options
                .secrets
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let inputs = Value::from(serde_json::Value::Object(options.inputs.clone()));
        let git = git_value(&options.git);
        let mut pipeline_env = Vec::with_capacity(pipeline.env.len());
        let mut env_failure = None;
        {
            let mut scope = Scope::empty();
            scope.inputs = &inputs;
            scope.git = &git;
            scope.secrets = &secrets;
            for var in &pipeline.env {
                match var.value.render(&scope) {
                    Ok(value) => pipeline_env.push((var.name.clone(), value)),
                    Err(error) => env_failure = Some(format!("env `{}`: {error}", var.name)),
                }
            }
        }
        let pipeline_env_value =
            string_object(pipeline_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let context = RunContext {
            pipeline,
            plan,
            events,
            masker,
            run,
            options,
            inputs,
            secrets,
            git,
            pipeline_env,
            pipeline_env_value,
            approvals: std::sync::Mutex::new(Vec::new()),
        };
        (context, env_failure)
    }

    /// Remembers a gate's decision for the `deploy:` jobs that follow.
    pub fn add_approval(&self, decision: ApprovalDecision) {
        self.approvals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(decision);
    }

    /// The decisions of the gates decided so far, in order.
    pub fn approvals_so_far(&self) -> Vec<ApprovalDecision> {
        self.approvals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Starts the jobs the dispatcher decides to run.
///
/// The dispatcher does not care where a job runs: [`LocalLauncher`] runs it
/// as a task of this process with an executor and a store (`slipway run`, the
/// server's built-in agent); the server's queue hands it to a remote agent.
/// Either way the outcome must arrive on `done` exactly once.
pub trait Launcher: Send + Sync + 'static {
    fn launch(
        &self,
        run: &Arc<RunContext>,
        job: usize,
        upstream: Vec<Upstream>,
        cancel: CancelSignal,
        done: mpsc::UnboundedSender<(usize, JobOutcome)>,
    );
}

/// Runs each job as a task of this process.
pub struct LocalLauncher<E: Executor, S: Store> {
    pub executor: Arc<E>,
    pub store: Arc<S>,
}

impl<E: Executor, S: Store> Launcher for LocalLauncher<E, S> {
    fn launch(
        &self,
        run: &Arc<RunContext>,
        job: usize,
        upstream: Vec<Upstream>,
        cancel: CancelSignal,
        done: mpsc::UnboundedSender<(usize, JobOutcome)>,
    ) {
        let (run, executor, store) = (run.clone(), self.executor.clone(), self.store.clone());
        tokio::spawn(async move {
            let outcome = run_job(run, executor, store, job, upstream, cancel).await;
            let _ = done.send((job, outcome));
        });
    }
}

/// Runs pipelines with one executor and one store, on this machine.
pub struct Engine<E: Executor, S: Store> {
    pub executor: Arc<E>,
    pub store: Arc<S>,
    pub events: Arc<dyn EventSink>,
}

struct Finished {
    result: JobResult,
    outputs: Vec<(String, String)>,
    artifacts: Vec<ArtifactRecord>,
}

impl<E: Executor, S: Store> Engine<E, S> {
    /// Runs `plan` of `pipeline` to its end. `cancel` turning true cancels
    /// the run: running jobs are killed, nothing new starts.
    pub async fn run(
        &self,
        pipeline: Arc<Pipeline>,
        plan: Plan,
        options: RunOptions,
        cancel: CancelSignal,
    ) -> Result<RunSummary, EngineError> {
        let launcher = Arc::new(LocalLauncher {
            executor: self.executor.clone(),
            store: self.store.clone(),
        });
        run_with(
            self.store.clone(),
            launcher,
            self.events.clone(),
            pipeline,
            plan,
            options,
            Start::New,
            cancel,
        )
        .await
    }
}

/// Where a run starts from.
#[derive(Debug, Clone)]
pub enum Start {
    /// A new run; the store numbers it.
    New,
    /// An existing run, from its records: after a restart, or to retry some
    /// of its jobs (see [`retry_records`]). Jobs recorded as finished keep
    /// their results and outputs; jobs recorded as started but never
    /// finished are launched again.
    Resume { run: String, records: Vec<Record> },
}

/// The records of `run` with the jobs `retry` (plan indexes) and everything
/// downstream of them forgotten, so that resuming runs them again while the
/// jobs that passed keep their results.
pub fn retry_records(plan: &Plan, records: &[Record], retry: &[usize]) -> Vec<Record> {
    let mut forget = vec![false; plan.jobs.len()];
    let mut stack: Vec<usize> = retry
        .iter()
        .copied()
        .filter(|&j| j < forget.len())
        .collect();
    while let Some(job) = stack.pop() {
        if !forget[job] {
            forget[job] = true;
            stack.extend(plan.jobs[job].dependents.iter().copied());
        }
    }
    let forgotten = |job: &usize| forget.get(*job).copied().unwrap_or(false);
    records
        .iter()
        .filter(|record| match record {
            Record::JobStarted { job, .. }
            | Record::JobSkipped { job, .. }
            | Record::StepStarted { job, .. }
            | Record::StepFinished { job, .. }
            | Record::JobFinished { job, .. } => !forgotten(job),
            Record::CancelRequested { .. } | Record::RunFinished { .. } => false,
        })
        .cloned()
        .collect()
}

/// Runs `plan` of `pipeline` to its end, recording through `store` and
/// starting jobs through `launcher`: the one dispatcher of `slipway run` and
/// the server.
#[allow(clippy::too_many_arguments)]
pub async fn run_with<R: RunStore, L: Launcher>(
    store: Arc<R>,
    launcher: Arc<L>,
    events: Arc<dyn EventSink>,
    pipeline: Arc<Pipeline>,
    plan: Plan,
    options: RunOptions,
    start: Start,
    mut cancel: CancelSignal,
) -> Result<RunSummary, EngineError> {
    {
        let started = Instant::now();
        let continue_on_error: Vec<bool> = plan
            .jobs
            .iter()
            .map(|j| pipeline.jobs[j.spec].continue_on_error)
            .collect();
        let scheduler_options = SchedulerOptions {
            parallelism: options.parallelism,
            fail_fast: options.fail_fast,
        };
        let (run, mut scheduler, records, interrupted) = match start {
            Start::New => {
                let meta = RunMeta {
                    pipeline: pipeline.name.clone().unwrap_or_default(),
                    file: options.file.clone(),
                    started_ms: now_ms(),
                    git: options.git.clone(),
                    jobs: plan.jobs.iter().map(|j| j.key.clone()).collect(),
                };
                let run = store.begin_run(&meta).await?;
                let scheduler = Scheduler::new(&plan, &continue_on_error, scheduler_options);
                (run, scheduler, Vec::new(), Vec::new())
            }
            Start::Resume { run, records } => {
                let (scheduler, interrupted) =
                    Scheduler::restore(&plan, &continue_on_error, scheduler_options, &records);
                (run, scheduler, records, interrupted)
            }
        };
        let (context, env_failure) =
            RunContext::new(run.clone(), pipeline.clone(), plan, events.clone(), options);
        let shared = Arc::new(context);
        let job_count = shared.plan.jobs.len();
        events.event(Event::RunStarted {
            run: &run,
            pipeline: pipeline.name.as_deref().unwrap_or(&shared.options.file),
            jobs: job_count,
        });

        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(usize, JobOutcome)>();
        let (cancel_jobs, job_cancel) = watch::channel(false);
        let mut dispatcher = Dispatcher {
            shared: shared.clone(),
            store: store.clone(),
            launcher,
            finished: (0..job_count).map(|_| None).collect(),
            summaries: (0..job_count).map(|_| None).collect(),
            started_at: vec![None; job_count],
            env_failure,
            run_result: JobResult::Success,
            cancel_jobs,
            job_cancel,
            done: done_tx,
            in_flight: 0,
        };
        dispatcher.restore(&records);
        let mut external_open = true;

        let driven = async {
            // Jobs a restart interrupted run again; the scheduler counts
            // them as running already.
            for job in interrupted {
                dispatcher.launch(job);
            }
            let actions = scheduler.start(&dispatcher.conditions());
            dispatcher.perform(actions).await?;
            if *cancel.borrow() {
                let actions = scheduler.cancel(&dispatcher.conditions());
                dispatcher.perform(actions).await?;
            }
            while !(scheduler.is_over() && scheduler.running() == 0) {
                tokio::select! {
                    Some((job, outcome)) = done_rx.recv() => {
                        dispatcher.in_flight -= 1;
                        let result = outcome.result;
                        let outputs = outcome.outputs.clone();
                        dispatcher.job_done(job, outcome).await?;
                        let actions = scheduler.job_finished(job, result, outputs, &dispatcher.conditions());
                        dispatcher.perform(actions).await?;
                    }
                    changed = cancel.changed(), if external_open => {
                        if changed.is_err() {
                            external_open = false;
                        } else if *cancel.borrow() {
                            let actions = scheduler.cancel(&dispatcher.conditions());
                            dispatcher.perform(actions).await?;
                        }
                    }
                }
            }
            Ok::<(), EngineError>(())
        }
        .await;
        if let Err(error) = driven {
            // The store failed, so nothing more can be recorded: stop every
            // job and wait for its processes to be gone before reporting.
            let _ = dispatcher.cancel_jobs.send(true);
            while dispatcher.in_flight > 0 && done_rx.recv().await.is_some() {
                dispatcher.in_flight -= 1;
            }
            return Err(error);
        }

        let duration_ms = started.elapsed().as_millis() as u64;
        let jobs = dispatcher
            .summaries
            .into_iter()
            .zip(shared.plan.jobs.iter())
            .map(|(summary, planned)| {
                summary.unwrap_or_else(|| JobSummary {
                    key: planned.key.clone(),
                    result: JobResult::Cancelled,
                    duration_ms: 0,
                    cache: CacheStatus::Uncached,
                    artifacts: Vec::new(),
                    tests: None,
                    error: None,
                })
            })
            .collect();
        let run_result = dispatcher.run_result;
        let summary = RunSummary {
            run: run.clone(),
            result: run_result,
            duration_ms,
            jobs,
        };
        store.finish_run(&run, &summary).await?;
        events.event(Event::RunFinished {
            run: &run,
            result: run_result,
            duration_ms,
        });
        Ok(summary)
    }
}

struct Dispatcher<R: RunStore, L: Launcher> {
    shared: Arc<RunContext>,
    store: Arc<R>,
    launcher: Arc<L>,
    finished: Vec<Option<Finished>>,
    summaries: Vec<Option<JobSummary>>,
    started_at: Vec<Option<Instant>>,
    /// The pipeline's `env:` could not be rendered: every job fails with this.
    env_failure: Option<String>,
    run_result: JobResult,
    /// Turns true to cancel every running job.
    cancel_jobs: watch::Sender<bool>,
    job_cancel: CancelSignal,
    /// Job tasks send their outcome here.
    done: mpsc::UnboundedSender<(usize, JobOutcome)>,
    /// Jobs started whose outcome has not arrived yet.
    in_flight: usize,
}

impl<R: RunStore, L: Launcher> Dispatcher<R, L> {
    /// Hands a job to the launcher (its `JobStarted` is recorded already),
    /// once it holds its concurrency group if it has one.
    fn launch(&mut self, job: usize) {
        self.started_at[job] = Some(Instant::now());
        self.in_flight += 1;
        let upstream = self.upstream(job);
        let cancel = self.job_cancel.clone();
        match crate::groups::job_group(&self.shared, job) {
            Ok(None) => {
                self.launcher
                    .launch(&self.shared, job, upstream, cancel, self.done.clone());
            }
            Ok(Some(group)) => crate::groups::launch_in_group(
                self.launcher.clone(),
                self.shared.clone(),
                job,
                upstream,
                cancel,
                self.done.clone(),
                group,
            ),
            Err(reason) => {
                let outcome = JobOutcome::failed(reason, CacheStatus::Uncached, Instant::now());
                let _ = self.done.send((job, outcome));
            }
        }
    }

    /// Takes the results of a resumed run's finished jobs from its records.
    fn restore(&mut self, records: &[Record]) {
        let plan = &self.shared.plan;
        let mut started_ms = vec![None; plan.jobs.len()];
        for record in records {
            match record {
                Record::JobStarted { job, at_ms } if *job < plan.jobs.len() => {
                    started_ms[*job] = Some(*at_ms)
                }
                Record::JobSkipped { job, reason, .. } if *job < plan.jobs.len() => {
                    self.finished[*job] = Some(Finished {
                        result: JobResult::Skipped,
                        outputs: Vec::new(),
                        artifacts: Vec::new(),
                    });
                    self.summaries[*job] = Some(JobSummary {
                        key: plan.jobs[*job].key.clone(),
                        result: JobResult::Skipped,
                        duration_ms: 0,
                        cache: CacheStatus::Uncached,
                        artifacts: Vec::new(),
                        tests: None,
                        error: Some(reason.clone()),
                    });
                }
                Record::JobFinished {
                    job,
                    result,
                    at_ms,
                    cache,
                    outputs,
                    error,
                    artifacts,
                } if *job < plan.jobs.len() => {
                    self.finished[*job] = Some(Finished {
                        result: *result,
                        outputs: outputs.clone(),
                        artifacts: artifacts.clone(),
                    });
                    self.summaries[*job] = Some(JobSummary {
                        key: plan.jobs[*job].key.clone(),
                        result: *result,
                        duration_ms: started_ms[*job].map_or(0, |s| at_ms.saturating_sub(s)),
                        cache: cache.clone(),
                        artifacts: artifacts.clone(),
                        tests: None,
                        error: error.clone(),
                    });
                    if *result == JobResult::Failure
                        && !self.shared.pipeline.jobs[plan.jobs[*job].spec].continue_on_error
                    {
                        self.run_result = JobResult::Failure;
                    }
                }
                Record::RunFinished { result, .. } => self.run_result = *result,
                _ => {}
            }
        }
    }

    fn conditions(&self) -> JobConditions<'_, R, L> {
        JobConditions { dispatcher: self }
    }

    fn upstream(&self, job: usize) -> Vec<Upstream> {
        let plan = &self.shared.plan;
        plan.jobs[job]
            .needs
            .iter()
            .filter_map(|&need| {
                let finished = self.finished[need].as_ref()?;
                Some(Upstream {
                    job_id: self.shared.pipeline.jobs[plan.jobs[need].spec].id.clone(),
                    key: plan.jobs[need].key.clone(),
                    result: finished.result,
                    outputs: finished.outputs.clone(),
                    artifacts: finished.artifacts.clone(),
                })
            })
            .collect()
    }

    async fn perform(&mut self, actions: Vec<Action>) -> Result<(), EngineError> {
        let shared = self.shared.clone();
        for action in actions {
            if let Some(record) = action.record(now_ms()) {
                self.store.record(&shared.run, &record).await?;
            }
            match action {
                Action::Start { job } => {
                    let key = &shared.plan.jobs[job].key;
                    shared.events.event(Event::JobStarted { job: key });
                    if let Some(error) = &self.env_failure {
                        let outcome = JobOutcome::failed(
                            error.clone(),
                            CacheStatus::Uncached,
                            Instant::now(),
                        );
                        self.started_at[job] = Some(Instant::now());
                        self.in_flight += 1;
                        let _ = self.done.send((job, outcome));
                        continue;
                    }
                    self.launch(job);
                }
                Action::Finish {
                    job,
                    result,
                    reason,
                } => {
                    let key = shared.plan.jobs[job].key.clone();
                    let cache = CacheStatus::Uncached;
                    shared.events.event(Event::JobFinished {
                        job: &key,
                        result,
                        duration_ms: 0,
                        cache: &cache,
                        artifacts: &[],
                        tests: None,
                        reason: Some(&reason),
                    });
                    self.finished[job] = Some(Finished {
                        result,
                        outputs: Vec::new(),
                        artifacts: Vec::new(),
                    });
                    self.summaries[job] = Some(JobSummary {
                        key,
                        result,
                        duration_ms: 0,
                        cache,
                        artifacts: Vec::new(),
                        tests: None,
                        error: Some(reason),
                    });
                }
                Action::CancelRunning => {
                    let _ = self.cancel_jobs.send(true);
                }
                Action::RunFinished { result } => self.run_result = result,
            }
        }
        Ok(())
    }

    /// Records a job task's outcome; the scheduler hears of it next.
    async fn job_done(&mut self, job: usize, outcome: JobOutcome) -> Result<(), EngineError> {
        let shared = self.shared.clone();
        let record = Record::JobFinished {
            job,
            result: outcome.result,
            at_ms: now_ms(),
            cache: outcome.cache.clone(),
            outputs: outcome.outputs.clone(),
            error: outcome.error.clone(),
            artifacts: outcome.artifacts.clone(),
        };
        self.store.record(&shared.run, &record).await?;
        let key = &shared.plan.jobs[job].key;
        let duration_ms =
            self.started_at[job].map_or(outcome.duration_ms, |t| t.elapsed().as_millis() as u64);
        shared.events.event(Event::JobFinished {
            job: key,
            result: outcome.result,
            duration_ms,
            cache: &outcome.cache,
            artifacts: &outcome.artifacts,
            tests: outcome.tests.as_ref(),
            reason: outcome.error.as_deref(),
        });
        self.summaries[job] = Some(JobSummary {
            key: key.clone(),
            result: outcome.result,
            duration_ms,
            cache: outcome.cache,
            artifacts: outcome.artifacts.clone(),
            tests: outcome.tests.map(|t: TestSummary| t),
            error: outcome.error,
        });
        self.finished[job] = Some(Finished {
            result: outcome.result,
            outputs: outcome.outputs,
            artifacts: outcome.artifacts,
        });
        Ok(())
    }
}

/// Evaluates `if:` of jobs against the results of the jobs they need.
struct JobConditions<'a, R: RunStore, L: Launcher> {
    dispatcher: &'a Dispatcher<R, L>,
}

impl<R: RunStore, L: Launcher> Conditions for JobConditions<'_, R, L> {
    fn decide(&self, job: usize, status: ReadyStatus, _: &Scheduler) -> Decision {
        let shared = &self.dispatcher.shared;
        let planned = &shared.plan.jobs[job];
        let spec = &shared.pipeline.jobs[planned.spec];
        let Some(condition) = &spec.condition else {
            if status.needs_succeeded && !status.cancelled {
                return Decision::Run;
            }
            let blocking: Vec<&str> = planned
                .needs
                .iter()
                .filter(|&&n| {
                    !matches!(
                        self.dispatcher.finished[n].as_ref().map(|f| f.result),
                        Some(JobResult::Success)
                    ) && !shared.pipeline.jobs[shared.plan.jobs[n].spec].continue_on_error
                })
                .map(|&n| shared.plan.jobs[n].key.as_str())
                .collect();
            return Decision::Skip(if blocking.is_empty() {
                "the run was cancelled".to_string()
            } else {
                format!("needs {} which did not succeed", blocking.join(", "))
            });
        };
        let upstream = self.dispatcher.upstream(job);
        let needs = needs_value(&upstream);
        let matrix = matrix_value(&planned.matrix);
        let mut scope = Scope::empty();
        scope.env = &shared.pipeline_env_value;
        scope.matrix = &matrix;
        scope.needs = &needs;
        scope.inputs = &shared.inputs;
        scope.git = &shared.git;
        scope.status = Status {
            success: status.needs_succeeded && !status.cancelled,
            failure: status.needs_failed,
            cancelled: status.cancelled,
        };
        match condition.eval(&scope) {
            Ok(true) => Decision::Run,
            Ok(false) => Decision::Skip(format!("`if: {}` is false", condition.source())),
            Err(error) => Decision::Error(format!("`if` could not be evaluated: {error}")),
        }
    }
}
