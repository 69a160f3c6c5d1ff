//! Run drivers: one task per active run, running the engine's dispatcher
//! (`slipway_engine::run_with`, the same one `slipway run` uses) with a
//! store that writes to SQL and a launcher that queues jobs for agents.
//!
//! Invariants:
//! - Every run is driven from its records: a new run starts from none, a
//!   restarted server resumes each unfinished run from what it had stored,
//!   so nothing stays "running" because the process that drove it died.
//! - A launched job's outcome reaches its dispatcher exactly once: whoever
//!   takes the [`PendingJob`] out of the queue (the agent's finish, lease
//!   expiry, cancellation before a claim) sends it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use slipway_engine::contexts::{Scope, git_value};
use slipway_engine::ports::{CancelSignal, RunStore, StoreError};
use slipway_engine::records::{CacheStatus, GitInfo, JobResult, Record, RunMeta, RunSummary};
use slipway_engine::{
    JobOutcome, Launcher, Plan, RunContext, RunOptions, Silent, Start, Upstream, retry_records,
    run_with,
};
use slipway_expr::Value;
use slipway_spec::model::{Pipeline, RunsOn};
use slipway_store::sql::{
    Id, Job, JobStatus, JobUpsert, NewRun, Run, RunStatus, ServerStore, SqlError, SqlStore,
};
use tokio::sync::{mpsc, watch};

use crate::livelogs::LogHub;
use crate::metrics::Metrics;
use crate::queue::{PendingJob, Queue};

/// A run's pipeline as [`Runs::create`] just stored it, handed to its
/// driver so that it is neither read back nor parsed again.
struct Loaded {
    file: String,
    source: String,
    /// Parsed, or why it is not valid (the run fails with that).
    pipeline: Result<Arc<Pipeline>, String>,
}

/// How many jobs of one run may wait for agents at once.
const RUN_PARALLELISM: usize = 256;

/// The runs this server drives.
pub struct Runs {
    pub store: Arc<SqlStore>,
    pub queue: Arc<Queue>,
    pub logs: Arc<LogHub>,
    pub metrics: Arc<Metrics>,
    active: Mutex<Active>,
    /// Jobs' `concurrency:` groups, shared by every run (scoped per project).
    job_groups: Arc<slipway_engine::groups::JobGroups>,
}

#[derive(Default)]
struct Active {
    /// Driven runs and the switch that cancels each.
    running: HashMap<Id, watch::Sender<bool>>,
    /// Runs of a concurrency group in creation order: the first is driven,
    /// the others wait (or were superseded).
    groups: HashMap<String, VecDeque<Id>>,
    /// The group of each run that has one.
    group_of: HashMap<Id, String>,
}

impl Runs {
    pub fn new(
        store: Arc<SqlStore>,
        queue: Arc<Queue>,
        logs: Arc<LogHub>,
        metrics: Arc<Metrics>,
    ) -> Runs {
        Runs {
            store,
            queue,
            logs,
            metrics,
            job_groups: Arc::default(),
            active: Mutex::new(Active::default()),
        }
    }

    /// Resumes every unfinished run, oldest first (concurrency groups are
    /// rebuilt in the same order).
    pub async fn resume_all(self: &Arc<Self>) -> Result<usize, SqlError> {
        let runs = self.store.active_runs().await?;
        let count = runs.len();
        for run in runs {
            self.start(run).await;
        }
        Ok(count)
    }

    /// Creates a run with its pipeline text and starts it. A run whose
    /// pipeline could not be obtained is created failed with `failure` as
    /// its reason, so that nothing a trigger delivered is dropped silently.
    pub async fn create(
        self: &Arc<Self>,
        new: NewRun,
        pipeline: Result<(String, String), String>,
    ) -> Result<Run, SqlError> {
        let run = self.store.create_run(new).await?;
        match pipeline {
            Ok((file, source)) => {
                self.store.set_run_pipeline(run.id, &file, &source).await?;
                // Handed to the driver as it is: not read back and parsed again.
                let pipeline = slipway_spec::parse_pipeline(&source, &file)
                    .map(Arc::new)
                    .map_err(|d| format!("{file} is not valid:\n{}", d.render(&source, false)));
                let loaded = Loaded {
                    file,
                    source,
                    pipeline,
                };
                self.start_with(run.clone(), Some(loaded)).await;
                Ok(run)
            }
            Err(reason) => {
                self.store
                    .set_run_status(run.id, RunStatus::Failed, Some(&reason))
                    .await
            }
        }
    }

    /// Starts driving `run`, or queues it behind its concurrency group.
    pub async fn start(self: &Arc<Self>, run: Run) {
        self.start_with(run, None).await;
    }

    /// [`Runs::start`], with the pipeline of a run just created.
    async fn start_with(self: &Arc<Self>, run: Run, loaded: Option<Loaded>) {
        let group = match self.concurrency_group(&run, loaded.as_ref()).await {
            Ok(group) => group,
            Err(reason) => {
                self.fail(run.id, &reason).await;
                return;
            }
        };
        let mut superseded = Vec::new();
        let drive_now = {
            let Ok(mut active) = self.active.lock() else {
                return;
            };
            match group {
                None => true,
                Some((name, cancel_in_progress)) => {
                    active.group_of.insert(run.id, name.clone());
                    let members = active.groups.entry(name).or_default();
                    if cancel_in_progress {
                        superseded.extend(members.drain(..));
                    }
                    members.push_back(run.id);
                    members.len() == 1
                }
            }
        };
        for old in superseded {
            let reason = format!("superseded by run #{} (concurrency group)", run.number);
            self.cancel_with(old, &reason).await;
        }
        if drive_now {
            self.spawn_driver(run, loaded);
        } else if let Some(ahead) = self.first_in_group(run.id) {
            let reason = format!("waiting for run id {ahead} of its concurrency group");
            let _ = self
                .store
                .set_run_status(run.id, RunStatus::Queued, Some(&reason))
                .await;
        }
    }

    fn first_in_group(&self, run_id: Id) -> Option<Id> {
        let active = self.active.lock().ok()?;
        let group = active.group_of.get(&run_id)?;
        active.groups.get(group)?.front().copied()
    }

    /// The rendered `concurrency.group` of the run's pipeline, if any.
    async fn concurrency_group(
        &self,
        run: &Run,
        loaded: Option<&Loaded>,
    ) -> Result<Option<(String, bool)>, String> {
        let read;
        let pipeline = match loaded {
            Some(loaded) => match &loaded.pipeline {
                Ok(pipeline) => pipeline.as_ref(),
                Err(_) => return Ok(None),
            },
            None => {
                let Some((file, source)) = self
                    .store
                    .run_pipeline(run.id)
                    .await
                    .map_err(|e| e.to_string())?
                else {
                    return Ok(None);
                };
                let Ok(pipeline) = slipway_spec::parse_pipeline(&source, &file) else {
                    return Ok(None);
                };
                read = pipeline;
                &read
            }
        };
        let Some(concurrency) = &pipeline.concurrency else {
            return Ok(None);
        };
        let inputs = Value::from(run.inputs.clone());
        let git = git_value(&git_info(run));
        let mut scope = Scope::empty();
        scope.inputs = &inputs;
        scope.git = &git;
        let group = concurrency
            .group
            .render(&scope)
            .map_err(|e| format!("concurrency group: {e}"))?;
        Ok(Some((
            format!("{}/{group}", run.project_id),
            concurrency.cancel_in_progress,
        )))
    }

    fn spawn_driver(self: &Arc<Self>, run: Run, loaded: Option<Loaded>) {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        if let Ok(mut active) = self.active.lock() {
            active.running.insert(run.id, cancel_tx);
        }
        let runs = self.clone();
        tokio::spawn(async move {
            let run_id = run.id;
            if let Err(reason) = runs.drive(&run, cancel_rx, loaded).await {
                runs.fail(run_id, &reason).await;
            }
            runs.logs.finish_run(run_id);
            runs.driver_ended(run_id).await;
        });
    }

    async fn fail(&self, run_id: Id, reason: &str) {
        tracing::warn!(run = run_id, reason, "run failed");
        if let Err(error) = self
            .store
            .set_run_status(run_id, RunStatus::Failed, Some(reason))
            .await
        {
            tracing::error!(run = run_id, %error, "could not mark the run failed");
        }
    }

    /// A driver ended: the next run of its concurrency group may go.
    async fn driver_ended(self: &Arc<Self>, run_id: Id) {
        let next = {
            let Ok(mut active) = self.active.lock() else {
                return;
            };
            active.running.remove(&run_id);
            let mut next = None;
            if let Some(group) = active.group_of.remove(&run_id)
                && let Some(members) = active.groups.get_mut(&group)
            {
                members.retain(|id| *id != run_id);
                next = members.front().copied();
                if members.is_empty() {
                    active.groups.remove(&group);
                }
            }
            next
        };
        if let Some(next) = next
            && let Ok(run) = self.store.run(next).await
        {
            if run.status.is_final() {
                return;
            }
            self.spawn_driver(run, None);
        }
    }

    /// Drives `run` to its end. `loaded` is the pipeline of a run just
    /// created, which has no records yet; otherwise both are read.
    async fn drive(
        &self,
        run: &Run,
        cancel: CancelSignal,
        loaded: Option<Loaded>,
    ) -> Result<(), String> {
        let created = loaded.is_some();
        let (file, source, pipeline) = match loaded {
            Some(loaded) => (loaded.file, loaded.source, loaded.pipeline?),
            None => {
                let (file, source) = self
                    .store
                    .run_pipeline(run.id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the run's pipeline text was not stored")?;
                let pipeline = slipway_spec::parse_pipeline(&source, &file)
                    .map_err(|d| format!("{file} is not valid:\n{}", d.render(&source, false)))?;
                (file, source, Arc::new(pipeline))
            }
        };
        let plan = Plan::new(&pipeline);
        let records: Vec<Record> = if created {
            Vec::new()
        } else {
            self.store
                .records(run.id, 0)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|r| r.record)
                .collect()
        };
        let secrets = self
            .store
            .secrets(run.project_id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(value.expose()).into_owned()))
            .collect();
        let inputs = match &run.inputs {
            serde_json::Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        // Only the server's own release runs carry an override (checked to come
        // from an admin when the run was created); an input of that name in
        // any other run is just an input.
        let freeze_override = (run.trigger == "release")
            .then(|| inputs.get("freeze_override").and_then(|v| v.as_str()))
            .flatten()
            .map(str::to_owned);
        let options = RunOptions {
            file: file.clone(),
            parallelism: RUN_PARALLELISM,
            fail_fast: false,
            secrets,
            inputs,
            git: git_info(run),
            restore_artifacts: true,
            deployer: None,
            approver: None,
            freeze_override,
            job_groups: slipway_engine::groups::JobGroupsHandle {
                groups: self.job_groups.clone(),
                scope: format!("project {}", run.project_id),
            },
        };
        self.store
            .set_run_status(run.id, RunStatus::Running, None)
            .await
            .map_err(|e| e.to_string())?;
        let keys: Vec<String> = plan.jobs.iter().map(|j| j.key.clone()).collect();
        let labels = plan
            .jobs
            .iter()
            .map(|j| job_labels(&pipeline, j.spec))
            .collect();
        let store = Arc::new(RunRecorder {
            store: self.store.clone(),
            logs: self.logs.clone(),
            run_id: run.id,
            keys,
            labels,
        });
        let launcher = Arc::new(QueueLauncher {
            store: self.store.clone(),
            queue: self.queue.clone(),
            metrics: self.metrics.clone(),
            run_id: run.id,
            source: Arc::from(source.as_str()),
        });
        let start = Start::Resume {
            run: run.id.to_string(),
            records,
        };
        run_with(
            store,
            launcher,
            Arc::new(Silent),
            pipeline,
            plan,
            options,
            start,
            cancel,
        )
        .await
        .map_err(|e| format!("the run could not be carried out: {e}"))?;
        Ok(())
    }

    /// Cancels a run: a driven one through its dispatcher (running jobs are
    /// stopped), a waiting one at once.
    pub async fn cancel(&self, run_id: Id) -> Result<Run, SqlError> {
        let run = self.store.run(run_id).await?;
        if run.status.is_final() {
            return Ok(run);
        }
        self.cancel_with(run_id, "cancelled by request").await;
        self.store.run(run_id).await
    }

    async fn cancel_with(&self, run_id: Id, reason: &str) {
        let driven = {
            let Ok(mut active) = self.active.lock() else {
                return;
            };
            if let Some(group) = active.group_of.get(&run_id).cloned()
                && !active.running.contains_key(&run_id)
            {
                active.group_of.remove(&run_id);
                if let Some(members) = active.groups.get_mut(&group) {
                    members.retain(|id| *id != run_id);
                }
            }
            active.running.get(&run_id).map(|tx| tx.send(true))
        };
        if driven.is_none() {
            let _ = self
                .store
                .set_run_status(run_id, RunStatus::Cancelled, Some(reason))
                .await;
        }
    }

    /// A new run of the same commit and pipeline, starting from the records
    /// of `run` minus the jobs in `jobs` (all that did not succeed when
    /// empty) and what depends on them: passed jobs keep their results.
    /// `triggered_by` is who asked for it.
    pub async fn retry(
        self: &Arc<Self>,
        run_id: Id,
        jobs: &[String],
        triggered_by: Option<String>,
    ) -> Result<Run, RetryError> {
        let old = self.store.run(run_id).await?;
        if !old.status.is_final() {
            return Err(RetryError::NotFinished);
        }
        let (file, source) = self
            .store
            .run_pipeline(run_id)
            .await?
            .ok_or(RetryError::NoPipeline)?;
        let pipeline =
            slipway_spec::parse_pipeline(&source, &file).map_err(|_| RetryError::NoPipeline)?;
        let plan = Plan::new(&pipeline);
        let records: Vec<Record> = self
            .store
            .records(run_id, 0)
            .await?
            .into_iter()
            .map(|r| r.record)
            .collect();
        let indexes: Vec<usize> = if jobs.is_empty() {
            let mut passed = vec![false; plan.jobs.len()];
            for record in &records {
                if let Record::JobFinished { job, result, .. } = record
                    && let Some(slot) = passed.get_mut(*job)
                {
                    *slot = matches!(result, JobResult::Success);
                }
            }
            (0..plan.jobs.len()).filter(|i| !passed[*i]).collect()
        } else {
            let mut indexes = Vec::new();
            for key in jobs {
                let index = plan
                    .jobs
                    .iter()
                    .position(|j| &j.key == key || j.key.split(' ').next() == Some(key))
                    .ok_or_else(|| RetryError::UnknownJob(key.clone()))?;
                indexes.push(index);
            }
            indexes
        };
        let kept = retry_records(&plan, &records, &indexes);
        let run = self
            .store
            .create_run(NewRun {
                project_id: old.project_id,
                trigger: "retry".to_string(),
                branch: old.branch.clone(),
                tag: old.tag.clone(),
                commit_sha: old.commit_sha.clone(),
                inputs: old.inputs.clone(),
                triggered_by,
            })
            .await?;
        self.store.set_run_pipeline(run.id, &file, &source).await?;
        let recorder = RunRecorder {
            store: self.store.clone(),
            logs: self.logs.clone(),
            run_id: run.id,
            keys: plan.jobs.iter().map(|j| j.key.clone()).collect(),
            labels: plan
                .jobs
                .iter()
                .map(|j| job_labels(&pipeline, j.spec))
                .collect(),
        };
        for record in &kept {
            recorder
                .record(&run.id.to_string(), record)
                .await
                .map_err(|e| RetryError::Store(e.0))?;
        }
        self.start(run.clone()).await;
        Ok(run)
    }

    /// Runs being driven now.
    /// What job `key` of run `run_id` waits for, if it waits for its
    /// concurrency group: the group and who holds it.
    pub fn waiting_for_group(&self, run_id: Id, key: &str) -> Option<(String, String)> {
        self.job_groups
            .waiting_for(&slipway_engine::groups::job_label(key, &run_id.to_string()))
    }

    pub fn driven(&self) -> usize {
        self.active.lock().map(|a| a.running.len()).unwrap_or(0)
    }
}

/// Why a retry was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("the run has not finished; cancel it first or wait")]
    NotFinished,
    #[error("the run's pipeline is not stored or no longer valid")]
    NoPipeline,
    #[error("the run has no job `{0}`")]
    UnknownJob(String),
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("store: {0}")]
    Store(String),
}

fn git_info(run: &Run) -> GitInfo {
    GitInfo {
        branch: run.branch.clone(),
        tag: run.tag.clone(),
        sha: run.commit_sha.clone(),
        event: run.trigger.clone(),
        changed_paths: Vec::new(),
    }
}

/// The labels an agent needs for a job: `docker` for `runs-on: docker`.
fn job_labels(pipeline: &Pipeline, spec: usize) -> Vec<String> {
    match pipeline.jobs.get(spec).map(|j| &j.runs_on) {
        Some(RunsOn::Docker(_)) => vec!["docker".to_string()],
        _ => Vec::new(),
    }
}

fn store_error(error: SqlError) -> StoreError {
    StoreError(error.to_string())
}

fn job_status(result: JobResult) -> JobStatus {
    match result {
        JobResult::Success => JobStatus::Succeeded,
        JobResult::Failure => JobStatus::Failed,
        JobResult::Cancelled => JobStatus::Cancelled,
        JobResult::Skipped => JobStatus::Skipped,
    }
}

/// The dispatcher's store on the server: records go to `run_events`, and
/// the jobs table follows them.
struct RunRecorder {
    store: Arc<SqlStore>,
    logs: Arc<LogHub>,
    run_id: Id,
    keys: Vec<String>,
    labels: Vec<Vec<String>>,
}

impl RunRecorder {
    async fn set_job(
        &self,
        job: usize,
        status: JobStatus,
        reason: Option<String>,
    ) -> Result<Option<Job>, SqlError> {
        let Some(key) = self.keys.get(job) else {
            return Ok(None);
        };
        let existing = match self.store.job_by_key(self.run_id, key).await {
            Ok(job) => Some(job),
            Err(SqlError::NotFound { .. }) => None,
            Err(error) => return Err(error),
        };
        let upsert = JobUpsert {
            run_id: self.run_id,
            key: key.clone(),
            labels: self.labels.get(job).cloned().unwrap_or_default(),
            status,
            agent: existing.as_ref().and_then(|j| j.agent.clone()),
            lease_expires_ms: None,
            attempt: existing.as_ref().map_or(1, |j| j.attempt),
            reason,
        };
        self.store.upsert_job(upsert).await.map(Some)
    }
}

impl RunStore for RunRecorder {
    async fn begin_run(&self, _meta: &RunMeta) -> Result<String, StoreError> {
        Ok(self.run_id.to_string())
    }

    async fn record(&self, _run: &str, record: &Record) -> Result<(), StoreError> {
        self.store
            .append_record(self.run_id, record)
            .await
            .map_err(store_error)?;
        match record {
            Record::JobSkipped { job, reason, .. } => {
                self.set_job(*job, JobStatus::Skipped, Some(reason.clone()))
                    .await
                    .map_err(store_error)?;
            }
            Record::JobFinished {
                job,
                result,
                error,
                artifacts,
                ..
            } => {
                let row = self
                    .set_job(*job, job_status(*result), error.clone())
                    .await
                    .map_err(store_error)?;
                if let Some(row) = row {
                    if !artifacts.is_empty() {
                        self.store
                            .add_artifacts(row.id, artifacts)
                            .await
                            .map_err(store_error)?;
                    }
                    self.logs.finish_job(self.run_id, row.id).await;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn finish_run(&self, _run: &str, summary: &RunSummary) -> Result<(), StoreError> {
        let status = match summary.result {
            JobResult::Success | JobResult::Skipped => RunStatus::Succeeded,
            JobResult::Failure => RunStatus::Failed,
            JobResult::Cancelled => RunStatus::Cancelled,
        };
        let reason = summary
            .jobs
            .iter()
            .find(|j| j.result == JobResult::Failure)
            .map(|j| match &j.error {
                Some(error) => format!("job `{}` failed: {error}", j.key),
                None => format!("job `{}` failed", j.key),
            });
        self.store
            .set_run_status(self.run_id, status, reason.as_deref())
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// Starts a job by queueing it for agents.
struct QueueLauncher {
    store: Arc<SqlStore>,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    run_id: Id,
    source: Arc<str>,
}

/// An outcome for a job that never ran on an agent.
pub fn outcome(result: JobResult, error: Option<String>) -> JobOutcome {
    JobOutcome {
        result,
        outputs: Vec::new(),
        cache: CacheStatus::Uncached,
        artifacts: Vec::new(),
        tests: None,
        error,
        duration_ms: 0,
        test_cases: Vec::new(),
        release: None,
        approval: None,
    }
}

impl Launcher for QueueLauncher {
    fn launch(
        &self,
        run: &Arc<RunContext>,
        job: usize,
        upstream: Vec<Upstream>,
        cancel: CancelSignal,
        done: mpsc::UnboundedSender<(usize, JobOutcome)>,
    ) {
        let (store, queue, metrics) =
            (self.store.clone(), self.queue.clone(), self.metrics.clone());
        let (run_id, source, run) = (self.run_id, self.source.clone(), run.clone());
        tokio::spawn(async move {
            let Some(planned) = run.plan.jobs.get(job) else {
                let _ = done.send((job, outcome(JobResult::Failure, Some("no such job".into()))));
                return;
            };
            let key = planned.key.clone();
            let labels = job_labels(&run.pipeline, planned.spec);
            let row = match enqueue(&store, run_id, &key, &labels).await {
                Ok(row) => row,
                Err(error) => {
                    let error = format!("could not queue the job: {error}");
                    let _ = done.send((job, outcome(JobResult::Failure, Some(error))));
                    return;
                }
            };
            let job_id = row.id;
            let pending = Arc::new(PendingJob {
                run_id,
                job_key: key,
                index: job,
                run,
                pipeline_source: source,
                upstream,
                labels,
                cancel: cancel.clone(),
                done,
                step_names: Mutex::new(HashMap::new()),
                queued_at: Instant::now(),
                claimed: std::sync::atomic::AtomicBool::new(row.status == JobStatus::Running),
                delivered: tokio::sync::Mutex::default(),
            });
            metrics.job_queued();
            queue.add(job_id, pending);
            watch_cancel(store, queue, job_id, cancel).await;
        });
    }
}

/// The job's row, queued for agents; a job an agent still holds (the
/// server restarted under it) stays with that agent.
async fn enqueue(
    store: &SqlStore,
    run_id: Id,
    key: &str,
    labels: &[String],
) -> Result<Job, SqlError> {
    let existing = match store.job_by_key(run_id, key).await {
        Ok(job) => Some(job),
        Err(SqlError::NotFound { .. }) => None,
        Err(error) => return Err(error),
    };
    if let Some(job) = &existing
        && job.status == JobStatus::Running
    {
        return Ok(job.clone());
    }
    let attempt = match &existing {
        Some(job) if job.status.is_final() => job.attempt + 1,
        Some(job) => job.attempt,
        None => 1,
    };
    store
        .upsert_job(JobUpsert {
            run_id,
            key: key.to_string(),
            labels: labels.to_vec(),
            status: JobStatus::Queued,
            agent: None,
            lease_expires_ms: None,
            attempt,
            reason: None,
        })
        .await
}

/// A job cancelled before an agent claimed it ends here; a claimed one is
/// told through its agent's next event answer.
async fn watch_cancel(
    store: Arc<SqlStore>,
    queue: Arc<Queue>,
    job_id: Id,
    mut cancel: CancelSignal,
) {
    loop {
        if *cancel.borrow() {
            break;
        }
        if cancel.changed().await.is_err() {
            return;
        }
    }
    let Ok(job) = store.job(job_id).await else {
        return;
    };
    if job.status != JobStatus::Queued {
        return;
    }
    if let Some(pending) = queue.remove(job_id) {
        let _ = store
            .upsert_job(JobUpsert {
                run_id: job.run_id,
                key: job.key.clone(),
                labels: job.labels.clone(),
                status: JobStatus::Cancelled,
                agent: None,
                lease_expires_ms: None,
                attempt: job.attempt,
                reason: Some("cancelled before an agent took it".to_string()),
            })
            .await;
        let _ = pending.done.send((
            pending.index,
            outcome(JobResult::Cancelled, Some("cancelled".to_string())),
        ));
    }
}
