//! `slipway run`'s answers to approval gates (`approval:` jobs and a
//! canary's `pause: until-approved`): `--approve all` approves each at once;
//! otherwise the person at the terminal is asked; without a terminal the
//! gate fails, saying how to answer it.
//!
//! A local run has one person and no roles: their answer stands for the
//! whole gate (`approvals:`, `approvers:` and `self_approval:` are the
//! server's to enforce), which the gate's log says.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use slipway_engine::approval;
use slipway_engine::ports::{
    ApprovalDecision, ApprovalRequest, ApprovalVote, Approver, ApproverHandle, BoxFuture,
    CancelSignal, DeployLine,
};
use slipway_engine::{approval::describe_gate, now_ms};
use slipway_spec::model::{InputKind, ManualInput};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::run::{input_defaults, typed_value};

/// How gates are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--approve all`.
    All,
    /// Standard input is a terminal: ask there.
    Ask,
    /// Nobody can be asked.
    Refuse,
}

/// The approver of `slipway run`, from `--approve`.
pub fn approver(flag: Option<&str>) -> Result<ApproverHandle, String> {
    let mode = match flag {
        Some("all") => Mode::All,
        Some(other) => {
            return Err(format!(
                "--approve takes `all` (approve every gate without asking), not `{other}`"
            ));
        }
        None if std::io::stdin().is_terminal() => Mode::Ask,
        None => Mode::Refuse,
    };
    Ok(ApproverHandle(Arc::new(TerminalApprover {
        mode,
        user: local_user(),
        lines: tokio::sync::Mutex::new(None),
    })))
}

/// Who answers: `$USER`, else `$LOGNAME`, else `local`.
fn local_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|user| user.trim().to_string())
        .find(|user| !user.is_empty())
        .unwrap_or_else(|| "local".to_string())
}

struct TerminalApprover {
    mode: Mode,
    user: String,
    /// Lines typed at the terminal, read by one thread started at the first
    /// question. Held for the whole of a conversation, so that two gates
    /// open at once ask one after the other.
    lines: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

impl Approver for TerminalApprover {
    fn approve<'a>(
        &'a self,
        request: ApprovalRequest<'a>,
        log: &'a mut dyn DeployLine,
        cancel: &'a CancelSignal,
    ) -> BoxFuture<'a, Result<ApprovalDecision, String>> {
        Box::pin(async move {
            match self.mode {
                Mode::All => self.approve_all(&request, log),
                Mode::Refuse => Err(format!(
                    "approval gate {} needs an answer: run in a terminal or pass --approve all",
                    gate_name(&request)
                )),
                Mode::Ask => {
                    // The timeout runs from the gate's opening, also while
                    // another gate is being answered.
                    let deadline = deadline_after(request.approval.timeout);
                    let mut guard = self.lines.lock().await;
                    match guard.as_mut() {
                        // What was typed while no gate asked (after an earlier
                        // gate timed out) answers nothing. Lines typed ahead
                        // of the first gate wait in the terminal and count.
                        Some(lines) => while lines.try_recv().is_ok() {},
                        None => *guard = Some(read_stdin()),
                    }
                    let Some(lines) = guard.as_mut() else {
                        return Err("standard input cannot be read".to_string());
                    };
                    let mut conversation = Conversation {
                        lines,
                        out: &mut std::io::stderr(),
                        deadline,
                        cancel: cancel.clone(),
                    };
                    self.ask(&request, log, &mut conversation).await
                }
            }
        })
    }
}

impl TerminalApprover {
    fn vote(&self, approved: bool, comment: Option<String>) -> ApprovalVote {
        ApprovalVote {
            user: self.user.clone(),
            approved,
            comment,
            at_ms: now_ms(),
        }
    }

    /// `--approve all`: approved at once, the inputs' defaults given.
    fn approve_all(
        &self,
        request: &ApprovalRequest<'_>,
        log: &mut dyn DeployLine,
    ) -> Result<ApprovalDecision, String> {
        let inputs = input_defaults(&request.approval.inputs);
        if let Some(missing) = request
            .approval
            .inputs
            .iter()
            .find(|input| input.required && !inputs.contains_key(&input.name))
        {
            return Err(format!(
                "approval gate {} asks for input `{}`, which has no default: answer it in a terminal (without --approve)",
                gate_name(request),
                missing.name
            ));
        }
        log.line(&format!(
            "--approve all: approved by {} for the whole gate",
            self.user
        ));
        let vote = self.vote(true, Some("--approve all".to_string()));
        Ok(approval::approved(request, vec![vote], inputs))
    }

    /// Asks the person at the terminal: approve?, a comment, each input.
    async fn ask(
        &self,
        request: &ApprovalRequest<'_>,
        log: &mut dyn DeployLine,
        conversation: &mut Conversation<'_>,
    ) -> Result<ApprovalDecision, String> {
        log.line(&format!(
            "asking at the terminal ({} answers for the whole gate)",
            self.user
        ));
        conversation.say(&gate_text(request));
        let answer = match conversation.ask("approve? [y/N] ").await {
            Heard::Line(line) => line,
            Heard::Nothing(end) => return self.ended(request, log, end),
        };
        let approved = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
        let comment = match conversation.ask("comment (optional): ").await {
            Heard::Line(line) => Some(line.trim().to_string()).filter(|c| !c.is_empty()),
            Heard::Nothing(end) => return self.ended(request, log, end),
        };
        if !approved {
            return Ok(approval::rejected(request, vec![self.vote(false, comment)]));
        }
        let mut inputs = serde_json::Map::new();
        for input in &request.approval.inputs {
            match conversation.ask_input(input).await {
                Ok(Some(value)) => {
                    inputs.insert(input.name.clone(), value);
                }
                Ok(None) => {}
                Err(end) => return self.ended(request, log, end),
            }
        }
        Ok(approval::approved(
            request,
            vec![self.vote(true, comment)],
            inputs,
        ))
    }

    /// The conversation ended without an answer.
    fn ended(
        &self,
        request: &ApprovalRequest<'_>,
        log: &mut dyn DeployLine,
        end: End,
    ) -> Result<ApprovalDecision, String> {
        match end {
            End::TimedOut => {
                let decision = approval::timed_out(request, Vec::new());
                log.line(&format!("no answer: {}", decision.reason));
                Ok(decision)
            }
            End::Cancelled => Err("cancelled".to_string()),
            End::Closed => Err(format!(
                "approval gate {} needs an answer: standard input was closed before one was given",
                gate_name(request)
            )),
        }
    }
}

/// Now plus `timeout`, or a date too far to matter when that overflows.
fn deadline_after(timeout: std::time::Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// `sign-off`, or `deploy (canary step 2)` for a canary's pause.
fn gate_name(request: &ApprovalRequest<'_>) -> String {
    if request.gate.is_empty() {
        request.job_key.to_string()
    } else {
        format!("{} ({})", request.job_key, request.gate)
    }
}

/// What the terminal shows before asking.
fn gate_text(request: &ApprovalRequest<'_>) -> String {
    let mut text = format!(
        "\napproval gate {} of run {}: waiting for {}\n",
        gate_name(request),
        request.run,
        describe_gate(request.approval)
    );
    if let Some(message) = &request.message {
        text.push_str(&format!("  {message}\n"));
    }
    if !request.approval.inputs.is_empty() {
        let names: Vec<&str> = request
            .approval
            .inputs
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        text.push_str(&format!(
            "  asks for: {} (after approving)\n",
            names.join(", ")
        ));
    }
    text
}

/// Starts the thread that reads standard input line by line. It ends with
/// the process (a read cannot be interrupted); the channel closes at EOF.
fn read_stdin() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("approval-input".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut stdin = stdin.lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end_matches(['\n', '\r']).to_string();
                        if tx.send(text).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    // Without the thread the channel is closed at once: "no answer".
    drop(spawned);
    rx
}

/// Why a question got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    TimedOut,
    Cancelled,
    Closed,
}

#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Line(String),
    Nothing(End),
}

/// One gate's questions and answers, until its deadline or a cancel.
struct Conversation<'a> {
    lines: &'a mut mpsc::UnboundedReceiver<String>,
    out: &'a mut (dyn Write + Send),
    deadline: Instant,
    cancel: CancelSignal,
}

impl Conversation<'_> {
    fn say(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    async fn ask(&mut self, prompt: &str) -> Heard {
        self.say(prompt);
        if *self.cancel.borrow_and_update() {
            return Heard::Nothing(End::Cancelled);
        }
        loop {
            tokio::select! {
                line = self.lines.recv() => {
                    return match line {
                        Some(line) => Heard::Line(line),
                        None => Heard::Nothing(End::Closed),
                    };
                }
                () = tokio::time::sleep_until(self.deadline) => {
                    self.say("\n");
                    return Heard::Nothing(End::TimedOut);
                }
                changed = self.cancel.changed() => {
                    if changed.is_err() {
                        // Nobody can cancel any more: wait for the rest.
                        std::future::pending::<()>().await;
                    }
                    if *self.cancel.borrow_and_update() {
                        self.say("\n");
                        return Heard::Nothing(End::Cancelled);
                    }
                }
            }
        }
    }

    /// Asks for one typed input until a valid answer: empty takes the
    /// default, or leaves an optional input out.
    async fn ask_input(&mut self, input: &ManualInput) -> Result<Option<serde_json::Value>, End> {
        let kind = match &input.kind {
            InputKind::String => "text".to_string(),
            InputKind::Boolean => "true or false".to_string(),
            InputKind::Number => "a number".to_string(),
            InputKind::Choice(options) => options.join(" | "),
        };
        let default = match &input.default {
            Some(serde_json::Value::String(text)) => format!(", default {text}"),
            Some(other) => format!(", default {other}"),
            None if input.required => ", required".to_string(),
            None => ", optional".to_string(),
        };
        let about = input
            .description
            .as_deref()
            .map(|d| format!(" {d}"))
            .unwrap_or_default();
        let prompt = format!("{}{about} ({kind}{default}): ", input.name);
        loop {
            let line = match self.ask(&prompt).await {
                Heard::Line(line) => line.trim().to_string(),
                Heard::Nothing(end) => return Err(end),
            };
            if line.is_empty() {
                if let Some(default) = &input.default {
                    return Ok(Some(default.clone()));
                }
                if !input.required {
                    return Ok(None);
                }
                self.say(&format!("input `{}` is required\n", input.name));
                continue;
            }
            match typed_value(input, line) {
                Ok(value) => return Ok(Some(value)),
                Err(error) => self.say(&format!("{error}\n")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use slipway_spec::approval::{ApprovalJob, TimeoutOutcome};
    use slipway_spec::model::Span;

    use super::*;

    struct Log(Vec<String>);

    impl DeployLine for Log {
        fn line(&mut self, text: &str) {
            self.0.push(text.to_string());
        }
    }

    fn input(name: &str, kind: InputKind, required: bool) -> ManualInput {
        ManualInput {
            name: name.into(),
            kind,
            required,
            default: None,
            description: None,
            span: Span::default(),
        }
    }

    fn approver() -> TerminalApprover {
        TerminalApprover {
            mode: Mode::Ask,
            user: "dana".into(),
            lines: tokio::sync::Mutex::new(None),
        }
    }

    /// Runs one conversation with `typed` as the lines typed (the channel
    /// stays open unless `close`); returns the decision and what was shown.
    async fn converse(
        gate: &ApprovalJob,
        typed: &[&str],
        close: bool,
        cancel: CancelSignal,
    ) -> (Result<ApprovalDecision, String>, String, Vec<String>) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for line in typed {
            tx.send(line.to_string()).expect("send");
        }
        let _kept = (!close).then_some(tx);
        let request = ApprovalRequest {
            run: "4",
            job_key: "sign-off",
            gate: "",
            approval: gate,
            message: Some("Ship it?".into()),
        };
        let mut shown = Vec::new();
        let mut log = Log(Vec::new());
        let decision = {
            let mut conversation = Conversation {
                lines: &mut rx,
                out: &mut shown,
                deadline: deadline_after(gate.timeout),
                cancel,
            };
            approver().ask(&request, &mut log, &mut conversation).await
        };
        (
            decision,
            String::from_utf8_lossy(&shown).into_owned(),
            log.0,
        )
    }

    fn gate() -> ApprovalJob {
        let mut gate = ApprovalJob::pause(Span::default());
        gate.inputs = vec![
            input("ticket", InputKind::String, true),
            input("count", InputKind::Number, false),
            input(
                "window",
                InputKind::Choice(vec!["now".into(), "tonight".into()]),
                false,
            ),
        ];
        gate.inputs[2].default = Some("tonight".into());
        gate
    }

    fn open() -> CancelSignal {
        let (tx, rx) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        rx
    }

    #[tokio::test]
    async fn yes_a_comment_and_inputs_validated_until_right() {
        let typed = ["y", " looks good ", "", "OPS-9", "many", "3", ""];
        let (decision, shown, log) = converse(&gate(), &typed, false, open()).await;
        let decision = decision.expect("decided");
        assert!(decision.approved);
        assert_eq!(decision.reason, "approved by dana");
        assert_eq!(decision.votes[0].comment.as_deref(), Some("looks good"));
        assert_eq!(decision.inputs["ticket"], "OPS-9");
        assert_eq!(decision.inputs["count"], serde_json::json!(3.0));
        assert_eq!(decision.inputs["window"], "tonight", "the default");
        for wanted in [
            "approval gate sign-off of run 4: waiting for 1 approval",
            "  Ship it?",
            "approve? [y/N] ",
            "input `ticket` is required",
            "input `count` is a number, not `many`",
            "window (now | tonight, default tonight): ",
        ] {
            assert!(shown.contains(wanted), "`{wanted}` shown:\n{shown}");
        }
        assert!(
            log[0].contains("dana answers for the whole gate"),
            "{log:?}"
        );
    }

    #[tokio::test]
    async fn anything_but_yes_rejects_with_the_comment() {
        let (decision, _, _) = converse(&gate(), &["", "not today"], false, open()).await;
        let decision = decision.expect("decided");
        assert!(!decision.approved);
        assert_eq!(decision.reason, "rejected by dana: not today");
    }

    #[tokio::test]
    async fn no_answer_in_time_is_the_timeout_s_outcome() {
        let mut gate = gate();
        gate.timeout = Duration::from_secs(1);
        let (decision, _, log) = converse(&gate, &[], false, open()).await;
        let decision = decision.expect("decided");
        assert!(!decision.approved);
        assert_eq!(decision.reason, "timed out after 1s: rejected");
        assert!(
            log.iter().any(|l| l.contains("no answer: timed out")),
            "{log:?}"
        );

        gate.on_timeout = TimeoutOutcome::Approve;
        let (decision, _, _) = converse(&gate, &["y"], false, open()).await;
        assert_eq!(
            decision.expect("decided").reason,
            "timed out after 1s: approved",
            "the comment was never given"
        );
    }

    #[tokio::test]
    async fn cancel_and_a_closed_input_end_the_question() {
        let (tx, cancel) = tokio::sync::watch::channel(false);
        let asking = tokio::spawn(async move {
            let gate = gate();
            converse(&gate, &[], false, cancel).await.0
        });
        tokio::task::yield_now().await;
        tx.send(true).expect("cancel");
        assert_eq!(asking.await.expect("task"), Err("cancelled".to_string()));

        let (decision, _, _) = converse(&gate(), &["y"], true, open()).await;
        let error = decision.expect_err("no answer");
        assert!(
            error.contains("approval gate sign-off needs an answer: standard input was closed"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn approve_all_approves_at_once_unless_an_input_has_no_default() {
        let all = TerminalApprover {
            mode: Mode::All,
            ..approver()
        };
        let mut gate = gate();
        fn request(gate: &ApprovalJob) -> ApprovalRequest<'_> {
            ApprovalRequest {
                run: "4",
                job_key: "sign-off",
                gate: "",
                approval: gate,
                message: None,
            }
        }
        let mut log = Log(Vec::new());
        let error = all
            .approve(request(&gate), &mut log, &open())
            .await
            .expect_err("ticket has no default");
        assert!(error.contains("asks for input `ticket`"), "{error}");

        gate.inputs.remove(0);
        let decision = all
            .approve(request(&gate), &mut log, &open())
            .await
            .expect("approved");
        assert!(decision.approved);
        assert_eq!(decision.votes[0].user, "dana");
        assert_eq!(decision.votes[0].comment.as_deref(), Some("--approve all"));
        assert_eq!(decision.inputs["window"], "tonight");
    }

    #[test]
    fn only_all_is_an_answer_for_every_gate() {
        let error = super::approver(Some("yes")).expect_err("usage error");
        assert!(error.contains("--approve takes `all`"), "{error}");
        assert!(super::approver(Some("all")).is_ok());
    }
}
