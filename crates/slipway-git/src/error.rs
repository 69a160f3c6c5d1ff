//! [`GitError`]: what failed, on which repository, and what to do about it.
//!
//! Every string in an error has been through [`crate::redact`] before it was stored, so the
//! derived `Debug` and `Display` are both free of credentials.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A git operation that did not succeed. Messages name the operation and the repository (its
/// URL with any `user:password@` replaced by `***@`, or its path).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// An argument was refused before git was run: it could be read as an option, or it is not
    /// a well-formed URL, ref, commit id or path.
    #[error("refused {what} {value:?}: {reason}")]
    InvalidArgument {
        /// What the argument is ("repository URL", "commit", "path", …).
        what: &'static str,
        /// The value, redacted and truncated.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The git program could not be started.
    #[error(
        "could not run `{program}` to {operation} {repo}: {source}; is git installed and on PATH?"
    )]
    Spawn {
        /// The program that was run.
        program: String,
        /// What it was run for.
        operation: &'static str,
        /// The repository.
        repo: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// Git ran longer than its time limit and was killed with its process group.
    #[error(
        "git {operation} of {repo} timed out after {after:?} and was stopped; check that the repository is reachable, or raise the timeout"
    )]
    Timeout {
        /// What git was doing.
        operation: &'static str,
        /// The repository.
        repo: String,
        /// The limit that was reached.
        after: Duration,
    },
    /// Git exited unsuccessfully; `stderr` is its own message (redacted, shortened).
    #[error("git {operation} of {repo} failed ({status}): {stderr}")]
    Failed {
        /// What git was doing.
        operation: &'static str,
        /// The repository.
        repo: String,
        /// The exit status.
        status: String,
        /// What git printed on standard error, redacted and shortened.
        stderr: String,
    },
    /// The commit is not in the repository (not fetched yet, never pushed, or garbage collected).
    #[error("commit {sha} was not found in {repo}; it could not be fetched or was never pushed")]
    CommitNotFound {
        /// The repository.
        repo: String,
        /// The commit asked for.
        sha: String,
    },
    /// A file at a commit is larger than the caller's limit.
    #[error("{path} at commit {sha} of {repo} is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge {
        /// The repository.
        repo: String,
        /// The commit.
        sha: String,
        /// The file's path in the commit.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A directory that should hold a bare mirror holds something else; it is left untouched.
    #[error(
        "{dir} exists but is not a bare git repository; remove it or choose another directory for the mirror of {repo}"
    )]
    NotAMirror {
        /// The directory.
        dir: PathBuf,
        /// The repository it was meant to mirror.
        repo: String,
    },
    /// A checkout's destination already has content, which could leak into the new workspace.
    #[error(
        "checkout destination {dest} already exists and is not empty; a checkout is always made into a fresh directory"
    )]
    DestinationNotEmpty {
        /// The destination directory.
        dest: PathBuf,
    },
    /// A file-system operation around git failed.
    #[error("{operation} for {repo}: {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The repository.
        repo: String,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Git succeeded but printed something this crate cannot read, or more than it accepts.
    #[error("unexpected output from git {operation} of {repo}: {detail}")]
    Unexpected {
        /// What git was doing.
        operation: &'static str,
        /// The repository.
        repo: String,
        /// What was wrong with the output.
        detail: String,
    },
}
