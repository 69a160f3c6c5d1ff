//! The two-sided Mann-Whitney U test with a confidence interval for the
//! location shift and the Hodges-Lehmann estimate, computed as R's
//! `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)` does
//! and as Kayenta's `MannWhitney` ports it: the normal approximation with
//! continuity and tie corrections, and the interval's ends found by root
//! finding on the statistic of `x - d` against `y`.

use serde::{Deserialize, Serialize};

use crate::normal::normal_quantile;
use crate::zeroin::{ZeroinError, zeroin};

/// The tolerance R's `wilcox.test` passes to `uniroot`.
const ROOT_TOLERANCE: f64 = 1e-4;
/// `uniroot`'s default iteration limit.
const MAX_ITERATIONS: u32 = 1000;

/// Why the test cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MannWhitneyError {
    #[error("the {0} sample is empty")]
    Empty(Side),
    #[error("the {0} sample holds a value that is not a finite number")]
    NotFinite(Side),
    #[error("the confidence level {0} is not strictly between 0 and 1")]
    ConfidenceLevel(f64),
    #[error("cannot compute a confidence interval when all observations are tied")]
    AllTied,
    #[error("the root finder did not converge ({0:?})")]
    RootFinding(ZeroinError),
}

/// Which sample a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The new version's sample (`x` in R).
    Canary,
    /// The reference sample (`y` in R).
    Baseline,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Canary => "canary",
            Side::Baseline => "baseline",
        })
    }
}

/// The outcome of the test: where the canary lies relative to the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// The interval for the shift `canary - baseline`, low end first.
    pub interval: [f64; 2],
    /// The Hodges-Lehmann estimate of the shift (R's "difference in location").
    pub estimate: f64,
    /// The confidence level the interval was computed for.
    pub confidence_level: f64,
}

/// The values R computes on the way to the interval, for checking against it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intermediates {
    /// `min(x) - max(y)`: the lowest shift considered.
    pub mu_min: f64,
    /// `max(x) - min(y)`: the highest shift considered.
    pub mu_max: f64,
    /// `qnorm(alpha / 2, lower.tail = FALSE)`, the quantile of the lower end.
    pub zq_lower: f64,
    /// `qnorm(alpha / 2)`, the quantile of the upper end.
    pub zq_upper: f64,
    /// The shifted statistic at `mu_min` and `mu_max` for `zq_lower`.
    pub f_lower1: f64,
    pub f_upper1: f64,
    /// The shifted statistic at `mu_min` and `mu_max` for `zq_upper`.
    pub f_lower2: f64,
    pub f_upper2: f64,
    /// The roots as found, before ordering: with heavy ties the two can
    /// cross by up to the solver's tolerance (R returns them crossed too).
    pub ci_lower: f64,
    pub ci_upper: f64,
    /// The estimate, root of the statistic with continuity correction
    /// (Kayenta's and this module's choice; see [`mann_whitney`]).
    pub estimate: f64,
}

/// `qnorm((1 - confidence_level) / 2)`: the (negative) normal quantile that
/// bounds a two-sided interval of this confidence level.
pub fn z_quant(confidence_level: f64) -> f64 {
    normal_quantile((1.0 - confidence_level) / 2.0)
}

/// The standardised, continuity- and tie-corrected rank-sum statistic of
/// `x - mu` against `y`, minus `quantile` (R's `wdiff`, Kayenta's
/// `wilcoxonDiff`). Decreasing in `mu`; the interval's ends are its roots.
pub fn wilcoxon_diff(
    mu: f64,
    quantile: f64,
    x: &[f64],
    y: &[f64],
) -> Result<f64, MannWhitneyError> {
    check(x, y)?;
    Statistic::new(x, y).diff(mu, quantile, true)
}

/// Runs the test of `canary` (R's `x`) against `baseline` (`y`).
///
/// Follows R's `wilcox.test` step by step, with one choice where R and
/// Kayenta differ: the estimate is the root of the statistic *with* the
/// continuity correction, as Kayenta computes it (R ≥ 4.0 drops the
/// correction for the estimate only). The interval is returned ordered;
/// see [`Intermediates::ci_lower`].
pub fn mann_whitney(
    canary: &[f64],
    baseline: &[f64],
    confidence_level: f64,
) -> Result<MannWhitney, MannWhitneyError> {
    let steps = intermediates(canary, baseline, confidence_level)?;
    let (low, high) = if steps.ci_lower <= steps.ci_upper {
        (steps.ci_lower, steps.ci_upper)
    } else {
        (steps.ci_upper, steps.ci_lower)
    };
    Ok(MannWhitney {
        interval: [low, high],
        estimate: steps.estimate,
        confidence_level,
    })
}

/// Runs the test and returns every intermediate value R computes.
pub fn intermediates(
    canary: &[f64],
    baseline: &[f64],
    confidence_level: f64,
) -> Result<Intermediates, MannWhitneyError> {
    check(canary, baseline)?;
    if !(confidence_level > 0.0 && confidence_level < 1.0) {
        return Err(MannWhitneyError::ConfidenceLevel(confidence_level));
    }
    let mut statistic = Statistic::new(canary, baseline);
    let (mu_min, mu_max) = statistic.shift_range();
    if mu_min >= mu_max {
        // Both samples constant: every shift leaves all values tied at one point.
        return Err(MannWhitneyError::AllTied);
    }
    let zq_upper = z_quant(confidence_level);
    let zq_lower = -zq_upper;
    let f_lower1 = statistic.diff(mu_min, zq_lower, true)?;
    let f_upper1 = statistic.diff(mu_max, zq_lower, true)?;
    let f_lower2 = statistic.diff(mu_min, zq_upper, true)?;
    let f_upper2 = statistic.diff(mu_max, zq_upper, true)?;
    let ci_lower = statistic.root(mu_min, mu_max, f_lower1, f_upper1, zq_lower)?;
    let ci_upper = statistic.root(mu_min, mu_max, f_lower2, f_upper2, zq_upper)?;
    let f_lower = statistic.diff(mu_min, 0.0, true)?;
    let f_upper = statistic.diff(mu_max, 0.0, true)?;
    let estimate = statistic.solve(mu_min, mu_max, f_lower, f_upper, 0.0, true)?;
    Ok(Intermediates {
        mu_min,
        mu_max,
        zq_lower,
        zq_upper,
        f_lower1,
        f_upper1,
        f_lower2,
        f_upper2,
        ci_lower,
        ci_upper,
        estimate,
    })
}

fn check(canary: &[f64], baseline: &[f64]) -> Result<(), MannWhitneyError> {
    for (sample, side) in [(canary, Side::Canary), (baseline, Side::Baseline)] {
        if sample.is_empty() {
            return Err(MannWhitneyError::Empty(side));
        }
        if sample.iter().any(|v| !v.is_finite()) {
            return Err(MannWhitneyError::NotFinite(side));
        }
    }
    Ok(())
}

/// The two samples and a scratch buffer reused by every evaluation, so root
/// finding does not allocate per step.
struct Statistic<'a> {
    x: &'a [f64],
    y: &'a [f64],
    /// Pooled values of `x - mu` (flag true) and `y` (flag false).
    pooled: Vec<(f64, bool)>,
}

impl<'a> Statistic<'a> {
    fn new(x: &'a [f64], y: &'a [f64]) -> Self {
        Statistic {
            x,
            y,
            pooled: Vec::with_capacity(x.len() + y.len()),
        }
    }

    fn shift_range(&self) -> (f64, f64) {
        let (x_min, x_max) = min_max(self.x);
        let (y_min, y_max) = min_max(self.y);
        (x_min - y_max, x_max - y_min)
    }

    /// R's `wdiff(d, zq)`.
    fn diff(&mut self, mu: f64, quantile: f64, correct: bool) -> Result<f64, MannWhitneyError> {
        let n_x = self.x.len() as f64;
        let n_y = self.y.len() as f64;
        self.pooled.clear();
        self.pooled.extend(self.x.iter().map(|v| (v - mu, true)));
        self.pooled.extend(self.y.iter().map(|&v| (v, false)));
        self.pooled.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        // Average ranks of tie groups; the sum of x's ranks and Σ(t³ - t).
        let mut rank_sum_x = 0.0;
        let mut ties = 0.0;
        let mut start = 0;
        while start < self.pooled.len() {
            let value = self.pooled[start].0;
            let mut end = start + 1;
            while end < self.pooled.len() && self.pooled[end].0 == value {
                end += 1;
            }
            let count = (end - start) as f64;
            let rank = (start + end + 1) as f64 / 2.0;
            let xs_in_group = self.pooled[start..end].iter().filter(|p| p.1).count() as f64;
            rank_sum_x += rank * xs_in_group;
            ties += count * count * count - count;
            start = end;
        }
        let dz = rank_sum_x - n_x * (n_x + 1.0) / 2.0 - n_x * n_y / 2.0;
        let correction = if correct { sign(dz) * 0.5 } else { 0.0 };
        let sigma = ((n_x * n_y / 12.0)
            * ((n_x + n_y + 1.0) - ties / ((n_x + n_y) * (n_x + n_y - 1.0))))
            .sqrt();
        if sigma == 0.0 || sigma.is_nan() {
            return Err(MannWhitneyError::AllTied);
        }
        Ok((dz - correction) / sigma - quantile)
    }

    /// R's `root(zq)`: an end of the range when the statistic does not
    /// change sign over it (extreme samples), else the solver's root.
    fn root(
        &mut self,
        mu_min: f64,
        mu_max: f64,
        f_lower: f64,
        f_upper: f64,
        quantile: f64,
    ) -> Result<f64, MannWhitneyError> {
        if f_lower <= 0.0 {
            return Ok(mu_min);
        }
        if f_upper >= 0.0 {
            return Ok(mu_max);
        }
        self.solve(mu_min, mu_max, f_lower, f_upper, quantile, true)
    }

    fn solve(
        &mut self,
        low: f64,
        high: f64,
        f_low: f64,
        f_high: f64,
        quantile: f64,
        correct: bool,
    ) -> Result<f64, MannWhitneyError> {
        let mut failure = None;
        let result = zeroin(
            low,
            high,
            f_low,
            f_high,
            |mu| match self.diff(mu, quantile, correct) {
                Ok(value) => Some(value),
                Err(error) => {
                    failure = Some(error);
                    None
                }
            },
            ROOT_TOLERANCE,
            MAX_ITERATIONS,
        );
        match (result, failure) {
            (Ok(root), _) => Ok(root),
            (Err(_), Some(error)) => Err(error),
            (Err(error), None) => Err(MannWhitneyError::RootFinding(error)),
        }
    }
}

fn sign(value: f64) -> f64 {
    if value > 0.0 {
        1.0
    } else if value < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}
