//! Projects and their runs: `/` lists the projects the viewer may see with
//! their last run; `/projects/{p}` lists a project's runs (filters by
//! status and branch, pages of [`PAGE_SIZE`], live updates by re-fetching
//! the table fragment `/projects/{p}/runs-table`) and offers the "Trigger a
//! run" form to those whose role allows it, posting to
//! `/projects/{p}/trigger`, which checks CSRF and calls the API's trigger
//! handler (its role rule, input checks and audit).

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value};
use slipway_api::TriggerRequest;
use slipway_spec::{InputKind, ManualInput};
use slipway_store::sql::{Action, Project, Run, RunFilter, RunStatus, ServerStore};

use super::assets::PAGES_JS_PATH;
use super::auth::{Viewer, check_csrf, csrf_field, see_other};
use super::layout::{error_page, escape, page};
use super::session::encode_query_value;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::routes::projects::{self, project_for};
use crate::state::AppState;

/// Runs per page of a project's list.
pub const PAGE_SIZE: u32 = 25;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(projects_page))
        .route("/projects/{project}", get(project_page))
        .route("/projects/{project}/runs-table", get(runs_fragment))
        .route("/projects/{project}/trigger", post(trigger))
}

async fn projects_page(State(state): State<AppState>, viewer: Viewer) -> Response {
    match projects_body(&state, &viewer).await {
        Ok(body) => page("Projects", Some(&viewer), body).into_response(),
        Err(error) => error_page(Some(&viewer), error),
    }
}

async fn projects_body(state: &AppState, viewer: &Viewer) -> Result<String, ApiError> {
    let mut rows = String::new();
    let latest = RunFilter {
        limit: 1,
        ..RunFilter::default()
    };
    for project in state.store.list_projects().await? {
        if !state
            .store
            .authorize(&viewer.caller.0, project.id, Action::View)
            .await?
        {
            continue;
        }
        let last = state.store.list_runs(project.id, &latest).await?;
        let last = last.first().map_or_else(
            || "<td colspan=\"2\" class=\"muted\">no runs yet</td>".to_string(),
            |run| {
                format!(
                    "<td><a href=\"/runs/{id}\">#{number}</a> {status}</td><td>{when}</td>",
                    id = run.id,
                    number = run.number,
                    status = status_html(run.status),
                    when = time_html(Some(run.created_ms)),
                )
            },
        );
        rows.push_str(&format!(
            "<tr><th scope=\"row\"><a href=\"/projects/{name}\">{name}</a></th>\
             <td class=\"mono\">{repo}</td>{last}</tr>",
            name = escape(&project.name),
            repo = escape(&project.repo_url),
        ));
    }
    if rows.is_empty() {
        return Ok(
            "<h1>Projects</h1><p>No projects you may see yet. An administrator adds one \
                   with <code>slipway project add REPO</code>.</p>"
                .to_string(),
        );
    }
    Ok(format!(
        "<h1>Projects</h1><table><caption class=\"muted\">Projects you may see, with their last run</caption>\
         <thead><tr><th scope=\"col\">Project</th><th scope=\"col\">Repository</th>\
         <th scope=\"col\">Last run</th><th scope=\"col\">Created</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    ))
}

/// The filters and page of a runs list, from the query string (empty
/// fields, as a GET form sends them, mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    pub status: Option<String>,
    pub branch: Option<String>,
    /// Runs numbered below this (the next, older page).
    pub before: Option<i64>,
}

impl RunsQuery {
    fn status(&self) -> Result<Option<RunStatus>, ApiError> {
        match self.status.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => RunStatus::parse(text)
                .map(Some)
                .map_err(|e| ApiError::bad_request(e.to_string())),
        }
    }

    fn branch(&self) -> Option<&str> {
        self.branch
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
    }

    /// `?status=…&branch=…` (and `before` when given) for links.
    fn query_string(&self, before: Option<i64>) -> String {
        let mut parts = Vec::new();
        if let Ok(Some(status)) = self.status() {
            parts.push(format!("status={}", status.as_str()));
        }
        if let Some(branch) = self.branch() {
            parts.push(format!("branch={}", encode_query_value(branch)));
        }
        if let Some(before) = before {
            parts.push(format!("before={before}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

async fn project_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Response {
    match project_body(&state, &viewer, &name, &query).await {
        Ok(body) => page(&name, Some(&viewer), body).into_response(),
        Err(error) => error_page(Some(&viewer), error),
    }
}

async fn project_body(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    query: &RunsQuery,
) -> Result<String, ApiError> {
    let project = project_for(state, &viewer.caller, name, Action::View).await?;
    let table = runs_table(state, &project, query).await?;
    let may_trigger = state
        .store
        .authorize(&viewer.caller.0, project.id, Action::Operate)
        .await?;
    let trigger = if may_trigger {
        trigger_form(state, viewer, &project).await?
    } else {
        String::new()
    };
    let status = query.status()?;
    let mut options = String::from("<option value=\"\">any</option>");
    for candidate in [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ] {
        options.push_str(&format!(
            "<option value=\"{s}\"{selected}>{s}</option>",
            s = candidate.as_str(),
            selected = if status == Some(candidate) {
                " selected"
            } else {
                ""
            },
        ));
    }
    let name = escape(&project.name);
    Ok(format!(
        "<h1>{name}</h1>\
         <p class=\"muted\"><span class=\"mono\">{repo}</span> · default branch <code>{branch}</code> · \
         <a href=\"/projects/{name}/environments\">Environments</a> · \
         <a href=\"/projects/{name}/releases\">Releases</a></p>\
         {trigger}\
         <h2 id=\"runs-heading\">Runs</h2>\
         <form class=\"inline\" method=\"get\" action=\"/projects/{name}\" aria-label=\"Filter runs\">\
         <p><label for=\"filter-status\">Status</label><select id=\"filter-status\" name=\"status\">{options}</select></p>\
         <p><label for=\"filter-branch\">Branch</label><input id=\"filter-branch\" name=\"branch\" value=\"{filter_branch}\"></p>\
         <p><button type=\"submit\">Filter</button> <a href=\"/projects/{name}\">Clear</a></p></form>\
         <div id=\"runs\" aria-live=\"polite\" data-refresh=\"/projects/{name}/runs-table{qs}\">{table}</div>\
         <script src=\"{PAGES_JS_PATH}\" defer></script>",
        repo = escape(&project.repo_url),
        branch = escape(&project.default_branch),
        filter_branch = escape(query.branch().unwrap_or("")),
        qs = escape(&query.query_string(query.before)),
    ))
}

async fn runs_fragment(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let table = async {
        let project = project_for(&state, &viewer.caller, &name, Action::View).await?;
        runs_table(&state, &project, &query).await
    };
    match table.await {
        Ok(html) => Html(html).into_response(),
        Err(error) => error_page(Some(&viewer), error),
    }
}

/// The runs table with its pager: one store query.
async fn runs_table(
    state: &AppState,
    project: &Project,
    query: &RunsQuery,
) -> Result<String, ApiError> {
    let filter = RunFilter {
        status: query.status()?,
        branch: query.branch().map(str::to_string),
        before_number: query.before,
        // One more than a page tells whether an older page exists.
        limit: PAGE_SIZE + 1,
    };
    let mut runs = state.store.list_runs(project.id, &filter).await?;
    let more = runs.len() > PAGE_SIZE as usize;
    runs.truncate(PAGE_SIZE as usize);
    let now = now_ms();
    let name = escape(&project.name);
    let mut html = String::with_capacity(256 + runs.len() * 400);
    if runs.is_empty() {
        html.push_str("<p>No runs match.</p>");
    } else {
        html.push_str(
            "<table aria-labelledby=\"runs-heading\"><thead><tr><th scope=\"col\">Run</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Trigger</th><th scope=\"col\">Branch</th>\
             <th scope=\"col\">Commit</th><th scope=\"col\">Duration</th><th scope=\"col\">Started</th>\
             </tr></thead><tbody>",
        );
        for run in &runs {
            html.push_str(&run_row(run, now));
        }
        html.push_str("</tbody></table>");
    }
    let mut pager = String::new();
    if query.before.is_some() {
        pager.push_str(&format!(
            "<a href=\"/projects/{name}{}\">Newest runs</a>",
            escape(&query.query_string(None))
        ));
    }
    if let (true, Some(last)) = (more, runs.last()) {
        pager.push_str(&format!(
            "<a href=\"/projects/{name}{}\" rel=\"next\">Older runs</a>",
            escape(&query.query_string(Some(last.number)))
        ));
    }
    if !pager.is_empty() {
        html.push_str(&format!(
            "<nav class=\"pager\" aria-label=\"Pages of runs\">{pager}</nav>"
        ));
    }
    Ok(html)
}

fn run_row(run: &Run, now: i64) -> String {
    let branch = match (&run.branch, &run.tag) {
        (Some(branch), _) => escape(branch),
        (None, Some(tag)) => format!("tag {}", escape(tag)),
        (None, None) => "—".to_string(),
    };
    let commit = run.commit_sha.as_deref().map_or("—".to_string(), |sha| {
        format!(
            "<code title=\"{}\">{}</code>",
            escape(sha),
            escape(sha.get(..10).unwrap_or(sha))
        )
    });
    let reason = run.reason.as_deref().map_or(String::new(), |reason| {
        format!("<br><span class=\"muted\">{}</span>", escape(reason))
    });
    format!(
        "<tr data-run=\"{id}\"><th scope=\"row\"><a href=\"/runs/{id}\">#{number}</a></th>\
         <td>{status}{reason}</td><td>{trigger}</td><td>{branch}</td><td>{commit}</td>\
         <td>{duration}</td><td>{started}</td></tr>",
        id = run.id,
        number = run.number,
        status = status_html(run.status),
        trigger = escape(&run.trigger),
        duration = duration_text(run.started_ms, run.finished_ms, now),
        started = time_html(run.started_ms),
    )
}

/// A status in words (never colour alone), with a class for its colour.
fn status_html(status: RunStatus) -> String {
    let symbol = match status {
        RunStatus::Succeeded => "✓",
        RunStatus::Failed => "✗",
        RunStatus::Cancelled => "⊘",
        RunStatus::Running => "▶",
        _ => "…",
    };
    format!(
        "<span class=\"status status-{s}\"><span aria-hidden=\"true\">{symbol}</span> {s}</span>",
        s = status.as_str()
    )
}

/// `1.2s`, `3m 05s`, `1h 02m`; a running one counts up to now.
fn duration_text(started: Option<i64>, finished: Option<i64>, now: i64) -> String {
    let Some(started) = started else {
        return "—".to_string();
    };
    let ms = finished.unwrap_or(now).saturating_sub(started).max(0);
    let text = if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1000)
    } else {
        format!("{}h {:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000)
    };
    if finished.is_none() {
        format!("{text} so far")
    } else {
        text
    }
}

fn time_html(ms: Option<i64>) -> String {
    match ms.and_then(|ms| u64::try_from(ms / 1000).ok()) {
        Some(seconds) => {
            let text = slipway_deploy::gates::utc(seconds);
            format!("<time datetime=\"{text}\">{text}</time>")
        }
        None => "—".to_string(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The manual inputs the pipeline of the project's newest run declares:
/// the form's best knowledge without fetching the repository (the API
/// checks the inputs against the pipeline at the chosen ref anyway).
async fn declared_inputs(state: &AppState, project: &Project) -> Vec<ManualInput> {
    let newest = RunFilter {
        limit: 1,
        ..RunFilter::default()
    };
    let Ok(runs) = state.store.list_runs(project.id, &newest).await else {
        return Vec::new();
    };
    let Some(run) = runs.first() else {
        return Vec::new();
    };
    let Ok(Some((file, source))) = state.store.run_pipeline(run.id).await else {
        return Vec::new();
    };
    slipway_spec::parse_pipeline(&source, &file)
        .ok()
        .and_then(|pipeline| pipeline.on.manual)
        .map(|manual| manual.inputs)
        .unwrap_or_default()
}

async fn trigger_form(
    state: &AppState,
    viewer: &Viewer,
    project: &Project,
) -> Result<String, ApiError> {
    let mut fields = String::new();
    for input in declared_inputs(state, project).await {
        fields.push_str(&input_field(&input));
    }
    Ok(format!(
        "<section aria-labelledby=\"trigger-heading\"><h2 id=\"trigger-heading\">Trigger a run</h2>\
         <form method=\"post\" action=\"/projects/{name}/trigger\" class=\"inline\">{csrf}\
         <p><label for=\"trigger-ref\">Branch, tag or commit</label>\
         <input id=\"trigger-ref\" name=\"ref\" placeholder=\"{branch}\"></p>{fields}\
         <p><button type=\"submit\">Trigger a run</button></p></form></section>",
        name = escape(&project.name),
        csrf = csrf_field(viewer),
        branch = escape(&project.default_branch),
    ))
}

/// One labelled form field for a manual input, named `input.NAME`.
fn input_field(input: &ManualInput) -> String {
    let name = escape(&input.name);
    let id = format!("input-{name}");
    let default = input.default.as_ref();
    let default_text = match default {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let required = if input.required { " required" } else { "" };
    let control = match &input.kind {
        InputKind::String => format!(
            "<input id=\"{id}\" name=\"input.{name}\" value=\"{}\"{required}>",
            escape(&default_text)
        ),
        InputKind::Number => format!(
            "<input id=\"{id}\" name=\"input.{name}\" type=\"number\" step=\"any\" value=\"{}\"{required}>",
            escape(&default_text)
        ),
        InputKind::Boolean => {
            let on = default == Some(&Value::Bool(true));
            format!(
                "<select id=\"{id}\" name=\"input.{name}\"><option value=\"true\"{}>true</option>\
                 <option value=\"false\"{}>false</option></select>",
                if on { " selected" } else { "" },
                if on { "" } else { " selected" },
            )
        }
        InputKind::Choice(options) => {
            let mut html = format!("<select id=\"{id}\" name=\"input.{name}\"{required}>");
            if !input.required && default.is_none() {
                html.push_str("<option value=\"\">(none)</option>");
            }
            for option in options {
                html.push_str(&format!(
                    "<option value=\"{o}\"{}>{o}</option>",
                    if *option == default_text {
                        " selected"
                    } else {
                        ""
                    },
                    o = escape(option)
                ));
            }
            html.push_str("</select>");
            html
        }
    };
    let description = input.description.as_deref().map_or(String::new(), |d| {
        format!(" <span class=\"muted\">{}</span>", escape(d))
    });
    format!("<p><label for=\"{id}\">{name}</label>{control}{description}</p>")
}

async fn trigger(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = fields
        .iter()
        .find(|(key, _)| key == "csrf")
        .map_or("", |(_, value)| value.as_str());
    if let Err(error) = check_csrf(&viewer, csrf) {
        return error_page(Some(&viewer), error);
    }
    let git_ref = fields
        .iter()
        .find(|(key, _)| key == "ref")
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty());
    // Types come from the declared inputs the form was built from; the
    // API checks them against the pipeline at the ref.
    let declared = match state.store.project_by_name(&name).await {
        Ok(project) => declared_inputs(&state, &project).await,
        Err(_) => Vec::new(),
    };
    let inputs = match typed_inputs(&fields, &declared) {
        Ok(inputs) => inputs,
        Err(error) => return error_page(Some(&viewer), error),
    };
    let request = TriggerRequest { git_ref, inputs };
    let caller = crate::auth::Caller(viewer.caller.0.clone());
    match projects::trigger(State(state), caller, Path(name), ApiJson(request)).await {
        Ok((_, axum::Json(run))) => see_other(&format!("/runs/{}", run.id)),
        Err(error) => error_page(Some(&viewer), error),
    }
}

/// The `input.NAME` fields as typed JSON values: numbers and booleans by
/// their declared type, empty optional fields left out.
fn typed_inputs(
    fields: &[(String, String)],
    declared: &[ManualInput],
) -> Result<Map<String, Value>, ApiError> {
    let mut inputs = Map::new();
    for (key, value) in fields {
        let Some(name) = key.strip_prefix("input.") else {
            continue;
        };
        let kind = declared.iter().find(|i| i.name == name).map(|i| &i.kind);
        let typed = match kind {
            _ if value.is_empty() => continue,
            Some(InputKind::Number) => {
                let number: f64 = value.trim().parse().map_err(|_| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("input `{name}` must be a number"),
                    )
                })?;
                if number.fract() == 0.0 && number.abs() < 9.0e15 {
                    Value::from(number as i64)
                } else {
                    serde_json::Number::from_f64(number)
                        .map(Value::Number)
                        .ok_or_else(|| {
                            ApiError::new(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                format!("input `{name}` must be a finite number"),
                            )
                        })?
                }
            }
            Some(InputKind::Boolean) => Value::Bool(value == "true"),
            _ => Value::String(value.clone()),
        };
        inputs.insert(name.to_string(), typed);
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, kind: InputKind) -> ManualInput {
        ManualInput {
            name: name.into(),
            kind,
            required: false,
            default: None,
            description: None,
            span: Default::default(),
        }
    }

    #[test]
    fn inputs_are_typed_by_their_declaration() {
        let declared = [
            input("n", InputKind::Number),
            input("b", InputKind::Boolean),
            input("c", InputKind::Choice(vec!["x".into()])),
        ];
        let fields: Vec<(String, String)> = [
            ("csrf", "t"),
            ("input.n", "2"),
            ("input.b", "false"),
            ("input.c", "x"),
            ("input.free", "<s>"),
            ("input.empty", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let typed = typed_inputs(&fields, &declared).expect("typed");
        assert_eq!(
            Value::Object(typed),
            serde_json::json!({"n": 2, "b": false, "c": "x", "free": "<s>"})
        );
        let bad = [("input.n".to_string(), "two".to_string())];
        assert_eq!(
            typed_inputs(&bad, &declared).unwrap_err().status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn fields_escape_names_and_defaults() {
        let mut hostile = input("x", InputKind::String);
        hostile.default = Some(Value::String("\"><script>".into()));
        let html = input_field(&hostile);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<label for=\"input-x\">x</label>"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(None, None, 0), "—");
        assert_eq!(duration_text(Some(0), Some(1_200), 0), "1.2s");
        assert_eq!(duration_text(Some(0), Some(185_000), 0), "3m 05s");
        assert_eq!(duration_text(Some(0), None, 7_440_000), "2h 04m so far");
    }

    #[test]
    fn filter_links_keep_the_filters() {
        let query = RunsQuery {
            status: Some("failed".into()),
            branch: Some("feat/a b".into()),
            before: None,
        };
        assert_eq!(
            query.query_string(Some(7)),
            "?status=failed&branch=feat/a%20b&before=7"
        );
        assert_eq!(RunsQuery::default().query_string(None), "");
    }
}
