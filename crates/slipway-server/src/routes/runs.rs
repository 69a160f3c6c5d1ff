//! Runs: list, detail, cancel, retry, and live logs over Server-Sent Events.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;
use slipway_api::{JobView, LogEvent, RetryRequest, RunDetail, RunView, StepView};
use slipway_logs::Stream as LogStream;
use slipway_logs::live::{Cursor, LiveStream};
use slipway_store::sql::{Action, Id, Run, RunFilter, RunStatus, ServerStore, SqlError};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::driver::RetryError;
use crate::error::{ApiError, ApiResult};
use crate::routes::projects::{audit, project_for};
use crate::state::AppState;

pub fn run_view(project: &str, run: Run) -> RunView {
    RunView {
        id: run.id,
        project: project.to_string(),
        number: run.number,
        status: run.status.as_str().to_string(),
        reason: run.reason,
        trigger: run.trigger,
        branch: run.branch,
        tag: run.tag,
        commit: run.commit_sha,
        created_ms: run.created_ms,
        started_ms: run.started_ms,
        finished_ms: run.finished_ms,
    }
}

/// `GET /api/v1/runs` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RunsQuery {
    /// Only this project's runs.
    pub project: Option<String>,
    /// queued, running, succeeded, failed, cancelled.
    pub status: Option<String>,
    pub branch: Option<String>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<u32>,
    /// Runs below this id (the next page).
    pub before: Option<i64>,
}

/// `GET /api/v1/runs`
#[utoipa::path(get, path = "/api/v1/runs", params(RunsQuery),
    responses((status = 200, body = Vec<RunView>)), security(("token" = [])), tag = "runs")]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<RunsQuery>,
) -> ApiResult<Json<Vec<RunView>>> {
    let status = match query.status.as_deref() {
        Some(s) => Some(RunStatus::parse(s)?),
        None => None,
    };
    let filter = RunFilter {
        status,
        branch: query.branch,
        before_number: query.before,
        limit: query.limit.unwrap_or(50).min(1000),
    };
    let project_id = match &query.project {
        Some(name) => Some(project_for(&state, &caller, name, Action::View).await?.id),
        None => None,
    };
    let runs = state.store.list_all_runs(project_id, &filter).await?;
    let mut names: HashMap<Id, Option<String>> = HashMap::new();
    let mut views = Vec::with_capacity(runs.len());
    for run in runs {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(run.project_id) {
            let visible = state
                .store
                .authorize(&caller.0, run.project_id, Action::View)
                .await?;
            let name = if visible {
                Some(state.store.project(run.project_id).await?.name)
            } else {
                None
            };
            slot.insert(name);
        }
        if let Some(Some(name)) = names.get(&run.project_id) {
            views.push(run_view(name, run));
        }
    }
    Ok(Json(views))
}

/// The run, if the caller may `action` on its project.
async fn run_for(
    state: &AppState,
    caller: &Caller,
    id: Id,
    action: Action,
) -> ApiResult<(Run, String)> {
    let run = state
        .store
        .run(id)
        .await
        .map_err(|_| ApiError::not_found(format!("no run with id {id}")))?;
    caller.require(state, run.project_id, action).await?;
    let project = state.store.project(run.project_id).await?;
    Ok((run, project.name))
}

/// `GET /api/v1/runs/{id}`
#[utoipa::path(get, path = "/api/v1/runs/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = RunDetail)), security(("token" = [])), tag = "runs")]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Id>,
) -> ApiResult<Json<RunDetail>> {
    let (run, project) = run_for(&state, &caller, id, Action::View).await?;
    let mut jobs = Vec::new();
    for job in state.store.list_jobs(run.id).await? {
        let steps = state
            .store
            .list_steps(job.id)
            .await?
            .into_iter()
            .map(|s| StepView {
                index: s.index,
                name: s.name,
                status: s.status.as_str().to_string(),
                exit_code: s.exit_code,
            })
            .collect();
        jobs.push(JobView {
            id: job.id,
            key: job.key,
            status: job.status.as_str().to_string(),
            agent: job.agent,
            attempt: job.attempt,
            reason: job.reason,
            queued_ms: job.queued_ms,
            started_ms: job.started_ms,
            finished_ms: job.finished_ms,
            steps,
        });
    }
    Ok(Json(RunDetail {
        run: run_view(&project, run),
        jobs,
    }))
}

/// `POST /api/v1/runs/{id}/cancel`
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", params(("id" = i64, Path)),
    responses((status = 200, body = RunView)), security(("token" = [])), tag = "runs")]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Id>,
) -> ApiResult<Json<RunView>> {
    let (run, project) = run_for(&state, &caller, id, Action::Operate).await?;
    let run = state.runs.cancel(run.id).await?;
    audit(
        &state,
        &caller,
        "run.cancel",
        format!("project:{project}/run:{}", run.number),
        serde_json::json!({}),
    )
    .await;
    Ok(Json(run_view(&project, run)))
}

/// `POST /api/v1/runs/{id}/retry`: a new run keeping the results of the
/// jobs that passed.
#[utoipa::path(post, path = "/api/v1/runs/{id}/retry", params(("id" = i64, Path)), request_body = RetryRequest,
    responses((status = 201, body = RunView), (status = 409, description = "the run has not finished")),
    security(("token" = [])), tag = "runs")]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Id>,
    body: axum::body::Bytes,
) -> ApiResult<(axum::http::StatusCode, Json<RunView>)> {
    // The body is optional: none retries every job that did not succeed.
    let request: RetryRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RetryRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?
    };
    let (run, project) = run_for(&state, &caller, id, Action::Operate).await?;
    let new = state
        .runs
        .retry(run.id, &request.jobs, Some(caller.0.user_name.clone()))
        .await
        .map_err(|error| match error {
            RetryError::Sql(e) => ApiError::from(e),
            RetryError::NotFinished => ApiError::conflict(error.to_string()),
            RetryError::UnknownJob(_) => ApiError::not_found(error.to_string()),
            other => ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                other.to_string(),
            ),
        })?;
    audit(
        &state,
        &caller,
        "run.retry",
        format!("project:{project}/run:{}", run.number),
        serde_json::json!({ "jobs": request.jobs, "new_run": new.id }),
    )
    .await;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(run_view(&project, new)),
    ))
}

/// `GET /api/v1/runs/{id}/logs` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsQuery {
    /// A job's key (or its name when it has a single instance); all jobs when absent.
    pub job: Option<String>,
    /// Keep the stream open for new lines until the run ends (default false).
    #[serde(default)]
    pub follow: bool,
}

/// `GET /api/v1/runs/{id}/logs`: Server-Sent Events, one [`LogEvent`] per
/// line, each with an `id:` to resume from with `Last-Event-ID`; a last
/// `end` event when everything was sent.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs", params(("id" = i64, Path), LogsQuery),
    responses((status = 200, content_type = "text/event-stream", body = LogEvent)),
    security(("token" = [])), tag = "runs")]
pub async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Id>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<axum::response::sse::KeepAliveStream<SseLines>>> {
    let (run, _) = run_for(&state, &caller, id, Action::View).await?;
    let job = match &query.job {
        None => None,
        Some(key) => Some(find_job(&state, run.id, key).await?),
    };
    let cursor = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(text) if !text.is_empty() => {
            Cursor::parse(text).map_err(|e| ApiError::bad_request(format!("Last-Event-ID: {e}")))?
        }
        _ => Cursor::new(),
    };
    let follow = query.follow && !run.status.is_final();
    let lines = state.logs.stream(run.id, job, cursor.clone(), follow);
    Ok(Sse::new(SseLines {
        lines,
        cursor,
        ended: false,
    })
    .keep_alive(KeepAlive::default()))
}

async fn find_job(state: &AppState, run: Id, key: &str) -> ApiResult<Id> {
    match state.store.job_by_key(run, key).await {
        Ok(job) => return Ok(job.id),
        Err(SqlError::NotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    let jobs = state.store.list_jobs(run).await?;
    let prefix = format!("{key} (");
    let mut matching = jobs.iter().filter(|j| j.key.starts_with(&prefix));
    match (matching.next(), matching.next()) {
        (Some(job), None) => Ok(job.id),
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "`{}` has several instances in this run; name one by its key",
            key.escape_debug()
        ))),
        _ => Err(ApiError::not_found(format!(
            "the run has no job `{}` (yet)",
            key.escape_debug()
        ))),
    }
}

/// Log lines as server-sent events.
pub struct SseLines {
    lines: LiveStream,
    cursor: Cursor,
    ended: bool,
}

impl futures_core::Stream for SseLines {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.lines).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(line))) => {
                self.cursor.advance(&line);
                let event = LogEvent {
                    job: line.job_key.to_string(),
                    step: line.step,
                    line: line.line,
                    stream: if line.stream == LogStream::Stderr {
                        'e'
                    } else {
                        'o'
                    },
                    ts_ms: line.ts_ms,
                    text: String::from_utf8_lossy(&line.text).into_owned(),
                };
                let data = serde_json::to_string(&event).unwrap_or_default();
                Poll::Ready(Some(Ok(Event::default()
                    .id(self.cursor.encode())
                    .data(data))))
            }
            Poll::Ready(Some(Err(error))) => {
                self.ended = true;
                tracing::warn!(%error, "log stream failed");
                Poll::Ready(Some(Ok(Event::default()
                    .event("error")
                    .data("the log could not be read"))))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(Ok(Event::default().event("end").data("{}"))))
            }
        }
    }
}

/// `GET /api/v1/runs/{id}/tests`: every test case result of the run's jobs.
#[utoipa::path(get, path = "/api/v1/runs/{id}/tests", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<slipway_api::TestResultView>)), security(("token" = [])), tag = "runs")]
pub async fn tests(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Id>,
) -> ApiResult<Json<Vec<slipway_api::TestResultView>>> {
    let (run, _) = run_for(&state, &caller, id, Action::View).await?;
    let mut views = Vec::new();
    for job in state.store.list_jobs(run.id).await? {
        for result in state.store.test_results(job.id).await? {
            views.push(test_view(&job.key, result));
        }
    }
    Ok(Json(views))
}

/// A stored test result as the API shows it (also the web UI's run page).
pub(crate) fn test_view(
    job_key: &str,
    result: slipway_store::sql::TestResult,
) -> slipway_api::TestResultView {
    slipway_api::TestResultView {
        job: job_key.to_string(),
        suite: result.test.suite,
        classname: result.test.classname,
        name: result.test.name,
        outcome: outcome_name(result.outcome).to_string(),
        time_seconds: result.time_seconds,
        message: result.message,
        flaky_attempts: result.flaky_attempts,
    }
}

fn outcome_name(outcome: slipway_reports::Outcome) -> &'static str {
    use slipway_reports::Outcome;
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Errored => "errored",
        Outcome::Skipped => "skipped",
        Outcome::Flaky => "flaky",
    }
}

/// `GET /api/v1/projects/{project}/flaky`: tests that passed and failed on
/// one commit, or that a runner marked flaky.
#[utoipa::path(get, path = "/api/v1/projects/{project}/flaky", params(("project" = String, Path)),
    responses((status = 200, body = Vec<slipway_api::FlakyView>)), security(("token" = [])), tag = "projects")]
pub async fn flaky(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<slipway_api::FlakyView>>> {
    let project = project_for(&state, &caller, &project, Action::View).await?;
    let views = state
        .store
        .flaky_tests(project.id)
        .await?
        .into_iter()
        .map(|flaky| slipway_api::FlakyView {
            suite: flaky.test.suite,
            classname: flaky.test.classname,
            name: flaky.test.name,
            reason: match flaky.reason {
                slipway_store::sql::FlakyReason::PassedAndFailedOn { commit_sha } => {
                    format!("passed and failed on commit {commit_sha}")
                }
                slipway_store::sql::FlakyReason::MarkedFlaky => {
                    "marked flaky by the runner".to_string()
                }
            },
            results: flaky.results,
        })
        .collect();
    Ok(Json(views))
}
