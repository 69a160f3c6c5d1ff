//! API errors: a status and a message, answered as [`ErrorBody`] JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use slipway_api::ErrorBody;
use slipway_store::sql::SqlError;

/// An error answer. Messages are for users: they never hold a secret or a
/// token, and database internals are logged, not sent.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid token is required: send `Authorization: Bearer TOKEN` (see DATA_DIR/admin-token)",
        )
    }
    pub fn forbidden(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("your role does not allow this: {what}"),
        )
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<SqlError> for ApiError {
    fn from(error: SqlError) -> ApiError {
        match error {
            SqlError::Invalid { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
            }
            SqlError::NotFound { .. } => ApiError::not_found(error.to_string()),
            SqlError::AlreadyExists { .. } | SqlError::Conflict { .. } => {
                ApiError::conflict(error.to_string())
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store failed; the request was not carried out (see the server log)",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
