//! The `deploy:` job kind: the artifact resolved to its digest from the
//! jobs this one needs, then handed to the run's [`Deployer`], its progress
//! recorded and logged as the job's one step.

use slipway_spec::deploy::{ArtifactRef, DeployJob};

use crate::events::Event;
use crate::job::{JobOutcome, JobRunner};
use crate::job_sink::TeeSink;
use crate::ports::{
    DeployArtifact, DeployLine, DeployRequest, DeployResult, Executor, LineSink, SecretMasker,
    StepExit, Store, Stream, Workspace,
};
use crate::records::{CacheStatus, JobResult, Record};
use crate::run::now_ms;

/// Masks each progress line and writes it to the step's sinks.
struct MaskedLines<'a, S: LineSink> {
    masker: &'a SecretMasker,
    sink: &'a mut S,
    buffer: Vec<u8>,
}

impl<S: LineSink> DeployLine for MaskedLines<'_, S> {
    fn line(&mut self, text: &str) {
        // One deployment line may hold several lines of a command's output.
        for line in text.split('\n') {
            self.buffer.clear();
            self.masker.mask(line.as_bytes(), &mut self.buffer);
            self.sink.line(Stream::Stdout, now_ms(), &self.buffer);
        }
        self.sink.flush();
    }
}

impl<E: Executor, S: Store> JobRunner<'_, E, S> {
    /// Resolves the artifact: the named artifact of a job this one needs,
    /// where it now is in the workspace (restored there, or built there).
    fn deploy_artifact(
        &self,
        root: &std::path::Path,
        job: &DeployJob,
    ) -> Result<DeployArtifact, String> {
        match &job.artifact {
            ArtifactRef::Image(reference) => Ok(DeployArtifact::Image {
                reference: reference.clone(),
            }),
            ArtifactRef::Digest { name, .. } => {
                Err(format!("artifact `{name}` by digest: not built yet"))
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
        let artifact = match self.deploy_artifact(ws.root(), job) {
            Ok(artifact) => artifact,
            Err(error) => return failed(error),
        };
        let name = format!("deploy to {}", job.environment);
        let record = Record::StepStarted {
            job: self.index,
            step: 0,
            name: name.clone(),
            at_ms: now_ms(),
        };
        if let Err(error) = self.store.record(&shared.run, &record) {
            return failed(error.to_string());
        }
        shared.events.event(Event::StepStarted {
            job: self.key,
            step: 0,
            name: &name,
        });
        let log = match self.store.open_step_log(&shared.run, self.key, 0) {
            Ok(log) => log,
            Err(error) => return failed(error.to_string()),
        };
        let mut sink = TeeSink {
            log: Some(log),
            view: shared.events.step_output(self.key, 0),
            error: None,
        };
        let started = std::time::Instant::now();
        let result = {
            let mut lines = MaskedLines {
                masker: &shared.masker,
                sink: &mut sink,
                buffer: Vec::new(),
            };
            let request = DeployRequest {
                job,
                root: ws.root(),
                artifact,
                run: &shared.run,
                job_key: self.key,
                version: format!("run {}", shared.run),
                approver: shared.options.approver.clone(),
                approvals: Vec::new(),
                commit: shared.options.git.sha.clone(),
                commit_time: None,
                freeze_override: None,
            };
            deployer.0.deploy(request, &mut lines, &self.cancel).await
        };
        let DeployResult { result, release } = result;
        let cancelled = *self.cancel.borrow();
        let exit = match (&result, cancelled) {
            (Ok(_), _) => StepExit::Exited(0),
            (Err(_), true) => StepExit::Cancelled,
            (Err(_), false) => StepExit::Exited(1),
        };
        if let Err(error) = &result {
            let mut masked = Vec::new();
            shared.masker.mask(error.as_bytes(), &mut masked);
            sink.line(Stream::Stderr, now_ms(), &masked);
        }
        sink.flush();
        let store_error = sink.finish();
        let record = Record::StepFinished {
            job: self.index,
            step: 0,
            exit: exit.clone(),
            attempt: 0,
            at_ms: now_ms(),
        };
        if let Err(error) = self.store.record(&shared.run, &record) {
            return failed(error.to_string());
        }
        shared.events.event(Event::StepFinished {
            job: self.key,
            step: 0,
            name: &name,
            exit: &exit,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        if let Some(error) = store_error {
            return failed(format!("could not store the log: {error}"));
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
