//! Polling: fetch, compare branches and tags with the last reading, start runs for what moved.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use slipway_git::{Mirror, RefChange, Refs, diff_refs};
use slipway_spec::TriggerEvent;
use slipway_store::sql::{Project, ServerStore};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::pipeline::read_pipeline;
use crate::{RunRequest, RunStarter, TriggerError, Triggers};

/// The project setting that overrides the polling interval, in seconds; 0 turns polling off
/// for the project (webhooks only).
pub const POLL_INTERVAL_SETTING: &str = "poll_interval_secs";

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    /// One polling pass over one project: fetch, diff branches and tags against the last
    /// reading (persisted across restarts), and start a run for each moved or new branch head
    /// and each new or moved tag whose `on` filters match. The first pass only records the refs.
    ///
    /// Changed paths come from the commit range; they are unknown (path filters pass, as on
    /// GitHub) for a new branch or a force push. A commit without a valid pipeline file still
    /// starts a run, failed with the reason. Deleted refs start nothing. A change whose run
    /// could not be started is not recorded, so the next pass tries it again.
    pub async fn poll_project(&self, project: &Project) -> Result<Vec<i64>, TriggerError> {
        let lock = self.project_lock(project.id);
        let _guard = lock.lock().await;
        let mirror = self.fetched_mirror(project).await?;
        let now = mirror.refs().await?;
        let Some(before) = self.saved_refs(project.id).await? else {
            self.save_refs(project.id, &now).await?;
            return Ok(Vec::new());
        };
        let mut recorded = now.clone();
        let mut runs = Vec::new();
        for change in diff_refs(&before, &now) {
            let Some(request) = change_request(project.id, &mirror, &change).await else {
                continue;
            };
            match self.start(request).await {
                Ok(run) => runs.push(run),
                Err(_) => forget(&mut recorded, &before, &change),
            }
        }
        self.save_refs(project.id, &recorded).await?;
        Ok(runs)
    }

    /// Polls every project every `interval` (a project's `poll_interval_secs` setting
    /// overrides it; 0 skips the project) until `shutdown` turns true. Errors are logged and
    /// the project is tried again at its next turn.
    pub async fn poll_loop(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut next_due: HashMap<i64, Instant> = HashMap::new();
        while !*shutdown.borrow() {
            let mut wake = Instant::now() + interval.max(Duration::from_secs(1));
            match self.store.list_projects().await {
                Ok(projects) => {
                    next_due.retain(|id, _| projects.iter().any(|p| p.id == *id));
                    for project in &projects {
                        if *shutdown.borrow() {
                            return;
                        }
                        let Some(every) = project_interval(project, interval) else {
                            continue;
                        };
                        let due = next_due
                            .get(&project.id)
                            .copied()
                            .unwrap_or_else(Instant::now);
                        if due <= Instant::now() {
                            if let Err(err) = self.poll_project(project).await {
                                tracing::warn!(project = %project.name, error = %err, "polling failed");
                            }
                            let next = Instant::now() + every;
                            next_due.insert(project.id, next);
                            wake = wake.min(next);
                        } else {
                            wake = wake.min(due);
                        }
                    }
                }
                Err(err) => tracing::error!(error = %err, "polling: cannot list projects"),
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// The project's polling interval: its setting, else `default`; `None` when set to 0. At
/// least one second, so a typo cannot make the server fetch in a busy loop.
fn project_interval(project: &Project, default: Duration) -> Option<Duration> {
    let every = match project
        .settings
        .get(POLL_INTERVAL_SETTING)
        .and_then(|v| v.as_u64())
    {
        Some(0) => return None,
        Some(secs) => Duration::from_secs(secs),
        None => default,
    };
    Some(every.max(Duration::from_secs(1)))
}

/// Puts a change back to its old value in `recorded`, so that the next pass sees it again.
fn forget(recorded: &mut Refs, before: &Refs, change: &RefChange) {
    let (map, old, name) = match change {
        RefChange::BranchUpdated { branch, .. } | RefChange::BranchCreated { branch, .. } => {
            (&mut recorded.branches, &before.branches, branch)
        }
        RefChange::TagCreated { tag, .. } | RefChange::TagMoved { tag, .. } => {
            (&mut recorded.tags, &before.tags, tag)
        }
        RefChange::BranchDeleted { .. } | RefChange::TagDeleted { .. } => return,
    };
    match old.get(name) {
        Some(sha) => map.insert(name.clone(), sha.clone()),
        None => map.remove(name),
    };
}

/// The run a ref change asks for, if any: `None` for deletions and for pipelines whose `on`
/// does not match (logged).
async fn change_request(
    project_id: i64,
    mirror: &Mirror,
    change: &RefChange,
) -> Option<RunRequest> {
    let (trigger, branch, tag, before, sha) = match change {
        RefChange::BranchUpdated {
            branch,
            before,
            after,
        } => ("push", Some(branch), None, Some(before.as_str()), after),
        RefChange::BranchCreated { branch, after } => ("push", Some(branch), None, None, after),
        RefChange::TagCreated { tag, sha } => ("tag", None, Some(tag), None, sha),
        RefChange::TagMoved { tag, after, .. } => ("tag", None, Some(tag), None, after),
        RefChange::BranchDeleted { .. } | RefChange::TagDeleted { .. } => return None,
    };
    let changed = match before {
        Some(before) if branch.is_some() => match mirror.changed_paths(before, sha).await {
            Ok(Some(changed)) if !changed.truncated => Some(changed.paths),
            _ => None,
        },
        _ => None,
    };
    let what = match (branch, tag) {
        (Some(branch), _) => format!("push to branch {branch}"),
        (None, Some(tag)) => format!("tag {tag}"),
        (None, None) => return None,
    };
    let (source, reason) = match read_pipeline(mirror, sha).await {
        Ok((source, pipeline)) => {
            let event = match (branch, tag) {
                (Some(branch), _) => TriggerEvent::Push {
                    branch,
                    changed_paths: changed.as_deref(),
                },
                (None, Some(tag)) => TriggerEvent::Tag { tag },
                (None, None) => return None,
            };
            let verdict = pipeline.on.matches(&event);
            if !verdict.matched {
                tracing::info!(project_id, change = %what, reason = %verdict.reason,
                    "polling: pipeline not triggered");
                return None;
            }
            (Ok(source), verdict.reason)
        }
        Err(why) => (Err(why), what),
    };
    Some(RunRequest::new(
        project_id,
        trigger,
        branch.cloned(),
        tag.cloned(),
        sha,
        changed,
        source,
        reason,
    ))
}
