//! [`TriggerError`]: why a manual run, a polling pass or a cron tick could not proceed.

use slipway_git::GitError;
use slipway_store::sql::SqlError;

/// What stopped a trigger. Messages say what is wrong and, where it helps, what to do; none
/// holds a credential (git errors are redacted by `slipway-git`).
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The project's repository could not be mirrored or read.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] SqlError),
    /// A manual run named a ref that is neither a branch, a tag nor a commit of the repository.
    #[error(
        "`{0}` is not a branch, tag or commit of the repository; push it first or check the name"
    )]
    UnknownRef(String),
    /// The pipeline file at the commit is missing or invalid (manual runs are refused then).
    #[error("{0}")]
    Pipeline(String),
    /// Manual inputs do not fit the pipeline's `on.manual.inputs`.
    #[error("{0}")]
    Input(String),
    /// Trigger state could not be encoded for the store.
    #[error("trigger state {key}: {reason}")]
    State {
        /// The state's key.
        key: &'static str,
        /// What failed.
        reason: String,
    },
    /// The server could not create or start the run.
    #[error("the run could not be started: {0}")]
    Start(String),
}
