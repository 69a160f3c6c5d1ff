//! The HTTP API's types: what the server (`slipway-server`), the agents
//! (`slipway-agent`) and the command line (`slipway`) send each other, as
//! JSON under `/api/v1`. One definition, so the three cannot drift; the
//! OpenAPI document is generated from these types (`utoipa`).
//!
//! Routes (see `slipway-server` for the roles each needs):
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /healthz` | | `ok` |
//! | `GET /metrics` | | Prometheus text |
//! | `POST /hooks/{github,gitlab,gitea}/{project}` | the forge's payload | 202 [`HookAnswer`] |
//! | `GET /api/v1/projects` | | `[`[`ProjectView`]`]` |
//! | `POST /api/v1/projects` | [`NewProjectRequest`] | 201 [`ProjectCreated`] |
//! | `GET /api/v1/projects/{project}` | | [`ProjectView`] |
//! | `PUT /api/v1/projects/{project}/secrets/{name}` | [`SecretRequest`] | 204 |
//! | `GET /api/v1/projects/{project}/secrets` | | `[name]` |
//! | `POST /api/v1/projects/{project}/runs` | [`TriggerRequest`] | 201 [`RunView`] |
//! | `GET /api/v1/runs?project=P&status=S&limit=N` | | `[`[`RunView`]`]` |
//! | `GET /api/v1/runs/{id}` | | [`RunDetail`] |
//! | `POST /api/v1/runs/{id}/cancel` | | [`RunView`] |
//! | `POST /api/v1/runs/{id}/retry` | [`RetryRequest`] | [`RunView`] |
//! | `GET /api/v1/runs/{id}/logs?job=J&follow=true` | | `text/event-stream` of [`LogEvent`] (`id:` resumable with `Last-Event-ID`) |
//! | `POST /api/v1/agent/claim` | [`ClaimRequest`] | 200 [`Assignment`], 202 [`PrefetchHint`] (only when [`ClaimRequest::prefetch`]) or 204 |
//! | `POST /api/v1/agent/jobs/{job}/events` | [`EventBatch`] | [`EventAck`] |
//! | `POST /api/v1/agent/jobs/{job}/finish` | [`FinishRequest`] | 204 |
//! | `HEAD`/`GET`/`PUT /api/v1/agent/objects/{digest}` | raw bytes | content-addressed blobs (artifacts) |
//! | `POST /api/v1/runs/{id}/jobs/{job}/approvals` | [`ApprovalVoteRequest`] | [`ApprovalView`]; 403 (not an approver, or self-approval), 409 (decided, timed out, voted already), 422 (inputs) |
//! | `GET /api/v1/runs/{id}/approvals` | | `[`[`ApprovalView`]`]` |
//! | `GET /api/v1/projects/{project}/approvals` | | `[`[`ApprovalView`]`]`: the gates waiting now |
//! | `POST /api/v1/agent/jobs/{job}/approvals/wait` | [`ApprovalWaitRequest`] | [`ApprovalWaitAnswer`] |
//! | `GET /api/v1/projects/{project}/releases?env=E&limit=N` | | `[`[`ReleaseView`]`]`, newest first |
//! | `GET /api/v1/projects/{project}/releases/{id}` | | [`ReleaseDetail`] |
//! | `POST /api/v1/projects/{project}/releases` | [`ReleaseRequest`] | 201 [`ReleaseStarted`]; 409 when a required environment never had the digest |
//! | `GET /api/v1/dora?project=P&env=E&since=SECONDS` | | slipway-deploy's `Dora` |
//!
//! Every error is an [`ErrorBody`] with the matching status.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use slipway_engine::records::{GitInfo, Record};
use slipway_engine::{JobOutcome, Upstream};
use utoipa::ToSchema;

/// The header agents and users send their token in (`Authorization: Bearer T`).
pub const AUTHORIZATION: &str = "authorization";

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and, where it helps, what to do.
    pub error: String,
}

/// A project as the API shows it (never its secrets).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    pub id: i64,
    pub name: String,
    pub repo_url: String,
    pub default_branch: String,
    pub has_webhook_secret: bool,
    /// Free-form settings, e.g. `poll_interval_secs`.
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_ms: i64,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewProjectRequest {
    /// Defaults to the repository's last path component.
    #[serde(default)]
    pub name: Option<String>,
    /// A local path, `file://` or any URL `git` can fetch.
    pub repo_url: String,
    /// Defaults to the remote's HEAD, else `main`.
    #[serde(default)]
    pub default_branch: Option<String>,
    /// Generated (and returned once) when absent.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Option<Value>,
}

/// The answer to `POST /api/v1/projects`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectCreated {
    pub project: ProjectView,
    /// Only when the server generated the webhook secret: shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_webhook_secret: Option<String>,
}

/// `PUT /api/v1/projects/{project}/secrets/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecretRequest {
    pub value: String,
}

/// `POST /api/v1/projects/{project}/runs`: a manual run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TriggerRequest {
    /// A branch, tag or commit; defaults to the project's default branch.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// Typed inputs, checked against the pipeline's `inputs:`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
}

/// `POST /api/v1/runs/{id}/retry`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RetryRequest {
    /// Job keys to run again (with everything after them); empty retries
    /// every job that did not succeed.
    #[serde(default)]
    pub jobs: Vec<String>,
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// Server-wide id: what `slipway logs`, `cancel` and `retry` take.
    pub id: i64,
    pub project: String,
    /// 1, 2, 3, … per project.
    pub number: i64,
    /// queued, running, succeeded, failed, cancelled.
    pub status: String,
    /// Why it has that status (a failure's cause), when there is something to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// push, tag, pull_request, schedule, manual, retry.
    pub trigger: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
}

/// A run with its jobs and steps.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunDetail {
    pub run: RunView,
    pub jobs: Vec<JobView>,
}

/// A job of a run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: i64,
    pub key: String,
    /// queued, running, succeeded, failed, skipped, cancelled.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub queued_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
    pub steps: Vec<StepView>,
}

/// A step of a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub index: u32,
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// One log line of a live or stored log (`data:` of a server-sent event).
/// The event's `id:` is `JOB.STEP.LINE`; sending it back as `Last-Event-ID`
/// resumes after that line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogEvent {
    /// The job's key, e.g. `test (linux, 1)`.
    pub job: String,
    pub step: u32,
    /// 0-based line number within the step's log.
    pub line: u64,
    /// `o` (stdout) or `e` (stderr).
    pub stream: char,
    pub ts_ms: u64,
    /// The line, masked, without its newline (invalid UTF-8 replaced).
    pub text: String,
}

/// `POST /hooks/...`: what the server did with a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HookAnswer {
    /// `started`, `ignored`, `failed`.
    pub result: String,
    /// The runs the delivery created (failed ones included).
    pub runs: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One test case's result in a job (`GET /api/v1/runs/{id}/tests`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestResultView {
    pub job: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    /// passed, failed, errored, skipped, flaky.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Failed attempts before the final one.
    pub flaky_attempts: u32,
}

/// A test found flaky in a project (`GET /api/v1/projects/{project}/flaky`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlakyView {
    pub suite: String,
    pub classname: String,
    pub name: String,
    /// Why: `passed and failed on commit SHA`, or `marked flaky by the runner`.
    pub reason: String,
    /// How many results back the finding.
    pub results: i64,
}

// ---- Agent protocol -------------------------------------------------------

/// `POST /api/v1/agent/claim`: an agent waits (long poll) for a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimRequest {
    /// The agent's name, unique among connected agents.
    pub agent: String,
    /// What the agent offers, e.g. `linux`, `docker`; a job is given only
    /// to an agent having all of the job's labels.
    pub labels: Vec<String>,
    /// How long the server may hold the request when no job is ready
    /// (at most 60,000).
    pub wait_ms: u64,
    /// The agent accepts a [`PrefetchHint`] (202) as the answer of a
    /// waiting claim. Agents that do not say so only ever get 200 or 204.
    #[serde(default)]
    pub prefetch: bool,
    /// The commit the agent has in its mirror (or is fetching) because of
    /// a hint: the server prefers this agent for a job of that commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetched: Option<String>,
}

/// The answer (202) to a waiting claim when a webhook delivery has just
/// been verified: a job of `commit` will likely follow, so the agent may
/// fetch it now, beside the server's own work, and then claim again at
/// once (naming the commit in [`ClaimRequest::prefetched`]). Best effort:
/// it reserves no job, and an agent that cannot fetch just claims again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrefetchHint {
    /// The repository, exactly as an [`Assignment`] of it will name it.
    pub repo_url: String,
    /// The full commit id.
    pub commit: String,
}

/// A job handed to an agent: everything it needs to run it with the engine.
/// Its `Debug` output hides the secrets' values.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    pub job_id: i64,
    pub run_id: i64,
    /// The run's name for the engine (its server-wide id).
    pub run: String,
    pub project: String,
    /// Where to fetch the commit from.
    pub repo_url: String,
    pub commit: String,
    /// The pipeline file's path in the repository and its text at `commit`.
    pub pipeline_file: String,
    pub pipeline_source: String,
    /// The job instance's key in the plan, e.g. `test (linux, 1)`.
    pub job_key: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The agent must send events (which renew the lease) at least this often.
    pub lease_ms: u64,
    /// The project's secrets, for the job's `secrets` context and masking.
    /// Sent only to agents; never logged.
    pub secrets: Vec<(String, String)>,
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
    #[schema(value_type = Object)]
    pub git: GitInfo,
    /// Results, outputs and artifacts of the jobs this one needs.
    #[schema(value_type = Vec<Object>)]
    pub upstream: Vec<Upstream>,
    /// An admin's recorded reason to deploy inside a freeze window (the
    /// release runs of `slipway release --override-freeze` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_override: Option<String>,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<(&str, &str)> = self
            .secrets
            .iter()
            .map(|(name, _)| (name.as_str(), "***"))
            .collect();
        f.debug_struct("Assignment")
            .field("job_id", &self.job_id)
            .field("run_id", &self.run_id)
            .field("run", &self.run)
            .field("project", &self.project)
            .field("repo_url", &self.repo_url)
            .field("commit", &self.commit)
            .field("pipeline_file", &self.pipeline_file)
            .field("job_key", &self.job_key)
            .field("attempt", &self.attempt)
            .field("lease_ms", &self.lease_ms)
            .field("secrets", &secrets)
            .field("inputs", &self.inputs)
            .field("git", &self.git)
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// One log line from an agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentLine {
    pub step: u32,
    /// `o` or `e`.
    pub stream: char,
    pub ts_ms: u64,
    /// Masked by the agent, without the newline.
    pub text: String,
}

/// `POST /api/v1/agent/jobs/{job}/events`: what happened since the last
/// batch. Also renews the job's lease. A batch is stored whole before the
/// answer, so a line the agent was answered for is never lost; a batch sent
/// again (its answer was lost) is recognised by its number and not stored
/// twice.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct EventBatch {
    pub agent: String,
    /// The claim's attempt (from the assignment): numbers count per attempt.
    #[serde(default)]
    pub attempt: u32,
    /// The batch's number in this attempt, from 1, the same when sent
    /// again; 0 leaves it unnumbered (always stored).
    #[serde(default)]
    pub seq: u64,
    /// Step records (`step_started`, `step_finished`) in order.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Record>,
    #[serde(default)]
    pub lines: Vec<AgentLine>,
}

/// The answer to an [`EventBatch`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventAck {
    /// The run was cancelled: stop the job (its steps are killed).
    pub cancel: bool,
}

/// `POST /api/v1/agent/jobs/{job}/finish`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FinishRequest {
    pub agent: String,
    #[schema(value_type = Object)]
    pub outcome: JobOutcome,
}

// ---- Approvals ------------------------------------------------------------

/// `POST /api/v1/runs/{id}/jobs/{job}/approvals`: a person's vote on a gate
/// waiting for approval.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ApprovalVoteRequest {
    /// `true` approves, `false` rejects (one rejection decides the gate).
    pub approve: bool,
    /// Why; kept with the decision and the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The typed inputs the approval asks for (checked like a manual run's).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
    /// The gate: `""` (default) for the job's `approval:`, `canary step N`
    /// for a canary's `pause: until-approved`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gate: String,
}

/// A gate of a run as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// The run's server-wide id.
    pub run: i64,
    /// The job's key, e.g. `sign-off` or `deploy (eu)`.
    pub job: String,
    /// `""` for an `approval:` job, `canary step N` for a canary's pause.
    pub gate: String,
    /// pending, approved, rejected, timed_out.
    pub state: String,
    /// Distinct approving votes needed.
    pub required: u32,
    /// What the gate asks: its `message:` as the agent rendered it
    /// (secrets masked), or a canary pause's question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who may vote: user names and `role:R` (R or a stronger role).
    pub approvers: Vec<String>,
    /// `false`: whoever started the run may not vote.
    pub self_approval: bool,
    /// Who started the run, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub opened_ms: i64,
    /// When a pending gate times out.
    pub deadline_ms: i64,
    /// The votes, in the order cast.
    pub votes: Vec<ApprovalVoteView>,
    /// How it ended, once decided: `approved by alice, bob`, `rejected by
    /// carol: not today`, `timed out after 4h: rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_ms: Option<i64>,
}

/// One vote on a gate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalVoteView {
    pub user: String,
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
    pub at_ms: i64,
}

/// `POST /api/v1/agent/jobs/{job}/approvals/wait`: the agent running a job
/// waits (long poll) for a gate's decision. The first call opens the gate
/// (its deadline is then now plus the approval's `timeout`); every call
/// renews the job's lease.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalWaitRequest {
    /// The agent holding the job.
    pub agent: String,
    /// `""` for the job's `approval:`, `canary step N` for a canary's pause.
    #[serde(default)]
    pub gate: String,
    /// How long the server may hold the request (at most 60,000).
    pub wait_ms: u64,
    /// What the gate asks (rendered, secrets masked); kept from the call
    /// that opens the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to an [`ApprovalWaitRequest`]: the decision, or none yet
/// (ask again).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalWaitAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub decision: Option<slipway_engine::ports::ApprovalDecision>,
    /// When the gate times out.
    pub deadline_ms: i64,
}

/// A release (one deployment of a digest to an environment) as the API
/// lists it; [`ReleaseDetail`] adds the whole record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    pub id: i64,
    pub project: String,
    /// The run that deployed it (server-wide id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    pub job: String,
    pub environment: String,
    pub digest: String,
    pub artifact: String,
    /// deploy, rollback or release (push-button).
    pub kind: String,
    /// succeeded, failed, rolled_back or cancelled.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_time_ms: Option<i64>,
    pub started_ms: i64,
    pub finished_ms: i64,
}

/// `GET /api/v1/projects/{project}/releases/{id}`: the release and its
/// whole record (targets, strategy, approvals, verification evidence).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseDetail {
    pub release: ReleaseView,
    #[schema(value_type = Object)]
    pub record: Value,
}

/// `POST /api/v1/projects/{project}/releases`: release a digest to an
/// environment now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReleaseRequest {
    pub environment: String,
    /// Default: the newest digest released successfully to an environment
    /// this one `requires`, else to any environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Deploy inside a freeze window (project admins only): the reason,
    /// recorded in the audit log and the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_freeze: Option<String>,
}

/// The answer to a release request: the run that carries it out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseStarted {
    pub run: RunView,
    pub environment: String,
    pub digest: String,
    pub artifact: String,
    /// The commit the release runs at (of the release that carried the digest).
    pub commit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_debug_hides_secret_values() {
        let assignment = Assignment {
            job_id: 1,
            run_id: 2,
            run: "2".into(),
            project: "p".into(),
            repo_url: "/r".into(),
            commit: "abc".into(),
            pipeline_file: "slipway.yml".into(),
            pipeline_source: String::new(),
            job_key: "build".into(),
            attempt: 1,
            lease_ms: 30_000,
            secrets: vec![("TOKEN".into(), "hunter2".into())],
            inputs: Map::new(),
            git: GitInfo::default(),
            upstream: Vec::new(),
            freeze_override: None,
        };
        let text = format!("{assignment:?}");
        assert!(text.contains("TOKEN"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
