//! The path of one target: drain ─► deactivate + uninstall the old release
//! ─► install + activate the new ─► health until healthy ─► ready.
//!
//! Every transition is written to `state.json` before it is acted on. A
//! target that fails stays drained (out of the pool) with phase `failed`
//! and the reason, so HAProxy never sends it traffic and `slipway env show`
//! says what happened.

use slipway_engine::ports::CancelSignal;
use slipway_lb::{DrainOutcome, State};

use super::{Ctx, Planned, TaskResult, cancelled};
use crate::DeployLog;
use crate::health::{HealthError, wait_healthy};
use crate::state::{LbIntent, Phase, TargetRecord, now_ms};

/// Where the target ends when the new release is healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// `set server … ready`: back in the pool (rolling).
    Ready,
    /// Left out of the pool, installed and healthy (blue-green's idle set,
    /// until the switch).
    Standby,
}

/// Puts `planned` on target `index`. Never panics; the record says how it went.
pub async fn replace(
    ctx: &Ctx,
    index: usize,
    planned: &Planned,
    finish: Finish,
    log: &mut dyn DeployLog,
    cancel: &mut CancelSignal,
) -> TaskResult {
    let started_ms = now_ms();
    let from_digest = ctx.target_state(index).digest;
    let result = replace_inner(ctx, index, planned, finish, log, cancel).await;
    let name = ctx
        .targets
        .get(index)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    if let Err(message) = &result {
        log.line(&format!("{name}: FAILED: {message}"));
        let message = message.clone();
        let _ = ctx.update(index, |t| {
            t.phase = Phase::Failed;
            t.message = Some(message);
        });
    }
    let record = TargetRecord {
        target: name,
        from_digest,
        to_digest: planned.artifact.digest().to_owned(),
        result: match &result {
            Ok(()) => "succeeded".to_owned(),
            Err(message) => format!("failed: {message}"),
        },
        started_ms,
        finished_ms: now_ms(),
    };
    (index, record, result)
}

async fn replace_inner(
    ctx: &Ctx,
    index: usize,
    planned: &Planned,
    finish: Finish,
    log: &mut dyn DeployLog,
    cancel: &mut CancelSignal,
) -> Result<(), String> {
    let target = ctx.targets.get(index).ok_or("no such target")?;
    let driver = ctx.drivers.get(index).ok_or("no driver")?;
    let name = target.name.as_str();
    let release = ctx.release(index, planned)?;

    drain(ctx, index, log).await?;
    check_cancel(cancel)?;

    // The old release: stopped and removed (its artifact stays kept for rollback).
    if let Some(old) = ctx.current(index) {
        let old_release = ctx.release(index, &old)?;
        set_phase(ctx, index, Phase::Deactivating, None)?;
        driver
            .take_down(&old_release, old_release.dir != release.dir, log)
            .await
            .map_err(|e| e.0)?;
    } else if driver.process().is_some() {
        set_phase(ctx, index, Phase::Deactivating, None)?;
        driver.deactivate(&release, log).await.map_err(|e| e.0)?;
    }
    check_cancel(cancel)?;

    ctx.update(index, |t| {
        t.digest = Some(planned.artifact.digest().to_owned());
        t.version = Some(planned.version.clone());
        t.artifact_name = Some(planned.artifact.name().to_owned());
        t.phase = Phase::Installing;
        t.message = None;
        t.process = None;
    })?;
    log.line(&format!(
        "{name}: installing {} ({})",
        planned.version,
        planned.artifact.short_digest()
    ));
    driver.install(&release, log).await.map_err(|e| e.0)?;
    check_cancel(cancel)?;
    set_phase(ctx, index, Phase::Activating, None)?;
    driver.activate(&release, log).await.map_err(|e| e.0)?;
    let process = driver.process();
    ctx.update(index, |t| {
        t.process = process;
        t.phase = Phase::Checking;
    })?;

    if let Some(health) = &ctx.health {
        match wait_healthy(driver, health, &release, cancel).await {
            Ok(()) => log.line(&format!("{name}: healthy")),
            Err(HealthError::Cancelled) => return Err("cancelled".to_owned()),
            Err(error) => return Err(format!("{error}")),
        }
    }

    match finish {
        Finish::Ready => {
            ready(ctx, index, log).await?;
            set_phase(ctx, index, Phase::Serving, None)?;
        }
        Finish::Standby => set_phase(ctx, index, Phase::Standby, None)?,
    }
    Ok(())
}

/// Takes target `index` out of the pool: intent `drain` recorded, `set
/// server … state drain`, then waits for its sessions to end (or the drain
/// timeout, which is logged and not an error: the old release is stopped
/// gracefully anyway).
pub async fn drain(ctx: &Ctx, index: usize, log: &mut dyn DeployLog) -> Result<(), String> {
    let target = ctx.targets.get(index).ok_or("no such target")?;
    ctx.update(index, |t| {
        t.phase = Phase::Draining;
        if ctx.lb.is_some() {
            t.lb = Some(LbIntent::Drain);
        }
    })?;
    let Some(lb) = &ctx.lb else { return Ok(()) };
    let server = target.lb_server.as_str();
    lb.client
        .set_state(&lb.backend, server, State::Drain)
        .await
        .map_err(|e| format!("drain: {e}"))?;
    let poll = std::time::Duration::from_millis(20);
    match lb
        .client
        .wait_drained(&lb.backend, server, lb.drain_timeout, poll)
        .await
        .map_err(|e| format!("drain: {e}"))?
    {
        DrainOutcome::Drained => log.line(&format!("{}: drained", target.name)),
        DrainOutcome::TimedOut { sessions } => log.line(&format!(
            "{}: {sessions} session(s) still open after the drain timeout of {:?}; going on",
            target.name, lb.drain_timeout
        )),
    }
    Ok(())
}

/// Puts target `index` back in the pool: intent `ready` recorded, then set.
pub async fn ready(ctx: &Ctx, index: usize, log: &mut dyn DeployLog) -> Result<(), String> {
    let target = ctx.targets.get(index).ok_or("no such target")?;
    if let Some(lb) = &ctx.lb {
        ctx.update(index, |t| t.lb = Some(LbIntent::Ready))?;
        lb.client
            .set_state(&lb.backend, &target.lb_server, State::Ready)
            .await
            .map_err(|e| format!("ready: {e}"))?;
        log.line(&format!("{}: ready in HAProxy", target.name));
    }
    Ok(())
}

/// Puts back the release target `index` ran before a rollout touched it:
/// `before`, or nothing (what it runs now is removed) when it had none. The
/// rollback path of every strategy.
pub async fn restore(
    ctx: &Ctx,
    index: usize,
    before: Option<Planned>,
    log: &mut dyn DeployLog,
    cancel: &mut CancelSignal,
) -> TaskResult {
    match before {
        Some(planned) => replace(ctx, index, &planned, Finish::Ready, log, cancel).await,
        None => remove(ctx, index, log).await,
    }
}

/// Drains, stops and removes what target `index` runs, leaving it out of
/// the pool with no release (a rollback of a target that had none before).
pub async fn remove(ctx: &Ctx, index: usize, log: &mut dyn DeployLog) -> TaskResult {
    let started_ms = now_ms();
    let state = ctx.target_state(index);
    let name = ctx
        .targets
        .get(index)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let result = async {
        drain(ctx, index, log).await?;
        let driver = ctx.drivers.get(index).ok_or("no driver")?;
        if let Some(current) = ctx.current(index) {
            let release = ctx.release(index, &current)?;
            set_phase(ctx, index, Phase::Deactivating, None)?;
            driver
                .take_down(&release, true, log)
                .await
                .map_err(|e| e.0)?;
        }
        ctx.update(index, |t| {
            t.digest = None;
            t.version = None;
            t.artifact_name = None;
            t.process = None;
            t.phase = Phase::New;
            t.message = Some("removed by rollback: no previous release".to_owned());
        })
    }
    .await;
    let record = TargetRecord {
        target: name,
        from_digest: state.digest,
        to_digest: String::new(),
        result: match &result {
            Ok(()) => "removed".to_owned(),
            Err(message) => format!("failed: {message}"),
        },
        started_ms,
        finished_ms: now_ms(),
    };
    (index, record, result)
}

fn set_phase(ctx: &Ctx, index: usize, phase: Phase, message: Option<String>) -> Result<(), String> {
    ctx.update(index, |t| {
        t.phase = phase;
        t.message = message;
    })
}

fn check_cancel(cancel: &CancelSignal) -> Result<(), String> {
    if cancelled(cancel) {
        Err("cancelled".to_owned())
    } else {
        Ok(())
    }
}
