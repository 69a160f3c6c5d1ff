//! Strategies: which targets change when, and the one path every target
//! takes (see [`step`]): drain ─► deactivate + uninstall old ─► install +
//! activate new ─► health ─► ready.
//!
//! [`rolling`] goes batch by batch and rolls the updated targets back when
//! failures pass `max_fail_percentage`; [`blue_green`] installs the idle set
//! and switches traffic in one `apply`; [`canary`] puts the new release on a
//! few targets, moves a share of the requests to them with HAProxy weights,
//! verifies and asks between steps, then promotes it by the rolling path or
//! rolls the canary targets back.
//!
//! HAProxy forgets runtime state on reload, so the intended state of every
//! server (admin state and canary weight) lives in `state.json` and is re-applied before each batch and at
//! the end ([`Ctx::reapply`]).

pub mod blue_green;
pub mod canary;
pub mod rolling;
pub mod step;
pub mod weights;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_engine::ports::CancelSignal;
use slipway_lb::{DesiredServer, DesiredState, HaproxyClient, Weight};
use slipway_spec::deploy::{Health, ServiceDef, Target};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::state::{EnvFiles, EnvState, TargetRecord, TargetState, now_ms};
use crate::targets::{Release, TargetDriver};
use crate::{Artifact, DeployError, DeployLog};

/// HAProxy as an environment uses it.
#[derive(Debug)]
pub struct Lb {
    pub client: HaproxyClient,
    pub backend: String,
    pub drain_timeout: Duration,
}

/// Everything a strategy needs, shared by the tasks of one batch.
#[derive(Debug)]
pub struct Ctx {
    pub env_name: String,
    pub files: EnvFiles,
    pub targets: Vec<Target>,
    pub drivers: Vec<Arc<TargetDriver>>,
    pub service: ServiceDef,
    pub health: Option<Health>,
    pub lb: Option<Lb>,
    pub parallelism: usize,
    pub state: Mutex<EnvState>,
}

/// A release to put on a target.
#[derive(Clone, Debug)]
pub struct Planned {
    pub artifact: Artifact,
    pub version: String,
}

/// How a strategy ended.
#[derive(Debug)]
pub struct StrategyResult {
    pub outcome: crate::state::Outcome,
    pub message: Option<String>,
    pub targets: Vec<TargetRecord>,
    /// A canary's verification steps, with their evidence (for the release record).
    pub verifications: Vec<slipway_verify::Verification>,
    /// A canary's approval gates (`pause: until-approved`, an inconclusive verification).
    pub approvals: Vec<slipway_engine::ports::ApprovalDecision>,
}

impl StrategyResult {
    /// A result without canary evidence.
    pub fn new(
        outcome: crate::state::Outcome,
        message: Option<String>,
        targets: Vec<TargetRecord>,
    ) -> StrategyResult {
        StrategyResult {
            outcome,
            message,
            targets,
            verifications: Vec::new(),
            approvals: Vec::new(),
        }
    }
}

impl Ctx {
    /// Changes one target's state and writes `state.json` at once.
    pub fn update(
        &self,
        index: usize,
        change: impl FnOnce(&mut TargetState),
    ) -> Result<(), String> {
        let name = self
            .targets
            .get(index)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let mut state = self
            .state
            .lock()
            .map_err(|_| "state lock poisoned".to_owned())?;
        let target = state.targets.entry(name).or_default();
        change(target);
        target.updated_ms = now_ms();
        self.files.save_state(&state).map_err(|e| e.to_string())
    }

    /// A copy of one target's state.
    pub fn target_state(&self, index: usize) -> TargetState {
        let name = self
            .targets
            .get(index)
            .map(|t| t.name.as_str())
            .unwrap_or_default();
        self.state
            .lock()
            .ok()
            .and_then(|s| s.targets.get(name).cloned())
            .unwrap_or_default()
    }

    /// Saves the whole state after `change`.
    pub fn update_env(&self, change: impl FnOnce(&mut EnvState)) -> Result<(), DeployError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| DeployError::State("state lock poisoned".to_owned()))?;
        change(&mut state);
        self.files.save_state(&state)
    }

    /// Makes HAProxy match the intended state of every target that has one.
    pub async fn reapply(&self, log: &mut dyn DeployLog) -> Result<(), String> {
        let Some(lb) = &self.lb else { return Ok(()) };
        let desired = {
            let state = self
                .state
                .lock()
                .map_err(|_| "state lock poisoned".to_owned())?;
            DesiredState {
                backend: lb.backend.clone(),
                servers: self
                    .targets
                    .iter()
                    .filter_map(|t| {
                        let target = state.targets.get(&t.name)?;
                        Some(DesiredServer {
                            name: t.lb_server.clone(),
                            state: target.lb?.to_lb(),
                            weight: target.weight.map(Weight::Absolute),
                        })
                    })
                    .collect(),
            }
        };
        if desired.servers.is_empty() {
            return Ok(());
        }
        let changes = lb
            .client
            .apply(&desired)
            .await
            .map_err(|e| format!("re-applying the intended HAProxy state: {e}"))?;
        for change in changes {
            log.line(&format!(
                "HAProxy differed from the intended state (a reload?); re-applied: {change:?}"
            ));
        }
        Ok(())
    }

    /// The release of `planned` on target `index`.
    pub fn release(&self, index: usize, planned: &Planned) -> Result<Release, String> {
        let target = self.targets.get(index).ok_or("no such target")?;
        Release::new(
            target,
            &self.service,
            planned.artifact.clone(),
            planned.version.clone(),
            &self.files.dir,
        )
        .map_err(|e| e.0)
    }

    /// What target `index` runs now, as a release to go back to.
    pub fn current(&self, index: usize) -> Option<Planned> {
        let state = self.target_state(index);
        let digest = state.digest?;
        Some(Planned {
            artifact: self.kept_artifact(
                &digest,
                state.artifact_name.as_deref().unwrap_or("artifact"),
            ),
            version: state.version.unwrap_or_default(),
        })
    }

    /// The artifact of `digest` as kept under `artifacts/` ([`EnvFiles::kept_artifact`]).
    pub fn kept_artifact(&self, digest: &str, name: &str) -> Artifact {
        self.files.kept_artifact(digest, name)
    }
}

/// A [`DeployLog`] for a task: lines go through a channel to the caller's log.
struct ChannelLog(mpsc::UnboundedSender<String>);

impl DeployLog for ChannelLog {
    fn line(&mut self, text: &str) {
        let _ = self.0.send(text.to_owned());
    }
}

/// What one task of a batch returns: the target index and its record.
pub type TaskResult = (usize, TargetRecord, Result<(), String>);

/// Runs `work` for each index, at most `concurrency` at once, forwarding
/// the tasks' log lines to `log` as they come. Results in completion order;
/// a task that panicked counts as a failure of its target.
pub async fn run_concurrently<F, Fut>(
    ctx: &Ctx,
    indices: &[usize],
    concurrency: usize,
    log: &mut dyn DeployLog,
    work: F,
) -> Vec<TaskResult>
where
    F: Fn(usize, Box<dyn DeployLog>) -> Fut,
    Fut: std::future::Future<Output = TaskResult> + Send + 'static,
{
    let (sender, mut lines) = mpsc::unbounded_channel::<String>();
    let mut pending = indices.iter().copied();
    let mut running = JoinSet::new();
    let mut spawned = std::collections::HashMap::new();
    let mut results = Vec::with_capacity(indices.len());
    let concurrency = concurrency.max(1);
    loop {
        while running.len() < concurrency {
            let Some(index) = pending.next() else { break };
            let handle = running.spawn(work(index, Box::new(ChannelLog(sender.clone()))));
            spawned.insert(handle.id(), (index, now_ms()));
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some(line) = lines.recv() => log.line(&line),
            joined = running.join_next() => match joined {
                Some(Ok(result)) => results.push(result),
                Some(Err(error)) => {
                    let (index, started_ms) = spawned.get(&error.id()).copied().unwrap_or((usize::MAX, 0));
                    let target = ctx.targets.get(index).map(|t| t.name.clone()).unwrap_or_default();
                    let message = format!("the deployment task failed: {error}");
                    log.line(&format!("{target}: {message}"));
                    let record = TargetRecord {
                        target,
                        from_digest: None,
                        to_digest: String::new(),
                        result: format!("failed: {message}"),
                        started_ms,
                        finished_ms: now_ms(),
                    };
                    results.push((index, record, Err(message)));
                }
                None => {}
            },
        }
    }
    drop(sender);
    while let Ok(line) = lines.try_recv() {
        log.line(&line);
    }
    results
}

/// Shared handle for spawned tasks.
pub type SharedCtx = Arc<Ctx>;

/// Whether the deployment has been cancelled.
pub fn cancelled(cancel: &CancelSignal) -> bool {
    *cancel.borrow()
}
