//! Threshold analysis with the semantics of Argo Rollouts' AnalysisTemplate.
//!
//! Each metric is measured `count` times, `interval` apart (after `initial_delay`). A
//! measurement is:
//! - **Error** when the provider fails (query error, no data, provider down, bad answer) or a
//!   condition cannot be evaluated;
//! - otherwise its conditions decide, exactly as Argo's `EvaluateResult`: with both conditions,
//!   failure wins when both match and neither matching is **Inconclusive**; with only a success
//!   condition, not matching is **Failed**; with only a failure condition, not matching is
//!   **Successful**.
//!
//! Before the conditions, NaN values are handled by the metric's `nan_strategy` (`remove`: a
//! result left with no value is Inconclusive; `replace`: NaN reads as 0). An empty result never
//! reaches the conditions (GitHub's expression language reads a missing `result[0]` as null,
//! which compares as 0 and would pass `result[0] < 0.05`): it is an Error measurement. For the
//! same reason `result[N]` beyond the returned values, or on a scalar, is an Error.
//!
//! After each measurement the metric is assessed in Argo's order: more failed measurements than
//! `failure_limit` → Failed; more inconclusive than `inconclusive_limit` → Inconclusive; more
//! consecutive errors than `consecutive_error_limit` → Error. After `count` measurements it is
//! Successful if at least one measurement succeeded (a deliberate difference from Argo, which
//! passes a metric whose every measurement erred within the limit); else Failed, Inconclusive
//! or Error by what was seen. A metric ending Failed or Error ends the whole run at once (the
//! others stop where they are); the run's phase is the worst of its metrics'
//! (Successful < Inconclusive < Error < Failed). A cancelled run is never Successful: metrics
//! still measuring end Inconclusive.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_expr::{Expr, MapContext, ParseOptions, Value};
use slipway_judge::NanStrategy;
use tokio::time::{Instant, sleep_until};

use crate::CancelSignal;
use crate::config::ThresholdMetric;
use crate::phase::{Phase, now_unix_ms};
use crate::provider::{Fetch, MetricValue, Query};

/// One measurement, kept whatever its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub phase: Phase,
    /// What the provider answered (after NaN handling); `None` when it failed.
    pub value: Option<MetricValue>,
    pub started_unix_ms: u64,
    pub finished_unix_ms: u64,
    /// Which condition matched, or what went wrong.
    pub message: String,
}

/// One metric's measurements and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRun {
    pub name: String,
    /// The query as sent.
    pub query: Query,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    #[serde(with = "crate::duration::serde_text")]
    pub interval: Duration,
    /// Measurements asked for.
    pub count: u32,
    pub phase: Phase,
    /// Why this phase.
    pub message: String,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub errors: u32,
    pub consecutive_errors: u32,
    pub measurements: Vec<Measurement>,
}

/// A threshold analysis run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRun {
    pub phase: Phase,
    pub reason: String,
    pub cancelled: bool,
    pub started_unix_ms: u64,
    pub finished_unix_ms: u64,
    pub metrics: Vec<MetricRun>,
}

/// A metric ready to measure: its query rendered, its conditions parsed.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) config: ThresholdMetric,
    pub(crate) query: Query,
    pub(crate) success: Option<Expr>,
    pub(crate) failure: Option<Expr>,
}

/// Parses a condition over `result`.
pub(crate) fn parse_condition(text: &str) -> Result<Expr, String> {
    let options = ParseOptions::new().with_contexts(["result"]);
    let expr = Expr::parse(text, &options).map_err(|e| format!("{text:?}: {e}"))?;
    if expr.is_empty() {
        return Err("an empty condition".to_owned());
    }
    Ok(expr)
}

struct State {
    prepared: Prepared,
    run: MetricRun,
    next: Instant,
    done: bool,
}

/// Runs the analysis until every metric is decided, one ends Failed or Error, or `cancel`.
pub(crate) async fn run<F: Fetch>(
    fetch: &F,
    metrics: Vec<Prepared>,
    cancel: &mut CancelSignal,
) -> AnalysisRun {
    let started_unix_ms = now_unix_ms();
    let start = Instant::now();
    let mut states: Vec<State> = metrics
        .into_iter()
        .map(|prepared| State {
            next: start + prepared.config.initial_delay,
            run: MetricRun {
                name: prepared.config.name.clone(),
                query: prepared.query.clone(),
                success_condition: prepared.config.success_condition.clone(),
                failure_condition: prepared.config.failure_condition.clone(),
                interval: prepared.config.interval,
                count: prepared.config.count,
                phase: Phase::Inconclusive,
                message: "not measured".to_owned(),
                successful: 0,
                failed: 0,
                inconclusive: 0,
                errors: 0,
                consecutive_errors: 0,
                measurements: Vec::new(),
            },
            prepared,
            done: false,
        })
        .collect();
    let mut cancelled = false;
    let mut ended_by: Option<String> = None;
    while let Some(state) = states.iter_mut().filter(|s| !s.done).min_by_key(|s| s.next) {
        tokio::select! {
            _ = sleep_until(state.next) => {}
            _ = until_cancelled(cancel) => { cancelled = true; break; }
        }
        let measured_at = now_unix_ms();
        let outcome = tokio::select! {
            outcome = fetch.instant(&state.prepared.query) => outcome,
            _ = until_cancelled(cancel) => { cancelled = true; break; }
        };
        let measurement = measure(&state.prepared, outcome, measured_at);
        record(&mut state.run, measurement);
        if let Some((phase, message)) = assess(&state.prepared.config, &state.run) {
            state.run.phase = phase;
            state.run.message = message;
            state.done = true;
            if matches!(phase, Phase::Failed | Phase::Error) {
                ended_by = Some(format!("metric {:?} ended {phase}", state.run.name));
                break;
            }
        } else {
            state.next = Instant::now() + state.prepared.config.interval;
        }
    }
    for state in states.iter_mut().filter(|s| !s.done) {
        let taken = state.run.measurements.len();
        let why = if cancelled {
            "cancelled".to_owned()
        } else {
            format!(
                "stopped: {}",
                ended_by.as_deref().unwrap_or("the run ended")
            )
        };
        state.run.phase = Phase::Inconclusive;
        state.run.message = format!("{why} after {taken} of {} measurements", state.run.count);
    }
    let metrics: Vec<MetricRun> = states.into_iter().map(|s| s.run).collect();
    let worst = metrics.iter().max_by_key(|m| m.phase);
    let (phase, reason) = match worst {
        None => (Phase::Error, "no metric to analyse".to_owned()),
        Some(m) if m.phase == Phase::Successful => (
            Phase::Successful,
            format!("all {} metrics successful", metrics.len()),
        ),
        Some(m) => (
            m.phase,
            format!("metric {:?} is {}: {}", m.name, m.phase, m.message),
        ),
    };
    let reason = if cancelled {
        format!("cancelled; {reason}")
    } else {
        reason
    };
    AnalysisRun {
        phase,
        reason,
        cancelled,
        started_unix_ms,
        finished_unix_ms: now_unix_ms(),
        metrics,
    }
}

/// Resolves once `cancel` says true; never if its sender is gone.
pub(crate) async fn until_cancelled(cancel: &mut CancelSignal) {
    loop {
        if *cancel.borrow_and_update() {
            return;
        }
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn record(run: &mut MetricRun, measurement: Measurement) {
    match measurement.phase {
        Phase::Successful => run.successful += 1,
        Phase::Failed => run.failed += 1,
        Phase::Inconclusive => run.inconclusive += 1,
        Phase::Error => run.errors += 1,
    }
    if measurement.phase == Phase::Error {
        run.consecutive_errors += 1;
    } else {
        run.consecutive_errors = 0;
    }
    run.measurements.push(measurement);
}

/// The metric's phase once decided, in Argo's order of checks.
fn assess(config: &ThresholdMetric, run: &MetricRun) -> Option<(Phase, String)> {
    let taken = run.measurements.len();
    let last = run
        .measurements
        .last()
        .map(|m| m.message.as_str())
        .unwrap_or("");
    if run.failed > config.failure_limit {
        return Some((
            Phase::Failed,
            format!(
                "{} of {taken} measurements failed (failure_limit {}); last: {last}",
                run.failed, config.failure_limit
            ),
        ));
    }
    if run.inconclusive > config.inconclusive_limit {
        return Some((
            Phase::Inconclusive,
            format!(
                "{} of {taken} measurements inconclusive (inconclusive_limit {}); last: {last}",
                run.inconclusive, config.inconclusive_limit
            ),
        ));
    }
    if run.consecutive_errors > config.consecutive_error_limit {
        return Some((
            Phase::Error,
            format!(
                "{} measurements in a row erred (consecutive_error_limit {}); last: {last}",
                run.consecutive_errors, config.consecutive_error_limit
            ),
        ));
    }
    if taken < usize::try_from(config.count).unwrap_or(usize::MAX) {
        return None;
    }
    let tally = format!(
        "{} successful, {} failed, {} inconclusive, {} erred of {taken}",
        run.successful, run.failed, run.inconclusive, run.errors
    );
    Some(if run.successful > 0 {
        (Phase::Successful, tally)
    } else if run.failed > 0 {
        (Phase::Failed, format!("no measurement succeeded: {tally}"))
    } else if run.inconclusive > 0 {
        (
            Phase::Inconclusive,
            format!("no measurement succeeded: {tally}"),
        )
    } else {
        (
            Phase::Error,
            format!("every measurement erred; last: {last}"),
        )
    })
}

/// One measurement from the provider's answer.
fn measure(
    prepared: &Prepared,
    outcome: Result<MetricValue, crate::provider::FetchError>,
    started_unix_ms: u64,
) -> Measurement {
    let (phase, value, message) = match outcome {
        Err(error) => (Phase::Error, None, error.to_string()),
        Ok(value) => {
            let value = handle_nan(value, prepared.config.nan_strategy);
            let (phase, message) = evaluate(prepared, &value);
            (phase, Some(value), message)
        }
    };
    Measurement {
        phase,
        value,
        started_unix_ms,
        finished_unix_ms: now_unix_ms(),
        message,
    }
}

fn handle_nan(value: MetricValue, strategy: NanStrategy) -> MetricValue {
    let fix = |v: f64| if v.is_nan() { 0.0 } else { v };
    match (value, strategy) {
        (MetricValue::Scalar(v), NanStrategy::Replace) => MetricValue::Scalar(fix(v)),
        (MetricValue::Vector(vs), NanStrategy::Replace) => {
            MetricValue::Vector(vs.into_iter().map(fix).collect())
        }
        (MetricValue::Vector(vs), NanStrategy::Remove) => {
            MetricValue::Vector(vs.into_iter().filter(|v| !v.is_nan()).collect())
        }
        (scalar, NanStrategy::Remove) => scalar,
    }
}

/// The conditions over one (NaN-handled) value: Argo's `EvaluateResult`.
fn evaluate(prepared: &Prepared, value: &MetricValue) -> (Phase, String) {
    let shown = show(value);
    let nothing_left = match value {
        MetricValue::Scalar(v) => v.is_nan(),
        MetricValue::Vector(vs) => vs.is_empty(),
    };
    if nothing_left {
        return (
            Phase::Inconclusive,
            "every value is NaN (nan_strategy remove): nothing to judge".to_owned(),
        );
    }
    for text in [
        &prepared.config.success_condition,
        &prepared.config.failure_condition,
    ]
    .into_iter()
    .flatten()
    {
        if let Err(message) = check_indexes(text, value) {
            return (Phase::Error, format!("{message}; result {shown}"));
        }
    }
    let result = match value {
        MetricValue::Scalar(v) => Value::Number(*v),
        MetricValue::Vector(vs) => Value::Array(vs.iter().map(|v| Value::Number(*v)).collect()),
    };
    let context = MapContext::new().with("result", result);
    let eval = |expr: &Option<Expr>| -> Result<Option<bool>, String> {
        match expr {
            None => Ok(None),
            Some(expr) => expr
                .eval_truthy(&context)
                .map(Some)
                .map_err(|e| format!("cannot evaluate a condition: {e}")),
        }
    };
    let (success, failure) = match (eval(&prepared.success), eval(&prepared.failure)) {
        (Ok(s), Ok(f)) => (s, f),
        (Err(message), _) | (_, Err(message)) => return (Phase::Error, message),
    };
    let quote = |c: &Option<String>| c.as_deref().unwrap_or("").to_owned();
    let success_text = quote(&prepared.config.success_condition);
    let failure_text = quote(&prepared.config.failure_condition);
    match (success, failure) {
        (_, Some(true)) => (
            Phase::Failed,
            format!("failure_condition `{failure_text}` matched: result {shown}"),
        ),
        (Some(true), _) => (
            Phase::Successful,
            format!("success_condition `{success_text}` matched: result {shown}"),
        ),
        (Some(false), None) => (
            Phase::Failed,
            format!("success_condition `{success_text}` did not match: result {shown}"),
        ),
        (None, Some(false)) => (
            Phase::Successful,
            format!("failure_condition `{failure_text}` did not match: result {shown}"),
        ),
        (Some(false), Some(false)) => (
            Phase::Inconclusive,
            format!("neither condition matched: result {shown}"),
        ),
        (None, None) => (Phase::Error, "no condition to evaluate".to_owned()),
    }
}

/// `result[N]` with a literal N must name a value that exists (see the module's notes).
fn check_indexes(condition: &str, value: &MetricValue) -> Result<(), String> {
    let mut rest = condition;
    while let Some(at) = rest.find("result") {
        let before = condition.len() - rest.len() + at;
        rest = rest.get(at + "result".len()..).unwrap_or_default();
        let preceded_by_name = condition
            .get(..before)
            .and_then(|t| t.chars().next_back())
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let Some(after) = rest.trim_start().strip_prefix('[') else {
            continue;
        };
        if preceded_by_name {
            continue;
        }
        let digits: String = after
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match value {
            MetricValue::Scalar(_) => {
                return Err(
                    "the query returned a scalar: write `result`, not `result[…]`".to_owned(),
                );
            }
            MetricValue::Vector(values) => {
                if let Ok(index) = digits.parse::<usize>()
                    && index >= values.len()
                {
                    return Err(format!(
                        "result[{index}] does not exist: the query returned {} value(s)",
                        values.len()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A value for a message.
pub(crate) fn show(value: &MetricValue) -> String {
    match value {
        MetricValue::Scalar(v) => number(*v),
        MetricValue::Vector(vs) => {
            let shown: Vec<String> = vs.iter().take(10).map(|v| number(*v)).collect();
            let more = if vs.len() > 10 { ", …" } else { "" };
            format!("[{}{more}]", shown.join(", "))
        }
    }
}

/// A number short enough for a message.
pub(crate) fn number(value: f64) -> String {
    if value.is_nan() || value.is_infinite() {
        format!("{value}")
    } else if value == 0.0 || (1e-3..1e6).contains(&value.abs()) {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{value:.3e}")
    }
}
