//! `/healthz`, `/metrics` and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use slipway_store::sql::ServerStore;

use crate::state::AppState;

/// `GET /healthz`: the process answers and its store too.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.count_runs_by_status().await {
        Ok(_) => (axum::http::StatusCode::OK, "ok\n"),
        Err(_) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable\n",
        ),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let runs = state.store.count_runs_by_status().await.unwrap_or_default();
    let jobs = state.store.count_jobs_by_status().await.unwrap_or_default();
    let runs: Vec<(&str, i64)> = runs.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    let jobs: Vec<(&str, i64)> = jobs.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    let text = state
        .metrics
        .render(&runs, &jobs, state.connected_agents(), state.runs.driven());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// `GET /api/v1/openapi.json`: generated from the handlers and types.
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}
