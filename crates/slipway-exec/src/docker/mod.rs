//! The Docker executor: each job in a container of its own, each step an exec in it.
//!
//! # Design note
//!
//! **One container per job, one exec per step.** [`DockerExecutor::prepare`] makes the job's
//! directory exactly as the local executor does (in place or a clean checkout: the same code,
//! so files, globs, input hashing, `read_file` and output files behave identically), then
//! starts a container from the job's image kept alive by a `sleep` loop, with `init: true` so
//! that PID 1 reaps orphans and passes signals on. The workspace root and the directory of
//! output files are bind-mounted at the **same absolute paths**, so every path the engine
//! hands to a step (`$SLIPWAY_OUTPUT`, the workdir) works unchanged inside. A step is a
//! `docker exec` of `sh -e -c SCRIPT` (for `shell: bash`, a wrapper that uses bash when the
//! image has it and sh otherwise: `sh -c 'command -v bash … && exec bash -e -c "$1" || exec sh
//! -e -c "$1"' sh SCRIPT`). An exec costs a fraction of a new container per step.
//!
//! **Services** get a network of their own per job (`slipway-<run>-<job>-<random>`), on which
//! each service container has its name as alias; the job's container joins it. A service is
//! waited for until its health command (`sh -c CMD`, run in it every `interval` up to
//! `timeout`) exits 0, or without one until it runs. No port is ever published.
//!
//! **Stopping a step.** The Engine API cannot kill an exec. The agent runs on the Docker host
//! (as root), so it does what the local executor does, with signals from the host: the exec's
//! host pid comes from the exec's inspection, and its tree (descendants, plus its session and
//! process group, which hold the orphans re-parented to the container's init) gets SIGTERM,
//! the grace period, then SIGKILL. Background processes a step leaves behind after a normal
//! exit go the same way. A step with an `image:` of its own runs in a container of its own,
//! stopped with SIGTERM to the container, the grace period, SIGKILL, and removed. A step
//! whose future is dropped mid-way (an aborted task) is not signalled: its exec lives until
//! the job's container is removed.
//!
//! **Clean-up.** Every object carries the labels `slipway.managed=true`, `slipway.run`,
//! `slipway.job` and `slipway.owner=<pid>:<start time>`. `release` removes the containers
//! (with their anonymous volumes) and the network, after success, failure or cancellation;
//! a workspace dropped without release removes them in the background. What survives a crash
//! of the agent is removed by [`DockerExecutor::sweep`] when an agent starts: it removes the
//! labelled objects whose owner process no longer runs (pid gone, or reused by a process
//! started at another time). The owner check reads this machine's `/proc`, which is right
//! because agents run on the Docker host.

mod api;
mod exec;
mod host;
mod image;
mod job;
mod step_container;
mod sweep;
mod workspace;

use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use slipway_engine::ports::{ExecError, Executor, Workspace, WorkspaceRequest};

use crate::{LocalConfig, LocalExecutor};
pub use sweep::SweepReport;
pub use workspace::DockerWorkspace;

/// Settings of a [`DockerExecutor`] beyond the workspace mode (which a [`LocalConfig`] gives).
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// Time between SIGTERM and SIGKILL when a step is stopped.
    pub grace: Duration,
    /// The daemon's Unix socket (a path or `unix://` URL); `None`: `$DOCKER_HOST` when it
    /// names a Unix socket, else `/var/run/docker.sock`.
    pub socket: Option<String>,
}

impl Default for DockerConfig {
    fn default() -> DockerConfig {
        DockerConfig {
            grace: Duration::from_secs(5),
            socket: None,
        }
    }
}

impl DockerConfig {
    /// Sets the grace period between SIGTERM and SIGKILL.
    pub fn grace(mut self, grace: Duration) -> DockerConfig {
        self.grace = grace;
        self
    }

    /// Sets the daemon's socket.
    pub fn socket(mut self, socket: impl Into<String>) -> DockerConfig {
        self.socket = Some(socket.into());
        self
    }
}

/// Runs `runs-on: docker` jobs in containers. Cheap to share: clone it or put it in an `Arc`.
#[derive(Debug, Clone)]
pub struct DockerExecutor {
    docker: Docker,
    /// Makes the jobs' directories, as for local jobs.
    dirs: LocalExecutor,
    grace: Duration,
    /// `<pid>:<start time>` of this process.
    owner: Arc<str>,
}

impl DockerExecutor {
    /// Connects to the Docker daemon (negotiating the API version), with jobs' directories
    /// made as `workspaces` says.
    pub async fn connect(
        workspaces: LocalConfig,
        config: DockerConfig,
    ) -> Result<DockerExecutor, ExecError> {
        DockerExecutor::connect_sharing(LocalExecutor::new(workspaces), config).await
    }

    /// Connects, sharing the directories (and their input digests and output files) of an
    /// existing local executor.
    pub(crate) async fn connect_sharing(
        dirs: LocalExecutor,
        config: DockerConfig,
    ) -> Result<DockerExecutor, ExecError> {
        let docker = api::connect(config.socket.as_deref()).await?;
        docker
            .ping()
            .await
            .map_err(|e| ExecError(format!("cannot reach the Docker daemon: {e}")))?;
        Ok(DockerExecutor {
            docker,
            dirs,
            grace: config.grace,
            owner: api::owner_identity().into(),
        })
    }

    /// Removes containers and networks that Slipway agents left behind when they died (see
    /// the module documentation). Objects of live agents, this one included, are kept.
    pub async fn sweep(&self) -> Result<SweepReport, ExecError> {
        sweep::sweep(&self.docker).await
    }

    /// The client, for tools and tests.
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

impl Executor for DockerExecutor {
    type Workspace = DockerWorkspace;

    async fn prepare(&self, req: &WorkspaceRequest) -> Result<DockerWorkspace, ExecError> {
        let Some(request) = &req.container else {
            return Err(ExecError(format!(
                "job `{}` does not run on docker, but this executor runs containers only",
                req.job_key
            )));
        };
        let dir = self.dirs.prepare_dir(req).await?;
        let root: Arc<std::path::Path> = dir.root().into();
        let outputs = match dir.output_dir() {
            Ok(outputs) => outputs,
            Err(e) => {
                dir.release().await;
                return Err(e);
            }
        };
        let binds = [root.as_ref(), outputs.as_path()]
            .iter()
            .map(|p| {
                let p = p.to_string_lossy();
                format!("{p}:{p}")
            })
            .collect::<Vec<_>>();
        let prefix = api::job_prefix(&req.run, &req.job_key);
        let labels = api::job_labels(&req.run, &req.job_key, &self.owner);
        let mut workspace = DockerWorkspace {
            dir: Some(dir),
            docker: self.docker.clone(),
            grace: self.grace,
            request: request.clone(),
            objects: job::JobObjects::default(),
            prefix,
            labels,
            binds,
            step_containers: Vec::new(),
            images_ready: vec![request.image.clone()],
            next_step: 0,
            root,
        };
        let context = job::JobContext {
            docker: &self.docker,
            prefix: &workspace.prefix,
            labels: &workspace.labels,
            binds: &workspace.binds,
        };
        let started = context
            .start(request, &workspace.root, &mut workspace.objects)
            .await;
        match started {
            Ok(()) => Ok(workspace),
            Err(e) => {
                workspace.release().await;
                Err(ExecError(format!("job `{}`: {}", req.job_key, e.0)))
            }
        }
    }
}
