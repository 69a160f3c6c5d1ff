//! `kind: ssh` targets: a host reached over real OpenSSH, one multiplexed master connection
//! per target ([`slipway_ssh::SshSession`]), opened on first use and reused by every later
//! operation and probe.
//!
//! A release lives on the host in [`Release::dir`] (the deployer's layout:
//! `DIR/releases/TARGET/DIGEST`, where `DIR` is the target's `dir:`; relative paths and `~/`
//! are taken from the user's home). A release directory outside `DIR/releases/` is refused,
//! so that `remove` cannot reach anything else. The built-ins:
//!
//! | action | on the host |
//! |---|---|
//! | `install: {copy: PATH}` (default: the artifact's file name) | the artifact uploaded to `RELEASE_DIR/PATH`, keeping its mode (atomic: temporary file, rename) |
//! | `activate: {start: CMD}` (default: `"$ARTIFACT"`) | `setsid nohup sh -c CMD &` in the release directory: its own session and process group; `service.pid` (pid and start time) and `service.log` (its output) in the release directory |
//! | `deactivate: stop` (default) | SIGTERM to the process group of `service.pid`, a grace period, SIGKILL; only while that pid is still the process started (same start time in `/proc`), so a reused pid is never signalled |
//! | `uninstall: remove` (default) | `rm -rf` of the release directory |
//!
//! Commands (`Action::Command`, `health: {command: …}`) run with `/bin/sh -c` on the host in
//! the release directory (the home directory when it does not exist), with the release's
//! environment exported; `ARTIFACT` and `RELEASE_DIR` are set to the host's paths. Output lines
//! go to the [`DeployLog`] prefixed with the target's name. The HTTP probe goes to the ssh
//! host's address on `$PORT`. The host needs a POSIX shell, `setsid` and Linux's `/proc`.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use slipway_spec::deploy::{Action, HealthProbe, KnownHosts, ServiceDef, SshTarget, Target};
use slipway_ssh::{RemoteExit, RemoteOutput, SshError, SshSession, shell_quote};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use super::{Release, TargetError};
use crate::{Artifact, DeployLog};

/// How long connecting (TCP and the SSH handshake) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between SIGTERM and SIGKILL when `stop` ends a service, by default.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
/// Limit of a built-in script beyond its own waiting (mkdir, rm, the start handshake).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// A UNIX socket path holds at most 107 bytes; slipway-ssh adds about 20 for its socket name.
const MAX_CONTROL_DIR: usize = 80;

/// The driver of one `kind: ssh` target.
#[derive(Debug)]
pub struct SshDriver {
    name: String,
    /// `user@host:port`, for messages.
    display: String,
    ssh: slipway_ssh::SshTarget,
    /// `dir:` as written; resolved against the home directory once connected.
    dir: String,
    control_dir: PathBuf,
    install: Action,
    activate: Action,
    deactivate: Action,
    uninstall: Action,
    port: Option<u16>,
    grace: Duration,
    session: Mutex<Option<Connected>>,
}

/// A live master connection and what was learnt from the host when it was made.
#[derive(Debug, Clone)]
struct Connected {
    session: Arc<SshSession>,
    /// The user's home directory on the host.
    home: Arc<str>,
    /// `dir:` as an absolute path on the host.
    dir: Arc<str>,
}

impl SshDriver {
    /// A driver for `target`, running the actions of `service` (the built-ins where `None`);
    /// nothing is contacted until the first operation. The master's control socket lives under
    /// `env_dir/ssh` (or, when that path is too long
    /// for a UNIX socket, under the system's temporary directory).
    pub fn new(
        target: &Target,
        ssh: &SshTarget,
        service: &ServiceDef,
        env_dir: &Path,
    ) -> Result<SshDriver, TargetError> {
        let name = target.name.clone();
        let bad = |what: String| TargetError(format!("target {name}: {what}"));
        let install = pick(&service.install, || Action::Copy { to: String::new() });
        let activate = pick(&service.activate, || Action::Start {
            command: "\"$ARTIFACT\"".to_owned(),
        });
        let deactivate = pick(&service.deactivate, || Action::Stop);
        let uninstall = pick(&service.uninstall, || Action::Remove);
        for (phase, action, allowed) in [
            ("install", &install, matches!(install, Action::Copy { .. })),
            (
                "activate",
                &activate,
                matches!(activate, Action::Start { .. }),
            ),
            ("deactivate", &deactivate, deactivate == Action::Stop),
            ("uninstall", &uninstall, uninstall == Action::Remove),
        ] {
            if !allowed && !matches!(action, Action::Command(_)) {
                return Err(bad(format!(
                    "`{phase}: {}` is not an {phase} action (use a command or the built-in of \
                     {phase})",
                    action_name(action)
                )));
            }
        }
        if let Action::Copy { to } = &install
            && !to.is_empty()
        {
            relative_path(to).map_err(|e| bad(format!("install: copy: {e}")))?;
        }
        if ssh.dir.trim().is_empty() {
            return Err(bad("`dir:` is empty".to_owned()));
        }
        let home = std::env::var("HOME").unwrap_or_default();
        let expand = |p: &str| match p.strip_prefix("~/") {
            Some(rest) if !home.is_empty() => PathBuf::from(&home).join(rest),
            _ => PathBuf::from(p),
        };
        let key_path = match &ssh.key {
            Some(key) => expand(key),
            None => expand("~/.ssh/id_ed25519"),
        };
        let known_file = expand(
            ssh.known_hosts_file
                .as_deref()
                .unwrap_or("~/.ssh/known_hosts"),
        );
        let known_hosts = match ssh.known_hosts {
            KnownHosts::Strict => slipway_ssh::KnownHosts::Strict(known_file),
            KnownHosts::AcceptNew => slipway_ssh::KnownHosts::AcceptNew(known_file),
        };
        let client = slipway_ssh::SshTarget {
            host: ssh.host.clone(),
            port: ssh.ssh_port,
            user: ssh.user.clone(),
            key_path,
            known_hosts,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        };
        Ok(SshDriver {
            display: client.display_name(),
            name,
            ssh: client,
            dir: ssh.dir.trim_end_matches('/').to_owned(),
            control_dir: control_dir(env_dir),
            install,
            activate,
            deactivate,
            uninstall,
            port: target.port,
            grace: DEFAULT_STOP_GRACE,
            session: Mutex::new(None),
        })
    }

    /// Sets the limit for connecting (TCP and the SSH handshake; authentication gets a few
    /// seconds more).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> SshDriver {
        self.ssh.connect_timeout = timeout;
        self
    }

    /// Sets the time between SIGTERM and SIGKILL of the built-in `stop`.
    pub fn with_stop_grace(mut self, grace: Duration) -> SshDriver {
        self.grace = grace;
        self
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Puts the release on the host: the built-in `copy` (upload keeping the mode) or the
    /// `install` command, run in the (created) release directory.
    pub async fn install(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let connected = self.connection().await?;
        let dir = self.release_dir_in(&connected, release)?;
        match &self.install {
            Action::Copy { .. } => {
                let Artifact::File { name, path, digest } = &release.artifact else {
                    return Err(self.error(
                        "install: copy needs a file artifact, not an image (images go to \
                         docker targets)",
                    ));
                };
                let remote = artifact_path(&self.install, &release.artifact, &dir)
                    .map_err(|e| self.error(&format!("install: copy: {e}")))?;
                // The artifact's directory, which holds or is the release directory.
                let parent = remote.rsplit_once('/').map_or(dir.as_str(), |(p, _)| p);
                let mkdir = format!("mkdir -p -- {}", shell_quote(parent));
                self.script(&connected, "install: mkdir", &mkdir, &[], log)
                    .await?;
                let uploaded = connected.session.upload(path, &remote).await;
                self.check(&connected, uploaded)?;
                log.line(&format!(
                    "{}: copied {name} ({}) to {}:{remote}",
                    self.name,
                    digest.short(),
                    self.ssh.host
                ));
                Ok(())
            }
            Action::Command(command) => {
                let mkdir = format!("mkdir -p -- {}", shell_quote(&dir));
                self.script(&connected, "install: mkdir", &mkdir, &[], log)
                    .await?;
                let env = self.env(release, &dir);
                self.command(&connected, "install", command, &env, &dir, log)
                    .await
            }
            _ => Err(self.error("install: unsupported action")),
        }
    }

    /// Starts the release: the built-in `start` (detached, tracked by `service.pid`; a
    /// release already running is left alone) or the `activate` command.
    pub async fn activate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let connected = self.connection().await?;
        let dir = self.release_dir_in(&connected, release)?;
        let env = self.env(release, &dir);
        match &self.activate {
            Action::Start { command } => {
                let script = start_script(&dir, command);
                self.script(&connected, "activate: start", &script, &env, log)
                    .await
            }
            Action::Command(command) => {
                self.command(&connected, "activate", command, &env, &dir, log)
                    .await
            }
            _ => Err(self.error("activate: unsupported action")),
        }
    }

    /// Stops the release: the built-in `stop` (SIGTERM to the process group, the grace
    /// period, SIGKILL; nothing started is not an error) or the `deactivate` command.
    pub async fn deactivate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let connected = self.connection().await?;
        let dir = self.release_dir_in(&connected, release)?;
        match &self.deactivate {
            Action::Stop => {
                let script = stop_script(&dir, self.grace);
                self.script(&connected, "deactivate: stop", &script, &[], log)
                    .await
            }
            Action::Command(command) => {
                let env = self.env(release, &dir);
                self.command(&connected, "deactivate", command, &env, &dir, log)
                    .await
            }
            _ => Err(self.error("deactivate: unsupported action")),
        }
    }

    /// Removes the release: the built-in `remove` (the release directory) or the `uninstall`
    /// command.
    pub async fn uninstall(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let connected = self.connection().await?;
        let dir = self.release_dir_in(&connected, release)?;
        match &self.uninstall {
            Action::Remove => {
                let script = format!("rm -rf -- {}", shell_quote(&dir));
                self.script(&connected, "uninstall: remove", &script, &[], log)
                    .await?;
                log.line(&format!("{}: removed {}:{dir}", self.name, self.ssh.host));
                Ok(())
            }
            Action::Command(command) => {
                let env = self.env(release, &dir);
                self.command(&connected, "uninstall", command, &env, &dir, log)
                    .await
            }
            _ => Err(self.error("uninstall: unsupported action")),
        }
    }

    /// Stops and (when `remove`) removes the release: with the built-ins `stop` and `remove`
    /// both run as one remote script (one round trip instead of two); otherwise as
    /// [`SshDriver::deactivate`] then [`SshDriver::uninstall`].
    pub async fn take_down(
        &self,
        release: &Release,
        remove: bool,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        if !(remove && self.deactivate == Action::Stop && self.uninstall == Action::Remove) {
            self.deactivate(release, log).await?;
            if remove {
                self.uninstall(release, log).await?;
            }
            return Ok(());
        }
        let connected = self.connection().await?;
        let dir = self.release_dir_in(&connected, release)?;
        // The stop runs in a subshell: its early `exit 0` (nothing to stop) must not skip the rm.
        let script = format!(
            "( {} ) || exit 1; rm -rf -- {}",
            stop_script(&dir, self.grace),
            shell_quote(&dir)
        );
        self.script(
            &connected,
            "deactivate: stop + uninstall: remove",
            &script,
            &[],
            log,
        )
        .await?;
        log.line(&format!("{}: removed {}:{dir}", self.name, self.ssh.host));
        Ok(())
    }

    /// Opens the master connection now (it is otherwise opened by the first operation), so
    /// that a rollout can connect every target before touching any, in parallel.
    pub async fn connect(&self) -> Result<(), TargetError> {
        self.connection().await.map(|_| ())
    }

    /// One health probe: GET `http://HOST:PORT{path}` (2xx), or the command over ssh (exit 0).
    pub async fn probe(
        &self,
        probe: &HealthProbe,
        timeout: Duration,
        release: &Release,
    ) -> Result<(), String> {
        match probe {
            HealthProbe::Http { path } => {
                let port = release
                    .port
                    .or(self.port)
                    .ok_or_else(|| format!("target {}: no `port:` to probe", self.name))?;
                http_probe(&self.ssh.host, port, path, timeout).await
            }
            HealthProbe::Command(command) => {
                let connected = self.connection().await.map_err(|e| e.0)?;
                let dir = self.release_dir_in(&connected, release).map_err(|e| e.0)?;
                let env = self.env(release, &dir);
                let script = in_dir(&dir, command);
                let ran = connected
                    .session
                    .run(&script, &env, Some(timeout), None, &mut |_, _| {})
                    .await;
                let out = self.check(&connected, ran).map_err(|e| e.0)?;
                match out.exit {
                    RemoteExit::Code(0) => Ok(()),
                    RemoteExit::TimedOut => Err(format!(
                        "`{command}` on {} did not finish within {timeout:?}",
                        self.ssh.host
                    )),
                    exit => Err(format!(
                        "`{command}` on {} {}{}",
                        self.ssh.host,
                        describe(exit),
                        last_line(&out)
                    )),
                }
            }
        }
    }

    /// The shared master connection, made on first use (and again after it was lost).
    async fn connection(&self) -> Result<Connected, TargetError> {
        let mut slot = self.session.lock().await;
        if let Some(connected) = slot.as_ref() {
            return Ok(connected.clone());
        }
        let session = SshSession::connect(&self.ssh, &self.control_dir)
            .await
            .map_err(|e| TargetError(format!("target {}: {e}", self.name)))?;
        let home = {
            let out = session
                .run(
                    "printf '%s\\n' \"$HOME\"",
                    &[],
                    Some(SCRIPT_TIMEOUT),
                    None,
                    &mut |_, _| {},
                )
                .await
                .map_err(|e| TargetError(format!("target {}: {e}", self.name)))?;
            let home = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !out.exit.success() || !home.starts_with('/') {
                return Err(self.error("cannot learn the home directory on the host"));
            }
            home
        };
        let dir = on_host(&home, &self.dir);
        let connected = Connected {
            session: Arc::new(session),
            home: home.into(),
            dir: dir.into(),
        };
        *slot = Some(connected.clone());
        Ok(connected)
    }

    /// Maps an ssh error to the target's error; a lost connection is forgotten, so that the
    /// next operation connects again.
    fn check<T>(
        &self,
        connected: &Connected,
        result: Result<T, SshError>,
    ) -> Result<T, TargetError> {
        result.map_err(|e| {
            if matches!(e, SshError::ConnectionLost { .. })
                && let Ok(mut slot) = self.session.try_lock()
                && slot
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(&c.session, &connected.session))
            {
                *slot = None;
            }
            TargetError(format!("target {}: {e}", self.name))
        })
    }

    /// The release's directory on the host ([`Release::dir`], relative to the home directory
    /// unless absolute); refused unless it lies under `DIR/releases/`, so that `remove` never
    /// reaches anything else.
    fn release_dir_in(
        &self,
        connected: &Connected,
        release: &Release,
    ) -> Result<String, TargetError> {
        let written = release.dir.to_string_lossy();
        let dir = on_host(&connected.home, &written);
        let inside = dir
            .strip_prefix(&*connected.dir)
            .and_then(|rest| rest.strip_prefix("/releases/"))
            .is_some_and(|rest| relative_path(rest).is_ok());
        if !inside {
            return Err(self.error(&format!(
                "release directory {written:?} is not under {}/releases",
                connected.dir
            )));
        }
        Ok(dir)
    }

    /// The release's environment with the host's paths for `ARTIFACT` and `RELEASE_DIR`.
    fn env(&self, release: &Release, dir: &str) -> Vec<(String, String)> {
        let mut env = release.env.clone();
        let artifact = artifact_path(&self.install, &release.artifact, dir)
            .unwrap_or_else(|_| format!("{dir}/artifact"));
        let port = release.port.or(self.port).map(|p| p.to_string());
        set(&mut env, "ARTIFACT", artifact, true);
        set(&mut env, "RELEASE_DIR", dir.to_owned(), true);
        set(
            &mut env,
            "DIGEST",
            release.artifact.digest().to_owned(),
            false,
        );
        set(&mut env, "VERSION", release.version.clone(), false);
        set(&mut env, "TARGET", self.name.clone(), false);
        if let Some(port) = port {
            set(&mut env, "PORT", port, false);
        }
        env
    }

    /// Runs a user's command in the release directory; a non-zero exit is an error.
    async fn command(
        &self,
        connected: &Connected,
        phase: &str,
        command: &str,
        env: &[(String, String)],
        dir: &str,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        log.line(&format!("{}: {phase}: {command}", self.name));
        let script = in_dir(dir, command);
        let out = self.run_logged(connected, &script, env, None, log).await?;
        if out.exit.success() {
            return Ok(());
        }
        Err(self.error(&format!(
            "{phase}: `{command}` {}{}",
            describe(out.exit),
            last_line(&out)
        )))
    }

    /// Runs one of the built-in scripts; a non-zero exit is an error.
    async fn script(
        &self,
        connected: &Connected,
        what: &str,
        script: &str,
        env: &[(String, String)],
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let limit = SCRIPT_TIMEOUT + self.grace;
        let out = self
            .run_logged(connected, script, env, Some(limit), log)
            .await?;
        if out.exit.success() {
            return Ok(());
        }
        Err(self.error(&format!("{what} {}{}", describe(out.exit), last_line(&out))))
    }

    async fn run_logged(
        &self,
        connected: &Connected,
        script: &str,
        env: &[(String, String)],
        timeout: Option<Duration>,
        log: &mut dyn DeployLog,
    ) -> Result<RemoteOutput, TargetError> {
        let name = &self.name;
        let mut on_line = |_: slipway_ssh::Stream, line: &[u8]| {
            log.line(&format!("{name}: {}", String::from_utf8_lossy(line)));
        };
        let ran = connected
            .session
            .run(script, env, timeout, None, &mut on_line)
            .await;
        self.check(connected, ran)
    }

    fn error(&self, what: &str) -> TargetError {
        TargetError(format!("target {} ({}): {what}", self.name, self.display))
    }
}

/// The action as written, or the kind's built-in.
fn pick(action: &Option<Action>, default: impl FnOnce() -> Action) -> Action {
    action.clone().unwrap_or_else(default)
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Command(_) => "command",
        Action::Copy { .. } => "copy",
        Action::Start { .. } => "start",
        Action::Stop => "stop",
        Action::Remove => "remove",
    }
}

/// `dir`/ssh, or a short directory under the temporary directory when that would make the
/// control socket's path too long.
fn control_dir(state_dir: &Path) -> PathBuf {
    let preferred = state_dir.join("ssh");
    if preferred.as_os_str().len() <= MAX_CONTROL_DIR {
        return preferred;
    }
    let digest = crate::Digest::of(state_dir.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("slipway-ssh-{}", digest.short()))
}

/// Where the artifact lands on the host: `RELEASE_DIR/PATH`.
fn artifact_path(install: &Action, artifact: &Artifact, dir: &str) -> Result<String, String> {
    let to = match install {
        Action::Copy { to } if !to.is_empty() => to.clone(),
        _ => match artifact {
            Artifact::File { name, path, .. } => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| is_path_component(n))
                .unwrap_or_else(|| name.replace('/', "_")),
            Artifact::Image { .. } => "artifact".to_owned(),
        },
    };
    relative_path(&to)?;
    Ok(format!("{dir}/{to}"))
}

/// Accepts a relative path of plain components (no `..`, no `.`, not absolute).
fn relative_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    let plain = !path.is_empty()
        && !path.contains('\0')
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(format!(
            "{path:?} must be a relative path inside the release directory (no `..`)"
        ))
    }
}

/// One directory name made of safe characters: digests, file names.
fn is_path_component(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'+'))
}

fn set(env: &mut Vec<(String, String)>, name: &str, value: String, replace: bool) {
    match env.iter_mut().find(|(k, _)| k == name) {
        Some(entry) if replace => entry.1 = value,
        Some(_) => {}
        None => env.push((name.to_owned(), value)),
    }
}

/// `COMMAND` run from the release directory when it exists (else from the home directory).
fn in_dir(dir: &str, command: &str) -> String {
    format!(
        "cd -- {} 2>/dev/null; /bin/sh -c {}",
        shell_quote(dir),
        shell_quote(command)
    )
}

/// `path` on the host: absolute as is, `~/x` and `x` under `home`; no trailing `/`.
fn on_host(home: &str, path: &str) -> String {
    let path = path.trim_end_matches('/');
    if path.starts_with('/') {
        return path.to_owned();
    }
    let rest = path.strip_prefix("~/").unwrap_or(path);
    format!("{}/{rest}", home.trim_end_matches('/'))
}

/// The shell function `alive`: true while the pid of `service.pid` is the process that was
/// started (same start time in `/proc`, not a zombie). `$pid` and `$start` must be set.
const ALIVE: &str = "alive() { set -- $(sed 's/.*) //' /proc/\"$pid\"/stat 2>/dev/null); \
                     [ \"${1:-Z}\" != Z ] && [ \"${20}\" = \"$start\" ]; }";

/// Reads `service.pid` into `$pid` and `$start`, refusing anything but numbers.
const READ_PID: &str = "read pid start < service.pid; \
                        case \"$pid$start\" in ''|*[!0-9]*) echo 'service.pid is not a pid and a start time'; exit 1;; esac";

/// Starts `command` detached in `dir`: `setsid` makes it a session and process-group leader,
/// whose pid and start time go to `service.pid` before it `exec`s the command.
fn start_script(dir: &str, command: &str) -> String {
    let inner = "c=$1; set -- $(sed 's/.*) //' /proc/$$/stat); \
                 echo \"$$ ${20}\" > service.pid.tmp && mv -f service.pid.tmp service.pid; \
                 exec /bin/sh -c \"$c\"";
    format!(
        "cd -- {dir} || exit 1; {ALIVE}; \
         if [ -s service.pid ]; then {READ_PID}; \
           if alive; then echo \"already running: pid $pid\"; exit 0; fi; fi; \
         rm -f service.pid; \
         setsid nohup /bin/sh -c {inner} sh {command} >> service.log 2>&1 < /dev/null & \
         i=0; while [ ! -s service.pid ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; \
         [ -s service.pid ] || {{ echo 'the process did not start'; exit 1; }}; \
         {READ_PID}; echo \"started pid $pid\"",
        dir = shell_quote(dir),
        inner = shell_quote(inner),
        command = shell_quote(command),
    )
}

/// Stops what `start` started: SIGTERM to its process group, up to `grace`, then SIGKILL.
/// Whether the process is gone is polled every 10 ms for the first half second (most
/// services end at once; a 100 ms poll cost every target ~90 ms), then every 100 ms.
fn stop_script(dir: &str, grace: Duration) -> String {
    let grace_ms = grace.as_millis();
    let fast = (grace_ms / 10).min(50);
    let slow = (grace_ms - fast * 10).div_ceil(100);
    format!(
        "cd -- {dir} 2>/dev/null || {{ echo 'nothing to stop: no release directory'; exit 0; }}; \
         [ -s service.pid ] || {{ echo 'nothing to stop: no service.pid'; exit 0; }}; \
         {READ_PID}; {ALIVE}; \
         if ! alive; then echo \"pid $pid has exited already\"; rm -f service.pid; exit 0; fi; \
         kill -TERM -\"$pid\" 2>/dev/null || kill -TERM \"$pid\" 2>/dev/null; \
         i=0; while alive && [ $i -lt {fast} ]; do sleep 0.01; i=$((i+1)); done; \
         i=0; while alive && [ $i -lt {slow} ]; do sleep 0.1; i=$((i+1)); done; \
         if alive; then kill -KILL -\"$pid\" 2>/dev/null || kill -KILL \"$pid\"; \
           echo \"pid $pid killed after {grace:?}\"; else echo \"pid $pid stopped\"; fi; \
         rm -f service.pid",
        dir = shell_quote(dir),
    )
}

fn describe(exit: RemoteExit) -> String {
    match exit {
        RemoteExit::Code(code) => format!("exited with {code}"),
        RemoteExit::TimedOut => "timed out".to_owned(),
        RemoteExit::Cancelled => "was cancelled".to_owned(),
    }
}

/// `: LINE`, the last line of stderr (else stdout), or nothing.
fn last_line(out: &RemoteOutput) -> String {
    [&out.stderr, &out.stdout]
        .into_iter()
        .filter_map(|bytes| {
            String::from_utf8_lossy(bytes)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| format!(": {}", l.trim()))
        })
        .next()
        .unwrap_or_default()
}

/// GET `http://HOST:PORT{path}` over a new connection; a 2xx status line is healthy.
pub(crate) async fn http_probe(
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    let url = format!("http://{host}:{port}{path}");
    if !path.starts_with('/')
        || path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!(
            "GET {url}: the path must start with `/` and hold no spaces"
        ));
    }
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: slipway-health\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 64];
        let mut filled = 0;
        while filled < 12 {
            let Some(rest) = head.get_mut(filled..) else {
                break;
            };
            let n = stream.read(rest).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok::<_, std::io::Error>(status_code(head.get(..filled).unwrap_or_default()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(format!("GET {url}: no answer within {timeout:?}")),
        Ok(Err(e)) => Err(format!("GET {url}: {e}")),
        Ok(Ok(Some(code))) if (200..300).contains(&code) => Ok(()),
        Ok(Ok(Some(code))) => Err(format!("GET {url} answered {code}")),
        Ok(Ok(None)) => Err(format!("GET {url}: not an HTTP answer")),
    }
}

/// The status of `HTTP/1.x NNN …`.
fn status_code(head: &[u8]) -> Option<u16> {
    let rest = head.strip_prefix(b"HTTP/1.")?;
    let digits = rest.get(2..5)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503 x"), Some(503));
        assert_eq!(status_code(b"SSH-2.0"), None);
        assert_eq!(status_code(b"HTTP/1.1 2"), None);
    }

    #[test]
    fn artifact_paths_stay_in_the_release_directory() {
        assert!(relative_path("bin/app").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "./a"] {
            assert!(relative_path(bad).is_err(), "{bad}");
        }
        assert!(is_path_component("sha256:abc"));
        assert!(!is_path_component(".."));
        assert!(!is_path_component("a/b"));
        assert!(!is_path_component("a b"));
    }

    #[test]
    fn env_overrides_host_paths_and_keeps_given_values() {
        let mut env = vec![
            ("ARTIFACT".to_owned(), "/local/app".to_owned()),
            ("VERSION".to_owned(), "v9".to_owned()),
        ];
        set(&mut env, "ARTIFACT", "/remote/app".to_owned(), true);
        set(&mut env, "VERSION", "v1".to_owned(), false);
        set(&mut env, "PORT", "80".to_owned(), false);
        assert_eq!(
            env,
            [
                ("ARTIFACT".to_owned(), "/remote/app".to_owned()),
                ("VERSION".to_owned(), "v9".to_owned()),
                ("PORT".to_owned(), "80".to_owned()),
            ]
        );
    }

    #[test]
    fn long_state_dirs_get_a_short_control_dir() {
        let long = PathBuf::from("/").join("x".repeat(200));
        assert!(control_dir(&long).as_os_str().len() < MAX_CONTROL_DIR + 40);
        assert_eq!(control_dir(Path::new("/s")), PathBuf::from("/s/ssh"));
    }
}
