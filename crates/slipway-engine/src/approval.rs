//! What every [`Approver`](crate::ports::Approver) needs the same way: how
//! a gate is described to people, and the decisions it can end with, so
//! the terminal and the server word them alike.

use std::time::Duration;

use slipway_spec::approval::{ApproverRef, TimeoutOutcome};

use crate::ports::{ApprovalDecision, ApprovalJob, ApprovalRequest, ApprovalVote};
use crate::run::now_ms;

/// A duration as people write it in `timeout:`: `4h`, `1h30m`, `45s`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || text.is_empty() {
        text.push_str(&format!("{seconds}s"));
    }
    text
}

/// Who may approve: `alice, role:maintainer`, or the default.
pub fn describe_approvers(approval: &ApprovalJob) -> String {
    if approval.approvers.is_empty() {
        return "anyone with developer or above".to_string();
    }
    let names: Vec<String> = approval
        .approvers
        .iter()
        .map(|approver| match approver {
            ApproverRef::User(user) => user.clone(),
            ApproverRef::Role(role) => format!("role:{role}"),
        })
        .collect();
    names.join(", ")
}

/// One line saying what the gate waits for: `2 approvals from alice,
/// role:maintainer (not whoever started the run), timeout 4h, then
/// rejected`.
pub fn describe_gate(approval: &ApprovalJob) -> String {
    let count = approval.approvals;
    let plural = if count == 1 { "" } else { "s" };
    let myself = if approval.self_approval {
        ""
    } else {
        " (not whoever started the run)"
    };
    format!(
        "{count} approval{plural} from {}{myself}, timeout {}, then {}",
        describe_approvers(approval),
        human_duration(approval.timeout),
        timeout_word(approval.on_timeout),
    )
}

fn timeout_word(outcome: TimeoutOutcome) -> &'static str {
    match outcome {
        TimeoutOutcome::Reject => "rejected",
        TimeoutOutcome::Approve => "approved",
    }
}

fn decision(
    request: &ApprovalRequest<'_>,
    approved: bool,
    reason: String,
    votes: Vec<ApprovalVote>,
    inputs: serde_json::Map<String, serde_json::Value>,
) -> ApprovalDecision {
    ApprovalDecision {
        job_key: request.job_key.to_string(),
        gate: request.gate.to_string(),
        approved,
        reason,
        votes,
        inputs,
        at_ms: now_ms(),
    }
}

/// The gate approved by `votes` (`approved by alice, bob`), with the last
/// approving vote's typed inputs.
pub fn approved(
    request: &ApprovalRequest<'_>,
    votes: Vec<ApprovalVote>,
    inputs: serde_json::Map<String, serde_json::Value>,
) -> ApprovalDecision {
    let users: Vec<&str> = votes
        .iter()
        .filter(|v| v.approved)
        .map(|v| v.user.as_str())
        .collect();
    let reason = format!("approved by {}", users.join(", "));
    decision(request, true, reason, votes, inputs)
}

/// The gate rejected by the last rejecting vote (`rejected by carol: not
/// today`).
pub fn rejected(request: &ApprovalRequest<'_>, votes: Vec<ApprovalVote>) -> ApprovalDecision {
    let reason = match votes.iter().rev().find(|v| !v.approved) {
        Some(ApprovalVote {
            user,
            comment: Some(comment),
            ..
        }) if !comment.is_empty() => format!("rejected by {user}: {comment}"),
        Some(vote) => format!("rejected by {}", vote.user),
        None => "rejected".to_string(),
    };
    decision(request, false, reason, votes, serde_json::Map::new())
}

/// The gate's timeout: `timed out after 4h: rejected` (or approved, as
/// `on_timeout:` says), keeping the votes given so far.
pub fn timed_out(request: &ApprovalRequest<'_>, votes: Vec<ApprovalVote>) -> ApprovalDecision {
    let approval = request.approval;
    let reason = format!(
        "timed out after {}: {}",
        human_duration(approval.timeout),
        timeout_word(approval.on_timeout)
    );
    let approved = approval.on_timeout == TimeoutOutcome::Approve;
    decision(request, approved, reason, votes, serde_json::Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_spec::model::Span;

    #[test]
    fn durations_read_as_written() {
        let text = |secs| human_duration(Duration::from_secs(secs));
        assert_eq!(text(0), "0s");
        assert_eq!(text(45), "45s");
        assert_eq!(text(90), "1m30s");
        assert_eq!(text(4 * 3600), "4h");
        assert_eq!(text(24 * 3600 + 60), "24h1m");
    }

    #[test]
    fn gates_and_decisions_explain_themselves() {
        let mut gate = ApprovalJob::pause(Span::default());
        assert_eq!(
            describe_gate(&gate),
            "1 approval from anyone with developer or above, timeout 24h, then rejected"
        );
        gate.approvals = 2;
        gate.approvers = vec![
            ApproverRef::User("alice".into()),
            ApproverRef::Role("maintainer".into()),
        ];
        gate.self_approval = false;
        gate.on_timeout = TimeoutOutcome::Approve;
        gate.timeout = Duration::from_secs(90);
        assert_eq!(
            describe_gate(&gate),
            "2 approvals from alice, role:maintainer (not whoever started the run), timeout 1m30s, then approved"
        );
        let request = ApprovalRequest {
            run: "3",
            job_key: "gate",
            gate: "",
            approval: &gate,
            message: None,
        };
        let vote = |user: &str, approved, comment: Option<&str>| ApprovalVote {
            user: user.into(),
            approved,
            comment: comment.map(String::from),
            at_ms: 1,
        };
        let yes = approved(
            &request,
            vec![vote("alice", true, None), vote("bob", true, Some("ok"))],
            serde_json::Map::new(),
        );
        assert!(yes.approved);
        assert_eq!(yes.reason, "approved by alice, bob");
        assert_eq!(yes.job_key, "gate");
        let no = rejected(
            &request,
            vec![
                vote("alice", true, None),
                vote("carol", false, Some("not today")),
            ],
        );
        assert!(!no.approved);
        assert_eq!(no.reason, "rejected by carol: not today");
        let late = timed_out(&request, Vec::new());
        assert!(late.approved, "on_timeout: approve");
        assert_eq!(late.reason, "timed out after 1m30s: approved");
    }
}
