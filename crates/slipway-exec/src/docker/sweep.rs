//! Removing what agents that died left behind: containers and networks labelled
//! `slipway.managed=true` whose `slipway.owner` process no longer runs.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use slipway_engine::ports::ExecError;

use super::api::{self, LABEL_MANAGED, LABEL_OWNER};

/// What a sweep removed, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    /// Objects that should have gone but could not be removed, with the reason.
    pub failures: Vec<String>,
}

fn managed_filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{LABEL_MANAGED}=true")])])
}

fn orphaned(labels: Option<&HashMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(LABEL_OWNER))
        .is_some_and(|owner| !api::owner_alive(owner))
}

/// Removes the containers first (a network in use cannot go), then the networks.
pub(crate) async fn sweep(docker: &Docker) -> Result<SweepReport, ExecError> {
    let mut report = SweepReport::default();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(managed_filter()),
            ..Default::default()
        }))
        .await
        .map_err(|e| ExecError(format!("cannot list Slipway's containers: {e}")))?;
    for container in containers {
        if !orphaned(container.labels.as_ref()) {
            continue;
        }
        let Some(id) = container.id else { continue };
        let name = container
            .names
            .and_then(|names| names.into_iter().next())
            .map_or_else(|| id.clone(), |n| n.trim_start_matches('/').to_owned());
        match api::remove_container(docker, &id).await {
            Ok(()) => report.containers.push(name),
            Err(e) => report.failures.push(e),
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(managed_filter()),
        }))
        .await
        .map_err(|e| ExecError(format!("cannot list Slipway's networks: {e}")))?;
    for network in networks {
        if !orphaned(network.labels.as_ref()) {
            continue;
        }
        let Some(id) = network.id else { continue };
        let name = network.name.unwrap_or_else(|| id.clone());
        match api::remove_network(docker, &id).await {
            Ok(()) => report.networks.push(name),
            Err(e) => report.failures.push(e),
        }
    }
    Ok(report)
}
