//! Reads the `approval:` of a job into [`ApprovalJob`] (the accepted syntax is documented on
//! [`crate::approval`]).
//!
//! - `approvals`: 1 to 20 (default 1); with only user names in `approvers`, at most as many as
//!   are named, or the gate could never open.
//! - `approvers`: a name or a list; each a user name (one word without `:`) or `role:NAME` with
//!   NAME one of viewer, developer, maintainer, admin; no entry twice.
//! - `timeout`: a duration longer than 0 (default 24h); `on_timeout`: `reject` (default) or
//!   `approve`; `self_approval`: a boolean (default true).
//! - `message`: a template checked like a job's `name` (contexts `env`, `needs`, `inputs`,
//!   `git`) and kept as written: the engine renders it when the gate opens.
//! - `inputs`: read by the same code as `on.manual.inputs`.

use crate::approval::{ApprovalJob, ApproverRef, DEFAULT_TIMEOUT, TimeoutOutcome};
use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::environment::in_range;
use crate::fields::Field;
use crate::pipeline;
use crate::schema_delivery::{APPROVAL_KEYS, MAX_APPROVALS, ROLES};
use crate::suggest::closest;
use crate::yaml::{Key, Node};

/// Reads `approval:` (`key` is the job's `approval` key). `None` if anything is invalid; the
/// errors are in the checker.
pub(crate) fn read(c: &mut Checker<'_>, key: &Key, node: &Node) -> Option<ApprovalJob> {
    let entries = c.optional_map(node, "`approval`");
    c.check_keys(entries, APPROVAL_KEYS, "`approval`");
    let mut approval = ApprovalJob::pause(key.span);
    let mut ok = true;
    let mut approvals_node = None;
    for (k, value) in entries {
        match k.name.as_str() {
            "approvals" => {
                approvals_node = Some(value);
                match in_range(c, value, "`approvals`", 1, MAX_APPROVALS) {
                    Some(n) => approval.approvals = u32::try_from(n).unwrap_or(1),
                    None => ok = false,
                }
            }
            "approvers" => match approvers(c, value) {
                Some(list) => approval.approvers = list,
                None => ok = false,
            },
            "timeout" => match c.duration(value, "`approval.timeout`") {
                Some(timeout) if timeout.is_zero() => {
                    c.push(
                        Diagnostic::new(value.span, value.width(), "`approval.timeout` is 0")
                            .help(format!(
                                "give people time to answer, e.g. `timeout: 4h` (the default is {}h)",
                                DEFAULT_TIMEOUT.as_secs() / 3600
                            )),
                    );
                    ok = false;
                }
                Some(timeout) => approval.timeout = timeout,
                None => ok = false,
            },
            "on_timeout" => match on_timeout(c, value) {
                Some(outcome) => approval.on_timeout = outcome,
                None => ok = false,
            },
            "self_approval" => match c.boolean(value, "`self_approval`") {
                Some(allowed) => approval.self_approval = allowed,
                None => ok = false,
            },
            "message" => {
                // Checked as a template, kept as written: the engine renders it.
                match c.template(value, Field::ApprovalMessage, "`approval.message`") {
                    Some(template) => approval.message = Some(template.source().to_string()),
                    None => ok = false,
                }
            }
            "inputs" => {
                let before = c.errors.len();
                approval.inputs = pipeline::inputs(c, value);
                ok &= c.errors.len() == before;
            }
            _ => {}
        }
    }
    if let Some(value) = approvals_node {
        ok &= reachable(c, &approval, value);
    }
    ok.then_some(approval)
}

/// With only named users as approvers, `approvals` cannot exceed their number.
fn reachable(c: &mut Checker<'_>, approval: &ApprovalJob, node: &Node) -> bool {
    let only_users = !approval.approvers.is_empty()
        && approval
            .approvers
            .iter()
            .all(|a| matches!(a, ApproverRef::User(_)));
    let named = approval.approvers.len();
    if !only_users || approval.approvals as usize <= named {
        return true;
    }
    c.push(
        Diagnostic::new(
            node.span,
            node.width(),
            format!(
                "`approvals: {}` can never be reached: `approvers` names {named} user{}",
                approval.approvals,
                if named == 1 { "" } else { "s" }
            ),
        )
        .help("lower `approvals`, name more users, or allow a role (`role:maintainer`)"),
    );
    false
}

fn approvers(c: &mut Checker<'_>, node: &Node) -> Option<Vec<ApproverRef>> {
    let entries = c.string_list(node, "`approvers`");
    let mut out: Vec<ApproverRef> = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (text, span, width) in entries {
        let approver = if let Some(role) = text.strip_prefix("role:") {
            if ROLES.contains(&role) {
                ApproverRef::Role(role.to_string())
            } else {
                let help = match closest(role, ROLES) {
                    Some(s) => format!("did you mean `role:{s}`?"),
                    None => "the roles are viewer, developer, maintainer and admin".to_string(),
                };
                c.push(Diagnostic::new(span, width, format!("unknown role `{role}`")).help(help));
                ok = false;
                continue;
            }
        } else if text.is_empty() || text.contains(|ch: char| ch.is_whitespace() || ch == ':') {
            c.push(
                Diagnostic::new(span, width, format!("invalid approver `{text}`"))
                    .help("write a user name (one word, no `:`) or `role:NAME` with NAME one of viewer, developer, maintainer, admin"),
            );
            ok = false;
            continue;
        } else {
            ApproverRef::User(text)
        };
        if out.contains(&approver) {
            c.push(
                Diagnostic::new(span, width, "this approver is listed twice")
                    .help("list each user or role once"),
            );
            ok = false;
            continue;
        }
        out.push(approver);
    }
    ok.then_some(out)
}

fn on_timeout(c: &mut Checker<'_>, node: &Node) -> Option<TimeoutOutcome> {
    match c.text(node, "`on_timeout`")?.as_str() {
        "reject" => Some(TimeoutOutcome::Reject),
        "approve" => Some(TimeoutOutcome::Approve),
        other => {
            let help = match closest(other, ["reject", "approve"]) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use `reject` (the default) or `approve`".to_string(),
            };
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("unknown `on_timeout` outcome `{other}`"),
                )
                .help(help),
            );
            None
        }
    }
}
