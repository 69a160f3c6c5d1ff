//! The `approval:` job kind: a gate that waits for people.
//!
//! ```yaml
//! jobs:
//!   sign-off:
//!     needs: [deploy-staging]
//!     approval:
//!       approvals: 2                       # how many distinct people (default 1)
//!       approvers: [alice, role:maintainer] # users, or `role:NAME` (default: anyone with developer or above)
//!       timeout: 4h                        # default 24h
//!       on_timeout: reject                 # reject (default) | approve
//!       self_approval: false               # whoever started the run may not approve it (default true)
//!       message: "Ship ${{ git.sha }} to production?"
//!       inputs:                            # typed, like `on.manual.inputs`
//!         ticket: { type: string, required: true }
//! ```

use std::time::Duration;

use crate::model::{ManualInput, Span};

/// The `approval:` of a job (such a job has no `steps:`).
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalJob {
    /// `approvals:`, distinct people needed (1..=20, default 1).
    pub approvals: u32,
    /// `approvers:`; empty means anyone whose role is developer or above.
    pub approvers: Vec<ApproverRef>,
    /// `timeout:` (default 24 h).
    pub timeout: Duration,
    /// `on_timeout:` (default reject).
    pub on_timeout: TimeoutOutcome,
    /// `self_approval:` (default true).
    pub self_approval: bool,
    /// `message:` shown to approvers, as written: it may hold `${{ }}` expressions (contexts
    /// `env`, `needs`, `inputs`, `git`), checked when the file is read and rendered by the engine.
    pub message: Option<String>,
    /// `inputs:`, typed values an approver gives.
    pub inputs: Vec<ManualInput>,
    pub span: Span,
}

impl ApprovalJob {
    /// The gate of a canary's `pause: until-approved`: one approval by
    /// anyone allowed, 24 hours, reject on timeout.
    pub fn pause(span: Span) -> ApprovalJob {
        ApprovalJob {
            approvals: 1,
            approvers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            on_timeout: TimeoutOutcome::Reject,
            self_approval: true,
            message: None,
            inputs: Vec::new(),
            span,
        }
    }
}

/// The default `timeout:` of an approval.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// One entry of `approvers:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApproverRef {
    /// A user name.
    User(String),
    /// `role:NAME`: anyone with this role or a stronger one (viewer < developer < maintainer < admin).
    Role(String),
}

/// What a timed-out approval becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeoutOutcome {
    #[default]
    Reject,
    Approve,
}
