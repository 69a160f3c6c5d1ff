//! The server's persistence: SQLite (the default, one file) or PostgreSQL
//! (for several servers or big teams), behind one trait, [`ServerStore`],
//! implemented by [`SqlStore`] for both.
//!
//! ```text
//! let key = SecretKey::from_env_or_dir(data_dir)?;
//! let store = SqlStore::connect("sqlite:///var/lib/slipway/slipway.db", key).await?;
//! let project = store.create_project(NewProject { … }).await?;
//! ```
//!
//! [`SqlStore::connect`] accepts `sqlite://PATH` (created when missing; WAL
//! journal, foreign keys on, 5 s busy timeout) and `postgres://…`, and brings
//! the schema up to date from the migrations embedded in the binary
//! (`migrations/sqlite/*.sql`, `migrations/postgres/*.sql`: one set per
//! backend, the same tables in each).
//!
//! # Schema
//!
//! Times are milliseconds since the Unix epoch (`*_ms`); ids are 64-bit
//! integers assigned by the database.
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | `projects` | project | `name` (unique), `repo_url`, `default_branch`, `settings` (JSON object), `webhook_nonce` + `webhook_ciphertext` (the encrypted webhook secret, or NULL), `next_run_number` (the number the next run gets), `created_ms` |
//! | `runs` | run | `project_id`, `number` (unique per project), `status` (queued, running, succeeded, failed, cancelled), `reason` (why, e.g. the failure), `trigger_kind` (push, pull_request, tag, schedule, manual, …), `branch`, `tag`, `commit_sha`, `inputs` (JSON object), `triggered_by` (who started it: a user, a forge's sender, or NULL), `created_ms`, `started_ms`, `finished_ms`, `next_event_seq` (the sequence number of the next scheduler record) |
//! | `jobs` | job instance of a run | `run_id`, `job_key` (unique per run, e.g. `test (linux, 1)`), `labels` (JSON array an agent must all have), `status` (queued, running, succeeded, failed, skipped, cancelled), `agent` (holder), `lease_expires_ms` (the holder must renew before), `attempt` (1 first), `reason`, `queued_ms`, `started_ms`, `finished_ms` |
//! | `run_pipelines` | run started from a pipeline file | `run_id` (primary key), `file` (the pipeline file's path in the repository), `source` (its YAML text, at most 4 MiB) |
//! | `steps` | step of a job | `job_id`, `idx` (0-based), `name`, `status` (as jobs), `exit_code`, `started_ms`, `finished_ms` |
//! | `run_events` | scheduler record | `run_id`, `seq` (1, 2, 3, … per run), `record` (the engine's `Record` as JSON), `recorded_ms` |
//! | `artifacts` | artifact of a job | `job_id`, `name` (unique per job), `path` (relative to the workspace), `digest` (BLAKE3 hex of the blob or directory manifest), `size`, `kind` (file, directory) |
//! | `test_results` | test case result | `job_id`, `run_id`, `project_id`, `commit_sha` (the run's, copied for the flakiness query), `suite`, `classname`, `name`, `outcome` (passed, failed, errored, skipped, flaky), `time_seconds`, `message`, `flaky_attempts` (failed attempts before a pass) |
//! | `webhook_deliveries` | webhook request received for a project | `project_id`, `forge` (github, gitlab, gitea, …), `event` (the forge's event name, empty when none), `delivery_id` (the forge's delivery header, or NULL), `result` (started, ignored, rejected, failed), `message` (why), `run_ids` (JSON array of the runs started), `received_ms` |
//! | `trigger_state` | piece of trigger-loop state | `project_id`, `state_key` (unique per project, e.g. the polled refs or the last cron tick), `value` (JSON), `updated_ms` |
//! | `releases` | deployment of a digest to an environment (append-only) | `project_id`, `run_id` (the run that deployed it, or NULL), `job_key`, `environment`, `digest`, `artifact_name`, `kind` (deploy, rollback, release), `outcome` (succeeded, failed, rolled_back, cancelled), `commit_sha`, `commit_time_ms`, `started_ms`, `finished_ms`, `record` (the whole release record as JSON: targets, strategy, approvals, verification evidence), `recorded_ms` |
//! | `users` | user | `name` (unique), `is_admin` (may do everything), `created_ms` |
//! | `tokens` | API or agent token | `user_id`, `name`, `kind` (personal, agent), `hash` (SHA-256 of the token, unique), `created_ms`, `last_used_ms`, `revoked_ms` |
//! | `project_roles` | grant | `project_id`, `user_id` (one role per pair), `role` (viewer, developer, maintainer, admin) |
//! | `secrets` | project secret | `project_id`, `name` (unique per project), `nonce` (24 random bytes), `ciphertext` (XChaCha20-Poly1305 of the value with its tag), `created_ms`, `updated_ms` |
//! | `audit_log` | audited action | `seq` (1, 2, 3, …), `at_ms`, `actor`, `action`, `target`, `details` (JSON), `prev_hash` (hex SHA-256 of the previous entry), `hash` (hex SHA-256 of `prev_hash` and this entry's canonical content) |
//! | `approval_gates` | gate of a job waiting for people | `run_id`, `job_key`, `gate` (`""` for an `approval:` job, `canary step N` for a canary pause; unique with the run and job), `required` (approving votes needed), `opened_ms`, `deadline_ms`, `state` (pending, approved, rejected, timed_out), `decision` (JSON, once decided), `decided_ms`, `message` (what the gate asks, rendered by the agent; NULL when none), `vote_count` (votes stored; a decision must name it) |
//! | `approval_votes` | vote on a gate | `gate_id`, `user_name` (one vote per user and gate), `approved`, `comment`, `inputs` (JSON object), `at_ms` |
//! | `audit_head` | (one row) | `seq` and `hash` of the last audit entry: the chain's anchor, which also serialises appends |
//!
//! # Invariants
//!
//! - **Run numbers are dense and increasing per project**: a run's number
//!   comes from `projects.next_run_number`, incremented in the transaction
//!   that inserts the run, so concurrent creates get 1, 2, 3, … and a failed
//!   insert uses no number.
//! - **Scheduler records are append-only and ordered**: each gets the next
//!   `seq` of its run in the transaction that stores it; a trigger refuses
//!   UPDATE of `run_events`. A restarted server replays them in `seq` order.
//! - **The audit log is append-only and hash-chained**: triggers refuse UPDATE
//!   and DELETE; each entry's hash covers the previous hash and its own
//!   content, and `audit_head` holds the last one, so
//!   [`ServerStore::verify_audit_chain`] detects a changed, inserted or
//!   deleted row (the last one included), even by someone who disabled the
//!   triggers.
//! - **Releases are append-only**: the store has no method that changes or
//!   removes one, and triggers refuse UPDATE and DELETE of `releases`.
//! - **An approval gate is decided once**: the decision is a
//!   compare-and-set from `pending`; a vote is added only while its gate is
//!   pending and before its deadline, under the gate's row lock, and at most
//!   once per user.
//! - **Tokens are never stored in clear**: only their SHA-256; the clear token
//!   exists once, in [`ClearToken`], returned by `create_token`.
//! - **Secrets are encrypted at rest** (the webhook secret too), each value
//!   with its own random nonce and bound to its row; no error message, `Debug`
//!   output or log line holds a value or the key.
//! - **A job is claimed by one agent**: claiming is one atomic statement
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL; a single `UPDATE … RETURNING` on
//!   SQLite, whose writers are serialised).
//! - **Nothing is stored half-way**: every operation that writes more than one
//!   row runs in one transaction.
//! - **Input is data, never SQL**: every value is a bound parameter (sqlx
//!   accepts only `'static` query strings); names are checked (length,
//!   characters) before any query, and text refuses NUL, which PostgreSQL
//!   cannot store (secret values and records, stored as ciphertext and JSON,
//!   may hold NUL).
//!
//! # Why runtime-checked queries
//!
//! sqlx's `query!` macros check SQL against a live database (or committed
//! offline data) at compile time. Slipway must build anywhere without a
//! database, and each query here runs on two backends from one source text;
//! so queries are checked at run time, and the conformance suite
//! (`tests/sql_conformance/mod.rs`, run against a real SQLite file and a real
//! PostgreSQL server) executes every one of them.

#[macro_use]
mod macros;

mod api;
mod approvals;
pub(crate) mod audit;
mod auth;
mod crypto;
mod error;
mod events;
mod jobs;
mod model;
mod projects;
mod releases;
mod results;
mod runs;
mod secrets;
mod triggers;
mod validate;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use api::ServerStore;
pub use crypto::{
    ClearToken, SECRET_KEY_ENV, SECRET_KEY_FILE, SecretKey, SecretValue, TOKEN_PREFIX,
};
pub use error::SqlError;
pub use model::*;

/// The connection pool of one backend. Public so that tools and tests can
/// run raw SQL; the server goes through [`ServerStore`].
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The clock the store stamps rows with (milliseconds since the epoch).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The SQL store: a pool, the secret key and a clock. Cheap to clone (all
/// shared). `Debug` shows the backend only.
#[derive(Clone)]
pub struct SqlStore {
    db: Database,
    key: SecretKey,
    clock: Clock,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.db {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        };
        f.debug_struct("SqlStore")
            .field("backend", &backend)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Connects to `sqlite://PATH` or `postgres://…` and applies the
    /// migrations not yet applied.
    pub async fn connect(url: &str, key: SecretKey) -> Result<SqlStore, SqlError> {
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            migrator(SQLITE_MIGRATIONS).run(&pool).await?;
            Database::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            migrator(POSTGRES_MIGRATIONS).run(&pool).await?;
            Database::Postgres(pool)
        } else {
            return Err(SqlError::invalid(
                "database URL",
                "must start with `sqlite://` or `postgres://`",
            ));
        };
        Ok(SqlStore {
            db,
            key,
            clock: Arc::new(system_now_ms),
        })
    }

    /// Replaces the clock (tests use a settable one for lease expiry).
    pub fn with_clock(mut self, clock: Clock) -> SqlStore {
        self.clock = clock;
        self
    }

    /// The pool, for raw SQL outside [`ServerStore`].
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match &self.db {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `(version, description, SQL)` of each migration, oldest first.
type Migrations = &'static [(i64, &'static str, &'static str)];

const SQLITE_MIGRATIONS: Migrations = &[
    (
        1,
        "server schema",
        include_str!("../../migrations/sqlite/0001_server_schema.sql"),
    ),
    (
        2,
        "server triggers",
        include_str!("../../migrations/sqlite/0002_server_triggers.sql"),
    ),
    (
        3,
        "approvals",
        include_str!("../../migrations/sqlite/0003_approvals.sql"),
    ),
    (
        4,
        "releases",
        include_str!("../../migrations/sqlite/0004_releases.sql"),
    ),
    (5, "ui", include_str!("../../migrations/sqlite/0005_ui.sql")),
    (
        6,
        "gates",
        include_str!("../../migrations/sqlite/0006_gates.sql"),
    ),
];

const POSTGRES_MIGRATIONS: Migrations = &[
    (
        1,
        "server schema",
        include_str!("../../migrations/postgres/0001_server_schema.sql"),
    ),
    (
        2,
        "server triggers",
        include_str!("../../migrations/postgres/0002_server_triggers.sql"),
    ),
    (
        3,
        "approvals",
        include_str!("../../migrations/postgres/0003_approvals.sql"),
    ),
    (
        4,
        "releases",
        include_str!("../../migrations/postgres/0004_releases.sql"),
    ),
    (
        5,
        "ui",
        include_str!("../../migrations/postgres/0005_ui.sql"),
    ),
    (
        6,
        "gates",
        include_str!("../../migrations/postgres/0006_gates.sql"),
    ),
];

fn migrator(migrations: Migrations) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
