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
//! async fn probe(&self, probe: &HealthProbe, timeout: Duration, release: &Release) -> Result<(), String>
//! ```
//!
//! `local.rs` (processes on this machine, detached and tracked by pid),
//! `ssh.rs` (over one multiplexed OpenSSH connection per target,
//! `slipway-ssh`), `docker.rs` (containers through the Engine API).

use std::path::PathBuf;

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

/// Why a target operation failed, phrased for a user (names the target).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

pub mod docker;
pub mod local;
pub mod ssh;
