//! Embedded scripts shared by the pages (each page's stylesheet is inline,
//! see [`super::layout`]).

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// Live updates of `data-refresh` fragments (runs lists).
pub const PAGES_JS: &str = include_str!("pages.js");
/// Where [`PAGES_JS`] is served.
pub const PAGES_JS_PATH: &str = "/ui/pages.js";

pub fn routes() -> Router<AppState> {
    Router::new().route(PAGES_JS_PATH, get(pages_js))
}

async fn pages_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // Revalidated on every load: the binary may have been upgraded.
            (CACHE_CONTROL, "no-cache"),
        ],
        PAGES_JS,
    )
}
