//! `/api/v1/agent/objects/{digest}`: the content-addressed objects of
//! artifacts, so that a job on one agent gets what a job on another made.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use slipway_engine::records::Digest;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn digest(text: &str) -> ApiResult<Digest> {
    if text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(Digest(text.to_string()))
    } else {
        Err(ApiError::bad_request(
            "an object is named by 64 lower-case hex digits (BLAKE3)",
        ))
    }
}

/// `HEAD /api/v1/agent/objects/{digest}`: 200 when the server has it.
pub async fn head(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_agent()?;
    let digest = digest(&name)?;
    match state.objects.has_object(&digest) {
        Ok(true) => Ok(StatusCode::OK),
        Ok(false) => Ok(StatusCode::NOT_FOUND),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// `GET /api/v1/agent/objects/{digest}`
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.require_agent()?;
    let digest = digest(&name)?;
    if !state
        .objects
        .has_object(&digest)
        .map_err(|e| ApiError::internal(e.to_string()))?
    {
        return Err(ApiError::not_found(format!("no object {name}")));
    }
    let file = state
        .objects
        .open_object(&digest)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    Ok(Body::from_stream(stream).into_response())
}

/// `PUT /api/v1/agent/objects/{digest}`: the bytes must be what the digest
/// names, else 422 and nothing is stored.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    caller.require_agent()?;
    let digest = digest(&name)?;
    let objects = state.objects.clone();
    let stored = tokio::task::spawn_blocking(move || objects.import_object(&digest, &body[..]))
        .await
        .map_err(|_| ApiError::internal("the import task failed"))?;
    match stored {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
    }
}
