//! Cron: `on.schedule` of the pipeline at each project's default branch head.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slipway_spec::TriggerEvent;
use slipway_store::sql::{Project, ServerStore};
use tokio::sync::watch;

use crate::pipeline::read_pipeline;
use crate::{RunRequest, RunStarter, TriggerError, Triggers};

/// How long after a minute begins the loop ticks: enough for a slow clock to have passed it.
const TICK_OFFSET_MS: u64 = 500;

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    /// One cron tick at `now_ms` (ms since the epoch, UTC): for each project, every
    /// `on.schedule` entry of the pipeline at the default branch head that fired since the
    /// project's last tick (persisted) starts one `schedule` run, however many times it fired
    /// during a downtime. A project's first tick only records the time; a tick at or before the
    /// last one starts nothing. The tick is recorded before the runs start, so a crash can lose
    /// a scheduled run but never start it twice. A project that fails is logged and skipped.
    pub async fn cron_tick(&self, now_ms: u64) -> Result<Vec<i64>, TriggerError> {
        let projects = self.store.list_projects().await?;
        let mut runs = Vec::new();
        for project in &projects {
            match self.cron_project(project, now_ms).await {
                Ok(mut started) => runs.append(&mut started),
                Err(err) => {
                    tracing::warn!(project = %project.name, error = %err, "cron tick failed");
                }
            }
        }
        Ok(runs)
    }

    /// Ticks every minute (just after it begins) until `shutdown` turns true.
    pub async fn cron_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let now = now_ms();
            if let Err(err) = self.cron_tick(now).await {
                tracing::error!(error = %err, "cron tick failed");
            }
            let next_minute = (now_ms() / 60_000 + 1) * 60_000 + TICK_OFFSET_MS;
            let wait = Duration::from_millis(next_minute.saturating_sub(now_ms()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn cron_project(&self, project: &Project, now_ms: u64) -> Result<Vec<i64>, TriggerError> {
        let lock = self.project_lock(project.id);
        let _guard = lock.lock().await;
        let last = self.last_cron_tick(project.id).await?;
        if last.is_some_and(|last| now_ms <= last) {
            return Ok(Vec::new());
        }
        self.save_cron_tick(project.id, now_ms).await?;
        let Some(last) = last else {
            return Ok(Vec::new());
        };

        let synced = self.sync_mirror(project).await;
        let Some(mirror) = synced.mirror else {
            return match synced.error {
                Some(err) => Err(err.into()),
                None => Ok(Vec::new()),
            };
        };
        if let Some(err) = &synced.error {
            // The schedule of the last fetched head still applies.
            tracing::warn!(project = %project.name, error = %err, "cron: fetch failed; using the mirror as it is");
        }
        let branch = &project.default_branch;
        let Some(sha) = mirror.resolve(&format!("refs/heads/{branch}")).await? else {
            tracing::warn!(project = %project.name, branch = %branch, "cron: the default branch does not exist");
            return Ok(Vec::new());
        };
        let (source, pipeline) = match read_pipeline(&mirror, &sha).await {
            Ok(found) => found,
            Err(why) => {
                tracing::debug!(project = %project.name, reason = %why, "cron: no valid pipeline on the default branch");
                return Ok(Vec::new());
            }
        };
        let (last_s, now_s) = (last / 1000, now_ms / 1000);
        let mut runs = Vec::new();
        for schedule in &pipeline.on.schedule {
            let due = schedule.next_after(last_s).is_some_and(|at| at <= now_s);
            if !due {
                continue;
            }
            let verdict = pipeline.on.matches(&TriggerEvent::Schedule {
                cron: &schedule.cron,
            });
            let request = RunRequest::new(
                project.id,
                "schedule",
                Some(branch.clone()),
                None,
                &sha,
                None,
                Ok(source.clone()),
                verdict.reason,
            );
            match self.start(request).await {
                Ok(run) => runs.push(run),
                Err(err) => return Err(TriggerError::Start(err)),
            }
        }
        Ok(runs)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
