//! The local executor and its configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use slipway_engine::ports::{ExecError, Executor, WorkspaceRequest};

use crate::checkout;
use crate::fast_path;
use crate::inputs::{DigestMemo, InputStats};
use crate::outputs::OutputDir;
use crate::workspace::LocalWorkspace;

/// Where a job's steps run.
#[derive(Debug, Clone)]
pub enum WorkspaceMode {
    /// Every job works in `root` as it is, uncommitted changes included (`slipway run`).
    InPlace { root: PathBuf },
    /// Every job gets its own fresh checkout of `commit` from the repository `repo`, under
    /// `work_dir/<run>/<job key>` (`slipway run --clean`, the server's agents). Uncommitted
    /// changes of `repo` are never seen. The checkout is removed when the job releases it.
    Clean {
        repo: PathBuf,
        commit: String,
        work_dir: PathBuf,
    },
}

/// Settings of a [`LocalExecutor`].
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub mode: WorkspaceMode,
    /// Time between SIGTERM and SIGKILL when a step's process group is stopped.
    pub grace: Duration,
    /// Run one-line commands of plain words without a shell (see [`crate::fast_path`]).
    pub fast_path: bool,
}

impl LocalConfig {
    /// Jobs work in `root` as it is.
    pub fn in_place(root: impl Into<PathBuf>) -> LocalConfig {
        LocalConfig::with_mode(WorkspaceMode::InPlace { root: root.into() })
    }

    /// Jobs work in fresh checkouts of `commit` of `repo`, made under `work_dir`.
    pub fn clean(
        repo: impl Into<PathBuf>,
        commit: impl Into<String>,
        work_dir: impl Into<PathBuf>,
    ) -> LocalConfig {
        LocalConfig::with_mode(WorkspaceMode::Clean {
            repo: repo.into(),
            commit: commit.into(),
            work_dir: work_dir.into(),
        })
    }

    fn with_mode(mode: WorkspaceMode) -> LocalConfig {
        LocalConfig {
            mode,
            grace: Duration::from_secs(5),
            fast_path: true,
        }
    }

    /// Sets the grace period between SIGTERM and SIGKILL.
    pub fn grace(mut self, grace: Duration) -> LocalConfig {
        self.grace = grace;
        self
    }

    /// Turns the shell-less fast path on or off.
    pub fn fast_path(mut self, enabled: bool) -> LocalConfig {
        self.fast_path = enabled;
        self
    }
}

/// What every workspace of one executor shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) grace: Duration,
    /// Fast path allowed: configured, and the agent's own environment does not change how the
    /// shell starts.
    pub(crate) fast_path: bool,
    /// Input digests, reused across the jobs of a run.
    pub(crate) digests: DigestMemo,
    /// Where steps write their outputs.
    pub(crate) outputs: OutputDir,
    /// Programs found on PATH, by (name, PATH): a lookup costs a `stat` per PATH entry, and
    /// 1,000 jobs that run `make` need one. A stale entry only fails the direct start, which
    /// falls back to the shell.
    pub(crate) programs: ProgramMemo,
}

/// Resolved programs of the fast path.
pub(crate) type ProgramMemo =
    std::sync::Mutex<std::collections::HashMap<(String, std::ffi::OsString), PathBuf>>;

/// Runs steps as processes on this machine. Cheap to share: clone it or put it in an `Arc`.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    mode: Arc<WorkspaceMode>,
    shared: Arc<Shared>,
    /// The in-place root, resolved by the first job: it is the same directory for every job.
    in_place_root: Arc<std::sync::OnceLock<PathBuf>>,
}

impl LocalExecutor {
    pub fn new(config: LocalConfig) -> LocalExecutor {
        let env_is_plain =
            std::env::vars_os().all(|(name, _)| !fast_path::changes_shell_startup(&name));
        LocalExecutor {
            mode: Arc::new(config.mode),
            shared: Arc::new(Shared {
                grace: config.grace,
                fast_path: config.fast_path && env_is_plain,
                digests: DigestMemo::default(),
                outputs: OutputDir::default(),
                programs: ProgramMemo::default(),
            }),
            in_place_root: Arc::default(),
        }
    }
}

impl LocalExecutor {
    /// Work done on inputs so far by all workspaces of this executor.
    pub fn input_stats(&self) -> InputStats {
        self.shared.digests.stats()
    }
}

impl Executor for LocalExecutor {
    type Workspace = LocalWorkspace;

    async fn prepare(&self, req: &WorkspaceRequest) -> Result<LocalWorkspace, ExecError> {
        if let Some(container) = &req.container {
            return Err(ExecError(format!(
                "job `{}` runs on docker (image `{}`), but this executor runs local processes only",
                req.job_key, container.image
            )));
        }
        self.prepare_dir(req).await
    }
}

impl LocalExecutor {
    /// The job's directory as the workspace mode says: the user's own or a fresh checkout. The
    /// Docker executor mounts the same directory into the job's container.
    pub(crate) async fn prepare_dir(
        &self,
        req: &WorkspaceRequest,
    ) -> Result<LocalWorkspace, ExecError> {
        match &*self.mode {
            WorkspaceMode::InPlace { root } => {
                let root = match self.in_place_root.get() {
                    Some(resolved) => resolved.clone(),
                    None => {
                        let resolved = canonical_dir(root)?;
                        self.in_place_root.get_or_init(|| resolved).clone()
                    }
                };
                Ok(LocalWorkspace::new(root, None, self.shared.clone()))
            }
            WorkspaceMode::Clean {
                repo,
                commit,
                work_dir,
            } => {
                let dir = work_dir
                    .join(checkout::sanitise(&req.run))
                    .join(checkout::sanitise(&req.job_key));
                checkout::clone_commit(repo, commit, &dir).await?;
                let root = canonical_dir(&dir)?;
                Ok(LocalWorkspace::new(root, Some(dir), self.shared.clone()))
            }
        }
    }
}

fn canonical_dir(dir: &std::path::Path) -> Result<PathBuf, ExecError> {
    let root = std::fs::canonicalize(dir).map_err(|e| {
        ExecError(format!(
            "the workspace directory {} cannot be used: {e}",
            dir.display()
        ))
    })?;
    if !root.is_dir() {
        return Err(ExecError(format!(
            "the workspace {} is not a directory",
            root.display()
        )));
    }
    Ok(root)
}
