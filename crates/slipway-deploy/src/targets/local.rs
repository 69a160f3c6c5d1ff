//! `kind: local` targets: releases in `STATE/ENV/releases/TARGET/DIGEST/`,
//! services started detached on this machine and tracked by pid.
//!
//! Built-ins:
//! - `copy`: the artifact file copied into the release directory (mode kept,
//!   so an executable stays executable);
//! - `start`: `sh -c COMMAND` in its own session (`setsid`), stdin from
//!   `/dev/null`, stdout and stderr appended to `STATE/ENV/logs/TARGET.log`,
//!   so it outlives `slipway run`. Its pid and the kernel's start time of
//!   that pid are written to `STATE/ENV/processes/TARGET.json`;
//! - `stop`: SIGTERM to the process group, [`STOP_GRACE`], then SIGKILL. The
//!   group is only signalled if the recorded pid still has the recorded
//!   start time (or no longer exists while members of its group do: Linux
//!   never hands out a pid that is still some group's id), so a reused pid is
//!   never killed;
//! - `remove`: the release directory is removed.
//!
//! Commands run with `sh -c` in the release directory with the release's
//! environment; their output goes to the deployment log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_spec::deploy::{Action, HealthProbe, ServiceDef, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use super::{Release, TargetError};
use crate::DeployLog;

/// How long `stop` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Longest HTTP answer head a probe reads.
const MAX_PROBE_HEAD: usize = 8 * 1024;

/// The process `start` left running, as recorded in `STATE/ENV/processes/TARGET.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// The pid of `sh -c COMMAND`; also its process group and session id.
    pub pid: i32,
    /// Field 22 of `/proc/PID/stat` (clock ticks since boot) when it started.
    pub start_time: u64,
    /// The digest of the release it runs.
    pub digest: String,
    /// Where its output goes.
    pub log: PathBuf,
}

/// The driver of one `kind: local` target.
#[derive(Debug)]
pub struct LocalDriver {
    name: String,
    install: Action,
    activate: Action,
    deactivate: Action,
    uninstall: Action,
    port: Option<u16>,
    record_path: PathBuf,
    log_path: PathBuf,
}

impl LocalDriver {
    /// The driver of `target`, whose environment keeps its state in `env_dir`.
    pub fn new(target: &Target, service: &ServiceDef, env_dir: &Path) -> LocalDriver {
        let pick = |action: &Option<Action>, default: Action| action.clone().unwrap_or(default);
        LocalDriver {
            name: target.name.clone(),
            install: pick(&service.install, default_install()),
            activate: pick(
                &service.activate,
                Action::Start {
                    command: "\"$ARTIFACT\"".to_owned(),
                },
            ),
            deactivate: pick(&service.deactivate, Action::Stop),
            uninstall: pick(&service.uninstall, Action::Remove),
            port: target.port,
            record_path: env_dir
                .join("processes")
                .join(format!("{}.json", target.name)),
            log_path: env_dir.join("logs").join(format!("{}.log", target.name)),
        }
    }

    pub async fn install(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        self.perform(&self.install, "install", release, log).await
    }

    pub async fn activate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        self.perform(&self.activate, "activate", release, log).await
    }

    pub async fn deactivate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        self.perform(&self.deactivate, "deactivate", release, log)
            .await
    }

    pub async fn uninstall(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        self.perform(&self.uninstall, "uninstall", release, log)
            .await
    }

    pub async fn probe(
        &self,
        probe: &HealthProbe,
        limit: Duration,
        release: &Release,
    ) -> Result<(), String> {
        let result = self.probe_once(probe, limit, release).await;
        // Say so when the service is gone: "connection refused" alone hides why.
        match (result, self.process()) {
            (Err(error), Some(record))
                if record.digest == release.artifact.digest() && !group_alive(record.pid) =>
            {
                Err(format!(
                    "{error} (the service process {} is no longer running; its output is in {})",
                    record.pid,
                    record.log.display()
                ))
            }
            (result, _) => result,
        }
    }

    async fn probe_once(
        &self,
        probe: &HealthProbe,
        limit: Duration,
        release: &Release,
    ) -> Result<(), String> {
        match probe {
            HealthProbe::Http { path } => {
                let port = self.port.or(release.port).ok_or_else(|| {
                    format!(
                        "target {}: an http health check needs the target's `port:`",
                        self.name
                    )
                })?;
                match timeout(limit, http_get(port, path)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!(
                        "GET http://127.0.0.1:{port}{path}: no answer within {limit:?}"
                    )),
                }
            }
            HealthProbe::Command(text) => {
                let mut command = shell(text, release);
                command.kill_on_drop(true);
                let run = async {
                    let output = command
                        .output()
                        .await
                        .map_err(|e| format!("`{text}`: {e}"))?;
                    if output.status.success() {
                        Ok(())
                    } else {
                        let stderr = String::from_utf8_lossy(&output.stderr);
                        Err(format!(
                            "`{text}` exited with {}: {}",
                            output.status,
                            stderr.trim()
                        ))
                    }
                };
                timeout(limit, run)
                    .await
                    .unwrap_or_else(|_| Err(format!("`{text}` did not finish within {limit:?}")))
            }
        }
    }

    /// The process `start` recorded for this target, if any.
    pub fn process(&self) -> Option<ProcessRecord> {
        let bytes = std::fs::read(&self.record_path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    async fn perform(
        &self,
        action: &Action,
        step: &str,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let fail = |cause: String| TargetError(format!("target {}: {step}: {cause}", self.name));
        match action {
            Action::Copy { to } => self.copy(to, release, log).await.map_err(fail),
            Action::Start { command } => self.start(command, release, log).await.map_err(fail),
            Action::Stop => self.stop(log).await.map_err(fail),
            Action::Remove => {
                match tokio::fs::remove_dir_all(&release.dir).await {
                    Ok(()) => {
                        log.line(&format!("{}: removed {}", self.name, release.dir.display()))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(fail(format!(
                            "cannot remove {}: {e}",
                            release.dir.display()
                        )));
                    }
                }
                Ok(())
            }
            Action::Command(text) => {
                tokio::fs::create_dir_all(&release.dir)
                    .await
                    .map_err(|e| fail(format!("cannot create {}: {e}", release.dir.display())))?;
                run_logged(text, release, &self.name, log)
                    .await
                    .map_err(fail)
            }
        }
    }

    async fn copy(
        &self,
        to: &str,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), String> {
        let crate::Artifact::File { path, .. } = &release.artifact else {
            return Err("`copy` needs a file artifact, not an image".to_owned());
        };
        let destination = release.dir.join(checked_relative(to)?);
        if let Some(parent) = destination.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        // Copied to a temporary name and renamed, so a half-written file is never executed.
        let partial = destination.with_extension("partial");
        tokio::fs::copy(path, &partial).await.map_err(|e| {
            format!(
                "cannot copy {} to {}: {e}",
                path.display(),
                partial.display()
            )
        })?;
        tokio::fs::rename(&partial, &destination)
            .await
            .map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
        log.line(&format!(
            "{}: copied {} to {}",
            self.name,
            path.display(),
            destination.display()
        ));
        Ok(())
    }

    async fn start(
        &self,
        text: &str,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), String> {
        for dir in [self.log_path.parent(), self.record_path.parent()]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&release.dir)
            .map_err(|e| format!("cannot create {}: {e}", release.dir.display()))?;
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("cannot open {}: {e}", self.log_path.display()))?;
        let stderr = output
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", self.log_path.display()))?;
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(text)
            .current_dir(&release.dir)
            .envs(release.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(output)
            .stderr(stderr);
        // SAFETY: setsid is async-signal-safe and only affects the child.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| format!("cannot start `{text}`: {e}"))?;
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .ok_or("the started process has no pid")?;
        let start_time = proc_stat(pid)
            .map(|stat| stat.start_time)
            .ok_or_else(|| format!("process {pid} vanished right after it started"))?;
        // Reaped by this task while we live; after we exit, by whoever inherits it.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let record = ProcessRecord {
            pid,
            start_time,
            digest: release.artifact.digest().to_owned(),
            log: self.log_path.clone(),
        };
        let json = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        crate::state::write_atomically(&self.record_path, &json)?;
        log.line(&format!(
            "{}: started `{text}` as pid {pid} (output in {})",
            self.name,
            self.log_path.display()
        ));
        Ok(())
    }

    async fn stop(&self, log: &mut dyn DeployLog) -> Result<(), String> {
        let Some(record) = self.process() else {
            log.line(&format!(
                "{}: no process recorded, nothing to stop",
                self.name
            ));
            return Ok(());
        };
        let pid = record.pid;
        if pid <= 1 {
            return Err(format!("refusing to signal recorded pid {pid}"));
        }
        match proc_stat(pid) {
            Some(stat) if stat.start_time != record.start_time => {
                log.line(&format!(
                    "{}: pid {pid} now belongs to another process; not signalled",
                    self.name
                ));
                return self.forget();
            }
            _ => {}
        }
        if !group_alive(pid) {
            log.line(&format!("{}: process {pid} already gone", self.name));
            return self.forget();
        }
        signal_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while group_alive(pid) {
            if Instant::now() >= deadline {
                log.line(&format!(
                    "{}: process group {pid} still running {STOP_GRACE:?} after SIGTERM; SIGKILL",
                    self.name
                ));
                signal_group(pid, libc::SIGKILL);
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
        log.line(&format!("{}: stopped process {pid}", self.name));
        self.forget()
    }

    fn forget(&self) -> Result<(), String> {
        match std::fs::remove_file(&self.record_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", self.record_path.display())),
        }
    }
}

/// `copy` without `to:` in the spec uses the name `artifact`.
fn default_install() -> Action {
    Action::Copy {
        to: "artifact".to_owned(),
    }
}

/// The destination of `copy`, which must stay inside the release directory.
pub(crate) fn checked_relative(to: &str) -> Result<&Path, String> {
    let path = Path::new(to);
    let inside = !to.is_empty()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if inside {
        Ok(path)
    } else {
        Err(format!(
            "`copy: {to}` must be a relative path inside the release directory"
        ))
    }
}

/// `sh -c TEXT` in the release directory with the release's environment.
fn shell(text: &str, release: &Release) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(text)
        .current_dir(&release.dir)
        .envs(release.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null());
    command
}

/// Runs a lifecycle command; its output goes to the log line by line.
async fn run_logged(
    text: &str,
    release: &Release,
    target: &str,
    log: &mut dyn DeployLog,
) -> Result<(), String> {
    let output = shell(text, release)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run `{text}`: {e}"))?;
    for bytes in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(bytes).lines() {
            log.line(&format!("{target}: {line}"));
        }
    }
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("`{text}` failed ({})", output.status))
    }
}

/// `GET /path` on 127.0.0.1:port, HTTP/1.1, `Connection: close`; 2xx is healthy.
async fn http_get(port: u16, path: &str) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{port}{path}");
    if !path.starts_with('/')
        || path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!(
            "health path `{path}` must start with `/` and hold no spaces"
        ));
    }
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    // Only the status line matters.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < MAX_PROBE_HEAD {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let line = String::from_utf8_lossy(&head);
    let status_line = line.lines().next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("GET {url}: not an HTTP answer: {status_line:?}"))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("GET {url} answered {status}"))
    }
}

/// What `/proc/PID/stat` says about a process.
struct ProcStat {
    state: u8,
    pgrp: i32,
    start_time: u64,
}

/// Reads `/proc/PID/stat`; `None` if there is no such process.
fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Fields after the command name (which may hold spaces and parentheses):
/// state (3), ppid (4), pgrp (5), … starttime (22).
fn parse_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.bytes().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Whether any process of group `pgid` is still running. Zombies do not
/// count: an orphan's zombie waits for whoever inherited it to reap it,
/// which this process cannot hurry.
fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .any(|stat| stat.pgrp == pgid && stat.state != b'Z')
}

fn signal_group(pgid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) on a process group we started and verified above.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.pgrp, 4242);
        assert_eq!(stat.start_time, 987654);
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1").is_none());
    }

    #[test]
    fn own_process_has_a_start_time() {
        let pid = i32::try_from(std::process::id()).unwrap();
        assert!(proc_stat(pid).is_some());
    }

    #[test]
    fn copy_destinations_stay_inside_the_release() {
        for bad in ["", "/etc/passwd", "../x", "a/../../b"] {
            assert!(checked_relative(bad).is_err(), "accepted {bad:?}");
        }
        for good in ["app", "bin/app", "./app"] {
            assert!(checked_relative(good).is_ok(), "refused {good:?}");
        }
    }
}
