//! The audit log: read it, and verify its hash chain.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use slipway_store::sql::{ServerStore, SqlError};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// The answer of `GET /api/v1/audit/verify`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditVerdict {
    /// The chain is intact.
    pub intact: bool,
    /// Entries checked (when intact).
    pub entries: u64,
    /// The first entry found changed, inserted or missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/v1/audit/verify` (server administrators): recomputes the whole
/// hash chain; a changed, inserted or deleted entry (the last one
/// included) is named.
#[utoipa::path(get, path = "/api/v1/audit/verify",
    responses((status = 200, body = AuditVerdict)), security(("token" = [])), tag = "audit")]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<AuditVerdict>> {
    caller.require_admin()?;
    let verdict = match state.store.verify_audit_chain().await {
        Ok(entries) => AuditVerdict {
            intact: true,
            entries,
            broken_at: None,
            reason: None,
        },
        Err(SqlError::AuditTampered { seq, reason }) => AuditVerdict {
            intact: false,
            entries: 0,
            broken_at: Some(seq),
            reason: Some(reason),
        },
        Err(other) => return Err(other.into()),
    };
    Ok(Json(verdict))
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Entries after this sequence number (default 0).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub hash: String,
}

/// `GET /api/v1/audit` (server administrators): entries in order.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>)), security(("token" = [])), tag = "audit")]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditView>>> {
    caller.require_admin()?;
    let entries = state
        .store
        .audit_entries(
            query.after.unwrap_or(0),
            query.limit.unwrap_or(100).min(1000),
        )
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditView {
                seq: e.seq,
                at_ms: e.at_ms,
                actor: e.actor,
                action: e.action,
                target: e.target,
                details: serde_json::from_str(&e.details)
                    .unwrap_or(serde_json::Value::String(e.details)),
                hash: e.hash,
            })
            .collect(),
    ))
}
