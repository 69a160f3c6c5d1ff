//! `PUT /api/v1/users/{name}/password`: a user's web UI password.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_store::sql::ServerStore;
use utoipa::ToSchema;

use super::projects::audit;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::state::AppState;
use crate::ui::session;

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer ones too: hashing cost grows with the length.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// `PUT /api/v1/users/{name}/password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordRequest {
    pub password: String,
}

/// `PUT /api/v1/users/{name}/password` (server administrators, or the user
/// themself): sets the password used to sign in to the web UI. The store
/// keeps an argon2id hash only.
#[utoipa::path(put, path = "/api/v1/users/{name}/password", request_body = PasswordRequest,
    params(("name" = String, Path)),
    responses((status = 204), (status = 422, description = "too short or too long")),
    security(("token" = [])), tag = "tokens")]
pub async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<PasswordRequest>,
) -> ApiResult<StatusCode> {
    if caller.0.user_name != name {
        caller.require_admin()?;
    }
    let user = state.store.user_by_name(&name).await?;
    check_password(&request.password)?;
    let hash = tokio::task::spawn_blocking(move || session::hash_password(&request.password))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)?;
    state.store.set_password_hash(user.id, Some(&hash)).await?;
    audit(
        &state,
        &caller,
        "user.password",
        format!("user:{}", user.name),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// 422 unless the password's length is acceptable.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}
