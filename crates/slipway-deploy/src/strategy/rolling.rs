//! Rolling: batches of targets in environment order. Within a batch at most
//! `min(parallelism, max_unavailable)` targets are out of the pool at once
//! (`max_unavailable` defaults to the batch size). After each batch the
//! failures are counted; more than `max_fail_percentage` of all targets
//! stops the rollout, and every target this deployment touched goes back to
//! the release it had before, through the same drain ─► install ─► health
//! ─► ready path. Targets not reached are left alone. A cancel stops the
//! rollout the same way (the rollback runs to its end) and the deployment
//! ends `cancelled`.
//!
//! Failures within the threshold leave the failed targets drained (phase
//! `failed`) and the deployment goes on; it then ends `succeeded` with a
//! message counting them.

use slipway_engine::ports::CancelSignal;
use slipway_spec::deploy::{BatchSize, Rolling};

use super::step::{self, Finish};
use super::{Planned, SharedCtx, StrategyResult, cancelled, run_concurrently};
use crate::DeployLog;
use crate::state::{Outcome, Phase, RolloutProgress};

/// The sizes of successive batches for `total` targets.
pub fn batch_sizes(batch: &BatchSize, total: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = total;
    let mut index = 0;
    while left > 0 {
        let size = match batch {
            BatchSize::Count(n) => *n,
            BatchSize::Percent(p) => (total * (*p as usize)).div_ceil(100),
            BatchSize::List(list) => list.get(index).or(list.last()).copied().unwrap_or(1),
        }
        .clamp(1, left);
        sizes.push(size);
        left -= size;
        index += 1;
    }
    sizes
}

/// Records where the rollout stands in `state.json` (the environment page
/// shows it); the deployer clears it when the deployment ends. Failing to
/// write it stops nothing.
fn show_progress(ctx: &SharedCtx, step: String, targets: &[&str], version: &str) {
    let progress = RolloutProgress {
        step,
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        version: version.to_owned(),
    };
    let _ = ctx.update_env(|state| state.rollout = Some(progress));
}

/// How many of `total` targets may fail before the rollout stops.
pub fn allowed_failures(total: usize, max_fail_percentage: u32) -> usize {
    total * (max_fail_percentage.min(100) as usize) / 100
}

/// Deploys `planned` to every target of the environment, batch by batch.
pub async fn run(
    ctx: SharedCtx,
    rolling: &Rolling,
    planned: Planned,
    log: &mut dyn DeployLog,
    cancel: CancelSignal,
) -> StrategyResult {
    let digest = planned.artifact.digest().to_owned();
    let todo: Vec<usize> = (0..ctx.targets.len())
        .filter(|&i| {
            let state = ctx.target_state(i);
            let current =
                state.digest.as_deref() == Some(digest.as_str()) && state.phase == Phase::Serving;
            if current {
                let name = ctx.targets.get(i).map(|t| t.name.as_str());
                log.line(&format!(
                    "{}: already serving {}",
                    name.unwrap_or_default(),
                    planned.version
                ));
            }
            !current
        })
        .collect();
    let total = ctx.targets.len();
    let allowed = allowed_failures(total, rolling.max_fail_percentage);
    let mut records = Vec::new();
    // Each touched target and the release it had before, for a rollback.
    let mut touched: Vec<(usize, Option<Planned>)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    // Set when the rollout cannot go on whatever the threshold (HAProxy unreachable).
    let mut broken = false;
    // Cancelled: what was touched goes back, as after a failure.
    let mut was_cancelled = false;
    let mut start = 0;
    let sizes = batch_sizes(&rolling.batch, todo.len());
    let batches = sizes.len();
    for (number, size) in sizes.into_iter().enumerate() {
        let Some(batch) = todo.get(start..start + size) else {
            break;
        };
        start += size;
        if cancelled(&cancel) {
            was_cancelled = true;
            break;
        }
        if let Err(error) = ctx.reapply(log).await {
            failures.push(error);
            broken = true;
            break;
        }
        let names: Vec<&str> = batch
            .iter()
            .filter_map(|&i| ctx.targets.get(i))
            .map(|t| t.name.as_str())
            .collect();
        log.line(&format!("batch {}: {}", number + 1, names.join(", ")));
        show_progress(
            &ctx,
            format!("batch {} of {batches}", number + 1),
            &names,
            &planned.version,
        );
        let concurrency = ctx
            .parallelism
            .min(rolling.max_unavailable.unwrap_or(size))
            .max(1);
        for &index in batch {
            touched.push((index, ctx.current(index)));
        }
        let results = run_concurrently(&ctx, batch, concurrency, log, |index, mut task_log| {
            let ctx = ctx.clone();
            let planned = planned.clone();
            let mut cancel = cancel.clone();
            async move {
                step::replace(
                    &ctx,
                    index,
                    &planned,
                    Finish::Ready,
                    task_log.as_mut(),
                    &mut cancel,
                )
                .await
            }
        })
        .await;
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
        if cancelled(&cancel) {
            was_cancelled = true;
            break;
        }
        if failures.len() > allowed {
            break;
        }
    }
    if was_cancelled && touched.is_empty() {
        return ended(
            Outcome::Cancelled,
            Some("cancelled before any target was touched".to_owned()),
            records,
        );
    }
    if !broken && !was_cancelled && failures.len() <= allowed {
        if let Err(error) = ctx.reapply(log).await {
            failures.push(error);
        } else {
            let message = (!failures.is_empty()).then(|| {
                format!(
                    "{} target(s) failed, within max_fail_percentage {}: {}",
                    failures.len(),
                    rolling.max_fail_percentage,
                    failures.join("; ")
                )
            });
            return ended(Outcome::Succeeded, message, records);
        }
    }

    // Over the threshold, or cancelled: every touched target goes back.
    let reason = if was_cancelled {
        "cancelled".to_owned()
    } else {
        failures.join("; ")
    };
    log.line(&format!(
        "rollout stopped: {reason}; rolling back {} target(s)",
        touched.len()
    ));
    let mut rollback_failures = Vec::new();
    let _ = ctx.reapply(log).await;
    let indices: Vec<usize> = touched.iter().map(|(i, _)| *i).collect();
    let touched_names: Vec<&str> = indices
        .iter()
        .filter_map(|&i| ctx.targets.get(i))
        .map(|t| t.name.as_str())
        .collect();
    show_progress(
        &ctx,
        "rolling back".to_owned(),
        &touched_names,
        &planned.version,
    );
    let concurrency = ctx
        .parallelism
        .min(rolling.max_unavailable.unwrap_or(indices.len()))
        .max(1);
    let previous = std::sync::Arc::new(touched);
    let (_, never) = tokio::sync::watch::channel(false);
    let results = run_concurrently(&ctx, &indices, concurrency, log, |index, mut task_log| {
        let ctx = ctx.clone();
        let previous = previous.clone();
        // A cancel is spent by now: the rollback runs to its end.
        let mut cancel = if was_cancelled {
            never.clone()
        } else {
            cancel.clone()
        };
        async move {
            let before = previous
                .iter()
                .find(|(i, _)| *i == index)
                .and_then(|(_, p)| p.clone());
            step::restore(&ctx, index, before, task_log.as_mut(), &mut cancel).await
        }
    })
    .await;
    for (index, record, result) in results {
        if let Err(message) = result {
            let name = ctx
                .targets
                .get(index)
                .map(|t| t.name.as_str())
                .unwrap_or_default();
            rollback_failures.push(format!("target {name}: {message}"));
        }
        if let Some(original) = records.iter_mut().find(|r| r.target == record.target) {
            original.result = format!("{}; rolled back: {}", original.result, record.result);
            original.finished_ms = record.finished_ms;
        }
    }
    let _ = ctx.reapply(log).await;
    if rollback_failures.is_empty() {
        ended(
            if was_cancelled {
                Outcome::Cancelled
            } else {
                Outcome::RolledBack
            },
            Some(format!(
                "{reason}; the updated targets were rolled back to their previous release"
            )),
            records,
        )
    } else {
        ended(
            Outcome::Failed,
            Some(format!(
                "{reason}; rolling back failed too: {}",
                rollback_failures.join("; ")
            )),
            records,
        )
    }
}

fn ended(
    outcome: Outcome,
    message: Option<String>,
    targets: Vec<crate::state::TargetRecord>,
) -> StrategyResult {
    StrategyResult::new(outcome, message, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_target_once() {
        assert_eq!(batch_sizes(&BatchSize::Count(2), 6), vec![2, 2, 2]);
        assert_eq!(batch_sizes(&BatchSize::Count(4), 6), vec![4, 2]);
        assert_eq!(batch_sizes(&BatchSize::Count(0), 2), vec![1, 1]);
        assert_eq!(batch_sizes(&BatchSize::Percent(25), 6), vec![2, 2, 2]);
        assert_eq!(batch_sizes(&BatchSize::Percent(100), 3), vec![3]);
        assert_eq!(
            batch_sizes(&BatchSize::List(vec![1, 2]), 6),
            vec![1, 2, 2, 1]
        );
        assert_eq!(batch_sizes(&BatchSize::List(vec![]), 2), vec![1, 1]);
        assert!(batch_sizes(&BatchSize::Count(3), 0).is_empty());
    }

    #[test]
    fn failure_allowance_rounds_down() {
        assert_eq!(allowed_failures(6, 0), 0);
        assert_eq!(allowed_failures(6, 20), 1);
        assert_eq!(allowed_failures(6, 50), 3);
        assert_eq!(allowed_failures(6, 500), 6);
    }
}
