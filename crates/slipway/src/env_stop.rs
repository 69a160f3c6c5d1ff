//! `slipway env stop ENV`: [`slipway_deploy::Deployer::stop`] (every target
//! drained then put in maint, its release deactivated and uninstalled, under
//! the environment's lock), its progress printed line by line.

use slipway_deploy::DeployError;

use crate::Exit;
use crate::args::EnvStopArgs;
use crate::deployments::Printed;
use crate::env;
use crate::output;

/// `slipway env stop ENV`: 0 when every target is down, 1 when one could
/// not be stopped (the others are stopped all the same) or on Ctrl-C (the
/// target in progress is finished first).
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
    let deployer = env::deployer(&root);
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let mut printed = Printed;
    let stopped = runtime.block_on(async {
        let stop = deployer.stop(&environment, &root, &mut printed, cancel);
        tokio::pin!(stop);
        tokio::select! {
            result = &mut stop => result,
            () = crate::wait_for_signal() => {
                eprintln!("slipway: cancelling the stop (the target in progress is finished first)");
                let _ = cancel_tx.send(true);
                stop.await
            }
        }
    });
    match stopped {
        Ok(()) => {
            output::line(format!(
                "environment {}: every target stopped",
                environment.name
            ));
            Exit::Success
        }
        Err(DeployError::Cancelled) => {
            eprintln!(
                "error: the stop was cancelled; `slipway env show` says where each target stands"
            );
            Exit::Failure
        }
        Err(error) => {
            eprintln!("error: {error}");
            Exit::Failure
        }
    }
}
