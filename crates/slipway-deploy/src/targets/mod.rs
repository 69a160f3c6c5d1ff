//! Targets: how each kind installs, activates, deactivates, uninstalls and
//! is probed. [`TargetDriver`] dispatches to the kind's module; every
//! method reports what it did through the [`crate::DeployLog`].
//!
//! Every kind offers the same operations, used by the strategies:
//!
//! ```text
//! async fn install(&self, release: &Release, log: &mut dyn DeployLog) -> Result<(), TargetError>
//! async fn activate(&self, release: &Release, log: &mut dyn DeployLog) -> Result<(), TargetError>
//! async fn deactivate(&self, release: &Release, log: &mut dyn DeployLog) -> Result<(), TargetError>
//! async fn uninstall(&self, release: &Release, log: &mut dyn DeployLog) -> Result<(), TargetError>
//! async fn take_down(&self, release: &Release, remove: bool, log: &mut dyn DeployLog) -> Result<(), TargetError>
//! async fn probe(&self, probe: &HealthProbe, timeout: Duration, release: &Release) -> Result<(), String>
//! ```
//!
//! `local.rs` (processes on this machine, detached and tracked by pid),
//! `ssh.rs` (over one multiplexed OpenSSH connection per target,
//! `slipway-ssh`), `docker.rs` (containers through the Engine API).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use slipway_spec::deploy::{HealthProbe, ServiceDef, Target, TargetKind};

use crate::DeployLog;

/// One release on one target: what the lifecycle commands see.
#[derive(Clone, Debug)]
pub struct Release {
    /// The target's name.
    pub target: String,
    pub artifact: crate::Artifact,
    /// A short human version (e.g. the run number or the artifact's short digest).
    pub version: String,
    /// Where this release lives on the target (local and ssh: a directory
    /// named after the digest; docker: unused).
    pub dir: PathBuf,
    /// The port the service listens on (`$PORT`).
    pub port: Option<u16>,
    /// The service's `env:` plus ARTIFACT, DIGEST, VERSION, TARGET, PORT, RELEASE_DIR.
    pub env: Vec<(String, String)>,
}

impl Release {
    /// The release of `artifact` on `target`. Its directory: local targets
    /// `ENV_DIR/releases/TARGET/DIGEST`, ssh targets `DIR/releases/TARGET/DIGEST`
    /// on the host. `$ARTIFACT` names the copied file when `install` is a
    /// `copy` (the default of local targets), else the artifact itself.
    pub fn new(
        target: &Target,
        service: &ServiceDef,
        artifact: crate::Artifact,
        version: String,
        env_dir: &Path,
    ) -> Result<Release, TargetError> {
        let digest_dir = artifact.digest().replace(':', "-");
        let dir = match &target.kind {
            TargetKind::Ssh(ssh) => PathBuf::from(&ssh.dir),
            TargetKind::Local | TargetKind::Docker(_) => env_dir.to_path_buf(),
        }
        .join("releases")
        .join(&target.name)
        .join(&digest_dir);
        let copy_to = match (&service.install, &target.kind) {
            (Some(slipway_spec::deploy::Action::Copy { to }), _) => Some(to.as_str()),
            (None, TargetKind::Local) => Some("artifact"),
            _ => None,
        };
        let artifact_path = match (copy_to, &artifact) {
            (Some(to), _) => dir
                .join(
                    local::checked_relative(to)
                        .map_err(|e| TargetError(format!("target {}: {e}", target.name)))?,
                )
                .display()
                .to_string(),
            (None, crate::Artifact::File { path, .. }) => path.display().to_string(),
            (None, crate::Artifact::Image { reference, .. }) => reference.clone(),
        };
        let mut env = service.env.clone();
        env.extend([
            ("ARTIFACT".to_owned(), artifact_path),
            ("DIGEST".to_owned(), artifact.digest().to_owned()),
            ("VERSION".to_owned(), version.clone()),
            ("TARGET".to_owned(), target.name.clone()),
            (
                "PORT".to_owned(),
                target.port.map(|p| p.to_string()).unwrap_or_default(),
            ),
            ("RELEASE_DIR".to_owned(), dir.display().to_string()),
        ]);
        Ok(Release {
            target: target.name.clone(),
            artifact,
            version,
            dir,
            port: target.port,
            env,
        })
    }
}

/// Why a target operation failed, phrased for a user (names the target).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

pub mod docker;
pub mod local;
pub mod ssh;

/// The driver of one target, whatever its kind; the strategies only see this.
#[derive(Debug)]
pub enum TargetDriver {
    Local(local::LocalDriver),
    Ssh(ssh::SshDriver),
    Docker(docker::DockerDriver),
}

impl TargetDriver {
    /// The driver for `target` of an environment whose state lives in
    /// `env_dir` (`STATE/ENV`), running the actions of `service`.
    pub fn new(
        target: &Target,
        service: &ServiceDef,
        env_dir: &Path,
    ) -> Result<TargetDriver, TargetError> {
        match &target.kind {
            TargetKind::Local => Ok(TargetDriver::Local(local::LocalDriver::new(
                target, service, env_dir,
            ))),
            TargetKind::Ssh(ssh) => Ok(TargetDriver::Ssh(ssh::SshDriver::new(
                target, ssh, service, env_dir,
            )?)),
            TargetKind::Docker(docker) => Ok(TargetDriver::Docker(docker::DockerDriver::new(
                target, docker, service, env_dir,
            )?)),
        }
    }

    /// Puts the release's files in place (built-in `copy`, or a command).
    pub async fn install(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        match self {
            TargetDriver::Local(d) => d.install(release, log).await,
            TargetDriver::Ssh(d) => d.install(release, log).await,
            TargetDriver::Docker(d) => d.install(release, log).await,
        }
    }

    /// Starts the release (built-in `start`, or a command).
    pub async fn activate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        match self {
            TargetDriver::Local(d) => d.activate(release, log).await,
            TargetDriver::Ssh(d) => d.activate(release, log).await,
            TargetDriver::Docker(d) => d.activate(release, log).await,
        }
    }

    /// Stops the release (built-in `stop`, or a command).
    pub async fn deactivate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        match self {
            TargetDriver::Local(d) => d.deactivate(release, log).await,
            TargetDriver::Ssh(d) => d.deactivate(release, log).await,
            TargetDriver::Docker(d) => d.deactivate(release, log).await,
        }
    }

    /// Stops the release and, when `remove`, removes its files: [`TargetDriver::deactivate`]
    /// then [`TargetDriver::uninstall`], which ssh targets run as one remote script when both
    /// are built-ins.
    pub async fn take_down(
        &self,
        release: &Release,
        remove: bool,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        if let TargetDriver::Ssh(d) = self {
            return d.take_down(release, remove, log).await;
        }
        self.deactivate(release, log).await?;
        if remove {
            self.uninstall(release, log).await?;
        }
        Ok(())
    }

    /// Opens the target's connection ahead of its first operation (ssh: the master
    /// connection); nothing to do for local and docker targets.
    pub async fn connect(&self) -> Result<(), TargetError> {
        match self {
            TargetDriver::Ssh(d) => d.connect().await,
            TargetDriver::Local(_) | TargetDriver::Docker(_) => Ok(()),
        }
    }

    /// Whether [`TargetDriver::connect`] has anything to do.
    pub fn connects(&self) -> bool {
        matches!(self, TargetDriver::Ssh(_))
    }

    /// Removes the release's files (built-in `remove`, or a command).
    pub async fn uninstall(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        match self {
            TargetDriver::Local(d) => d.uninstall(release, log).await,
            TargetDriver::Ssh(d) => d.uninstall(release, log).await,
            TargetDriver::Docker(d) => d.uninstall(release, log).await,
        }
    }

    /// One health probe; `Err` says why it is not healthy.
    pub async fn probe(
        &self,
        probe: &HealthProbe,
        timeout: Duration,
        release: &Release,
    ) -> Result<(), String> {
        match self {
            TargetDriver::Local(d) => d.probe(probe, timeout, release).await,
            TargetDriver::Ssh(d) => d.probe(probe, timeout, release).await,
            TargetDriver::Docker(d) => d.probe(probe, timeout, release).await,
        }
    }

    /// The process a local target's `start` left running, if any.
    pub fn process(&self) -> Option<local::ProcessRecord> {
        match self {
            TargetDriver::Local(d) => d.process(),
            TargetDriver::Ssh(_) | TargetDriver::Docker(_) => None,
        }
    }
}

/// Most connections opened at once by [`connect_all`].
pub const CONNECTS_AT_ONCE: usize = 8;

/// Opens the connection of every driver given that has one ([`TargetDriver::connect`]), at
/// most [`CONNECTS_AT_ONCE`] at a time. The result of `drivers[i]` is at index `i` (`Ok` for
/// `None`).
pub async fn connect_all(drivers: &[Option<Arc<TargetDriver>>]) -> Vec<Result<(), TargetError>> {
    let mut results: Vec<Result<(), TargetError>> = drivers.iter().map(|_| Ok(())).collect();
    let mut pending = drivers
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i, d.as_ref()?)))
        .filter(|(_, d)| d.connects())
        .map(|(i, d)| (i, d.clone()));
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < CONNECTS_AT_ONCE {
            let Some((index, driver)) = pending.next() else {
                break;
            };
            running.spawn(async move { (index, driver.connect().await) });
        }
        match running.join_next().await {
            Some(Ok((index, result))) => {
                if let Some(slot) = results.get_mut(index) {
                    *slot = result;
                }
            }
            // A connect task that panicked: its target is left to connect on first use.
            Some(Err(_)) => {}
            None => break,
        }
    }
    results
}
