//! The baseline comparison: for each metric, the canary's samples and the baseline's over the
//! same window (`query_range`, the query rendered once per role), judged by slipway-judge.
//!
//! Outcomes: the judge's Pass is Successful, Marginal is Inconclusive (a person decides), Fail
//! is Failed. A metric without data is not an error here: its side has no samples and the judge
//! classifies it (NodataFailure by default, `insufficient_data: pass` to accept it). NaN samples
//! go to the judge, which applies the metric's `nan_strategy`. Any other fetch failure (query
//! error, provider down) ends the comparison in Error, naming the metric, its query and the cause.

use serde::{Deserialize, Serialize};
use slipway_judge::{JudgeConfig, MetricSamples, Outcome, Verdict};

use crate::CancelSignal;
use crate::config::ComparedMetric;
use crate::phase::{Phase, now_unix_ms};
use crate::provider::{Fetch, FetchError, Query, Window};
use crate::template::Role;
use crate::threshold::until_cancelled;

/// One metric's evidence: the queries as sent and the samples they returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedEvidence {
    pub name: String,
    pub canary_query: Query,
    pub baseline_query: Query,
    /// NaN is stored as `null` (JSON has no NaN).
    #[serde(deserialize_with = "crate::nan::vec")]
    pub canary_samples: Vec<f64>,
    #[serde(deserialize_with = "crate::nan::vec")]
    pub baseline_samples: Vec<f64>,
    /// Why the samples could not be fetched, when they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A baseline comparison: the window, the evidence per metric, and the judge's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonReport {
    pub phase: Phase,
    pub reason: String,
    pub cancelled: bool,
    pub window: Window,
    pub evidence: Vec<ComparedEvidence>,
    /// `None` when the samples could not be collected.
    pub verdict: Option<Verdict>,
}

/// A compared metric with its queries rendered for both roles.
#[derive(Debug, Clone)]
pub(crate) struct PreparedComparison {
    pub(crate) config: ComparedMetric,
    pub(crate) canary: Query,
    pub(crate) baseline: Query,
}

/// Fetches every metric's samples over `window` and judges them.
pub(crate) async fn compare<F: Fetch>(
    fetch: &F,
    judge: &JudgeConfig,
    metrics: &[PreparedComparison],
    window: Window,
    cancel: &mut CancelSignal,
) -> ComparisonReport {
    let mut evidence = Vec::with_capacity(metrics.len());
    let mut failure: Option<String> = None;
    for metric in metrics {
        let mut one = ComparedEvidence {
            name: metric.config.name.clone(),
            canary_query: metric.canary.clone(),
            baseline_query: metric.baseline.clone(),
            canary_samples: Vec::new(),
            baseline_samples: Vec::new(),
            error: None,
        };
        for role in [Role::Canary, Role::Baseline] {
            let query = match role {
                Role::Canary => &metric.canary,
                Role::Baseline => &metric.baseline,
            };
            let fetched = tokio::select! {
                fetched = fetch.range(query, &window) => fetched,
                _ = until_cancelled(cancel) => {
                    evidence.push(one);
                    return ComparisonReport {
                        phase: Phase::Inconclusive,
                        reason: "cancelled while fetching samples".to_owned(),
                        cancelled: true,
                        window,
                        evidence,
                        verdict: None,
                    };
                }
            };
            let samples = match fetched {
                Ok(samples) => samples,
                Err(FetchError::NoData) => Vec::new(),
                Err(error) => {
                    let message = format!(
                        "metric {:?}: the {} query `{}` failed: {error}",
                        metric.config.name,
                        role.as_str(),
                        query.text
                    );
                    one.error = Some(error.to_string());
                    failure.get_or_insert(message);
                    continue;
                }
            };
            match role {
                Role::Canary => one.canary_samples = samples,
                Role::Baseline => one.baseline_samples = samples,
            }
        }
        evidence.push(one);
    }
    if let Some(reason) = failure {
        return ComparisonReport {
            phase: Phase::Error,
            reason,
            cancelled: false,
            window,
            evidence,
            verdict: None,
        };
    }
    let samples: Vec<MetricSamples> = metrics
        .iter()
        .zip(&evidence)
        .map(|(metric, one)| MetricSamples {
            config: metric.config.judge_config(),
            baseline: one.baseline_samples.clone(),
            canary: one.canary_samples.clone(),
        })
        .collect();
    match slipway_judge::judge(judge, &samples) {
        Ok(verdict) => {
            let phase = match verdict.outcome {
                Outcome::Pass => Phase::Successful,
                Outcome::Marginal => Phase::Inconclusive,
                Outcome::Fail => Phase::Failed,
            };
            let failing: Vec<String> = verdict
                .metrics
                .iter()
                .filter(|m| m.classification != slipway_judge::Classification::Pass)
                // A failed critical metric is already the verdict's reason.
                .filter(|m| !verdict.reason.contains(&format!("{:?}", m.name)))
                .map(|m| format!("{:?} is {}: {}", m.name, m.classification, m.reason))
                .collect();
            let reason = if failing.is_empty() {
                verdict.reason.clone()
            } else {
                format!("{}; {}", verdict.reason, failing.join("; "))
            };
            ComparisonReport {
                phase,
                reason,
                cancelled: false,
                window,
                evidence,
                verdict: Some(verdict),
            }
        }
        Err(error) => ComparisonReport {
            phase: Phase::Error,
            reason: format!("the judge refused the samples: {error}"),
            cancelled: false,
            window,
            evidence,
            verdict: None,
        },
    }
}

/// The window of `length` ending now, at `step`.
pub(crate) fn window_ending_now(length: std::time::Duration, step: std::time::Duration) -> Window {
    let end = now_unix_ms();
    let length_ms = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
    Window {
        start_unix_ms: end.saturating_sub(length_ms),
        end_unix_ms: end,
        step,
    }
}
