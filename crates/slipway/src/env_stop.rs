//! `slipway env stop ENV`: every target taken out of the pool (drain, then
//! maint), its release deactivated and uninstalled, so that nothing of the
//! environment keeps running (local targets run detached and outlive
//! `slipway run`). `state.json` says so at each step; the deployment
//! records stay, so a later `slipway run` deploys afresh.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use slipway_deploy::state::{EnvFiles, LbIntent, Phase, TargetState};
use slipway_deploy::targets::{Release, TargetDriver};
use slipway_deploy::{Artifact, DeployLog, Digest};
use slipway_lb::{Endpoint, HaproxyClient};
use slipway_spec::deploy::{Environment, HaproxyAddress, Target};

use crate::Exit;
use crate::args::EnvStopArgs;
use crate::env;
use crate::output;

struct Printed;

impl DeployLog for Printed {
    fn line(&mut self, text: &str) {
        for line in text.split('\n') {
            output::line(line);
        }
    }
}

/// `slipway env stop ENV`: 0 when every target is down, 1 when one could
/// not be stopped (the others are stopped all the same).
pub fn stop(args: EnvStopArgs) -> Exit {
    let root = env::root(&args.repo);
    let environment = match env::load(&root, &args.environment) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    let runtime = match env::runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    let files = EnvFiles::new(&root.join(env::STATE_DIR), &environment.name);
    let failures = runtime.block_on(stop_all(&environment, &root, &files));
    if failures.is_empty() {
        output::line(format!(
            "environment {}: every target stopped",
            environment.name
        ));
        Exit::Success
    } else {
        for failure in &failures {
            eprintln!("error: {failure}");
        }
        Exit::Failure
    }
}

async fn stop_all(environment: &Environment, root: &Path, files: &EnvFiles) -> Vec<String> {
    let mut failures = Vec::new();
    let lb =
        environment
            .load_balancer
            .as_ref()
            .and_then(|config| match client(&config.haproxy, root) {
                Ok(client) => Some((client, config)),
                Err(why) => {
                    output::line(format!(
                        "HAProxy: {why}; stopping the targets without draining them"
                    ));
                    None
                }
            });
    for target in &environment.targets {
        let current = match files.load_state() {
            Ok(state) => state.targets.get(&target.name).cloned().unwrap_or_default(),
            Err(error) => {
                failures.push(error.to_string());
                return failures;
            }
        };
        if let Some((client, config)) = &lb {
            let server = &target.lb_server;
            if let Err(error) = set(files, target, |t| {
                t.lb = Some(LbIntent::Maint);
                t.phase = Phase::Draining;
            }) {
                failures.push(error);
                continue;
            }
            let drained = async {
                client
                    .set_state(&config.backend, server, slipway_lb::State::Drain)
                    .await?;
                client
                    .wait_drained(
                        &config.backend,
                        server,
                        config.drain_timeout,
                        Duration::from_millis(50),
                    )
                    .await?;
                client
                    .set_state(&config.backend, server, slipway_lb::State::Maint)
                    .await
            };
            match drained.await {
                Ok(()) => output::line(format!(
                    "{}: {}/{server} in maint",
                    target.name, config.backend
                )),
                Err(error) => output::line(format!(
                    "{}: HAProxy {}/{server}: {error}; stopping it anyway",
                    target.name, config.backend
                )),
            };
        }
        let Some(digest) = current.digest.clone() else {
            if let Err(error) = set(files, target, |t| t.phase = Phase::New) {
                failures.push(error);
            }
            output::line(format!("{}: nothing deployed", target.name));
            continue;
        };
        match take_down(environment, files, target, &current, &digest).await {
            Ok(()) => {
                let result = set(files, target, |t| {
                    let lb = t.lb;
                    *t = TargetState {
                        lb,
                        message: Some("stopped by `slipway env stop`".to_owned()),
                        ..TargetState::default()
                    };
                });
                match result {
                    Ok(()) => {
                        output::line(format!("{}: stopped and removed", target.name));
                    }
                    Err(error) => failures.push(error),
                }
            }
            Err(error) => {
                let _ = set(files, target, |t| {
                    t.phase = Phase::Failed;
                    t.message = Some(format!("stop failed: {error}"));
                });
                failures.push(error);
            }
        }
    }
    failures
}

/// Deactivates and uninstalls the release `current` describes.
async fn take_down(
    environment: &Environment,
    files: &EnvFiles,
    target: &Target,
    current: &TargetState,
    digest: &str,
) -> Result<(), String> {
    let driver = TargetDriver::new(target, &environment.service, &files.dir).map_err(|e| e.0)?;
    let name = current
        .artifact_name
        .clone()
        .unwrap_or_else(|| "artifact".to_owned());
    let kept = files.artifact_path(digest);
    let artifact = if digest.starts_with("sha256:") && !kept.is_file() {
        Artifact::Image {
            reference: name,
            digest: digest.to_owned(),
        }
    } else {
        Artifact::File {
            name,
            path: kept,
            digest: Digest(digest.to_owned()),
        }
    };
    let release = Release::new(
        target,
        &environment.service,
        artifact,
        current.version.clone().unwrap_or_default(),
        &files.dir,
    )
    .map_err(|e| e.0)?;
    let _ = set(files, target, |t| t.phase = Phase::Deactivating);
    driver
        .deactivate(&release, &mut Printed)
        .await
        .map_err(|e| e.0)?;
    driver
        .uninstall(&release, &mut Printed)
        .await
        .map_err(|e| e.0)
}

/// Changes one target in `state.json` (re-read first: the file is the truth).
fn set(
    files: &EnvFiles,
    target: &Target,
    change: impl FnOnce(&mut TargetState),
) -> Result<(), String> {
    let mut state = files.load_state().map_err(|e| e.to_string())?;
    change(state.targets.entry(target.name.clone()).or_default());
    files.save_state(&state).map_err(|e| e.to_string())
}

fn client(address: &HaproxyAddress, root: &Path) -> Result<HaproxyClient, String> {
    match address {
        HaproxyAddress::Socket(path) => {
            let path = root.join(path);
            if path.exists() {
                Ok(HaproxyClient::new(Endpoint::Unix(path)))
            } else {
                Err(format!(
                    "the runtime socket {} does not exist",
                    path.display()
                ))
            }
        }
        HaproxyAddress::Tcp(address) => address
            .parse::<SocketAddr>()
            .map(|a| HaproxyClient::new(Endpoint::Tcp(a)))
            .map_err(|_| format!("runtime API address `{address}` is not IP:PORT")),
    }
}
