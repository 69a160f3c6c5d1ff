//! Outcomes of measurements, metrics, analyses and whole verifications.

use serde::{Deserialize, Serialize};

/// Argo Rollouts' analysis phases, ordered from best to worst (`Ord` follows that order, so
/// the worst of several is their `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Enough evidence, all good: go on.
    Successful,
    /// Not enough evidence either way: pause for a person.
    Inconclusive,
    /// The evidence could not be collected (query errors, provider down): treat as not passed.
    Error,
    /// The canary is worse: abort and roll back.
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Successful => "Successful",
            Phase::Inconclusive => "Inconclusive",
            Phase::Error => "Error",
            Phase::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
