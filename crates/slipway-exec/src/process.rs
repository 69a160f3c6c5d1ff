//! Supervising a step's process group: pipes, exit, timeout, cancellation, stray children.
//! The sequence is described in the crate documentation.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use slipway_engine::ports::{CancelSignal, LineSink, StepExit};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdout};
use tokio::time::Instant;

use crate::pump::Pump;

/// How often an emptying group is looked at once the main process has exited.
const POLL: Duration = Duration::from_millis(20);
/// How long the pipes are still read, and the group's end awaited, once the group is empty or
/// killed. Only a process that left the group (`setsid`) can keep the pipes open longer.
const DRAIN: Duration = Duration::from_millis(500);

/// A started step: its main process, which leads the process group `pgid`.
pub(crate) struct Started {
    pub(crate) child: Child,
    pub(crate) pgid: i32,
}

/// Limits of one step.
pub(crate) struct Limits {
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
}

enum Phase {
    /// The main process runs; `deadline` is the step's timeout.
    Running { deadline: Option<Instant> },
    /// SIGTERM was sent to the group; SIGKILL follows at `kill_at` unless it empties first.
    Terminating { kill_at: Instant },
    /// The group is empty or killed; the pipes get until `until` to reach their end.
    Draining { until: Instant },
}

/// Kills the whole group with SIGKILL if a step's future is dropped before it finished, so
/// that aborting the engine's task cannot leave processes behind.
struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

/// Runs `started` to the end, feeding its output to `sink`.
pub(crate) async fn supervise(
    started: Started,
    limits: Limits,
    cancel: &CancelSignal,
    out: &mut Pump<ChildStdout>,
    err: &mut Pump<ChildStderr>,
    sink: &mut dyn LineSink,
) -> StepExit {
    let Started { mut child, pgid } = started;
    let mut guard = GroupGuard { pgid, armed: true };
    let mut cancel = cancel.clone();
    let mut cancel_open = true;
    let mut status: Option<std::io::Result<ExitStatus>> = None;
    let mut stopped: Option<StepExit> = None;
    let mut phase = Phase::Running {
        deadline: limits.timeout.map(|t| Instant::now() + t),
    };
    if *cancel.borrow_and_update() {
        stopped = Some(StepExit::Cancelled);
        phase = terminate(pgid, limits.grace);
    }
    let far_future = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let sleep = tokio::time::sleep_until(far_future);
    tokio::pin!(sleep);

    loop {
        let exited = status.is_some();
        let wake = match phase {
            Phase::Running { deadline } => deadline,
            Phase::Terminating { kill_at } if exited => Some(kill_at.min(Instant::now() + POLL)),
            Phase::Terminating { kill_at } => Some(kill_at),
            Phase::Draining { until } if exited && !out.open && !err.open => {
                // Done once the last member is gone (SIGKILL is not instantaneous).
                if !group_alive(pgid) {
                    break;
                }
                Some(until.min(Instant::now() + POLL))
            }
            Phase::Draining { until } => Some(until),
        };
        if let Some(wake) = wake
            && sleep.deadline() != wake
        {
            sleep.as_mut().reset(wake);
        }
        tokio::select! {
            read = out.reader.read(&mut out.buf), if out.open => out.on_read(read, sink),
            read = err.reader.read(&mut err.buf), if err.open => err.on_read(read, sink),
            result = child.wait(), if !exited => {
                status = Some(result);
                phase = match phase {
                    // The step ended by itself: what it left in its group goes now.
                    Phase::Running { .. } => terminate(pgid, limits.grace),
                    Phase::Terminating { .. } if !group_alive(pgid) => drain(),
                    other => other,
                };
            }
            changed = cancel.changed(), if cancel_open && !exited && stopped.is_none() => {
                match changed {
                    Ok(()) if *cancel.borrow_and_update() => {
                        stopped = Some(StepExit::Cancelled);
                        phase = terminate(pgid, limits.grace);
                    }
                    Ok(()) => {}
                    Err(_) => cancel_open = false,
                }
            }
            () = &mut sleep, if wake.is_some() => {
                let now = Instant::now();
                phase = match phase {
                    Phase::Running { .. } => {
                        stopped = Some(StepExit::TimedOut);
                        terminate(pgid, limits.grace)
                    }
                    Phase::Terminating { kill_at } if now >= kill_at => {
                        signal_group(pgid, libc::SIGKILL);
                        drain()
                    }
                    Phase::Terminating { kill_at } => {
                        if exited && !group_alive(pgid) {
                            drain()
                        } else {
                            Phase::Terminating { kill_at }
                        }
                    }
                    // Only a process that left the group can still hold a pipe, and only one
                    // stuck in the kernel can outlive SIGKILL: neither is waited for.
                    Phase::Draining { until } if now >= until => break,
                    draining => draining,
                };
            }
        }
    }
    out.close(sink);
    err.close(sink);
    if status.is_some() {
        guard.armed = false;
    }
    if let Some(stopped) = stopped {
        return stopped;
    }
    match status {
        Some(Ok(status)) => exit_of(status),
        Some(Err(e)) => {
            StepExit::SpawnFailed(format!("waiting for the step's process failed: {e}"))
        }
        // Unreachable in practice: the group was killed but the main process never ended.
        None => StepExit::Signalled(libc::SIGKILL),
    }
}

fn exit_of(status: ExitStatus) -> StepExit {
    match (status.code(), status.signal()) {
        (Some(code), _) => StepExit::Exited(code),
        (None, Some(signal)) => StepExit::Signalled(signal),
        (None, None) => StepExit::Exited(-1),
    }
}

/// Sends SIGTERM to the group and starts the grace period, or goes straight to draining when
/// the group is already empty.
fn terminate(pgid: i32, grace: Duration) -> Phase {
    if signal_group(pgid, libc::SIGTERM) {
        Phase::Terminating {
            kill_at: Instant::now() + grace,
        }
    } else {
        drain()
    }
}

fn drain() -> Phase {
    Phase::Draining {
        until: Instant::now() + DRAIN,
    }
}

/// Sends `signal` to every process of the group; false when the group has no process left.
pub(crate) fn signal_group(pgid: i32, signal: libc::c_int) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: killpg has no memory-safety preconditions; pgid > 1 never means "all processes".
    let rc = unsafe { libc::killpg(pgid, signal) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// True while the group has a member that is not a zombie. `killpg(pgid, 0)` also counts
/// zombies, which linger where PID 1 does not reap orphans, so a positive answer is confirmed
/// through `/proc`. When `/proc` cannot be read the answer stays "alive", which only means the
/// group is killed at the end of the grace period.
pub(crate) fn group_alive(pgid: i32) -> bool {
    if !signal_group(pgid, 0) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    let mut stat = Vec::with_capacity(512);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        stat.clear();
        let path = entry.path().join("stat");
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        if std::io::Read::read_to_end(&mut file, &mut stat).is_err() {
            continue;
        }
        if let Some((state, pgrp)) = parse_stat(&stat)
            && pgrp == pgid
            && state != b'Z'
            && state != b'X'
        {
            return true;
        }
    }
    false
}

/// Reads the state and process group out of a `/proc/<pid>/stat` line:
/// `pid (comm) state ppid pgrp …`, where `comm` may itself contain spaces and parentheses.
fn parse_stat(stat: &[u8]) -> Option<(u8, i32)> {
    let close = memchr::memrchr(b')', stat)?;
    let rest = stat.get(close + 1..)?;
    let mut fields = rest.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    let _ppid = fields.next()?;
    let pgrp = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    Some((state, pgrp))
}

/// The fields of `/proc/<pid>/stat` the executors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) pid: i32,
    pub(crate) state: u8,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    pub(crate) session: i32,
    /// Clock ticks after boot at which the process started: with the pid, it names one
    /// process for as long as the machine runs (pids are reused, start times are not).
    pub(crate) start_time: u64,
}

impl ProcStat {
    /// Zombies and dead processes run nothing.
    pub(crate) fn is_live(&self) -> bool {
        self.state != b'Z' && self.state != b'X'
    }
}

/// Parses a `/proc/<pid>/stat` line: `pid (comm) state ppid pgrp session … starttime …`,
/// where `comm` may itself contain spaces and parentheses; `starttime` is field 22.
pub(crate) fn parse_proc_stat(stat: &[u8]) -> Option<ProcStat> {
    let open = memchr::memchr(b'(', stat)?;
    let pid = std::str::from_utf8(stat.get(..open)?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let close = memchr::memrchr(b')', stat)?;
    let rest = stat.get(close + 1..)?;
    let mut fields = rest
        .split(|&b| b == b' ' || b == b'\n')
        .filter(|f| !f.is_empty());
    let number =
        |field: Option<&[u8]>| -> Option<i64> { std::str::from_utf8(field?).ok()?.parse().ok() };
    let state = *fields.next()?.first()?;
    let ppid = i32::try_from(number(fields.next())?).ok()?;
    let pgrp = i32::try_from(number(fields.next())?).ok()?;
    let session = i32::try_from(number(fields.next())?).ok()?;
    // Fields 7 to 21 (tty_nr … itrealvalue) are not needed; field 22 is the start time.
    let start_time = u64::try_from(number(fields.nth(15))?).ok()?;
    Some(ProcStat {
        pid,
        state,
        ppid,
        pgrp,
        session,
        start_time,
    })
}

/// Reads `/proc/<pid>/stat`; `None` when the process does not exist (or `/proc` is missing).
pub(crate) fn proc_stat(pid: i32) -> Option<ProcStat> {
    let bytes = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat(&bytes)
}

/// Every process of the machine, as `/proc` shows them (skipping any that vanish meanwhile).
pub(crate) fn all_processes() -> Vec<ProcStat> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    let mut stat = Vec::with_capacity(512);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        stat.clear();
        let Ok(mut file) = std::fs::File::open(entry.path().join("stat")) else {
            continue;
        };
        if std::io::Read::read_to_end(&mut file, &mut stat).is_ok()
            && let Some(parsed) = parse_proc_stat(&stat)
        {
            found.push(parsed);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        assert_eq!(
            parse_stat(b"123 (a (b) c) S 1 456 456 0 -1 4194560"),
            Some((b'S', 456))
        );
        assert_eq!(parse_stat(b"123 (zz) Z 1 77 77"), Some((b'Z', 77)));
        assert_eq!(parse_stat(b"garbage"), None);
        let full = b"8 (sh) S 0 8 8 0 -1 4194560 1034 0 0 0 1 0 0 0 20 0 1 0 208628 2387968 348\n";
        assert_eq!(
            parse_proc_stat(full),
            Some(ProcStat {
                pid: 8,
                state: b'S',
                ppid: 0,
                pgrp: 8,
                session: 8,
                start_time: 208628,
            })
        );
        assert_eq!(parse_proc_stat(b"8 (sh) S 0 8 8 0"), None);
    }
}
