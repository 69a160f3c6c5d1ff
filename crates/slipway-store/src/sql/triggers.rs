//! What the trigger side keeps: the webhook delivery log and the small JSON
//! state the polling and cron loops carry across restarts.

use serde_json::Value;

use super::projects::parse_json;
use super::runs::page_size;
use super::{Delivery, DeliveryResult, Id, NewDelivery, SqlError, SqlStore, validate};

macro_rules! delivery_columns {
    () => {
        "id, project_id, forge, event, delivery_id, result, message, run_ids, received_ms"
    };
}

type DeliveryRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    i64,
);

fn delivery_from_row(row: DeliveryRow) -> Result<Delivery, SqlError> {
    let (id, project_id, forge, event, delivery_id, result, message, run_ids, received_ms) = row;
    Ok(Delivery {
        id,
        project_id,
        forge,
        event,
        delivery_id,
        result: DeliveryResult::parse(&result).map_err(|e| SqlError::Corrupt(e.to_string()))?,
        message,
        run_ids: serde_json::from_str(&run_ids)
            .map_err(|e| SqlError::Corrupt(format!("delivery run ids: {e}")))?,
        received_ms,
    })
}

/// A foreign-key violation means the project is gone (or never was).
fn project_missing(project_id: Id) -> impl FnOnce(sqlx::Error) -> SqlError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            SqlError::not_found("project", project_id)
        }
        _ => SqlError::Database(e),
    }
}

pub(crate) async fn record_delivery(
    store: &SqlStore,
    d: NewDelivery,
) -> Result<Delivery, SqlError> {
    validate::text("forge", &d.forge, 64, true)?;
    validate::text("event", &d.event, 255, false)?;
    validate::opt_text("delivery id", d.delivery_id.as_deref(), 255)?;
    validate::opt_text("delivery message", d.message.as_deref(), 64 * 1024)?;
    if d.run_ids.len() > 10_000 {
        return Err(SqlError::invalid("delivery run ids", "at most 10000"));
    }
    let run_ids = serde_json::to_string(&d.run_ids)
        .map_err(|e| SqlError::invalid("delivery run ids", e.to_string()))?;
    let now = store.now();
    let row: DeliveryRow = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "INSERT INTO webhook_deliveries (project_id, forge, event, delivery_id, result, \
             message, run_ids, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            delivery_columns!()
        ))
        .bind(d.project_id)
        .bind(&d.forge)
        .bind(&d.event)
        .bind(d.delivery_id.as_deref())
        .bind(d.result.as_str())
        .bind(d.message.as_deref())
        .bind(&run_ids)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(project_missing(d.project_id))?
    });
    delivery_from_row(row)
}

pub(crate) async fn deliveries(
    store: &SqlStore,
    project_id: Id,
    limit: u32,
) -> Result<Vec<Delivery>, SqlError> {
    let rows: Vec<DeliveryRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE project_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(project_id)
        .bind(page_size(limit))
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(delivery_from_row).collect()
}

fn check_key(key: &str) -> Result<(), SqlError> {
    validate::text("trigger state key", key, 255, true)
}

pub(crate) async fn state(
    store: &SqlStore,
    project_id: Id,
    key: &str,
) -> Result<Option<Value>, SqlError> {
    check_key(key)?;
    let text: Option<String> = on_pool!(store, |pool| {
        sqlx::query_scalar(
            "SELECT value FROM trigger_state WHERE project_id = $1 AND state_key = $2",
        )
        .bind(project_id)
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    text.map(|t| parse_json("trigger state", &t)).transpose()
}

pub(crate) async fn set_state(
    store: &SqlStore,
    project_id: Id,
    key: &str,
    value: &Value,
) -> Result<(), SqlError> {
    check_key(key)?;
    // serde_json escapes NUL in strings, so only the size can be refused.
    let text = value.to_string();
    validate::text("trigger state", &text, 1 << 20, false)?;
    let now = store.now();
    on_pool!(store, |pool| {
        sqlx::query(
            "INSERT INTO trigger_state (project_id, state_key, value, updated_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, state_key) \
             DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
        )
        .bind(project_id)
        .bind(key)
        .bind(&text)
        .bind(now)
        .execute(pool)
        .await
        .map_err(project_missing(project_id))?;
    });
    Ok(())
}
