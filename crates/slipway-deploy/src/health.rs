//! Health checks: probe a release every `interval` until `successes`
//! consecutive probes pass, or `max_wait` passes (then unhealthy, with the
//! last probe's error), or the deployment is cancelled.

use std::time::Duration;

use slipway_engine::ports::CancelSignal;
use slipway_spec::deploy::{Health, HealthProbe};
use tokio::time::{Instant, sleep_until};

use crate::targets::{Release, TargetDriver};

/// Why a release did not become healthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// `max_wait` passed; `last` is the last probe's error.
    #[error("health check {check} not passing after {waited:?}: {last}")]
    Unhealthy {
        /// The check, as written (`GET /healthz`, `command: …`).
        check: String,
        waited: Duration,
        last: String,
    },
    #[error("cancelled during the health check")]
    Cancelled,
}

/// The check as a person reads it in messages.
pub fn describe(probe: &HealthProbe) -> String {
    match probe {
        HealthProbe::Http { path } => format!("`GET {path}`"),
        HealthProbe::Command(text) => format!("`{text}`"),
    }
}

/// Probes until healthy. The first probe is immediate; a failed probe
/// resets the count of consecutive successes.
pub async fn wait_healthy(
    driver: &TargetDriver,
    health: &Health,
    release: &Release,
    cancel: &mut CancelSignal,
) -> Result<(), HealthError> {
    let started = Instant::now();
    let deadline = started + health.max_wait;
    let needed = health.successes.max(1);
    let mut passed = 0u32;
    let mut last = "no probe ran".to_owned();
    loop {
        if *cancel.borrow() {
            return Err(HealthError::Cancelled);
        }
        let probe_started = Instant::now();
        match driver.probe(&health.check, health.timeout, release).await {
            Ok(()) => {
                passed += 1;
                if passed >= needed {
                    return Ok(());
                }
            }
            Err(error) => {
                passed = 0;
                last = error;
            }
        }
        let next = probe_started + health.interval;
        if next > deadline {
            return Err(HealthError::Unhealthy {
                check: describe(&health.check),
                waited: started.elapsed(),
                last,
            });
        }
        tokio::select! {
            _ = sleep_until(next) => {}
            changed = cancel.changed() => {
                // A dropped sender can never cancel: keep going without it.
                if changed.is_err() {
                    sleep_until(next).await;
                }
            }
        }
    }
}
