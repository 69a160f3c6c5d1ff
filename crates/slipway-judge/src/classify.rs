//! One metric: canary samples against baseline samples, classified as
//! Kayenta's `MannWhitneyClassifier` does.

use serde::{Deserialize, Serialize};

use crate::mann_whitney::mann_whitney;

/// Which change of a metric is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is worse (latency, errors).
    Increase,
    /// Lower is worse (throughput, success rate).
    Decrease,
    /// Any significant change fails.
    #[default]
    Either,
}

/// What to do with NaN (and infinite) samples, which Prometheus returns for
/// ratios over empty windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NanStrategy {
    /// Drop them; the metric may then have too few samples.
    #[default]
    Remove,
    /// Count them as 0 (for counters where "no data" means "none happened").
    Replace,
}

/// What a metric with fewer samples than required is classified as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InsufficientData {
    /// `NodataFailure`: missing evidence is not a pass.
    #[default]
    Fail,
    /// `Pass`, with the reason saying the data was missing.
    Pass,
}

/// How one metric is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricConfig {
    pub name: String,
    /// The group whose score this metric counts towards.
    pub group: String,
    pub direction: Direction,
    /// A critical metric that does not pass fails the whole verdict.
    pub critical: bool,
    pub nan_strategy: NanStrategy,
    /// High only when mean(canary) / mean(baseline) is at least this
    /// (Kayenta's effect-size threshold; 1.0: any significant increase).
    pub allowed_increase: f64,
    /// Low only when mean(canary) / mean(baseline) is at most this.
    pub allowed_decrease: f64,
    /// The interval must clear zero by this fraction of |estimate|
    /// (Kayenta's classifier tolerance, 0.25).
    pub tolerance: f64,
    /// Fewer samples than this on either side is insufficient data.
    pub min_samples: usize,
    pub insufficient_data: InsufficientData,
}

impl Default for MetricConfig {
    fn default() -> Self {
        MetricConfig {
            name: "value".to_owned(),
            group: "default".to_owned(),
            direction: Direction::Either,
            critical: false,
            nan_strategy: NanStrategy::Remove,
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
            tolerance: 0.25,
            min_samples: 3,
            insufficient_data: InsufficientData::Fail,
        }
    }
}

/// The class of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Classification {
    Pass,
    /// The canary is significantly higher, and higher is bad.
    High,
    /// The canary is significantly lower, and lower is bad.
    Low,
    /// Too few samples (or no usable ones) to judge.
    NodataFailure,
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Classification::Pass => "Pass",
            Classification::High => "High",
            Classification::Low => "Low",
            Classification::NodataFailure => "NodataFailure",
        })
    }
}

/// One side's samples, as judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleSummary {
    /// Samples used (after NaN handling).
    pub count: usize,
    /// NaN or infinite samples removed or replaced.
    pub not_a_number: usize,
    /// `None` when no sample is left.
    pub median: Option<f64>,
    pub mean: Option<f64>,
}

/// The judgement of one metric, with everything that explains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    pub name: String,
    pub group: String,
    pub direction: Direction,
    pub critical: bool,
    pub baseline: SampleSummary,
    pub canary: SampleSummary,
    /// The confidence interval of the shift canary − baseline.
    pub interval: Option<[f64; 2]>,
    /// The Hodges-Lehmann estimate of the shift.
    pub estimate: Option<f64>,
    /// mean(canary) / mean(baseline); 1.0 when the baseline's mean is 0.
    pub effect_size: Option<f64>,
    pub confidence_level: f64,
    pub classification: Classification,
    /// One line saying why.
    pub reason: String,
}

/// Classifies one metric at `confidence_level` (Kayenta's default is 0.98).
pub fn classify(
    config: &MetricConfig,
    baseline: &[f64],
    canary: &[f64],
    confidence_level: f64,
) -> MetricResult {
    let (baseline, baseline_nan) = clean(baseline, config.nan_strategy);
    let (canary, canary_nan) = clean(canary, config.nan_strategy);
    let mut result = MetricResult {
        name: config.name.clone(),
        group: config.group.clone(),
        direction: config.direction,
        critical: config.critical,
        baseline: summary(&baseline, baseline_nan),
        canary: summary(&canary, canary_nan),
        interval: None,
        estimate: None,
        effect_size: None,
        confidence_level,
        classification: Classification::Pass,
        reason: String::new(),
    };
    let needed = config.min_samples.max(1);
    if baseline.len() < needed || canary.len() < needed {
        result.classification = match config.insufficient_data {
            InsufficientData::Fail => Classification::NodataFailure,
            InsufficientData::Pass => Classification::Pass,
        };
        result.reason = format!(
            "too few samples: baseline {}, canary {}, at least {needed} needed on each side",
            baseline.len(),
            canary.len()
        );
        return result;
    }
    if baseline == canary {
        result.reason = "the canary and baseline samples are identical".to_owned();
        return result;
    }
    let first = baseline[0];
    if baseline.iter().chain(&canary).all(|&v| v == first) {
        result.reason = format!("every sample on both sides is {first}");
        return result;
    }
    let effect_size = match (result.baseline.mean, result.canary.mean) {
        (Some(b), Some(c)) if b != 0.0 => c / b,
        _ => 1.0,
    };
    result.effect_size = Some(effect_size);
    let baseline_constant = baseline.iter().all(|&v| v == first);
    let canary_constant = canary.iter().all(|&v| v == canary[0]);
    let (low, high, estimate) = if baseline_constant && canary_constant {
        // Each side is one value: the shift is known exactly, and the test's
        // variance is zero at that shift (Kayenta adds random noise here).
        let shift = canary[0] - first;
        (shift, shift, shift)
    } else {
        match mann_whitney(&canary, &baseline, confidence_level) {
            Ok(test) => (test.interval[0], test.interval[1], test.estimate),
            Err(error) => {
                result.classification = Classification::NodataFailure;
                result.reason = format!("the test could not be computed: {error}");
                return result;
            }
        }
    };
    result.interval = Some([low, high]);
    result.estimate = Some(estimate);
    let margin = config.tolerance * estimate.abs();
    let interval = format!("[{}, {}]", fmt(low), fmt(high));
    let higher = low > margin;
    let lower = high < -margin;
    let increase_bad = matches!(config.direction, Direction::Increase | Direction::Either);
    let decrease_bad = matches!(config.direction, Direction::Decrease | Direction::Either);
    let ratio = fmt(effect_size);
    (result.classification, result.reason) = if higher
        && increase_bad
        && effect_size >= config.allowed_increase
    {
        let reason = format!(
            "canary higher: the shift's interval {interval} is above zero, mean ratio {ratio} ≥ allowed {}",
            fmt(config.allowed_increase)
        );
        (Classification::High, reason)
    } else if lower && decrease_bad && effect_size <= config.allowed_decrease {
        let reason = format!(
            "canary lower: the shift's interval {interval} is below zero, mean ratio {ratio} ≤ allowed {}",
            fmt(config.allowed_decrease)
        );
        (Classification::Low, reason)
    } else if higher && increase_bad {
        (
            Classification::Pass,
            format!(
                "canary higher {interval}, but the mean ratio {ratio} is within the allowed increase {}",
                fmt(config.allowed_increase)
            ),
        )
    } else if lower && decrease_bad {
        (
            Classification::Pass,
            format!(
                "canary lower {interval}, but the mean ratio {ratio} is within the allowed decrease {}",
                fmt(config.allowed_decrease)
            ),
        )
    } else if higher {
        (
            Classification::Pass,
            format!("canary higher {interval}, and only a decrease is bad"),
        )
    } else if lower {
        (
            Classification::Pass,
            format!("canary lower {interval}, and only an increase is bad"),
        )
    } else {
        (
            Classification::Pass,
            format!("no significant shift: the interval {interval} does not clear zero"),
        )
    };
    result
}

/// The usable samples, sorted, and how many were not numbers.
fn clean(samples: &[f64], strategy: NanStrategy) -> (Vec<f64>, usize) {
    let mut kept = Vec::with_capacity(samples.len());
    let mut not_a_number = 0;
    for &value in samples {
        if value.is_finite() {
            kept.push(value);
        } else {
            not_a_number += 1;
            if strategy == NanStrategy::Replace {
                kept.push(0.0);
            }
        }
    }
    kept.sort_unstable_by(f64::total_cmp);
    (kept, not_a_number)
}

fn summary(sorted: &[f64], not_a_number: usize) -> SampleSummary {
    let count = sorted.len();
    let median = match count {
        0 => None,
        n if n % 2 == 1 => sorted.get(n / 2).copied(),
        n => match (sorted.get(n / 2 - 1), sorted.get(n / 2)) {
            (Some(a), Some(b)) => Some(a / 2.0 + b / 2.0),
            _ => None,
        },
    };
    let mean = (count > 0).then(|| sorted.iter().sum::<f64>() / count as f64);
    SampleSummary {
        count,
        not_a_number,
        median,
        mean,
    }
}

/// A number short enough for a reason line.
pub(crate) fn fmt(value: f64) -> String {
    if value == 0.0 || (1e-3..1e6).contains(&value.abs()) {
        let text = format!("{value:.4}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_owned()
    } else {
        format!("{value:.4e}")
    }
}
