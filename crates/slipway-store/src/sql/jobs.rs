//! Jobs (state, claiming, leases) and their steps.

use super::{
    Database, Id, Job, JobStatus, JobUpsert, SqlError, SqlStore, Step, StepUpsert, validate,
};

macro_rules! job_columns {
    () => {
        "id, run_id, job_key, labels, status, agent, lease_expires_ms, attempt, reason, queued_ms, \
         started_ms, finished_ms"
    };
}

type JobRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    i64,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn from_row(row: JobRow) -> Result<Job, SqlError> {
    let (
        id,
        run_id,
        key,
        labels,
        status,
        agent,
        lease_expires_ms,
        attempt,
        reason,
        queued_ms,
        started_ms,
        finished_ms,
    ) = row;
    Ok(Job {
        id,
        run_id,
        key,
        labels: serde_json::from_str(&labels)
            .map_err(|e| SqlError::Corrupt(format!("job labels: {e}")))?,
        status: JobStatus::parse(&status).map_err(|e| SqlError::Corrupt(e.to_string()))?,
        agent,
        lease_expires_ms,
        attempt: u32::try_from(attempt).map_err(|_| SqlError::Corrupt("job attempt".into()))?,
        reason,
        queued_ms,
        started_ms,
        finished_ms,
    })
}

fn labels_json(labels: &[String]) -> Result<String, SqlError> {
    for label in labels {
        validate::text("label", label, 255, true)?;
    }
    serde_json::to_string(labels).map_err(|e| SqlError::invalid("labels", e.to_string()))
}

fn check_agent(agent: &str) -> Result<(), SqlError> {
    validate::text("agent name", agent, 255, true)
}

pub(crate) async fn upsert(store: &SqlStore, job: JobUpsert) -> Result<Job, SqlError> {
    validate::text("job key", &job.key, 1024, true)?;
    validate::opt_text("agent name", job.agent.as_deref(), 255)?;
    validate::opt_text("reason", job.reason.as_deref(), 64 * 1024)?;
    let labels = labels_json(&job.labels)?;
    let now = store.now();
    let started = (job.status == JobStatus::Running).then_some(now);
    let finished = job.status.is_final().then_some(now);
    let row: JobRow = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "INSERT INTO jobs (run_id, job_key, labels, status, agent, lease_expires_ms, attempt, \
             reason, queued_ms, started_ms, finished_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (run_id, job_key) DO UPDATE SET labels = excluded.labels, \
             status = excluded.status, agent = excluded.agent, \
             lease_expires_ms = excluded.lease_expires_ms, attempt = excluded.attempt, \
             reason = excluded.reason, \
             queued_ms = CASE WHEN excluded.status = 'queued' THEN excluded.queued_ms ELSE jobs.queued_ms END, \
             started_ms = COALESCE(jobs.started_ms, excluded.started_ms), \
             finished_ms = excluded.finished_ms \
             RETURNING ",
            job_columns!()
        ))
        .bind(job.run_id)
        .bind(&job.key)
        .bind(&labels)
        .bind(job.status.as_str())
        .bind(job.agent.as_deref())
        .bind(job.lease_expires_ms)
        .bind(i64::from(job.attempt))
        .bind(job.reason.as_deref())
        .bind(now)
        .bind(started)
        .bind(finished)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                SqlError::not_found("run", job.run_id)
            }
            _ => SqlError::Database(e),
        })?
    });
    from_row(row)
}

pub(crate) async fn get(store: &SqlStore, id: Id) -> Result<Job, SqlError> {
    let row: Option<JobRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(|| Err(SqlError::not_found("job", id)), from_row)
}

pub(crate) async fn list(store: &SqlStore, run_id: Id) -> Result<Vec<Job>, SqlError> {
    let rows: Vec<JobRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE run_id = $1 ORDER BY id"
        ))
        .bind(run_id)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(from_row).collect()
}

/// SQLite: one statement, so the choice and the update happen under the one
/// write lock; a job's labels must all be among the agent's.
const CLAIM_SQLITE: &str = concat!(
    "UPDATE jobs SET status = 'running', agent = $1, lease_expires_ms = $2, \
     started_ms = COALESCE(started_ms, $3), finished_ms = NULL \
     WHERE status = 'queued' AND id = (SELECT j.id FROM jobs j WHERE j.status = 'queued' \
     AND NOT EXISTS (SELECT 1 FROM json_each(j.labels) need \
     WHERE need.value NOT IN (SELECT have.value FROM json_each($4) have)) \
     ORDER BY j.queued_ms, j.id LIMIT 1) RETURNING ",
    job_columns!()
);

/// PostgreSQL: the candidate row is locked, and rows other claimers hold
/// are skipped rather than waited for.
const CLAIM_POSTGRES: &str = concat!(
    "UPDATE jobs SET status = 'running', agent = $1, lease_expires_ms = $2, \
     started_ms = COALESCE(started_ms, $3), finished_ms = NULL \
     WHERE status = 'queued' AND id = (SELECT j.id FROM jobs j WHERE j.status = 'queued' \
     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(j.labels::jsonb) AS need(label) \
     WHERE need.label NOT IN (SELECT jsonb_array_elements_text($4::jsonb))) \
     ORDER BY j.queued_ms, j.id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ",
    job_columns!()
);

pub(crate) async fn claim(
    store: &SqlStore,
    agent: &str,
    agent_labels: &[String],
    lease_ms: i64,
) -> Result<Option<Job>, SqlError> {
    check_agent(agent)?;
    let labels = labels_json(agent_labels)?;
    let now = store.now();
    let expires = now.saturating_add(lease_ms);
    let row: Option<JobRow> = match &store.db {
        Database::Sqlite(pool) => {
            sqlx::query_as(CLAIM_SQLITE)
                .bind(agent)
                .bind(expires)
                .bind(now)
                .bind(&labels)
                .fetch_optional(pool)
                .await?
        }
        Database::Postgres(pool) => {
            sqlx::query_as(CLAIM_POSTGRES)
                .bind(agent)
                .bind(expires)
                .bind(now)
                .bind(&labels)
                .fetch_optional(pool)
                .await?
        }
    };
    row.map(from_row).transpose()
}

pub(crate) async fn renew_lease(
    store: &SqlStore,
    job_id: Id,
    agent: &str,
    lease_ms: i64,
) -> Result<Job, SqlError> {
    check_agent(agent)?;
    let expires = store.now().saturating_add(lease_ms);
    let row: Option<JobRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "UPDATE jobs SET lease_expires_ms = $1 WHERE id = $2 AND agent = $3 \
             AND status = 'running' RETURNING ",
            job_columns!()
        ))
        .bind(expires)
        .bind(job_id)
        .bind(agent)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(
        || {
            Err(SqlError::NotFound {
                what: "running job",
                name: format!("{job_id} held by agent `{agent}`"),
            })
        },
        from_row,
    )
}

pub(crate) async fn expired(store: &SqlStore, limit: u32) -> Result<Vec<Job>, SqlError> {
    let now = store.now();
    let rows: Vec<JobRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE status = 'running' AND lease_expires_ms < $1 \
             ORDER BY lease_expires_ms, id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit.max(1)))
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(from_row).collect()
}

pub(crate) async fn expire_lease(
    store: &SqlStore,
    job_id: Id,
    requeue: bool,
    reason: &str,
) -> Result<Option<Job>, SqlError> {
    validate::text("reason", reason, 64 * 1024, false)?;
    let now = store.now();
    let (status, attempt_step, finished) = if requeue {
        (JobStatus::Queued, 1i64, None)
    } else {
        (JobStatus::Failed, 0i64, Some(now))
    };
    // Guarded by the lease: an agent that renewed in the meantime keeps it.
    let row: Option<JobRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "UPDATE jobs SET status = $1, agent = NULL, lease_expires_ms = NULL, \
             attempt = attempt + $2, reason = $3, finished_ms = $4, \
             queued_ms = CASE WHEN $1 = 'queued' THEN $5 ELSE queued_ms END \
             WHERE id = $6 AND status = 'running' AND lease_expires_ms < $5 RETURNING ",
            job_columns!()
        ))
        .bind(status.as_str())
        .bind(attempt_step)
        .bind(reason)
        .bind(finished)
        .bind(now)
        .bind(job_id)
        .fetch_optional(pool)
        .await?
    });
    row.map(from_row).transpose()
}

macro_rules! step_columns {
    () => {
        "job_id, idx, name, status, exit_code, started_ms, finished_ms"
    };
}

type StepRow = (
    i64,
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn step_from_row(row: StepRow) -> Result<Step, SqlError> {
    let (job_id, index, name, status, exit_code, started_ms, finished_ms) = row;
    Ok(Step {
        job_id,
        index: u32::try_from(index).map_err(|_| SqlError::Corrupt("step index".into()))?,
        name,
        status: JobStatus::parse(&status).map_err(|e| SqlError::Corrupt(e.to_string()))?,
        exit_code: exit_code
            .map(i32::try_from)
            .transpose()
            .map_err(|_| SqlError::Corrupt("step exit code".into()))?,
        started_ms,
        finished_ms,
    })
}

pub(crate) async fn upsert_step(store: &SqlStore, step: StepUpsert) -> Result<Step, SqlError> {
    validate::text("step name", &step.name, 1024, false)?;
    let now = store.now();
    let started = (step.status == JobStatus::Running).then_some(now);
    let finished = step.status.is_final().then_some(now);
    let row: StepRow = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "INSERT INTO steps (job_id, idx, name, status, exit_code, started_ms, finished_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (job_id, idx) DO UPDATE SET name = excluded.name, status = excluded.status, \
             exit_code = excluded.exit_code, started_ms = COALESCE(steps.started_ms, excluded.started_ms), \
             finished_ms = excluded.finished_ms RETURNING ",
            step_columns!()
        ))
        .bind(step.job_id)
        .bind(i64::from(step.index))
        .bind(&step.name)
        .bind(step.status.as_str())
        .bind(step.exit_code.map(i64::from))
        .bind(started)
        .bind(finished)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                SqlError::not_found("job", step.job_id)
            }
            _ => SqlError::Database(e),
        })?
    });
    step_from_row(row)
}

pub(crate) async fn steps(store: &SqlStore, job_id: Id) -> Result<Vec<Step>, SqlError> {
    let rows: Vec<StepRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            step_columns!(),
            " FROM steps WHERE job_id = $1 ORDER BY idx"
        ))
        .bind(job_id)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(step_from_row).collect()
}

pub(crate) async fn by_key(store: &SqlStore, run_id: Id, key: &str) -> Result<Job, SqlError> {
    validate::text("job key", key, 1024, true)?;
    let row: Option<JobRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE run_id = $1 AND job_key = $2"
        ))
        .bind(run_id)
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(
        || {
            Err(SqlError::NotFound {
                what: "job",
                name: format!("`{key}` of run {run_id}"),
            })
        },
        from_row,
    )
}

/// How many jobs have each status (statuses without jobs are absent).
pub(crate) async fn count_by_status(store: &SqlStore) -> Result<Vec<(JobStatus, i64)>, SqlError> {
    let rows: Vec<(String, i64)> = on_pool!(store, |pool| {
        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?
    });
    rows.into_iter()
        .map(|(status, count)| {
            JobStatus::parse(&status)
                .map(|s| (s, count))
                .map_err(|e| SqlError::Corrupt(e.to_string()))
        })
        .collect()
}
