//! The `deploy:` job kind: the artifact resolved to its digest from the
//! jobs this one needs, then handed to the run's [`Deployer`], its progress
//! recorded and logged as the job's one step.

use slipway_spec::deploy::{ArtifactRef, DeployJob};

use crate::job::{JobOutcome, JobRunner};
use crate::job_single::MaskedLines;
use crate::ports::{
    DeployArtifact, DeployRequest, DeployResult, Executor, StepExit, Store, Workspace,
};
use crate::records::{ArtifactKind, ArtifactRecord, CacheStatus, Digest, JobResult};

/// Where an artifact deployed by digest is restored, under the workspace.
const RELEASE_DIR: &str = ".slipway/release";

impl<E: Executor, S: Store> JobRunner<'_, E, S> {
    /// Resolves the artifact: the named artifact of a job this one needs,
    /// where it now is in the workspace (restored there, or built there), or
    /// an artifact of an earlier run restored from the store by its digest
    /// (a `sha256:` digest is a container image's id).
    async fn deploy_artifact(
        &self,
        ws: &E::Workspace,
        job: &DeployJob,
    ) -> Result<DeployArtifact, String> {
        let root = ws.root();
        match &job.artifact {
            ArtifactRef::Image(reference) => Ok(DeployArtifact::Image {
                reference: reference.clone(),
            }),
            ArtifactRef::Digest { name, digest } => {
                // A container image released earlier: its id pins the same
                // bytes on this Docker engine.
                if let Some(hex) = digest.strip_prefix("sha256:") {
                    if !is_hex64(hex) {
                        return Err(format!(
                            "image `{name}`: `{digest}` is not an image digest (`sha256:` and 64 hex characters)"
                        ));
                    }
                    return Ok(DeployArtifact::Image {
                        reference: digest.to_ascii_lowercase(),
                    });
                }
                let record = by_digest(name, digest)?;
                self.blocking_restore(&record, ws).await.map_err(|error| {
                    format!(
                        "artifact `{name}` with digest {digest} could not be restored from this store (was it published by a run this store kept?): {error}"
                    )
                })?;
                Ok(DeployArtifact::File {
                    name: record.name,
                    path: root.join(&record.path),
                    digest: record.digest,
                })
            }
            ArtifactRef::Job {
                job: from,
                artifact,
            } => {
                let produced = self
                    .upstream
                    .iter()
                    .filter(|up| up.key == *from || up.key.starts_with(&format!("{from} (")))
                    .flat_map(|up| up.artifacts.iter())
                    .find(|a| a.name == *artifact);
                match produced {
                    Some(record) => Ok(DeployArtifact::File {
                        name: record.name.clone(),
                        path: root.join(&record.path),
                        digest: record.digest.clone(),
                    }),
                    None => Err(format!(
                        "no job of this run produced artifact `{from}.{artifact}` (did `{from}` succeed and declare it?)"
                    )),
                }
            }
        }
    }

    pub(crate) async fn run_deploy(&self, ws: &mut E::Workspace, job: &DeployJob) -> JobOutcome {
        let shared = self.shared;
        let failed = |error: String| JobOutcome::failed(error, CacheStatus::Uncached, self.started);
        let Some(deployer) = shared.options.deployer.clone() else {
            return failed("this agent cannot run `deploy:` jobs".to_string());
        };
        let artifact = match self.deploy_artifact(ws, job).await {
            Ok(artifact) => artifact,
            Err(error) => return failed(error),
        };
        let mut step = match self.begin_single_step(format!("deploy to {}", job.environment)) {
            Ok(step) => step,
            Err(error) => return failed(error),
        };
        let DeployResult { result, release } = {
            let mut lines = MaskedLines::new(&shared.masker, &mut step.sink);
            let request = DeployRequest {
                job,
                root: ws.root(),
                artifact,
                run: &shared.run,
                job_key: self.key,
                version: format!("run {}", shared.run),
                approver: shared.options.approver.clone(),
                approvals: shared.approvals_so_far(),
                commit: shared.options.git.sha.clone(),
                commit_time: None,
                freeze_override: shared.options.freeze_override.clone(),
            };
            deployer.0.deploy(request, &mut lines, &self.cancel).await
        };
        let cancelled = *self.cancel.borrow();
        let exit = match (&result, cancelled) {
            (Ok(_), _) => StepExit::Exited(0),
            (Err(_), true) => StepExit::Cancelled,
            (Err(_), false) => StepExit::Exited(1),
        };
        if let Err(error) =
            self.end_single_step(step, exit, result.as_ref().err().map(String::as_str))
        {
            return JobOutcome {
                release,
                ..failed(error)
            };
        }
        let outcome = match result {
            Ok(_) => JobOutcome {
                result: JobResult::Success,
                ..failed(String::new())
            }
            .without_error(),
            Err(error) if cancelled => JobOutcome {
                result: JobResult::Cancelled,
                ..failed(error)
            },
            Err(error) => failed(error),
        };
        JobOutcome { release, ..outcome }
    }
}

fn is_hex64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The record of an artifact deployed by digest (`blake3:HEX` or `HEX`),
/// restored to `.slipway/release/HEX/NAME` under the workspace.
fn by_digest(name: &str, digest: &str) -> Result<ArtifactRecord, String> {
    let hex = digest.strip_prefix("blake3:").unwrap_or(digest);
    if !is_hex64(hex) {
        return Err(format!(
            "artifact `{name}`: `{digest}` is not an artifact digest (64 hex characters of BLAKE3, optionally after `blake3:`)"
        ));
    }
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!(
            "artifact name `{name}` cannot be a file name (no `/`, not `.` or `..`)"
        ));
    }
    let hex = hex.to_ascii_lowercase();
    Ok(ArtifactRecord {
        name: name.to_string(),
        path: format!("{RELEASE_DIR}/{hex}/{name}"),
        digest: Digest(hex),
        // Unknown until restored; the store checks the content against
        // the digest as it writes the file.
        size: 0,
        kind: ArtifactKind::File,
    })
}
