//! The agent protocol: claim (long poll), events (log lines, step records,
//! lease renewal, cancellation), finish.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use slipway_api::{
    AgentLine, Assignment, ClaimRequest, EventAck, EventBatch, FinishRequest, PrefetchHint,
};
use slipway_engine::ports::StepExit;
use slipway_engine::records::{JobResult, Record};
use slipway_store::sql::{Id, JobStatus, JobUpsert, ServerStore, SqlError, StepUpsert};

use crate::auth::Caller;
use crate::driver::outcome;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::queue::WaiterInfo;
use crate::state::AppState;

/// The longest a claim may wait for a job.
const MAX_WAIT: Duration = Duration::from_secs(60);

fn check_agent_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "the agent name must be 1 to 128 characters without control characters",
        ));
    }
    Ok(())
}

/// `POST /api/v1/agent/claim`
#[utoipa::path(post, path = "/api/v1/agent/claim", request_body = ClaimRequest,
    responses((status = 200, body = Assignment),
              (status = 202, body = PrefetchHint, description = "a commit to fetch now (only when the claim says `prefetch`); claim again at once"),
              (status = 204, description = "no job within the wait")),
    security(("token" = [])), tag = "agents")]
pub async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ClaimRequest>,
) -> ApiResult<Response> {
    caller.require_agent()?;
    check_agent_name(&request.agent)?;
    state.agent_seen(&request.agent);
    let deadline = Instant::now() + Duration::from_millis(request.wait_ms).min(MAX_WAIT);
    let mut closing = state.closing.clone();
    let waiter = WaiterInfo {
        labels: &request.labels,
        accepts_hints: request.prefetch,
        prefetched: request.prefetched.as_deref(),
    };
    loop {
        if *closing.borrow() {
            break;
        }
        let ticket = state.queue.wait_ticket(&waiter);
        if let Some(assignment) = try_claim(&state, &request).await? {
            return Ok(Json(assignment).into_response());
        }
        tokio::select! {
            _ = ticket.wake.notified() => {}
            _ = tokio::time::sleep_until(deadline.into()) => break,
            _ = closing.changed() => break,
        }
        if let Some(hint) = ticket.wake.take_hint() {
            // A job is better than a hint; none is queued in the usual
            // case (the delivery's run does not exist yet).
            if let Some(assignment) = try_claim(&state, &request).await? {
                return Ok(Json(assignment).into_response());
            }
            return Ok((StatusCode::ACCEPTED, Json(hint)).into_response());
        }
    }
    // A job queued just as the wait ended has woken this agent only.
    if !*closing.borrow()
        && let Some(assignment) = try_claim(&state, &request).await?
    {
        return Ok(Json(assignment).into_response());
    }
    state.agent_seen(&request.agent);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn try_claim(state: &AppState, request: &ClaimRequest) -> ApiResult<Option<Assignment>> {
    let lease_ms = state.lease_ms();
    loop {
        let Some(job) = state
            .store
            .claim_job(&request.agent, &request.labels, lease_ms as i64)
            .await?
        else {
            return Ok(None);
        };
        let Some(pending) = state.queue.get(job.id) else {
            // Queued by a run nobody drives (it cannot happen while the
            // drivers resume before the API opens): end it visibly.
            state
                .store
                .upsert_job(JobUpsert {
                    run_id: job.run_id,
                    key: job.key.clone(),
                    labels: job.labels.clone(),
                    status: JobStatus::Failed,
                    agent: None,
                    lease_expires_ms: None,
                    attempt: job.attempt,
                    reason: Some("no run on this server awaits this job".to_string()),
                })
                .await?;
            continue;
        };
        pending
            .claimed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        state
            .metrics
            .queue_wait
            .observe(pending.queued_at.elapsed().as_secs_f64());
        let run = state.store.run(pending.run_id).await?;
        let project = state.store.project(run.project_id).await?;
        let options = &pending.run.options;
        tracing::info!(job = job.id, run = run.id, agent = %request.agent, key = %job.key, "job claimed");
        return Ok(Some(Assignment {
            job_id: job.id,
            run_id: run.id,
            run: pending.run.run.clone(),
            project: project.name,
            repo_url: project.repo_url,
            commit: options.git.sha.clone().unwrap_or_default(),
            pipeline_file: options.file.clone(),
            pipeline_source: pending.pipeline_source.to_string(),
            job_key: pending.job_key.clone(),
            attempt: job.attempt,
            lease_ms,
            secrets: options.secrets.clone(),
            inputs: options.inputs.clone(),
            git: options.git.clone(),
            upstream: pending.upstream.clone(),
            freeze_override: options.freeze_override.clone(),
        }));
    }
}

fn exit_status(exit: &StepExit) -> (JobStatus, Option<i32>) {
    match exit {
        StepExit::Exited(0) => (JobStatus::Succeeded, Some(0)),
        StepExit::Exited(code) => (JobStatus::Failed, Some(*code)),
        StepExit::Cancelled => (JobStatus::Cancelled, None),
        StepExit::Signalled(_) | StepExit::TimedOut | StepExit::SpawnFailed(_) => {
            (JobStatus::Failed, None)
        }
    }
}

/// `POST /api/v1/agent/jobs/{job}/events`
#[utoipa::path(post, path = "/api/v1/agent/jobs/{job}/events", request_body = EventBatch,
    params(("job" = i64, Path, description = "job id")),
    responses((status = 200, body = EventAck), (status = 409, description = "the agent does not hold the job")),
    security(("token" = [])), tag = "agents")]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(job_id): Path<Id>,
    ApiJson(batch): ApiJson<EventBatch>,
) -> ApiResult<Json<EventAck>> {
    caller.require_agent()?;
    state.agent_seen(&batch.agent);
    match state
        .store
        .renew_lease(job_id, &batch.agent, state.lease_ms() as i64)
        .await
    {
        Ok(_) => {}
        Err(SqlError::NotFound { .. }) => {
            return Err(ApiError::conflict(
                "this agent no longer holds the job (its lease expired or the run ended)",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    let Some(pending) = state.queue.get(job_id) else {
        return Ok(Json(EventAck { cancel: true }));
    };
    let mut delivered = pending.delivered.lock().await;
    if batch.seq > 0 {
        if delivered.agent != batch.agent || delivered.attempt != batch.attempt {
            *delivered = crate::queue::Delivered {
                agent: batch.agent.clone(),
                attempt: batch.attempt,
                seq: 0,
            };
        }
        if batch.seq <= delivered.seq {
            // Stored already: the agent did not get the answer.
            return Ok(Json(EventAck {
                cancel: *pending.cancel.borrow(),
            }));
        }
    }
    for record in &batch.records {
        // Agents report steps only; the job index is the server's.
        let record = match record {
            Record::StepStarted {
                step, name, at_ms, ..
            } => {
                if let Ok(mut names) = pending.step_names.lock() {
                    names.insert(*step as u32, name.clone());
                }
                state
                    .store
                    .upsert_step(StepUpsert {
                        job_id,
                        index: *step as u32,
                        name: name.clone(),
                        status: JobStatus::Running,
                        exit_code: None,
                    })
                    .await?;
                Record::StepStarted {
                    job: pending.index,
                    step: *step,
                    name: name.clone(),
                    at_ms: *at_ms,
                }
            }
            Record::StepFinished {
                step,
                exit,
                attempt,
                at_ms,
                ..
            } => {
                let name = pending
                    .step_names
                    .lock()
                    .ok()
                    .and_then(|names| names.get(&(*step as u32)).cloned())
                    .unwrap_or_else(|| format!("step {}", step + 1));
                let (status, exit_code) = exit_status(exit);
                state
                    .store
                    .upsert_step(StepUpsert {
                        job_id,
                        index: *step as u32,
                        name,
                        status,
                        exit_code,
                    })
                    .await?;
                Record::StepFinished {
                    job: pending.index,
                    step: *step,
                    exit: exit.clone(),
                    attempt: *attempt,
                    at_ms: *at_ms,
                }
            }
            _ => {
                return Err(ApiError::bad_request(
                    "agents may send step_started and step_finished records only",
                ));
            }
        };
        state.store.append_record(pending.run_id, &record).await?;
    }
    append_lines(&state, &pending, job_id, &batch.lines)?;
    delivered.seq = delivered.seq.max(batch.seq);
    drop(delivered);
    Ok(Json(EventAck {
        cancel: *pending.cancel.borrow(),
    }))
}

/// Stores the batch's lines step by step (a batch may span steps).
fn append_lines(
    state: &AppState,
    pending: &crate::queue::PendingJob,
    job_id: Id,
    lines: &[AgentLine],
) -> ApiResult<()> {
    let mut rest = lines;
    while let Some(first) = rest.first() {
        let same = rest.iter().take_while(|l| l.step == first.step).count();
        let (chunk, tail) = rest.split_at(same);
        state
            .logs
            .append(pending.run_id, job_id, &pending.job_key, first.step, chunk)
            .map_err(|e| {
                tracing::error!(error = %e, job = job_id, "could not store log lines");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the log could not be stored; send the batch again",
                )
            })?;
        rest = tail;
    }
    Ok(())
}

/// `POST /api/v1/agent/jobs/{job}/finish`
#[utoipa::path(post, path = "/api/v1/agent/jobs/{job}/finish", request_body = FinishRequest,
    params(("job" = i64, Path, description = "job id")),
    responses((status = 204), (status = 409, description = "the agent does not hold the job")),
    security(("token" = [])), tag = "agents")]
pub async fn finish(
    State(state): State<AppState>,
    caller: Caller,
    Path(job_id): Path<Id>,
    ApiJson(request): ApiJson<FinishRequest>,
) -> ApiResult<StatusCode> {
    caller.require_agent()?;
    let job = state.store.job(job_id).await?;
    if job.status != JobStatus::Running || job.agent.as_deref() != Some(request.agent.as_str()) {
        return Err(ApiError::conflict(
            "this agent no longer holds the job (its lease expired or the run ended)",
        ));
    }
    let Some(pending) = state.queue.remove(job_id) else {
        return Err(ApiError::conflict("no run on this server awaits this job"));
    };
    let mut job_outcome = request.outcome;
    if job_outcome.result == JobResult::Skipped {
        job_outcome.result = JobResult::Failure;
        job_outcome.error = Some("the agent reported a skipped job".to_string());
    }
    state
        .metrics
        .job_duration
        .observe(job_outcome.duration_ms as f64 / 1000.0);
    let cases = std::mem::take(&mut job_outcome.test_cases);
    if !cases.is_empty()
        && let Err(error) = state.store.add_test_results(job_id, &cases).await
    {
        // The job's result stands; its per-test history is what is lost.
        tracing::error!(%error, job = job_id, "could not store the job's test results");
    }
    if let Some(release) = &job_outcome.release {
        // Stored before the run can end, so that its release is there when it has.
        crate::routes::releases::record(
            &state,
            pending.run_id,
            &pending.job_key,
            &request.agent,
            release,
        )
        .await;
    }
    if pending.done.send((pending.index, job_outcome)).is_err() {
        tracing::warn!(job = job_id, "the run's driver ended before the job");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Lease expiry: jobs whose agent stopped renewing go back to the queue
/// (while the job's `retry` allows) or fail, so nothing stays "running".
pub async fn expire_leases(state: &AppState) {
    let expired = match state.store.expired_leases(100).await {
        Ok(jobs) => jobs,
        Err(error) => {
            tracing::error!(%error, "cannot read expired leases");
            return;
        }
    };
    for job in expired {
        let pending = state.queue.get(job.id);
        let retries = pending
            .as_ref()
            .and_then(|p| {
                let planned = p.run.plan.jobs.get(p.index)?;
                Some(p.run.pipeline.jobs.get(planned.spec)?.retry)
            })
            .unwrap_or(0);
        let requeue = pending.is_some() && job.attempt <= retries;
        let agent = job.agent.clone().unwrap_or_default();
        let reason = format!("agent `{agent}` stopped renewing its lease (lost or stopped)");
        match state.store.expire_lease(job.id, requeue, &reason).await {
            Ok(Some(job)) => {
                tracing::warn!(job = job.id, requeue, %reason, "lease expired");
                if requeue {
                    let commit = pending
                        .as_ref()
                        .and_then(|p| p.run.options.git.sha.as_deref());
                    state.queue.wake_for(&job.labels, commit);
                } else if let Some(pending) = state.queue.remove(job.id) {
                    let _ = pending
                        .done
                        .send((pending.index, outcome(JobResult::Failure, Some(reason))));
                }
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, job = job.id, "cannot expire a lease"),
        }
    }
}
