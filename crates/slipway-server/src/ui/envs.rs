//! Environments and releases in the browser:
//!
//! - `GET /projects/{p}/environments`: the project's environments (those the
//!   built-in agent deployed, and those with releases), each with its latest
//!   release.
//! - `GET /projects/{p}/environments/{env}`: the topology (the API's
//!   `environments::show` handler) with each target's canary weight and
//!   share from the built-in agent's `state.json`; a deployment in progress
//!   with its targets by phase (the page then refreshes itself every 2 s);
//!   the latest releases, and the newest verification's charts.
//! - `GET /projects/{p}/releases[?env=E]`: a timeline per environment,
//!   newest first, with approvals and freeze overrides, and the DORA metrics
//!   (the API's `releases::dora` handler) with a chart of releases per day.
//! - `GET /projects/{p}/releases/{id}`: one release (the API's
//!   `releases::get` handler) with all its evidence.
//!
//! Reading goes through the API's handlers with the viewer's caller, or the
//! store behind the same check they make (`project_for(.., View)`), so the
//! roles are the API's. Nothing here changes anything: there is no form.
//!
//! - [`charts`]: SVG charts (samples, measurements over time, stacked bars).
//! - [`evidence`]: a verification's evidence as HTML.
//! - [`render`]: the pages' HTML from what the handlers read.

pub mod charts;
pub mod evidence;
pub mod render;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use slipway_store::sql::{Action, Id, Release, ReleaseFilter, ServerStore};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::projects::project_for;
use crate::state::AppState;
use crate::ui::auth::Viewer;
use crate::ui::layout::{escape, page};
use render::{Shown, path_segment, project_href};

/// Releases shown in one page's timelines.
const TIMELINE: u32 = 200;
/// Releases shown on an environment's page.
const RECENT: u32 = 10;
/// The DORA period of the releases page, in days.
const DORA_DAYS: u64 = 30;

/// The style of these pages, embedded.
const STYLE: &str = "<style>\
table.topology, table.targets, table.judge, table.measurements, table.dora { border-collapse: collapse; margin: .5rem 0; }\
table.topology td, table.topology th, table.targets td, table.targets th, table.judge td, table.judge th, table.measurements td, table.measurements th, table.dora td, table.dora th { padding: .2rem .6rem; text-align: left; border-bottom: 1px solid #ddd; vertical-align: top; }\
caption { text-align: left; font-weight: 600; }\
.badge { display: inline-block; padding: 0 .4em; border-radius: .3em; font-size: .85em; font-weight: 600; border: 1px solid currentColor; }\
.s-ok { color: #0a5c2a; background: #e3f5e9; } .s-bad { color: #8a1010; background: #fde8e8; }\
.s-run { color: #0b4a8a; background: #e4eefb; } .s-wait { color: #5b4a00; background: #fbf3d0; }\
.s-cancel, .s-other { color: #3c3c3c; background: #eee; }\
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } .facts dt { font-weight: 600; } .facts dd { margin: 0; }\
ol.timeline { list-style: none; padding-left: 0; border-left: 3px solid #999; } ol.timeline > li { margin: 0 0 1rem 0; padding-left: 1rem; }\
code.digest { word-break: break-all; } .scroll { overflow-x: auto; } svg.chart { max-width: 100%; height: auto; } .override { color: #8a1010; font-weight: 600; }\
svg.chart text { font: 12px system-ui, sans-serif; fill: #111; } figure.chart { margin: .5rem 0 1.5rem 0; }\
pre.explanation { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; overflow-x: auto; }\
.note { color: #444; font-style: italic; }\
</style>";

/// The environment and release pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/environments", get(environments_page))
        .route(
            "/projects/{project}/environments/{env}",
            get(environment_page),
        )
        .route("/projects/{project}/releases", get(releases_page))
        .route("/projects/{project}/releases/{id}", get(release_page))
}

fn caller(viewer: &Viewer) -> Caller {
    Caller(viewer.caller.0.clone())
}

/// An API refusal as an HTML page with the same status.
fn error_page(viewer: &Viewer, error: ApiError) -> Response {
    crate::ui::layout::error_page(Some(viewer), error)
}

fn respond(viewer: &Viewer, result: Result<(String, String), ApiError>) -> Response {
    match result {
        Ok((title, body)) => page(&title, Some(viewer), body).into_response(),
        Err(error) => error_page(viewer, error),
    }
}

fn check_environment(name: &str) -> Result<(), ApiError> {
    if slipway_spec::is_environment_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{}` is not an environment name",
            name.escape_debug()
        )))
    }
}

async fn releases_of(
    state: &AppState,
    project: Id,
    environment: Option<&str>,
    since_ms: Option<i64>,
    limit: u32,
) -> Result<Vec<Release>, ApiError> {
    let filter = ReleaseFilter {
        environment: environment.map(str::to_owned),
        since_ms,
        limit,
        newest_first: true,
    };
    Ok(state.store.list_releases(project, &filter).await?)
}

/// The releases as shown, each with who started its run (one read per
/// distinct run; a run that cannot be read leaves it unknown).
async fn shown<'a>(
    state: &AppState,
    releases: impl Iterator<Item = &'a Release>,
) -> Vec<Shown<'a>> {
    let mut starters: BTreeMap<Id, Option<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for release in releases {
        let mut shown = Shown::of(release);
        if let Some(run) = release.run_id {
            shown.who = match starters.get(&run) {
                Some(who) => who.clone(),
                None => {
                    let who = state.store.run(run).await.ok().and_then(|r| r.triggered_by);
                    starters.insert(run, who.clone());
                    who
                }
            };
        }
        out.push(shown);
    }
    out
}

/// `GET /projects/{project}/environments`
async fn environments_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(project): Path<String>,
) -> Response {
    let result = async {
        let project = project_for(&state, &viewer.caller, &project, Action::View).await?;
        let releases = releases_of(&state, project.id, None, None, 1000).await?;
        // The newest release of each environment, and the environments the
        // built-in agent keeps a state for.
        let mut latest: BTreeMap<String, Option<&Release>> = BTreeMap::new();
        for release in &releases {
            latest.entry(release.environment.clone()).or_insert(Some(release));
        }
        let dir = crate::routes::environments::state_dir(&state, &project.name);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.path().is_dir() && slipway_spec::is_environment_name(&name) {
                    latest.entry(name).or_insert(None);
                }
            }
        }
        let mut body = String::with_capacity(1024 + latest.len() * 256);
        body.push_str(STYLE);
        let _ = write!(
            body,
            "<h1>Environments of {}</h1><p><a href=\"{}\">All releases</a></p>",
            escape(&project.name),
            project_href(&project.name, "releases")
        );
        if latest.is_empty() {
            body.push_str("<p>Nothing was deployed yet.</p>");
        } else {
            body.push_str("<table class=\"targets\"><thead><tr><th scope=\"col\">Environment</th><th scope=\"col\">Latest release</th><th scope=\"col\">Timeline</th></tr></thead><tbody>");
            for (env, release) in &latest {
                let segment = path_segment(env);
                let _ = write!(
                    body,
                    "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>",
                    project_href(&project.name, &format!("environments/{segment}")),
                    escape(env)
                );
                match release {
                    Some(r) => {
                        let _ = write!(
                            body,
                            "{} <code class=\"digest\">{}</code> {}",
                            escape(r.outcome.as_str()),
                            escape(&r.digest),
                            render::time_html(u64::try_from(r.finished_ms).unwrap_or(0))
                        );
                    }
                    None => body.push_str("none"),
                }
                let _ = write!(
                    body,
                    "</td><td><a href=\"{}\">releases to {}</a></td></tr>",
                    project_href(&project.name, &format!("releases?env={segment}")),
                    escape(env)
                );
            }
            body.push_str("</tbody></table>");
        }
        Ok((format!("{} environments", project.name), body))
    }
    .await;
    respond(&viewer, result)
}

/// `GET /projects/{project}/environments/{env}`
async fn environment_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((project, env)): Path<(String, String)>,
) -> Response {
    let result = async {
        let axum::Json(topology) = crate::routes::environments::show(
            State(state.clone()),
            caller(&viewer),
            Path((project.clone(), env.clone())),
        )
        .await?;
        let project = project_for(&state, &viewer.caller, &project, Action::View).await?;
        let files = slipway_deploy::state::EnvFiles::new(
            &crate::routes::environments::state_dir(&state, &project.name),
            &env,
        );
        let env_state = files
            .load_state()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let releases = releases_of(&state, project.id, Some(&env), None, RECENT).await?;
        let shown = shown(&state, releases.iter()).await;

        let mut body = String::with_capacity(8192);
        if render::in_progress(&env_state) {
            // Readable without JavaScript: the browser reloads by itself.
            body.push_str("<meta http-equiv=\"refresh\" content=\"2\">");
        }
        body.push_str(STYLE);
        let _ = write!(
            body,
            "<h1>{} of {}</h1><p><a href=\"{}\">All environments</a> · <a href=\"{}\">Every release to {}</a></p>",
            escape(&env),
            escape(&project.name),
            project_href(&project.name, "environments"),
            project_href(&project.name, &format!("releases?env={}", path_segment(&env))),
            escape(&env)
        );
        body.push_str("<section aria-labelledby=\"topology-h\"><h2 id=\"topology-h\">Topology</h2>");
        render::topology_html(&mut body, &topology, &env_state);
        body.push_str("</section>");
        render::progress_html(&mut body, &env_state);
        if let Some(newest) = shown.iter().find(|s| {
            s.record
                .as_ref()
                .is_some_and(|r| !r.verifications.is_empty())
        }) && let Some(record) = &newest.record
        {
            let _ = write!(
                body,
                "<section aria-labelledby=\"canary-h\"><h2 id=\"canary-h\">Canary verification of release {}</h2>",
                newest.release.id
            );
            for (i, verification) in record.verifications.iter().enumerate() {
                evidence::verification_html(&mut body, &format!("env-v{i}"), i + 1, verification);
            }
            body.push_str("</section>");
        }
        body.push_str("<section aria-labelledby=\"releases-h\"><h2 id=\"releases-h\">Latest releases</h2>");
        render::timeline_html(&mut body, &project.name, &shown);
        body.push_str("</section>");
        Ok((format!("{env} · {}", project.name), body))
    }
    .await;
    respond(&viewer, result)
}

/// `GET /projects/{project}/releases` query.
#[derive(Debug, Deserialize)]
struct ReleasesQuery {
    env: Option<String>,
}

/// `GET /projects/{project}/releases[?env=E]`
async fn releases_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(project): Path<String>,
    Query(query): Query<ReleasesQuery>,
) -> Response {
    let result = async {
        let project = project_for(&state, &viewer.caller, &project, Action::View).await?;
        let env = query.env.filter(|e| !e.is_empty());
        if let Some(env) = &env {
            check_environment(env)?;
        }
        let releases = releases_of(&state, project.id, env.as_deref(), None, TIMELINE).await?;
        // Environments in the order of their newest release.
        let mut order: Vec<&str> = Vec::new();
        for release in &releases {
            if !order.contains(&release.environment.as_str()) {
                order.push(&release.environment);
            }
        }
        let mut body = String::with_capacity(16_384);
        body.push_str(STYLE);
        let _ = write!(
            body,
            "<h1>Releases of {}{}</h1><p><a href=\"{}\">Environments</a>",
            escape(&project.name),
            env.as_deref()
                .map(|e| format!(" to {}", escape(e)))
                .unwrap_or_default(),
            project_href(&project.name, "environments"),
        );
        if env.is_some() {
            let _ = write!(
                body,
                " · <a href=\"{}\">every environment</a>",
                project_href(&project.name, "releases")
            );
        }
        body.push_str("</p>");
        if order.is_empty() {
            body.push_str("<p>No releases yet.</p>");
        }
        let now_ms = slipway_deploy::state::now_ms();
        let since_ms = now_ms.saturating_sub(DORA_DAYS * 86_400_000);
        for (i, environment) in order.iter().enumerate() {
            let _ = write!(
                body,
                "<section aria-labelledby=\"env-{i}-h\"><h2 id=\"env-{i}-h\"><a href=\"{}\">{}</a></h2>",
                project_href(
                    &project.name,
                    &format!("environments/{}", path_segment(environment))
                ),
                escape(environment)
            );
            let axum::Json(dora) = crate::routes::releases::dora(
                State(state.clone()),
                caller(&viewer),
                Query(crate::routes::releases::DoraQuery {
                    project: project.name.clone(),
                    env: (*environment).to_owned(),
                    since: Some(DORA_DAYS * 86_400),
                }),
            )
            .await?;
            let in_period = releases_of(
                &state,
                project.id,
                Some(environment),
                Some(i64::try_from(since_ms).unwrap_or(0)),
                10_000,
            )
            .await?;
            let in_period: Vec<&Release> = in_period.iter().collect();
            render::dora_html(&mut body, &dora, &in_period);
            let shown = shown(
                &state,
                releases.iter().filter(|r| r.environment == *environment),
            )
            .await;
            let _ = write!(body, "<h3>Timeline</h3>");
            render::timeline_html(&mut body, &project.name, &shown);
            body.push_str("</section>");
        }
        Ok((format!("{} releases", project.name), body))
    }
    .await;
    respond(&viewer, result)
}

/// `GET /projects/{project}/releases/{id}`
async fn release_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((project, id)): Path<(String, Id)>,
) -> Response {
    let result = async {
        // The API's checks (View on the project, the release is the
        // project's); the store's row is what the renderer reads.
        let _checked = crate::routes::releases::get(
            State(state.clone()),
            caller(&viewer),
            Path((project.clone(), id)),
        )
        .await?;
        let release = state.store.release(id).await?;
        let mut body = String::with_capacity(16_384);
        body.push_str(STYLE);
        let shown = shown(&state, std::iter::once(&release)).await;
        if let Some(one) = shown.first() {
            render::release_html(&mut body, &project, one);
        }
        Ok((format!("Release {id} · {project}"), body))
    }
    .await;
    respond(&viewer, result)
}
