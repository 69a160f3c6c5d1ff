//! Runs: numbering, status, listing, counts, and the pipeline each was
//! started with.

use super::macros::BeginWrite;
use super::projects::{object_text, parse_json};
use super::{Id, NewRun, Run, RunFilter, RunStatus, SqlError, SqlStore, validate};

macro_rules! run_columns {
    () => {
        "id, project_id, number, status, reason, trigger_kind, branch, tag, commit_sha, inputs, \
         triggered_by, created_ms, started_ms, finished_ms"
    };
}

type RunRow = (
    i64,
    i64,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn from_row(row: RunRow) -> Result<Run, SqlError> {
    let (
        id,
        project_id,
        number,
        status,
        reason,
        trigger,
        branch,
        tag,
        commit_sha,
        inputs,
        triggered_by,
        created_ms,
        started_ms,
        finished_ms,
    ) = row;
    Ok(Run {
        id,
        project_id,
        number,
        status: RunStatus::parse(&status).map_err(|e| SqlError::Corrupt(e.to_string()))?,
        reason,
        trigger,
        branch,
        tag,
        commit_sha,
        inputs: parse_json("run inputs", &inputs)?,
        triggered_by,
        created_ms,
        started_ms,
        finished_ms,
    })
}

pub(crate) async fn create(store: &SqlStore, new: NewRun) -> Result<Run, SqlError> {
    validate::text("trigger", &new.trigger, 64, true)?;
    validate::opt_text("branch", new.branch.as_deref(), 1024)?;
    validate::opt_text("tag", new.tag.as_deref(), 1024)?;
    validate::opt_text("commit", new.commit_sha.as_deref(), 128)?;
    validate::opt_text("triggered by", new.triggered_by.as_deref(), 255)?;
    let inputs = object_text("run inputs", &new.inputs)?;
    let now = store.now();
    on_pool!(store, |pool| {
        let mut tx = pool.begin_write().await?;
        // Taking the number locks the project row (PostgreSQL) or holds the
        // write lock (SQLite) until commit: concurrent creates queue here.
        let number: Option<i64> = sqlx::query_scalar(
            "UPDATE projects SET next_run_number = next_run_number + 1 WHERE id = $1 \
             RETURNING next_run_number - 1",
        )
        .bind(new.project_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(number) = number else {
            return Err(SqlError::not_found("project", new.project_id));
        };
        let row: RunRow = sqlx::query_as(concat!(
            "INSERT INTO runs (project_id, number, status, trigger_kind, branch, tag, commit_sha, \
             inputs, triggered_by, created_ms) VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9) \
             RETURNING ",
            run_columns!()
        ))
        .bind(new.project_id)
        .bind(number)
        .bind(&new.trigger)
        .bind(new.branch.as_deref())
        .bind(new.tag.as_deref())
        .bind(new.commit_sha.as_deref())
        .bind(&inputs)
        .bind(new.triggered_by.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        from_row(row)
    })
}

pub(crate) async fn get(store: &SqlStore, id: Id) -> Result<Run, SqlError> {
    let row: Option<RunRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(|| Err(SqlError::not_found("run", id)), from_row)
}

pub(crate) async fn by_number(
    store: &SqlStore,
    project_id: Id,
    number: i64,
) -> Result<Run, SqlError> {
    let row: Option<RunRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE project_id = $1 AND number = $2"
        ))
        .bind(project_id)
        .bind(number)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(
        || Err(SqlError::not_found("run", format!("#{number}"))),
        from_row,
    )
}

pub(crate) async fn set_status(
    store: &SqlStore,
    id: Id,
    status: RunStatus,
    reason: Option<&str>,
) -> Result<Run, SqlError> {
    validate::opt_text("reason", reason, 64 * 1024)?;
    let now = store.now();
    let started = (status == RunStatus::Running).then_some(now);
    let finished = status.is_final().then_some(now);
    let row: Option<RunRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "UPDATE runs SET status = $1, reason = $2, started_ms = COALESCE(started_ms, $3), \
             finished_ms = $4 WHERE id = $5 RETURNING ",
            run_columns!()
        ))
        .bind(status.as_str())
        .bind(reason)
        .bind(started)
        .bind(finished)
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(|| Err(SqlError::not_found("run", id)), from_row)
}

pub(crate) async fn list(
    store: &SqlStore,
    project_id: Id,
    filter: &RunFilter,
) -> Result<Vec<Run>, SqlError> {
    validate::opt_text("branch", filter.branch.as_deref(), 1024)?;
    let limit = page_size(filter.limit);
    let rows: Vec<RunRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE project_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR branch = $3) AND ($4 IS NULL OR number < $4) \
             ORDER BY number DESC LIMIT $5"
        ))
        .bind(project_id)
        .bind(filter.status.map(RunStatus::as_str))
        .bind(filter.branch.as_deref())
        .bind(filter.before_number)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(from_row).collect()
}

/// Runs still to finish, across projects, oldest first.
pub(crate) async fn active(store: &SqlStore) -> Result<Vec<Run>, SqlError> {
    let rows: Vec<RunRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE status IN ('queued', 'running') ORDER BY id"
        ))
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(from_row).collect()
}

/// [`list`] for one project; across projects (newest id first, paged by id)
/// when `project_id` is `None`.
pub(crate) async fn list_all(
    store: &SqlStore,
    project_id: Option<Id>,
    filter: &RunFilter,
) -> Result<Vec<Run>, SqlError> {
    if let Some(project_id) = project_id {
        // Within a project, numbers and ids grow together: both are taken
        // under the project's lock in the creating transaction.
        return list(store, project_id, filter).await;
    }
    validate::opt_text("branch", filter.branch.as_deref(), 1024)?;
    let rows: Vec<RunRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR branch = $2) \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(filter.status.map(RunStatus::as_str))
        .bind(filter.branch.as_deref())
        .bind(filter.before_number)
        .bind(page_size(filter.limit))
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(from_row).collect()
}

/// A listing's `limit`: 0 means 50, at most 1000.
pub(crate) fn page_size(limit: u32) -> i64 {
    match limit {
        0 => 50,
        n => i64::from(n.min(1000)),
    }
}

/// How many runs have each status (statuses without runs are absent).
pub(crate) async fn count_by_status(store: &SqlStore) -> Result<Vec<(RunStatus, i64)>, SqlError> {
    let rows: Vec<(String, i64)> = on_pool!(store, |pool| {
        sqlx::query_as("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?
    });
    rows.into_iter()
        .map(|(status, count)| {
            RunStatus::parse(&status)
                .map(|s| (s, count))
                .map_err(|e| SqlError::Corrupt(e.to_string()))
        })
        .collect()
}

/// The largest pipeline source accepted: 4 MiB.
const MAX_PIPELINE_SOURCE: usize = 4 << 20;

pub(crate) async fn set_pipeline(
    store: &SqlStore,
    run_id: Id,
    file: &str,
    source: &str,
) -> Result<(), SqlError> {
    validate::text("pipeline file", file, 4096, true)?;
    validate::text("pipeline source", source, MAX_PIPELINE_SOURCE, false)?;
    on_pool!(store, |pool| {
        sqlx::query(
            "INSERT INTO run_pipelines (run_id, file, source) VALUES ($1, $2, $3) \
             ON CONFLICT (run_id) DO UPDATE SET file = excluded.file, source = excluded.source",
        )
        .bind(run_id)
        .bind(file)
        .bind(source)
        .execute(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                SqlError::not_found("run", run_id)
            }
            _ => SqlError::Database(e),
        })?;
    });
    Ok(())
}

pub(crate) async fn pipeline(
    store: &SqlStore,
    run_id: Id,
) -> Result<Option<(String, String)>, SqlError> {
    Ok(on_pool!(store, |pool| {
        sqlx::query_as("SELECT file, source FROM run_pipelines WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await?
    }))
}
