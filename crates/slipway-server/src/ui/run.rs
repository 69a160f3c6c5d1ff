//! One run: its header, the job DAG (SVG drawn here), each job's steps with
//! timings, cache verdicts, artifacts and logs, the run's test results
//! (failures first, flaky ones marked), approval gates with their forms, and
//! the Cancel and Retry actions.
//!
//! Reading goes through the store with the checks of the API's handlers
//! (`Caller::require(View)`), or through the handlers themselves (tests,
//! approvals); every form posts to a route here that checks the session's
//! CSRF token and then calls the API's handler with the viewer's caller, so
//! a refusal (403 included) comes from the API's own rule.
//!
//! - [`ansi`]: ANSI colours of a log line as HTML.
//! - [`dag`]: the layered layout and its SVG.
//! - [`logview`]: a step's log a page at a time, search, and its live tail.

pub mod ansi;
pub mod dag;
pub mod logview;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use slipway_api::{ApprovalView, TestResultView};
use slipway_engine::records::{ArtifactKind, ArtifactRecord, CacheStatus, Record};
use slipway_store::sql::{Action, Id, Job, Run, ServerStore, SqlError, SqlStore, Step};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::auth::{Viewer, check_csrf, csrf_field};
use crate::ui::layout::{escape, page};

/// The run page's script and style, embedded.
const RUN_JS: &str = include_str!("run/run.js");
const RUN_CSS: &str = include_str!("run/run.css");
/// Test results listed on the run page (failures come first).
const TESTS_SHOWN: usize = 300;

/// The run page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/runs/{id}/retry", post(retry))
        .route("/runs/{id}/jobs/{job}/approvals", post(vote))
        .route("/runs/{id}/artifacts/{digest}", get(artifact))
        .route(
            "/runs/{id}/jobs/{job}/steps/{step}/log",
            get(logview::log_page),
        )
        .route(
            "/runs/{id}/jobs/{job}/steps/{step}/live",
            get(logview::live),
        )
        .route("/ui/run.js", get(script))
        .route("/ui/run.css", get(style))
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        RUN_JS,
    )
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], RUN_CSS)
}

/// The viewer's caller, for the API's handlers.
pub(crate) fn caller(viewer: &Viewer) -> Caller {
    Caller(viewer.caller.0.clone())
}

/// An API refusal as an HTML page with the same status.
pub(crate) fn error_page(viewer: &Viewer, error: ApiError) -> Response {
    crate::ui::layout::error_page(Some(viewer), error)
}

/// The run, if the viewer may `action` on its project (the check of the
/// API's run handlers), with its project's name.
pub(crate) async fn run_for(
    state: &AppState,
    viewer: &Viewer,
    id: Id,
    action: Action,
) -> Result<(Run, String), ApiError> {
    let run = state
        .store
        .run(id)
        .await
        .map_err(|_| ApiError::not_found(format!("no run with id {id}")))?;
    viewer.caller.require(state, run.project_id, action).await?;
    let project = state.store.project(run.project_id).await?;
    Ok((run, project.name))
}

/// `GET /runs/{id}`
async fn run_page(State(state): State<AppState>, viewer: Viewer, Path(id): Path<Id>) -> Response {
    match render_run(&state, &viewer, id).await {
        Ok(html) => html.into_response(),
        Err(error) => error_page(&viewer, error),
    }
}

/// What the page knows of one job besides its row.
struct JobExtras {
    cache: Option<CacheStatus>,
    /// What the job stored, from its `JobFinished` record.
    artifacts: Vec<ArtifactRecord>,
    /// Whether the job may have test results: it declares `reports:`, or
    /// its pipeline could not be read.
    reports: bool,
    needs: Vec<usize>,
}

async fn render_run(state: &AppState, viewer: &Viewer, id: Id) -> Result<Html<String>, ApiError> {
    let (run, project) = run_for(state, viewer, id, Action::View).await?;
    let may_operate = state
        .store
        .authorize(&viewer.caller.0, run.project_id, Action::Operate)
        .await?;
    let jobs = state.store.list_jobs(run.id).await?;
    let (steps, extras, gates) = tokio::join!(
        all_steps(state, &jobs),
        job_extras(state, &run, &jobs),
        crate::routes::approvals::list(State(state.clone()), caller(viewer), Path(run.id)),
    );
    let (steps, (extras, waiting), axum::Json(gates)) = (steps?, extras?, gates?);
    // Only jobs with `reports:` (or of a pipeline not readable) have tests.
    let reporting: Vec<(Id, &str)> = jobs
        .iter()
        .zip(&extras)
        .filter(|(_, extra)| extra.reports)
        .map(|(job, _)| (job.id, job.key.as_str()))
        .collect();
    let tests = all_tests(state, &reporting).await?;

    let mut body = String::with_capacity(4096 + jobs.len() * 1024);
    body.push_str("<link rel=\"stylesheet\" href=\"/ui/run.css\">");
    header_html(&mut body, &run, &project, may_operate, viewer);
    gates_html(&mut body, state, viewer, &run, &gates).await?;
    let _ = write!(
        body,
        "<section aria-labelledby=\"dag-h\"><h2 id=\"dag-h\">Jobs</h2><div class=\"dag-scroll\">"
    );
    let hrefs: Vec<String> = jobs.iter().map(|j| format!("#job-{}", j.id)).collect();
    let nodes: Vec<dag::Node<'_>> = jobs
        .iter()
        .zip(&extras)
        .zip(&hrefs)
        .map(|((job, extra), href)| dag::Node {
            key: &job.key,
            status: job.status.as_str(),
            href,
            needs: &extra.needs,
        })
        .chain(waiting.iter().map(|planned| dag::Node {
            key: &planned.key,
            status: "waiting",
            href: "#jobs-h",
            needs: &planned.needs,
        }))
        .collect();
    body.push_str(&dag::svg(&nodes));
    body.push_str("</div>");
    let held: Vec<String> = waiting
        .iter()
        .filter_map(|planned| {
            let (group, holder) = state.runs.waiting_for_group(run.id, &planned.key)?;
            Some(format!(
                "<li>{}: waiting, concurrency group <code>{}</code> is held by {}</li>",
                escape(&planned.key),
                escape(&group),
                escape(&holder)
            ))
        })
        .collect();
    if !held.is_empty() {
        let _ = write!(body, "<ul class=\"group-waits\">{}</ul>", held.concat());
    }
    body.push_str("</section>");
    tests_html(&mut body, &tests);
    body.push_str(
        "<section aria-labelledby=\"jobs-h\"><h2 id=\"jobs-h\">Steps, caches and artifacts</h2>",
    );
    for ((job, job_steps), extra) in jobs.iter().zip(&steps).zip(&extras) {
        job_html(&mut body, viewer, &run, job, job_steps, extra, may_operate);
    }
    body.push_str("</section>");
    let _ = write!(
        body,
        "<script src=\"/ui/run.js\" defer></script><div id=\"run-live\" data-run=\"{}\" data-final=\"{}\" hidden></div>",
        run.id,
        run.status.is_final()
    );
    Ok(page(
        &format!("{project} #{}", run.number),
        Some(viewer),
        body,
    ))
}

/// Tasks reading steps and test results: a run page of a thousand jobs
/// makes two thousand small queries, spread over the store's connections.
const READERS: usize = 4;

/// Each job's steps, in the order of `jobs`.
async fn all_steps(state: &AppState, jobs: &[Job]) -> Result<Vec<Vec<Step>>, ApiError> {
    let ids: Vec<Id> = jobs.iter().map(|j| j.id).collect();
    spread(state, &ids, |store, id| async move {
        store.list_steps(id).await
    })
    .await
}

/// The test results of the jobs in `jobs` (id and key), as
/// `GET /api/v1/runs/{id}/tests` shows them (after the same check).
async fn all_tests(state: &AppState, jobs: &[(Id, &str)]) -> Result<Vec<TestResultView>, ApiError> {
    let ids: Vec<Id> = jobs.iter().map(|j| j.0).collect();
    let results = spread(state, &ids, |store, id| async move {
        store.test_results(id).await
    })
    .await?;
    let mut views = Vec::new();
    for ((_, key), results) in jobs.iter().zip(results) {
        views.extend(
            results
                .into_iter()
                .map(|r| crate::routes::runs::test_view(key, r)),
        );
    }
    Ok(views)
}

/// `read(store, id)` for every id, spread over [`READERS`] tasks (a run
/// page of a thousand jobs makes a thousand small queries: they go over
/// the store's several connections at once); the answers in the order of
/// `ids`.
async fn spread<T, F, Fut>(state: &AppState, ids: &[Id], read: F) -> Result<Vec<T>, ApiError>
where
    T: Send + 'static,
    F: Fn(Arc<SqlStore>, Id) -> Fut + Send + Copy + 'static,
    Fut: Future<Output = Result<T, SqlError>> + Send,
{
    let per_reader = ids.len().div_ceil(READERS).max(1);
    let mut readers = tokio::task::JoinSet::new();
    for (n, chunk) in ids.chunks(per_reader).enumerate() {
        let chunk = chunk.to_vec();
        let store = state.store.clone();
        readers.spawn(async move {
            let mut answers = Vec::with_capacity(chunk.len());
            for id in chunk {
                answers.push(read(store.clone(), id).await?);
            }
            Ok::<_, SqlError>((n, answers))
        });
    }
    let mut parts = Vec::with_capacity(READERS);
    while let Some(done) = readers.join_next().await {
        parts.push(done.map_err(|_| ApiError::internal("a reading task failed"))??);
    }
    parts.sort_by_key(|part| part.0);
    Ok(parts.into_iter().flat_map(|part| part.1).collect())
}

/// A job of the plan the run has not created yet (it waits for others).
struct Planned {
    key: String,
    /// Nodes of the DAG it needs.
    needs: Vec<usize>,
}

/// Needs (from the run's plan) and cache verdicts (from its records), by
/// the order of `jobs`.
async fn job_extras(
    state: &AppState,
    run: &Run,
    jobs: &[Job],
) -> Result<(Vec<JobExtras>, Vec<Planned>), ApiError> {
    let mut extras: Vec<JobExtras> = jobs
        .iter()
        .map(|_| JobExtras {
            cache: None,
            artifacts: Vec::new(),
            needs: Vec::new(),
            reports: true,
        })
        .collect();
    let by_key: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.key.as_str(), i))
        .collect();
    let Some((file, source)) = state.store.run_pipeline(run.id).await? else {
        return Ok((extras, Vec::new()));
    };
    let Ok(pipeline) = slipway_spec::parse_pipeline(&source, &file) else {
        return Ok((extras, Vec::new()));
    };
    let plan = slipway_engine::Plan::new(&pipeline);
    // Plan index → index in `jobs`.
    let rows: Vec<Option<usize>> = plan
        .jobs
        .iter()
        .map(|p| by_key.get(p.key.as_str()).copied())
        .collect();
    // Plan index → node of the DAG: the stored jobs, then the planned ones
    // not created yet.
    let mut next_node = jobs.len();
    let nodes: Vec<usize> = rows
        .iter()
        .map(|row| {
            row.unwrap_or_else(|| {
                next_node += 1;
                next_node - 1
            })
        })
        .collect();
    let node_needs = |planned: &slipway_engine::plan::PlannedJob| -> Vec<usize> {
        planned
            .needs
            .iter()
            .filter_map(|n| nodes.get(*n).copied())
            .collect()
    };
    let mut waiting = Vec::new();
    for (planned, row) in plan.jobs.iter().zip(&rows) {
        if row.is_none() {
            waiting.push(Planned {
                key: planned.key.clone(),
                needs: node_needs(planned),
            });
        }
        if let Some(row) = row {
            extras[*row].reports = pipeline
                .jobs
                .get(planned.spec)
                .is_none_or(|spec| !spec.reports.junit.is_empty());
            extras[*row].needs = node_needs(planned);
        }
    }
    for stored in state.store.records(run.id, 0).await? {
        if let Record::JobFinished {
            job,
            cache,
            artifacts,
            ..
        } = stored.record
            && let Some(Some(row)) = rows.get(job)
        {
            extras[*row].cache = Some(cache);
            extras[*row].artifacts = artifacts;
        }
    }
    Ok((extras, waiting))
}

fn when(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => {
            let secs = ms.div_euclid(1000);
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            )
        }
        None => "—".to_string(),
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `1m 05s`, `3.2s`, or `—` when it has not both ends (`running` when it
/// started and has not ended).
fn duration(started: Option<i64>, finished: Option<i64>) -> String {
    match (started, finished) {
        (Some(s), Some(f)) => {
            let ms = (f - s).max(0);
            if ms < 60_000 {
                format!("{:.1}s", ms as f64 / 1000.0)
            } else {
                format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1000)
            }
        }
        (Some(_), None) => "running".to_string(),
        _ => "—".to_string(),
    }
}

fn status_badge(status: &str) -> String {
    format!(
        "<span class=\"badge s-{}\">{} {}</span>",
        dag::status_class(status),
        dag::status_symbol(status),
        escape(status)
    )
}

fn header_html(out: &mut String, run: &Run, project: &str, may_operate: bool, viewer: &Viewer) {
    let _ = write!(
        out,
        "<h1>{project} <span class=\"num\">#{number}</span> {badge}</h1><dl class=\"facts\">\
         <dt>Project</dt><dd><a href=\"/projects/{project_path}\">{project}</a></dd>\
         <dt>Status</dt><dd id=\"run-status\">{status}</dd>\
         <dt>Trigger</dt><dd>{trigger}{by}</dd>\
         <dt>Branch</dt><dd>{branch}</dd>\
         <dt>Commit</dt><dd><code>{commit}</code></dd>\
         <dt>Started</dt><dd>{started}</dd>\
         <dt>Duration</dt><dd>{duration}</dd></dl>",
        project = escape(project),
        project_path = percent(project),
        number = run.number,
        badge = status_badge(run.status.as_str()),
        status = escape(run.status.as_str()),
        trigger = escape(&run.trigger),
        by = run
            .triggered_by
            .as_deref()
            .map(|u| format!(" by {}", escape(u)))
            .unwrap_or_default(),
        branch = escape(run.branch.as_deref().or(run.tag.as_deref()).unwrap_or("—")),
        commit = escape(run.commit_sha.as_deref().unwrap_or("—")),
        started = when(run.started_ms),
        duration = duration(run.started_ms, run.finished_ms),
    );
    if let Some(reason) = &run.reason {
        let _ = write!(out, "<p class=\"reason\">{}</p>", escape(reason));
    }
    if may_operate && !run.status.is_final() {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/runs/{id}/cancel\" class=\"inline\">{csrf}\
             <button type=\"submit\" class=\"danger\">Cancel run</button></form>",
            id = run.id,
            csrf = csrf_field(viewer),
        );
    }
}

async fn gates_html(
    out: &mut String,
    state: &AppState,
    viewer: &Viewer,
    run: &Run,
    gates: &[ApprovalView],
) -> Result<(), ApiError> {
    if gates.is_empty() {
        return Ok(());
    }
    out.push_str("<section aria-labelledby=\"gates-h\"><h2 id=\"gates-h\">Approvals</h2>");
    for (n, gate) in gates.iter().enumerate() {
        let name = if gate.gate.is_empty() {
            "approval"
        } else {
            gate.gate.as_str()
        };
        let _ = write!(
            out,
            "<article class=\"gate\" id=\"gate-{n}\"><h3>{job} — {name} {badge}</h3>\
             <p>{votes} of {required} approvals; approvers: {approvers}; deadline {deadline}</p>",
            job = escape(&gate.job),
            name = escape(name),
            badge = status_badge(&gate.state),
            votes = gate.votes.iter().filter(|v| v.approved).count(),
            required = gate.required,
            approvers = escape(&gate.approvers.join(", ")),
            deadline = when(Some(gate.deadline_ms)),
        );
        if let Some(message) = &gate.message {
            let _ = write!(
                out,
                "<blockquote class=\"gate-message\">{}</blockquote>",
                escape(message)
            );
        }
        if !gate.votes.is_empty() {
            out.push_str("<ul class=\"votes\">");
            for vote in &gate.votes {
                let _ = write!(
                    out,
                    "<li>{} {}{}</li>",
                    escape(&vote.user),
                    if vote.approved {
                        "approved"
                    } else {
                        "rejected"
                    },
                    vote.comment
                        .as_deref()
                        .map(|c| format!(": {}", escape(c)))
                        .unwrap_or_default()
                );
            }
            out.push_str("</ul>");
        }
        if let Some(reason) = &gate.reason {
            let _ = write!(out, "<p>{}</p>", escape(reason));
        }
        if gate.state == "pending" {
            let rules = crate::routes::approvals::voting_rules(
                state,
                &viewer.caller,
                run,
                &gate.job,
                &gate.gate,
            )
            .await?;
            match &rules.refusal {
                Some(why) => {
                    let _ = write!(
                        out,
                        "<p class=\"note\">You cannot vote: {}</p>",
                        escape(why)
                    );
                }
                None => vote_form(out, viewer, run, gate, n, &rules),
            }
        }
        out.push_str("</article>");
    }
    out.push_str("</section>");
    Ok(())
}

fn vote_form(
    out: &mut String,
    viewer: &Viewer,
    run: &Run,
    gate: &ApprovalView,
    n: usize,
    rules: &crate::routes::approvals::VotingRules,
) {
    use slipway_spec::model::InputKind;
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/runs/{id}/jobs/{job}/approvals\" class=\"vote\">{csrf}\
         <input type=\"hidden\" name=\"gate\" value=\"{gate}\">\
         <label for=\"comment-{n}\">Comment</label>\
         <textarea id=\"comment-{n}\" name=\"comment\" rows=\"2\"></textarea>",
        id = run.id,
        job = percent(&gate.job),
        csrf = csrf_field(viewer),
        gate = escape(&gate.gate),
    );
    for (i, input) in rules.approval.inputs.iter().enumerate() {
        let field = format!("in-{n}-{i}");
        let name = escape(&format!("input.{}", input.name));
        let default = input.default.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let _ = write!(
            out,
            "<label for=\"{field}\">{}{}{}</label>",
            escape(&input.name),
            if input.required { " (required)" } else { "" },
            input
                .description
                .as_deref()
                .map(|d| format!(" — {}", escape(d)))
                .unwrap_or_default()
        );
        match &input.kind {
            InputKind::Boolean => {
                let _ = write!(
                    out,
                    "<select id=\"{field}\" name=\"{name}\"><option value=\"\"></option>\
                     <option{}>true</option><option{}>false</option></select>",
                    if default.as_deref() == Some("true") {
                        " selected"
                    } else {
                        ""
                    },
                    if default.as_deref() == Some("false") {
                        " selected"
                    } else {
                        ""
                    },
                );
            }
            InputKind::Choice(options) => {
                let _ = write!(out, "<select id=\"{field}\" name=\"{name}\">");
                for option in options {
                    let _ = write!(
                        out,
                        "<option{}>{}</option>",
                        if default.as_deref() == Some(option.as_str()) {
                            " selected"
                        } else {
                            ""
                        },
                        escape(option)
                    );
                }
                out.push_str("</select>");
            }
            InputKind::Number | InputKind::String => {
                let _ = write!(
                    out,
                    "<input id=\"{field}\" name=\"{name}\" type=\"{}\" step=\"any\" value=\"{}\"{}>",
                    if input.kind == InputKind::Number {
                        "number"
                    } else {
                        "text"
                    },
                    escape(default.as_deref().unwrap_or("")),
                    if input.required { " required" } else { "" },
                );
            }
        }
    }
    if rules.may_approve {
        out.push_str(
            "<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> ",
        );
    } else {
        out.push_str("<p class=\"note\">Self-approval is off: someone else must approve.</p>");
    }
    out.push_str("<button type=\"submit\" name=\"decision\" value=\"reject\" class=\"danger\">Reject</button></form>");
}

fn tests_html(out: &mut String, tests: &[TestResultView]) {
    if tests.is_empty() {
        return;
    }
    fn rank(outcome: &str) -> u8 {
        match outcome {
            "failed" | "errored" => 0,
            "flaky" => 1,
            "passed" => 2,
            _ => 3,
        }
    }
    let mut order: Vec<&TestResultView> = tests.iter().collect();
    order.sort_by_key(|t| {
        (
            rank(&t.outcome),
            t.job.as_str(),
            t.suite.as_str(),
            t.name.as_str(),
        )
    });
    let count = |r: u8| tests.iter().filter(|t| rank(&t.outcome) == r).count();
    let flaky = tests
        .iter()
        .filter(|t| t.outcome == "flaky" || t.flaky_attempts > 0)
        .count();
    let _ = write!(
        out,
        "<section aria-labelledby=\"tests-h\"><h2 id=\"tests-h\">Tests</h2>\
         <p>{} failed, {flaky} flaky, {} passed, {} skipped</p>\
         <table class=\"tests\"><thead><tr><th scope=\"col\">Result</th><th scope=\"col\">Test</th>\
         <th scope=\"col\">Job</th><th scope=\"col\">Time</th></tr></thead><tbody>",
        count(0),
        count(2),
        count(3),
    );
    for (n, test) in order.iter().take(TESTS_SHOWN).enumerate() {
        let is_flaky = test.outcome == "flaky" || test.flaky_attempts > 0;
        let _ = write!(
            out,
            "<tr class=\"t-{outcome}\" id=\"test-{n}\"><td>{badge}{flaky}</td><td>",
            outcome = dag::status_class(&test.outcome),
            badge = status_badge(&test.outcome),
            flaky = if is_flaky {
                format!(
                    " <span class=\"flaky\" title=\"failed {} time(s) before passing, or marked flaky\">flaky</span>",
                    test.flaky_attempts
                )
            } else {
                String::new()
            },
        );
        let full = format!("{} › {} › {}", test.suite, test.classname, test.name);
        match &test.message {
            Some(message) if rank(&test.outcome) <= 1 => {
                let _ = write!(
                    out,
                    "<details><summary>{}</summary><pre class=\"failure\">{}</pre></details>",
                    escape(&full),
                    escape(message)
                );
            }
            _ => out.push_str(&escape(&full)),
        }
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td></tr>",
            escape(&test.job),
            test.time_seconds
                .map(|t| format!("{t:.3}s"))
                .unwrap_or_default()
        );
    }
    out.push_str("</tbody></table>");
    if tests.len() > TESTS_SHOWN {
        let _ = write!(
            out,
            "<p>{} more (passing or skipped) not listed.</p>",
            tests.len() - TESTS_SHOWN
        );
    }
    out.push_str("</section>");
}

#[allow(clippy::too_many_arguments)]
fn job_html(
    out: &mut String,
    viewer: &Viewer,
    run: &Run,
    job: &Job,
    steps: &[Step],
    extra: &JobExtras,
    may_operate: bool,
) {
    let _ = write!(
        out,
        "<article class=\"job\" id=\"job-{id}\" data-job=\"{id}\"><h3>{key} {badge}</h3>\
         <p class=\"meta\">attempt {attempt}{agent} · {duration}{reason}</p>",
        id = job.id,
        key = escape(&job.key),
        badge = status_badge(job.status.as_str()),
        attempt = job.attempt,
        agent = job
            .agent
            .as_deref()
            .map(|a| format!(" on {}", escape(a)))
            .unwrap_or_default(),
        duration = duration(job.started_ms, job.finished_ms),
        reason = job
            .reason
            .as_deref()
            .map(|r| format!(" · {}", escape(r)))
            .unwrap_or_default(),
    );
    match &extra.cache {
        Some(CacheStatus::Hit { key }) => {
            let _ = write!(
                out,
                "<p class=\"cache hit\">Cache hit (key <code>{}</code>): steps restored, not run.</p>",
                escape(key.short())
            );
        }
        Some(CacheStatus::Miss { key, reasons }) => {
            let _ = write!(
                out,
                "<p class=\"cache miss\">Cache miss (key <code>{}</code>)",
                escape(key.short())
            );
            if reasons.is_empty() {
                out.push_str(": no earlier entry.</p>");
            } else {
                out.push_str(":</p><ul class=\"reasons\">");
                for reason in reasons {
                    let _ = write!(out, "<li>{}</li>", escape(reason));
                }
                out.push_str("</ul>");
            }
        }
        Some(CacheStatus::Uncached) => {
            out.push_str("<p class=\"cache\">Not cached (no <code>inputs:</code>).</p>")
        }
        None => {}
    }
    if !steps.is_empty() {
        out.push_str("<table class=\"steps\"><thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Status</th>\
            <th scope=\"col\">Exit</th><th scope=\"col\">Duration</th><th scope=\"col\">Log</th></tr></thead><tbody>");
        for step in steps {
            let _ = write!(
                out,
                "<tr><td>{name}</td><td>{badge}</td><td>{exit}</td><td>{duration}</td>\
                 <td><a href=\"/runs/{run}/jobs/{job}/steps/{index}/log?at=last\" class=\"log-link\" \
                 data-step=\"{index}\">log of step {n}</a></td></tr>",
                name = escape(&step.name),
                badge = status_badge(step.status.as_str()),
                exit = step.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                duration = duration(step.started_ms, step.finished_ms),
                run = run.id,
                job = job.id,
                index = step.index,
                n = step.index + 1,
            );
        }
        out.push_str("</tbody></table>");
    }
    let artifacts = &extra.artifacts;
    if !artifacts.is_empty() {
        out.push_str("<table class=\"artifacts\"><caption>Artifacts</caption><thead><tr><th scope=\"col\">Name</th>\
            <th scope=\"col\">Path</th><th scope=\"col\">Size</th><th scope=\"col\">Digest (BLAKE3)</th></tr></thead><tbody>");
        for artifact in artifacts {
            let _ = write!(
                out,
                "<tr><td><a href=\"/runs/{run}/artifacts/{digest}\" download=\"{file}\">{name}</a></td>\
                 <td>{path}</td><td>{size} bytes{kind}</td><td><code>{digest}</code></td></tr>",
                run = run.id,
                digest = escape(&artifact.digest.0),
                file = escape(artifact.path.rsplit('/').next().unwrap_or(&artifact.name)),
                name = escape(&artifact.name),
                path = escape(&artifact.path),
                size = artifact.size,
                kind = if artifact.kind == ArtifactKind::Directory {
                    " (directory manifest)"
                } else {
                    ""
                },
            );
        }
        out.push_str("</tbody></table>");
    }
    if may_operate && run.status.is_final() && job.status.as_str() != "succeeded" {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/runs/{run}/retry\" class=\"inline\">{csrf}\
             <input type=\"hidden\" name=\"job\" value=\"{key}\">\
             <button type=\"submit\">Retry {key}</button></form>",
            run = run.id,
            csrf = csrf_field(viewer),
            key = escape(&job.key),
        );
    }
    out.push_str("</article>");
}

/// Percent-encodes a path segment (job keys have spaces, parentheses, …).
pub(crate) fn percent(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The CSRF token of a posted form, and everything else it holds.
fn form_csrf(fields: &[(String, String)]) -> &str {
    field(fields, "csrf").unwrap_or("")
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// 403 unless the form carries the session's CSRF token.
fn csrf_ok(viewer: &Viewer, fields: &[(String, String)]) -> Result<(), ApiError> {
    check_csrf(viewer, form_csrf(fields))
}

/// `POST /runs/{id}/cancel`
async fn cancel(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Id>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let done = async {
        csrf_ok(&viewer, &fields)?;
        let _cancelled =
            crate::routes::runs::cancel(State(state.clone()), caller(&viewer), Path(id)).await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/runs/{id}")))
    };
    match done.await {
        Ok(redirect) => redirect.into_response(),
        Err(error) => error_page(&viewer, error),
    }
}

/// `POST /runs/{id}/retry`: a new run with the job (field `job`) run again,
/// or every job that did not succeed.
async fn retry(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Id>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let done = async {
        csrf_ok(&viewer, &fields)?;
        let jobs: Vec<String> = fields
            .iter()
            .filter(|(k, _)| k == "job")
            .map(|(_, v)| v.clone())
            .collect();
        let request = serde_json::json!({ "jobs": jobs });
        let body = axum::body::Bytes::from(request.to_string());
        let (_, axum::Json(new)) =
            crate::routes::runs::retry(State(state.clone()), caller(&viewer), Path(id), body)
                .await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/runs/{}", new.id)))
    };
    match done.await {
        Ok(redirect) => redirect.into_response(),
        Err(error) => error_page(&viewer, error),
    }
}

/// `POST /runs/{id}/jobs/{job}/approvals`: fields `decision` (approve or
/// reject), `comment`, `gate`, and `input.NAME` for the typed inputs.
async fn vote(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, job)): Path<(Id, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let done = async {
        csrf_ok(&viewer, &fields)?;
        let approve = match field(&fields, "decision") {
            Some("approve") => true,
            Some("reject") => false,
            _ => return Err(ApiError::bad_request("the form must say approve or reject")),
        };
        let mut inputs = serde_json::Map::new();
        for (key, value) in &fields {
            // An empty field is an input not given (its default applies).
            if let Some(name) = key.strip_prefix("input.")
                && !value.is_empty()
            {
                inputs.insert(name.to_string(), serde_json::Value::String(value.clone()));
            }
        }
        let request = slipway_api::ApprovalVoteRequest {
            approve,
            comment: field(&fields, "comment")
                .filter(|c| !c.trim().is_empty())
                .map(str::to_string),
            inputs,
            gate: field(&fields, "gate").unwrap_or("").to_string(),
        };
        let _gate = crate::routes::approvals::vote(
            State(state.clone()),
            caller(&viewer),
            Path((id, job)),
            crate::json::ApiJson(request),
        )
        .await?;
        Ok::<_, ApiError>(Redirect::to(&format!("/runs/{id}")))
    };
    match done.await {
        Ok(redirect) => redirect.into_response(),
        Err(error) => error_page(&viewer, error),
    }
}

/// `GET /runs/{id}/artifacts/{digest}`: an artifact of the run, for a
/// viewer who may read the run. Only digests the run's jobs stored are
/// served, so a digest from elsewhere reveals nothing.
async fn artifact(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, digest)): Path<(Id, String)>,
) -> Response {
    let done = async {
        let (run, _) = run_for(&state, &viewer, id, Action::View).await?;
        let mut found = state
            .store
            .records(run.id, 0)
            .await?
            .into_iter()
            .find_map(|stored| match stored.record {
                Record::JobFinished { artifacts, .. } => {
                    artifacts.into_iter().find(|a| a.digest.0 == digest)
                }
                _ => None,
            });
        if found.is_none() {
            for job in state.store.list_jobs(run.id).await? {
                found = state
                    .store
                    .artifacts(job.id)
                    .await?
                    .into_iter()
                    .find(|a| a.digest.0 == digest);
                if found.is_some() {
                    break;
                }
            }
        }
        let artifact = found
            .ok_or_else(|| ApiError::not_found("this run has no artifact with that digest"))?;
        let file = state
            .objects
            .open_object(&artifact.digest)
            .map_err(|_| ApiError::not_found("the artifact's bytes are not on the server"))?;
        let name = artifact
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&artifact.name)
            .replace(
                |c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)),
                "_",
            );
        let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
        Ok::<_, ApiError>(
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                Body::from_stream(stream),
            )
                .into_response(),
        )
    };
    match done.await {
        Ok(response) => response,
        Err(error) => error_page(&viewer, error),
    }
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, duration, percent};

    #[test]
    fn dates_and_durations() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(duration(Some(0), Some(3_200)), "3.2s");
        assert_eq!(duration(Some(0), Some(65_000)), "1m 05s");
        assert_eq!(duration(Some(5), None), "running");
        assert_eq!(duration(None, None), "—");
        assert_eq!(duration(Some(10), Some(0)), "0.0s");
    }

    #[test]
    fn job_keys_are_percent_encoded() {
        assert_eq!(
            percent("test (linux, 1.80)"),
            "test%20%28linux%2C%201.80%29"
        );
        assert_eq!(percent("a/../b"), "a%2F..%2Fb");
    }
}
