//! All metrics together: group scores, weights, critical metrics, and the
//! verdict (Kayenta's weighted-sum scorer with pass and marginal thresholds).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classify::{Classification, MetricConfig, MetricResult, classify};

/// How the verdict is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// Confidence of the shift's interval.
    pub confidence_level: f64,
    /// A score at or above this passes.
    pub pass_threshold: f64,
    /// A score at or above this (and below `pass_threshold`) is marginal.
    pub marginal_threshold: f64,
    /// Weight of each group; a group not listed weighs 1.
    pub group_weights: BTreeMap<String, f64>,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            confidence_level: 0.98,
            pass_threshold: 95.0,
            marginal_threshold: 75.0,
            group_weights: BTreeMap::new(),
        }
    }
}

/// One metric's configuration and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSamples {
    pub config: MetricConfig,
    pub baseline: Vec<f64>,
    pub canary: Vec<f64>,
}

/// Why no verdict can be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    #[error("there are no metrics to judge")]
    NoMetrics,
    #[error("metric {0:?} is listed twice")]
    DuplicateMetric(String),
    #[error("the confidence level {0} is not strictly between 0 and 1")]
    ConfidenceLevel(f64),
    #[error("thresholds must satisfy 0 ≤ marginal ({marginal}) ≤ pass ({pass}) ≤ 100")]
    Thresholds { pass: f64, marginal: f64 },
    #[error("the weight of group {0:?} must be a positive number")]
    GroupWeight(String),
}

/// The overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Pass,
    Marginal,
    Fail,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "Pass",
            Outcome::Marginal => "Marginal",
            Outcome::Fail => "Fail",
        })
    }
}

/// One group's share of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    pub name: String,
    pub weight: f64,
    pub passed: usize,
    pub total: usize,
    /// Percentage of the group's metrics that passed.
    pub score: f64,
}

/// The judgement, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    /// 0–100: the groups' pass percentages, weighted.
    pub score: f64,
    pub pass_threshold: f64,
    pub marginal_threshold: f64,
    /// One line saying why.
    pub reason: String,
    pub groups: Vec<GroupScore>,
    pub metrics: Vec<MetricResult>,
}

/// Judges every metric and combines the results.
pub fn judge(config: &JudgeConfig, metrics: &[MetricSamples]) -> Result<Verdict, JudgeError> {
    if metrics.is_empty() {
        return Err(JudgeError::NoMetrics);
    }
    if !(config.confidence_level > 0.0 && config.confidence_level < 1.0) {
        return Err(JudgeError::ConfidenceLevel(config.confidence_level));
    }
    let (pass, marginal) = (config.pass_threshold, config.marginal_threshold);
    if !(0.0 <= marginal && marginal <= pass && pass <= 100.0) {
        return Err(JudgeError::Thresholds { pass, marginal });
    }
    if let Some((name, _)) = config
        .group_weights
        .iter()
        .find(|(_, w)| !(w.is_finite() && **w > 0.0))
    {
        return Err(JudgeError::GroupWeight(name.clone()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for metric in metrics {
        if !seen.insert(metric.config.name.as_str()) {
            return Err(JudgeError::DuplicateMetric(metric.config.name.clone()));
        }
    }
    let results: Vec<MetricResult> = metrics
        .iter()
        .map(|m| classify(&m.config, &m.baseline, &m.canary, config.confidence_level))
        .collect();

    let mut groups: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for result in &results {
        let entry = groups.entry(result.group.as_str()).or_default();
        entry.1 += 1;
        if result.classification == Classification::Pass {
            entry.0 += 1;
        }
    }
    let groups: Vec<GroupScore> = groups
        .into_iter()
        .map(|(name, (passed, total))| GroupScore {
            name: name.to_owned(),
            weight: config.group_weights.get(name).copied().unwrap_or(1.0),
            passed,
            total,
            score: 100.0 * passed as f64 / total as f64,
        })
        .collect();
    let total_weight: f64 = groups.iter().map(|g| g.weight).sum();
    let score = groups.iter().map(|g| g.weight * g.score).sum::<f64>() / total_weight;

    let failed_critical = results
        .iter()
        .find(|r| r.critical && r.classification != Classification::Pass);
    let (outcome, reason) = if let Some(metric) = failed_critical {
        let reason = format!(
            "critical metric {:?} is {}: {}",
            metric.name, metric.classification, metric.reason
        );
        (Outcome::Fail, reason)
    } else if score >= pass {
        (
            Outcome::Pass,
            format!("score {score:.1} reaches the pass threshold {pass}"),
        )
    } else if score >= marginal {
        (
            Outcome::Marginal,
            format!(
                "score {score:.1} is below the pass threshold {pass} but reaches the marginal threshold {marginal}"
            ),
        )
    } else {
        (
            Outcome::Fail,
            format!("score {score:.1} is below the marginal threshold {marginal}"),
        )
    };
    Ok(Verdict {
        outcome,
        score,
        pass_threshold: pass,
        marginal_threshold: marginal,
        reason,
        groups,
        metrics: results,
    })
}
