//! Running one job instance: workspace, cache, steps, artifacts, reports.
//!
//! A job runs as its own task and talks to the dispatcher only through the
//! outcome it returns (and the records it appends for its steps). It does no
//! I/O itself: processes and files go through the [`Workspace`], records and
//! blobs through the [`Store`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_expr::{Object, Value};
use slipway_spec::model::{Job, RunsOn, Step};

use crate::cachekey::{KeyBuilder, explain_miss};
use crate::contexts::{Scope, Status, job_value, matrix_value};
use crate::events::Event;
use crate::job_definition::{definition_digest, hash_files};
use crate::job_outputs::{mask_text, parse_outputs};
use crate::job_sink::TeeSink;
use crate::ports::{
    CancelSignal, ContainerRequest, Executor, LineSink, ServiceRequest, StepCommand, StepExit,
    Store, Stream, Workspace, WorkspaceRequest,
};
use crate::records::{
    ArtifactRecord, CacheEntry, CacheStatus, Digest, JobResult, Record, TestSummary,
};
use crate::run::{RunContext, now_ms};

/// A finished job the current one needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Upstream {
    pub job_id: String,
    pub key: String,
    pub result: JobResult,
    pub outputs: Vec<(String, String)>,
    pub artifacts: Vec<ArtifactRecord>,
}

/// What a job instance produced.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JobOutcome {
    pub result: JobResult,
    pub outputs: Vec<(String, String)>,
    pub cache: CacheStatus,
    pub artifacts: Vec<ArtifactRecord>,
    pub tests: Option<TestSummary>,
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Every test case of the job's reports, for the server's per-test
    /// history and flakiness (empty without reports, or on a cache hit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_cases: Vec<slipway_reports::TestCase>,
    /// A `deploy:` job's release record (the deployment's record as JSON),
    /// failed or not; the server keeps it in its releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<serde_json::Value>,
    /// An `approval:` job's decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::ports::ApprovalDecision>,
}

impl JobOutcome {
    pub(crate) fn without_error(mut self) -> JobOutcome {
        self.error = None;
        self
    }

    pub(crate) fn failed(error: String, cache: CacheStatus, started: Instant) -> JobOutcome {
        JobOutcome {
            result: JobResult::Failure,
            outputs: Vec::new(),
            cache,
            artifacts: Vec::new(),
            tests: None,
            error: Some(error),
            duration_ms: started.elapsed().as_millis() as u64,
            test_cases: Vec::new(),
            release: None,
            approval: None,
        }
    }
}

/// The `needs` context: for each job needed, its result and outputs. For a
/// matrix job, the result is the worst of its instances and outputs merge
/// (later instances win), as in GitHub Actions.
pub(crate) fn needs_value(upstream: &[Upstream]) -> Value {
    let mut needs = Object::new();
    for up in upstream {
        let merged = match needs.get_mut(&up.job_id) {
            Some(Value::Object(existing)) => existing,
            _ => {
                let mut fresh = Object::new();
                fresh.insert("result", Value::String(up.result.as_str().to_string()));
                fresh.insert("outputs", Value::Object(Object::new()));
                needs.insert(up.job_id.as_str(), Value::Object(fresh));
                match needs.get_mut(&up.job_id) {
                    Some(Value::Object(o)) => o,
                    _ => continue,
                }
            }
        };
        if up.result != JobResult::Success {
            merged.insert("result", Value::String(up.result.as_str().to_string()));
        }
        if let Some(Value::Object(outputs)) = merged.get_mut("outputs") {
            for (name, value) in &up.outputs {
                outputs.insert(name.as_str(), Value::String(value.clone()));
            }
        }
    }
    Value::Object(needs)
}

/// Runs job instance `index` to its end. Never panics on user input; every
/// failure becomes a [`JobOutcome`] with a message.
pub async fn run_job<E: Executor, S: Store>(
    shared: Arc<RunContext>,
    executor: Arc<E>,
    store: Arc<S>,
    index: usize,
    upstream: Vec<Upstream>,
    cancel: CancelSignal,
) -> JobOutcome {
    let started = Instant::now();
    let planned = &shared.plan.jobs[index];
    let job = &shared.pipeline.jobs[planned.spec];
    let runner = JobRunner {
        shared: &shared,
        executor: PhantomData::<E>,
        store: &store,
        index,
        job,
        key: &planned.key,
        matrix: matrix_value(&planned.matrix),
        needs: needs_value(&upstream),
        upstream: &upstream,
        cancel,
        started,
    };
    // A gate waits for people: no workspace, no artifacts, no cache.
    if let Some(approval) = &job.approval {
        return runner.run_approval(approval).await;
    }
    let container = match container_request(&shared, job) {
        Ok(container) => container,
        Err(error) => return JobOutcome::failed(error, CacheStatus::Uncached, started),
    };
    let request = WorkspaceRequest {
        run: shared.run.clone(),
        job_key: planned.key.clone(),
        container,
    };
    let mut workspace = match executor.prepare(&request).await {
        Ok(workspace) => workspace,
        Err(error) => {
            return JobOutcome::failed(
                format!("could not prepare the workspace: {error}"),
                CacheStatus::Uncached,
                started,
            );
        }
    };
    let mut runner = runner;
    let outcome = runner.run(&mut workspace).await;
    workspace.release().await;
    outcome
}

/// The container request of a `runs-on: docker` job, with the services'
/// environments rendered (they may map secrets, as steps do).
fn container_request(shared: &RunContext, job: &Job) -> Result<Option<ContainerRequest>, String> {
    let RunsOn::Docker(docker) = &job.runs_on else {
        return Ok(None);
    };
    let mut scope = Scope::empty();
    scope.env = &shared.pipeline_env_value;
    scope.inputs = &shared.inputs;
    scope.secrets = &shared.secrets;
    scope.git = &shared.git;
    let mut services = Vec::with_capacity(docker.services.len());
    for service in &docker.services {
        let mut env = Vec::with_capacity(service.env.len());
        for var in &service.env {
            let value = var
                .value
                .render(&scope)
                .map_err(|e| format!("service `{}`: env `{}`: {e}", service.name, var.name))?;
            env.push((var.name.clone(), value));
        }
        services.push(ServiceRequest {
            name: service.name.clone(),
            image: service.image.clone(),
            env,
            command: service.command.clone(),
            health: service.health.clone(),
        });
    }
    Ok(Some(ContainerRequest {
        image: docker.image.clone(),
        services,
        cpus: docker.resources.cpus,
        memory: docker.resources.memory,
        pull: docker.pull,
    }))
}

pub(crate) struct JobRunner<'a, E: Executor, S: Store> {
    pub(crate) shared: &'a RunContext,
    pub(crate) executor: PhantomData<E>,
    pub(crate) store: &'a Arc<S>,
    pub(crate) index: usize,
    pub(crate) job: &'a Job,
    pub(crate) key: &'a str,
    pub(crate) matrix: Value,
    pub(crate) needs: Value,
    pub(crate) upstream: &'a [Upstream],
    pub(crate) cancel: CancelSignal,
    pub(crate) started: Instant,
}

/// The state of the steps of one attempt of a job.
struct StepsState {
    steps: Object,
    failed: bool,
    error: Option<String>,
    /// A step did not run because the job was cancelled (so the job did
    /// not succeed, even when no step failed).
    skipped_by_cancel: bool,
}

impl<E: Executor, S: Store> JobRunner<'_, E, S> {
    pub(crate) fn scope<'s>(
        &'s self,
        env: &'s Value,
        steps: &'s Value,
        status: Status,
    ) -> Scope<'s> {
        Scope {
            env,
            matrix: &self.matrix,
            steps,
            needs: &self.needs,
            inputs: &self.shared.inputs,
            secrets: &self.shared.secrets,
            git: &self.shared.git,
            job: &NULL_JOB,
            status,
            hash_files: None,
        }
    }

    /// The job's environment: the pipeline's, then its own, rendered.
    pub(crate) fn job_env(&self) -> Result<Vec<(String, String)>, String> {
        let mut env = self.shared.pipeline_env.clone();
        let null = Value::Null;
        let pipeline_env = &self.shared.pipeline_env_value;
        for var in &self.job.env {
            let value = var
                .value
                .render(&self.scope(pipeline_env, &null, Status::ok()))
                .map_err(|error| format!("env `{}`: {error}", var.name))?;
            env.push((var.name.clone(), value));
        }
        Ok(env)
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    async fn run(&mut self, ws: &mut E::Workspace) -> JobOutcome {
        // Artifacts of the jobs needed, where the workspace is not the one
        // they were built in.
        if self.shared.options.restore_artifacts {
            for up in self.upstream {
                for artifact in &up.artifacts {
                    if let Err(error) = self.blocking_restore(artifact, ws).await {
                        return JobOutcome::failed(
                            format!(
                                "could not restore artifact `{}` of `{}`: {error}",
                                artifact.name, up.key
                            ),
                            CacheStatus::Uncached,
                            self.started,
                        );
                    }
                }
            }
        }

        if let Some(deploy) = &self.job.deploy {
            return self.run_deploy(ws, deploy).await;
        }

        let env_pairs = match self.job_env() {
            Ok(env) => env,
            Err(error) => return JobOutcome::failed(error, CacheStatus::Uncached, self.started),
        };
        let null = Value::Null;

        // The job cache.
        let mut cache_key = None;
        let cache = if self.job.inputs.is_empty() {
            CacheStatus::Uncached
        } else {
            match self.check_cache(ws, &env_pairs) {
                Err(error) => {
                    return JobOutcome::failed(error, CacheStatus::Uncached, self.started);
                }
                Ok(CacheCheck::Hit(key, entry)) => return self.restore_hit(ws, key, entry).await,
                Ok(CacheCheck::Miss(key, manifest, reasons)) => {
                    cache_key = Some((key.clone(), manifest));
                    CacheStatus::Miss { key, reasons }
                }
            }
        };

        // The directory cache.
        let env_value = env_object(&env_pairs);
        let mut dir_cache = None;
        if let Some(decl) = &self.job.cache {
            let hash = |patterns: &[String]| hash_files(&*ws, patterns);
            let mut scope = self.scope(&env_value, &null, Status::ok());
            scope.hash_files = Some(&hash);
            let key = match decl.key.render(&scope) {
                Ok(key) => key,
                Err(error) => {
                    return JobOutcome::failed(format!("cache key: {error}"), cache, self.started);
                }
            };
            let restored = match self.blocking_dir_cache(ws, &key, &decl.paths, false).await {
                Ok(found) => found,
                Err(error) => {
                    return JobOutcome::failed(
                        format!("cache `{key}`: {error}"),
                        cache,
                        self.started,
                    );
                }
            };
            dir_cache = Some((key, restored));
        }

        // The steps, with job-level retries.
        let deadline = self.job.timeout.map(|t| self.started + t);
        let mut state = StepsState {
            steps: Object::new(),
            failed: false,
            error: None,
            skipped_by_cancel: false,
        };
        for attempt in 0..=self.job.retry {
            state = StepsState {
                steps: Object::new(),
                failed: false,
                error: None,
                skipped_by_cancel: false,
            };
            self.run_steps(ws, &env_pairs, &env_value, deadline, attempt, &mut state)
                .await;
            if !state.failed || self.cancelled() {
                break;
            }
        }
        let cancelled = self.cancelled() && (state.failed || state.skipped_by_cancel);

        let mut outcome = JobOutcome {
            result: if cancelled {
                JobResult::Cancelled
            } else if state.failed {
                JobResult::Failure
            } else {
                JobResult::Success
            },
            outputs: Vec::new(),
            cache,
            artifacts: Vec::new(),
            tests: None,
            error: state.error.take(),
            duration_ms: 0,
            test_cases: Vec::new(),
            release: None,
            approval: None,
        };
        (outcome.tests, outcome.test_cases) = match self.read_reports(ws) {
            Some((summary, cases)) => (Some(summary), cases),
            None => (None, Vec::new()),
        };
        if outcome.result == JobResult::Success {
            self.finish_success(ws, &env_value, &state, dir_cache, cache_key, &mut outcome)
                .await;
        }
        outcome.duration_ms = self.started.elapsed().as_millis() as u64;
        outcome
    }

    async fn run_steps(
        &self,
        ws: &mut E::Workspace,
        job_env: &[(String, String)],
        job_env_value: &Value,
        deadline: Option<Instant>,
        attempt: u32,
        state: &mut StepsState,
    ) {
        for (number, step) in self.job.steps.iter().enumerate() {
            let steps_value = Value::Object(state.steps.clone());
            let status = Status {
                success: !state.failed,
                failure: state.failed,
                cancelled: self.cancelled(),
            };
            let job = job_value(status);
            // Conditions and templates see `hashFiles`, which reads the
            // workspace: render everything first, then run with `&mut ws`.
            let rendered = {
                let hash = |patterns: &[String]| hash_files(&*ws, patterns);
                let mut scope = self.scope(job_env_value, &steps_value, status);
                scope.job = &job;
                scope.hash_files = Some(&hash);
                let run_it = match &step.condition {
                    Some(condition) => condition.eval(&scope).map_err(|e| format!("`if`: {e}")),
                    None => Ok(!state.failed && !self.cancelled()),
                };
                match run_it {
                    Ok(false) => {
                        if self.cancelled() {
                            state.skipped_by_cancel = true;
                        }
                        continue;
                    }
                    Ok(true) => self.render_step(step, number, job_env, &scope),
                    Err(error) => Err(error),
                }
            };
            let result = match rendered {
                Ok(rendered) => {
                    self.run_step(ws, step, number, rendered, deadline, attempt)
                        .await
                }
                Err(error) => Err(error),
            };
            match result {
                Ok((exit, outputs)) => {
                    if let Some(id) = &step.id {
                        let mut entry = Object::new();
                        let mut outs = Object::new();
                        for (name, value) in outputs {
                            outs.insert(name, Value::String(value));
                        }
                        entry.insert("outputs", Value::Object(outs));
                        let outcome = if exit.success() { "success" } else { "failure" };
                        entry.insert("outcome", Value::String(outcome.to_string()));
                        let conclusion = if exit.success() || step.continue_on_error {
                            "success"
                        } else {
                            "failure"
                        };
                        entry.insert("conclusion", Value::String(conclusion.to_string()));
                        state.steps.insert(id.as_str(), Value::Object(entry));
                    }
                    if !exit.success() && !step.continue_on_error {
                        state.failed = true;
                        if state.error.is_none() {
                            state.error = Some(format!(
                                "step `{}` {}",
                                step_name(step, number),
                                describe_exit(&exit)
                            ));
                        }
                    }
                }
                Err(error) => {
                    state.failed = true;
                    state
                        .error
                        .get_or_insert(format!("step `{}`: {error}", step_name(step, number)));
                }
            }
        }
    }

    /// Evaluates a step's templates: name, env, script, working directory.
    fn render_step(
        &self,
        step: &Step,
        number: usize,
        job_env: &[(String, String)],
        scope: &Scope<'_>,
    ) -> Result<RenderedStep, String> {
        let name = match &step.name {
            Some(template) => template
                .render(scope)
                .unwrap_or_else(|_| step_name(step, number)),
            None => step_name(step, number),
        };
        let mut env: Vec<(String, String)> = Vec::with_capacity(job_env.len() + step.env.len() + 8);
        env.extend_from_slice(job_env);
        for var in &step.env {
            let value = var
                .value
                .render(scope)
                .map_err(|e| format!("env `{}`: {e}", var.name))?;
            env.push((var.name.clone(), value));
        }
        let env_value = env_object(&env);
        let scope = Scope {
            env: &env_value,
            ..*scope
        };
        let script = step.run.render(&scope).map_err(|e| format!("run: {e}"))?;
        let workdir = match &step.workdir {
            Some(dir) => Some(dir.render(&scope).map_err(|e| format!("workdir: {e}"))?),
            None => None,
        };
        Ok(RenderedStep {
            name,
            env,
            script,
            workdir,
        })
    }

    /// Runs one step with its retries; returns the last exit and outputs.
    async fn run_step(
        &self,
        ws: &mut E::Workspace,
        step: &Step,
        number: usize,
        rendered: RenderedStep,
        deadline: Option<Instant>,
        attempt: u32,
    ) -> Result<(StepExit, Vec<(String, String)>), String> {
        let shared = self.shared;
        let RenderedStep {
            name,
            mut env,
            script,
            workdir,
        } = rendered;
        let output_path = ws.output_file(number).map_err(|e| e.to_string())?;
        env.push(("CI".into(), "true".into()));
        env.push(("SLIPWAY".into(), "true".into()));
        env.push(("SLIPWAY_RUN".into(), shared.run.clone()));
        env.push(("SLIPWAY_JOB".into(), self.key.to_string()));
        env.push(("SLIPWAY_WORKSPACE".into(), ws.root().display().to_string()));
        env.push(("SLIPWAY_OUTPUT".into(), output_path.display().to_string()));
        let shell = step.shell.unwrap_or(self.job.shell);

        let mut exit = StepExit::Exited(0);
        for retry in 0..=step.retry {
            let timeout = match (step.timeout, deadline) {
                (Some(t), Some(d)) => Some(t.min(d.saturating_duration_since(Instant::now()))),
                (Some(t), None) => Some(t),
                (None, Some(d)) => Some(d.saturating_duration_since(Instant::now())),
                (None, None) => None,
            };
            let record = Record::StepStarted {
                job: self.index,
                step: number,
                name: name.clone(),
                at_ms: now_ms(),
            };
            self.store
                .record(&shared.run, &record)
                .map_err(|e| e.to_string())?;
            shared.events.event(Event::StepStarted {
                job: self.key,
                step: number,
                name: &name,
            });
            let step_started = Instant::now();
            let log = self
                .store
                .open_step_log(&shared.run, self.key, number)
                .map_err(|e| e.to_string())?;
            let mut sink = TeeSink {
                log: Some(log),
                view: shared.events.step_output(self.key, number),
                error: None,
            };
            let command = StepCommand {
                script: &script,
                shell,
                env: &env,
                workdir: workdir.as_deref(),
                timeout,
                image: step.image.as_deref(),
            };
            exit = ws
                .run_step(command, &shared.masker, &mut sink, &self.cancel)
                .await;
            if exit == StepExit::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) {
                let limit = self.job.timeout.unwrap_or_default();
                sink.line(
                    Stream::Stderr,
                    now_ms(),
                    format!("slipway: the job timed out after {}", human(limit)).as_bytes(),
                );
            }
            sink.flush();
            let store_error = sink.finish();
            let record = Record::StepFinished {
                job: self.index,
                step: number,
                exit: exit.clone(),
                attempt: attempt + retry,
                at_ms: now_ms(),
            };
            self.store
                .record(&shared.run, &record)
                .map_err(|e| e.to_string())?;
            let duration_ms = step_started.elapsed().as_millis() as u64;
            shared.events.event(Event::StepFinished {
                job: self.key,
                step: number,
                name: &name,
                exit: &exit,
                duration_ms,
            });
            if let Some(error) = store_error {
                return Err(format!("could not store the log: {error}"));
            }
            if exit.success() || matches!(exit, StepExit::Cancelled) || self.cancelled() {
                break;
            }
        }
        let raw = ws.read_output_file(number).map_err(|e| e.to_string())?;
        Ok((exit, parse_outputs(&raw, &shared.masker)))
    }

    fn check_cache(
        &self,
        ws: &E::Workspace,
        env: &[(String, String)],
    ) -> Result<CacheCheck, String> {
        let shared = self.shared;
        let mut builder = KeyBuilder::new();
        builder.definition(&definition_digest(
            self.job,
            &shared.plan.jobs[self.index].matrix,
        ));
        for (name, value) in env {
            builder.env(name, value);
        }
        let files = ws
            .hash_inputs(&self.job.inputs)
            .map_err(|e| format!("inputs: {e}"))?;
        for (path, digest) in &files {
            builder.file(path, digest);
        }
        for up in self.upstream {
            for artifact in &up.artifacts {
                builder.artifact(&up.key, &artifact.name, &artifact.digest);
            }
            for (name, value) in &up.outputs {
                builder.upstream_output(&up.key, name, value);
            }
        }
        let (manifest, key) = builder.finish();
        if let Some(entry) = self.store.cache_get(&key).map_err(|e| e.to_string())? {
            return Ok(CacheCheck::Hit(key, entry));
        }
        let previous = self
            .store
            .last_manifest(self.key)
            .map_err(|e| e.to_string())?;
        let reasons = explain_miss(previous.as_ref(), &manifest, 10);
        Ok(CacheCheck::Miss(key, manifest, reasons))
    }

    async fn restore_hit(&self, ws: &E::Workspace, key: Digest, entry: CacheEntry) -> JobOutcome {
        for artifact in &entry.artifacts {
            if let Err(error) = self.blocking_restore(artifact, ws).await {
                return JobOutcome::failed(
                    format!(
                        "cache hit, but artifact `{}` could not be restored: {error}",
                        artifact.name
                    ),
                    CacheStatus::Hit { key },
                    self.started,
                );
            }
        }
        JobOutcome {
            result: JobResult::Success,
            outputs: entry.outputs,
            cache: CacheStatus::Hit { key },
            artifacts: entry.artifacts,
            tests: entry.tests.map(|totals| TestSummary {
                totals,
                failures: Vec::new(),
                flaky: Vec::new(),
                warnings: Vec::new(),
            }),
            error: None,
            duration_ms: self.started.elapsed().as_millis() as u64,
            test_cases: Vec::new(),
            release: None,
            approval: None,
        }
    }

    async fn finish_success(
        &self,
        ws: &E::Workspace,
        env_value: &Value,
        state: &StepsState,
        dir_cache: Option<(String, bool)>,
        cache_key: Option<(Digest, crate::records::KeyManifest)>,
        outcome: &mut JobOutcome,
    ) {
        let shared = self.shared;
        let steps_value = Value::Object(state.steps.clone());
        let scope = self.scope(env_value, &steps_value, Status::ok());
        for output in &self.job.outputs {
            match output.value.render(&scope) {
                Ok(value) => outcome
                    .outputs
                    .push((output.name.clone(), mask_text(&shared.masker, &value))),
                Err(error) => {
                    outcome.result = JobResult::Failure;
                    outcome.error = Some(format!("output `{}`: {error}", output.name));
                    return;
                }
            }
        }
        for decl in &self.job.artifacts {
            let store = self.store.clone();
            let root = ws.root().to_path_buf();
            let (name, path) = (decl.name.clone(), decl.path.clone());
            let stored =
                tokio::task::spawn_blocking(move || store.store_artifact(&root, &name, &path))
                    .await;
            match stored {
                Ok(Ok(record)) => outcome.artifacts.push(record),
                Ok(Err(error)) => {
                    // The store's message names the artifact and its path.
                    outcome.result = JobResult::Failure;
                    outcome.error = Some(error.to_string());
                    return;
                }
                Err(join) => {
                    outcome.result = JobResult::Failure;
                    outcome.error = Some(format!("artifact `{}`: {join}", decl.name));
                    return;
                }
            }
        }
        if let (Some(decl), Some((key, false))) = (&self.job.cache, dir_cache)
            && let Err(error) = self.blocking_dir_cache(ws, &key, &decl.paths, true).await
        {
            self.shared.events.event(Event::Warning {
                job: self.key,
                message: &format!("cache `{key}` not saved: {error}"),
            });
        }
        if let Some((key, manifest)) = cache_key {
            let entry = CacheEntry {
                job_key: self.key.to_string(),
                outputs: outcome.outputs.clone(),
                artifacts: outcome.artifacts.clone(),
                created_ms: now_ms(),
                tests: outcome.tests.as_ref().map(|t| t.totals),
            };
            let saved = self
                .store
                .cache_put(&key, &entry)
                .and_then(|()| self.store.save_manifest(self.key, &manifest));
            if let Err(error) = saved {
                self.shared.events.event(Event::Warning {
                    job: self.key,
                    message: &format!("cache entry not saved: {error}"),
                });
            }
        }
    }

    /// Parses the job's JUnit reports; a bad file is a warning, not a failure.
    fn read_reports(
        &self,
        ws: &E::Workspace,
    ) -> Option<(TestSummary, Vec<slipway_reports::TestCase>)> {
        if self.job.reports.junit.is_empty() {
            return None;
        }
        let mut warnings = Vec::new();
        let files = match ws.glob(&self.job.reports.junit) {
            Ok(files) => files,
            Err(error) => {
                warnings.push(format!("reports: {error}"));
                Vec::new()
            }
        };
        if files.is_empty() && warnings.is_empty() {
            warnings.push(format!(
                "no report matched {}",
                self.job.reports.junit.join(", ")
            ));
        }
        let mut report = slipway_reports::Report::default();
        for file in &files {
            let parsed = ws
                .read_file(file, 256 << 20)
                .map_err(|e| e.to_string())
                .and_then(|bytes| slipway_reports::parse_junit(&bytes).map_err(|e| e.to_string()));
            match parsed {
                Ok(one) => report.extend(one),
                Err(error) => warnings.push(format!("report `{file}` could not be read: {error}")),
            }
        }
        for warning in &warnings {
            self.shared.events.event(Event::Warning {
                job: self.key,
                message: warning,
            });
        }
        let summary = TestSummary::from_report(&report, warnings);
        Some((summary, report.cases))
    }

    pub(crate) async fn blocking_restore(
        &self,
        artifact: &ArtifactRecord,
        ws: &E::Workspace,
    ) -> Result<(), String> {
        let store = self.store.clone();
        let root = ws.root().to_path_buf();
        let artifact = artifact.clone();
        match tokio::task::spawn_blocking(move || store.restore_artifact(&artifact, &root)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(join) => Err(join.to_string()),
        }
    }

    async fn blocking_dir_cache(
        &self,
        ws: &E::Workspace,
        key: &str,
        paths: &[String],
        save: bool,
    ) -> Result<bool, String> {
        let store = self.store.clone();
        let root = ws.root().to_path_buf();
        let (key, paths) = (key.to_string(), paths.to_vec());
        let task = tokio::task::spawn_blocking(move || {
            if save {
                store.dir_cache_save(&key, &paths, &root).map(|()| true)
            } else {
                store.dir_cache_restore(&key, &paths, &root)
            }
        });
        match task.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(join) => Err(join.to_string()),
        }
    }
}

/// A step with every expression evaluated.
struct RenderedStep {
    name: String,
    env: Vec<(String, String)>,
    script: String,
    workdir: Option<String>,
}

static NULL_JOB: Value = Value::Null;

enum CacheCheck {
    Hit(Digest, CacheEntry),
    Miss(Digest, crate::records::KeyManifest, Vec<String>),
}

impl Status {
    pub(crate) fn ok() -> Status {
        Status {
            success: true,
            failure: false,
            cancelled: false,
        }
    }
}

impl TestSummary {
    fn from_report(report: &slipway_reports::Report, warnings: Vec<String>) -> TestSummary {
        TestSummary {
            totals: report.totals(),
            failures: report
                .failures()
                .map(|case| {
                    let name = if case.classname.is_empty() {
                        case.name.clone()
                    } else {
                        format!("{}::{}", case.classname, case.name)
                    };
                    (name, case.message.clone().unwrap_or_default())
                })
                .collect(),
            flaky: report.flaky().map(|case| case.name.clone()).collect(),
            warnings,
        }
    }
}

pub(crate) fn env_object(pairs: &[(String, String)]) -> Value {
    let mut object = Object::new();
    for (name, value) in pairs {
        object.insert(name.as_str(), Value::String(value.clone()));
    }
    Value::Object(object)
}

fn step_name(step: &Step, number: usize) -> String {
    if let Some(name) = &step.name {
        return name.source().to_string();
    }
    if let Some(id) = &step.id {
        return id.clone();
    }
    let first = step.run.source().lines().next().unwrap_or("").trim();
    let mut name: String = first.chars().take(60).collect();
    if name.is_empty() {
        name = format!("step {}", number + 1);
    }
    name
}

fn describe_exit(exit: &StepExit) -> String {
    match exit {
        StepExit::Exited(code) => format!("exited with code {code}"),
        StepExit::Signalled(signal) => format!("was killed by signal {signal}"),
        StepExit::TimedOut => "timed out".to_string(),
        StepExit::Cancelled => "was cancelled".to_string(),
        StepExit::SpawnFailed(message) => format!("could not start: {message}"),
    }
}

fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{}s", secs)
    }
}
