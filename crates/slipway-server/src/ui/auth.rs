//! Login, logout and the [`Viewer`] of a page.
//!
//! `GET /login` shows the form, `POST /login` checks the password (argon2)
//! and sets the session cookie (see [`super::session`]), `POST /logout`
//! revokes the session. Wrong passwords lock a username for a while (see
//! [`super::throttle`]); sign-ins, lock-outs and sign-outs are audited.
//! Every page handler takes a [`Viewer`]; every form that changes
//! something carries [`csrf_field`] and its handler calls [`check_csrf`]
//! before anything else.

use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use std::time::{Duration, Instant};

use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use slipway_store::sql::{ClearToken, NewAuditEntry, ServerStore, SqlError, TokenKind};

use super::layout::{escape, page};
use super::session;
use super::throttle::AfterFailure;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The person looking at a page: their session (or bearer token) as the
/// API's [`Caller`], and the CSRF token their forms must send back.
///
/// Extracting it without a valid session redirects a GET to
/// `/login?next=PATH` and answers 401 to anything else.
pub struct Viewer {
    pub caller: Caller,
    pub user: String,
    pub is_admin: bool,
    pub csrf: String,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match viewer(&parts.headers, state).await {
            Ok(Some(viewer)) => Ok(viewer),
            Ok(None) if parts.method == Method::GET || parts.method == Method::HEAD => {
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                Err(see_other(&format!(
                    "/login?next={}",
                    session::encode_query_value(path)
                )))
            }
            Ok(None) => Err(ApiError::unauthorized().into_response()),
            Err(error) => Err(error.into_response()),
        }
    }
}

/// The viewer of a request, if it carries a live session cookie or a
/// bearer token (scripts and tests); `None` when it carries neither or an
/// unknown one.
pub async fn viewer(headers: &HeaderMap, state: &AppState) -> Result<Option<Viewer>, ApiError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let (token, from_cookie) = match bearer {
        Some(token) => (token, false),
        None => match session::cookie_token(headers) {
            Some(token) => (token, true),
            None => return Ok(None),
        },
    };
    let Some(info) = state
        .store
        .authenticate(&ClearToken::from_client(token))
        .await?
    else {
        return Ok(None);
    };
    if info.revoked_ms.is_some()
        || info.kind == TokenKind::Agent
        || (from_cookie && info.kind != TokenKind::Session)
    {
        return Ok(None);
    }
    Ok(Some(Viewer {
        user: info.user_name.clone(),
        is_admin: info.user_is_admin,
        csrf: session::csrf_token(token),
        caller: Caller(info),
    }))
}

/// The hidden form field carrying the viewer's CSRF token.
pub fn csrf_field(viewer: &Viewer) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&viewer.csrf)
    )
}

/// 403 unless `submitted` is the viewer's CSRF token (compared in
/// constant time).
pub fn check_csrf(viewer: &Viewer, submitted: &str) -> Result<(), ApiError> {
    if session::constant_time_eq(viewer.csrf.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this form is out of date or was not sent by this site's page: reload the page and try again",
        ))
    }
}

/// A 303 redirect to `location` (a path on this server).
pub fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, location.to_string())]).into_response()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = session::safe_next(query.next.as_deref());
    if let Ok(Some(_)) = viewer(&headers, &state).await {
        return see_other(next);
    }
    login_form(next, "", None).into_response()
}

fn login_form(next: &str, username: &str, error: Option<&str>) -> axum::response::Html<String> {
    let error = error.map_or(String::new(), |e| {
        format!(
            "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
            escape(e)
        )
    });
    page(
        "Sign in",
        None,
        format!(
            "<h1>Sign in</h1>{error}\
             <form method=\"post\" action=\"/login\" class=\"login\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\
             <p><label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{user}\" autofocus></p>\
             <p><label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
             <p><button type=\"submit\">Sign in</button></p></form>\
             <p class=\"hint\">The first administrator's password is printed by <code>slipway up</code> at first start; \
             an administrator sets anyone's with <code>slipway user password NAME</code>.</p>",
            next = escape(next),
            user = escape(username),
        ),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let next = session::safe_next(form.next.as_deref()).to_string();
    if let Some(wait) = state.logins.locked(&form.username, Instant::now()) {
        return locked_out(&next, &form.username, wait);
    }
    let (user, hash) = match state.store.user_with_password_hash(&form.username).await {
        Ok((user, hash)) => (Some(user), hash),
        Err(SqlError::NotFound { .. } | SqlError::Invalid { .. }) => (None, None),
        Err(error) => return ApiError::from(error).into_response(),
    };
    // Hashing takes tens of milliseconds of CPU: off the async workers.
    let password = form.password;
    let matches =
        tokio::task::spawn_blocking(move || session::verify_password(&password, hash.as_deref()))
            .await
            .unwrap_or(false);
    let user = match user {
        Some(user) if matches => user,
        user => {
            let after = state.logins.failed(&form.username, Instant::now());
            if let (AfterFailure::Locked { failures, lock }, Some(user)) = (&after, &user) {
                tracing::warn!(user = %user.name, failures, "sign-ins locked after wrong passwords");
                append_audit(
                    &state,
                    "anonymous",
                    "user.login_locked",
                    &user.name,
                    serde_json::json!({ "failures": failures, "locked_secs": lock.as_secs() }),
                )
                .await;
            }
            return (
                StatusCode::UNAUTHORIZED,
                login_form(&next, &form.username, Some("Wrong username or password.")),
            )
                .into_response();
        }
    };
    state.logins.succeeded(&user.name);
    sweep_sessions(&state).await;
    let expires = now_ms().saturating_add(session::SESSION_TTL_MS);
    match state.store.create_session(user.id, expires).await {
        Ok((session, token)) => {
            append_audit(
                &state,
                &user.name,
                "user.login",
                &user.name,
                serde_json::json!({ "session": session.id }),
            )
            .await;
            (
                StatusCode::SEE_OTHER,
                [
                    (LOCATION, next),
                    (SET_COOKIE, session::set_cookie(token.expose())),
                ],
            )
                .into_response()
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// 429: the name is locked after too many wrong passwords (see
/// [`super::throttle`]); the password was not checked.
fn locked_out(next: &str, username: &str, wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let message = format!(
        "Too many wrong passwords for this username: sign-in is locked for {secs} more second{}.",
        if secs == 1 { "" } else { "s" }
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(RETRY_AFTER, secs.to_string())],
        login_form(next, username, Some(&message)),
    )
        .into_response()
}

/// Deletes web sessions past their expiry or logged out: they can never
/// authenticate again and would only fill the users' token lists.
pub async fn sweep_sessions(state: &AppState) {
    match state.store.delete_dead_sessions().await {
        Ok(0) => {}
        Ok(deleted) => tracing::debug!(deleted, "dead web sessions deleted"),
        Err(error) => tracing::warn!(%error, "could not delete dead web sessions"),
    }
}

async fn append_audit(
    state: &AppState,
    actor: &str,
    action: &str,
    user: &str,
    details: serde_json::Value,
) {
    let entry = NewAuditEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        target: format!("user:{user}"),
        details,
    };
    if let Err(error) = state.store.append_audit(entry).await {
        tracing::error!(%error, action, "could not append to the audit log");
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(error) = check_csrf(&viewer, &form.csrf) {
        return error.into_response();
    }
    if viewer.caller.0.kind == TokenKind::Session {
        if let Err(error) = state.store.revoke_token(viewer.caller.0.id).await {
            return ApiError::from(error).into_response();
        }
        append_audit(
            &state,
            &viewer.user,
            "user.logout",
            &viewer.user,
            serde_json::json!({ "session": viewer.caller.0.id }),
        )
        .await;
    }
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, "/login".to_string()),
            (SET_COOKIE, session::clear_cookie()),
        ],
    )
        .into_response()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
