//! Deployments: an artifact installed across an environment's targets by a
//! strategy, each target drained from the load balancer while it is
//! upgraded and put back when healthy; every install has its uninstall.
//!
//! ```text
//! Deployer::deploy(request)
//!   ├─ checks before touching: targets, HAProxy, `requires` (promotion), freeze windows
//!   └─ strategy (rolling: batches │ blue-green: idle set, switch │ canary: weights, verify, promote)
//!        └─ per target: drain (HAProxy) ─► deactivate + uninstall old ─► install + activate new
//!                        ─► health until healthy ─► ready (HAProxy)
//!        └─ failures over the threshold: stop, roll the updated targets back the same way
//! ```
//!
//! State lives in a directory (`.slipway/local/environments/` under
//! `slipway run`, the agent's work directory under the server):
//! `ENV/state.json` (each target's digest, version, phase, process or
//! container, intended load-balancer state; rewritten atomically at every
//! transition, so a target is never drained or half-installed without the
//! state saying so), `ENV/deployments.jsonl` (append-only records: which
//! digest went to which target, when, the outcome) and `ENV/artifacts/`
//! (every deployed file artifact by digest, for rollback).
//!
//! The modules: [`targets`] (how each kind installs, starts, stops, probes),
//! [`health`], [`strategy`] (rolling, blue-green, canary), [`state`] (state and
//! records), [`deployer`] (the entry points), [`stop`] (`Deployer::stop`),
//! [`gates`] (promotion and freeze windows, checked before anything is
//! touched), [`dora`] (DORA metrics from the records).

pub mod deployer;
pub mod dora;
pub mod gates;
pub mod health;
mod lock;
pub mod port;
pub mod state;
pub mod stop;
pub mod strategy;
pub mod targets;

use std::path::PathBuf;

pub use deployer::{
    DeployReport, DeployRequest, Deployer, ReleaseInfo, TargetReport, Topology, TopologyTarget,
};
pub use slipway_engine::ports::CancelSignal;
pub use slipway_engine::records::Digest;
pub use state::{DeploymentRecord, EnvState, Outcome, Phase, StrategyRecord, TargetState};

/// What is deployed, resolved to its digest before anything is installed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Artifact {
    /// A file on this machine (an artifact of the run, restored), BLAKE3.
    File {
        name: String,
        path: PathBuf,
        digest: Digest,
    },
    /// A container image; `digest` is its image id (`sha256:…`).
    Image { reference: String, digest: String },
}

impl Artifact {
    /// The digest that identifies the release.
    pub fn digest(&self) -> &str {
        match self {
            Artifact::File { digest, .. } => &digest.0,
            Artifact::Image { digest, .. } => digest,
        }
    }

    /// The artifact's name (file artifacts) or image reference.
    pub fn name(&self) -> &str {
        match self {
            Artifact::File { name, .. } => name,
            Artifact::Image { reference, .. } => reference,
        }
    }

    /// The first 12 characters of the digest, for messages.
    pub fn short_digest(&self) -> &str {
        short(self.digest())
    }
}

/// The first 12 characters of a digest (after any `sha256:`), for messages.
pub fn short(digest: &str) -> &str {
    let digest = digest.strip_prefix("sha256:").unwrap_or(digest);
    digest.get(..12).unwrap_or(digest)
}

/// A deployment's progress, line by line, for the job's log. Lines are
/// masked by the caller's sink.
pub trait DeployLog: Send {
    fn line(&mut self, text: &str);
}

/// A [`DeployLog`] that keeps every line (tests, the API's step log).
#[derive(Debug, Default, Clone)]
pub struct VecLog(pub Vec<String>);

impl DeployLog for VecLog {
    fn line(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
}

/// Why a deployment failed; the message names the target and the cause.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The environment cannot be used as written (unknown HAProxy backend or
    /// server, missing socket, bad target settings…).
    #[error("{0}")]
    Config(String),
    /// A target failed and the rollout stopped (after rolling back).
    #[error("{0}")]
    Failed(String),
    /// The state directory could not be read or written.
    #[error("deployment state: {0}")]
    State(String),
    #[error("the deployment was cancelled")]
    Cancelled,
}
