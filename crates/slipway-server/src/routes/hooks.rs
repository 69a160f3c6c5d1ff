//! `POST /hooks/{forge}/{project}`: deliveries from GitHub, GitLab, Gitea
//! and Forgejo. No token: the signature is the authentication.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use slipway_api::HookAnswer;
use slipway_hooks::Forge;

use crate::state::AppState;

/// `POST /hooks/{forge}/{project}`
#[utoipa::path(post, path = "/hooks/{forge}/{project}",
    params(("forge" = String, Path, description = "github, gitlab or gitea (Forgejo too)"),
           ("project" = String, Path, description = "project name")),
    responses((status = 202, body = HookAnswer), (status = 401, body = HookAnswer),
              (status = 404, body = HookAnswer), (status = 413, body = HookAnswer)),
    tag = "webhooks")]
pub async fn deliver(
    State(state): State<AppState>,
    Path((forge, project)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let forge = match forge.as_str() {
        "github" => Forge::GitHub,
        "gitlab" => Forge::GitLab,
        "gitea" | "forgejo" => Forge::Gitea,
        other => {
            let answer = HookAnswer {
                result: "rejected".to_string(),
                runs: Vec::new(),
                message: Some(format!(
                    "unknown forge `{other}`: use /hooks/github/, /hooks/gitlab/ or /hooks/gitea/"
                )),
            };
            return (StatusCode::NOT_FOUND, Json(answer)).into_response();
        }
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (status, answer) = state.hooks.webhook(forge, &project, &header, &body).await;
    state.metrics.delivery(&answer.result);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(answer)).into_response()
}
