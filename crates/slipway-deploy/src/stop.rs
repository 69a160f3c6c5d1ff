//! [`Deployer::stop`]: every target of an environment taken out of the pool
//! (drain, then maint), its release deactivated and uninstalled, so that
//! nothing of the environment keeps running (local targets run detached and
//! outlive `slipway run`). Under the environment's lock, like a deployment;
//! `state.json` says what is happening at each step, and the deployment
//! records stay, so a later deployment starts afresh.
//!
//! Unlike a deployment, a stop does not give up on the first problem: a
//! missing HAProxy is logged and the targets are stopped without draining,
//! and a target that cannot be stopped is marked `failed` while the others
//! are stopped all the same.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use slipway_engine::ports::CancelSignal;
use slipway_lb::{HaproxyClient, State};
use slipway_spec::deploy::{Environment, LoadBalancer, Target};

use crate::deployer::{Deployer, client_for};
use crate::state::{EnvFiles, LbIntent, Phase, TargetState};
use crate::targets::{Release, TargetDriver, connect_all};
use crate::{DeployError, DeployLog};

/// How often HAProxy is asked whether a draining server's sessions are gone.
const DRAIN_POLL: Duration = Duration::from_millis(20);

impl Deployer {
    /// Stops the environment: for each target, drain then `maint` in HAProxy,
    /// deactivate and uninstall its release, reset its state (the deployment
    /// records are kept). `Ok` when every target is down; `Err(Failed)`
    /// naming each target that could not be stopped (the others are stopped
    /// all the same, and the failed ones are marked `failed` in the state).
    pub async fn stop(
        &self,
        environment: &Environment,
        root: &Path,
        log: &mut dyn DeployLog,
        cancel: CancelSignal,
    ) -> Result<(), DeployError> {
        let files = EnvFiles::new(self.state_dir(), &environment.name);
        let _lock = crate::lock::acquire(
            &files.dir,
            &format!("slipway env stop (pid {})", std::process::id()),
            log,
            &cancel,
        )
        .await?;
        let lb = environment.load_balancer.as_ref().and_then(|config| {
            match client_for(&config.haproxy, root) {
                Ok(client) => Some((client, config)),
                Err(why) => {
                    log.line(&format!(
                        "HAProxy: {why}; stopping the targets without draining them"
                    ));
                    None
                }
            }
        });
        let state = files.load_state()?;
        let drivers: Vec<Result<Arc<TargetDriver>, String>> = environment
            .targets
            .iter()
            .map(|target| {
                TargetDriver::new(target, &environment.service, &files.dir)
                    .map(Arc::new)
                    .map_err(|e| e.0)
            })
            .collect();
        // The connections of the targets that run something, all opened at once.
        let to_connect: Vec<Option<Arc<TargetDriver>>> = environment
            .targets
            .iter()
            .zip(&drivers)
            .map(|(target, driver)| {
                let deployed = state
                    .targets
                    .get(&target.name)
                    .is_some_and(|s| s.digest.is_some());
                driver.as_ref().ok().filter(|_| deployed).cloned()
            })
            .collect();
        let connected = connect_all(&to_connect).await;

        let mut failures = Vec::new();
        for ((target, driver), connected) in environment.targets.iter().zip(drivers).zip(connected)
        {
            if *cancel.borrow() {
                return Err(DeployError::Cancelled);
            }
            if let Some((client, config)) = &lb {
                set(&files, target, |t| {
                    t.lb = Some(LbIntent::Maint);
                    t.phase = Phase::Draining;
                })?;
                take_out_of_pool(client, config, target, log).await;
            }
            let current = files
                .load_state()?
                .targets
                .get(&target.name)
                .cloned()
                .unwrap_or_default();
            let Some(digest) = current.digest.clone() else {
                set(&files, target, |t| t.phase = Phase::New)?;
                log.line(&format!("{}: nothing deployed", target.name));
                continue;
            };
            let taken_down = match (driver, connected) {
                (Err(error), _) => Err(error),
                // Its connection failed a moment ago: say so rather than wait for it again.
                (Ok(_), Err(error)) => Err(error.0),
                (Ok(driver), Ok(())) => {
                    set(&files, target, |t| t.phase = Phase::Deactivating)?;
                    take_down(environment, &files, target, &current, &digest, &driver, log).await
                }
            };
            match taken_down {
                Ok(()) => {
                    set(&files, target, |t| {
                        *t = TargetState {
                            lb: t.lb,
                            message: Some("stopped by `slipway env stop`".to_owned()),
                            ..TargetState::default()
                        };
                    })?;
                    log.line(&format!("{}: stopped and removed", target.name));
                }
                Err(error) => {
                    set(&files, target, |t| {
                        t.phase = Phase::Failed;
                        t.message = Some(format!("stop failed: {error}"));
                    })?;
                    log.line(&format!("{}: FAILED: {error}", target.name));
                    failures.push(error);
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(DeployError::Failed(format!(
                "environment {}: {} target(s) could not be stopped: {}",
                environment.name,
                failures.len(),
                failures.join("; ")
            )))
        }
    }
}

/// `set server … drain`, wait for its sessions to end (or the drain timeout), `… maint`.
/// HAProxy failing is logged, not fatal: the target is stopped anyway.
async fn take_out_of_pool(
    client: &HaproxyClient,
    config: &LoadBalancer,
    target: &Target,
    log: &mut dyn DeployLog,
) {
    let server = target.lb_server.as_str();
    let backend = config.backend.as_str();
    let drained = async {
        client.set_state(backend, server, State::Drain).await?;
        client
            .wait_drained(backend, server, config.drain_timeout, DRAIN_POLL)
            .await?;
        client.set_state(backend, server, State::Maint).await
    };
    match drained.await {
        Ok(()) => log.line(&format!("{}: {backend}/{server} in maint", target.name)),
        Err(error) => log.line(&format!(
            "{}: HAProxy {backend}/{server}: {error}; stopping it anyway",
            target.name
        )),
    }
}

/// Deactivates and uninstalls the release `current` describes.
async fn take_down(
    environment: &Environment,
    files: &EnvFiles,
    target: &Target,
    current: &TargetState,
    digest: &str,
    driver: &TargetDriver,
    log: &mut dyn DeployLog,
) -> Result<(), String> {
    let artifact = files.kept_artifact(
        digest,
        current.artifact_name.as_deref().unwrap_or("artifact"),
    );
    let release = Release::new(
        target,
        &environment.service,
        artifact,
        current.version.clone().unwrap_or_default(),
        &files.dir,
    )
    .map_err(|e| e.0)?;
    driver.take_down(&release, true, log).await.map_err(|e| e.0)
}

/// Changes one target in `state.json` (re-read first: the file is the truth).
fn set(
    files: &EnvFiles,
    target: &Target,
    change: impl FnOnce(&mut TargetState),
) -> Result<(), DeployError> {
    let mut state = files.load_state()?;
    change(state.targets.entry(target.name.clone()).or_default());
    files.save_state(&state)
}
