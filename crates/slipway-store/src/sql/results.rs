//! What jobs produce: the artifact index and per-test results, with the
//! history and flakiness queries.

use std::collections::BTreeMap;

use slipway_engine::records::{ArtifactKind, ArtifactRecord, Digest};
use slipway_reports::TestCase;

use super::macros::BeginWrite;
use super::model::{outcome_str, parse_outcome};
use super::{FlakyReason, FlakyTest, Id, SqlError, SqlStore, TestId, TestResult, validate};

fn kind_str(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::File => "file",
        ArtifactKind::Directory => "directory",
    }
}

fn check_artifact(artifact: &ArtifactRecord) -> Result<(), SqlError> {
    validate::text("artifact name", &artifact.name, 1024, true)?;
    validate::text("artifact path", &artifact.path, 4096, true)?;
    let digest = &artifact.digest.0;
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SqlError::invalid(
            "artifact digest",
            "must be 64 hex characters",
        ));
    }
    Ok(())
}

pub(crate) async fn add_artifacts(
    store: &SqlStore,
    job_id: Id,
    artifacts: &[ArtifactRecord],
) -> Result<(), SqlError> {
    let mut sizes = Vec::with_capacity(artifacts.len());
    for artifact in artifacts {
        check_artifact(artifact)?;
        sizes.push(validate::to_i64("artifact size", artifact.size)?);
    }
    on_pool!(store, |pool| {
        let mut tx = pool.begin_write().await?;
        for (artifact, size) in artifacts.iter().zip(&sizes) {
            sqlx::query(
                "INSERT INTO artifacts (job_id, name, path, digest, size, kind) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, name) DO UPDATE SET \
                 path = excluded.path, digest = excluded.digest, size = excluded.size, kind = excluded.kind",
            )
            .bind(job_id)
            .bind(&artifact.name)
            .bind(&artifact.path)
            .bind(&artifact.digest.0)
            .bind(*size)
            .bind(kind_str(artifact.kind))
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => SqlError::not_found("job", job_id),
                _ => SqlError::Database(e),
            })?;
        }
        tx.commit().await?;
        Ok(())
    })
}

pub(crate) async fn artifacts(
    store: &SqlStore,
    job_id: Id,
) -> Result<Vec<ArtifactRecord>, SqlError> {
    let rows: Vec<(String, String, String, i64, String)> = on_pool!(store, |pool| {
        sqlx::query_as(
            "SELECT name, path, digest, size, kind FROM artifacts WHERE job_id = $1 ORDER BY name",
        )
        .bind(job_id)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(name, path, digest, size, kind)| {
            Ok(ArtifactRecord {
                name,
                path,
                digest: Digest(digest),
                size: u64::try_from(size).map_err(|_| SqlError::Corrupt("artifact size".into()))?,
                kind: match kind.as_str() {
                    "file" => ArtifactKind::File,
                    "directory" => ArtifactKind::Directory,
                    other => return Err(SqlError::Corrupt(format!("artifact kind `{other}`"))),
                },
            })
        })
        .collect()
}

fn check_case(case: &TestCase) -> Result<(), SqlError> {
    validate::text("test suite", &case.suite, 4096, false)?;
    validate::text("test classname", &case.classname, 4096, false)?;
    validate::text("test name", &case.name, 4096, false)?;
    validate::opt_text("test message", case.message.as_deref(), 64 * 1024)?;
    Ok(())
}

pub(crate) async fn add_tests(
    store: &SqlStore,
    job_id: Id,
    cases: &[TestCase],
) -> Result<(), SqlError> {
    for case in cases {
        check_case(case)?;
    }
    on_pool!(store, |pool| {
        let mut tx = pool.begin_write().await?;
        let owner: Option<(i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT r.id, r.project_id, r.commit_sha FROM jobs j JOIN runs r ON r.id = j.run_id WHERE j.id = $1",
        )
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((run_id, project_id, commit_sha)) = owner else {
            return Err(SqlError::not_found("job", job_id));
        };
        for case in cases {
            sqlx::query(
                "INSERT INTO test_results (job_id, run_id, project_id, commit_sha, suite, classname, \
                 name, outcome, time_seconds, message, flaky_attempts) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(job_id)
            .bind(run_id)
            .bind(project_id)
            .bind(commit_sha.as_deref())
            .bind(&case.suite)
            .bind(&case.classname)
            .bind(&case.name)
            .bind(outcome_str(case.outcome))
            .bind(case.time_seconds.filter(|t| t.is_finite()))
            .bind(case.message.as_deref())
            .bind(i64::from(case.flaky_attempts))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

macro_rules! result_columns {
    () => {
        "t.run_id, r.number, t.job_id, t.commit_sha, t.suite, t.classname, t.name, t.outcome, \
         t.time_seconds, t.message, t.flaky_attempts"
    };
}

type ResultRow = (
    i64,
    i64,
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<f64>,
    Option<String>,
    i64,
);

fn result_from_row(row: ResultRow) -> Result<TestResult, SqlError> {
    let (
        run_id,
        run_number,
        job_id,
        commit_sha,
        suite,
        classname,
        name,
        outcome,
        time_seconds,
        message,
        flaky,
    ) = row;
    Ok(TestResult {
        run_id,
        run_number,
        job_id,
        commit_sha,
        test: TestId {
            suite,
            classname,
            name,
        },
        outcome: parse_outcome(&outcome)?,
        time_seconds,
        message,
        flaky_attempts: u32::try_from(flaky)
            .map_err(|_| SqlError::Corrupt("flaky attempts".into()))?,
    })
}

pub(crate) async fn tests_of_job(
    store: &SqlStore,
    job_id: Id,
) -> Result<Vec<TestResult>, SqlError> {
    let rows: Vec<ResultRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            result_columns!(),
            " FROM test_results t JOIN runs r ON r.id = t.run_id WHERE t.job_id = $1 ORDER BY t.id"
        ))
        .bind(job_id)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(result_from_row).collect()
}

pub(crate) async fn history(
    store: &SqlStore,
    project_id: Id,
    test: &TestId,
    limit: u32,
) -> Result<Vec<TestResult>, SqlError> {
    let limit = i64::from(limit.clamp(1, 1000));
    let rows: Vec<ResultRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            result_columns!(),
            " FROM test_results t JOIN runs r ON r.id = t.run_id WHERE t.project_id = $1 \
             AND t.suite = $2 AND t.classname = $3 AND t.name = $4 \
             ORDER BY r.number DESC, t.id DESC LIMIT $5"
        ))
        .bind(project_id)
        .bind(&test.suite)
        .bind(&test.classname)
        .bind(&test.name)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(result_from_row).collect()
}

pub(crate) async fn flaky(store: &SqlStore, project_id: Id) -> Result<Vec<FlakyTest>, SqlError> {
    type Row = (String, String, String, Option<String>, i64);
    let (mixed, marked): (Vec<Row>, Vec<Row>) = on_pool!(store, |pool| {
        let mixed = sqlx::query_as(
            "SELECT suite, classname, name, commit_sha, COUNT(*) FROM test_results \
             WHERE project_id = $1 AND commit_sha IS NOT NULL \
             GROUP BY suite, classname, name, commit_sha \
             HAVING SUM(CASE WHEN outcome IN ('passed', 'flaky') THEN 1 ELSE 0 END) > 0 \
             AND SUM(CASE WHEN outcome IN ('failed', 'errored') THEN 1 ELSE 0 END) > 0",
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?;
        let marked = sqlx::query_as(
            "SELECT suite, classname, name, NULL, COUNT(*) FROM test_results \
             WHERE project_id = $1 AND (outcome = 'flaky' OR flaky_attempts > 0) \
             GROUP BY suite, classname, name",
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?;
        (mixed, marked)
    });
    // BTreeMap: one entry per (test, reason), sorted for stable output.
    let mut found = BTreeMap::new();
    for (suite, classname, name, commit, results) in mixed.into_iter().chain(marked) {
        let reason = match commit {
            Some(commit_sha) => FlakyReason::PassedAndFailedOn { commit_sha },
            None => FlakyReason::MarkedFlaky,
        };
        found.insert(
            (
                TestId {
                    suite,
                    classname,
                    name,
                },
                reason,
            ),
            results,
        );
    }
    Ok(found
        .into_iter()
        .map(|((test, reason), results)| FlakyTest {
            test,
            reason,
            results,
        })
        .collect())
}
