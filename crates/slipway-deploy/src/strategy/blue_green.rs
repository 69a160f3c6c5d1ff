//! Blue-green: two sets of targets (`group: blue|green`) in one backend.
//! The idle set (the one not serving according to `state.json`; green when
//! nothing was deployed yet) gets the new release and its health checks
//! while out of the pool; then traffic switches in one `apply`: the new set
//! ready first, the old set drained after, so the backend is never empty.
//! The old set stays installed and running (drained) for `keep_old`, and
//! `rollback` within that time switches back the same way without
//! reinstalling anything. After `keep_old` the old set is simply the idle
//! set of the next deployment, which replaces it. (No timer stops it
//! earlier: `slipway run` does not stay behind to run one.)
//!
//! If the idle set fails, traffic never moved: the live set keeps serving,
//! the failed targets stay out of the pool, the deployment fails.

use std::time::Duration;

use slipway_engine::ports::CancelSignal;
use slipway_lb::DrainOutcome;

use super::step::{self, Finish};
use super::{Planned, SharedCtx, StrategyResult, run_concurrently};
use crate::DeployLog;
use crate::state::{BlueGreenState, GroupName, LbIntent, Outcome, Phase, now_ms};

/// The set serving now (blue when nothing was recorded, so green is idle).
pub fn live_group(ctx: &SharedCtx) -> GroupName {
    ctx.state
        .lock()
        .ok()
        .and_then(|s| s.blue_green.as_ref().map(|b| b.live))
        .unwrap_or(GroupName::Blue)
}

/// The targets of `group`.
pub fn members(ctx: &SharedCtx, group: GroupName) -> Vec<usize> {
    (0..ctx.targets.len())
        .filter(|&i| ctx.targets.get(i).is_some_and(|t| group.matches(t.group)))
        .collect()
}

/// Installs `planned` on the idle set, checks it, switches traffic to it.
pub async fn run(
    ctx: SharedCtx,
    keep_old: Duration,
    planned: Planned,
    log: &mut dyn DeployLog,
    cancel: CancelSignal,
) -> StrategyResult {
    let live = live_group(&ctx);
    let idle = live.other();
    let idle_set = members(&ctx, idle);
    log.line(&format!(
        "blue-green: {live:?} serves; installing {} on {idle:?}",
        planned.version
    ));
    if let Err(error) = ctx.reapply(log).await {
        return ended(Outcome::Failed, error, Vec::new());
    }
    let results = run_concurrently(
        &ctx,
        &idle_set,
        ctx.parallelism,
        log,
        |index, mut task_log| {
            let ctx = ctx.clone();
            let planned = planned.clone();
            let mut cancel = cancel.clone();
            async move {
                step::replace(
                    &ctx,
                    index,
                    &planned,
                    Finish::Standby,
                    task_log.as_mut(),
                    &mut cancel,
                )
                .await
            }
        },
    )
    .await;
    let mut records = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for (index, record, result) in results {
        if let Err(message) = result {
            let name = ctx
                .targets
                .get(index)
                .map(|t| t.name.as_str())
                .unwrap_or_default();
            failures.push(format!("target {name}: {message}"));
        }
        records.push(record);
    }
    if *cancel.borrow() {
        return ended(
            Outcome::Cancelled,
            "cancelled before the switch; traffic did not move".to_owned(),
            records,
        );
    }
    if !failures.is_empty() {
        return ended(
            Outcome::Failed,
            format!("{}; traffic stays on {live:?}", failures.join("; ")),
            records,
        );
    }
    match switch(&ctx, idle, keep_old, log).await {
        Ok(()) => StrategyResult::new(Outcome::Succeeded, None, records),
        Err(error) => ended(Outcome::Failed, error, records),
    }
}

/// Moves traffic to `to` in one `apply` (ready `to`, drain the other set),
/// records it, and waits for the old set's sessions to end.
pub async fn switch(
    ctx: &SharedCtx,
    to: GroupName,
    keep_old: Duration,
    log: &mut dyn DeployLog,
) -> Result<(), String> {
    let new_set = members(ctx, to);
    let old_set = members(ctx, to.other());
    let has_lb = ctx.lb.is_some();
    ctx.update_env(|state| {
        for (set, intent, phase) in [
            (&new_set, LbIntent::Ready, Phase::Serving),
            (&old_set, LbIntent::Drain, Phase::Standby),
        ] {
            for &i in set {
                if let Some(target) = ctx.targets.get(i) {
                    let entry = state.targets.entry(target.name.clone()).or_default();
                    if has_lb {
                        entry.lb = Some(intent);
                    }
                    if entry.digest.is_some() {
                        entry.phase = phase;
                    }
                    entry.updated_ms = now_ms();
                }
            }
        }
        let keep_ms = u64::try_from(keep_old.as_millis()).unwrap_or(u64::MAX);
        state.blue_green = Some(BlueGreenState {
            live: to,
            standby_until_ms: Some(now_ms().saturating_add(keep_ms)),
        });
    })
    .map_err(|e| e.to_string())?;
    ctx.reapply(log).await?;
    log.line(&format!("blue-green: traffic switched to {to:?}"));
    if let Some(lb) = &ctx.lb {
        for &i in &old_set {
            let Some(target) = ctx.targets.get(i) else {
                continue;
            };
            let outcome = lb
                .client
                .wait_drained(
                    &lb.backend,
                    &target.lb_server,
                    lb.drain_timeout,
                    Duration::from_millis(20),
                )
                .await
                .map_err(|e| format!("target {}: {e}", target.name))?;
            if let DrainOutcome::TimedOut { sessions } = outcome {
                log.line(&format!(
                    "{}: {sessions} session(s) still open after {:?}",
                    target.name, lb.drain_timeout
                ));
            }
        }
    }
    Ok(())
}

/// Whether the set not serving is still installed, healthy and within
/// `keep_old`, so that a rollback can switch back to it at once.
pub fn standby_available(ctx: &SharedCtx) -> Option<GroupName> {
    let state = ctx.state.lock().ok()?;
    let bg = state.blue_green.as_ref()?;
    if bg.standby_until_ms? < now_ms() {
        return None;
    }
    let standby = bg.live.other();
    let set = members(ctx, standby);
    let ready = !set.is_empty()
        && set.iter().all(|&i| {
            ctx.targets
                .get(i)
                .and_then(|t| state.targets.get(&t.name))
                .is_some_and(|t| t.phase == Phase::Standby && t.digest.is_some())
        });
    ready.then_some(standby)
}

fn ended(
    outcome: Outcome,
    message: String,
    targets: Vec<crate::state::TargetRecord>,
) -> StrategyResult {
    StrategyResult::new(outcome, Some(message), targets)
}
