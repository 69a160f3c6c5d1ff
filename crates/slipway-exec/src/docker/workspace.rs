//! A job's workspace in Docker: the job's directory (a [`LocalWorkspace`], so files, globs,
//! hashing and output files behave exactly as for a local job), mounted into the job's
//! container, where each step runs as an exec.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::Docker;
use slipway_engine::ports::{
    CancelSignal, ContainerRequest, ExecError, LineSink, SecretMasker, Shell, StepCommand,
    StepExit, Workspace,
};
use slipway_engine::records::Digest;

use super::api;
use super::exec::{self, ExecSpec};
use super::image;
use super::job::{JobContext, JobObjects};
use super::step_container;
use crate::LocalWorkspace;
use crate::workspace::ScriptFile;

/// Longest script passed as an argument; Linux refuses a single argument over 128 KiB, so a
/// longer one is written to a file in the (mounted) output directory.
const MAX_INLINE_SCRIPT: usize = 100 * 1024;

/// Runs `$1` with `bash -e` when the image has bash, else with `sh -e`, so that the default
/// shell works in images without bash (busybox, alpine). The script is passed as `$1`, never
/// pasted into this text.
const BASH_OR_SH: &str =
    "command -v bash >/dev/null 2>&1 && exec bash -e -c \"$1\" || exec sh -e -c \"$1\"";
/// The same for a script in a file.
const BASH_OR_SH_FILE: &str =
    "command -v bash >/dev/null 2>&1 && exec bash -e \"$1\" || exec sh -e \"$1\"";

/// A job running in a container, with its services. [`Workspace::release`] removes every
/// container and the network; dropping the workspace without releasing it does the same in
/// the background.
#[derive(Debug)]
pub struct DockerWorkspace {
    pub(crate) dir: Option<LocalWorkspace>,
    pub(crate) docker: Docker,
    pub(crate) grace: std::time::Duration,
    pub(crate) request: ContainerRequest,
    pub(crate) objects: JobObjects,
    pub(crate) prefix: String,
    pub(crate) labels: HashMap<String, String>,
    pub(crate) binds: Vec<String>,
    /// Containers of steps with an image of their own that are running now.
    pub(crate) step_containers: Vec<String>,
    /// Images already made available for steps of this job.
    pub(crate) images_ready: Vec<String>,
    /// Numbers step containers and script files.
    pub(crate) next_step: u64,
    /// The root as the `LocalWorkspace` has it, kept for `root()` after release started.
    pub(crate) root: Arc<Path>,
}

impl DockerWorkspace {
    /// The name of the job's container, e.g. for `docker exec` from a benchmark.
    pub fn container_id(&self) -> Option<&str> {
        self.objects.container.as_deref()
    }

    /// The network of the job's services, if it has any.
    pub fn network(&self) -> Option<&str> {
        self.objects.network.as_deref()
    }

    fn dir(&self) -> Result<&LocalWorkspace, ExecError> {
        self.dir
            .as_ref()
            .ok_or_else(|| ExecError("the workspace was released".to_owned()))
    }

    /// The command line of a step: its shell with `-e`, the script inline or from a file.
    fn argv(&mut self, cmd: &StepCommand<'_>) -> Result<(Vec<String>, Option<ScriptFile>), String> {
        let (inline, file) = if cmd.script.len() <= MAX_INLINE_SCRIPT {
            (cmd.script.to_owned(), None)
        } else {
            self.next_step += 1;
            let path = self
                .dir()
                .and_then(|d| d.script_path(self.next_step))
                .map_err(|e| e.0)?;
            let file = ScriptFile::write_at(path, cmd.script)?;
            (file.path().to_string_lossy().into_owned(), Some(file))
        };
        let argv = match (cmd.shell, file.is_some()) {
            (Shell::Sh, false) => vec!["sh".into(), "-e".into(), "-c".into(), inline],
            (Shell::Sh, true) => vec!["sh".into(), "-e".into(), inline],
            (Shell::Bash, from_file) => {
                let wrapper = if from_file {
                    BASH_OR_SH_FILE
                } else {
                    BASH_OR_SH
                };
                vec![
                    "sh".into(),
                    "-c".into(),
                    wrapper.into(),
                    "sh".into(),
                    inline,
                ]
            }
        };
        Ok((argv, file))
    }

    /// Runs a step in a container of its own.
    async fn run_in_own_container(
        &mut self,
        image: &str,
        process: StepProcess,
        timeout: Option<std::time::Duration>,
        masker: &SecretMasker,
        sink: &mut dyn LineSink,
        cancel: &CancelSignal,
    ) -> StepExit {
        if !self.images_ready.iter().any(|ready| ready == image) {
            if let Err(e) = image::ensure(&self.docker, image, self.request.pull).await {
                return StepExit::SpawnFailed(e.0);
            }
            self.images_ready.push(image.to_owned());
        }
        self.next_step += 1;
        let context = JobContext {
            docker: &self.docker,
            prefix: &self.prefix,
            labels: &self.labels,
            binds: &self.binds,
        };
        let body = match context.container_body(
            image,
            process.argv,
            process.env,
            &process.cwd,
            &self.request,
            self.objects.network.as_deref(),
        ) {
            Ok(body) => body,
            Err(e) => return StepExit::SpawnFailed(e.0),
        };
        let name = format!("{}-step-{}", self.prefix, self.next_step);
        let id = match context.create(&name, body).await {
            Ok(id) => id,
            Err(e) => return StepExit::SpawnFailed(e.0),
        };
        self.step_containers.push(id.clone());
        let exit =
            step_container::run(&self.docker, &id, timeout, self.grace, masker, sink, cancel).await;
        if api::remove_container(&self.docker, &id).await.is_ok() {
            self.step_containers.retain(|c| c != &id);
        }
        exit
    }
}

/// What a step runs, in which environment and directory.
struct StepProcess {
    argv: Vec<String>,
    /// `KEY=VALUE` pairs (may hold secrets: never logged).
    env: Vec<String>,
    cwd: PathBuf,
}

impl Workspace for DockerWorkspace {
    fn root(&self) -> &Path {
        &self.root
    }

    async fn run_step(
        &mut self,
        cmd: StepCommand<'_>,
        masker: &SecretMasker,
        sink: &mut dyn LineSink,
        cancel: &CancelSignal,
    ) -> StepExit {
        let cwd = match crate::paths::step_cwd(&self.root, cmd.workdir) {
            Ok(cwd) => cwd,
            Err(message) => return StepExit::SpawnFailed(message),
        };
        let (argv, script_file) = match self.argv(&cmd) {
            Ok(argv) => argv,
            Err(e) => return StepExit::SpawnFailed(e),
        };
        let env: Vec<String> = cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let process = StepProcess { argv, env, cwd };
        let exit = if let Some(image) = cmd.image {
            self.run_in_own_container(image, process, cmd.timeout, masker, sink, cancel)
                .await
        } else {
            let Some(container) = self.objects.container.as_deref() else {
                return StepExit::SpawnFailed("the job's container is gone".to_owned());
            };
            let spec = ExecSpec {
                container,
                argv: process.argv,
                env: process.env,
                workdir: process.cwd.to_string_lossy().into_owned(),
                timeout: cmd.timeout,
                grace: self.grace,
            };
            exec::run(&self.docker, spec, masker, sink, cancel).await
        };
        drop(script_file);
        exit
    }

    fn hash_inputs(&self, globs: &[String]) -> Result<Vec<(String, Digest)>, ExecError> {
        self.dir()?.hash_inputs(globs)
    }

    fn glob(&self, globs: &[String]) -> Result<Vec<String>, ExecError> {
        self.dir()?.glob(globs)
    }

    fn read_file(&self, rel: &str, max_bytes: u64) -> Result<Vec<u8>, ExecError> {
        self.dir()?.read_file(rel, max_bytes)
    }

    fn output_file(&mut self, step: usize) -> Result<PathBuf, ExecError> {
        self.dir
            .as_mut()
            .ok_or_else(|| ExecError("the workspace was released".to_owned()))?
            .output_file(step)
    }

    fn read_output_file(&mut self, step: usize) -> Result<Vec<u8>, ExecError> {
        self.dir
            .as_mut()
            .ok_or_else(|| ExecError("the workspace was released".to_owned()))?
            .read_output_file(step)
    }

    async fn release(mut self) {
        // Failures cannot be reported from here; what is left carries the labels the sweep
        // looks for.
        let _ = self.remove_objects().await;
        if let Some(dir) = self.dir.take() {
            dir.release().await;
        }
    }
}

impl DockerWorkspace {
    /// Removes the step containers, the job's container, the services and the network.
    pub(crate) async fn remove_objects(&mut self) -> Result<(), String> {
        let mut failures = Vec::new();
        for id in std::mem::take(&mut self.step_containers) {
            if let Err(e) = api::remove_container(&self.docker, &id).await {
                failures.push(e);
            }
        }
        if let Err(e) = self.objects.remove(&self.docker).await {
            failures.push(e);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

impl Drop for DockerWorkspace {
    fn drop(&mut self) {
        let leftover = self.objects.container.is_some()
            || self.objects.network.is_some()
            || !self.objects.services.is_empty()
            || !self.step_containers.is_empty();
        if !leftover {
            return;
        }
        // Dropped without release (an aborted task): remove the objects in the background if
        // a runtime is there to do it; otherwise the sweep finds them by their labels.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let docker = self.docker.clone();
            let mut objects = std::mem::take(&mut self.objects);
            let steps = std::mem::take(&mut self.step_containers);
            runtime.spawn(async move {
                for id in steps {
                    let _ = api::remove_container(&docker, &id).await;
                }
                let _ = objects.remove(&docker).await;
            });
        }
    }
}
