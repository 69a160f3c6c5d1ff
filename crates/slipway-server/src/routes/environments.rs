//! Environments as the built-in agent deployed them: the topology
//! (`slipway env show` over the API) and the deployment records.
//!
//! The environment file is read from the project's mirror at the head of
//! its default branch; the deployment state is the built-in agent's
//! (`DATA_DIR/agent/environments/PROJECT/`), since `deploy:` jobs on this
//! machine run there. Remote agents keep their deployments' state on their
//! own machines.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use slipway_deploy::{Deployer, DeploymentRecord, Topology};
use slipway_store::sql::{Action, Project};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::projects::project_for;
use crate::state::AppState;

/// The largest environment file read.
const MAX_FILE: u64 = 4 * 1024 * 1024;

/// Where the built-in agent keeps a project's deployment state.
pub fn state_dir(state: &AppState, project: &str) -> std::path::PathBuf {
    state
        .config
        .data_dir
        .join("agent/environments")
        .join(project)
}

/// The environment file `NAME` at the head of the project's default branch.
pub(crate) async fn environment(
    state: &AppState,
    project: &Project,
    name: &str,
) -> ApiResult<slipway_spec::deploy::Environment> {
    if !slipway_spec::is_environment_name(name) {
        return Err(ApiError::bad_request(format!(
            "`{}` is not an environment name",
            name.escape_debug()
        )));
    }
    let mirror = slipway_git::Mirror::open_or_clone(
        &project.repo_url,
        &state
            .config
            .data_dir
            .join("mirrors")
            .join(project.id.to_string()),
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the repository: {e}")))?;
    let branch = format!("refs/heads/{}", project.default_branch);
    let sha = mirror
        .resolve(&branch)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the repository: {e}")))?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "the repository has no branch `{}`",
                project.default_branch
            ))
        })?;
    let shown = format!("{}/{name}.yml", slipway_deploy::port::ENVIRONMENTS_DIR);
    let bytes = mirror
        .read_file(&sha, &shown, MAX_FILE)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the repository: {e}")))?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no environment `{name}`: {shown} is not on branch {}",
                project.default_branch
            ))
        })?;
    let text = String::from_utf8_lossy(&bytes);
    slipway_spec::parse_environment(&text, &shown, name)
        .map_err(|d| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, d.render(&text, false)))
}

/// `GET /api/v1/projects/{project}/environments/{env}`: targets, deployed
/// digests and versions, phase, health now, HAProxy state.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{env}",
    params(("project" = String, Path), ("env" = String, Path)),
    responses((status = 200, description = "the topology (slipway env show)", body = Object)),
    security(("token" = [])), tag = "environments")]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Topology>> {
    let project = project_for(&state, &caller, &project, Action::View).await?;
    let environment = environment(&state, &project, &env).await?;
    let deployer = Deployer::new(state_dir(&state, &project.name));
    let topology = deployer
        .topology(&environment, &state.config.data_dir)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(Json(topology))
}

/// `GET /api/v1/projects/{project}/environments/{env}/deployments`: the
/// deployment records, oldest first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{env}/deployments",
    params(("project" = String, Path), ("env" = String, Path)),
    responses((status = 200, description = "deployment records", body = Vec<Object>)),
    security(("token" = [])), tag = "environments")]
pub async fn deployments(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Vec<DeploymentRecord>>> {
    let project = project_for(&state, &caller, &project, Action::View).await?;
    if !slipway_spec::is_environment_name(&env) {
        return Err(ApiError::bad_request("not an environment name"));
    }
    let deployer = Deployer::new(state_dir(&state, &project.name));
    let records = deployer
        .deployments(&env)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(records))
}
