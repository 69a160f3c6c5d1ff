//! The values the server store takes and returns.

use serde_json::Value;
use slipway_reports::Outcome;

use super::SqlError;
use super::crypto::SecretValue;

/// A row id. Ids are assigned by the database and never reused.
pub type Id = i64;

/// Generates `as_str` and `parse` for a C-like enum stored as text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The text stored in the database and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The inverse of `as_str`.
            pub fn parse(text: &str) -> Result<$name, SqlError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(SqlError::invalid(
                        $what,
                        format!(
                            "`{other}` is not one of {}",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// What a new project holds.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// Unique name, used in URLs: see the naming rules in the module docs.
    pub name: String,
    /// Where `git` fetches from: a path, `file://` or any URL.
    pub repo_url: String,
    pub default_branch: String,
    /// Free-form settings (polling interval, retention, …) as a JSON object.
    pub settings: Value,
    /// The webhook signing secret, stored encrypted.
    pub webhook_secret: Option<SecretValue>,
}

/// A stored project. The webhook secret is read with
/// [`super::ServerStore::webhook_secret`], never carried here.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: Id,
    pub name: String,
    pub repo_url: String,
    pub default_branch: String,
    pub settings: Value,
    pub has_webhook_secret: bool,
    pub created_ms: i64,
}

/// Changes to a project; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    pub repo_url: Option<String>,
    pub default_branch: Option<String>,
    pub settings: Option<Value>,
}

text_enum! {
    /// Where a run stands.
    RunStatus, "run status" {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// What starts a run.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub project_id: Id,
    /// push, pull_request, tag, schedule, manual, …
    pub trigger: String,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit_sha: Option<String>,
    /// Manual inputs as a JSON object (`{}` when none).
    pub inputs: Value,
    /// Who started it: the user of a manual run or retry, the forge's
    /// sender of a webhook run; `None` for cron and polling.
    pub triggered_by: Option<String>,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: Id,
    pub project_id: Id,
    /// 1, 2, 3, … per project, without gaps.
    pub number: i64,
    pub status: RunStatus,
    /// Why the run has its status (e.g. the failure reason); `None` when
    /// there is nothing to say.
    pub reason: Option<String>,
    pub trigger: String,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit_sha: Option<String>,
    pub inputs: Value,
    /// Who started it (see [`NewRun::triggered_by`]).
    pub triggered_by: Option<String>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

/// Which runs [`super::ServerStore::list_runs`] and
/// [`super::ServerStore::list_all_runs`] return: newest first, at most
/// `limit`, below `before_number` when set (the next page starts below the
/// last one of the previous page).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub branch: Option<String>,
    /// Within one project: runs numbered below this. Across projects
    /// (`list_all_runs` with no project): runs whose **id** is below this,
    /// since numbers repeat from project to project.
    pub before_number: Option<i64>,
    /// 0 means the default of 50; at most 1000.
    pub limit: u32,
}

text_enum! {
    /// Where a job or a step stands.
    JobStatus, "job status" {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Skipped = "skipped",
        Cancelled = "cancelled",
    }
}

impl JobStatus {
    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// The state of a job to write, keyed by `(run_id, key)`: inserted when new,
/// replaced otherwise.
#[derive(Debug, Clone)]
pub struct JobUpsert {
    pub run_id: Id,
    /// The job instance key, e.g. `test (linux, 1)`.
    pub key: String,
    /// Labels an agent must all have to claim the job.
    pub labels: Vec<String>,
    pub status: JobStatus,
    pub agent: Option<String>,
    pub lease_expires_ms: Option<i64>,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub reason: Option<String>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Id,
    pub run_id: Id,
    pub key: String,
    pub labels: Vec<String>,
    pub status: JobStatus,
    /// The agent that holds (or last held) the job.
    pub agent: Option<String>,
    /// While running: the agent must renew before this time.
    pub lease_expires_ms: Option<i64>,
    pub attempt: u32,
    pub reason: Option<String>,
    pub queued_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

/// A step's state to write, keyed by `(job_id, index)`.
#[derive(Debug, Clone)]
pub struct StepUpsert {
    pub job_id: Id,
    /// 0-based position in the job.
    pub index: u32,
    pub name: String,
    pub status: JobStatus,
    pub exit_code: Option<i32>,
}

/// A stored step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub job_id: Id,
    pub index: u32,
    pub name: String,
    pub status: JobStatus,
    pub exit_code: Option<i32>,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

/// One scheduler record of a run, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// 1, 2, 3, … per run, in the order appended.
    pub seq: i64,
    pub record: slipway_engine::records::Record,
    pub recorded_ms: i64,
}

/// Identifies a test across runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TestId {
    pub suite: String,
    pub classname: String,
    pub name: String,
}

/// One test case's result in one job.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub run_id: Id,
    pub run_number: i64,
    pub job_id: Id,
    pub commit_sha: Option<String>,
    pub test: TestId,
    pub outcome: Outcome,
    pub time_seconds: Option<f64>,
    pub message: Option<String>,
    pub flaky_attempts: u32,
}

/// Why a test is reported as flaky.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlakyReason {
    /// It passed and failed on this same commit.
    PassedAndFailedOn { commit_sha: String },
    /// The runner marked it flaky (failed, then passed on retry).
    MarkedFlaky,
}

/// A test found flaky, with how many results back the finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlakyTest {
    pub test: TestId,
    pub reason: FlakyReason,
    pub results: i64,
}

/// A person or a machine account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Id,
    pub name: String,
    /// Server administrators may do everything on every project.
    pub is_admin: bool,
    pub created_ms: i64,
}

text_enum! {
    /// What a token is for.
    TokenKind, "token kind" {
        /// A person's API token.
        Personal = "personal",
        /// An agent's token: claims jobs, never acts on projects.
        Agent = "agent",
        /// A web UI login: acts like the user's personal token until it
        /// expires or is revoked (logout).
        Session = "session",
    }
}

/// A token's stored facts (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub id: Id,
    pub user_id: Id,
    pub user_name: String,
    pub user_is_admin: bool,
    pub name: String,
    pub kind: TokenKind,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

text_enum! {
    /// A user's role on one project, weakest first (the order is the order
    /// of power: `Viewer < Developer < Maintainer < Admin`).
    Role, "role" {
        Viewer = "viewer",
        Developer = "developer",
        Maintainer = "maintainer",
        Admin = "admin",
    }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Developer => 1,
            Role::Maintainer => 2,
            Role::Admin => 3,
        }
    }

    /// Whether this role is at least `other`.
    pub fn includes(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}

/// Something a user may try on a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the project, its runs, logs, artifacts and test results.
    View,
    /// Start, cancel or retry runs.
    Operate,
    /// Read secret names; set and delete secrets; edit settings and the
    /// webhook secret.
    Configure,
    /// Grant and revoke roles; delete the project.
    Administer,
}

impl Action {
    /// The weakest role allowed to do this.
    pub fn required_role(self) -> Role {
        match self {
            Action::View => Role::Viewer,
            Action::Operate => Role::Developer,
            Action::Configure => Role::Maintainer,
            Action::Administer => Role::Admin,
        }
    }
}

/// What to append to the audit log.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// Who: a user name, `agent:<name>`, or `system`.
    pub actor: String,
    /// What, e.g. `secret.set`, `run.cancel`.
    pub action: String,
    /// On what, e.g. `project:web/secret:TOKEN`.
    pub target: String,
    /// More facts as JSON (never secret values).
    pub details: Value,
}

/// A stored audit entry with its place in the hash chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The details as stored (compact JSON).
    pub details: String,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash` and this entry's canonical content.
    pub hash: String,
}

text_enum! {
    /// What the server did with a webhook delivery.
    DeliveryResult, "delivery result" {
        /// It started one or more runs (a run that failed at once, e.g. for
        /// a missing pipeline file, counts: it is visible in the API).
        Started = "started",
        /// Valid, but nothing to act on (an event or action Slipway does not
        /// handle, or no pipeline whose `on` filters match).
        Ignored = "ignored",
        /// Refused: a missing or bad signature, or a malformed payload.
        Rejected = "rejected",
        /// Accepted, but the server failed while acting on it.
        Failed = "failed",
    }
}

/// A webhook delivery to log.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub project_id: Id,
    /// `github`, `gitlab`, `gitea`, …
    pub forge: String,
    /// The forge's event name (e.g. `push`, `pull_request`, `Push Hook`);
    /// empty when the request named none.
    pub event: String,
    /// The forge's delivery id header (`X-GitHub-Delivery`, …), when sent.
    pub delivery_id: Option<String>,
    pub result: DeliveryResult,
    /// Why, for a delivery ignored, rejected or failed.
    pub message: Option<String>,
    /// The runs it started, in order.
    pub run_ids: Vec<Id>,
}

/// A logged webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Id,
    pub project_id: Id,
    pub forge: String,
    pub event: String,
    pub delivery_id: Option<String>,
    pub result: DeliveryResult,
    pub message: Option<String>,
    pub run_ids: Vec<Id>,
    /// When the store logged it.
    pub received_ms: i64,
}

text_enum! {
    /// Where an approval gate stands.
    GateState, "approval gate state" {
        /// Waiting for votes until its deadline.
        Pending = "pending",
        /// Enough people approved.
        Approved = "approved",
        /// Someone rejected it.
        Rejected = "rejected",
        /// Its deadline passed; the decision says what that meant
        /// (`on_timeout`: rejected, or approved).
        TimedOut = "timed_out",
    }
}

/// An approval gate to open: an `approval:` job (`gate` empty) or a
/// canary's `pause: until-approved` (`canary step N`) of one job of a run.
#[derive(Debug, Clone)]
pub struct NewGate {
    pub run_id: Id,
    pub job_key: String,
    pub gate: String,
    /// Distinct approving votes needed (at least 1).
    pub required: u32,
    /// When the gate times out (ms since the epoch).
    pub deadline_ms: i64,
    /// What the gate asks (rendered, secrets masked), kept from the first
    /// opening; at most [`MAX_GATE_MESSAGE`] bytes are stored.
    pub message: Option<String>,
}

/// The longest gate message stored; a longer one is cut at a character
/// boundary and ends with `…`.
pub const MAX_GATE_MESSAGE: usize = 4096;

/// A stored approval gate with its votes in the order cast.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalGate {
    pub id: Id,
    pub run_id: Id,
    pub job_key: String,
    pub gate: String,
    pub required: u32,
    pub opened_ms: i64,
    pub deadline_ms: i64,
    pub state: GateState,
    /// How it ended (the engine's `ApprovalDecision` as JSON), once decided.
    pub decision: Option<Value>,
    pub decided_ms: Option<i64>,
    /// What the gate asks, if anything.
    pub message: Option<String>,
    pub votes: Vec<GateVote>,
}

/// One person's vote to add to a gate.
#[derive(Debug, Clone)]
pub struct NewVote {
    pub user: String,
    pub approved: bool,
    pub comment: Option<String>,
    /// The approver's typed inputs, a JSON object (`{}` when none).
    pub inputs: Value,
}

/// A stored vote.
#[derive(Debug, Clone, PartialEq)]
pub struct GateVote {
    pub user: String,
    pub approved: bool,
    pub comment: Option<String>,
    pub inputs: Value,
    pub at_ms: i64,
}

/// The text stored for a test outcome.
pub(crate) fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Errored => "errored",
        Outcome::Skipped => "skipped",
        Outcome::Flaky => "flaky",
    }
}

pub(crate) fn parse_outcome(text: &str) -> Result<Outcome, SqlError> {
    Ok(match text {
        "passed" => Outcome::Passed,
        "failed" => Outcome::Failed,
        "errored" => Outcome::Errored,
        "skipped" => Outcome::Skipped,
        "flaky" => Outcome::Flaky,
        other => return Err(SqlError::Corrupt(format!("unknown test outcome `{other}`"))),
    })
}

text_enum! {
    /// How a release came about.
    ReleaseKind, "release kind" {
        /// A `deploy:` job of a pipeline run.
        Deploy = "deploy",
        /// A redeploy of an earlier release (`slipway rollback`).
        Rollback = "rollback",
        /// A push-button release (`slipway release`, `POST …/releases`).
        Release = "release",
    }
}

text_enum! {
    /// How a release ended (slipway-deploy's `Outcome`).
    ReleaseOutcome, "release outcome" {
        Succeeded = "succeeded",
        Failed = "failed",
        /// Failed, and the targets were put back on their previous release.
        RolledBack = "rolled_back",
        Cancelled = "cancelled",
    }
}

/// A release to append: one deployment of one digest to one environment.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub project_id: Id,
    /// The run that deployed it (`None` for one imported from elsewhere).
    pub run_id: Option<Id>,
    pub job_key: String,
    pub environment: String,
    /// The artifact's digest (BLAKE3 hex), or an image reference.
    pub digest: String,
    pub artifact_name: String,
    pub kind: ReleaseKind,
    pub outcome: ReleaseOutcome,
    pub commit_sha: Option<String>,
    /// The commit's committer time, for lead time.
    pub commit_time_ms: Option<i64>,
    pub started_ms: i64,
    pub finished_ms: i64,
    /// The whole release record (slipway-deploy's `DeploymentRecord`:
    /// targets, strategy, approvals, verification evidence), a JSON object.
    pub record: Value,
}

/// A stored release. Releases are never changed nor removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub id: Id,
    pub project_id: Id,
    pub run_id: Option<Id>,
    pub job_key: String,
    pub environment: String,
    pub digest: String,
    pub artifact_name: String,
    pub kind: ReleaseKind,
    pub outcome: ReleaseOutcome,
    pub commit_sha: Option<String>,
    pub commit_time_ms: Option<i64>,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub record: Value,
    /// When the store appended it.
    pub recorded_ms: i64,
}

/// Which releases [`super::ServerStore::list_releases`] returns.
#[derive(Debug, Clone, Default)]
pub struct ReleaseFilter {
    /// Only this environment's.
    pub environment: Option<String>,
    /// Only those finished at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At most this many: 0 means 100; at most 10 000.
    pub limit: u32,
    /// Newest first (the newest `limit`); oldest first (the oldest `limit`) otherwise.
    pub newest_first: bool,
}
