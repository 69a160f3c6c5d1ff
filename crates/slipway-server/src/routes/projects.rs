//! Projects, their secrets, manual runs, and tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_api::{
    NewProjectRequest, ProjectCreated, ProjectView, RunView, SecretRequest, TriggerRequest,
};
use slipway_store::sql::{
    Action, NewAuditEntry, NewProject, Project, SecretValue, ServerStore, TokenKind,
};
use slipway_triggers::TriggerError;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::routes::runs::run_view;
use crate::state::AppState;

pub fn project_view(project: Project) -> ProjectView {
    ProjectView {
        id: project.id,
        name: project.name,
        repo_url: project.repo_url,
        default_branch: project.default_branch,
        has_webhook_secret: project.has_webhook_secret,
        settings: project.settings,
        created_ms: project.created_ms,
    }
}

/// Appends to the audit log; a failure is logged, the action stands.
pub async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: String,
    details: serde_json::Value,
) {
    let entry = NewAuditEntry {
        actor: caller.0.user_name.clone(),
        action: action.to_string(),
        target,
        details,
    };
    if let Err(error) = state.store.append_audit(entry).await {
        tracing::error!(%error, action, "could not append to the audit log");
    }
}

/// The project of this name, if the caller may `action` on it (404 when it
/// does not exist, 403 when the role is too weak).
pub async fn project_for(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: Action,
) -> ApiResult<Project> {
    let project =
        state.store.project_by_name(name).await.map_err(|_| {
            ApiError::not_found(format!("no project named `{}`", name.escape_debug()))
        })?;
    caller.require(state, project.id, action).await?;
    Ok(project)
}

/// `GET /api/v1/projects`
#[utoipa::path(get, path = "/api/v1/projects", responses((status = 200, body = Vec<ProjectView>)),
    security(("token" = [])), tag = "projects")]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ProjectView>>> {
    let mut visible = Vec::new();
    for project in state.store.list_projects().await? {
        if state
            .store
            .authorize(&caller.0, project.id, Action::View)
            .await?
        {
            visible.push(project_view(project));
        }
    }
    Ok(Json(visible))
}

/// `GET /api/v1/projects/{project}`
#[utoipa::path(get, path = "/api/v1/projects/{project}", params(("project" = String, Path)),
    responses((status = 200, body = ProjectView)), security(("token" = [])), tag = "projects")]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(project_view(
        project_for(&state, &caller, &name, Action::View).await?,
    )))
}

fn default_name(repo_url: &str) -> String {
    let trimmed = repo_url.trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
    last.strip_suffix(".git").unwrap_or(last).to_string()
}

fn random_secret() -> Result<String, ApiError> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|_| ApiError::internal("no randomness available for the webhook secret"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `POST /api/v1/projects` (server administrators).
#[utoipa::path(post, path = "/api/v1/projects", request_body = NewProjectRequest,
    responses((status = 201, body = ProjectCreated), (status = 409, description = "name taken")),
    security(("token" = [])), tag = "projects")]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewProjectRequest>,
) -> ApiResult<(StatusCode, Json<ProjectCreated>)> {
    caller.require_admin()?;
    if request.repo_url.trim().is_empty() {
        return Err(ApiError::bad_request("repo_url is required"));
    }
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| default_name(&request.repo_url));
    let (secret, generated) = match request.webhook_secret {
        Some(secret) if !secret.is_empty() => (secret, None),
        _ => {
            let secret = random_secret()?;
            (secret.clone(), Some(secret))
        }
    };
    let settings = match request.settings {
        Some(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
        Some(_) => return Err(ApiError::bad_request("settings must be a JSON object")),
        None => serde_json::json!({}),
    };
    let project = state
        .store
        .create_project(NewProject {
            name,
            repo_url: request.repo_url.trim().to_string(),
            default_branch: request
                .default_branch
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "main".to_string()),
            settings,
            webhook_secret: Some(SecretValue::new(secret.into_bytes())),
        })
        .await?;
    audit(
        &state,
        &caller,
        "project.create",
        format!("project:{}", project.name),
        serde_json::json!({ "repo_url": project.repo_url }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(ProjectCreated {
            project: project_view(project),
            generated_webhook_secret: generated,
        }),
    ))
}

/// `PUT /api/v1/projects/{project}/secrets/{name}` (maintainers).
#[utoipa::path(put, path = "/api/v1/projects/{project}/secrets/{name}", request_body = SecretRequest,
    params(("project" = String, Path), ("name" = String, Path)),
    responses((status = 204)), security(("token" = [])), tag = "projects")]
pub async fn set_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    ApiJson(request): ApiJson<SecretRequest>,
) -> ApiResult<StatusCode> {
    let project = project_for(&state, &caller, &project, Action::Configure).await?;
    state
        .store
        .set_secret(
            project.id,
            &name,
            &SecretValue::new(request.value.into_bytes()),
        )
        .await?;
    audit(
        &state,
        &caller,
        "secret.set",
        format!("project:{}/secret:{name}", project.name),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/projects/{project}/secrets`: names only (maintainers).
#[utoipa::path(get, path = "/api/v1/projects/{project}/secrets", params(("project" = String, Path)),
    responses((status = 200, body = Vec<String>)), security(("token" = [])), tag = "projects")]
pub async fn secret_names(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    let project = project_for(&state, &caller, &project, Action::Configure).await?;
    Ok(Json(state.store.secret_names(project.id).await?))
}

/// `POST /api/v1/projects/{project}/runs`: a manual run (developers).
#[utoipa::path(post, path = "/api/v1/projects/{project}/runs", request_body = TriggerRequest,
    params(("project" = String, Path)),
    responses((status = 201, body = RunView), (status = 422, description = "bad ref, pipeline or inputs")),
    security(("token" = [])), tag = "runs")]
pub async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(request): ApiJson<TriggerRequest>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let project = project_for(&state, &caller, &project, Action::Operate).await?;
    let run_id = state
        .hooks
        .manual_by(
            &project,
            request.git_ref.as_deref(),
            request.inputs,
            Some(&caller.0.user_name),
        )
        .await
        .map_err(|error| match error {
            TriggerError::Store(e) => ApiError::from(e),
            TriggerError::Start(e) => {
                ApiError::internal(format!("the run could not be started: {e}"))
            }
            TriggerError::Git(e) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the repository could not be read: {e}"),
            ),
            other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        })?;
    let run = state.store.run(run_id).await?;
    audit(
        &state,
        &caller,
        "run.trigger",
        format!("project:{}/run:{}", project.name, run.number),
        serde_json::json!({ "ref": request.git_ref }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(run_view(&project.name, run))))
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTokenRequest {
    pub name: String,
    /// `personal` (default) or `agent`.
    #[serde(default)]
    pub kind: Option<String>,
}

/// The answer to `POST /api/v1/tokens`: the token, shown this once.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TokenCreated {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub token: String,
}

/// `POST /api/v1/tokens` (server administrators): a token for the caller's
/// user; agent tokens may only claim and run jobs.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewTokenRequest,
    responses((status = 201, body = TokenCreated)), security(("token" = [])), tag = "tokens")]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    caller.require_admin()?;
    let kind = match request.kind.as_deref() {
        None | Some("personal") => TokenKind::Personal,
        Some("agent") => TokenKind::Agent,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown token kind `{}`: personal or agent",
                other.escape_debug()
            )));
        }
    };
    let (info, clear) = state
        .store
        .create_token(caller.0.user_id, &request.name, kind)
        .await?;
    audit(
        &state,
        &caller,
        "token.create",
        format!("token:{}", info.name),
        serde_json::json!({ "kind": kind.as_str() }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: info.id,
            name: info.name,
            kind: kind.as_str().to_string(),
            token: clear.expose().to_string(),
        }),
    ))
}

/// `POST /api/v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUserRequest {
    pub name: String,
    /// Server administrators may do everything.
    #[serde(default)]
    pub admin: bool,
}

/// A user and a first personal token (shown this once).
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct UserCreated {
    pub id: i64,
    pub name: String,
    pub admin: bool,
    pub token: String,
}

/// `POST /api/v1/users` (server administrators): a user with a personal
/// token.
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUserRequest,
    responses((status = 201, body = UserCreated)), security(("token" = [])), tag = "tokens")]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserCreated>)> {
    caller.require_admin()?;
    let user = state
        .store
        .create_user(&request.name, request.admin)
        .await?;
    let (_, clear) = state
        .store
        .create_token(user.id, "first", TokenKind::Personal)
        .await?;
    audit(
        &state,
        &caller,
        "user.create",
        format!("user:{}", user.name),
        serde_json::json!({ "admin": user.is_admin }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(UserCreated {
            id: user.id,
            name: user.name,
            admin: user.is_admin,
            token: clear.expose().to_string(),
        }),
    ))
}

/// `PUT /api/v1/projects/{project}/roles/{user}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// viewer, developer, maintainer, admin; null revokes.
    pub role: Option<String>,
}

/// `PUT /api/v1/projects/{project}/roles/{user}` (project admins).
#[utoipa::path(put, path = "/api/v1/projects/{project}/roles/{user}", request_body = RoleRequest,
    params(("project" = String, Path), ("user" = String, Path)),
    responses((status = 204)), security(("token" = [])), tag = "projects")]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, user)): Path<(String, String)>,
    ApiJson(request): ApiJson<RoleRequest>,
) -> ApiResult<StatusCode> {
    let project = project_for(&state, &caller, &project, Action::Administer).await?;
    let user = state.store.user_by_name(&user).await?;
    let role = match request.role.as_deref() {
        Some(role) => Some(slipway_store::sql::Role::parse(role)?),
        None => None,
    };
    state.store.set_role(project.id, user.id, role).await?;
    audit(
        &state,
        &caller,
        "role.set",
        format!("project:{}/user:{}", project.name, user.name),
        serde_json::json!({ "role": request.role }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
