//! The `approval:` job kind: no steps and no workspace; one step named
//! `approval` that says what it waits for, then asks the run's
//! [`Approver`](crate::ports::Approver) and ends with its decision.
//!
//! Approved: success, with the outputs `approved_by` (the approving users,
//! comma-separated), `comment` (the last approving vote's) and each typed
//! input by name. Rejected (by people or the timeout): failure with the
//! decision's reason. Cancelled: cancelled. Never cached.

use slipway_expr::{ParseOptions, Template, Value};
use slipway_spec::approval::ApprovalJob;
use slipway_spec::model::InputKind;

use crate::approval::describe_gate;
use crate::contexts::Status;
use crate::job::{JobOutcome, JobRunner};
use crate::job_outputs::mask_text;
use crate::job_single::MaskedLines;
use crate::ports::{ApprovalDecision, ApprovalRequest, DeployLine, Executor, StepExit, Store};
use crate::records::{CacheStatus, JobResult};

/// What a gate's `message:` may refer to: what a job's `env:` may.
const MESSAGE_CONTEXTS: [&str; 6] = ["env", "matrix", "needs", "inputs", "secrets", "git"];

/// The outputs an approval job always has; an input of one of these names
/// is not an output (it would hide the approvers or the comment).
const FIXED_OUTPUTS: [&str; 2] = ["approved_by", "comment"];

impl<E: Executor, S: Store> JobRunner<'_, E, S> {
    pub(crate) async fn run_approval(&self, approval: &ApprovalJob) -> JobOutcome {
        let shared = self.shared;
        let failed = |error: String| JobOutcome::failed(error, CacheStatus::Uncached, self.started);
        let message = match self.render_message(approval) {
            Ok(message) => message,
            Err(error) => return failed(error),
        };
        let mut step = match self.begin_single_step("approval".to_string()) {
            Ok(step) => step,
            Err(error) => return failed(error),
        };
        let answer = {
            let mut lines = MaskedLines::new(&shared.masker, &mut step.sink);
            describe(approval, message.as_deref(), &mut lines);
            match &shared.options.approver {
                None => Err("this runner cannot answer approval gates".to_string()),
                Some(approver) => {
                    let request = ApprovalRequest {
                        run: &shared.run,
                        job_key: self.key,
                        gate: "",
                        approval,
                        message,
                    };
                    let mut cancel = self.cancel.clone();
                    // The approver should end its wait on cancel; the engine
                    // does not rely on it.
                    tokio::select! {
                        answer = approver.0.approve(request, &mut lines, &self.cancel) => answer,
                        () = crate::ports::cancel_raised(&mut cancel) => Err("cancelled".to_string()),
                    }
                }
            }
        };
        let cancelled = *self.cancel.borrow();
        let (exit, error) = match &answer {
            Ok(decision) if decision.approved => {
                step.sink_line(&decision.reason, &shared.masker);
                (StepExit::Exited(0), None)
            }
            Ok(decision) => (StepExit::Exited(1), Some(decision.reason.as_str())),
            Err(error) if cancelled => (StepExit::Cancelled, Some(error.as_str())),
            Err(error) => (StepExit::Exited(1), Some(error.as_str())),
        };
        let ended = self.end_single_step(step, exit, error);
        let decision = match answer {
            Ok(decision) => decision,
            Err(_) if cancelled => {
                return JobOutcome {
                    result: JobResult::Cancelled,
                    ..failed("the run was cancelled while the gate waited".to_string())
                };
            }
            Err(error) => return failed(error),
        };
        shared.add_approval(decision.clone());
        if let Err(error) = ended {
            return JobOutcome {
                approval: Some(decision),
                ..failed(error)
            };
        }
        if !decision.approved {
            return JobOutcome {
                approval: Some(decision.clone()),
                ..failed(decision.reason)
            };
        }
        JobOutcome {
            result: JobResult::Success,
            outputs: outputs(&decision, |text| mask_text(&shared.masker, text)),
            approval: Some(decision),
            ..failed(String::new())
        }
        .without_error()
    }

    /// `message:` with its expressions evaluated and secrets masked.
    fn render_message(&self, approval: &ApprovalJob) -> Result<Option<String>, String> {
        let Some(text) = &approval.message else {
            return Ok(None);
        };
        let options = ParseOptions::new().with_contexts(MESSAGE_CONTEXTS);
        let template = Template::parse(text, &options).map_err(|e| format!("message: {e}"))?;
        let env = self.job_env()?;
        let env_value = crate::job::env_object(&env);
        let null = Value::Null;
        let rendered = template
            .render(&self.scope(&env_value, &null, Status::ok()))
            .map_err(|e| format!("message: {e}"))?;
        Ok(Some(mask_text(&self.shared.masker, &rendered)))
    }
}

impl<S: Store> crate::job_single::SingleStep<S> {
    fn sink_line(&mut self, text: &str, masker: &crate::ports::SecretMasker) {
        MaskedLines::new(masker, &mut self.sink).line(text);
    }
}

/// The first lines of the step: what the gate waits for.
fn describe(approval: &ApprovalJob, message: Option<&str>, lines: &mut dyn DeployLine) {
    lines.line(&format!("waiting for {}", describe_gate(approval)));
    if let Some(message) = message {
        lines.line(&format!("message: {message}"));
    }
    if !approval.inputs.is_empty() {
        let asked: Vec<String> = approval
            .inputs
            .iter()
            .map(|input| {
                let kind = match &input.kind {
                    InputKind::String => "string".to_string(),
                    InputKind::Boolean => "boolean".to_string(),
                    InputKind::Number => "number".to_string(),
                    InputKind::Choice(options) => format!("one of {}", options.join("|")),
                };
                let required = if input.required { ", required" } else { "" };
                format!("{} ({kind}{required})", input.name)
            })
            .collect();
        lines.line(&format!("inputs asked: {}", asked.join(", ")));
    }
}

/// The outputs of an approved gate.
fn outputs(decision: &ApprovalDecision, mask: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let approvers: Vec<&str> = decision
        .votes
        .iter()
        .filter(|v| v.approved)
        .map(|v| v.user.as_str())
        .collect();
    let comment = decision
        .votes
        .iter()
        .rev()
        .find(|v| v.approved)
        .and_then(|v| v.comment.as_deref())
        .unwrap_or("");
    let mut outputs = Vec::with_capacity(2 + decision.inputs.len());
    outputs.push(("approved_by".to_string(), approvers.join(",")));
    outputs.push(("comment".to_string(), mask(comment)));
    for (name, value) in &decision.inputs {
        if FIXED_OUTPUTS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            serde_json::Value::String(text) => mask(text),
            serde_json::Value::Null => String::new(),
            other => mask(&other.to_string()),
        };
        outputs.push((name.clone(), text));
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ApprovalVote;

    #[test]
    fn outputs_name_the_approvers_the_last_comment_and_each_input() {
        let vote = |user: &str, approved, comment: &str| ApprovalVote {
            user: user.into(),
            approved,
            comment: Some(comment.into()),
            at_ms: 0,
        };
        let mut inputs = serde_json::Map::new();
        inputs.insert("ticket".into(), "OPS-1".into());
        inputs.insert("count".into(), serde_json::json!(3));
        inputs.insert("urgent".into(), serde_json::json!(true));
        inputs.insert("comment".into(), "hidden".into());
        let decision = ApprovalDecision {
            job_key: "gate".into(),
            gate: String::new(),
            approved: true,
            reason: "approved by alice, bob".into(),
            votes: vec![
                vote("alice", true, "first"),
                vote("mallory", false, "no"),
                vote("bob", true, "second"),
            ],
            inputs,
            at_ms: 0,
        };
        let outputs = outputs(&decision, |t| t.replace("OPS", "***"));
        let get = |name: &str| {
            outputs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("approved_by"), Some("alice,bob"));
        assert_eq!(get("comment"), Some("second"));
        assert_eq!(get("ticket"), Some("***-1"), "masked");
        assert_eq!(get("count"), Some("3"));
        assert_eq!(get("urgent"), Some("true"));
        assert_eq!(
            outputs.iter().filter(|(n, _)| n == "comment").count(),
            1,
            "an input cannot replace a fixed output"
        );
    }
}
