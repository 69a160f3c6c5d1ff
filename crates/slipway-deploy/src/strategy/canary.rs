//! Canary: the first `canary_targets` targets (file order) get the new
//! release while the others, the stable set, keep the old one and serve as
//! the baseline. The steps then move traffic, wait, ask people and verify
//! live metrics; the canary is promoted or aborted.
//!
//! ```text
//! start    canary targets: drain ─► install ─► health ─► in the pool at weight 0
//! weight N HAProxy weights: N% of requests to the canary set, the rest to the stable set
//! pause D  waits (cancellable)
//! pause: until-approved   the approver decides (gate `canary step N`)
//! verify   slipway-verify: canary targets + new version against stable targets + old version
//! success  the stable targets by the rolling path (`promote`), then every weight as configured
//! abort    canary weights 0 (all traffic to the stable set), canary targets back to their
//!          previous release by the same path (or removed), then every weight as configured
//! ```
//!
//! Decisions, each deliberate:
//! - A canary target joins the pool at weight 0 (installed, healthy, ready): nothing reaches the
//!   new release before the first `weight:` step, and that step only changes weights.
//! - Weights are absolute per server, computed from the numbers of canary and stable targets
//!   ([`super::weights::split_weights`]) so that the share of requests is N% whatever those numbers are. They
//!   are written to `state.json` before HAProxy is told, so [`super::Ctx::reapply`] (and
//!   `Deployer::reconcile`) restore them after a reload; "as configured" is recorded as no
//!   weight and set as `100%` of the configured weight.
//! - A verification's phase: Successful goes on; Failed and Error abort; Inconclusive asks the
//!   approver as `pause: until-approved` does (a person decides) and aborts when there is none.
//! - Cancelling aborts as a failure does (traffic back, canary targets back to the previous
//!   release, ignoring the cancel from then on, since a half-shifted canary is worse than a
//!   few seconds of rollback); the outcome is `cancelled`.
//! - The first release into an environment (no stable target runs anything) has no baseline and
//!   nothing to fall back to: it goes to every target by the promote path, as Argo Rollouts does.
//! - `canary_targets` covering every target leaves no stable set: refused before anything starts.

use std::sync::Arc;
use std::time::Duration;

use slipway_engine::ports::{
    ApprovalDecision, ApprovalRequest, ApproverHandle, CancelSignal, DeployLine,
};
use slipway_lb::{DesiredServer, DesiredState, Weight};
use slipway_spec::approval::ApprovalJob;
use slipway_spec::deploy::{Canary, CanaryStep};
use slipway_spec::model::Span;
use slipway_verify::{Phase as Verdict, Scope, Side, Verification, Verifier, VerifyConfig};

use super::step::{self, Finish};
use super::weights::{canary_share, split_weights};
use super::{Ctx, Planned, SharedCtx, StrategyResult, cancelled, rolling, run_concurrently};
use crate::DeployLog;
use crate::state::{LbIntent, Outcome, Phase, TargetRecord, now_ms};

/// Who answers a canary's `pause: until-approved` (and an inconclusive verification).
#[derive(Clone, Debug)]
pub struct PauseApprover {
    pub approver: ApproverHandle,
    /// The deploy job's key, so that people see which job's gate waits.
    pub job_key: String,
}

/// The deployment a canary belongs to.
#[derive(Clone, Copy, Debug)]
pub struct Gates<'a> {
    /// The run that deploys (for the approval request).
    pub run: &'a str,
    /// `None`: a `pause: until-approved` fails the step.
    pub approver: Option<&'a PauseApprover>,
}

/// Why the canary stops before promotion.
struct Stop {
    reason: String,
    cancelled: bool,
}

impl Stop {
    fn failed(reason: String) -> Stop {
        Stop {
            reason,
            cancelled: false,
        }
    }

    fn cancelled(at: &str) -> Stop {
        Stop {
            reason: format!("cancelled at {at}"),
            cancelled: true,
        }
    }
}

/// One canary deployment as it goes.
struct Canarying<'a> {
    ctx: SharedCtx,
    planned: Planned,
    gates: Gates<'a>,
    canary: Vec<usize>,
    stable: Vec<usize>,
    /// The stable targets serving a release: the baseline, and whom the weights count.
    baseline: Vec<usize>,
    /// Each canary target's release before, for the rollback.
    previous: Vec<(usize, Option<Planned>)>,
    records: Vec<TargetRecord>,
    verifications: Vec<Verification>,
    approvals: Vec<ApprovalDecision>,
    /// The share of requests the canary set has now.
    percent: u32,
}

/// What makes a canary impossible in an environment of `targets` targets, checked before
/// anything is touched: no load balancer to move requests with, or no target left stable.
pub fn check(canary: &Canary, targets: usize, has_lb: bool) -> Result<(), String> {
    if !has_lb {
        return Err(
            "the canary strategy moves requests with HAProxy weights: the environment needs a `load_balancer:`"
                .to_owned(),
        );
    }
    let count = canary.canary_targets.of(targets);
    if count >= targets {
        return Err(format!(
            "canary_targets selects {count} of {targets} target(s): no stable target would be left to compare with or to fall back to; lower canary_targets"
        ));
    }
    Ok(())
}

/// Runs `canary` for `planned` (see the module's documentation).
pub async fn run(
    ctx: SharedCtx,
    canary: &Canary,
    planned: Planned,
    gates: Gates<'_>,
    log: &mut dyn DeployLog,
    cancel: CancelSignal,
) -> StrategyResult {
    let total = ctx.targets.len();
    let count = canary.canary_targets.of(total);
    if let Err(error) = check(canary, total, ctx.lb.is_some()) {
        return StrategyResult::new(Outcome::Failed, Some(error), Vec::new());
    }
    let stable: Vec<usize> = (count..total).collect();
    let baseline: Vec<usize> = stable
        .iter()
        .copied()
        .filter(|&i| {
            let state = ctx.target_state(i);
            state.digest.is_some() && state.phase == Phase::Serving
        })
        .collect();
    if baseline.is_empty() {
        log.line(
            "canary: no stable target serves a release yet, so there is no baseline and nothing to fall back to: deploying to every target by the promote path (rolling)",
        );
        return rolling::run(ctx, &canary.promote, planned, log, cancel).await;
    }
    let canary_set: Vec<usize> = (0..count).collect();
    let previous = canary_set.iter().map(|&i| (i, ctx.current(i))).collect();
    let mut run = Canarying {
        ctx,
        planned,
        gates,
        canary: canary_set,
        stable,
        baseline,
        previous,
        records: Vec::new(),
        verifications: Vec::new(),
        approvals: Vec::new(),
        percent: 0,
    };
    let mut cancel = cancel;
    let stopped = match run.start(log, &cancel).await {
        Ok(()) => run.steps(&canary.steps, log, &mut cancel).await,
        Err(stop) => Err(stop),
    };
    match stopped {
        Ok(()) => run.promote(canary, log, cancel).await,
        Err(stop) => run.abort(stop, log).await,
    }
}

impl Canarying<'_> {
    fn names(&self, indices: &[usize]) -> String {
        let names: Vec<&str> = indices
            .iter()
            .filter_map(|&i| self.ctx.targets.get(i))
            .map(|t| t.name.as_str())
            .collect();
        names.join(", ")
    }

    /// The release the stable targets run (the first baseline target's version).
    fn stable_version(&self) -> String {
        self.baseline
            .first()
            .and_then(|&i| self.ctx.target_state(i).version)
            .unwrap_or_default()
    }

    /// Installs the new release on the canary targets and puts them in the pool at weight 0.
    async fn start(&mut self, log: &mut dyn DeployLog, cancel: &CancelSignal) -> Result<(), Stop> {
        log.line(&format!(
            "canary: {1} on {0} first; {2} keep {3}",
            self.names(&self.canary),
            self.planned.version,
            self.names(&self.stable),
            self.stable_version()
        ));
        self.ctx.reapply(log).await.map_err(Stop::failed)?;
        let ctx = self.ctx.clone();
        let planned = self.planned.clone();
        let results = run_concurrently(
            &self.ctx,
            &self.canary,
            self.ctx.parallelism,
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
        let mut failures = Vec::new();
        for (index, record, result) in results {
            if let Err(message) = result {
                let name = self.names(&[index]);
                failures.push(format!("target {name}: {message}"));
            }
            self.records.push(record);
        }
        if cancelled(cancel) {
            return Err(Stop::cancelled("the start"));
        }
        if !failures.is_empty() {
            return Err(Stop::failed(format!(
                "starting the canary failed: {}",
                failures.join("; ")
            )));
        }
        let has_lb = self.ctx.lb.is_some();
        let canary = self.canary.clone();
        self.ctx
            .update_env(|state| {
                for &i in &canary {
                    if let Some(target) = self.ctx.targets.get(i)
                        && let Some(entry) = state.targets.get_mut(&target.name)
                    {
                        entry.weight = Some(0);
                        if has_lb {
                            entry.lb = Some(LbIntent::Ready);
                        }
                        entry.phase = Phase::Serving;
                        entry.updated_ms = now_ms();
                    }
                }
            })
            .map_err(|e| Stop::failed(e.to_string()))?;
        apply_intent(&self.ctx).await.map_err(Stop::failed)?;
        log.line(&format!(
            "canary: {} in the pool at weight 0 (no requests yet)",
            self.names(&self.canary)
        ));
        Ok(())
    }

    async fn steps(
        &mut self,
        steps: &[CanaryStep],
        log: &mut dyn DeployLog,
        cancel: &mut CancelSignal,
    ) -> Result<(), Stop> {
        for (index, canary_step) in steps.iter().enumerate() {
            let number = index + 1;
            let at = format!("canary step {number}");
            if cancelled(cancel) {
                return Err(Stop::cancelled(&at));
            }
            match canary_step {
                CanaryStep::Weight(percent) => self
                    .weight(*percent, log)
                    .await
                    .map_err(|e| Stop::failed(format!("{at} (weight: {percent}): {e}")))?,
                CanaryStep::Pause(duration) => {
                    log.line(&format!("{at}: pause {duration:?}"));
                    if !pause(*duration, cancel).await {
                        return Err(Stop::cancelled(&at));
                    }
                }
                CanaryStep::PauseUntilApproved => {
                    log.line(&format!("{at}: waiting for approval"));
                    self.ask(&at, "pause: until-approved", log, cancel).await?;
                }
                CanaryStep::Verify(config) => self.verify(&at, config, log, cancel).await?,
            }
        }
        Ok(())
    }

    /// `weight: N`: records and applies the weights that send N% of requests to the canary set.
    async fn weight(&mut self, percent: u32, log: &mut dyn DeployLog) -> Result<(), String> {
        let percent = percent.min(100);
        let (canary_weight, stable_weight) =
            split_weights(percent, self.canary.len(), self.baseline.len());
        let canary = self.canary.clone();
        set_weights(&self.ctx, |i| {
            Some(if canary.contains(&i) {
                canary_weight
            } else {
                stable_weight
            })
        })
        .await?;
        self.percent = percent;
        let share = canary_share(
            canary_weight,
            stable_weight,
            self.canary.len(),
            self.baseline.len(),
        );
        let exact = if (share - f64::from(percent)).abs() < 0.05 {
            String::new()
        } else {
            format!(", {share:.1}%: the closest HAProxy's weights allow")
        };
        log.line(&format!(
            "canary: {percent}% of requests to {} (weights: {canary_weight} on each canary server, {stable_weight} on each stable server{exact})",
            self.names(&self.canary)
        ));
        Ok(())
    }

    /// Asks the approver; `Ok` when approved.
    async fn ask(
        &mut self,
        at: &str,
        what: &str,
        log: &mut dyn DeployLog,
        cancel: &CancelSignal,
    ) -> Result<(), Stop> {
        let Some(approver) = self.gates.approver else {
            return Err(Stop::failed(format!(
                "{at} ({what}): no approver is configured to decide (run with an approver: `slipway run` asks on its terminal or takes `--approve`; agents ask the server)"
            )));
        };
        let job = ApprovalJob::pause(Span::default());
        let message = format!(
            "{} runs {} with {}% of requests ({} keep {}): go on?",
            self.names(&self.canary),
            self.planned.version,
            self.percent,
            self.names(&self.stable),
            self.stable_version()
        );
        let request = ApprovalRequest {
            run: self.gates.run,
            job_key: &approver.job_key,
            gate: at,
            approval: &job,
            message: Some(message),
        };
        let mut lines = Lines(log);
        let decision = approver
            .approver
            .0
            .approve(request, &mut lines, cancel)
            .await;
        match decision {
            Err(_) if cancelled(cancel) => Err(Stop::cancelled(at)),
            Err(error) => Err(Stop::failed(format!(
                "{at} ({what}): the approval could not be asked: {error}"
            ))),
            Ok(decision) => {
                let approved = decision.approved;
                let reason = decision.reason.clone();
                self.approvals.push(decision);
                if approved {
                    log.line(&format!("{at}: approved ({reason})"));
                    Ok(())
                } else {
                    Err(Stop::failed(format!("{at} ({what}): rejected: {reason}")))
                }
            }
        }
    }

    async fn verify(
        &mut self,
        at: &str,
        config: &VerifyConfig,
        log: &mut dyn DeployLog,
        cancel: &mut CancelSignal,
    ) -> Result<(), Stop> {
        let verifier = Verifier::new(config.clone())
            .map_err(|e| Stop::failed(format!("{at} (verify): {e}")))?;
        let side = |indices: &[usize], version: String| Side {
            version,
            targets: indices
                .iter()
                .filter_map(|&i| self.ctx.targets.get(i))
                .map(|t| t.name.clone())
                .collect(),
        };
        let scope = Scope {
            canary: side(&self.canary, self.planned.version.clone()),
            baseline: side(&self.baseline, self.stable_version()),
        };
        log.line(&format!(
            "{at}: verifying {} ({}) against {} ({})",
            scope.canary.targets.join(", "),
            scope.canary.version,
            scope.baseline.targets.join(", "),
            scope.baseline.version
        ));
        let verification = verifier.verify(&scope, cancel).await;
        for line in verification.to_string().lines() {
            log.line(line);
        }
        let phase = verification.phase;
        let reason = verification.reason.clone();
        let was_cancelled = verification.cancelled;
        self.verifications.push(verification);
        match phase {
            _ if was_cancelled || cancelled(cancel) => Err(Stop::cancelled(at)),
            Verdict::Successful => {
                log.line(&format!("{at}: verification Successful"));
                Ok(())
            }
            Verdict::Failed | Verdict::Error => {
                Err(Stop::failed(format!("{at} (verify) {phase}: {reason}")))
            }
            Verdict::Inconclusive if self.gates.approver.is_some() => {
                log.line(&format!(
                    "{at}: verification Inconclusive ({reason}): a person decides"
                ));
                self.ask(at, "verify Inconclusive", log, cancel).await
            }
            Verdict::Inconclusive => Err(Stop::failed(format!(
                "{at} (verify) Inconclusive, and no approver is configured to decide: {reason}"
            ))),
        }
    }

    /// Every step passed: the stable targets by the rolling path, then the weights as configured.
    async fn promote(
        mut self,
        canary: &Canary,
        log: &mut dyn DeployLog,
        cancel: CancelSignal,
    ) -> StrategyResult {
        log.line(&format!(
            "canary: every step passed; promoting {} to {}",
            self.planned.version,
            self.names(&self.stable)
        ));
        let promoted = rolling::run(
            self.ctx.clone(),
            &canary.promote,
            self.planned.clone(),
            log,
            cancel,
        )
        .await;
        self.records.extend(promoted.targets);
        if promoted.outcome != Outcome::Succeeded {
            let reason = format!(
                "promotion {}: {}",
                match promoted.outcome {
                    Outcome::Cancelled => "cancelled",
                    _ => "failed",
                },
                promoted.message.unwrap_or_default()
            );
            let stop = Stop {
                reason,
                cancelled: promoted.outcome == Outcome::Cancelled,
            };
            return self.abort(stop, log).await;
        }
        if let Err(error) = normalise(&self.ctx, log).await {
            let message = format!(
                "every target runs {}, but the weights could not be set back: {error}",
                self.planned.version
            );
            return self.ended(Outcome::Failed, message);
        }
        let message = promoted.message;
        StrategyResult {
            outcome: Outcome::Succeeded,
            message,
            targets: self.records,
            verifications: self.verifications,
            approvals: self.approvals,
        }
    }

    /// Traffic back to the stable set, the canary targets back to their previous release.
    async fn abort(self, stop: Stop, log: &mut dyn DeployLog) -> StrategyResult {
        let version = self.stable_version();
        log.line(&format!(
            "canary: aborting: {}; every request to {} ({version}) and {} back to the previous release",
            stop.reason,
            self.names(&self.stable),
            self.names(&self.canary)
        ));
        let canary = self.canary.clone();
        if let Err(error) = set_weights(&self.ctx, |i| canary.contains(&i).then_some(0)).await {
            log.line(&format!("canary: moving traffic back failed: {error}"));
        }
        // The cancel (if any) is spent: the rollback runs to its end.
        let (_, never) = tokio::sync::watch::channel(false);
        let previous = Arc::new(self.previous.clone());
        let results = run_concurrently(
            &self.ctx,
            &self.canary,
            self.ctx.parallelism,
            log,
            |index, mut task_log| {
                let ctx = self.ctx.clone();
                let previous = previous.clone();
                let mut never = never.clone();
                async move {
                    let before = previous
                        .iter()
                        .find(|(i, _)| *i == index)
                        .and_then(|(_, p)| p.clone());
                    step::restore(&ctx, index, before, task_log.as_mut(), &mut never).await
                }
            },
        )
        .await;
        let mut this = self;
        let mut failures = Vec::new();
        for (index, record, result) in results {
            if let Err(message) = result {
                failures.push(format!("target {}: {message}", this.names(&[index])));
            }
            if let Some(original) = this.records.iter_mut().find(|r| r.target == record.target) {
                original.result = format!("{}; rolled back: {}", original.result, record.result);
                original.finished_ms = record.finished_ms;
            } else {
                this.records.push(record);
            }
        }
        if let Err(error) = normalise(&this.ctx, log).await {
            failures.push(format!("setting the weights back: {error}"));
        }
        // Each canary target went back to its own previous release.
        let back: Vec<String> = this
            .previous
            .iter()
            .map(|(index, before)| {
                let name = this.names(&[*index]);
                match before {
                    Some(planned) => format!("{name} back to {}", planned.version),
                    None => format!("{name} removed (it ran nothing before)"),
                }
            })
            .collect();
        if !failures.is_empty() {
            return this.ended(
                Outcome::Failed,
                format!(
                    "{}; rolling the canary back failed too: {}",
                    stop.reason,
                    failures.join("; ")
                ),
            );
        }
        let outcome = if stop.cancelled {
            Outcome::Cancelled
        } else {
            Outcome::RolledBack
        };
        this.ended(
            outcome,
            format!(
                "{}; traffic went back to the stable targets, {}",
                stop.reason,
                back.join(", ")
            ),
        )
    }

    fn ended(self, outcome: Outcome, message: String) -> StrategyResult {
        StrategyResult {
            outcome,
            message: Some(message),
            targets: self.records,
            verifications: self.verifications,
            approvals: self.approvals,
        }
    }
}

/// Sleeps `duration`; `false` when cancelled first.
async fn pause(duration: Duration, cancel: &mut CancelSignal) -> bool {
    if cancelled(cancel) {
        return false;
    }
    let sleep = tokio::time::sleep(duration);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            changed = cancel.changed() => match changed {
                Ok(()) if cancelled(cancel) => return false,
                Ok(()) => {}
                // A dropped sender can never cancel.
                Err(_) => {
                    sleep.await;
                    return true;
                }
            },
        }
    }
}

/// Records each target's weight (`None`: as configured) in `state.json`, then makes HAProxy
/// match.
async fn set_weights(ctx: &Ctx, weight_of: impl Fn(usize) -> Option<u16>) -> Result<(), String> {
    ctx.update_env(|state| {
        for (index, target) in ctx.targets.iter().enumerate() {
            if let Some(entry) = state.targets.get_mut(&target.name) {
                entry.weight = weight_of(index);
                entry.updated_ms = now_ms();
            }
        }
    })
    .map_err(|e| e.to_string())?;
    apply_intent(ctx).await
}

/// Every weight back to HAProxy's configured one.
async fn normalise(ctx: &Ctx, log: &mut dyn DeployLog) -> Result<(), String> {
    set_weights(ctx, |_| None).await?;
    log.line("canary: every server back at its configured weight");
    Ok(())
}

/// Makes HAProxy match `state.json` for every target with an intended state, the weight
/// included: a recorded weight as is, none as 100% of the configured weight.
async fn apply_intent(ctx: &Ctx) -> Result<(), String> {
    let Some(lb) = &ctx.lb else { return Ok(()) };
    let desired = {
        let state = ctx
            .state
            .lock()
            .map_err(|_| "state lock poisoned".to_owned())?;
        DesiredState {
            backend: lb.backend.clone(),
            servers: ctx
                .targets
                .iter()
                .filter_map(|t| {
                    let target = state.targets.get(&t.name)?;
                    Some(DesiredServer {
                        name: t.lb_server.clone(),
                        state: target.lb?.to_lb(),
                        weight: Some(target.weight.map_or(Weight::Percent(100), Weight::Absolute)),
                    })
                })
                .collect(),
        }
    };
    if desired.servers.is_empty() {
        return Ok(());
    }
    lb.client
        .apply(&desired)
        .await
        .map(|_| ())
        .map_err(|e| format!("setting HAProxy weights: {e}"))
}

/// A [`DeployLog`] as the approver's [`DeployLine`].
struct Lines<'a>(&'a mut dyn DeployLog);

impl DeployLine for Lines<'_> {
    fn line(&mut self, text: &str) {
        self.0.line(text);
    }
}
