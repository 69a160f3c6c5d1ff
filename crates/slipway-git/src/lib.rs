//! Repositories followed through the `git` command: what the server needs to start runs from
//! commits, and agents need to build them.
//!
//! - [`Mirror`]: a bare mirror of a project's repository in the server's data directory.
//!   [`Mirror::open_or_clone`], then [`Mirror::fetch`] on every poll (or webhook delivery).
//! - Polling: remember [`Mirror::refs`], fetch, read them again, and [`diff_refs`] gives the
//!   [`RefChange`]s to turn into runs. For a branch update, [`Mirror::changed_paths`] gives the
//!   paths for `on.paths` filters, or `None` (new branch, force push: filters match).
//! - [`Mirror::fetch_ref`] fetches one ref outside branches and tags, such as a pull request's
//!   `refs/pull/N/head`, for webhook deliveries whose commit a plain fetch does not bring.
//! - [`Mirror::read_file`] reads `slipway.yml` at a commit: `None` when the commit has none, an
//!   error naming the commit when the commit itself is missing. Both become a failed run with
//!   that reason; a delivery is never dropped silently.
//! - [`checkout`] (or [`Mirror::checkout`]) makes a fresh, detached working tree of one commit
//!   for a job's workspace, as a separate repository (`clone --shared`, then `checkout`).
//!   [`Mirror::add_worktree`] does it in one git process (a `read-tree` into a working tree), attached
//!   to the mirror; [`Mirror::remove_worktree`] removes it without running git.
//! - [`Mirror::fetch_commit`] fetches one commit by id (falling back to [`Mirror::fetch`]);
//!   fetches skip git's automatic maintenance, which [`Mirror::maintain`] runs instead when
//!   [`Mirror::maintenance_due`].
//!
//! # How git is run
//!
//! Asynchronously (tokio), each call with a time limit ([`GitOptions`]: a longer one for what
//! may touch the network); on expiry git's whole process group is killed. Git never prompts
//! (`GIT_TERMINAL_PROMPT=0`, ssh in batch mode), only the transports git deems safe are allowed,
//! and output is bounded. Arguments that could be read as options are refused before git runs
//! (a URL or revision starting with `-`, `ext::` URLs) and command lines use `--end-of-options`
//! and `--` as well.
//!
//! A [`Mirror`] is `Send + Sync` and its methods take `&self`, but git locks refs while it
//! fetches: the server should run one fetch at a time per mirror (reads may run alongside).
//! [`Mirror::resolve`] and [`Mirror::has_commit`] return `Result`, so that a git that cannot
//! run is not mistaken for a missing commit.
//!
//! # Credentials
//!
//! A URL may carry `user:password@`. It is kept in memory and handed to git per fetch, never
//! written into a mirror's or a workspace's configuration, and every message — errors, their
//! `Debug`, `Mirror`'s `Debug`, git's own stderr — shows it as `***@` (see [`redact`]).

mod checkout;
mod command;
mod error;
mod mirror;
mod paths;
mod redact;
mod refs;
mod validate;
mod worktree;

pub use checkout::{Source, checkout};
pub use command::GitOptions;
pub use error::GitError;
pub use mirror::{MAINTENANCE_EVERY, Mirror};
pub use paths::{ChangedPaths, MAX_CHANGED_PATHS};
pub use redact::redact;
pub use refs::{RefChange, Refs, diff_refs};
pub use validate::is_zero_sha;
