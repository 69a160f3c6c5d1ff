//! One step as a `docker exec` in the job's container: output streamed through the line
//! pipeline, exit code from the exec's inspection, timeout and cancellation by signals to the
//! exec's process tree on the host (see [`super::host`]).

use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use slipway_engine::ports::{CancelSignal, LineSink, SecretMasker, StepExit, Stream};
use tokio::time::Instant;

use super::host::{signal_tree, tree_alive};
use crate::pump::Lines;

/// How often a stopping tree, or an exec whose output ended, is looked at.
const POLL: Duration = Duration::from_millis(20);
/// How long the output may still arrive once the tree is empty or killed.
const DRAIN: Duration = Duration::from_secs(1);
/// How long to wait for the daemon to report the pid of a just-started exec.
const PID_WAIT: Duration = Duration::from_secs(2);
/// Largest frame buffer asked of the stream decoder.
const OUTPUT_CAPACITY: usize = 256 * 1024;

/// What runs, where, and within which limits.
pub(crate) struct ExecSpec<'a> {
    pub(crate) container: &'a str,
    pub(crate) argv: Vec<String>,
    /// `KEY=VALUE` pairs (may hold secrets: never logged).
    pub(crate) env: Vec<String>,
    pub(crate) workdir: String,
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
}

/// Where the step stands.
enum Phase {
    /// The step runs; `deadline` is its timeout.
    Running { deadline: Option<Instant> },
    /// SIGTERM was sent to the tree; SIGKILL follows at `kill_at` unless it empties first.
    Terminating { kill_at: Instant },
    /// The tree is empty or killed; the output gets until `until` to end.
    Draining { until: Instant },
}

/// Runs one exec to the end.
pub(crate) async fn run(
    docker: &Docker,
    spec: ExecSpec<'_>,
    masker: &SecretMasker,
    sink: &mut dyn LineSink,
    cancel: &CancelSignal,
) -> StepExit {
    let mut cancel = cancel.clone();
    if *cancel.borrow_and_update() {
        return StepExit::Cancelled;
    }
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        env: Some(spec.env),
        cmd: Some(spec.argv),
        working_dir: Some(spec.workdir),
        ..Default::default()
    };
    let exec_id = match docker.create_exec(spec.container, options).await {
        Ok(created) => created.id,
        Err(e) => return StepExit::SpawnFailed(format!("cannot create the exec: {e}")),
    };
    let start = StartExecOptions {
        detach: false,
        tty: false,
        output_capacity: Some(OUTPUT_CAPACITY),
    };
    let mut output = match docker.start_exec(&exec_id, Some(start)).await {
        Ok(StartExecResults::Attached { output, .. }) => output,
        Ok(StartExecResults::Detached) => {
            return StepExit::SpawnFailed("the exec started detached".to_owned());
        }
        Err(e) => return StepExit::SpawnFailed(format!("cannot start the exec: {e}")),
    };

    let mut out = Lines::new(Stream::Stdout, masker);
    let mut err = Lines::new(Stream::Stderr, masker);
    let mut open = true;
    let mut cancel_open = true;
    let mut exited: Option<i64> = None;
    let mut stopped: Option<StepExit> = None;
    let mut leader: Option<i32> = None;
    // When to ask the daemon whether the exec ended, once its output has.
    let mut poll_at = Instant::now();
    let mut phase = Phase::Running {
        deadline: spec.timeout.map(|t| Instant::now() + t),
    };
    let far_future = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let sleep = tokio::time::sleep_until(far_future);
    tokio::pin!(sleep);

    loop {
        let wake = match phase {
            // The output ended: the exec is asked for its exit code (at once, then every POLL).
            Phase::Running { deadline } if !open => {
                Some(deadline.map_or(poll_at, |d| d.min(poll_at)))
            }
            Phase::Running { deadline } => deadline,
            Phase::Terminating { kill_at } => Some(kill_at.min(Instant::now() + POLL)),
            Phase::Draining { .. } if !open => break,
            Phase::Draining { until } => Some(until),
        };
        if let Some(wake) = wake
            && sleep.deadline() != wake
        {
            sleep.as_mut().reset(wake);
        }
        tokio::select! {
            item = output.next(), if open => match item {
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    out.feed(&message, sink);
                }
                Some(Ok(LogOutput::StdErr { message })) => err.feed(&message, sink),
                Some(Ok(LogOutput::StdIn { .. })) => {}
                // A broken stream cannot be read further; what was read is kept.
                Some(Err(_)) | None => {
                    open = false;
                    poll_at = Instant::now();
                }
            },
            changed = cancel.changed(), if cancel_open && stopped.is_none() => match changed {
                Ok(()) if *cancel.borrow_and_update() => {
                    stopped = Some(StepExit::Cancelled);
                    phase = terminate(docker, &exec_id, &mut leader, spec.grace).await;
                }
                Ok(()) => {}
                Err(_) => cancel_open = false,
            },
            () = &mut sleep, if wake.is_some() => {
                let now = Instant::now();
                phase = match phase {
                    Phase::Running { deadline } if deadline.is_some_and(|d| now >= d) => {
                        stopped = Some(StepExit::TimedOut);
                        terminate(docker, &exec_id, &mut leader, spec.grace).await
                    }
                    Phase::Running { deadline } => {
                        // Only reached once the output ended.
                        match docker.inspect_exec(&exec_id).await {
                            Ok(state) if state.running != Some(true) => {
                                leader = pid_of(state.pid).or(leader);
                                exited = Some(state.exit_code.unwrap_or(-1));
                                break;
                            }
                            Ok(_) => {
                                // Closed its output but still runs: keep asking.
                                poll_at = now + POLL;
                                Phase::Running { deadline }
                            }
                            Err(e) => {
                                return StepExit::SpawnFailed(format!(
                                    "cannot learn how the exec ended: {e}"
                                ));
                            }
                        }
                    }
                    Phase::Terminating { kill_at } => match leader {
                        Some(pid) if now >= kill_at => {
                            signal_tree(pid, libc::SIGKILL);
                            drain()
                        }
                        Some(pid) if tree_alive(pid) => Phase::Terminating { kill_at },
                        _ => drain(),
                    },
                    Phase::Draining { until } if now >= until => break,
                    draining => draining,
                };
            }
        }
    }
    out.finish(sink);
    err.finish(sink);
    if let Some(stopped) = stopped {
        return stopped;
    }
    // What the step left in the background goes with it, as with the local executor.
    if let Some(pid) = leader {
        stop_strays(pid, spec.grace).await;
    }
    match exited {
        Some(code) => StepExit::Exited(i32::try_from(code).unwrap_or(-1)),
        None => StepExit::Signalled(libc::SIGKILL),
    }
}

/// Sends SIGTERM to the exec's tree and starts the grace period.
async fn terminate(
    docker: &Docker,
    exec_id: &str,
    leader: &mut Option<i32>,
    grace: Duration,
) -> Phase {
    if leader.is_none() {
        *leader = wait_for_pid(docker, exec_id).await;
    }
    match *leader {
        Some(pid) if signal_tree(pid, libc::SIGTERM) > 0 => Phase::Terminating {
            kill_at: Instant::now() + grace,
        },
        _ => drain(),
    }
}

fn drain() -> Phase {
    Phase::Draining {
        until: Instant::now() + DRAIN,
    }
}

/// The host pid of a started exec; the daemon fills it in shortly after the start.
async fn wait_for_pid(docker: &Docker, exec_id: &str) -> Option<i32> {
    let give_up = Instant::now() + PID_WAIT;
    loop {
        if let Ok(state) = docker.inspect_exec(exec_id).await
            && let Some(pid) = pid_of(state.pid)
        {
            return Some(pid);
        }
        if Instant::now() >= give_up {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn pid_of(pid: Option<i64>) -> Option<i32> {
    pid.and_then(|p| i32::try_from(p).ok()).filter(|&p| p > 1)
}

/// SIGTERM, grace, SIGKILL for whatever is left of a finished exec's tree.
async fn stop_strays(leader: i32, grace: Duration) {
    // One syscall for the common case: nothing is left in the leader's process group (runc
    // makes the exec's process a session and group leader, and its background children stay
    // in the group). A child that moved to a group of its own lives on until the job's
    // container is removed.
    if !crate::process::signal_group(leader, 0) {
        return;
    }
    if signal_tree(leader, libc::SIGTERM) == 0 {
        return;
    }
    let kill_at = Instant::now() + grace;
    while Instant::now() < kill_at {
        tokio::time::sleep(POLL).await;
        if !tree_alive(leader) {
            return;
        }
    }
    signal_tree(leader, libc::SIGKILL);
}
