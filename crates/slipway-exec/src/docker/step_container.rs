//! A step with an `image:` of its own: a container for that step alone, with the job's mounts,
//! network, labels and resources, its output read through an attach, its exit code from a
//! wait, removed afterwards. Timeout and cancellation send SIGTERM to the container (its init
//! passes it on), wait the grace period, then kill and remove it.

use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptions, KillContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use slipway_engine::ports::{CancelSignal, LineSink, SecretMasker, StepExit, Stream};
use tokio::time::Instant;

use crate::pump::Lines;

/// How long the output may still arrive once the container stopped or was killed.
const DRAIN: Duration = Duration::from_secs(1);

/// Starts the created container `id`, streams its output and waits for its end. The caller
/// removes the container.
pub(crate) async fn run(
    docker: &Docker,
    id: &str,
    timeout: Option<Duration>,
    grace: Duration,
    masker: &SecretMasker,
    sink: &mut dyn LineSink,
    cancel: &CancelSignal,
) -> StepExit {
    let mut cancel = cancel.clone();
    if *cancel.borrow_and_update() {
        return StepExit::Cancelled;
    }
    let attach = AttachContainerOptions {
        stream: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    // Attached before the start, so that no output is missed.
    let mut output = match docker.attach_container(id, Some(attach)).await {
        Ok(attached) => attached.output,
        Err(e) => {
            return StepExit::SpawnFailed(format!("cannot attach to the step's container: {e}"));
        }
    };
    if let Err(e) = docker.start_container(id, None).await {
        return StepExit::SpawnFailed(format!("cannot start the step's container: {e}"));
    }
    let wait = WaitContainerOptions {
        condition: "not-running".to_owned(),
    };
    let mut waiting = docker.wait_container(id, Some(wait));

    let mut out = Lines::new(Stream::Stdout, masker);
    let mut err = Lines::new(Stream::Stderr, masker);
    let mut open = true;
    let mut cancel_open = true;
    let mut exit: Option<StepExit> = None;
    let mut stopped: Option<StepExit> = None;
    let mut kill_at: Option<Instant> = None;
    let mut deadline = timeout.map(|t| Instant::now() + t);
    let mut drain_until: Option<Instant> = None;

    loop {
        if exit.is_some() && (!open || drain_until.is_some_and(|d| Instant::now() >= d)) {
            break;
        }
        let wake = [deadline, kill_at, drain_until].into_iter().flatten().min();
        tokio::select! {
            item = output.next(), if open => match item {
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    out.feed(&message, sink);
                }
                Some(Ok(LogOutput::StdErr { message })) => err.feed(&message, sink),
                Some(Ok(LogOutput::StdIn { .. })) => {}
                Some(Err(_)) | None => open = false,
            },
            waited = waiting.next(), if exit.is_none() => {
                exit = Some(match waited {
                    Some(Ok(response)) => code(response.status_code),
                    Some(Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. })) => {
                        code(c)
                    }
                    Some(Err(e)) => StepExit::SpawnFailed(format!(
                        "lost track of the step's container: {e}"
                    )),
                    None => StepExit::SpawnFailed("lost track of the step's container".to_owned()),
                });
                drain_until = Some(Instant::now() + DRAIN);
            }
            changed = cancel.changed(), if cancel_open && stopped.is_none() => match changed {
                Ok(()) if *cancel.borrow_and_update() => {
                    stopped = Some(StepExit::Cancelled);
                    deadline = None;
                    kill_at = Some(terminate(docker, id, grace).await);
                }
                Ok(()) => {}
                Err(_) => cancel_open = false,
            },
            () = sleep_until(wake), if wake.is_some() => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    stopped = Some(StepExit::TimedOut);
                    deadline = None;
                    kill_at = Some(terminate(docker, id, grace).await);
                } else if kill_at.is_some_and(|k| now >= k) {
                    kill_at = None;
                    let _ = docker.kill_container(id, None::<KillContainerOptions>).await;
                    drain_until = Some(now + DRAIN);
                } else if drain_until.is_some_and(|d| now >= d) {
                    break;
                }
            }
        }
    }
    out.finish(sink);
    err.finish(sink);
    stopped
        .or(exit)
        .unwrap_or(StepExit::Signalled(libc::SIGKILL))
}

async fn sleep_until(wake: Option<Instant>) {
    if let Some(wake) = wake {
        tokio::time::sleep_until(wake).await;
    }
}

/// Sends SIGTERM; returns when SIGKILL is due.
async fn terminate(docker: &Docker, id: &str, grace: Duration) -> Instant {
    let options = KillContainerOptions {
        signal: "SIGTERM".to_owned(),
    };
    let _ = docker.kill_container(id, Some(options)).await;
    Instant::now() + grace
}

fn code(status: i64) -> StepExit {
    StepExit::Exited(i32::try_from(status).unwrap_or(-1))
}
