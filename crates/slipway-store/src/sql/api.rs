//! [`ServerStore`]: everything the server persists, as one async trait.
// Each method's body lives in the module of its concept (projects.rs,
// runs.rs, …); this file only declares and delegates.

use std::future::Future;

use slipway_engine::records::{ArtifactRecord, Record};
use slipway_reports::TestCase;

use serde_json::Value;

use super::{
    Action, AuditEntry, ClearToken, Delivery, FlakyTest, Id, Job, JobStatus, JobUpsert,
    NewAuditEntry, NewDelivery, NewProject, NewRun, Project, ProjectUpdate, Role, Run, RunFilter,
    RunStatus, SecretValue, SqlError, SqlStore, Step, StepUpsert, StoredRecord, TestId, TestResult,
    TokenInfo, TokenKind, User, audit, auth, events, jobs, projects, results, runs, secrets,
    triggers,
};
use super::{ApprovalGate, GateState, NewGate, NewVote, approvals};
use super::{NewRelease, Release, ReleaseFilter, releases};

/// The server's persistence. Every future is `Send`, so handlers (axum) can
/// await them on a multi-threaded runtime. Errors are [`SqlError`]: `Invalid`
/// for refused input, `NotFound`, `AlreadyExists`, or a database failure.
pub trait ServerStore: Send + Sync {
    // Projects

    /// Creates a project; its name must be unused (else `AlreadyExists`). The webhook secret, if any, is stored encrypted.
    fn create_project(
        &self,
        new: NewProject,
    ) -> impl Future<Output = Result<Project, SqlError>> + Send;
    /// The project of this id.
    fn project(&self, id: Id) -> impl Future<Output = Result<Project, SqlError>> + Send;
    /// The project of this name.
    fn project_by_name(&self, name: &str)
    -> impl Future<Output = Result<Project, SqlError>> + Send;
    /// Every project, by name.
    fn list_projects(&self) -> impl Future<Output = Result<Vec<Project>, SqlError>> + Send;
    /// Changes the repository, default branch or settings of a project.
    fn update_project(
        &self,
        id: Id,
        update: ProjectUpdate,
    ) -> impl Future<Output = Result<Project, SqlError>> + Send;
    /// Sets (or with `None` removes) the webhook secret, stored encrypted.
    fn set_webhook_secret(
        &self,
        project_id: Id,
        secret: Option<&SecretValue>,
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// The decrypted webhook secret, if one is set.
    fn webhook_secret(
        &self,
        project_id: Id,
    ) -> impl Future<Output = Result<Option<SecretValue>, SqlError>> + Send;
    // Runs

    /// Creates a queued run with the project's next number (1, 2, 3, … without gaps, even under concurrent creates).
    fn create_run(&self, new: NewRun) -> impl Future<Output = Result<Run, SqlError>> + Send;
    /// The run of this id.
    fn run(&self, id: Id) -> impl Future<Output = Result<Run, SqlError>> + Send;
    /// The run of this number in a project.
    fn run_by_number(
        &self,
        project_id: Id,
        number: i64,
    ) -> impl Future<Output = Result<Run, SqlError>> + Send;
    /// Sets a run's status and reason; stamps `started_ms` on the first `running` and `finished_ms` on a final status.
    fn set_run_status(
        &self,
        run_id: Id,
        status: RunStatus,
        reason: Option<&str>,
    ) -> impl Future<Output = Result<Run, SqlError>> + Send;
    /// A project's runs, newest first, filtered and paged by `filter`.
    fn list_runs(
        &self,
        project_id: Id,
        filter: &RunFilter,
    ) -> impl Future<Output = Result<Vec<Run>, SqlError>> + Send;
    /// Runs newest first (by id), filtered and paged by `filter`: one
    /// project's, as [`ServerStore::list_runs`], or every project's when
    /// `project_id` is `None`; `filter.before_number` is then an **id** (runs
    /// with a lower id), since numbers repeat across projects.
    fn list_all_runs(
        &self,
        project_id: Option<Id>,
        filter: &RunFilter,
    ) -> impl Future<Output = Result<Vec<Run>, SqlError>> + Send;
    /// Every queued or running run, across projects, oldest (lowest id) first: what a restarted server resumes.
    fn active_runs(&self) -> impl Future<Output = Result<Vec<Run>, SqlError>> + Send;
    /// How many runs have each status; a status without runs may be absent.
    fn count_runs_by_status(
        &self,
    ) -> impl Future<Output = Result<Vec<(RunStatus, i64)>, SqlError>> + Send;
    /// Stores the pipeline file path and its YAML text a run was started with (at most 4 MiB, no NUL), replacing any stored before; `NotFound` for an unknown run.
    fn set_run_pipeline(
        &self,
        run_id: Id,
        file: &str,
        source: &str,
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// The `(file, source)` stored for a run; `None` when none was (or the run does not exist).
    fn run_pipeline(
        &self,
        run_id: Id,
    ) -> impl Future<Output = Result<Option<(String, String)>, SqlError>> + Send;
    // Jobs and steps

    /// Inserts or replaces the state of the job `(run_id, key)`.
    fn upsert_job(&self, job: JobUpsert) -> impl Future<Output = Result<Job, SqlError>> + Send;
    /// The job of this id.
    fn job(&self, id: Id) -> impl Future<Output = Result<Job, SqlError>> + Send;
    /// The job `key` of a run; `NotFound` when the run has no such job.
    fn job_by_key(
        &self,
        run_id: Id,
        key: &str,
    ) -> impl Future<Output = Result<Job, SqlError>> + Send;
    /// How many jobs have each status; a status without jobs may be absent.
    fn count_jobs_by_status(
        &self,
    ) -> impl Future<Output = Result<Vec<(JobStatus, i64)>, SqlError>> + Send;
    /// The jobs of a run, in creation order.
    fn list_jobs(&self, run_id: Id) -> impl Future<Output = Result<Vec<Job>, SqlError>> + Send;
    /// Atomically claims the oldest queued job whose labels are all among `labels`, for `agent`, with a lease of `lease_ms`; `None` when no job matches. Each job is claimed by one caller only.
    fn claim_job(
        &self,
        agent: &str,
        labels: &[String],
        lease_ms: i64,
    ) -> impl Future<Output = Result<Option<Job>, SqlError>> + Send;
    /// Extends the lease of a running job held by `agent` to now + `lease_ms`; `NotFound` when the agent no longer holds it.
    fn renew_lease(
        &self,
        job_id: Id,
        agent: &str,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Job, SqlError>> + Send;
    /// Running jobs whose lease has expired, oldest expiry first, at most `limit`.
    fn expired_leases(&self, limit: u32)
    -> impl Future<Output = Result<Vec<Job>, SqlError>> + Send;
    /// Takes an expired job from its agent: back to `queued` with the next attempt (`requeue`), or `failed`; with `reason`. `None` when the lease is no longer expired (the agent renewed) or the job is not running.
    fn expire_lease(
        &self,
        job_id: Id,
        requeue: bool,
        reason: &str,
    ) -> impl Future<Output = Result<Option<Job>, SqlError>> + Send;
    /// Inserts or replaces the state of the step `(job_id, index)`.
    fn upsert_step(&self, step: StepUpsert) -> impl Future<Output = Result<Step, SqlError>> + Send;
    /// The steps of a job, by index.
    fn list_steps(&self, job_id: Id) -> impl Future<Output = Result<Vec<Step>, SqlError>> + Send;
    // Scheduler records

    /// Appends a scheduler record to a run; returns its sequence number (1, 2, 3, … per run).
    fn append_record(
        &self,
        run_id: Id,
        record: &Record,
    ) -> impl Future<Output = Result<i64, SqlError>> + Send;
    /// The records of a run after `after_seq` (0 for all), in order: what a restarted server replays.
    fn records(
        &self,
        run_id: Id,
        after_seq: i64,
    ) -> impl Future<Output = Result<Vec<StoredRecord>, SqlError>> + Send;
    // Artifacts and test results

    /// Indexes a job's artifacts (all or none); a name already indexed for the job is replaced.
    fn add_artifacts(
        &self,
        job_id: Id,
        artifacts: &[ArtifactRecord],
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// A job's artifacts, by name.
    fn artifacts(
        &self,
        job_id: Id,
    ) -> impl Future<Output = Result<Vec<ArtifactRecord>, SqlError>> + Send;
    /// Stores one result per test case of a job (all or none), tagged with the run's commit.
    fn add_test_results(
        &self,
        job_id: Id,
        cases: &[TestCase],
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// A job's test results, in the order stored.
    fn test_results(
        &self,
        job_id: Id,
    ) -> impl Future<Output = Result<Vec<TestResult>, SqlError>> + Send;
    /// A test's results across a project's runs, newest run first, at most `limit`.
    fn test_history(
        &self,
        project_id: Id,
        test: &TestId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<TestResult>, SqlError>> + Send;
    /// Tests of a project that passed and failed on one commit, or that a runner marked flaky, sorted by test.
    fn flaky_tests(
        &self,
        project_id: Id,
    ) -> impl Future<Output = Result<Vec<FlakyTest>, SqlError>> + Send;
    // Triggers: webhook deliveries and loop state

    /// Logs a webhook delivery, stamped with the store's clock; `NotFound` for an unknown project.
    fn record_delivery(
        &self,
        delivery: NewDelivery,
    ) -> impl Future<Output = Result<Delivery, SqlError>> + Send;
    /// A project's deliveries, newest first, at most `limit` (0 means 50; at most 1000).
    fn deliveries(
        &self,
        project_id: Id,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, SqlError>> + Send;
    /// The JSON state a trigger loop stored under `key` for a project (last seen refs, last cron tick, …).
    fn trigger_state(
        &self,
        project_id: Id,
        key: &str,
    ) -> impl Future<Output = Result<Option<Value>, SqlError>> + Send;
    /// Stores (inserts or replaces) a trigger loop's JSON state under `key` (at most 1 MiB as JSON); `NotFound` for an unknown project.
    fn set_trigger_state(
        &self,
        project_id: Id,
        key: &str,
        value: &Value,
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    // Users, tokens and roles

    /// Creates a user; the name must be unused.
    fn create_user(
        &self,
        name: &str,
        is_admin: bool,
    ) -> impl Future<Output = Result<User, SqlError>> + Send;
    /// The user of this name.
    fn user_by_name(&self, name: &str) -> impl Future<Output = Result<User, SqlError>> + Send;
    /// Every user, by name.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, SqlError>> + Send;
    /// Creates a token for a user. The clear token is returned here only; the store keeps its SHA-256.
    fn create_token(
        &self,
        user_id: Id,
        name: &str,
        kind: TokenKind,
    ) -> impl Future<Output = Result<(TokenInfo, ClearToken), SqlError>> + Send;
    /// The token a client presented, if it exists and is not revoked; records the use.
    fn authenticate(
        &self,
        token: &ClearToken,
    ) -> impl Future<Output = Result<Option<TokenInfo>, SqlError>> + Send;
    /// Creates a web UI session for a user: a token of kind `Session` that
    /// stops authenticating at `expires_ms` (or when revoked, at logout).
    fn create_session(
        &self,
        user_id: Id,
        expires_ms: i64,
    ) -> impl Future<Output = Result<(TokenInfo, ClearToken), SqlError>> + Send;
    /// Sets (or with `None` removes) a user's password hash: an opaque
    /// string (the server stores an argon2 PHC string), never a password.
    fn set_password_hash(
        &self,
        user_id: Id,
        hash: Option<&str>,
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// The user of this name with their password hash, if they have one.
    fn user_with_password_hash(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(User, Option<String>), SqlError>> + Send;
    /// Revokes a token; it no longer authenticates.
    fn revoke_token(&self, token_id: Id) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// Deletes web sessions past their expiry or revoked (logout); returns
    /// how many. Other tokens are kept.
    fn delete_dead_sessions(&self) -> impl Future<Output = Result<u64, SqlError>> + Send;
    /// A user's tokens (never their clear text).
    fn list_tokens(
        &self,
        user_id: Id,
    ) -> impl Future<Output = Result<Vec<TokenInfo>, SqlError>> + Send;
    /// Grants `role` on a project to a user, replacing any other; `None` revokes.
    fn set_role(
        &self,
        project_id: Id,
        user_id: Id,
        role: Option<Role>,
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// A user's role on a project.
    fn role(
        &self,
        project_id: Id,
        user_id: Id,
    ) -> impl Future<Output = Result<Option<Role>, SqlError>> + Send;
    /// Whether the token's user may do `action` on the project: server admins may do everything, agent and revoked tokens nothing on projects, others what their role allows.
    fn authorize(
        &self,
        token: &TokenInfo,
        project_id: Id,
        action: Action,
    ) -> impl Future<Output = Result<bool, SqlError>> + Send;
    // Secrets

    /// Sets a project secret, encrypted with a fresh nonce.
    fn set_secret(
        &self,
        project_id: Id,
        name: &str,
        value: &SecretValue,
    ) -> impl Future<Output = Result<(), SqlError>> + Send;
    /// A decrypted project secret.
    fn secret(
        &self,
        project_id: Id,
        name: &str,
    ) -> impl Future<Output = Result<Option<SecretValue>, SqlError>> + Send;
    /// Every secret of a project, decrypted, by name (for masking and for jobs).
    fn secrets(
        &self,
        project_id: Id,
    ) -> impl Future<Output = Result<Vec<(String, SecretValue)>, SqlError>> + Send;
    /// The names of a project's secrets, sorted.
    fn secret_names(
        &self,
        project_id: Id,
    ) -> impl Future<Output = Result<Vec<String>, SqlError>> + Send;
    /// Deletes a secret; `false` when there was none.
    fn delete_secret(
        &self,
        project_id: Id,
        name: &str,
    ) -> impl Future<Output = Result<bool, SqlError>> + Send;
    // Releases (append-only: no method changes or removes one)

    /// Appends a release; `NotFound` for an unknown project or run.
    fn append_release(
        &self,
        release: NewRelease,
    ) -> impl Future<Output = Result<Release, SqlError>> + Send;
    /// The release of this id.
    fn release(&self, id: Id) -> impl Future<Output = Result<Release, SqlError>> + Send;
    /// A project's releases, filtered, oldest first (or the newest first, see [`ReleaseFilter`]).
    fn list_releases(
        &self,
        project_id: Id,
        filter: &ReleaseFilter,
    ) -> impl Future<Output = Result<Vec<Release>, SqlError>> + Send;
    /// The newest release that succeeded, in `environment` (any when `None`), of `digest` (any when `None`).
    fn last_successful_release(
        &self,
        project_id: Id,
        environment: Option<&str>,
        digest: Option<&str>,
    ) -> impl Future<Output = Result<Option<Release>, SqlError>> + Send;
    // Audit log

    /// Appends an entry to the hash-chained audit log.
    fn append_audit(
        &self,
        entry: NewAuditEntry,
    ) -> impl Future<Output = Result<AuditEntry, SqlError>> + Send;
    /// Entries after `after_seq`, in order, at most `limit`.
    fn audit_entries(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, SqlError>> + Send;
    /// Recomputes the whole chain; the number of entries when intact, else `AuditTampered` naming the first bad entry.
    fn verify_audit_chain(&self) -> impl Future<Output = Result<u64, SqlError>> + Send;
    // Approval gates

    /// Opens the gate `(run, job_key, gate)`, pending until `deadline_ms`; idempotent: a gate already opened is returned as stored (its deadline, votes and decision unchanged).
    fn open_gate(
        &self,
        new: NewGate,
    ) -> impl Future<Output = Result<ApprovalGate, SqlError>> + Send;
    /// The gate `(run, job_key, gate)` with its votes, if it was opened.
    fn approval_gate(
        &self,
        run_id: Id,
        job_key: &str,
        gate: &str,
    ) -> impl Future<Output = Result<Option<ApprovalGate>, SqlError>> + Send;
    /// Every gate of a run with its votes, in the order opened.
    fn run_gates(
        &self,
        run_id: Id,
    ) -> impl Future<Output = Result<Vec<ApprovalGate>, SqlError>> + Send;
    /// The pending gates of a project's runs with their votes, in the order opened.
    fn pending_gates(
        &self,
        project_id: Id,
    ) -> impl Future<Output = Result<Vec<ApprovalGate>, SqlError>> + Send;
    /// Pending gates whose deadline has passed, oldest deadline first, at most `limit` (0 means 100), without their votes.
    fn overdue_gates(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ApprovalGate>, SqlError>> + Send;
    /// Adds a user's vote to a pending gate before its deadline and returns the gate with every vote; `Conflict` for a second vote of the user, a decided gate or a passed deadline.
    fn add_vote(
        &self,
        gate_id: Id,
        vote: NewVote,
    ) -> impl Future<Output = Result<ApprovalGate, SqlError>> + Send;
    /// Decides a pending gate (compare-and-set) from the `votes_seen`
    /// votes it holds: `true` when this call decided it; `false` when it
    /// was already decided, does not exist, or has received more votes than
    /// `votes_seen` (read it again and decide anew).
    fn decide_gate(
        &self,
        gate_id: Id,
        state: GateState,
        decision: &Value,
        votes_seen: usize,
    ) -> impl Future<Output = Result<bool, SqlError>> + Send;
}

impl ServerStore for SqlStore {
    async fn create_project(&self, new: NewProject) -> Result<Project, SqlError> {
        projects::create(self, new).await
    }
    async fn project(&self, id: Id) -> Result<Project, SqlError> {
        projects::get(self, id).await
    }
    async fn project_by_name(&self, name: &str) -> Result<Project, SqlError> {
        projects::by_name(self, name).await
    }
    async fn list_projects(&self) -> Result<Vec<Project>, SqlError> {
        projects::list(self).await
    }
    async fn update_project(&self, id: Id, update: ProjectUpdate) -> Result<Project, SqlError> {
        projects::update(self, id, update).await
    }
    async fn set_webhook_secret(
        &self,
        project_id: Id,
        secret: Option<&SecretValue>,
    ) -> Result<(), SqlError> {
        projects::set_webhook_secret(self, project_id, secret).await
    }
    async fn webhook_secret(&self, project_id: Id) -> Result<Option<SecretValue>, SqlError> {
        projects::webhook_secret(self, project_id).await
    }
    async fn create_run(&self, new: NewRun) -> Result<Run, SqlError> {
        runs::create(self, new).await
    }
    async fn run(&self, id: Id) -> Result<Run, SqlError> {
        runs::get(self, id).await
    }
    async fn run_by_number(&self, project_id: Id, number: i64) -> Result<Run, SqlError> {
        runs::by_number(self, project_id, number).await
    }
    async fn set_run_status(
        &self,
        run_id: Id,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<Run, SqlError> {
        runs::set_status(self, run_id, status, reason).await
    }
    async fn list_runs(&self, project_id: Id, filter: &RunFilter) -> Result<Vec<Run>, SqlError> {
        runs::list(self, project_id, filter).await
    }
    async fn list_all_runs(
        &self,
        project_id: Option<Id>,
        filter: &RunFilter,
    ) -> Result<Vec<Run>, SqlError> {
        runs::list_all(self, project_id, filter).await
    }
    async fn active_runs(&self) -> Result<Vec<Run>, SqlError> {
        runs::active(self).await
    }
    async fn count_runs_by_status(&self) -> Result<Vec<(RunStatus, i64)>, SqlError> {
        runs::count_by_status(self).await
    }
    async fn set_run_pipeline(&self, run_id: Id, file: &str, source: &str) -> Result<(), SqlError> {
        runs::set_pipeline(self, run_id, file, source).await
    }
    async fn run_pipeline(&self, run_id: Id) -> Result<Option<(String, String)>, SqlError> {
        runs::pipeline(self, run_id).await
    }
    async fn upsert_job(&self, job: JobUpsert) -> Result<Job, SqlError> {
        jobs::upsert(self, job).await
    }
    async fn job(&self, id: Id) -> Result<Job, SqlError> {
        jobs::get(self, id).await
    }
    async fn job_by_key(&self, run_id: Id, key: &str) -> Result<Job, SqlError> {
        jobs::by_key(self, run_id, key).await
    }
    async fn count_jobs_by_status(&self) -> Result<Vec<(JobStatus, i64)>, SqlError> {
        jobs::count_by_status(self).await
    }
    async fn list_jobs(&self, run_id: Id) -> Result<Vec<Job>, SqlError> {
        jobs::list(self, run_id).await
    }
    async fn claim_job(
        &self,
        agent: &str,
        labels: &[String],
        lease_ms: i64,
    ) -> Result<Option<Job>, SqlError> {
        jobs::claim(self, agent, labels, lease_ms).await
    }
    async fn renew_lease(&self, job_id: Id, agent: &str, lease_ms: i64) -> Result<Job, SqlError> {
        jobs::renew_lease(self, job_id, agent, lease_ms).await
    }
    async fn expired_leases(&self, limit: u32) -> Result<Vec<Job>, SqlError> {
        jobs::expired(self, limit).await
    }
    async fn expire_lease(
        &self,
        job_id: Id,
        requeue: bool,
        reason: &str,
    ) -> Result<Option<Job>, SqlError> {
        jobs::expire_lease(self, job_id, requeue, reason).await
    }
    async fn upsert_step(&self, step: StepUpsert) -> Result<Step, SqlError> {
        jobs::upsert_step(self, step).await
    }
    async fn list_steps(&self, job_id: Id) -> Result<Vec<Step>, SqlError> {
        jobs::steps(self, job_id).await
    }
    async fn append_record(&self, run_id: Id, record: &Record) -> Result<i64, SqlError> {
        events::append(self, run_id, record).await
    }
    async fn records(&self, run_id: Id, after_seq: i64) -> Result<Vec<StoredRecord>, SqlError> {
        events::read(self, run_id, after_seq).await
    }
    async fn add_artifacts(
        &self,
        job_id: Id,
        artifacts: &[ArtifactRecord],
    ) -> Result<(), SqlError> {
        results::add_artifacts(self, job_id, artifacts).await
    }
    async fn artifacts(&self, job_id: Id) -> Result<Vec<ArtifactRecord>, SqlError> {
        results::artifacts(self, job_id).await
    }
    async fn add_test_results(&self, job_id: Id, cases: &[TestCase]) -> Result<(), SqlError> {
        results::add_tests(self, job_id, cases).await
    }
    async fn test_results(&self, job_id: Id) -> Result<Vec<TestResult>, SqlError> {
        results::tests_of_job(self, job_id).await
    }
    async fn test_history(
        &self,
        project_id: Id,
        test: &TestId,
        limit: u32,
    ) -> Result<Vec<TestResult>, SqlError> {
        results::history(self, project_id, test, limit).await
    }
    async fn flaky_tests(&self, project_id: Id) -> Result<Vec<FlakyTest>, SqlError> {
        results::flaky(self, project_id).await
    }
    async fn record_delivery(&self, delivery: NewDelivery) -> Result<Delivery, SqlError> {
        triggers::record_delivery(self, delivery).await
    }
    async fn deliveries(&self, project_id: Id, limit: u32) -> Result<Vec<Delivery>, SqlError> {
        triggers::deliveries(self, project_id, limit).await
    }
    async fn trigger_state(&self, project_id: Id, key: &str) -> Result<Option<Value>, SqlError> {
        triggers::state(self, project_id, key).await
    }
    async fn set_trigger_state(
        &self,
        project_id: Id,
        key: &str,
        value: &Value,
    ) -> Result<(), SqlError> {
        triggers::set_state(self, project_id, key, value).await
    }
    async fn create_user(&self, name: &str, is_admin: bool) -> Result<User, SqlError> {
        auth::create_user(self, name, is_admin).await
    }
    async fn user_by_name(&self, name: &str) -> Result<User, SqlError> {
        auth::user_by_name(self, name).await
    }
    async fn list_users(&self) -> Result<Vec<User>, SqlError> {
        auth::list_users(self).await
    }
    async fn create_token(
        &self,
        user_id: Id,
        name: &str,
        kind: TokenKind,
    ) -> Result<(TokenInfo, ClearToken), SqlError> {
        auth::create_token(self, user_id, name, kind).await
    }
    async fn authenticate(&self, token: &ClearToken) -> Result<Option<TokenInfo>, SqlError> {
        auth::authenticate(self, token).await
    }
    async fn create_session(
        &self,
        user_id: Id,
        expires_ms: i64,
    ) -> Result<(TokenInfo, ClearToken), SqlError> {
        auth::create_session(self, user_id, expires_ms).await
    }
    async fn set_password_hash(&self, user_id: Id, hash: Option<&str>) -> Result<(), SqlError> {
        auth::set_password_hash(self, user_id, hash).await
    }
    async fn user_with_password_hash(
        &self,
        name: &str,
    ) -> Result<(User, Option<String>), SqlError> {
        auth::user_with_password_hash(self, name).await
    }
    async fn revoke_token(&self, token_id: Id) -> Result<(), SqlError> {
        auth::revoke_token(self, token_id).await
    }
    async fn delete_dead_sessions(&self) -> Result<u64, SqlError> {
        auth::delete_dead_sessions(self).await
    }
    async fn list_tokens(&self, user_id: Id) -> Result<Vec<TokenInfo>, SqlError> {
        auth::list_tokens(self, user_id).await
    }
    async fn set_role(
        &self,
        project_id: Id,
        user_id: Id,
        role: Option<Role>,
    ) -> Result<(), SqlError> {
        auth::set_role(self, project_id, user_id, role).await
    }
    async fn role(&self, project_id: Id, user_id: Id) -> Result<Option<Role>, SqlError> {
        auth::role(self, project_id, user_id).await
    }
    async fn authorize(
        &self,
        token: &TokenInfo,
        project_id: Id,
        action: Action,
    ) -> Result<bool, SqlError> {
        auth::authorize(self, token, project_id, action).await
    }
    async fn set_secret(
        &self,
        project_id: Id,
        name: &str,
        value: &SecretValue,
    ) -> Result<(), SqlError> {
        secrets::set(self, project_id, name, value).await
    }
    async fn secret(&self, project_id: Id, name: &str) -> Result<Option<SecretValue>, SqlError> {
        secrets::get(self, project_id, name).await
    }
    async fn secrets(&self, project_id: Id) -> Result<Vec<(String, SecretValue)>, SqlError> {
        secrets::all(self, project_id).await
    }
    async fn secret_names(&self, project_id: Id) -> Result<Vec<String>, SqlError> {
        secrets::names(self, project_id).await
    }
    async fn delete_secret(&self, project_id: Id, name: &str) -> Result<bool, SqlError> {
        secrets::delete(self, project_id, name).await
    }
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, SqlError> {
        audit::append(self, entry).await
    }
    async fn audit_entries(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>, SqlError> {
        audit::entries(self, after_seq, limit).await
    }
    async fn verify_audit_chain(&self) -> Result<u64, SqlError> {
        audit::verify(self).await
    }
    async fn open_gate(&self, new: NewGate) -> Result<ApprovalGate, SqlError> {
        approvals::open(self, new).await
    }
    async fn approval_gate(
        &self,
        run_id: Id,
        job_key: &str,
        gate: &str,
    ) -> Result<Option<ApprovalGate>, SqlError> {
        approvals::get(self, run_id, job_key, gate).await
    }
    async fn run_gates(&self, run_id: Id) -> Result<Vec<ApprovalGate>, SqlError> {
        approvals::of_run(self, run_id).await
    }
    async fn pending_gates(&self, project_id: Id) -> Result<Vec<ApprovalGate>, SqlError> {
        approvals::pending_of_project(self, project_id).await
    }
    async fn overdue_gates(&self, limit: u32) -> Result<Vec<ApprovalGate>, SqlError> {
        approvals::overdue(self, limit).await
    }
    async fn add_vote(&self, gate_id: Id, vote: NewVote) -> Result<ApprovalGate, SqlError> {
        approvals::add_vote(self, gate_id, vote).await
    }
    async fn decide_gate(
        &self,
        gate_id: Id,
        state: GateState,
        decision: &Value,
        votes_seen: usize,
    ) -> Result<bool, SqlError> {
        approvals::decide(self, gate_id, state, decision, votes_seen).await
    }
    async fn append_release(&self, release: NewRelease) -> Result<Release, SqlError> {
        releases::append(self, release).await
    }
    async fn release(&self, id: Id) -> Result<Release, SqlError> {
        releases::get(self, id).await
    }
    async fn list_releases(
        &self,
        project_id: Id,
        filter: &ReleaseFilter,
    ) -> Result<Vec<Release>, SqlError> {
        releases::list(self, project_id, filter).await
    }
    async fn last_successful_release(
        &self,
        project_id: Id,
        environment: Option<&str>,
        digest: Option<&str>,
    ) -> Result<Option<Release>, SqlError> {
        releases::last_successful(self, project_id, environment, digest).await
    }
}
