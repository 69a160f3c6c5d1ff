//! The server's seam to `slipway-triggers`: trigger requests become runs.

use std::sync::Arc;

use slipway_store::sql::{NewRun, Project, SqlStore};
use slipway_triggers::{RunRequest, RunStarter, Triggers};

use crate::driver::Runs;

/// Creates and starts the runs triggers ask for.
pub struct Starter {
    pub runs: Arc<Runs>,
}

impl RunStarter for Starter {
    fn verified(&self, project: &Project, commit: &str) {
        self.runs.queue.hint(&project.repo_url, commit);
    }

    async fn start(&self, request: RunRequest) -> Result<i64, String> {
        let new = NewRun {
            project_id: request.project_id,
            trigger: request.trigger,
            branch: request.branch,
            tag: request.tag,
            commit_sha: request.commit,
            inputs: serde_json::Value::Object(request.inputs),
            triggered_by: request.triggered_by,
        };
        let pipeline = request.pipeline.map(|p| (p.file, p.source));
        let run = self
            .runs
            .create(new, pipeline)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(run = run.id, reason = %request.reason, "run triggered");
        Ok(run.id)
    }
}

/// Webhooks, polling, cron and manual runs of every project.
pub type Hooks = Triggers<Starter, SqlStore>;
