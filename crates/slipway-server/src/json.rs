//! A JSON body extractor whose rejections are [`ApiError`]s: malformed
//! JSON, a wrong content type and an oversized body get the same
//! `{"error": …}` shape as every other error, never a 500.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use crate::error::ApiError;

/// `Json<T>` with [`ApiError`] rejections.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(rejection_error(rejection)),
        }
    }
}

fn rejection_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON with `Content-Type: application/json`".to_string()
        }
        JsonRejection::JsonSyntaxError(_) => format!("malformed JSON: {}", rejection.body_text()),
        JsonRejection::JsonDataError(_) => format!("unexpected JSON: {}", rejection.body_text()),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => "the body is too large".to_string(),
        _ => rejection.body_text(),
    };
    ApiError::new(status, message)
}
