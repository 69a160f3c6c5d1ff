//! The web UI, served at `/` by the same router as the API: server-rendered
//! HTML with a little plain JavaScript, every asset embedded in the binary.
//!
//! Pages read and act through the API's own handlers (one implementation of
//! every rule: roles, validation, audit), called in-process with the
//! viewer's [`crate::auth::Caller`]; a browser session is a cookie holding a
//! token, and every form and script request that changes something carries
//! the session's CSRF token.
//!
//! - [`auth`]: login (username and password, argon2), the page viewer, CSRF, logout.
//! - [`session`]: the session cookie, CSRF tokens, password hashing.
//! - [`throttle`]: locks a username for a while after repeated wrong passwords.
//! - [`layout`]: the page frame, HTML escaping.
//! - [`pages`]: projects and their runs (filters, live updates), triggering.
//! - [`run`]: one run: its DAG, jobs, steps, live logs, tests, artifacts, actions.
//! - [`envs`]: environments, deployments, canaries, releases, DORA.
//! - [`assets`]: CSS and JavaScript.

pub mod assets;
pub mod auth;
pub mod envs;
pub mod layout;
pub mod pages;
pub mod run;
pub mod session;
pub mod throttle;

use axum::Router;

use crate::state::AppState;

/// Every UI route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(pages::routes())
        .merge(run::routes())
        .merge(envs::routes())
        .merge(assets::routes())
}
