//! Scheduler records of a run: appended in order, read back for replay.

use slipway_engine::records::Record;

use super::macros::BeginWrite;
use super::{Id, SqlError, SqlStore, StoredRecord};

pub(crate) async fn append(store: &SqlStore, run_id: Id, record: &Record) -> Result<i64, SqlError> {
    let json =
        serde_json::to_string(record).map_err(|e| SqlError::invalid("record", e.to_string()))?;
    let now = store.now();
    on_pool!(store, |pool| {
        let mut tx = pool.begin_write().await?;
        // The run row's counter serialises appends to one run.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET next_event_seq = next_event_seq + 1 WHERE id = $1 \
             RETURNING next_event_seq - 1",
        )
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else {
            return Err(SqlError::not_found("run", run_id));
        };
        sqlx::query(
            "INSERT INTO run_events (run_id, seq, record, recorded_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(run_id)
        .bind(seq)
        .bind(&json)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(seq)
    })
}

pub(crate) async fn read(
    store: &SqlStore,
    run_id: Id,
    after_seq: i64,
) -> Result<Vec<StoredRecord>, SqlError> {
    let rows: Vec<(i64, String, i64)> = on_pool!(store, |pool| {
        sqlx::query_as(
            "SELECT seq, record, recorded_ms FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(run_id)
        .bind(after_seq)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(seq, json, recorded_ms)| {
            let record = serde_json::from_str(&json)
                .map_err(|e| SqlError::Corrupt(format!("record {seq} of run {run_id}: {e}")))?;
            Ok(StoredRecord {
                seq,
                record,
                recorded_ms,
            })
        })
        .collect()
}
