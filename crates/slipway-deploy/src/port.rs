//! The engine's deploy port (`slipway_engine::ports::Deployer`) over
//! [`Deployer`]: what `slipway run` and agents plug into the engine so that
//! `deploy:` jobs run the same everywhere.

use std::path::{Path, PathBuf};

use slipway_engine::ports::{
    BoxFuture, CancelSignal, DeployArtifact, DeployLine, DeployRequest as JobRequest, DeployResult,
};
use slipway_spec::deploy::Environment;

use crate::{Artifact, DeployLog, DeployRequest, Deployer, ReleaseInfo, short};

/// Where environment files live, relative to the repository root.
pub const ENVIRONMENTS_DIR: &str = ".slipway/environments";

/// Reads and validates `ROOT/.slipway/environments/NAME.yml`; the error is
/// every problem with file:line:column, or says which environments exist.
pub fn load_environment(root: &Path, name: &str) -> Result<Environment, String> {
    if !slipway_spec::is_environment_name(name) {
        return Err(format!(
            "`{}` is not an environment name",
            name.escape_debug()
        ));
    }
    let dir = root.join(ENVIRONMENTS_DIR);
    let shown = format!("{ENVIRONMENTS_DIR}/{name}.yml");
    let path = dir.join(format!("{name}.yml"));
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let known = environment_names(root);
            return Err(if known.is_empty() {
                format!(
                    "no environment `{name}`: {shown} does not exist (and {ENVIRONMENTS_DIR}/ holds none)"
                )
            } else {
                format!(
                    "no environment `{name}`: {shown} does not exist; environments: {}",
                    known.join(", ")
                )
            });
        }
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    let text = String::from_utf8_lossy(&bytes);
    slipway_spec::parse_environment(&text, &shown, name).map_err(|d| d.render(&text, false))
}

/// The environments defined under `ROOT/.slipway/environments/`, sorted.
pub fn environment_names(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join(ENVIRONMENTS_DIR)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".yml").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Resolves an image reference to its id (`sha256:…`) on the local engine:
/// a deployment names what it installs by digest before anything starts.
pub async fn resolve_image(reference: &str) -> Result<String, String> {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string());
    let docker = bollard::Docker::connect_with_unix(&socket, 30, bollard::API_DEFAULT_VERSION)
        .map_err(|e| format!("cannot reach the Docker engine at {socket}: {e}"))?
        .negotiate_version()
        .await
        .map_err(|e| format!("cannot reach the Docker engine at {socket}: {e}"))?;
    let image = docker
        .inspect_image(reference)
        .await
        .map_err(|e| format!("image `{reference}` is not on this Docker engine (no registry is used: build or load it first): {e}"))?;
    image
        .id
        .ok_or_else(|| format!("the Docker engine gave no id for image `{reference}`"))
}

/// The engine's port: environment files read from the workspace, state in
/// `state_dir`.
pub struct EnginePort {
    deployer: Deployer,
}

impl EnginePort {
    pub fn new(state_dir: impl Into<PathBuf>) -> EnginePort {
        EnginePort {
            deployer: Deployer::new(state_dir),
        }
    }
}

struct Lines<'a>(&'a mut dyn DeployLine);

impl DeployLog for Lines<'_> {
    fn line(&mut self, text: &str) {
        self.0.line(text);
    }
}

impl slipway_engine::ports::Deployer for EnginePort {
    fn deploy<'a>(
        &'a self,
        request: JobRequest<'a>,
        log: &'a mut dyn DeployLine,
        cancel: &'a CancelSignal,
    ) -> BoxFuture<'a, DeployResult> {
        Box::pin(async move {
            let recorded = self.deploy_job(request, log, cancel).await;
            // The record is the release, whatever the outcome; the job's result says whether
            // the rollout succeeded.
            let release = recorded
                .as_ref()
                .ok()
                .and_then(|record| serde_json::to_value(record).ok());
            let result = recorded
                .map_err(|e| e.to_string())
                .and_then(|record| crate::deployer::verdict(record).map_err(|e| e.to_string()))
                .map(|report| {
                    format!(
                        "{}: {} on {} targets of {}",
                        report.id,
                        short(&report.digest),
                        report.targets.len(),
                        report.environment
                    )
                });
            DeployResult { result, release }
        })
    }
}

impl EnginePort {
    /// Deploys one job; `Ok` whenever a release record was written.
    async fn deploy_job(
        &self,
        request: JobRequest<'_>,
        log: &mut dyn DeployLine,
        cancel: &CancelSignal,
    ) -> Result<crate::DeploymentRecord, crate::DeployError> {
        let environment = load_environment(request.root, &request.job.environment)
            .map_err(crate::DeployError::Config)?;
        let artifact = match request.artifact {
            DeployArtifact::File { name, path, digest } => Artifact::File { name, path, digest },
            DeployArtifact::Image { reference } => {
                let digest = resolve_image(&reference)
                    .await
                    .map_err(crate::DeployError::Config)?;
                Artifact::Image { reference, digest }
            }
        };
        let commit_time = match (&request.commit, request.commit_time) {
            (_, Some(time)) => Some(time),
            (Some(commit), None) => commit_time(request.root, commit).await,
            (None, None) => None,
        };
        let deploy = DeployRequest {
            environment: &environment,
            root: request.root,
            artifact,
            strategy: &request.job.strategy,
            run: request.run.to_string(),
            version: request.version.clone(),
            release: ReleaseInfo {
                commit: request.commit,
                commit_time,
                approvals: request.approvals,
                freeze_override: request.freeze_override,
            },
            approver: request
                .approver
                .map(|approver| crate::strategy::canary::PauseApprover {
                    approver,
                    job_key: request.job_key.to_owned(),
                }),
        };
        let mut lines = Lines(log);
        self.deployer
            .deploy_recorded(deploy, &mut lines, cancel.clone())
            .await
    }
}

/// The committer time (Unix seconds) of `commit` in the repository at
/// `root`: `git log -1 --format=%ct COMMIT`. `None` without git, outside a
/// repository, or for a commit git does not know (lead time then leaves the
/// release out).
pub async fn commit_time(root: &Path, commit: &str) -> Option<u64> {
    // Only an object name: nothing git could read as an option or a range.
    if commit.is_empty() || commit.len() > 64 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let output = tokio::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%ct", commit])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        return None;
    }
    std::str::from_utf8(&output.stdout)
        .ok()?
        .trim()
        .parse()
        .ok()
}
