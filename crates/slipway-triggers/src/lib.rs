//! Triggers: turn git changes, webhook deliveries, cron schedules and manual requests into
//! [`RunRequest`]s, which a [`RunStarter`] (the server) turns into runs.
//!
//! - [`Triggers::webhook`]: a forge delivery, authenticated and normalised by `slipway-hooks`;
//!   the commit is fetched into the project's mirror, `slipway.yml` read at it and its `on:`
//!   evaluated against the event.
//! - [`Triggers::poll_project`] / [`Triggers::poll_loop`]: fetch, compare branches and tags with
//!   the last reading (persisted), start runs for what moved.
//! - [`Triggers::cron_tick`] / [`Triggers::cron_loop`]: `on.schedule` of the pipeline at each
//!   project's default branch.
//! - [`Triggers::manual`]: a run asked for by a person, with typed inputs.
//!
//! # Invariants
//!
//! - **A valid delivery is never dropped silently**: when its commit cannot be fetched, or has
//!   no pipeline file, or an invalid one, it still becomes a run whose
//!   [`RunRequest::pipeline`] is `Err(reason)`, for the server to record as failed.
//! - **One git operation per project at a time**: webhooks, polling, cron and manual runs take
//!   the project's async lock before touching its mirror (`MIRRORS/<project id>`) or its
//!   trigger state, so they never fetch the same mirror at once and never start the same change
//!   twice (a webhook records the ref it handled in the polling state).
//! - **State survives restarts**: the last refs seen and the last cron tick are kept per
//!   project in the store's trigger state (`ServerStore::set_trigger_state`).
//! - **Deliveries are logged**: every delivery to a known project is recorded with
//!   `ServerStore::record_delivery` (started, ignored, rejected or failed, with the run ids).

mod cron;
mod error;
mod git;
mod inputs;
mod manual;
mod pipeline;
mod poll;
mod state;
mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use slipway_engine::records::GitInfo;
use slipway_store::sql::{Project, ServerStore};

pub use error::TriggerError;
pub use inputs::check_inputs;
pub use poll::POLL_INTERVAL_SETTING;

/// The pipeline file, at the repository's root.
pub const PIPELINE_FILE: &str = "slipway.yml";

/// What the server needs to create and start one run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The project the run belongs to.
    pub project_id: i64,
    /// `push`, `tag`, `pull_request`, `schedule` or `manual`.
    pub trigger: String,
    /// The branch built (for a pull request: its source branch).
    pub branch: Option<String>,
    /// The tag built.
    pub tag: Option<String>,
    /// The commit built; `None` only when it could not be determined at all.
    pub commit: Option<String>,
    /// The run's `git` context: event, branch or tag, sha, changed paths (empty when unknown,
    /// and for a webhook delivery also when no `paths:`/`paths-ignore:` filter of its trigger
    /// needs them).
    pub git: GitInfo,
    /// Manual inputs, typed and with defaults filled (empty for other triggers).
    pub inputs: Map<String, Value>,
    /// The pipeline file and its text at `commit`, or why the run fails at once (commit not
    /// fetchable, no slipway.yml, file invalid: the error text with file:line:column). A valid
    /// delivery is never dropped.
    pub pipeline: Result<PipelineSource, String>,
    /// Why the run starts, in words (the `on:` filter that matched, the schedule, …).
    pub reason: String,
    /// The pull request, for `pull_request` runs.
    pub pull_request: Option<PullRequestInfo>,
    /// Who started the run: the user of a manual run, the forge's sender
    /// of a webhook delivery; `None` for polling and cron.
    pub triggered_by: Option<String>,
}

/// The pull request a `pull_request` run builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    /// Its number (GitLab: the merge request's iid).
    pub number: u64,
    /// The branch it would merge into.
    pub target_branch: String,
    /// The ref in the project's repository holding its head (`refs/pull/N/head`, …).
    pub head_ref: String,
    /// Its title.
    pub title: String,
}

/// A pipeline file as read from a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSource {
    /// Its path in the repository ([`PIPELINE_FILE`]).
    pub file: String,
    /// Its text.
    pub source: String,
}

/// The server's side of the seam: creates and starts runs.
pub trait RunStarter: Send + Sync + 'static {
    /// Creates and starts the run; returns its id. A request whose `pipeline` is `Err` must
    /// still become a run, failed with that reason.
    fn start(&self, request: RunRequest) -> impl Future<Output = Result<i64, String>> + Send;

    /// A webhook delivery to `project` was authenticated and names `commit` (a push, tag or
    /// pull request head), before the commit is fetched: a run of it will likely follow. The
    /// server uses it to let an agent fetch the commit meanwhile. Must not block; the default
    /// does nothing.
    fn verified(&self, project: &Project, commit: &str) {
        let _ = (project, commit);
    }
}

/// Every trigger of every project. Share it in an `Arc`; all methods take `&self`.
pub struct Triggers<S: RunStarter, St: ServerStore> {
    store: Arc<St>,
    starter: Arc<S>,
    mirrors_dir: PathBuf,
    /// One async lock per project, serialising its git work and its trigger state.
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Mirrors opened so far, by project id: opening checks the directory with git, which a
    /// delivery need not pay for again.
    mirrors: Mutex<HashMap<i64, git::OpenMirror>>,
}

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    /// Triggers over `store`'s projects, starting runs through `starter`, with one bare mirror
    /// per project in `mirrors_dir/<project id>`.
    pub fn new(store: Arc<St>, starter: Arc<S>, mirrors_dir: PathBuf) -> Self {
        Triggers {
            store,
            starter,
            mirrors_dir,
            locks: Mutex::new(HashMap::new()),
            mirrors: Mutex::new(HashMap::new()),
        }
    }

    /// The lock serialising a project's git work and trigger state.
    fn project_lock(&self, project_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another thread panicked while inserting; the map itself
        // is still consistent, so keep using it.
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(project_id).or_default())
    }

    /// Where a project's mirror lives.
    fn mirror_dir(&self, project_id: i64) -> PathBuf {
        self.mirrors_dir.join(project_id.to_string())
    }

    /// Hands a request to the starter, logging the outcome.
    async fn start(&self, request: RunRequest) -> Result<i64, String> {
        let project_id = request.project_id;
        let trigger = request.trigger.clone();
        let failed = request.pipeline.as_ref().err().cloned();
        let result = self.starter.start(request).await;
        match (&result, failed) {
            (Ok(run), None) => {
                tracing::info!(project_id, run, trigger = %trigger, "run started");
            }
            (Ok(run), Some(why)) => {
                tracing::warn!(project_id, run, trigger = %trigger, reason = %why, "run created failed");
            }
            (Err(err), _) => {
                tracing::error!(project_id, trigger = %trigger, error = %err, "could not start a run");
            }
        }
        result
    }
}
