//! One conformance suite for every SQL backend of `slipway_store::sql`.
//!
//! A backend's test file declares `mod sql_conformance;` and calls
//! `sql_conformance_suite!(make)`, where `make()` is an async function
//! returning a [`Fixture`] on a fresh, empty database.

#![allow(dead_code)] // each test binary uses the whole suite, rustc sees one copy at a time

pub mod approvals;
pub mod releases;
pub mod sessions;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::json;
use slipway_engine::ports::StepExit;
use slipway_engine::records::{
    ArtifactKind, ArtifactRecord, CacheStatus, Digest, JobResult, Record,
};
use slipway_reports::{Outcome, ResultElements, TestCase};
use slipway_store::sql::*;

/// Strings that break naive SQL or encoding.
pub const HOSTILE: &[&str] = &[
    "it's",
    "\"double\" and 'single' quotes",
    "'; DROP TABLE runs; --",
    "\\ backslash \\' and $1 ? :name @p %s",
    "Ünïcödé — 日本語 🚢 \u{202e}rtl",
    "line\nbreak\ttab\r",
];

/// A store on a fresh database, its URL, and a clock the test sets.
pub struct Fixture {
    pub store: SqlStore,
    pub url: String,
    pub clock: Arc<AtomicI64>,
    /// Whatever must live as long as the database (temp dir, …).
    pub keep: Box<dyn Send + Sync>,
}

/// The key every fixture uses.
pub fn test_key() -> SecretKey {
    SecretKey::from_bytes([7u8; 32])
}

/// Connects to `url` with a settable clock starting at 1 000 000 ms.
pub async fn fixture(url: String, keep: Box<dyn Send + Sync>) -> Fixture {
    let clock = Arc::new(AtomicI64::new(1_000_000));
    let read = Arc::clone(&clock);
    let store = SqlStore::connect(&url, test_key())
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
        .with_clock(Arc::new(move || read.load(Ordering::SeqCst)));
    Fixture {
        store,
        url,
        clock,
        keep,
    }
}

#[macro_export]
macro_rules! sql_conformance_suite {
    ($make:path) => {
        $crate::sql_conformance_suite!(@tests $make;
            connect_twice_applies_migrations_once,
            projects_round_trip,
            project_names_are_validated,
            webhook_secret_is_encrypted,
            run_numbers_are_dense_under_concurrency,
            runs_status_and_listing,
            jobs_and_steps,
            claims_oldest_matching_job,
            concurrent_claims_take_each_job_once,
            lease_expiry,
            records_replay_in_order,
            artifacts_index,
            test_history_and_flakiness,
            tokens,
            roles,
            secrets_round_trip_encrypted,
            audit_chain_detects_changes,
            audit_chain_detects_deleted_rows,
            hostile_strings_round_trip,
            nothing_stored_half_way,
            run_pipeline_round_trip,
            active_runs_across_projects,
            list_all_runs_across_projects,
            counts_by_status,
            job_by_key,
            webhook_delivery_log,
            trigger_state_upserts,
            schema_2_applies_over_existing_data,
        );
        $crate::sql_releases_suite!($make);
        $crate::sql_approvals_suite!($make);
        $crate::sql_sessions_suite!($make);
    };
    (@tests $make:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $make().await;
                sql_conformance::$name(&fixture).await;
                fixture.store.close().await;
            }
        )+
    };
}

fn new_project(name: &str) -> NewProject {
    NewProject {
        name: name.into(),
        repo_url: format!("file:///srv/git/{name}.git"),
        default_branch: "main".into(),
        settings: json!({"poll_seconds": 60}),
        webhook_secret: None,
    }
}

fn new_run(project_id: Id, branch: &str, sha: &str) -> NewRun {
    NewRun {
        project_id,
        trigger: "push".into(),
        branch: Some(branch.into()),
        tag: None,
        commit_sha: Some(sha.into()),
        inputs: json!({}),
        triggered_by: None,
    }
}

fn queued_job(run_id: Id, key: &str, labels: &[&str]) -> JobUpsert {
    JobUpsert {
        run_id,
        key: key.into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        status: JobStatus::Queued,
        agent: None,
        lease_expires_ms: None,
        attempt: 1,
        reason: None,
    }
}

fn labels(list: &[&str]) -> Vec<String> {
    list.iter().map(|l| l.to_string()).collect()
}

async fn project_and_run(store: &SqlStore, name: &str) -> (Project, Run) {
    let project = store
        .create_project(new_project(name))
        .await
        .expect("project");
    let run = store
        .create_run(new_run(project.id, "main", "aaa"))
        .await
        .expect("run");
    (project, run)
}

/// Runs raw SQL (test-only tampering), on either backend.
async fn raw(store: &SqlStore, sql: &'static str) -> Result<u64, sqlx::Error> {
    match store.database() {
        Database::Sqlite(pool) => sqlx::query(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        Database::Postgres(pool) => sqlx::query(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    }
}

/// Every byte column of `table` (BLOB/BYTEA) concatenated with every text
/// column, via a backend-neutral query of the named columns.
async fn raw_bytes(store: &SqlStore, sql: &'static str) -> Vec<Vec<u8>> {
    match store.database() {
        Database::Sqlite(pool) => sqlx::query_scalar(sql)
            .fetch_all(pool)
            .await
            .expect("raw bytes"),
        Database::Postgres(pool) => sqlx::query_scalar(sql)
            .fetch_all(pool)
            .await
            .expect("raw bytes"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn case(name: &str, outcome: Outcome) -> TestCase {
    TestCase {
        suite: "suite".into(),
        classname: "pkg.Class".into(),
        name: name.into(),
        file: None,
        line: None,
        time_seconds: Some(0.25),
        outcome,
        message: (outcome == Outcome::Failed).then(|| "assert 1 == 2".into()),
        details: None,
        flaky_attempts: u32::from(outcome == Outcome::Flaky),
        rerun_failures: 0,
        result_elements: ResultElements::default(),
        system_out: None,
        system_err: None,
    }
}

fn test_id(name: &str) -> TestId {
    TestId {
        suite: "suite".into(),
        classname: "pkg.Class".into(),
        name: name.into(),
    }
}

pub async fn connect_twice_applies_migrations_once(f: &Fixture) {
    f.store
        .create_project(new_project("kept"))
        .await
        .expect("create");
    let again = SqlStore::connect(&f.url, test_key())
        .await
        .expect("second connect");
    let project = again.project_by_name("kept").await.expect("still there");
    assert_eq!(project.name, "kept");
    again.close().await;
}

pub async fn projects_round_trip(f: &Fixture) {
    let s = &f.store;
    let web = s
        .create_project(new_project("web"))
        .await
        .expect("create web");
    let api = s
        .create_project(new_project("api"))
        .await
        .expect("create api");
    assert_eq!(web.settings, json!({"poll_seconds": 60}));
    assert!(!web.has_webhook_secret);
    assert_eq!(s.project(web.id).await.expect("by id"), web);
    assert_eq!(s.project_by_name("web").await.expect("by name"), web);
    let names: Vec<_> = s
        .list_projects()
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["api", "web"]);

    let duplicate = s.create_project(new_project("web")).await.unwrap_err();
    assert!(
        matches!(duplicate, SqlError::AlreadyExists { .. }),
        "{duplicate}"
    );
    assert!(duplicate.to_string().contains("`web`"), "{duplicate}");

    let updated = s
        .update_project(
            api.id,
            ProjectUpdate {
                settings: Some(json!({"retention_days": 7})),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.settings, json!({"retention_days": 7}));
    assert_eq!(updated.default_branch, "main");
    let moved = s
        .update_project(
            api.id,
            ProjectUpdate {
                default_branch: Some("trunk".into()),
                ..Default::default()
            },
        )
        .await
        .expect("update branch");
    assert_eq!(moved.settings, json!({"retention_days": 7}));
    assert_eq!(moved.default_branch, "trunk");

    let not_object = s
        .update_project(
            api.id,
            ProjectUpdate {
                settings: Some(json!([1, 2])),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(not_object, SqlError::Invalid { .. }),
        "{not_object}"
    );
    assert!(matches!(
        s.project(9999).await.unwrap_err(),
        SqlError::NotFound { .. }
    ));
    assert!(matches!(
        s.project_by_name("nope").await.unwrap_err(),
        SqlError::NotFound { .. }
    ));
    assert!(matches!(
        s.update_project(9999, ProjectUpdate::default())
            .await
            .unwrap_err(),
        SqlError::NotFound { .. }
    ));
}

pub async fn project_names_are_validated(f: &Fixture) {
    let long = "x".repeat(101);
    for bad in [
        "",
        ".hidden",
        "-flag",
        "a b",
        "../etc",
        "it's",
        "'; DROP TABLE runs; --",
        "naïve",
        "a\0b",
        &long,
    ] {
        let err = f.store.create_project(new_project(bad)).await.unwrap_err();
        assert!(
            matches!(
                err,
                SqlError::Invalid {
                    what: "project name",
                    ..
                }
            ),
            "{bad:?}: {err}"
        );
        let lookup = f.store.project_by_name(bad).await.unwrap_err();
        assert!(
            matches!(lookup, SqlError::Invalid { .. }),
            "{bad:?}: {lookup}"
        );
    }
    assert!(f.store.list_projects().await.expect("list").is_empty());
    for good in ["a", "web-app", "Web_App.2", &"y".repeat(100)] {
        f.store
            .create_project(new_project(good))
            .await
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

pub async fn webhook_secret_is_encrypted(f: &Fixture) {
    let s = &f.store;
    let secret = "whsec-'; DROP TABLE projects; --";
    let mut new = new_project("hooked");
    new.webhook_secret = Some(SecretValue::new(secret));
    let project = s.create_project(new).await.expect("create");
    assert!(project.has_webhook_secret);
    let read = s
        .webhook_secret(project.id)
        .await
        .expect("read")
        .expect("some");
    assert_eq!(read.expose(), secret.as_bytes());
    assert!(!format!("{read:?}").contains("whsec"));
    for stored in raw_bytes(
        s,
        "SELECT webhook_ciphertext FROM projects WHERE webhook_ciphertext IS NOT NULL",
    )
    .await
    {
        assert!(!contains(&stored, secret.as_bytes()));
    }
    s.set_webhook_secret(project.id, Some(&SecretValue::new("second")))
        .await
        .expect("replace");
    assert_eq!(
        s.webhook_secret(project.id)
            .await
            .expect("read")
            .expect("some")
            .expose(),
        b"second"
    );
    s.set_webhook_secret(project.id, None)
        .await
        .expect("remove");
    assert!(s.webhook_secret(project.id).await.expect("read").is_none());
    assert!(!s.project(project.id).await.expect("get").has_webhook_secret);
    assert!(matches!(
        s.webhook_secret(777).await.unwrap_err(),
        SqlError::NotFound { .. }
    ));
}

pub async fn run_numbers_are_dense_under_concurrency(f: &Fixture) {
    let a = f.store.create_project(new_project("a")).await.expect("a");
    let b = f.store.create_project(new_project("b")).await.expect("b");
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = f.store.clone();
        let project = if task % 2 == 0 { a.id } else { b.id };
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for _ in 0..10 {
                let run = store
                    .create_run(new_run(project, "main", "abc"))
                    .await
                    .expect("create run");
                numbers.push((project, run.number));
            }
            numbers
        }));
    }
    let mut per_project = std::collections::BTreeMap::<Id, Vec<i64>>::new();
    for task in tasks {
        for (project, number) in task.await.expect("task") {
            per_project.entry(project).or_default().push(number);
        }
    }
    for (_, mut numbers) in per_project {
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
    }
    let missing = f
        .store
        .create_run(new_run(424242, "main", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            SqlError::NotFound {
                what: "project",
                ..
            }
        ),
        "{missing}"
    );
}

pub async fn runs_status_and_listing(f: &Fixture) {
    let s = &f.store;
    let project = s.create_project(new_project("p")).await.expect("project");
    let mut ids = Vec::new();
    for i in 0..6 {
        let branch = if i % 2 == 0 { "main" } else { "feature/x" };
        let run = s
            .create_run(new_run(project.id, branch, &format!("sha{i}")))
            .await
            .expect("run");
        assert_eq!(run.status, RunStatus::Queued);
        assert_eq!(run.number, i + 1);
        ids.push(run.id);
    }
    f.clock.store(2_000_000, Ordering::SeqCst);
    let running = s
        .set_run_status(ids[0], RunStatus::Running, None)
        .await
        .expect("running");
    assert_eq!(running.started_ms, Some(2_000_000));
    assert_eq!(running.finished_ms, None);
    f.clock.store(3_000_000, Ordering::SeqCst);
    let failed = s
        .set_run_status(
            ids[0],
            RunStatus::Failed,
            Some("commit abc has no slipway.yml"),
        )
        .await
        .expect("failed");
    assert_eq!(failed.started_ms, Some(2_000_000));
    assert_eq!(failed.finished_ms, Some(3_000_000));
    assert_eq!(
        failed.reason.as_deref(),
        Some("commit abc has no slipway.yml")
    );
    assert_eq!(s.run(ids[0]).await.expect("get"), failed);
    assert_eq!(
        s.run_by_number(project.id, 1).await.expect("by number"),
        failed
    );
    assert!(matches!(
        s.run_by_number(project.id, 99).await.unwrap_err(),
        SqlError::NotFound { .. }
    ));
    assert!(matches!(
        s.set_run_status(9999, RunStatus::Running, None)
            .await
            .unwrap_err(),
        SqlError::NotFound { .. }
    ));

    let numbers = |runs: Vec<Run>| runs.into_iter().map(|r| r.number).collect::<Vec<_>>();
    let all = s
        .list_runs(project.id, &RunFilter::default())
        .await
        .expect("all");
    assert_eq!(numbers(all), [6, 5, 4, 3, 2, 1]);
    let failed_only = RunFilter {
        status: Some(RunStatus::Failed),
        ..Default::default()
    };
    assert_eq!(
        numbers(s.list_runs(project.id, &failed_only).await.expect("failed")),
        [1]
    );
    let feature = RunFilter {
        branch: Some("feature/x".into()),
        ..Default::default()
    };
    assert_eq!(
        numbers(s.list_runs(project.id, &feature).await.expect("branch")),
        [6, 4, 2]
    );
    let page1 = RunFilter {
        limit: 4,
        ..Default::default()
    };
    assert_eq!(
        numbers(s.list_runs(project.id, &page1).await.expect("page 1")),
        [6, 5, 4, 3]
    );
    let page2 = RunFilter {
        limit: 4,
        before_number: Some(3),
        ..Default::default()
    };
    assert_eq!(
        numbers(s.list_runs(project.id, &page2).await.expect("page 2")),
        [2, 1]
    );
    let queued_main = RunFilter {
        status: Some(RunStatus::Queued),
        branch: Some("main".into()),
        ..Default::default()
    };
    assert_eq!(
        numbers(s.list_runs(project.id, &queued_main).await.expect("both")),
        [5, 3]
    );
}

pub async fn jobs_and_steps(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "jobs").await;
    let job = s
        .upsert_job(queued_job(run.id, "build", &["linux"]))
        .await
        .expect("insert");
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.labels, ["linux"]);
    assert_eq!(job.attempt, 1);
    f.clock.store(1_500_000, Ordering::SeqCst);
    let mut running = queued_job(run.id, "build", &["linux"]);
    running.status = JobStatus::Running;
    running.agent = Some("agent-1".into());
    running.lease_expires_ms = Some(1_530_000);
    let running = s.upsert_job(running).await.expect("running");
    assert_eq!(running.id, job.id);
    assert_eq!(running.agent.as_deref(), Some("agent-1"));
    assert_eq!(running.started_ms, Some(1_500_000));
    f.clock.store(1_600_000, Ordering::SeqCst);
    let mut done = queued_job(run.id, "build", &["linux"]);
    done.status = JobStatus::Succeeded;
    done.agent = Some("agent-1".into());
    let done = s.upsert_job(done).await.expect("done");
    assert_eq!(done.started_ms, Some(1_500_000));
    assert_eq!(done.finished_ms, Some(1_600_000));
    assert_eq!(s.job(job.id).await.expect("get"), done);
    s.upsert_job(queued_job(run.id, "test (linux, 1)", &[]))
        .await
        .expect("second");
    let keys: Vec<_> = s
        .list_jobs(run.id)
        .await
        .expect("list")
        .into_iter()
        .map(|j| j.key)
        .collect();
    assert_eq!(keys, ["build", "test (linux, 1)"]);
    assert!(matches!(
        s.upsert_job(queued_job(9999, "x", &[])).await.unwrap_err(),
        SqlError::NotFound { what: "run", .. }
    ));

    for (index, name) in ["checkout", "cargo build"].iter().enumerate() {
        let step = StepUpsert {
            job_id: job.id,
            index: index as u32,
            name: name.to_string(),
            status: JobStatus::Running,
            exit_code: None,
        };
        s.upsert_step(step).await.expect("step running");
    }
    let finished = StepUpsert {
        job_id: job.id,
        index: 1,
        name: "cargo build".into(),
        status: JobStatus::Failed,
        exit_code: Some(101),
    };
    let step = s.upsert_step(finished).await.expect("step failed");
    assert_eq!(step.exit_code, Some(101));
    assert_eq!(step.started_ms, Some(1_600_000));
    let steps = s.list_steps(job.id).await.expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].name, "checkout");
    assert_eq!(steps[1], step);
    let orphan = StepUpsert {
        job_id: 9999,
        index: 0,
        name: "x".into(),
        status: JobStatus::Queued,
        exit_code: None,
    };
    assert!(matches!(
        s.upsert_step(orphan).await.unwrap_err(),
        SqlError::NotFound { what: "job", .. }
    ));
}

pub async fn claims_oldest_matching_job(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "claims").await;
    let docker = s
        .upsert_job(queued_job(run.id, "image", &["linux", "docker"]))
        .await
        .expect("docker");
    f.clock.fetch_add(10, Ordering::SeqCst);
    let first = s
        .upsert_job(queued_job(run.id, "first", &["linux"]))
        .await
        .expect("first");
    f.clock.fetch_add(10, Ordering::SeqCst);
    let second = s
        .upsert_job(queued_job(run.id, "second", &[]))
        .await
        .expect("second");

    let linux = labels(&["linux"]);
    let claimed = s
        .claim_job("a1", &linux, 30_000)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(claimed.id, first.id, "oldest job the agent can run");
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.agent.as_deref(), Some("a1"));
    assert_eq!(
        claimed.lease_expires_ms,
        Some(f.clock.load(Ordering::SeqCst) + 30_000)
    );
    let claimed = s
        .claim_job("a1", &linux, 30_000)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(claimed.id, second.id, "a job without labels runs anywhere");
    assert!(
        s.claim_job("a1", &linux, 30_000)
            .await
            .expect("claim")
            .is_none(),
        "docker job needs docker"
    );
    assert!(
        s.claim_job("a0", &[], 30_000)
            .await
            .expect("claim")
            .is_none()
    );
    let both = labels(&["docker", "linux", "gpu"]);
    let claimed = s
        .claim_job("a2", &both, 30_000)
        .await
        .expect("claim")
        .expect("docker job");
    assert_eq!(claimed.id, docker.id);
    assert!(
        s.claim_job("a2", &both, 30_000)
            .await
            .expect("claim")
            .is_none()
    );
}

pub async fn concurrent_claims_take_each_job_once(f: &Fixture) {
    let s = &f.store;
    let (project, _) = project_and_run(s, "many").await;
    let mut expected = BTreeSet::new();
    for r in 0..5 {
        let run = s
            .create_run(new_run(project.id, "main", "c"))
            .await
            .expect("run");
        for j in 0..10 {
            let job_labels: &[&str] = if j % 2 == 0 { &["linux"] } else { &[] };
            let job = s
                .upsert_job(queued_job(run.id, &format!("job {r}.{j}"), job_labels))
                .await
                .expect("job");
            expected.insert(job.id);
        }
    }
    assert_eq!(expected.len(), 50);
    let mut tasks = Vec::new();
    for agent in 0..8 {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("agent-{agent}");
            let mut mine = Vec::new();
            while let Some(job) = store
                .claim_job(&name, &labels(&["linux"]), 60_000)
                .await
                .expect("claim")
            {
                assert_eq!(job.agent.as_deref(), Some(name.as_str()));
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("task"));
    }
    let unique: BTreeSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 50, "each job claimed exactly once");
    assert_eq!(unique, expected);
}

pub async fn lease_expiry(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "lease").await;
    let job = s
        .upsert_job(queued_job(run.id, "long", &[]))
        .await
        .expect("job");
    f.clock.store(10_000_000, Ordering::SeqCst);
    let claimed = s
        .claim_job("a1", &[], 1_000)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(claimed.lease_expires_ms, Some(10_001_000));
    let stolen = s.renew_lease(job.id, "intruder", 1_000).await.unwrap_err();
    assert!(matches!(stolen, SqlError::NotFound { .. }), "{stolen}");

    f.clock.store(10_000_900, Ordering::SeqCst);
    assert!(s.expired_leases(10).await.expect("expired").is_empty());
    let renewed = s.renew_lease(job.id, "a1", 1_000).await.expect("renew");
    assert_eq!(renewed.lease_expires_ms, Some(10_001_900));

    f.clock.store(10_002_000, Ordering::SeqCst);
    let expired = s.expired_leases(10).await.expect("expired");
    assert_eq!(expired.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
    // The agent comes back just in time: expiring now is a no-op.
    s.renew_lease(job.id, "a1", 5_000)
        .await
        .expect("late renew");
    assert!(
        s.expire_lease(job.id, true, "agent lost")
            .await
            .expect("expire")
            .is_none()
    );

    f.clock.store(10_010_000, Ordering::SeqCst);
    let requeued = s
        .expire_lease(job.id, true, "agent a1 lost")
        .await
        .expect("expire")
        .expect("requeued");
    assert_eq!(requeued.status, JobStatus::Queued);
    assert_eq!(requeued.attempt, 2);
    assert_eq!(requeued.agent, None);
    assert_eq!(requeued.reason.as_deref(), Some("agent a1 lost"));
    assert!(s.expired_leases(10).await.expect("expired").is_empty());

    let again = s
        .claim_job("a2", &[], 1_000)
        .await
        .expect("claim")
        .expect("again");
    assert_eq!((again.id, again.attempt), (job.id, 2));
    f.clock.store(10_020_000, Ordering::SeqCst);
    let failed = s
        .expire_lease(job.id, false, "agent a2 lost; no retries left")
        .await
        .expect("expire")
        .expect("failed");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.finished_ms, Some(10_020_000));
    assert!(
        s.claim_job("a3", &[], 1_000)
            .await
            .expect("claim")
            .is_none()
    );
}

fn sample_records() -> Vec<Record> {
    vec![
        Record::JobStarted { job: 0, at_ms: 1 },
        Record::StepStarted {
            job: 0,
            step: 0,
            name: "echo 'hi'; DROP TABLE run_events; --".into(),
            at_ms: 2,
        },
        Record::StepFinished {
            job: 0,
            step: 0,
            exit: StepExit::SpawnFailed("no \0 shell ✗".into()),
            attempt: 1,
            at_ms: 3,
        },
        Record::JobFinished {
            job: 0,
            result: JobResult::Failure,
            at_ms: 4,
            cache: CacheStatus::Miss {
                key: Digest("ab".repeat(32)),
                reasons: vec!["file:src/\"main\".rs".into()],
            },
            outputs: vec![("k".into(), "v'\"".into())],
            error: Some("exit 1".into()),
            artifacts: Vec::new(),
        },
        Record::JobSkipped {
            job: 1,
            at_ms: 5,
            reason: "needs failed".into(),
        },
        Record::RunFinished {
            result: JobResult::Failure,
            at_ms: 6,
        },
    ]
}

pub async fn records_replay_in_order(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "records").await;
    let other = s
        .create_run(new_run(project.id, "main", "b"))
        .await
        .expect("other run");
    let records = sample_records();
    for (i, record) in records.iter().enumerate() {
        let seq = s.append_record(run.id, record).await.expect("append");
        assert_eq!(seq, i as i64 + 1);
    }
    assert_eq!(
        s.append_record(other.id, &Record::CancelRequested { at_ms: 9 })
            .await
            .expect("other"),
        1
    );
    let stored = s.records(run.id, 0).await.expect("read");
    assert_eq!(
        stored.iter().map(|r| r.record.clone()).collect::<Vec<_>>(),
        records
    );
    assert_eq!(
        stored.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let tail = s.records(run.id, 4).await.expect("tail");
    assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6]);
    assert!(matches!(
        s.append_record(9999, &records[0]).await.unwrap_err(),
        SqlError::NotFound { what: "run", .. }
    ));
    // Append-only: the database refuses to rewrite a record.
    assert!(raw(s, "UPDATE run_events SET record = '{}'").await.is_err());

    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = s.clone();
        let run_id = other.id;
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                store
                    .append_record(run_id, &Record::JobStarted { job: i, at_ms: 0 })
                    .await
                    .expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let seqs: Vec<_> = s
        .records(other.id, 0)
        .await
        .expect("read")
        .into_iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (1..=101).collect::<Vec<_>>());
}

fn artifact(name: &str, digest_byte: &str) -> ArtifactRecord {
    ArtifactRecord {
        name: name.into(),
        path: format!("target/{name}"),
        digest: Digest(digest_byte.repeat(64)),
        size: 1 << 40,
        kind: ArtifactKind::File,
    }
}

pub async fn artifacts_index(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "artifacts").await;
    let job = s
        .upsert_job(queued_job(run.id, "build", &[]))
        .await
        .expect("job");
    let mut dir = artifact("docs", "b");
    dir.kind = ArtifactKind::Directory;
    s.add_artifacts(job.id, &[artifact("app", "a"), dir.clone()])
        .await
        .expect("add");
    assert_eq!(
        s.artifacts(job.id).await.expect("list"),
        [artifact("app", "a"), dir.clone()]
    );
    s.add_artifacts(job.id, &[artifact("app", "c")])
        .await
        .expect("replace");
    assert_eq!(
        s.artifacts(job.id).await.expect("list"),
        [artifact("app", "c"), dir]
    );
    assert!(matches!(
        s.add_artifacts(9999, &[artifact("x", "a")])
            .await
            .unwrap_err(),
        SqlError::NotFound { what: "job", .. }
    ));
}

pub async fn test_history_and_flakiness(f: &Fixture) {
    let s = &f.store;
    let project = s
        .create_project(new_project("tests"))
        .await
        .expect("project");
    let mut job_of = Vec::new();
    for sha in ["sha-a", "sha-a", "sha-b"] {
        let run = s
            .create_run(new_run(project.id, "main", sha))
            .await
            .expect("run");
        job_of.push(
            s.upsert_job(queued_job(run.id, "test", &[]))
                .await
                .expect("job")
                .id,
        );
    }
    s.add_test_results(
        job_of[0],
        &[case("t1", Outcome::Passed), case("t2", Outcome::Failed)],
    )
    .await
    .expect("r1");
    s.add_test_results(
        job_of[1],
        &[case("t1", Outcome::Failed), case("t2", Outcome::Failed)],
    )
    .await
    .expect("r2");
    s.add_test_results(
        job_of[2],
        &[case("t1", Outcome::Passed), case("t3", Outcome::Flaky)],
    )
    .await
    .expect("r3");

    let stored = s.test_results(job_of[0]).await.expect("job results");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].test, test_id("t2"));
    assert_eq!(stored[1].message.as_deref(), Some("assert 1 == 2"));
    assert_eq!(stored[1].time_seconds, Some(0.25));
    assert_eq!(stored[1].commit_sha.as_deref(), Some("sha-a"));

    let history = s
        .test_history(project.id, &test_id("t1"), 10)
        .await
        .expect("history");
    let outcomes: Vec<_> = history.iter().map(|r| (r.run_number, r.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (3, Outcome::Passed),
            (2, Outcome::Failed),
            (1, Outcome::Passed)
        ]
    );
    assert_eq!(
        s.test_history(project.id, &test_id("t1"), 2)
            .await
            .expect("limited")
            .len(),
        2
    );

    let flaky = s.flaky_tests(project.id).await.expect("flaky");
    assert_eq!(
        flaky,
        [
            FlakyTest {
                test: test_id("t1"),
                reason: FlakyReason::PassedAndFailedOn {
                    commit_sha: "sha-a".into()
                },
                results: 2
            },
            FlakyTest {
                test: test_id("t3"),
                reason: FlakyReason::MarkedFlaky,
                results: 1
            },
        ]
    );
    assert!(matches!(
        s.add_test_results(9999, &[case("t", Outcome::Passed)])
            .await
            .unwrap_err(),
        SqlError::NotFound { what: "job", .. }
    ));
}

pub async fn tokens(f: &Fixture) {
    let s = &f.store;
    let alice = s.create_user("alice", false).await.expect("user");
    assert!(matches!(
        s.create_user("alice", true).await.unwrap_err(),
        SqlError::AlreadyExists { .. }
    ));
    assert_eq!(s.user_by_name("alice").await.expect("by name"), alice);
    let (info, clear) = s
        .create_token(alice.id, "laptop", TokenKind::Personal)
        .await
        .expect("token");
    assert!(clear.expose().starts_with(TOKEN_PREFIX));
    assert!(clear.expose().len() >= 40);
    assert!(!format!("{clear:?}").contains(clear.expose()));
    assert_eq!(info.user_name, "alice");
    assert_eq!(info.last_used_ms, None);

    // Only the SHA-256 is stored.
    let hashes = raw_bytes(s, "SELECT hash FROM tokens").await;
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 32);
    assert!(!contains(&hashes[0], &clear.expose().as_bytes()[4..20]));

    f.clock.store(5_000_000, Ordering::SeqCst);
    let found = s
        .authenticate(&ClearToken::from_client(clear.expose()))
        .await
        .expect("auth")
        .expect("valid");
    assert_eq!(found.id, info.id);
    assert_eq!(found.last_used_ms, Some(5_000_000));
    for wrong in [
        "",
        "slw_",
        "slw_x' OR '1'='1",
        &clear.expose()[..clear.expose().len() - 1],
    ] {
        assert!(
            s.authenticate(&ClearToken::from_client(wrong))
                .await
                .expect("auth")
                .is_none(),
            "{wrong}"
        );
    }
    let (second, _) = s
        .create_token(alice.id, "ci", TokenKind::Agent)
        .await
        .expect("second");
    s.revoke_token(info.id).await.expect("revoke");
    assert!(
        s.authenticate(&clear).await.expect("auth").is_none(),
        "revoked"
    );
    let listed = s.list_tokens(alice.id).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed[0].revoked_ms.is_some());
    assert_eq!(listed[1].id, second.id);
    assert_eq!(listed[1].kind, TokenKind::Agent);
    assert!(matches!(
        s.revoke_token(9999).await.unwrap_err(),
        SqlError::NotFound { .. }
    ));
    assert!(matches!(
        s.create_token(9999, "x", TokenKind::Personal)
            .await
            .unwrap_err(),
        SqlError::NotFound { what: "user", .. }
    ));
    let names: Vec<_> = s
        .list_users()
        .await
        .expect("users")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice"]);
}

pub async fn roles(f: &Fixture) {
    let s = &f.store;
    let project = s
        .create_project(new_project("guarded"))
        .await
        .expect("project");
    let other = s.create_project(new_project("other")).await.expect("other");
    let mut tokens = Vec::new();
    for (name, role) in [
        ("viewer", Some(Role::Viewer)),
        ("developer", Some(Role::Developer)),
        ("maintainer", Some(Role::Maintainer)),
        ("admin", Some(Role::Admin)),
        ("nobody", None),
    ] {
        let user = s.create_user(name, false).await.expect("user");
        s.set_role(project.id, user.id, role).await.expect("grant");
        assert_eq!(s.role(project.id, user.id).await.expect("role"), role);
        let (token, _) = s
            .create_token(user.id, "t", TokenKind::Personal)
            .await
            .expect("token");
        tokens.push(token);
    }
    let actions = [
        Action::View,
        Action::Operate,
        Action::Configure,
        Action::Administer,
    ];
    // Row: viewer, developer, maintainer, admin, nobody; column: the actions.
    let expected = [
        [true, false, false, false],
        [true, true, false, false],
        [true, true, true, false],
        [true, true, true, true],
        [false, false, false, false],
    ];
    for (token, row) in tokens.iter().zip(expected) {
        for (action, allowed) in actions.iter().zip(row) {
            assert_eq!(
                s.authorize(token, project.id, *action)
                    .await
                    .expect("authorize"),
                allowed,
                "{} {action:?}",
                token.user_name
            );
            // Roles are per project.
            assert!(
                !s.authorize(token, other.id, *action)
                    .await
                    .expect("authorize other")
            );
        }
    }
    let root = s.create_user("root", true).await.expect("root");
    let (root_token, _) = s
        .create_token(root.id, "t", TokenKind::Personal)
        .await
        .expect("token");
    assert!(
        s.authorize(&root_token, other.id, Action::Administer)
            .await
            .expect("admin")
    );
    let (agent_token, _) = s
        .create_token(root.id, "agent", TokenKind::Agent)
        .await
        .expect("agent");
    assert!(
        !s.authorize(&agent_token, project.id, Action::View)
            .await
            .expect("agent")
    );

    let developer = &tokens[1];
    s.set_role(project.id, developer.user_id, Some(Role::Admin))
        .await
        .expect("promote");
    assert!(
        s.authorize(developer, project.id, Action::Administer)
            .await
            .expect("promoted")
    );
    s.set_role(project.id, developer.user_id, None)
        .await
        .expect("revoke");
    assert_eq!(
        s.role(project.id, developer.user_id).await.expect("role"),
        None
    );
    assert!(
        !s.authorize(developer, project.id, Action::View)
            .await
            .expect("revoked")
    );
    assert!(matches!(
        s.set_role(9999, developer.user_id, Some(Role::Viewer))
            .await
            .unwrap_err(),
        SqlError::NotFound { .. }
    ));
    assert_eq!(Role::parse("maintainer").expect("parse"), Role::Maintainer);
    assert!(Role::parse("owner").is_err());
}

pub async fn secrets_round_trip_encrypted(f: &Fixture) {
    let s = &f.store;
    let project = s
        .create_project(new_project("vault"))
        .await
        .expect("project");
    let value = "p@ss'w\"ord\0with NUL; DROP TABLE secrets; -- 🚢";
    s.set_secret(project.id, "DB_PASSWORD", &SecretValue::new(value))
        .await
        .expect("set");
    s.set_secret(project.id, "API_TOKEN", &SecretValue::new("tok-123456"))
        .await
        .expect("set");
    let read = s
        .secret(project.id, "DB_PASSWORD")
        .await
        .expect("get")
        .expect("some");
    assert_eq!(read.expose(), value.as_bytes());
    assert!(!format!("{read:?}").contains("p@ss"));
    assert_eq!(
        s.secret_names(project.id).await.expect("names"),
        ["API_TOKEN", "DB_PASSWORD"]
    );
    let all = s.secrets(project.id).await.expect("all");
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].1.expose(), value.as_bytes());
    assert!(
        s.secret(project.id, "MISSING")
            .await
            .expect("get")
            .is_none()
    );

    for stored in raw_bytes(s, "SELECT ciphertext FROM secrets").await {
        assert!(!contains(&stored, b"p@ss"));
        assert!(!contains(&stored, b"tok-123456"));
    }
    let nonces = raw_bytes(s, "SELECT nonce FROM secrets").await;
    assert_eq!(nonces.len(), 2);
    assert_ne!(nonces[0], nonces[1]);
    assert_eq!(nonces[0].len(), 24);

    // Setting the same value again uses a fresh nonce.
    let before = raw_bytes(s, "SELECT ciphertext FROM secrets WHERE name = 'API_TOKEN'").await;
    s.set_secret(project.id, "API_TOKEN", &SecretValue::new("tok-123456"))
        .await
        .expect("set again");
    let after = raw_bytes(s, "SELECT ciphertext FROM secrets WHERE name = 'API_TOKEN'").await;
    assert_ne!(before, after);

    // A ciphertext moved onto another row does not decrypt.
    raw(s, "UPDATE secrets SET nonce = (SELECT nonce FROM secrets WHERE name = 'DB_PASSWORD'), \
            ciphertext = (SELECT ciphertext FROM secrets WHERE name = 'DB_PASSWORD') WHERE name = 'API_TOKEN'")
        .await
        .expect("tamper");
    let err = s.secret(project.id, "API_TOKEN").await.unwrap_err();
    assert!(matches!(err, SqlError::Decrypt(_)), "{err}");
    assert!(!err.to_string().contains("p@ss"));

    // A store with another key cannot read the values.
    let stranger = SqlStore::connect(&f.url, SecretKey::from_bytes([9u8; 32]))
        .await
        .expect("connect");
    assert!(matches!(
        stranger
            .secret(project.id, "DB_PASSWORD")
            .await
            .unwrap_err(),
        SqlError::Decrypt(_)
    ));
    stranger.close().await;

    assert!(
        s.delete_secret(project.id, "DB_PASSWORD")
            .await
            .expect("delete")
    );
    assert!(
        !s.delete_secret(project.id, "DB_PASSWORD")
            .await
            .expect("delete again")
    );
    assert_eq!(
        s.secret_names(project.id).await.expect("names"),
        ["API_TOKEN"]
    );
    for bad in ["", "1ABC", "A-B", "A B", "X'; --", "É"] {
        let err = s
            .set_secret(project.id, bad, &SecretValue::new("v"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SqlError::Invalid {
                    what: "secret name",
                    ..
                }
            ),
            "{bad:?}: {err}"
        );
    }
    assert!(matches!(
        s.set_secret(9999, "X", &SecretValue::new("v"))
            .await
            .unwrap_err(),
        SqlError::NotFound {
            what: "project",
            ..
        }
    ));
}

async fn five_audit_entries(s: &SqlStore) {
    for (i, target) in HOSTILE.iter().take(5).enumerate() {
        let entry = s
            .append_audit(NewAuditEntry {
                actor: "alice".into(),
                action: "secret.set".into(),
                target: target.to_string(),
                details: json!({"n": i, "note": "'; DROP TABLE audit_log; --"}),
            })
            .await
            .expect("append");
        assert_eq!(entry.seq, i as i64 + 1);
    }
}

/// Turns off the append-only triggers, as an attacker with database access
/// could.
async fn disable_audit_triggers(s: &SqlStore) {
    match s.database() {
        Database::Sqlite(_) => {
            raw(s, "DROP TRIGGER audit_log_no_update")
                .await
                .expect("drop");
            raw(s, "DROP TRIGGER audit_log_no_delete")
                .await
                .expect("drop");
        }
        Database::Postgres(_) => {
            raw(s, "ALTER TABLE audit_log DISABLE TRIGGER USER")
                .await
                .expect("disable");
        }
    }
}

pub async fn audit_chain_detects_changes(f: &Fixture) {
    let s = &f.store;
    assert_eq!(s.verify_audit_chain().await.expect("empty chain"), 0);
    five_audit_entries(s).await;
    assert_eq!(s.verify_audit_chain().await.expect("intact"), 5);
    let entries = s.audit_entries(0, 100).await.expect("entries");
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[2].target, HOSTILE[2]);
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    assert_eq!(s.audit_entries(3, 100).await.expect("tail").len(), 2);

    assert!(
        raw(s, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
            .await
            .is_err(),
        "append-only"
    );
    assert!(
        raw(s, "DELETE FROM audit_log WHERE seq = 3").await.is_err(),
        "append-only"
    );
    disable_audit_triggers(s).await;
    assert_eq!(
        raw(s, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
            .await
            .expect("tamper"),
        1
    );
    match s.verify_audit_chain().await {
        Err(SqlError::AuditTampered { seq: 3, .. }) => {}
        other => panic!("expected tampering at 3, got {other:?}"),
    }
    // Recomputing the row's own hash does not help: the next entry's link breaks.
    raw(s, "UPDATE audit_log SET actor = 'alice' WHERE seq = 3")
        .await
        .expect("restore");
    assert_eq!(s.verify_audit_chain().await.expect("restored"), 5);
    raw(s, "UPDATE audit_log SET hash = prev_hash WHERE seq = 4")
        .await
        .expect("tamper hash");
    assert!(matches!(
        s.verify_audit_chain().await,
        Err(SqlError::AuditTampered { seq: 4, .. })
    ));
}

pub async fn audit_chain_detects_deleted_rows(f: &Fixture) {
    let s = &f.store;
    five_audit_entries(s).await;
    disable_audit_triggers(s).await;
    raw(s, "DELETE FROM audit_log WHERE seq = 5")
        .await
        .expect("delete last");
    let err = s.verify_audit_chain().await.unwrap_err();
    assert!(matches!(err, SqlError::AuditTampered { .. }), "{err}");
    raw(s, "DELETE FROM audit_log WHERE seq = 2")
        .await
        .expect("delete middle");
    assert!(matches!(
        s.verify_audit_chain().await,
        Err(SqlError::AuditTampered { seq: 2, .. })
    ));
}

pub async fn hostile_strings_round_trip(f: &Fixture) {
    let s = &f.store;
    let project = s
        .create_project(new_project("hostile"))
        .await
        .expect("project");
    let settings = json!({"values": HOSTILE, "nul": "a\0b"});
    let updated = s
        .update_project(
            project.id,
            ProjectUpdate {
                repo_url: Some(HOSTILE[2].into()),
                default_branch: Some(HOSTILE[4].into()),
                settings: Some(settings.clone()),
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.repo_url, HOSTILE[2]);
    assert_eq!(
        updated.settings, settings,
        "NUL inside JSON is stored escaped"
    );
    for text in HOSTILE {
        let mut new = new_run(project.id, text, text);
        new.tag = Some(text.to_string());
        new.inputs = json!({ *text: text });
        let run = s.create_run(new).await.expect("run");
        let back = s.run(run.id).await.expect("get");
        assert_eq!(back.branch.as_deref(), Some(*text));
        assert_eq!(back.commit_sha.as_deref(), Some(*text));
        assert_eq!(back.inputs, json!({ *text: text }));
        let filter = RunFilter {
            branch: Some(text.to_string()),
            ..Default::default()
        };
        assert_eq!(
            s.list_runs(project.id, &filter)
                .await
                .expect("filter")
                .len(),
            1,
            "{text:?}"
        );
        let set = s
            .set_run_status(run.id, RunStatus::Failed, Some(text))
            .await
            .expect("status");
        assert_eq!(set.reason.as_deref(), Some(*text));
        let job = s
            .upsert_job(queued_job(run.id, text, &[text]))
            .await
            .expect("job");
        assert_eq!(job.key, *text);
        assert_eq!(job.labels, [*text]);
        let claimed = s
            .claim_job(text, &labels(&[text]), 1000)
            .await
            .expect("claim")
            .expect("claimed");
        assert_eq!(claimed.agent.as_deref(), Some(*text));
        let step = StepUpsert {
            job_id: job.id,
            index: 0,
            name: text.to_string(),
            status: JobStatus::Running,
            exit_code: None,
        };
        assert_eq!(s.upsert_step(step).await.expect("step").name, *text);
        let mut art = artifact(text, "d");
        art.path = text.to_string();
        s.add_artifacts(job.id, &[art.clone()])
            .await
            .expect("artifact");
        assert_eq!(s.artifacts(job.id).await.expect("artifacts"), [art]);
        let mut tc = case(text, Outcome::Failed);
        tc.suite = text.to_string();
        tc.message = Some(text.to_string());
        s.add_test_results(job.id, &[tc]).await.expect("test");
        let id = TestId {
            suite: text.to_string(),
            classname: "pkg.Class".into(),
            name: text.to_string(),
        };
        let history = s.test_history(project.id, &id, 5).await.expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].message.as_deref(), Some(*text));
        let token_name = format!("token {text}");
        let user = s
            .create_user(&format!("u{}", run.number), false)
            .await
            .expect("user");
        let (token, _) = s
            .create_token(user.id, &token_name, TokenKind::Personal)
            .await
            .expect("token");
        assert_eq!(token.name, token_name);
    }
    // Nothing was dropped.
    assert_eq!(
        s.list_runs(project.id, &RunFilter::default())
            .await
            .expect("runs")
            .len(),
        HOSTILE.len()
    );
    assert_eq!(s.list_projects().await.expect("projects").len(), 1);
}

pub async fn nothing_stored_half_way(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "atomic").await;
    let job = s
        .upsert_job(queued_job(run.id, "build", &[]))
        .await
        .expect("job");

    // NUL cannot be stored portably in text: refused with a clear error, and
    // the run number is not used up.
    let mut bad = new_run(project.id, "main\0", "x");
    let err = s.create_run(bad.clone()).await.unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
    bad.branch = Some("main".into());
    assert_eq!(s.create_run(bad).await.expect("next run").number, 2);

    // One bad artifact in a batch: none stored.
    let mut broken = artifact("bad", "e");
    broken.digest = Digest("not hex".into());
    let err = s
        .add_artifacts(job.id, &[artifact("good", "a"), broken])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SqlError::Invalid {
                what: "artifact digest",
                ..
            }
        ),
        "{err}"
    );
    assert!(s.artifacts(job.id).await.expect("artifacts").is_empty());

    // One bad test case: none stored.
    let mut nul = case("b", Outcome::Passed);
    nul.name = "b\0".into();
    assert!(
        s.add_test_results(job.id, &[case("a", Outcome::Passed), nul])
            .await
            .is_err()
    );
    assert!(s.test_results(job.id).await.expect("results").is_empty());

    // A database-level failure inside a batch rolls back the earlier rows:
    // a size too large for BIGINT is refused before; a duplicate name in one
    // batch replaces, so force a failure with a job deleted underneath.
    let doomed = s
        .upsert_job(queued_job(run.id, "doomed", &[]))
        .await
        .expect("job");
    raw(s, "DELETE FROM jobs WHERE job_key = 'doomed'")
        .await
        .expect("delete");
    assert!(
        s.add_artifacts(doomed.id, &[artifact("x", "a"), artifact("y", "b")])
            .await
            .is_err()
    );

    // Invalid labels and agent names are refused before any write.
    assert!(s.claim_job("", &[], 10).await.is_err());
    assert!(s.claim_job("a", &labels(&["x\0"]), 10).await.is_err());
    assert_eq!(s.job(job.id).await.expect("job").status, JobStatus::Queued);
    let err = s.create_user("bad name", false).await.unwrap_err();
    assert!(err.to_string().contains("user name"), "{err}");
}

fn run_ids(runs: &[Run]) -> Vec<Id> {
    runs.iter().map(|r| r.id).collect()
}

pub async fn run_pipeline_round_trip(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "pipe").await;
    let (_, other) = project_and_run(s, "pipe2").await;
    assert_eq!(s.run_pipeline(run.id).await.expect("none yet"), None);

    let yaml =
        "name: ci\non: [push]\njobs:\n  build:\n    steps:\n      - run: echo \"it's\" '$1' \\\n";
    s.set_run_pipeline(run.id, ".slipway/ci.yml", yaml)
        .await
        .expect("set");
    assert_eq!(
        s.run_pipeline(run.id).await.expect("get"),
        Some((".slipway/ci.yml".to_string(), yaml.to_string()))
    );
    assert_eq!(s.run_pipeline(other.id).await.expect("other"), None);

    // Replacing is allowed; the largest source accepted is 4 MiB.
    let big = "#".repeat(4 << 20);
    s.set_run_pipeline(run.id, "slipway.yml", &big)
        .await
        .expect("4 MiB");
    let (file, source) = s.run_pipeline(run.id).await.expect("get").expect("some");
    assert_eq!(file, "slipway.yml");
    assert_eq!(source.len(), 4 << 20);

    // Refused before any write: the stored pipeline stays.
    let too_big = "#".repeat((4 << 20) + 1);
    let err = s
        .set_run_pipeline(run.id, "slipway.yml", &too_big)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SqlError::Invalid {
                what: "pipeline source",
                ..
            }
        ),
        "{err}"
    );
    let err = s
        .set_run_pipeline(run.id, "slipway.yml", "a\0b")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
    let err = s.set_run_pipeline(run.id, "", "x").await.unwrap_err();
    assert!(
        matches!(
            err,
            SqlError::Invalid {
                what: "pipeline file",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        s.run_pipeline(run.id)
            .await
            .expect("kept")
            .map(|(_, src)| src.len()),
        Some(4 << 20)
    );

    assert!(matches!(
        s.set_run_pipeline(9999, "slipway.yml", "x")
            .await
            .unwrap_err(),
        SqlError::NotFound { what: "run", .. }
    ));

    for text in HOSTILE {
        s.set_run_pipeline(other.id, text, text)
            .await
            .expect("hostile");
        assert_eq!(
            s.run_pipeline(other.id).await.expect("get"),
            Some((text.to_string(), text.to_string()))
        );
    }

    // The pipeline goes with its run.
    raw(
        s,
        "DELETE FROM runs WHERE id IN (SELECT run_id FROM run_pipelines)",
    )
    .await
    .expect("delete runs");
    assert_eq!(s.run_pipeline(run.id).await.expect("gone"), None);
    assert_eq!(s.run_pipeline(other.id).await.expect("gone"), None);
}

pub async fn active_runs_across_projects(f: &Fixture) {
    let s = &f.store;
    assert!(s.active_runs().await.expect("empty").is_empty());
    let a = s.create_project(new_project("a")).await.expect("a");
    let b = s.create_project(new_project("b")).await.expect("b");
    let mut runs = Vec::new();
    for i in 0..6 {
        let project = if i % 2 == 0 { &a } else { &b };
        runs.push(
            s.create_run(new_run(project.id, "main", &format!("c{i}")))
                .await
                .expect("run"),
        );
    }
    let ids = run_ids(&runs);
    s.set_run_status(ids[0], RunStatus::Running, None)
        .await
        .expect("running");
    s.set_run_status(ids[1], RunStatus::Succeeded, None)
        .await
        .expect("succeeded");
    s.set_run_status(ids[3], RunStatus::Cancelled, Some("superseded"))
        .await
        .expect("cancelled");
    s.set_run_status(ids[4], RunStatus::Running, None)
        .await
        .expect("running");
    s.set_run_status(ids[5], RunStatus::Failed, Some("no pipeline"))
        .await
        .expect("failed");
    let active = s.active_runs().await.expect("active");
    assert_eq!(run_ids(&active), [ids[0], ids[2], ids[4]]);
    assert_eq!(
        active.iter().map(|r| r.status).collect::<Vec<_>>(),
        [RunStatus::Running, RunStatus::Queued, RunStatus::Running]
    );
    assert_eq!(active[1], s.run(ids[2]).await.expect("run"));
}

pub async fn list_all_runs_across_projects(f: &Fixture) {
    let s = &f.store;
    let a = s.create_project(new_project("a")).await.expect("a");
    let b = s.create_project(new_project("b")).await.expect("b");
    // a#1 b#1 a#2 b#2 a#3 b#3 a#4 b#4, alternating branches per pair.
    let mut runs = Vec::new();
    for i in 0..8 {
        let project = if i % 2 == 0 { &a } else { &b };
        let branch = if (i / 2) % 2 == 0 { "main" } else { "dev" };
        runs.push(
            s.create_run(new_run(project.id, branch, &format!("c{i}")))
                .await
                .expect("run"),
        );
    }
    let ids = run_ids(&runs);
    s.set_run_status(ids[1], RunStatus::Failed, None)
        .await
        .expect("failed");
    s.set_run_status(ids[6], RunStatus::Failed, None)
        .await
        .expect("failed");

    let newest_first: Vec<Id> = ids.iter().rev().copied().collect();
    let all = s
        .list_all_runs(None, &RunFilter::default())
        .await
        .expect("all");
    assert_eq!(run_ids(&all), newest_first);

    // Paging across projects goes by id.
    let page1 = RunFilter {
        limit: 3,
        ..Default::default()
    };
    let first = s.list_all_runs(None, &page1).await.expect("page 1");
    assert_eq!(run_ids(&first), newest_first[..3]);
    let page2 = RunFilter {
        limit: 3,
        before_number: first.last().map(|r| r.id),
        ..Default::default()
    };
    let second = s.list_all_runs(None, &page2).await.expect("page 2");
    assert_eq!(run_ids(&second), newest_first[3..6]);

    let failed = RunFilter {
        status: Some(RunStatus::Failed),
        ..Default::default()
    };
    assert_eq!(
        run_ids(&s.list_all_runs(None, &failed).await.expect("failed")),
        [ids[6], ids[1]]
    );
    let dev = RunFilter {
        branch: Some("dev".into()),
        ..Default::default()
    };
    assert_eq!(
        run_ids(&s.list_all_runs(None, &dev).await.expect("dev")),
        [ids[7], ids[6], ids[3], ids[2]]
    );
    let queued_dev = RunFilter {
        status: Some(RunStatus::Queued),
        branch: Some("dev".into()),
        ..Default::default()
    };
    assert_eq!(
        run_ids(&s.list_all_runs(None, &queued_dev).await.expect("both")),
        [ids[7], ids[3], ids[2]]
    );

    // With a project: exactly list_runs, `before_number` being a number.
    for filter in [
        RunFilter::default(),
        RunFilter {
            before_number: Some(3),
            limit: 1,
            ..Default::default()
        },
        dev.clone(),
        failed.clone(),
    ] {
        let one = s.list_all_runs(Some(b.id), &filter).await.expect("one");
        assert_eq!(one, s.list_runs(b.id, &filter).await.expect("list_runs"));
        assert!(one.iter().all(|r| r.project_id == b.id));
    }
    let below_3 = RunFilter {
        before_number: Some(3),
        ..Default::default()
    };
    assert_eq!(
        run_ids(&s.list_all_runs(Some(a.id), &below_3).await.expect("a")),
        [ids[2], ids[0]]
    );
    assert!(
        s.list_all_runs(Some(9999), &RunFilter::default())
            .await
            .expect("none")
            .is_empty()
    );

    let nul = RunFilter {
        branch: Some("a\0".into()),
        ..Default::default()
    };
    assert!(matches!(
        s.list_all_runs(None, &nul).await.unwrap_err(),
        SqlError::Invalid { .. }
    ));
}

pub async fn counts_by_status(f: &Fixture) {
    let s = &f.store;
    // Zero counts may be absent, but never non-zero.
    assert!(
        s.count_runs_by_status()
            .await
            .expect("runs")
            .iter()
            .all(|(_, n)| *n == 0)
    );
    assert!(
        s.count_jobs_by_status()
            .await
            .expect("jobs")
            .iter()
            .all(|(_, n)| *n == 0)
    );
    let (project, run) = project_and_run(s, "count").await;
    for i in 0..4 {
        let r = s
            .create_run(new_run(project.id, "main", &format!("c{i}")))
            .await
            .expect("run");
        let status = [
            RunStatus::Running,
            RunStatus::Failed,
            RunStatus::Failed,
            RunStatus::Queued,
        ][i];
        s.set_run_status(r.id, status, None).await.expect("status");
    }
    for (key, status) in [
        ("a", JobStatus::Queued),
        ("b", JobStatus::Queued),
        ("c", JobStatus::Succeeded),
        ("d", JobStatus::Skipped),
        ("e", JobStatus::Queued),
    ] {
        let mut job = queued_job(run.id, key, &[]);
        job.status = status;
        s.upsert_job(job).await.expect("job");
    }
    let mut runs: Vec<(&str, i64)> = s
        .count_runs_by_status()
        .await
        .expect("runs")
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(status, n)| (status.as_str(), n))
        .collect();
    runs.sort();
    assert_eq!(runs, [("failed", 2), ("queued", 2), ("running", 1)]);
    let mut jobs: Vec<(&str, i64)> = s
        .count_jobs_by_status()
        .await
        .expect("jobs")
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(status, n)| (status.as_str(), n))
        .collect();
    jobs.sort();
    assert_eq!(jobs, [("queued", 3), ("skipped", 1), ("succeeded", 1)]);

    // A status this version does not know is reported, not miscounted.
    raw(s, "UPDATE jobs SET status = 'exploded' WHERE job_key = 'a'")
        .await
        .expect("tamper");
    assert!(matches!(
        s.count_jobs_by_status().await.unwrap_err(),
        SqlError::Corrupt(_)
    ));
}

pub async fn job_by_key(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "keys").await;
    let other = s
        .create_run(new_run(project.id, "main", "bbb"))
        .await
        .expect("run");
    let build = s
        .upsert_job(queued_job(run.id, "build", &["linux"]))
        .await
        .expect("job");
    let matrix = s
        .upsert_job(queued_job(run.id, "test (linux, 1)", &[]))
        .await
        .expect("job");
    let elsewhere = s
        .upsert_job(queued_job(other.id, "build", &[]))
        .await
        .expect("job");
    assert_eq!(s.job_by_key(run.id, "build").await.expect("build"), build);
    assert_eq!(
        s.job_by_key(run.id, "test (linux, 1)")
            .await
            .expect("matrix"),
        matrix
    );
    assert_eq!(
        s.job_by_key(other.id, "build").await.expect("other run"),
        elsewhere
    );
    for (run_id, key) in [(run.id, "deploy"), (run.id, "Build"), (9999, "build")] {
        assert!(
            matches!(
                s.job_by_key(run_id, key).await.unwrap_err(),
                SqlError::NotFound { what: "job", .. }
            ),
            "{run_id} {key}"
        );
    }
    for text in HOSTILE {
        let job = s
            .upsert_job(queued_job(run.id, text, &[]))
            .await
            .expect("job");
        assert_eq!(s.job_by_key(run.id, text).await.expect("hostile"), job);
    }
    for bad in ["", "a\0b"] {
        assert!(matches!(
            s.job_by_key(run.id, bad).await.unwrap_err(),
            SqlError::Invalid {
                what: "job key",
                ..
            }
        ));
    }
}

fn delivery(project_id: Id, result: DeliveryResult, run_ids: Vec<Id>) -> NewDelivery {
    NewDelivery {
        project_id,
        forge: "github".into(),
        event: "push".into(),
        delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958".into()),
        result,
        message: None,
        run_ids,
    }
}

pub async fn webhook_delivery_log(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "hooks").await;
    let (quiet, _) = project_and_run(s, "quiet").await;
    assert!(s.deliveries(project.id, 10).await.expect("none").is_empty());

    f.clock.store(5_000_000, Ordering::SeqCst);
    let started = s
        .record_delivery(delivery(
            project.id,
            DeliveryResult::Started,
            vec![run.id, 77],
        ))
        .await
        .expect("started");
    assert_eq!(started.received_ms, 5_000_000);
    assert_eq!(started.run_ids, [run.id, 77]);
    assert_eq!(started.result, DeliveryResult::Started);
    f.clock.store(5_000_100, Ordering::SeqCst);
    let rejected = s
        .record_delivery(NewDelivery {
            forge: "gitlab".into(),
            event: String::new(),
            delivery_id: None,
            message: Some("bad X-Gitlab-Token".into()),
            ..delivery(project.id, DeliveryResult::Rejected, vec![])
        })
        .await
        .expect("rejected");
    assert_eq!(rejected.event, "");
    assert_eq!(rejected.delivery_id, None);
    assert!(rejected.run_ids.is_empty());
    let ignored = s
        .record_delivery(NewDelivery {
            event: "issues".into(),
            message: Some("event `issues` is not acted on".into()),
            ..delivery(project.id, DeliveryResult::Ignored, vec![])
        })
        .await
        .expect("ignored");
    let failed = s
        .record_delivery(NewDelivery {
            forge: "gitea".into(),
            message: Some("database: gone".into()),
            ..delivery(project.id, DeliveryResult::Failed, vec![])
        })
        .await
        .expect("failed");
    let elsewhere = s
        .record_delivery(delivery(quiet.id, DeliveryResult::Ignored, vec![]))
        .await
        .expect("other project");

    let log = s.deliveries(project.id, 0).await.expect("log");
    assert_eq!(log, [failed.clone(), ignored.clone(), rejected, started]);
    assert_eq!(
        s.deliveries(project.id, 2).await.expect("limited"),
        [failed, ignored]
    );
    assert_eq!(
        s.deliveries(quiet.id, 10).await.expect("quiet"),
        [elsewhere]
    );
    assert!(s.deliveries(9999, 10).await.expect("unknown").is_empty());

    assert!(matches!(
        s.record_delivery(delivery(9999, DeliveryResult::Rejected, vec![]))
            .await
            .unwrap_err(),
        SqlError::NotFound {
            what: "project",
            ..
        }
    ));
    // Refused before any write.
    let refused = [
        NewDelivery {
            forge: String::new(),
            ..delivery(project.id, DeliveryResult::Ignored, vec![])
        },
        NewDelivery {
            event: "pu\0sh".into(),
            ..delivery(project.id, DeliveryResult::Ignored, vec![])
        },
        NewDelivery {
            delivery_id: Some("x".repeat(256)),
            ..delivery(project.id, DeliveryResult::Ignored, vec![])
        },
        NewDelivery {
            message: Some("\0".into()),
            ..delivery(project.id, DeliveryResult::Ignored, vec![])
        },
    ];
    for bad in refused {
        assert!(matches!(
            s.record_delivery(bad).await.unwrap_err(),
            SqlError::Invalid { .. }
        ));
    }
    assert_eq!(s.deliveries(project.id, 100).await.expect("log").len(), 4);

    for text in HOSTILE {
        let stored = s
            .record_delivery(NewDelivery {
                project_id: quiet.id,
                forge: text.to_string(),
                event: text.to_string(),
                delivery_id: Some(text.to_string()),
                result: DeliveryResult::Rejected,
                message: Some(text.to_string()),
                run_ids: vec![],
            })
            .await
            .expect("hostile");
        let newest = s.deliveries(quiet.id, 1).await.expect("newest");
        assert_eq!(newest, [stored]);
        assert_eq!(newest[0].forge, *text);
        assert_eq!(newest[0].message.as_deref(), Some(*text));
    }

    // Every result round-trips by its text.
    for result in [
        DeliveryResult::Started,
        DeliveryResult::Ignored,
        DeliveryResult::Rejected,
        DeliveryResult::Failed,
    ] {
        assert_eq!(
            DeliveryResult::parse(result.as_str()).expect("parse"),
            result
        );
    }
    assert!(DeliveryResult::parse("dropped").is_err());
}

pub async fn trigger_state_upserts(f: &Fixture) {
    let s = &f.store;
    let a = s.create_project(new_project("a")).await.expect("a");
    let b = s.create_project(new_project("b")).await.expect("b");
    assert_eq!(
        s.trigger_state(a.id, "poll.refs").await.expect("none"),
        None
    );

    let refs = json!({"refs/heads/main": "aaa", "refs/tags/v1": "bbb"});
    s.set_trigger_state(a.id, "poll.refs", &refs)
        .await
        .expect("set");
    assert_eq!(
        s.trigger_state(a.id, "poll.refs").await.expect("get"),
        Some(refs)
    );
    // Upsert replaces; other keys and projects are separate.
    let moved = json!({"refs/heads/main": "ccc"});
    s.set_trigger_state(a.id, "poll.refs", &moved)
        .await
        .expect("replace");
    s.set_trigger_state(a.id, "cron.last_tick_ms", &json!(1_700_000_000_000i64))
        .await
        .expect("cron");
    s.set_trigger_state(b.id, "poll.refs", &json!(null))
        .await
        .expect("null");
    assert_eq!(
        s.trigger_state(a.id, "poll.refs").await.expect("get"),
        Some(moved)
    );
    assert_eq!(
        s.trigger_state(a.id, "cron.last_tick_ms")
            .await
            .expect("cron"),
        Some(json!(1_700_000_000_000i64))
    );
    assert_eq!(
        s.trigger_state(b.id, "poll.refs").await.expect("null"),
        Some(json!(null))
    );
    assert_eq!(
        s.trigger_state(b.id, "cron.last_tick_ms")
            .await
            .expect("none"),
        None
    );

    // NUL inside JSON strings is stored escaped; hostile keys are data.
    for text in HOSTILE {
        let value = json!({ *text: [text, "nul\0inside"] });
        s.set_trigger_state(b.id, text, &value)
            .await
            .expect("hostile");
        assert_eq!(s.trigger_state(b.id, text).await.expect("get"), Some(value));
    }

    assert!(matches!(
        s.set_trigger_state(9999, "k", &json!(1)).await.unwrap_err(),
        SqlError::NotFound {
            what: "project",
            ..
        }
    ));
    for key in ["", "k\0"] {
        assert!(matches!(
            s.set_trigger_state(a.id, key, &json!(1)).await.unwrap_err(),
            SqlError::Invalid { .. }
        ));
        assert!(matches!(
            s.trigger_state(a.id, key).await.unwrap_err(),
            SqlError::Invalid { .. }
        ));
    }
    let huge = json!("x".repeat(1 << 20));
    assert!(matches!(
        s.set_trigger_state(a.id, "poll.refs", &huge)
            .await
            .unwrap_err(),
        SqlError::Invalid {
            what: "trigger state",
            ..
        }
    ));
    assert_eq!(
        s.trigger_state(a.id, "poll.refs").await.expect("kept"),
        Some(json!({"refs/heads/main": "ccc"}))
    );
}

/// A database made by the first schema and holding data is brought up to
/// the second: simulated by removing what migration 2 created and its
/// bookkeeping row, then connecting again.
pub async fn schema_2_applies_over_existing_data(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "old").await;
    for sql in [
        "DROP TABLE run_pipelines",
        "DROP TABLE webhook_deliveries",
        "DROP TABLE trigger_state",
        "DROP INDEX runs_by_status_id",
        "DELETE FROM _sqlx_migrations WHERE version = 2",
    ] {
        raw(s, sql).await.expect("back to schema 1");
    }
    let again = SqlStore::connect(&f.url, test_key())
        .await
        .expect("migrate to 2");
    assert_eq!(again.run(run.id).await.expect("run kept"), run);
    again
        .set_run_pipeline(run.id, "slipway.yml", "jobs: {}")
        .await
        .expect("pipeline");
    again
        .set_trigger_state(project.id, "k", &json!(1))
        .await
        .expect("state");
    again
        .record_delivery(delivery(project.id, DeliveryResult::Ignored, vec![]))
        .await
        .expect("delivery");
    assert_eq!(
        run_ids(&again.active_runs().await.expect("active")),
        [run.id]
    );
    again.close().await;
}
