//! Who is calling: the bearer token (or a web UI session cookie), checked
//! against the store.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use slipway_store::sql::{Action, ClearToken, Id, ServerStore, TokenInfo, TokenKind};

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller. Extracting it answers 401 when the token is
/// missing, unknown or revoked.
pub struct Caller(pub TokenInfo);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(header) = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(ApiError::unauthorized)?;
            return match state
                .store
                .authenticate(&ClearToken::from_client(token))
                .await?
            {
                Some(info) if info.revoked_ms.is_none() => Ok(Caller(info)),
                _ => Err(ApiError::unauthorized()),
            };
        }
        session_caller(parts, state).await
    }
}

/// The caller of a browser's request: the web UI's session cookie. A
/// request that may change something (any method but GET, HEAD, OPTIONS)
/// must also carry the session's CSRF token in `X-CSRF-Token`, which another
/// site's page cannot know, so the cookie alone never authorizes a change.
async fn session_caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    use crate::ui::session;
    let token = session::cookie_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
    if !parts.method.is_safe() {
        let sent = parts
            .headers
            .get(session::CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !session::constant_time_eq(sent, session::csrf_token(token).as_bytes()) {
            return Err(ApiError::forbidden(
                "a request with the session cookie must send the page's X-CSRF-Token header",
            ));
        }
    }
    match state
        .store
        .authenticate(&ClearToken::from_client(token))
        .await?
    {
        Some(info) if info.revoked_ms.is_none() && info.kind == TokenKind::Session => {
            Ok(Caller(info))
        }
        _ => Err(ApiError::unauthorized()),
    }
}

impl Caller {
    /// 403 unless the caller may do `action` on the project.
    pub async fn require(
        &self,
        state: &AppState,
        project: Id,
        action: Action,
    ) -> Result<(), ApiError> {
        if state.store.authorize(&self.0, project, action).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden(match action {
                Action::View => "viewing this project needs the viewer role",
                Action::Operate => "starting, cancelling or retrying runs needs the developer role",
                Action::Configure => "changing settings and secrets needs the maintainer role",
                Action::Administer => "this needs the admin role on the project",
            }))
        }
    }

    /// 403 unless the caller is a server administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.user_is_admin && matches!(self.0.kind, TokenKind::Personal | TokenKind::Session) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this needs a server administrator's token",
            ))
        }
    }

    /// 403 unless the token is an agent's (or an administrator's).
    pub fn require_agent(&self) -> Result<(), ApiError> {
        if self.0.kind == TokenKind::Agent || self.0.user_is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only agent tokens may claim and run jobs",
            ))
        }
    }
}
