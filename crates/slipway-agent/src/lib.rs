//! The Slipway agent: claims jobs from the server and runs them with the
//! engine's own job runner ([`slipway_engine::run_job`], the code of
//! `slipway run`). The same code is a remote agent (`slipway agent --server
//! URL --token T --labels linux,docker`) and the server's built-in agent
//! (started in-process, talking HTTP to 127.0.0.1).
//!
//! # Design note
//!
//! **Claiming.** [`run`] long-polls `POST /api/v1/agent/claim` (30 s) while
//! fewer than [`AgentConfig::capacity`] jobs run; 204 asks again at once.
//! When the server cannot be reached (down, restarting) the agent retries
//! with a delay from 100 ms doubling to 2 s, forever, with one log line per
//! outage: agents reconnect by themselves. A refused token (401/403) ends
//! [`run`] with [`AgentError::Unauthorized`].
//!
//! **Prefetch hints.** Claims say the agent accepts hints: when a webhook
//! delivery is verified, the server may answer a waiting claim with a
//! commit (202 [`slipway_api::PrefetchHint`]) before the run exists. The
//! agent starts fetching it into the mirror in the background and claims
//! again at once, naming the commit (`prefetched`), so the server prefers
//! it for that commit's job and the fetch overlaps the server's own. The
//! commit is then checked out ahead (`prepared.rs`); its job moves that
//! tree into place. A failed prefetch only clears that name; the job
//! fetches and checks out as usual.
//!
//! **A job** (`job.rs`): a bare mirror of the repository under
//! `work_dir/mirrors/<hash of URL>` (opened once per agent process; the
//! commit alone is fetched when the mirror lacks it), a clean checkout of
//! the commit under `work_dir/jobs/<job>-<attempt>/` (a working tree attached
//! to the mirror, made by one git process; removed with its record in the
//! mirror after the job), the pipeline parsed and planned, the artifacts
//! of the needed jobs downloaded into the agent's store, then `run_job`.
//! The job's store (`job_store.rs`) keeps blobs, artifacts and caches in
//! the agent's [`slipway_store::FileStore`] (`work_dir/store`) and sends
//! step records and log lines to the job's uploader.
//!
//! **Events** (`uploader.rs`): batches on a 100 ms ticker, a heartbeat
//! within a third of the lease, each batch re-sent until acknowledged
//! (numbered per attempt: the server stores a batch sent again after a lost
//! answer only once). The answer carries the server's cancel; 404 or
//! 409 mean the job is no longer this agent's: it is cancelled and not
//! reported.
//!
//! **Afterwards**: the objects of the job's artifacts the server lacks are
//! uploaded (`transfer.rs`), then the outcome is reported with `finish`,
//! retried like events.
//!
//! **Shutdown**: when `shutdown` turns true the agent stops claiming;
//! running jobs get [`AgentConfig::shutdown_grace`] to end, then are
//! cancelled (their steps' process groups killed) and their outcome is
//! still reported. If the server stays unreachable for
//! [`GIVE_UP_AFTER`] beyond that, undelivered events and outcomes are
//! abandoned (the server's lease expiry then requeues or fails those jobs).
//!
//! **Secrets**: the token is sent only in the `Authorization` header (marked
//! sensitive) and never logged; an [`AgentConfig`] prints it redacted.
//! Assignments carry the project's secrets: they go to the engine (for the
//! `secrets` context and masking) and are never logged. Log lines are
//! masked by the engine before they reach the agent's store.

mod approver;
mod client;
mod job;
mod job_store;
mod prepared;
mod retry;
mod transfer;
mod uploader;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use slipway_store::FileStore;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::client::{Api, CallError, Claimed};
use crate::job::{AgentShared, prefetch, run_assignment};
use crate::retry::{Backoff, raised};

/// How long a claim may wait on the server for a job.
const CLAIM_WAIT_MS: u64 = 30_000;

/// After the shutdown grace period and the cancellation of what still runs,
/// how long the agent keeps trying to reach the server to report.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(15);

/// How an agent connects and what it offers.
#[derive(Clone)]
pub struct AgentConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// Sent as `Authorization: Bearer <token>`; never logged.
    pub token: String,
    /// The agent's name, unique among the server's agents.
    pub name: String,
    /// What the agent offers (`linux`, `docker`, …); it gets only jobs
    /// whose labels it all has.
    pub labels: Vec<String>,
    /// Mirrors, checkouts, and the agent's store (objects, caches). One
    /// work directory per agent: checkouts found there at start are removed.
    pub work_dir: PathBuf,
    /// Jobs at once (at least 1).
    pub capacity: usize,
    /// Time running jobs get to end after `shutdown` turns true.
    pub shutdown_grace: Duration,
}

/// The shutdown grace period of [`AgentConfig::new`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl AgentConfig {
    /// An agent with no labels, one job at a time and
    /// [`DEFAULT_SHUTDOWN_GRACE`]; set the other fields as needed.
    pub fn new(
        server: impl Into<String>,
        token: impl Into<String>,
        name: impl Into<String>,
        work_dir: impl Into<PathBuf>,
    ) -> AgentConfig {
        AgentConfig {
            server: server.into(),
            token: token.into(),
            name: name.into(),
            labels: Vec::new(),
            work_dir: work_dir.into(),
            capacity: 1,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("server", &self.server)
            .field("token", &"***")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .field("work_dir", &self.work_dir)
            .field("capacity", &self.capacity)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// Why an agent stopped other than by its shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The server refused the token.
    #[error(
        "the server at {server} refused the agent's token (HTTP {status}); check --token or \
         $SLIPWAY_TOKEN: it must be an agent token the server knows"
    )]
    Unauthorized { server: String, status: u16 },
    /// The configuration cannot work (bad URL, empty name, …).
    #[error("the agent cannot start: {0}")]
    Config(String),
    /// The work directory or the store in it cannot be used.
    #[error("the agent's work directory cannot be used: {0}")]
    WorkDir(String),
}

/// Runs the agent until `shutdown` turns true (then stops as the design
/// note says and returns `Ok`), or until the server refuses its token.
pub async fn run(
    config: AgentConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    if config.name.trim().is_empty() {
        return Err(AgentError::Config("the agent needs a name".to_string()));
    }
    let api = Arc::new(
        Api::new(&config.server, &config.token, &config.name).map_err(AgentError::Config)?,
    );
    let work_dir = config.work_dir.clone();
    let files = tokio::task::spawn_blocking(move || prepare_work_dir(&work_dir))
        .await
        .map_err(|e| AgentError::WorkDir(format!("the preparing task failed: {e}")))??;
    let (abandon, abandon_rx) = watch::channel(false);
    let (cancel_all, _) = watch::channel(false);
    let shared = Arc::new(AgentShared {
        api: api.clone(),
        work_dir: config.work_dir.clone(),
        files: Arc::new(files),
        mirrors: std::sync::Mutex::new(HashMap::new()),
        prefetched: std::sync::Mutex::new(None),
        prepared: Default::default(),
        abandon: abandon_rx,
    });
    let capacity = config.capacity.max(1);
    let permits = Arc::new(Semaphore::new(capacity));
    let mut jobs = JoinSet::new();
    // Fetches of hinted commits; dropped (aborted) when the agent stops.
    let mut prefetches = JoinSet::new();
    let mut backoff = Backoff::new();
    let mut outage = false;
    tracing::info!(
        agent = %config.name,
        server = %api.server(),
        labels = %config.labels.join(","),
        capacity,
        "agent started"
    );

    let stopped: Result<(), AgentError> = loop {
        while let Some(joined) = jobs.try_join_next() {
            log_panic(joined);
        }
        while let Some(joined) = prefetches.try_join_next() {
            log_panic(joined);
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break Ok(()),
            },
            () = raised(&mut shutdown) => break Ok(()),
        };
        let claimed = tokio::select! {
            claimed = api.claim(&config.labels, CLAIM_WAIT_MS, shared.prefetched()) => claimed,
            () = raised(&mut shutdown) => break Ok(()),
        };
        let error = match claimed {
            Ok(found) => {
                if outage {
                    tracing::info!(server = %api.server(), "connected to the server again");
                    outage = false;
                }
                backoff.reset();
                match found {
                    Claimed::Job(assignment) => {
                        let (cancel, _) = watch::channel(false);
                        let cancel = Arc::new(cancel);
                        let forward = forward_cancel(cancel_all.subscribe(), cancel.clone());
                        let shared = shared.clone();
                        jobs.spawn(async move {
                            let _permit = permit;
                            let forward = tokio::spawn(forward);
                            run_assignment(shared, *assignment, cancel).await;
                            forward.abort();
                        });
                    }
                    Claimed::Hint(hint) => {
                        // Fetch beside the server's own work; claim again at
                        // once, naming the commit. A job that comes meanwhile
                        // waits for this fetch on the mirror's lock.
                        shared.set_prefetched(Some(hint.commit.clone()));
                        prefetches.spawn(prefetch(shared.clone(), hint));
                    }
                    Claimed::Nothing => {}
                }
                continue;
            }
            Err(CallError::Unauthorized(status)) => {
                break Err(AgentError::Unauthorized {
                    server: api.server().to_string(),
                    status,
                });
            }
            Err(error) => error,
        };
        if !outage {
            if error.retryable() {
                tracing::warn!(server = %api.server(), "{error}; reconnecting in the background");
            } else {
                tracing::error!(server = %api.server(), "claiming a job failed: {error}; trying again");
            }
            outage = true;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = raised(&mut shutdown) => break Ok(()),
        }
    };

    // Running jobs get the grace period (none when the token was refused:
    // they cannot report anyway), then are cancelled.
    if !jobs.is_empty() {
        let grace = if stopped.is_ok() {
            config.shutdown_grace
        } else {
            Duration::ZERO
        };
        tracing::info!(jobs = jobs.len(), "stopping: waiting for running jobs");
        if tokio::time::timeout(grace, join_all(&mut jobs))
            .await
            .is_err()
        {
            tracing::info!(jobs = jobs.len(), "cancelling the jobs still running");
            cancel_all.send_replace(true);
            if tokio::time::timeout(GIVE_UP_AFTER, join_all(&mut jobs))
                .await
                .is_err()
            {
                abandon.send_replace(true);
                join_all(&mut jobs).await;
            }
        }
    }
    tracing::info!(agent = %config.name, "agent stopped");
    stopped
}

/// Makes the work directory's parts and opens the agent's store. Checkouts
/// a previous agent process left when it died are removed: no job of this
/// process runs yet, and one work directory belongs to one agent.
fn prepare_work_dir(work_dir: &std::path::Path) -> Result<FileStore, AgentError> {
    let stale = work_dir.join("jobs");
    match std::fs::remove_dir_all(&stale) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(AgentError::WorkDir(format!(
                "cannot remove old checkouts in {}: {e}",
                stale.display()
            )));
        }
    }
    for sub in ["mirrors", "jobs"] {
        let dir = work_dir.join(sub);
        std::fs::create_dir_all(&dir)
            .map_err(|e| AgentError::WorkDir(format!("cannot create {}: {e}", dir.display())))?;
    }
    FileStore::open(&work_dir.join("store")).map_err(|e| AgentError::WorkDir(e.to_string()))
}

/// Flips a job's cancel signal once the agent cancels every job.
async fn forward_cancel(mut all: watch::Receiver<bool>, job: Arc<watch::Sender<bool>>) {
    raised(&mut all).await;
    job.send_replace(true);
}

async fn join_all(jobs: &mut JoinSet<()>) {
    while let Some(joined) = jobs.join_next().await {
        log_panic(joined);
    }
}

fn log_panic(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined
        && error.is_panic()
    {
        tracing::error!("a job task panicked: {error}");
    }
}
