//! `slipway approve RUN JOB [--reject] [--comment …] [--input NAME=VALUE]
//! [--gate G]`: a vote on a gate waiting for people on the server.
//!
//! Prints how the gate stands after the vote (still waiting, approved,
//! rejected). A refusal is printed with the server's reason and a non-zero
//! exit: 403 (not among the approvers, or the run's starter when
//! `self_approval: false`), 409 (decided, timed out, voted already, not
//! waiting yet), 422 (inputs).

use reqwest::Method;
use slipway_api::{ApprovalView, ApprovalVoteRequest};

use crate::Exit;
use crate::args::ApproveArgs;
use crate::client::segment;
use crate::commands::{connect, fail, parse_inputs};
use crate::output::{self, duration, now_ms};

pub async fn approve(args: ApproveArgs) -> Exit {
    let inputs = match parse_inputs(&args.inputs) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let request = ApprovalVoteRequest {
        approve: !args.reject,
        comment: args.comment,
        inputs,
        gate: args.gate.unwrap_or_default(),
    };
    let path = format!(
        "/api/v1/runs/{}/jobs/{}/approvals",
        args.run,
        segment(&args.job)
    );
    let gate: ApprovalView = match client.call(Method::POST, &path, &request).await {
        Ok(gate) => gate,
        Err(error) => return fail(&error),
    };
    let voted = if request.approve {
        "approved"
    } else {
        "rejected"
    };
    output::line(format_args!(
        "{voted} {} of run {}",
        describe(&gate.job, &gate.gate),
        args.run
    ));
    output::line(status(&gate));
    Exit::Success
}

/// `job sign-off`, or `canary step 2 of job deploy`.
fn describe(job: &str, gate: &str) -> String {
    if gate.is_empty() {
        format!("job {job}")
    } else {
        format!("{gate} of job {job}")
    }
}

/// How the gate stands: waiting (how many more, until when) or its decision.
fn status(gate: &ApprovalView) -> String {
    if gate.state == "pending" {
        let approving = gate.votes.iter().filter(|v| v.approved).count();
        let missing = (gate.required as usize).saturating_sub(approving);
        let plural = if missing == 1 { "" } else { "s" };
        return format!(
            "waiting for {missing} more approval{plural} from {} (times out in {})",
            gate.approvers.join(", "),
            duration(gate.deadline_ms.saturating_sub(now_ms()))
        );
    }
    let reason = gate.reason.as_deref().unwrap_or(gate.state.as_str());
    format!("the gate is {}: {reason}", gate.state.replace('_', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_api::ApprovalVoteView;

    fn gate(state: &str, votes: &[bool]) -> ApprovalView {
        ApprovalView {
            run: 1,
            job: "sign-off".into(),
            gate: String::new(),
            state: state.into(),
            required: 2,
            message: None,
            approvers: vec!["role:maintainer".into(), "carol".into()],
            self_approval: false,
            started_by: None,
            opened_ms: 0,
            deadline_ms: now_ms() + 3_600_000,
            votes: votes
                .iter()
                .map(|&approved| ApprovalVoteView {
                    user: "bob".into(),
                    approved,
                    comment: None,
                    inputs: Default::default(),
                    at_ms: 0,
                })
                .collect(),
            reason: (state != "pending").then(|| "approved by bob, carol".into()),
            decided_ms: None,
        }
    }

    #[test]
    fn the_status_says_what_is_missing_or_how_it_ended() {
        let waiting = status(&gate("pending", &[true]));
        assert!(
            waiting.starts_with("waiting for 1 more approval from role:maintainer, carol"),
            "{waiting}"
        );
        assert_eq!(
            status(&gate("approved", &[true, true])),
            "the gate is approved: approved by bob, carol"
        );
        assert!(status(&gate("timed_out", &[])).starts_with("the gate is timed out:"));
        assert_eq!(
            describe("deploy", "canary step 2"),
            "canary step 2 of job deploy"
        );
    }
}
