//! The engine's ports: the only ways it touches the outside world.
//!
//! Invariant: the engine does no I/O of its own. Processes, files and
//! persistence live behind [`Executor`], [`Workspace`] and [`Store`], which the
//! crates `slipway-exec` and `slipway-store` implement. `slipway run` and the
//! server plug different implementations into the same engine.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::records::{
    ArtifactRecord, CacheEntry, Digest, KeyManifest, Record, RunMeta, RunSummary,
};

pub use slipway_logs::{SecretMasker, Stream};
pub use slipway_spec::approval::ApprovalJob;
pub use slipway_spec::deploy::DeployJob;
pub use slipway_spec::model::{HealthCheck, PullPolicy, Shell};

/// Cancellation: the value flips to `true` once; executors kill what they run.
pub type CancelSignal = tokio::sync::watch::Receiver<bool>;

/// Resolves once `cancel` turns true (never if its sender goes away first).
pub async fn cancel_raised(cancel: &mut CancelSignal) {
    if cancel.wait_for(|raised| *raised).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Error from an executor or a workspace, already phrased for a user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// Error from a store, already phrased for a user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// What a job asks of the executor before its first step.
#[derive(Debug, Clone)]
pub struct WorkspaceRequest {
    /// Run number, for naming a per-job directory.
    pub run: String,
    /// The job instance key, e.g. `test (linux, 1)`.
    pub job_key: String,
    /// `runs-on: docker`: the job's container and services, every expression
    /// evaluated. `None` runs the steps on the agent's machine.
    pub container: Option<ContainerRequest>,
}

/// The container of a `runs-on: docker` job.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRequest {
    pub image: String,
    pub services: Vec<ServiceRequest>,
    /// CPUs the container may use.
    pub cpus: Option<f64>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    pub pull: PullPolicy,
}

/// A service container started before the job, reachable by `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRequest {
    pub name: String,
    pub image: String,
    /// Its environment, rendered (may hold secrets: never log it).
    pub env: Vec<(String, String)>,
    pub command: Option<Vec<String>>,
    pub health: Option<HealthCheck>,
}

/// One step, fully rendered: no expressions left.
#[derive(Debug)]
pub struct StepCommand<'a> {
    /// The `run:` text after interpolation.
    pub script: &'a str,
    pub shell: Shell,
    /// Variables added to the agent's environment, in order (later wins).
    pub env: &'a [(String, String)],
    /// Working directory relative to the workspace root.
    pub workdir: Option<&'a str>,
    /// Wall-clock limit for this attempt.
    pub timeout: Option<Duration>,
    /// A step of a `runs-on: docker` job with its own `image:` runs in a
    /// container of its own.
    pub image: Option<&'a str>,
}

/// How a step's process ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum StepExit {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    Cancelled,
    /// The process could not be started (bad workdir, shell missing, ...).
    SpawnFailed(String),
}

impl StepExit {
    pub fn success(&self) -> bool {
        matches!(self, StepExit::Exited(0))
    }
}

/// Receives a step's output, line by line, already masked.
///
/// `flush` is called after each chunk read from the process, so a sink can
/// batch its own writes (one lock of the terminal per chunk, not per line).
pub trait LineSink: Send {
    fn line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]);
    fn flush(&mut self);
}

/// Creates the place a job's steps run in.
pub trait Executor: Send + Sync + 'static {
    type Workspace: Workspace;
    fn prepare(
        &self,
        req: &WorkspaceRequest,
    ) -> impl Future<Output = Result<Self::Workspace, ExecError>> + Send;
}

/// A job's working directory and the means to run its steps there.
pub trait Workspace: Send + Sync + 'static {
    /// Absolute path of the workspace root (where `slipway.yml` sits).
    fn root(&self) -> &Path;

    /// Runs one step to completion. The whole process group is killed on
    /// timeout or cancellation (SIGTERM, a grace period, SIGKILL), so
    /// nothing the step started outlives it.
    fn run_step(
        &mut self,
        cmd: StepCommand<'_>,
        masker: &SecretMasker,
        sink: &mut dyn LineSink,
        cancel: &CancelSignal,
    ) -> impl Future<Output = StepExit> + Send;

    /// Files matched by the globs (relative to the root), sorted by path,
    /// each with the BLAKE3 digest of its content.
    fn hash_inputs(&self, globs: &[String]) -> Result<Vec<(String, Digest)>, ExecError>;

    /// Files matched by the globs, relative paths, sorted.
    fn glob(&self, globs: &[String]) -> Result<Vec<String>, ExecError>;

    /// Reads a file relative to the root, refusing paths that leave it and
    /// files larger than `max_bytes`.
    fn read_file(&self, rel: &str, max_bytes: u64) -> Result<Vec<u8>, ExecError>;

    /// Creates an empty file for the outputs of step `step` (its path goes
    /// into `$SLIPWAY_OUTPUT`) outside the files the job works on, and
    /// returns its absolute path.
    fn output_file(&mut self, step: usize) -> Result<std::path::PathBuf, ExecError>;

    /// Reads what the step wrote to its output file (at most 1 MiB).
    fn read_output_file(&mut self, step: usize) -> Result<Vec<u8>, ExecError>;

    /// Removes what `prepare` created (a clean checkout); a no-op for the
    /// directory the user works in.
    fn release(self) -> impl Future<Output = ()> + Send;
}

/// A boxed future, for the object-safe ports.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a `deploy:` job installs, resolved before anything is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployArtifact {
    /// An artifact of the run, on this machine at `path` (absolute).
    File {
        name: String,
        path: std::path::PathBuf,
        digest: Digest,
    },
    /// A container image, as written in `image:`.
    Image { reference: String },
}

/// One `deploy:` job for the [`Deployer`].
#[derive(Debug)]
pub struct DeployRequest<'a> {
    pub job: &'a DeployJob,
    /// The workspace root: the repository, with `.slipway/environments/`.
    pub root: &'a Path,
    pub artifact: DeployArtifact,
    /// The run and the job instance, for the deployment's record.
    pub run: &'a str,
    pub job_key: &'a str,
    /// A short version people read, e.g. `run 12`.
    pub version: String,
    /// Answers a canary's `pause: until-approved`; `None` fails such a pause
    /// with a clear message.
    pub approver: Option<ApproverHandle>,
    /// The decisions of the approval gates this run passed before this job
    /// (in order), for the release record. Empty under the server, which
    /// attaches them from its own records.
    pub approvals: Vec<ApprovalDecision>,
    /// The commit deployed and its committer time (Unix seconds), for the
    /// release record and lead time; `None` outside a git repository.
    pub commit: Option<String>,
    pub commit_time: Option<u64>,
    /// An admin's recorded reason to deploy inside a freeze window.
    pub freeze_override: Option<String>,
}

/// What a `deploy:` job leaves: a one-line summary (`Ok`) or why it failed
/// (`Err`, naming the target and the check), and the release record (the
/// deployment's record as JSON) whenever one was written, failed or not.
#[derive(Debug)]
pub struct DeployResult {
    pub result: Result<String, String>,
    pub release: Option<serde_json::Value>,
}

/// A gate that waits for people: an `approval:` job, or a canary's
/// `pause: until-approved`.
#[derive(Debug)]
pub struct ApprovalRequest<'a> {
    pub run: &'a str,
    pub job_key: &'a str,
    /// `""` for an `approval:` job; `canary step N` for a canary's pause.
    pub gate: &'a str,
    pub approval: &'a ApprovalJob,
    /// The `message:` rendered (expressions evaluated), if any.
    pub message: Option<String>,
}

/// One person's answer to a gate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalVote {
    pub user: String,
    pub approved: bool,
    pub comment: Option<String>,
    pub at_ms: u64,
}

/// How a gate ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalDecision {
    /// The gate (`""` for an `approval:` job) and its job.
    pub job_key: String,
    pub gate: String,
    pub approved: bool,
    /// Why, for people: `approved by alice, bob`, `rejected by carol: not
    /// today`, `timed out after 4h: rejected`.
    pub reason: String,
    pub votes: Vec<ApprovalVote>,
    /// The approvers' typed inputs by name (the last approving vote's).
    #[serde(default)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    pub at_ms: u64,
}

/// Asks people: the terminal under `slipway run`, the server's approvals
/// under agents. Object-safe, held as [`ApproverHandle`].
pub trait Approver: Send + Sync + 'static {
    /// Waits for the gate's decision (the timeout's outcome included). `Err`
    /// when it cannot be asked at all (no terminal, the server unreachable);
    /// a cancelled run ends the wait with `Err("cancelled")`.
    fn approve<'a>(
        &'a self,
        request: ApprovalRequest<'a>,
        log: &'a mut dyn DeployLine,
        cancel: &'a CancelSignal,
    ) -> BoxFuture<'a, Result<ApprovalDecision, String>>;
}

/// A shared [`Approver`], printable in [`crate::RunOptions`]' `Debug`.
#[derive(Clone)]
pub struct ApproverHandle(pub std::sync::Arc<dyn Approver>);

impl std::fmt::Debug for ApproverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Approver")
    }
}

/// Carries out `deploy:` jobs (the crate `slipway-deploy` implements it).
/// Object-safe: the engine holds it as `Arc<dyn Deployer>` in
/// [`crate::RunOptions`], so the executors' generic types stay as they are.
pub trait Deployer: Send + Sync + 'static {
    /// Deploys, writing progress to `log` (lines are masked by the engine
    /// before they reach it). `Ok` holds a one-line summary, `Err` why the
    /// deployment failed (naming the target and the check).
    fn deploy<'a>(
        &'a self,
        request: DeployRequest<'a>,
        log: &'a mut dyn DeployLine,
        cancel: &'a CancelSignal,
    ) -> BoxFuture<'a, DeployResult>;
}

/// Where a deployment's progress lines go.
pub trait DeployLine: Send {
    fn line(&mut self, text: &str);
}

/// A shared [`Deployer`], printable in [`crate::RunOptions`]' `Debug`.
#[derive(Clone)]
pub struct DeployerHandle(pub std::sync::Arc<dyn Deployer>);

impl std::fmt::Debug for DeployerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deployer")
    }
}

/// What the dispatcher persists: a run's beginning, its records, its end.
///
/// Asynchronous, so that a database can stand behind it (the server); every
/// [`Store`] is one, through the blanket implementation below.
pub trait RunStore: Send + Sync + 'static {
    fn begin_run(&self, meta: &RunMeta) -> impl Future<Output = Result<String, StoreError>> + Send;
    fn record(
        &self,
        run: &str,
        record: &Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn finish_run(
        &self,
        run: &str,
        summary: &RunSummary,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<S: Store> RunStore for S {
    async fn begin_run(&self, meta: &RunMeta) -> Result<String, StoreError> {
        Store::begin_run(self, meta)
    }

    async fn record(&self, run: &str, record: &Record) -> Result<(), StoreError> {
        Store::record(self, run, record)
    }

    async fn finish_run(&self, run: &str, summary: &RunSummary) -> Result<(), StoreError> {
        Store::finish_run(self, run, summary)
    }
}

/// Persistence of runs, logs, artifacts and caches on the machine that runs
/// the jobs. Synchronous: each call is a small write (a line, a file), and
/// the job runner moves the heavy ones to a blocking thread.
///
/// Methods are synchronous and cheap (append a line, write a small file);
/// the engine moves the heavy ones (artifact hashing and copying, directory
/// caches) to a blocking thread.
pub trait Store: Send + Sync + 'static {
    type StepLog: StepLog;

    /// Allocates the next run number and records the run's metadata.
    fn begin_run(&self, meta: &RunMeta) -> Result<String, StoreError>;
    /// Appends one transition to the run's record. Called before the engine
    /// acts on it.
    fn record(&self, run: &str, record: &Record) -> Result<(), StoreError>;
    /// Opens the log of one step for appending.
    fn open_step_log(
        &self,
        run: &str,
        job_key: &str,
        step: usize,
    ) -> Result<Self::StepLog, StoreError>;
    /// Writes the final summary of a run.
    fn finish_run(&self, run: &str, summary: &RunSummary) -> Result<(), StoreError>;

    /// Stores the file or directory `rel_path` under the workspace `root`
    /// content-addressed. Refuses absolute paths, `..`, and symlinks that
    /// point outside the root.
    fn store_artifact(
        &self,
        root: &Path,
        name: &str,
        rel_path: &str,
    ) -> Result<ArtifactRecord, StoreError>;
    /// Puts an artifact back at its path under `root`.
    fn restore_artifact(&self, record: &ArtifactRecord, root: &Path) -> Result<(), StoreError>;

    /// Looks up a job cache entry by key.
    fn cache_get(&self, key: &Digest) -> Result<Option<CacheEntry>, StoreError>;
    fn cache_put(&self, key: &Digest, entry: &CacheEntry) -> Result<(), StoreError>;
    /// The key manifest of the job's previous run, for explaining a miss.
    fn last_manifest(&self, job_identity: &str) -> Result<Option<KeyManifest>, StoreError>;
    fn save_manifest(&self, job_identity: &str, manifest: &KeyManifest) -> Result<(), StoreError>;

    /// Restores a directory cache saved under `key` into `paths` (relative to
    /// `root`, or absolute / `~/`-prefixed). Returns whether it was found.
    fn dir_cache_restore(
        &self,
        key: &str,
        paths: &[String],
        root: &Path,
    ) -> Result<bool, StoreError>;
    /// Saves `paths` under `key` unless the key exists already.
    fn dir_cache_save(&self, key: &str, paths: &[String], root: &Path) -> Result<(), StoreError>;
}

/// An open step log.
pub trait StepLog: Send + 'static {
    fn write_line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]) -> Result<(), StoreError>;
    /// Flushes and closes the log.
    fn finish(self) -> Result<(), StoreError>;
}
