//! The Docker objects of one job: its network, its service containers and its container, made
//! in that order and removed in the reverse one.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::CreateContainerOptions;
use futures_util::StreamExt;
use slipway_engine::ports::{ContainerRequest, ExecError, HealthCheck, ServiceRequest};
use tokio::time::Instant;

use super::api;
use super::image;

/// The command that keeps a job's container alive between its steps' execs. Only `sh` and
/// `sleep` are needed, which every image that can run a step has.
const KEEP_ALIVE: &str = "while :; do sleep 3600; done";

/// Everything created for one job, so that it can all be removed.
#[derive(Debug, Default)]
pub(crate) struct JobObjects {
    pub(crate) network: Option<String>,
    pub(crate) services: Vec<String>,
    pub(crate) container: Option<String>,
}

impl JobObjects {
    /// Removes the containers, then the network. Every removal is tried; failures are joined
    /// into one message (which names objects only, never their environment).
    pub(crate) async fn remove(&mut self, docker: &Docker) -> Result<(), String> {
        let mut failures = Vec::new();
        for id in self
            .container
            .take()
            .into_iter()
            .chain(self.services.drain(..))
        {
            if let Err(e) = api::remove_container(docker, &id).await {
                failures.push(e);
            }
        }
        if let Some(network) = self.network.take()
            && let Err(e) = api::remove_network(docker, &network).await
        {
            failures.push(e);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

/// What every container of the job shares.
pub(crate) struct JobContext<'a> {
    pub(crate) docker: &'a Docker,
    /// `slipway-<run>-<job>-<random>`, the start of every object's name.
    pub(crate) prefix: &'a str,
    pub(crate) labels: &'a HashMap<String, String>,
    /// Directories mounted at the same path inside: the workspace root and the output files.
    pub(crate) binds: &'a [String],
}

impl JobContext<'_> {
    /// Creates the network (when there are services), starts the services and waits until they
    /// are healthy, then starts the job's container. Records each object in `objects` as soon
    /// as it exists, so that the caller can remove them all after a failure.
    pub(crate) async fn start(
        &self,
        request: &ContainerRequest,
        root: &Path,
        objects: &mut JobObjects,
    ) -> Result<(), ExecError> {
        if !request.services.is_empty() {
            objects.network = Some(self.create_network().await?);
        }
        for service in &request.services {
            image::ensure(self.docker, &service.image, request.pull).await?;
            let id = self
                .start_service(service, objects.network.as_deref())
                .await
                .map_err(|e| ExecError(format!("service `{}`: {e}", service.name)))?;
            objects.services.push(id.clone());
            self.wait_healthy(&id, service).await?;
        }
        image::ensure(self.docker, &request.image, request.pull).await?;
        let body = self.container_body(
            &request.image,
            vec!["sh".to_owned(), "-c".to_owned(), KEEP_ALIVE.to_owned()],
            Vec::new(),
            root,
            request,
            objects.network.as_deref(),
        )?;
        let id = self.create(&format!("{}-job", self.prefix), body).await?;
        objects.container = Some(id.clone());
        self.docker
            .start_container(&id, None)
            .await
            .map_err(|e| ExecError(format!("cannot start the job's container: {e}")))?;
        Ok(())
    }

    async fn create_network(&self) -> Result<String, ExecError> {
        let request = NetworkCreateRequest {
            name: self.prefix.to_owned(),
            driver: Some("bridge".to_owned()),
            labels: Some(self.labels.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(|e| ExecError(format!("cannot create the job's network: {e}")))?;
        Ok(created.id)
    }

    /// A container of the job: the image, `command` as its whole command line (replacing the
    /// image's entrypoint), the binds, the resources, the labels, the job's network.
    pub(crate) fn container_body(
        &self,
        image: &str,
        command: Vec<String>,
        env: Vec<String>,
        workdir: &Path,
        request: &ContainerRequest,
        network: Option<&str>,
    ) -> Result<ContainerCreateBody, ExecError> {
        Ok(ContainerCreateBody {
            image: Some(image.to_owned()),
            entrypoint: Some(command),
            env: Some(env),
            working_dir: Some(workdir.to_string_lossy().into_owned()),
            labels: Some(self.labels.clone()),
            host_config: Some(HostConfig {
                binds: Some(self.binds.to_vec()),
                // PID 1 reaps orphans and passes signals on.
                init: Some(true),
                nano_cpus: nano_cpus(request.cpus)?,
                memory: memory(request.memory)?,
                network_mode: network.map(str::to_owned),
                ..Default::default()
            }),
            networking_config: network.map(|n| endpoint(n, None)),
            ..Default::default()
        })
    }

    pub(crate) async fn create(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, ExecError> {
        let options = CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| ExecError(format!("cannot create container {name}: {e}")))?;
        Ok(created.id)
    }

    /// Creates and starts a service container: its image's entrypoint, `command` as its
    /// arguments, reachable on the job's network by the service's name.
    async fn start_service(
        &self,
        service: &ServiceRequest,
        network: Option<&str>,
    ) -> Result<String, ExecError> {
        let env = service
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let body = ContainerCreateBody {
            image: Some(service.image.clone()),
            cmd: service.command.clone(),
            env: Some(env),
            labels: Some(self.labels.clone()),
            host_config: Some(HostConfig {
                network_mode: network.map(str::to_owned),
                ..Default::default()
            }),
            networking_config: network.map(|n| endpoint(n, Some(&service.name))),
            ..Default::default()
        };
        let name = format!(
            "{}-svc-{}",
            self.prefix,
            crate::checkout::sanitise(&service.name)
        );
        let id = self.create(&name, body).await?;
        if let Err(e) = self.docker.start_container(&id, None).await {
            // Not recorded yet by the caller: removed here.
            let _ = api::remove_container(self.docker, &id).await;
            return Err(ExecError(format!("cannot start its container: {e}")));
        }
        Ok(id)
    }

    /// Waits until the service's health command succeeds inside it (every `interval`, up to
    /// `timeout`), or, without one, until it runs.
    async fn wait_healthy(&self, id: &str, service: &ServiceRequest) -> Result<(), ExecError> {
        let name = &service.name;
        let Some(health) = &service.health else {
            return match self.running(id).await? {
                Ok(()) => Ok(()),
                Err(exit) => Err(ExecError(format!(
                    "service `{name}` stopped right after it started (exit code {exit})"
                ))),
            };
        };
        let give_up = Instant::now() + health.timeout;
        // The outcome of the last check that finished: a check cut short by the deadline says
        // less than the one before it.
        let mut last = "no check finished in time".to_owned();
        loop {
            if let Err(exit) = self.running(id).await? {
                return Err(ExecError(format!(
                    "service `{name}` stopped (exit code {exit}) before it became healthy"
                )));
            }
            let left = give_up.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.check(id, health)).await {
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(code)) => last = format!("the last check exited with {code}"),
                Ok(Err(e)) => last = format!("the last check could not run: {e}"),
                Err(_) => {}
            }
            if Instant::now() + health.interval >= give_up {
                return Err(ExecError(format!(
                    "service `{name}` did not become healthy within {:?}: {last}",
                    health.timeout
                )));
            }
            tokio::time::sleep(health.interval).await;
        }
    }

    /// `Ok(Ok(()))` while the container runs, `Ok(Err(exit code))` once it stopped.
    async fn running(&self, id: &str) -> Result<Result<(), i64>, ExecError> {
        let inspected = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| ExecError(format!("cannot inspect container {id}: {e}")))?;
        let state = inspected.state.unwrap_or_default();
        if state.running == Some(true) {
            Ok(Ok(()))
        } else {
            Ok(Err(state.exit_code.unwrap_or(-1)))
        }
    }

    /// Runs the health command once; its exit code.
    async fn check(&self, id: &str, health: &HealthCheck) -> Result<i64, bollard::errors::Error> {
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(vec!["sh".to_owned(), "-c".to_owned(), health.cmd.clone()]),
            ..Default::default()
        };
        let exec = self.docker.create_exec(id, options).await?;
        if let StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&exec.id, None).await?
        {
            // The output is not shown: it may hold the service's secrets.
            while output.next().await.is_some() {}
        }
        loop {
            let state = self.docker.inspect_exec(&exec.id).await?;
            if state.running != Some(true) {
                return Ok(state.exit_code.unwrap_or(-1));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn endpoint(network: &str, alias: Option<&str>) -> NetworkingConfig {
    let settings = EndpointSettings {
        aliases: alias.map(|a| vec![a.to_owned()]),
        ..Default::default()
    };
    NetworkingConfig {
        endpoints_config: Some(HashMap::from([(network.to_owned(), settings)])),
    }
}

fn nano_cpus(cpus: Option<f64>) -> Result<Option<i64>, ExecError> {
    let Some(cpus) = cpus else { return Ok(None) };
    let nanos = (cpus * 1e9).round();
    if !nanos.is_finite() || !(1.0..=1e15).contains(&nanos) {
        return Err(ExecError(format!(
            "`cpus: {cpus}` is not a number of CPUs a container can have"
        )));
    }
    // In range by the check above.
    #[allow(clippy::cast_possible_truncation)]
    Ok(Some(nanos as i64))
}

fn memory(bytes: Option<u64>) -> Result<Option<i64>, ExecError> {
    bytes
        .map(|b| {
            i64::try_from(b).map_err(|_| ExecError(format!("`memory: {b}` bytes is too large")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_convert_or_are_refused() {
        assert_eq!(nano_cpus(Some(1.5)).ok(), Some(Some(1_500_000_000)));
        assert_eq!(nano_cpus(None).ok(), Some(None));
        assert!(nano_cpus(Some(0.0)).is_err());
        assert!(nano_cpus(Some(f64::NAN)).is_err());
        assert!(nano_cpus(Some(-2.0)).is_err());
        assert_eq!(memory(Some(512)).ok(), Some(Some(512)));
        assert!(memory(Some(u64::MAX)).is_err());
    }
}
