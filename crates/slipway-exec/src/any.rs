//! One executor for every job of a run: local processes, or Docker containers for the jobs
//! that say `runs-on: docker`. The Docker daemon is only contacted once the first such job
//! arrives, so a run without one never needs Docker.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use slipway_engine::ports::{
    CancelSignal, ExecError, Executor, LineSink, SecretMasker, StepCommand, StepExit, Workspace,
    WorkspaceRequest,
};
use slipway_engine::records::Digest;
use tokio::sync::OnceCell;

use crate::{
    DockerConfig, DockerExecutor, DockerWorkspace, LocalConfig, LocalExecutor, LocalWorkspace,
    SweepReport,
};

/// Runs local jobs as processes and `runs-on: docker` jobs in containers. Both kinds share the
/// workspace mode, input digests and output files. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AnyExecutor {
    local: LocalExecutor,
    docker_config: DockerConfig,
    docker: Arc<OnceCell<DockerExecutor>>,
    /// The outcome of the sweep run when Docker was first connected.
    sweep: Arc<OnceLock<Result<SweepReport, String>>>,
}

impl AnyExecutor {
    /// Jobs' directories as `local` says (in place or clean checkouts); Docker as `docker`
    /// says, connected on first use.
    pub fn new(local: LocalConfig, docker: DockerConfig) -> AnyExecutor {
        AnyExecutor {
            local: LocalExecutor::new(local),
            docker_config: docker,
            docker: Arc::default(),
            sweep: Arc::default(),
        }
    }

    /// The local executor, e.g. for its input statistics.
    pub fn local(&self) -> &LocalExecutor {
        &self.local
    }

    /// The Docker executor, once a job needed it.
    pub fn docker(&self) -> Option<&DockerExecutor> {
        self.docker.get()
    }

    /// What the sweep did when Docker was first connected (`None` before that): the objects
    /// of dead agents it removed, or why it could not look.
    pub fn sweep_report(&self) -> Option<&Result<SweepReport, String>> {
        self.sweep.get()
    }

    /// Connects to Docker on first use and sweeps what dead agents left behind.
    async fn docker_executor(&self) -> Result<&DockerExecutor, ExecError> {
        self.docker
            .get_or_try_init(|| async {
                let executor =
                    DockerExecutor::connect_sharing(self.local.clone(), self.docker_config.clone())
                        .await
                        .map_err(|e| {
                            ExecError(format!(
                                "runs-on: docker needs a Docker daemon: {e} (scripts/test \
                                 installs docker.io and starts dockerd)"
                            ))
                        })?;
                let swept = executor.sweep().await.map_err(|e| e.0);
                let _ = self.sweep.set(swept);
                Ok(executor)
            })
            .await
    }
}

impl Executor for AnyExecutor {
    type Workspace = AnyWorkspace;

    async fn prepare(&self, req: &WorkspaceRequest) -> Result<AnyWorkspace, ExecError> {
        if req.container.is_some() {
            let docker = self.docker_executor().await?;
            Ok(AnyWorkspace::Docker(Box::new(docker.prepare(req).await?)))
        } else {
            Ok(AnyWorkspace::Local(self.local.prepare(req).await?))
        }
    }
}

/// The workspace of an [`AnyExecutor`]'s job.
#[derive(Debug)]
pub enum AnyWorkspace {
    Local(LocalWorkspace),
    /// Boxed: it is much larger than a local workspace.
    Docker(Box<DockerWorkspace>),
}

impl Workspace for AnyWorkspace {
    fn root(&self) -> &Path {
        match self {
            AnyWorkspace::Local(ws) => ws.root(),
            AnyWorkspace::Docker(ws) => ws.root(),
        }
    }

    async fn run_step(
        &mut self,
        cmd: StepCommand<'_>,
        masker: &SecretMasker,
        sink: &mut dyn LineSink,
        cancel: &CancelSignal,
    ) -> StepExit {
        match self {
            AnyWorkspace::Local(ws) => ws.run_step(cmd, masker, sink, cancel).await,
            AnyWorkspace::Docker(ws) => ws.run_step(cmd, masker, sink, cancel).await,
        }
    }

    fn hash_inputs(&self, globs: &[String]) -> Result<Vec<(String, Digest)>, ExecError> {
        match self {
            AnyWorkspace::Local(ws) => ws.hash_inputs(globs),
            AnyWorkspace::Docker(ws) => ws.hash_inputs(globs),
        }
    }

    fn glob(&self, globs: &[String]) -> Result<Vec<String>, ExecError> {
        match self {
            AnyWorkspace::Local(ws) => ws.glob(globs),
            AnyWorkspace::Docker(ws) => ws.glob(globs),
        }
    }

    fn read_file(&self, rel: &str, max_bytes: u64) -> Result<Vec<u8>, ExecError> {
        match self {
            AnyWorkspace::Local(ws) => ws.read_file(rel, max_bytes),
            AnyWorkspace::Docker(ws) => ws.read_file(rel, max_bytes),
        }
    }

    fn output_file(&mut self, step: usize) -> Result<PathBuf, ExecError> {
        match self {
            AnyWorkspace::Local(ws) => ws.output_file(step),
            AnyWorkspace::Docker(ws) => ws.output_file(step),
        }
    }

    fn read_output_file(&mut self, step: usize) -> Result<Vec<u8>, ExecError> {
        match self {
            AnyWorkspace::Local(ws) => ws.read_output_file(step),
            AnyWorkspace::Docker(ws) => ws.read_output_file(step),
        }
    }

    async fn release(self) {
        match self {
            AnyWorkspace::Local(ws) => ws.release().await,
            AnyWorkspace::Docker(ws) => (*ws).release().await,
        }
    }
}
