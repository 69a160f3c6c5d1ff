//! `kind: docker` targets: the artifact is an image, run as one container per release through
//! the Docker Engine API (bollard, with the API version negotiated: Debian's docker.io 20.10
//! stops at 1.41).
//!
//! | action | on the Docker host |
//! |---|---|
//! | install (default) | checks that the image (by its id, the release's digest) is on the host; no registry is used, so an absent image is an error saying how to load it |
//! | `activate: {start: CMD}` (default: the image's own command) | creates and starts `slipway-ENV-TARGET-SHORTDIGEST` (labels `slipway.environment`, `slipway.target`, `slipway.digest`) publishing `127.0.0.1:PORT` → `container_port`, with the release's environment (`PORT` = the container's port) and `sh -c 'exec CMD'` as its command, so the service is the container's main process and gets `docker stop`'s SIGTERM |
//! | `deactivate: stop` (default) | stops that container (SIGTERM, a grace period, SIGKILL) and removes it |
//! | `uninstall: remove` (default) | nothing: images stay on the host (other releases and rollbacks use them) |
//!
//! Commands (`Action::Command`, `health: {command: …}`) run on this machine with `/bin/sh -c`,
//! the release's environment and `DOCKER_HOST` set to the target's engine. The HTTP probe goes
//! to `127.0.0.1:PORT`, where the container's port is published.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StopContainerOptions,
};
use slipway_spec::deploy::{Action, DockerTarget, HealthProbe, ServiceDef, Target};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::OnceCell;

use super::{Release, TargetError};
use crate::{Artifact, DeployLog};

/// Time between SIGTERM and SIGKILL when a container is stopped, by default.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
/// Seconds an Engine API request may take.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// The engine used when `docker_host:` is not given.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The driver of one `kind: docker` target.
#[derive(Debug)]
pub struct DockerDriver {
    name: String,
    environment: String,
    /// The engine's UNIX socket.
    socket: String,
    /// `DOCKER_HOST` for commands.
    docker_host: String,
    port: Option<u16>,
    container_port: Option<u16>,
    install: Option<String>,
    activate: Action,
    deactivate: Action,
    uninstall: Action,
    grace: Duration,
    client: OnceCell<Docker>,
}

impl DockerDriver {
    /// A driver for `target` of the environment whose state lives in `env_dir` (`STATE/ENV`:
    /// its last component names the environment in container names and labels), running the
    /// actions of `service` (the built-ins where `None`). The engine is contacted on first use.
    pub fn new(
        target: &Target,
        docker: &DockerTarget,
        service: &ServiceDef,
        env_dir: &Path,
    ) -> Result<DockerDriver, TargetError> {
        let name = target.name.clone();
        let bad = |what: String| TargetError(format!("target {name}: {what}"));
        let socket = match docker.docker_host.as_deref() {
            None => DEFAULT_SOCKET.to_owned(),
            Some(host) => match host.strip_prefix("unix://") {
                Some(path) if path.starts_with('/') => path.to_owned(),
                _ if host.starts_with('/') => host.to_owned(),
                _ => {
                    return Err(bad(format!(
                        "docker_host {host:?}: only a local engine's socket is supported \
                         (unix:///PATH)"
                    )));
                }
            },
        };
        if target.port.is_none() {
            return Err(bad(
                "docker targets need `port:` (published on 127.0.0.1)".into()
            ));
        }
        let install = match &service.install {
            None => None,
            Some(Action::Command(command)) => Some(command.clone()),
            Some(other) => return Err(bad(not_allowed("install", other))),
        };
        let activate = service.activate.clone().unwrap_or(Action::Start {
            command: String::new(),
        });
        let deactivate = service.deactivate.clone().unwrap_or(Action::Stop);
        let uninstall = service.uninstall.clone().unwrap_or(Action::Remove);
        if !matches!(activate, Action::Start { .. } | Action::Command(_)) {
            return Err(bad(not_allowed("activate", &activate)));
        }
        if !matches!(deactivate, Action::Stop | Action::Command(_)) {
            return Err(bad(not_allowed("deactivate", &deactivate)));
        }
        if !matches!(uninstall, Action::Remove | Action::Command(_)) {
            return Err(bad(not_allowed("uninstall", &uninstall)));
        }
        Ok(DockerDriver {
            environment: env_dir
                .file_name()
                .map_or_else(|| "env".to_owned(), |n| n.to_string_lossy().into_owned()),
            docker_host: format!("unix://{socket}"),
            socket,
            port: target.port,
            container_port: docker.container_port.or(target.port),
            install,
            activate,
            deactivate,
            uninstall,
            grace: DEFAULT_STOP_GRACE,
            client: OnceCell::new(),
            name,
        })
    }

    /// Sets the time between SIGTERM and SIGKILL when a container is stopped.
    pub fn with_stop_grace(mut self, grace: Duration) -> DockerDriver {
        self.grace = grace;
        self
    }

    /// The container of a release: `slipway-ENV-TARGET-SHORTDIGEST`.
    pub fn container_name(&self, digest: &str) -> String {
        let hex = digest.rsplit(':').next().unwrap_or(digest);
        let short: String = hex.chars().take(12).collect();
        format!(
            "slipway-{}-{}-{}",
            sanitise(&self.environment),
            sanitise(&self.name),
            sanitise(&short)
        )
    }

    /// Makes sure the release's image is on the Docker host (after the `install` command, if
    /// any); no registry is used.
    pub async fn install(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let (reference, digest) = self.image(release)?;
        if let Some(command) = &self.install {
            self.command("install", command, release, None, log).await?;
        }
        let docker = self.client().await?;
        match docker.inspect_image(digest).await {
            Ok(_) => {
                log.line(&format!(
                    "{}: image {reference} ({digest}) is on the Docker host",
                    self.name
                ));
                Ok(())
            }
            Err(e) if is_not_found(&e) => Err(self.error(&format!(
                "image {reference} ({digest}) is not on the Docker host at {}; no registry is \
                 used: build or load it there first (docker build, docker load, docker import)",
                self.docker_host
            ))),
            Err(e) => Err(self.error(&format!("cannot look up image {reference}: {e}"))),
        }
    }

    /// Creates and starts the release's container (a leftover of the same name is replaced),
    /// or runs the `activate` command.
    pub async fn activate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let command = match &self.activate {
            Action::Command(command) => {
                return self.command("activate", command, release, None, log).await;
            }
            Action::Start { command } => command,
            _ => return Err(self.error("activate: unsupported action")),
        };
        let (_, digest) = self.image(release)?;
        let docker = self.client().await?;
        let name = self.container_name(digest);
        let (Some(port), Some(container_port)) = (release.port.or(self.port), self.container_port)
        else {
            return Err(self.error("no `port:` to publish"));
        };
        // A container of this release left by an earlier attempt would hold the name.
        self.remove(docker, &name).await?;
        let exposed = format!("{container_port}/tcp");
        let mut env: Vec<String> = release
            .env
            .iter()
            .filter(|(k, _)| k != "PORT")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.push(format!("PORT={container_port}"));
        let labels = HashMap::from([
            ("slipway.managed".to_owned(), "true".to_owned()),
            ("slipway.environment".to_owned(), self.environment.clone()),
            ("slipway.target".to_owned(), self.name.clone()),
            ("slipway.digest".to_owned(), digest.to_owned()),
            ("slipway.version".to_owned(), release.version.clone()),
        ]);
        let binding = PortBinding {
            host_ip: Some("127.0.0.1".to_owned()),
            host_port: Some(port.to_string()),
        };
        let body = ContainerCreateBody {
            image: Some(digest.to_owned()),
            cmd: (!command.trim().is_empty())
                .then(|| vec!["/bin/sh".into(), "-c".into(), format!("exec {command}")]),
            env: Some(env),
            labels: Some(labels),
            exposed_ports: Some(vec![exposed.clone()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(exposed, Some(vec![binding]))])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        let created = docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| self.error(&format!("cannot create container {name}: {e}")))?;
        if let Err(e) = docker.start_container(&created.id, None).await {
            let _ = self.remove(docker, &name).await;
            return Err(self.error(&format!(
                "cannot start container {name} (127.0.0.1:{port} → {container_port}): {e}"
            )));
        }
        log.line(&format!(
            "{}: started container {name} (127.0.0.1:{port} → {container_port})",
            self.name
        ));
        Ok(())
    }

    /// Stops (SIGTERM, grace, SIGKILL) and removes the release's container (absent is not an
    /// error), or runs the `deactivate` command.
    pub async fn deactivate(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        match &self.deactivate {
            Action::Command(command) => {
                return self
                    .command("deactivate", command, release, None, log)
                    .await;
            }
            Action::Stop => {}
            _ => return Err(self.error("deactivate: unsupported action")),
        }
        let docker = self.client().await?;
        let name = self.container_name(release.artifact.digest());
        let grace = i32::try_from(self.grace.as_secs().max(1)).unwrap_or(i32::MAX);
        let options = StopContainerOptions {
            t: Some(grace),
            ..Default::default()
        };
        match docker.stop_container(&name, Some(options)).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {
                log.line(&format!(
                    "{}: no container {name}: nothing to stop",
                    self.name
                ));
                return Ok(());
            }
            // 304: stopped already.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(self.error(&format!("cannot stop container {name}: {e}"))),
        }
        self.remove(docker, &name).await?;
        log.line(&format!(
            "{}: stopped and removed container {name}",
            self.name
        ));
        Ok(())
    }

    /// Nothing for the built-in: images stay on the host for other releases and rollbacks;
    /// or runs the `uninstall` command.
    pub async fn uninstall(
        &self,
        release: &Release,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        match &self.uninstall {
            Action::Command(command) => {
                self.command("uninstall", command, release, None, log).await
            }
            _ => {
                log.line(&format!(
                    "{}: the image stays on the Docker host (uninstall removes nothing)",
                    self.name
                ));
                Ok(())
            }
        }
    }

    /// One health probe: GET `http://127.0.0.1:PORT{path}` (2xx), or the command here (exit 0).
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
                super::ssh::http_probe("127.0.0.1", port, path, timeout).await
            }
            HealthProbe::Command(command) => {
                let mut quiet = Quiet;
                self.command("health", command, release, Some(timeout), &mut quiet)
                    .await
                    .map_err(|e| e.0)
            }
        }
    }

    /// The client, connected and version-negotiated on first use.
    async fn client(&self) -> Result<&Docker, TargetError> {
        self.client
            .get_or_try_init(|| async {
                let docker = Docker::connect_with_unix(
                    &self.socket,
                    REQUEST_TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )
                .map_err(|e| self.unreachable(&e))?;
                docker
                    .negotiate_version()
                    .await
                    .map_err(|e| self.unreachable(&e))
            })
            .await
    }

    fn unreachable(&self, e: &bollard::errors::Error) -> TargetError {
        self.error(&format!(
            "cannot reach the Docker engine at {}: {e}",
            self.docker_host
        ))
    }

    fn image<'r>(&self, release: &'r Release) -> Result<(&'r str, &'r str), TargetError> {
        match &release.artifact {
            Artifact::Image { reference, digest } => Ok((reference, digest)),
            Artifact::File { name, .. } => Err(self.error(&format!(
                "docker targets deploy images; artifact {name} is a file"
            ))),
        }
    }

    /// Removes a container whether it runs or not; absent is fine.
    async fn remove(&self, docker: &Docker, name: &str) -> Result<(), TargetError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.error(&format!("cannot remove container {name}: {e}"))),
        }
    }

    /// Runs `command` here with `sh -c`, the release's environment and `DOCKER_HOST`; each
    /// output line goes to `log`. A non-zero exit (or the timeout) is an error.
    async fn command(
        &self,
        phase: &str,
        command: &str,
        release: &Release,
        timeout: Option<Duration>,
        log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(command)
            .envs(release.env.iter().map(|(k, v)| (k, v)))
            .env("DOCKER_HOST", &self.docker_host)
            .env("TARGET", &self.name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| self.error(&format!("{phase}: cannot start /bin/sh: {e}")))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self.error(&format!("{phase}: no output pipes")));
        };
        let mut out = BufReader::new(out).lines();
        let mut err = BufReader::new(err).lines();
        let mut last = String::new();
        let work = async {
            let (mut out_open, mut err_open) = (true, true);
            while out_open || err_open {
                let line = tokio::select! {
                    l = out.next_line(), if out_open => l.unwrap_or(None).or_else(|| { out_open = false; None }),
                    l = err.next_line(), if err_open => l.unwrap_or(None).or_else(|| { err_open = false; None }),
                };
                if let Some(line) = line {
                    log.line(&format!("{}: {line}", self.name));
                    if !line.trim().is_empty() {
                        last = line;
                    }
                }
            }
            child.wait().await
        };
        let status = match timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(status) => status,
                Err(_) => {
                    if let Some(pid) = pid {
                        // SAFETY: kill(2) on the process group of a child we spawned.
                        unsafe {
                            libc::kill(-pid, libc::SIGKILL);
                        }
                    }
                    return Err(self.error(&format!(
                        "{phase}: `{command}` did not finish within {limit:?}"
                    )));
                }
            },
            None => work.await,
        }
        .map_err(|e| self.error(&format!("{phase}: waiting for /bin/sh: {e}")))?;
        if status.success() {
            return Ok(());
        }
        let how = status
            .code()
            .map_or_else(|| "was killed".to_owned(), |c| format!("exited with {c}"));
        let tail = if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        };
        Err(self.error(&format!("{phase}: `{command}` {how}{tail}")))
    }

    fn error(&self, what: &str) -> TargetError {
        TargetError(format!("target {} (docker): {what}", self.name))
    }
}

fn not_allowed(phase: &str, action: &Action) -> String {
    let name = match action {
        Action::Command(_) => "command",
        Action::Copy { .. } => "copy",
        Action::Start { .. } => "start",
        Action::Stop => "stop",
        Action::Remove => "remove",
    };
    format!("`{phase}: {name}` is not available for docker targets (the artifact is an image)")
}

/// Characters Docker accepts in names: `[a-zA-Z0-9_.-]`.
fn sanitise(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A log that drops lines (health probes report only their verdict).
struct Quiet;

impl DeployLog for Quiet {
    fn line(&mut self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::sanitise;

    #[test]
    fn names_keep_only_docker_characters() {
        assert_eq!(sanitise("web-1.a_b"), "web-1.a_b");
        assert_eq!(sanitise("a b/c"), "a_b_c");
    }
}
