//! `kind: docker` targets (being built).

use std::time::Duration;

use slipway_spec::deploy::HealthProbe;

use super::{Release, TargetError};
use crate::DeployLog;

/// The driver of one `kind: docker` target.
#[derive(Debug)]
pub struct DockerDriver {
    name: String,
}

impl DockerDriver {
    fn unbuilt(&self) -> TargetError {
        TargetError(format!(
            "target {}: docker targets are not built yet",
            self.name
        ))
    }

    pub async fn install(
        &self,
        _release: &Release,
        _log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        Err(self.unbuilt())
    }

    pub async fn activate(
        &self,
        _release: &Release,
        _log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        Err(self.unbuilt())
    }

    pub async fn deactivate(
        &self,
        _release: &Release,
        _log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        Err(self.unbuilt())
    }

    pub async fn uninstall(
        &self,
        _release: &Release,
        _log: &mut dyn DeployLog,
    ) -> Result<(), TargetError> {
        Err(self.unbuilt())
    }

    pub async fn probe(
        &self,
        _probe: &HealthProbe,
        _timeout: Duration,
        _release: &Release,
    ) -> Result<(), String> {
        Err(self.unbuilt().0)
    }
}
