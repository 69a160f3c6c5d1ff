//! One assignment, from claim to finish: the repository's mirror and a clean
//! checkout, the pipeline parsed and planned, the needed artifacts
//! downloaded, the job run by the engine's own [`run_job`] (exactly as
//! `slipway run` does), its artifacts uploaded, and its outcome reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use slipway_api::{Assignment, FinishRequest, PrefetchHint};
use slipway_deploy::port::EnginePort;
use slipway_engine::ports::{ApproverHandle, DeployerHandle};
use slipway_engine::records::{CacheStatus, JobResult};
use slipway_engine::{JobOutcome, Plan, RunContext, RunOptions, Silent, run_job};
use slipway_exec::{AnyExecutor, DockerConfig, LocalConfig};
use slipway_git::{GitError, Mirror};
use slipway_store::FileStore;
use tokio::sync::{Mutex, mpsc, watch};

use crate::approver::ServerApprover;
use crate::client::{Api, CallError};
use crate::job_store::{JobStore, Upload};
use crate::prepared::{Prepared, Tree, discard};
use crate::retry::retrying;
use crate::transfer::{download_artifacts, upload_artifacts};
use crate::uploader::{Delivery, Uploader};

/// A mirror's place in [`AgentShared::mirrors`]: its lock, and the mirror
/// once opened.
pub(crate) type MirrorSlot = Arc<Mutex<Option<OpenMirror>>>;

/// An opened mirror, and the last commit known to be in it (fetched or
/// found there), which the next job of that commit need not look up.
pub(crate) struct OpenMirror {
    mirror: Arc<Mirror>,
    ready: Option<String>,
}

/// What every job of one agent shares.
pub(crate) struct AgentShared {
    pub(crate) api: Arc<Api>,
    pub(crate) work_dir: PathBuf,
    /// Blobs, artifacts and caches of every job of this agent.
    pub(crate) files: Arc<FileStore>,
    /// The mirrors by directory, each behind a lock: two jobs of one
    /// repository must not clone or fetch into the same mirror at once. A
    /// mirror opened once stays open (`None` until then).
    pub(crate) mirrors: std::sync::Mutex<HashMap<PathBuf, MirrorSlot>>,
    /// The commit of the last prefetch hint, while its fetch runs or once
    /// it succeeded (sent with every claim).
    pub(crate) prefetched: std::sync::Mutex<Option<String>>,
    /// The checkout made ahead after a prefetch hint.
    pub(crate) prepared: Prepared,
    /// Turns true when the agent stops waiting for an unreachable server.
    pub(crate) abandon: watch::Receiver<bool>,
}

impl AgentShared {
    /// The commit of the last prefetch hint, for the next claim.
    pub(crate) fn prefetched(&self) -> Option<String> {
        self.prefetched.lock().ok()?.clone()
    }

    pub(crate) fn set_prefetched(&self, commit: Option<String>) {
        if let Ok(mut prefetched) = self.prefetched.lock() {
            *prefetched = commit;
        }
    }
}

/// Fetches a hinted commit into its mirror and checks it out ahead of its
/// job (`prepared.rs`), so that the job that likely follows finds both
/// done. Failing only forgets the hint.
pub(crate) async fn prefetch(shared: Arc<AgentShared>, hint: PrefetchHint) {
    let Some((mut tree, dir, replaced)) =
        shared
            .prepared
            .begin(&shared.work_dir.join("jobs"), &hint.repo_url, &hint.commit)
    else {
        return;
    };
    match mirror_with_commit(&shared, &hint.repo_url, &hint.commit, Trust::Ready).await {
        Ok(mirror) => match mirror.add_worktree(&hint.commit, &dir).await {
            Ok(()) => *tree = Some(Tree { dir, mirror }),
            Err(error) => {
                tracing::info!(commit = %hint.commit, "could not check a hinted commit out: {error}");
                let _ = mirror.remove_worktree(&dir).await;
            }
        },
        Err(error) => {
            tracing::info!(commit = %hint.commit, "prefetch hint not followed: {error}");
            if let Ok(mut prefetched) = shared.prefetched.lock()
                && prefetched.as_deref() == Some(hint.commit.as_str())
            {
                *prefetched = None;
            }
        }
    }
    drop(tree);
    if let Some(old) = replaced {
        discard(old).await;
    }
}

/// Runs an assignment to its end and reports it. `cancel` is the job's
/// cancel signal (the server's cancel, a lost job, or the agent's shutdown).
pub(crate) async fn run_assignment(
    shared: Arc<AgentShared>,
    assignment: Assignment,
    cancel: Arc<watch::Sender<bool>>,
) {
    let job_id = assignment.job_id;
    tracing::info!(
        job = job_id,
        run = %assignment.run,
        key = %assignment.job_key,
        attempt = assignment.attempt,
        "job claimed"
    );
    let (uploads, received) = mpsc::unbounded_channel();
    let uploader = tokio::spawn(
        Uploader {
            api: shared.api.clone(),
            job_id,
            attempt: assignment.attempt,
            lease: std::time::Duration::from_millis(assignment.lease_ms),
            uploads: received,
            cancel: cancel.clone(),
            abandon: shared.abandon.clone(),
        }
        .run(),
    );
    let jobs_dir = shared
        .work_dir
        .join("jobs")
        .join(format!("{job_id}-{}", assignment.attempt));
    let outcome = execute(&shared, assignment, &jobs_dir, uploads, cancel.subscribe()).await;
    remove_dir(&jobs_dir).await;
    let delivery = uploader.await.unwrap_or_else(|error| {
        tracing::error!(job = job_id, "the job's uploader failed: {error}");
        Delivery::Abandoned
    });
    if delivery != Delivery::Delivered {
        // Gone: the server gave the job to someone else. Abandoned: it
        // could not be reached before shutdown; the lease will expire.
        return;
    }
    let finish = FinishRequest {
        agent: shared.api.agent.clone(),
        outcome,
    };
    let result = finish.outcome.result;
    let (api, body) = (&shared.api, &finish);
    let sent = retrying(
        "reporting a job's outcome",
        &shared.abandon,
        || async move { api.finish(job_id, body).await },
    )
    .await;
    match sent {
        Ok(()) => tracing::info!(job = job_id, result = result.as_str(), "job finished"),
        Err(CallError::Gone(_)) => {
            tracing::warn!(
                job = job_id,
                "the outcome came too late: the job is no longer this agent's"
            )
        }
        Err(error) => tracing::warn!(job = job_id, "the job's outcome was not reported: {error}"),
    }
}

/// A project name as one directory name (the server's names are already
/// safe; anything else is replaced rather than trusted).
fn path_component(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        format!("_{safe}")
    } else {
        safe
    }
}

fn failed(error: String, started: Instant) -> JobOutcome {
    JobOutcome {
        result: JobResult::Failure,
        outputs: Vec::new(),
        cache: CacheStatus::Uncached,
        artifacts: Vec::new(),
        tests: None,
        error: Some(error),
        duration_ms: started.elapsed().as_millis() as u64,
        test_cases: Vec::new(),
        release: None,
        approval: None,
    }
}

fn cancelled(started: Instant) -> JobOutcome {
    JobOutcome {
        result: JobResult::Cancelled,
        error: Some("the job was cancelled before its steps started".to_string()),
        ..failed(String::new(), started)
    }
}

/// Everything between the claim and the report. `uploads` is held to the
/// end, so heartbeats continue while artifacts are transferred.
async fn execute(
    shared: &AgentShared,
    assignment: Assignment,
    jobs_dir: &Path,
    uploads: mpsc::UnboundedSender<Upload>,
    cancel: watch::Receiver<bool>,
) -> JobOutcome {
    let started = Instant::now();
    let mirror = match mirror_with_commit(
        shared,
        &assignment.repo_url,
        &assignment.commit,
        Trust::Ready,
    )
    .await
    {
        Ok(mirror) => mirror,
        Err(error) => return failed(error, started),
    };
    let pipeline = match slipway_spec::parse_pipeline(
        &assignment.pipeline_source,
        &assignment.pipeline_file,
    ) {
        Ok(pipeline) => Arc::new(pipeline),
        Err(diagnostics) => {
            return failed(
                format!("the pipeline file is not valid:\n{diagnostics}"),
                started,
            );
        }
    };
    let plan = Plan::new(&pipeline);
    let Some(index) = plan
        .jobs
        .iter()
        .position(|job| job.key == assignment.job_key)
    else {
        return failed(
            format!(
                "job `{}` is not in the plan of `{}` at commit {}",
                assignment.job_key, assignment.pipeline_file, assignment.commit
            ),
            started,
        );
    };
    if let Err(error) = download_artifacts(
        &shared.api,
        &shared.files,
        &assignment.upstream,
        &shared.abandon,
    )
    .await
    {
        return failed(error, started);
    }
    if *cancel.borrow() {
        return cancelled(started);
    }
    let options = RunOptions {
        file: assignment.pipeline_file,
        parallelism: 1,
        fail_fast: false,
        secrets: assignment.secrets,
        inputs: assignment.inputs,
        git: assignment.git,
        restore_artifacts: true,
        // Deployment state per project: two projects may both have a
        // `staging` environment.
        deployer: Some(DeployerHandle(Arc::new(EnginePort::new(
            shared
                .work_dir
                .join("environments")
                .join(path_component(&assignment.project)),
        )))),
        // Gates are decided on the server: by votes or by their timeout.
        approver: Some(ApproverHandle(Arc::new(ServerApprover {
            api: shared.api.clone(),
            job_id: assignment.job_id,
            abandon: shared.abandon.clone(),
        }))),
        freeze_override: assignment.freeze_override,
        // One job runs here; its group was held by the server.
        job_groups: Default::default(),
    };
    let (context, env_failure) =
        RunContext::new(assignment.run, pipeline, plan, Arc::new(Silent), options);
    if let Some(error) = env_failure {
        return failed(error, started);
    }
    // The job's workspace: a working tree of the commit attached to the
    // mirror (one git process; see slipway-git's `add_worktree`, or none
    // when it was prepared after a hint), removed with its record in the
    // mirror when the job is done.
    let mut checkout = match shared
        .prepared
        .take(&assignment.repo_url, &assignment.commit)
        .await
    {
        // Checked out ahead after a prefetch hint: moved into place.
        Some(tree) => match mirror.move_worktree(&tree.dir, jobs_dir).await {
            Ok(()) => Ok(()),
            Err(error) => {
                tracing::warn!("cannot use the prepared checkout: {error}");
                let _ = tree.mirror.remove_worktree(&tree.dir).await;
                mirror.add_worktree(&assignment.commit, jobs_dir).await
            }
        },
        None => mirror.add_worktree(&assignment.commit, jobs_dir).await,
    };
    if let Err(GitError::CommitNotFound { .. }) = checkout {
        // Known to be there, yet gone (a step's `git gc` in the shared
        // mirror?): look it up and fetch it again, once.
        checkout = match mirror_with_commit(
            shared,
            &assignment.repo_url,
            &assignment.commit,
            Trust::LookUp,
        )
        .await
        {
            Ok(mirror) => mirror.add_worktree(&assignment.commit, jobs_dir).await,
            Err(error) => return failed(error, started),
        };
    }
    if let Err(error) = checkout {
        return failed(format!("could not check out the commit: {error}"), started);
    }
    // A fresh executor per job, working in that checkout. Docker, if the
    // job needs it, is connected per job too; the sweep that runs then
    // removes only objects whose owning process is dead, never those of
    // this agent's other running jobs.
    let executor = AnyExecutor::new(LocalConfig::in_place(jobs_dir), DockerConfig::default());
    let store = Arc::new(JobStore {
        files: shared.files.clone(),
        uploads: uploads.clone(),
    });
    let mut outcome = run_job(
        Arc::new(context),
        Arc::new(executor),
        store,
        index,
        assignment.upstream,
        cancel,
    )
    .await;
    if let Err(error) = mirror.remove_worktree(jobs_dir).await {
        tracing::warn!("cannot remove the job's checkout: {error}");
    }
    if !outcome.artifacts.is_empty()
        && let Err(error) = upload_artifacts(
            &shared.api,
            &shared.files,
            &outcome.artifacts,
            &shared.abandon,
        )
        .await
    {
        outcome.result = JobResult::Failure;
        outcome.error = Some(error);
    }
    drop(uploads);
    outcome
}

/// Whether [`mirror_with_commit`] may skip looking the commit up when it is
/// the mirror's last known one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trust {
    Ready,
    LookUp,
}

/// The mirror of `url` in the agent's work directory, with `commit` fetched
/// into it (by id) when it does not hold it yet; with [`Trust::Ready`] the
/// commit last fetched or found there is not looked up again (no `git`
/// process). Opened once per agent
/// process: the first opening also forgets checkouts a previous agent
/// process left attached to it.
async fn mirror_with_commit(
    shared: &AgentShared,
    url: &str,
    commit: &str,
    trust: Trust,
) -> Result<Arc<Mirror>, String> {
    let hash = blake3::hash(url.as_bytes()).to_hex();
    let dir = shared
        .work_dir
        .join("mirrors")
        .join(hash.get(..16).unwrap_or_default());
    let slot = {
        let mut slots = shared
            .mirrors
            .lock()
            .map_err(|_| "the agent's mirror table is unusable".to_string())?;
        slots.entry(dir.clone()).or_default().clone()
    };
    let mut opened = slot.clone().lock_owned().await;
    let mirror = match &*opened {
        // Just fetched or found by the previous job or prefetch: no look-up.
        Some(open) if trust == Trust::Ready && open.ready.as_deref() == Some(commit) => {
            return Ok(open.mirror.clone());
        }
        Some(open) => open.mirror.clone(),
        None => {
            let mirror = Mirror::open_or_clone(url, &dir)
                .await
                .map_err(|e| format!("could not get the repository: {e}"))?;
            // The jobs directory was emptied at start: working trees still
            // recorded in the mirror belonged to a dead agent process.
            if let Err(e) = mirror.prune_worktrees().await {
                tracing::warn!("cannot prune old checkouts of {}: {e}", mirror.shown_url());
            }
            let mirror = Arc::new(mirror);
            *opened = Some(OpenMirror {
                mirror: mirror.clone(),
                ready: None,
            });
            mirror
        }
    };
    let present = match mirror.has_commit(commit).await {
        Ok(true) => Ok(true),
        Ok(false) => mirror
            .fetch_commit(commit)
            .await
            .map_err(|e| format!("could not fetch the repository: {e}")),
        Err(e) => Err(e.to_string()),
    };
    match (&present, opened.as_mut()) {
        (Ok(true), Some(open)) => open.ready = Some(commit.to_string()),
        // The directory may be gone or damaged: the next job opens it anew.
        (Err(_), _) => *opened = None,
        _ => {}
    }
    if present.is_ok() && mirror.maintenance_due() {
        // Git's housekeeping, which fetches skip, after this job has what it
        // needs: the task holds the mirror's lock, so no fetch runs meanwhile.
        let maintained = mirror.clone();
        tokio::spawn(async move {
            let _opened = opened;
            if let Err(e) = maintained.maintain().await {
                tracing::warn!("git maintenance of {} failed: {e}", maintained.shown_url());
            }
        });
    }
    if present? {
        Ok(mirror)
    } else {
        Err(format!(
            "commit {commit} is not in {} (was it force-pushed away?)",
            mirror.shown_url()
        ))
    }
}

async fn remove_dir(dir: &Path) {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove {}: {e}", dir.display()),
    }
}
