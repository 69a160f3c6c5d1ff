//! Releases: the append-only record of every deployment to an environment.
//!
//! There is no update and no delete here, and triggers refuse both in the
//! database: a release, once appended, is evidence.

use super::projects::parse_json;
use super::{
    Id, NewRelease, Release, ReleaseFilter, ReleaseKind, ReleaseOutcome, SqlError, SqlStore,
    validate,
};

macro_rules! release_columns {
    () => {
        "id, project_id, run_id, job_key, environment, digest, artifact_name, kind, outcome, \
         commit_sha, commit_time_ms, started_ms, finished_ms, record, recorded_ms"
    };
}

type ReleaseRow = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    String,
    i64,
);

fn from_row(row: ReleaseRow) -> Result<Release, SqlError> {
    let (
        id,
        project_id,
        run_id,
        job_key,
        environment,
        digest,
        artifact_name,
        kind,
        outcome,
        commit_sha,
        commit_time_ms,
        started_ms,
        finished_ms,
        record,
        recorded_ms,
    ) = row;
    let corrupt = |e: SqlError| SqlError::Corrupt(e.to_string());
    Ok(Release {
        id,
        project_id,
        run_id,
        job_key,
        environment,
        digest,
        artifact_name,
        kind: ReleaseKind::parse(&kind).map_err(corrupt)?,
        outcome: ReleaseOutcome::parse(&outcome).map_err(corrupt)?,
        commit_sha,
        commit_time_ms,
        started_ms,
        finished_ms,
        record: parse_json("release record", &record)?,
        recorded_ms,
    })
}

/// The largest release record accepted (canary evidence included).
const MAX_RECORD: usize = 4 << 20;

fn check_environment(name: &str) -> Result<(), SqlError> {
    validate::text("environment", name, 255, true)
}

fn check_digest(digest: &str) -> Result<(), SqlError> {
    validate::text("digest", digest, 1024, true)
}

fn limit(limit: u32) -> i64 {
    match limit {
        0 => 100,
        n => i64::from(n.min(10_000)),
    }
}

pub(crate) async fn append(store: &SqlStore, new: NewRelease) -> Result<Release, SqlError> {
    validate::text("job key", &new.job_key, 1024, true)?;
    check_environment(&new.environment)?;
    check_digest(&new.digest)?;
    validate::text("artifact name", &new.artifact_name, 1024, false)?;
    validate::opt_text("commit", new.commit_sha.as_deref(), 255)?;
    if !new.record.is_object() {
        return Err(SqlError::invalid("release record", "must be a JSON object"));
    }
    // serde_json escapes NUL inside strings, so only the size can be refused.
    let record = new.record.to_string();
    validate::text("release record", &record, MAX_RECORD, false)?;
    let now = store.now();
    let row: ReleaseRow = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "INSERT INTO releases (project_id, run_id, job_key, environment, digest, \
             artifact_name, kind, outcome, commit_sha, commit_time_ms, started_ms, finished_ms, \
             record, recorded_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
            release_columns!()
        ))
        .bind(new.project_id)
        .bind(new.run_id)
        .bind(&new.job_key)
        .bind(&new.environment)
        .bind(&new.digest)
        .bind(&new.artifact_name)
        .bind(new.kind.as_str())
        .bind(new.outcome.as_str())
        .bind(new.commit_sha.as_deref())
        .bind(new.commit_time_ms)
        .bind(new.started_ms)
        .bind(new.finished_ms)
        .bind(&record)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => match new.run_id {
                Some(run) => {
                    SqlError::not_found("project or run", format!("{}/{run}", new.project_id))
                }
                None => SqlError::not_found("project", new.project_id),
            },
            _ => SqlError::Database(e),
        })?
    });
    from_row(row)
}

pub(crate) async fn get(store: &SqlStore, id: Id) -> Result<Release, SqlError> {
    let row: Option<ReleaseRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(|| Err(SqlError::not_found("release", id)), from_row)
}

pub(crate) async fn list(
    store: &SqlStore,
    project_id: Id,
    filter: &ReleaseFilter,
) -> Result<Vec<Release>, SqlError> {
    if let Some(environment) = &filter.environment {
        check_environment(environment)?;
    }
    let environment = filter.environment.as_deref();
    let rows: Vec<ReleaseRow> = on_pool!(store, |pool| {
        let query = if filter.newest_first {
            concat!(
                "SELECT ",
                release_columns!(),
                " FROM releases WHERE project_id = $1 AND ($2 IS NULL OR environment = $2) \
                 AND ($3 IS NULL OR finished_ms >= $3) ORDER BY id DESC LIMIT $4"
            )
        } else {
            concat!(
                "SELECT ",
                release_columns!(),
                " FROM releases WHERE project_id = $1 AND ($2 IS NULL OR environment = $2) \
                 AND ($3 IS NULL OR finished_ms >= $3) ORDER BY id LIMIT $4"
            )
        };
        sqlx::query_as(query)
            .bind(project_id)
            .bind(environment)
            .bind(filter.since_ms)
            .bind(limit(filter.limit))
            .fetch_all(pool)
            .await?
    });
    rows.into_iter().map(from_row).collect()
}

pub(crate) async fn last_successful(
    store: &SqlStore,
    project_id: Id,
    environment: Option<&str>,
    digest: Option<&str>,
) -> Result<Option<Release>, SqlError> {
    if let Some(environment) = environment {
        check_environment(environment)?;
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    let row: Option<ReleaseRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE project_id = $1 AND outcome = 'succeeded' \
             AND ($2 IS NULL OR environment = $2) AND ($3 IS NULL OR digest = $3) \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(project_id)
        .bind(environment)
        .bind(digest)
        .fetch_optional(pool)
        .await?
    });
    row.map(from_row).transpose()
}
