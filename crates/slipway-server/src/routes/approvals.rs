//! Approval gates: the agent running a gated job waits for the decision
//! (`POST /agent/jobs/{job}/approvals/wait`, which opens the gate), people
//! vote (`POST /runs/{id}/jobs/{job}/approvals`) and anyone who may view the
//! run lists its gates (`GET /runs/{id}/approvals`) or the project's
//! waiting ones (`GET /projects/{project}/approvals`).
//!
//! Rules, all read from the run's stored pipeline (the `approval:` of the
//! job, or [`ApprovalJob::pause`] for a canary's `canary step N`):
//! - **Who may vote**: the `approvers:` (a user by name, or `role:R` for R or
//!   a stronger role on the project; server admins count as project admins);
//!   no `approvers:` means developer or above. Agent tokens never vote.
//! - **Self-approval**: with `self_approval: false`, whoever started the run
//!   may not approve it (they may still reject it).
//! - **Deciding**: one rejecting vote decides the gate rejected; `approvals`
//!   distinct approving votes decide it approved; the deadline (opened +
//!   `timeout`) decides it by `on_timeout`, checked on every read and wait
//!   and by the server's tick ([`expire_gates`]), so a gate nobody looks at
//!   still times out. The store decides once (compare-and-set): whoever
//!   loses the race reads the winner's decision.
//! - Every vote and every decision is an audit entry (`approval.vote`,
//!   `approval.decided`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};
use slipway_api::{
    ApprovalView, ApprovalVoteRequest, ApprovalVoteView, ApprovalWaitAnswer, ApprovalWaitRequest,
};
use slipway_engine::Plan;
use slipway_engine::approval::{approved, rejected, timed_out};
use slipway_engine::ports::{ApprovalDecision, ApprovalRequest, ApprovalVote};
use slipway_spec::approval::{ApprovalJob, ApproverRef};
use slipway_spec::deploy::{CanaryStep, Strategy};
use slipway_spec::model::{Pipeline, Span};
use slipway_store::sql::{
    Action, ApprovalGate, GateState, Id, NewAuditEntry, NewGate, NewVote, Role, Run, ServerStore,
    SqlError, TokenInfo, TokenKind,
};
use tokio::sync::Notify;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::routes::projects::project_for;
use crate::state::AppState;

/// Wakes the agents waiting on this server when any gate is decided here.
/// Process-wide on purpose: each waiter then reads its own gate from the
/// store, which is the truth, and which waiters also poll every [`POLL`]
/// (the only signal between servers sharing one PostgreSQL database).
static DECIDED: LazyLock<Notify> = LazyLock::new(Notify::new);

/// How often a waiting agent's gate is read again without a wake-up.
const POLL: Duration = Duration::from_secs(1);
/// The longest an agent's wait is held.
const MAX_WAIT: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    i64::try_from(slipway_engine::now_ms()).unwrap_or(i64::MAX)
}

/// `""` is the job's own approval; a canary's pause has a name.
fn gate_name(gate: &str) -> &str {
    if gate.is_empty() { "approval" } else { gate }
}

/// The audit target of a gate: `run 12 job deploy gate canary step 2`.
fn audit_target(run: &Run, job_key: &str, gate: &str) -> String {
    format!("run {} job {job_key} gate {}", run.id, gate_name(gate))
}

/// A run's parsed pipeline and plan: where its gates' rules come from.
struct RunPipeline {
    pipeline: Pipeline,
    plan: Plan,
}

impl RunPipeline {
    async fn load(state: &AppState, run: &Run) -> ApiResult<RunPipeline> {
        let (file, source) = state
            .store
            .run_pipeline(run.id)
            .await?
            .ok_or_else(|| ApiError::conflict("the run's pipeline was not stored"))?;
        let pipeline = slipway_spec::parse_pipeline(&source, &file)
            .map_err(|_| ApiError::conflict(format!("the run's {file} is not valid")))?;
        let plan = Plan::new(&pipeline);
        Ok(RunPipeline { pipeline, plan })
    }

    /// The job's key in the plan (`job` is a key, or the id of a job with
    /// a single instance) and the rules of its gate.
    fn gate(&self, job: &str, gate: &str) -> ApiResult<(String, ApprovalJob)> {
        let planned = match self.plan.jobs.iter().find(|j| j.key == job) {
            Some(planned) => planned,
            None => {
                let prefix = format!("{job} (");
                let mut matching = self.plan.jobs.iter().filter(|j| j.key.starts_with(&prefix));
                match (matching.next(), matching.next()) {
                    (Some(planned), None) => planned,
                    (Some(_), Some(_)) => {
                        return Err(ApiError::bad_request(format!(
                            "`{}` has several instances in this run; name one by its key",
                            job.escape_debug()
                        )));
                    }
                    _ => {
                        return Err(ApiError::not_found(format!(
                            "the run has no job `{}`",
                            job.escape_debug()
                        )));
                    }
                }
            }
        };
        let key = planned.key.clone();
        let spec = self
            .pipeline
            .jobs
            .get(planned.spec)
            .ok_or_else(|| ApiError::internal("the run's plan does not match its pipeline"))?;
        if gate.is_empty() {
            return match &spec.approval {
                Some(approval) => Ok((key, approval.clone())),
                None => Err(ApiError::not_found(format!(
                    "job `{key}` is not an approval job; a canary's pause is approved with its gate, e.g. `canary step 2`"
                ))),
            };
        }
        let step = gate
            .strip_prefix("canary step ")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1));
        let canary = match &spec.deploy {
            Some(deploy) => match &deploy.strategy {
                Strategy::Canary(canary) => Some(canary),
                _ => None,
            },
            None => None,
        };
        match (step, canary) {
            (Some(step), Some(canary))
                if matches!(
                    canary.steps.get(step),
                    Some(CanaryStep::PauseUntilApproved | CanaryStep::Verify(_))
                ) =>
            {
                Ok((key, ApprovalJob::pause(Span::default())))
            }
            _ => Err(ApiError::not_found(format!(
                "job `{key}` has no gate `{}`: gates are `` (an approval job) or `canary step N` (a canary step that pauses until approved or verifies)",
                gate.escape_debug()
            ))),
        }
    }
}

/// The engine's view of a stored vote.
fn engine_votes(gate: &ApprovalGate) -> Vec<ApprovalVote> {
    gate.votes
        .iter()
        .map(|vote| ApprovalVote {
            user: vote.user.clone(),
            approved: vote.approved,
            comment: vote.comment.clone(),
            at_ms: u64::try_from(vote.at_ms).unwrap_or(0),
        })
        .collect()
}

/// Decides `gate` with `decision` (once: a lost race is not an error),
/// audits and announces the decision, and returns the gate as stored. The
/// decision counts as made from the gate's votes: when more arrived since
/// it was read, nothing is decided and the gate comes back still pending,
/// for the caller to decide anew.
async fn decide(
    state: &AppState,
    run: &Run,
    gate: &ApprovalGate,
    outcome: GateState,
    decision: ApprovalDecision,
    actor: &str,
) -> ApiResult<ApprovalGate> {
    let value = serde_json::to_value(&decision)
        .map_err(|e| ApiError::internal(format!("the decision could not be written: {e}")))?;
    if state
        .store
        .decide_gate(gate.id, outcome, &value, gate.votes.len())
        .await?
    {
        tracing::info!(run = run.id, job = %gate.job_key, gate = %gate.gate, reason = %decision.reason, "approval decided");
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: "approval.decided".to_string(),
            target: audit_target(run, &gate.job_key, &gate.gate),
            details: serde_json::json!({
                "run": run.id,
                "run_number": run.number,
                "state": outcome.as_str(),
                "approved": decision.approved,
                "reason": decision.reason,
                "voters": decision.votes.iter().map(|v| v.user.as_str()).collect::<Vec<_>>(),
            }),
        };
        if let Err(error) = state.store.append_audit(entry).await {
            tracing::error!(%error, "could not append the approval decision to the audit log");
        }
        DECIDED.notify_waiters();
    }
    state
        .store
        .approval_gate(run.id, &gate.job_key, &gate.gate)
        .await?
        .ok_or_else(|| ApiError::internal("the approval gate vanished"))
}

fn request<'a>(
    run_name: &'a str,
    gate: &'a ApprovalGate,
    approval: &'a ApprovalJob,
) -> ApprovalRequest<'a> {
    ApprovalRequest {
        run: run_name,
        job_key: &gate.job_key,
        gate: &gate.gate,
        approval,
        message: gate.message.clone(),
    }
}

/// A pending gate past its deadline is decided by `on_timeout` first.
async fn settle(
    state: &AppState,
    run: &Run,
    gate: ApprovalGate,
    approval: &ApprovalJob,
) -> ApiResult<ApprovalGate> {
    let mut gate = gate;
    // Again while votes keep arriving (at most a vote per allowed user).
    loop {
        if gate.state != GateState::Pending || now_ms() < gate.deadline_ms {
            return Ok(gate);
        }
        let run_name = run.id.to_string();
        let decision = timed_out(&request(&run_name, &gate, approval), engine_votes(&gate));
        gate = decide(state, run, &gate, GateState::TimedOut, decision, "system").await?;
    }
}

/// Decides the gate if its votes say so: a rejection at once, or enough
/// distinct approvals.
async fn decide_by_votes(
    state: &AppState,
    run: &Run,
    gate: ApprovalGate,
    approval: &ApprovalJob,
    actor: &str,
) -> ApiResult<ApprovalGate> {
    let mut gate = gate;
    // Again while votes keep arriving (at most a vote per allowed user).
    loop {
        if gate.state != GateState::Pending {
            return Ok(gate);
        }
        let run_name = run.id.to_string();
        let request = request(&run_name, &gate, approval);
        let votes = engine_votes(&gate);
        let approving = gate.votes.iter().filter(|v| v.approved).count();
        let (outcome, decision) = if gate.votes.iter().any(|v| !v.approved) {
            (GateState::Rejected, rejected(&request, votes))
        } else if approving >= gate.required as usize {
            let inputs = gate
                .votes
                .iter()
                .rev()
                .find(|v| v.approved)
                .and_then(|v| v.inputs.as_object().cloned())
                .unwrap_or_default();
            (GateState::Approved, approved(&request, votes, inputs))
        } else {
            return Ok(gate);
        };
        gate = decide(state, run, &gate, outcome, decision, actor).await?;
    }
}

/// Why the caller may not vote on a gate with these rules, if so.
fn refusal(caller: &TokenInfo, role: Option<Role>, approval: &ApprovalJob) -> Option<String> {
    if caller.kind == TokenKind::Agent {
        return Some("agent tokens cannot vote on approvals".to_string());
    }
    let role = if caller.user_is_admin {
        Some(Role::Admin)
    } else {
        role
    };
    let has = |needed: Role| role.is_some_and(|r| r.includes(needed));
    if approval.approvers.is_empty() {
        return (!has(Role::Developer)).then(|| {
            format!(
                "approving needs the developer role or above on the project (your role: {})",
                role.map_or("none", Role::as_str)
            )
        });
    }
    let allowed = approval.approvers.iter().any(|approver| match approver {
        ApproverRef::User(name) => *name == caller.user_name,
        ApproverRef::Role(name) => Role::parse(name).is_ok_and(has),
    });
    (!allowed).then(|| {
        format!(
            "`{}` is not among this gate's approvers: {}",
            caller.user_name,
            approver_names(approval).join(", ")
        )
    })
}

fn approver_names(approval: &ApprovalJob) -> Vec<String> {
    if approval.approvers.is_empty() {
        return vec!["role:developer".to_string()];
    }
    approval
        .approvers
        .iter()
        .map(|approver| match approver {
            ApproverRef::User(name) => name.clone(),
            ApproverRef::Role(role) => format!("role:{role}"),
        })
        .collect()
}

/// A decided gate's reason, from its stored decision.
fn reason(gate: &ApprovalGate) -> Option<String> {
    gate.decision
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn view(gate: ApprovalGate, approval: Option<&ApprovalJob>, run: &Run) -> ApprovalView {
    let reason = reason(&gate);
    ApprovalView {
        run: gate.run_id,
        job: gate.job_key,
        gate: gate.gate,
        state: gate.state.as_str().to_string(),
        required: gate.required,
        message: gate.message,
        approvers: approval.map(approver_names).unwrap_or_default(),
        self_approval: approval.is_none_or(|a| a.self_approval),
        started_by: run.triggered_by.clone(),
        opened_ms: gate.opened_ms,
        deadline_ms: gate.deadline_ms,
        votes: gate
            .votes
            .into_iter()
            .map(|vote| ApprovalVoteView {
                user: vote.user,
                approved: vote.approved,
                comment: vote.comment,
                inputs: match vote.inputs {
                    Value::Object(map) => map,
                    _ => Map::new(),
                },
                at_ms: vote.at_ms,
            })
            .collect(),
        reason,
        decided_ms: gate.decided_ms,
    }
}

/// 409 for a vote on a gate that is no longer pending, saying how it ended.
fn decided_error(gate: &ApprovalGate) -> ApiError {
    let how = reason(gate).unwrap_or_else(|| gate.state.as_str().to_string());
    let what = match gate.state {
        GateState::TimedOut => "the approval timed out",
        _ => "the approval was already decided",
    };
    ApiError::conflict(format!("{what}: {how}"))
}

async fn run_or_404(state: &AppState, id: Id) -> ApiResult<Run> {
    state
        .store
        .run(id)
        .await
        .map_err(|_| ApiError::not_found(format!("no run with id {id}")))
}

/// What the web UI shows beside a pending gate: its rules (typed inputs
/// among them) and, by the same checks [`vote`] makes, why the caller may
/// not reject (`refusal`) or approve it (`refusal`, or self-approval off).
pub struct VotingRules {
    pub approval: ApprovalJob,
    pub refusal: Option<String>,
    pub may_approve: bool,
}

/// [`VotingRules`] of a gate of `run` for `caller`.
pub async fn voting_rules(
    state: &AppState,
    caller: &Caller,
    run: &Run,
    job: &str,
    gate: &str,
) -> ApiResult<VotingRules> {
    let (_, approval) = RunPipeline::load(state, run).await?.gate(job, gate)?;
    let user = &caller.0;
    let role = if user.kind != TokenKind::Agent {
        state.store.role(run.project_id, user.user_id).await?
    } else {
        None
    };
    let refusal = refusal(user, role, &approval);
    let may_approve = refusal.is_none()
        && (approval.self_approval || run.triggered_by.as_deref() != Some(user.user_name.as_str()));
    Ok(VotingRules {
        approval,
        refusal,
        may_approve,
    })
}

/// `POST /api/v1/runs/{id}/jobs/{job}/approvals`: a vote.
#[utoipa::path(post, path = "/api/v1/runs/{id}/jobs/{job}/approvals", request_body = ApprovalVoteRequest,
    params(("id" = i64, Path), ("job" = String, Path, description = "the job's key, or its id when it has one instance")),
    responses((status = 200, body = ApprovalView, description = "the gate after the vote (decided when this vote decided it)"),
              (status = 403, description = "not among the approvers, or self-approval refused"),
              (status = 409, description = "the gate is decided, timed out, not open yet, or the user voted already"),
              (status = 422, description = "invalid inputs")),
    security(("token" = [])), tag = "approvals")]
pub async fn vote(
    State(state): State<AppState>,
    caller: Caller,
    Path((run_id, job)): Path<(Id, String)>,
    ApiJson(request): ApiJson<ApprovalVoteRequest>,
) -> ApiResult<Json<ApprovalView>> {
    let run = run_or_404(&state, run_id).await?;
    // A stranger learns nothing about the run's gates.
    caller.require(&state, run.project_id, Action::View).await?;
    let (key, approval) = RunPipeline::load(&state, &run)
        .await?
        .gate(&job, &request.gate)?;
    let Some(gate) = state
        .store
        .approval_gate(run.id, &key, &request.gate)
        .await?
    else {
        return Err(ApiError::conflict(format!(
            "job `{key}` is not waiting for {} (yet)",
            gate_name(&request.gate)
        )));
    };
    let gate = settle(&state, &run, gate, &approval).await?;
    if gate.state != GateState::Pending {
        return Err(decided_error(&gate));
    }
    let user = &caller.0;
    let role = if user.kind != TokenKind::Agent {
        state.store.role(run.project_id, user.user_id).await?
    } else {
        None
    };
    if let Some(why) = refusal(user, role, &approval) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, why));
    }
    if request.approve
        && !approval.self_approval
        && run.triggered_by.as_deref() == Some(user.user_name.as_str())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "self_approval is off for this gate: `{}` started run {}, so someone else must approve it",
                user.user_name, run.id
            ),
        ));
    }
    // A rejection needs no inputs; an approval's are typed and checked as a
    // manual run's are.
    let inputs = if request.approve {
        slipway_triggers::check_inputs(&approval.inputs, request.inputs).map_err(|why| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the approval's inputs are not valid:\n{why}"),
            )
        })?
    } else {
        Map::new()
    };
    let vote = NewVote {
        user: user.user_name.clone(),
        approved: request.approve,
        comment: request.comment.clone(),
        inputs: Value::Object(inputs.clone()),
    };
    let voted = match state.store.add_vote(gate.id, vote).await {
        Ok(gate) => gate,
        Err(SqlError::Conflict { reason }) => {
            // The deadline may have passed since the check: decide it now.
            let current = state
                .store
                .approval_gate(run.id, &key, &request.gate)
                .await?;
            if let Some(current) = current {
                let current = settle(&state, &run, current, &approval).await?;
                if current.state != GateState::Pending {
                    return Err(decided_error(&current));
                }
            }
            return Err(ApiError::conflict(reason));
        }
        Err(other) => return Err(other.into()),
    };
    let entry = NewAuditEntry {
        actor: user.user_name.clone(),
        action: "approval.vote".to_string(),
        target: audit_target(&run, &key, &request.gate),
        details: serde_json::json!({
            "run": run.id,
            "run_number": run.number,
            "approved": request.approve,
            "comment": request.comment,
            "inputs": inputs,
        }),
    };
    if let Err(error) = state.store.append_audit(entry).await {
        tracing::error!(%error, "could not append the approval vote to the audit log");
    }
    let gate = decide_by_votes(&state, &run, voted, &approval, &user.user_name).await?;
    Ok(Json(view(gate, Some(&approval), &run)))
}

/// `GET /api/v1/runs/{id}/approvals`: the run's gates, with their votes;
/// pending ones with who may approve and their deadline.
#[utoipa::path(get, path = "/api/v1/runs/{id}/approvals", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ApprovalView>)), security(("token" = [])), tag = "approvals")]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(run_id): Path<Id>,
) -> ApiResult<Json<Vec<ApprovalView>>> {
    let run = run_or_404(&state, run_id).await?;
    caller.require(&state, run.project_id, Action::View).await?;
    let gates = state.store.run_gates(run.id).await?;
    if gates.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let pipeline = RunPipeline::load(&state, &run).await.ok();
    let mut views = Vec::with_capacity(gates.len());
    for gate in gates {
        let approval = pipeline
            .as_ref()
            .and_then(|p| p.gate(&gate.job_key, &gate.gate).ok())
            .map(|(_, approval)| approval);
        let gate = match &approval {
            Some(approval) => settle(&state, &run, gate, approval).await?,
            None => gate,
        };
        views.push(view(gate, approval.as_ref(), &run));
    }
    Ok(Json(views))
}

/// `GET /api/v1/projects/{project}/approvals`: the gates of the project's
/// runs waiting for people now (those past their deadline are decided first
/// and left out), in the order opened.
#[utoipa::path(get, path = "/api/v1/projects/{project}/approvals", params(("project" = String, Path)),
    responses((status = 200, body = Vec<ApprovalView>)), security(("token" = [])), tag = "approvals")]
pub async fn pending(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<ApprovalView>>> {
    let project = project_for(&state, &caller, &project, Action::View).await?;
    let gates = state.store.pending_gates(project.id).await?;
    // Gates of one run share its pipeline: read and parsed once.
    let mut runs: HashMap<Id, (Run, Option<RunPipeline>)> = HashMap::new();
    let mut views = Vec::with_capacity(gates.len());
    for gate in gates {
        if let Entry::Vacant(slot) = runs.entry(gate.run_id) {
            let run = state.store.run(gate.run_id).await?;
            let pipeline = RunPipeline::load(&state, &run).await.ok();
            slot.insert((run, pipeline));
        }
        let Some((run, pipeline)) = runs.get(&gate.run_id) else {
            continue;
        };
        let approval = pipeline
            .as_ref()
            .and_then(|p| p.gate(&gate.job_key, &gate.gate).ok())
            .map(|(_, approval)| approval);
        let gate = match &approval {
            Some(approval) => settle(&state, run, gate, approval).await?,
            None => gate,
        };
        if gate.state == GateState::Pending {
            views.push(view(gate, approval.as_ref(), run));
        }
    }
    Ok(Json(views))
}

/// `POST /api/v1/agent/jobs/{job}/approvals/wait`: the agent holding the
/// job waits for its gate's decision; the first call opens the gate.
#[utoipa::path(post, path = "/api/v1/agent/jobs/{job}/approvals/wait", request_body = ApprovalWaitRequest,
    params(("job" = i64, Path, description = "job id")),
    responses((status = 200, body = ApprovalWaitAnswer, description = "the decision, or none within the wait (ask again)"),
              (status = 409, description = "the agent does not hold the job")),
    security(("token" = [])), tag = "agents")]
pub async fn wait(
    State(state): State<AppState>,
    caller: Caller,
    Path(job_id): Path<Id>,
    ApiJson(request): ApiJson<ApprovalWaitRequest>,
) -> ApiResult<Json<ApprovalWaitAnswer>> {
    caller.require_agent()?;
    state.agent_seen(&request.agent);
    // Renewing the lease is the check that this agent holds the job.
    let job = match state
        .store
        .renew_lease(job_id, &request.agent, state.lease_ms() as i64)
        .await
    {
        Ok(job) => job,
        Err(SqlError::NotFound { .. }) => {
            return Err(ApiError::conflict(
                "this agent no longer holds the job (its lease expired or the run ended)",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let run = state.store.run(job.run_id).await?;
    let (key, approval) = RunPipeline::load(&state, &run)
        .await?
        .gate(&job.key, &request.gate)?;
    let timeout_ms = i64::try_from(approval.timeout.as_millis()).unwrap_or(i64::MAX);
    let mut gate = state
        .store
        .open_gate(NewGate {
            run_id: run.id,
            job_key: key.clone(),
            gate: request.gate.clone(),
            required: approval.approvals.max(1),
            deadline_ms: now_ms().saturating_add(timeout_ms),
            message: request.message.clone(),
        })
        .await?;
    let until = Instant::now() + Duration::from_millis(request.wait_ms).min(MAX_WAIT);
    let mut closing = state.closing.clone();
    loop {
        gate = settle(&state, &run, gate, &approval).await?;
        if gate.state != GateState::Pending {
            let decision = gate
                .decision
                .clone()
                .and_then(|value| serde_json::from_value(value).ok())
                .ok_or_else(|| ApiError::internal("the gate's stored decision is unreadable"))?;
            return Ok(Json(ApprovalWaitAnswer {
                decision: Some(decision),
                deadline_ms: gate.deadline_ms,
            }));
        }
        let now = Instant::now();
        if now >= until || *closing.borrow() {
            break;
        }
        let to_deadline = Duration::from_millis(
            u64::try_from(gate.deadline_ms.saturating_sub(now_ms())).unwrap_or(0),
        );
        let nap = POLL.min(until - now).min(to_deadline);
        let decided = DECIDED.notified();
        // Read once more after registering, so a decision made meanwhile is
        // not missed.
        gate = state
            .store
            .approval_gate(run.id, &key, &request.gate)
            .await?
            .ok_or_else(|| ApiError::internal("the approval gate vanished"))?;
        if gate.state == GateState::Pending {
            tokio::select! {
                () = decided => {}
                () = tokio::time::sleep(nap) => {}
                changed = closing.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
            gate = state
                .store
                .approval_gate(run.id, &key, &request.gate)
                .await?
                .ok_or_else(|| ApiError::internal("the approval gate vanished"))?;
        }
    }
    Ok(Json(ApprovalWaitAnswer {
        decision: None,
        deadline_ms: gate.deadline_ms,
    }))
}

/// The server's tick: pending gates past their deadline are decided by
/// their `on_timeout`, even when nobody asks about them.
pub async fn expire_gates(state: &AppState) {
    let overdue = match state.store.overdue_gates(100).await {
        Ok(gates) => gates,
        Err(error) => {
            tracing::error!(%error, "cannot read overdue approval gates");
            return;
        }
    };
    for gate in overdue {
        if let Err(error) = expire(state, gate).await {
            tracing::error!(error = %error.message, "cannot time an approval gate out");
        }
    }
}

async fn expire(state: &AppState, gate: ApprovalGate) -> ApiResult<()> {
    let run = state.store.run(gate.run_id).await?;
    let config = match RunPipeline::load(state, &run).await {
        Ok(pipeline) => pipeline.gate(&gate.job_key, &gate.gate),
        Err(error) => Err(error),
    };
    match config {
        Ok((_, approval)) => {
            // Votes are read with the gate: the decision keeps them.
            let full = state
                .store
                .approval_gate(run.id, &gate.job_key, &gate.gate)
                .await?
                .unwrap_or(gate);
            settle(state, &run, full, &approval).await?;
        }
        Err(error) => {
            // The rules cannot be read any more: the safe outcome.
            let decision = ApprovalDecision {
                job_key: gate.job_key.clone(),
                gate: gate.gate.clone(),
                approved: false,
                reason: format!(
                    "timed out: rejected (the gate's rules could not be read: {})",
                    error.message
                ),
                votes: Vec::new(),
                inputs: Map::new(),
                at_ms: slipway_engine::now_ms(),
            };
            decide(state, &run, &gate, GateState::TimedOut, decision, "system").await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = r#"
jobs:
  package:
    matrix:
      os: [linux]
    steps:
      - run: make dist
    artifacts: {app: dist/app}
  sign-off:
    needs: [package]
    approval: {approvals: 2, approvers: [alice, role:maintainer]}
  production:
    needs: [sign-off]
    deploy:
      environment: production
      image: "app:1"
      strategy:
        canary:
          steps:
            - weight: 10
            - pause: until-approved
            - weight: 100
"#;

    fn pipeline() -> RunPipeline {
        let pipeline = slipway_spec::parse_pipeline(PIPELINE, "slipway.yml")
            .unwrap_or_else(|d| panic!("{}", d.render(PIPELINE, false)));
        let plan = Plan::new(&pipeline);
        RunPipeline { pipeline, plan }
    }

    #[test]
    fn gates_come_from_the_pipeline() {
        let pipeline = pipeline();
        let (key, approval) = pipeline.gate("sign-off", "").expect("approval job");
        assert_eq!((key.as_str(), approval.approvals), ("sign-off", 2));
        assert_eq!(approver_names(&approval), ["alice", "role:maintainer"]);

        let (key, pause) = pipeline
            .gate("production", "canary step 2")
            .expect("the canary's pause");
        assert_eq!(key, "production");
        assert_eq!(pause, ApprovalJob::pause(Span::default()));

        for (job, gate, status) in [
            ("production", "canary step 1", 404),
            ("production", "canary step 9", 404),
            ("production", "canary step x", 404),
            ("production", "", 404),
            ("sign-off", "canary step 2", 404),
            ("nope", "", 404),
        ] {
            let error = pipeline.gate(job, gate).expect_err("no such gate");
            assert_eq!(
                error.status.as_u16(),
                status,
                "{job} {gate}: {}",
                error.message
            );
        }
        // A matrix job by its id, when it has one instance.
        let error = pipeline.gate("package", "").expect_err("not an approval");
        assert!(
            error.message.contains("package (linux)"),
            "{}",
            error.message
        );
    }

    fn token(kind: TokenKind, admin: bool) -> TokenInfo {
        TokenInfo {
            id: 1,
            user_id: 1,
            user_name: "bob".into(),
            user_is_admin: admin,
            name: "t".into(),
            kind,
            created_ms: 0,
            last_used_ms: None,
            revoked_ms: None,
        }
    }

    #[test]
    fn who_may_vote() {
        let pipeline = pipeline();
        let (_, named) = pipeline.gate("sign-off", "").expect("gate");
        let (_, anyone) = pipeline.gate("production", "canary step 2").expect("gate");
        let bob = token(TokenKind::Personal, false);
        assert_eq!(refusal(&bob, Some(Role::Maintainer), &named), None);
        assert_eq!(refusal(&bob, Some(Role::Admin), &named), None);
        let weak = refusal(&bob, Some(Role::Developer), &named).expect("refused");
        assert!(weak.contains("alice, role:maintainer"), "{weak}");
        assert_eq!(refusal(&bob, Some(Role::Developer), &anyone), None);
        let viewer = refusal(&bob, Some(Role::Viewer), &anyone).expect("refused");
        assert!(viewer.contains("your role: viewer"), "{viewer}");
        assert!(refusal(&bob, None, &anyone).is_some());
        assert_eq!(
            refusal(&token(TokenKind::Personal, true), None, &named),
            None
        );
        assert!(refusal(&token(TokenKind::Agent, true), None, &anyone).is_some());
    }
}
