//! The canary judge: compares a canary's metric samples with a baseline's.
//!
//! [`mann_whitney`] is the statistics (R's `wilcox.test` with a confidence
//! interval, as Kayenta's judge uses it); [`classify`] classifies one metric
//! as Kayenta's `MannWhitneyClassifier` does; [`judge`] combines the
//! classifications into a scored [`Verdict`].

mod classify;
mod mann_whitney;
mod normal;
mod verdict;
mod zeroin;

pub use classify::{
    Classification, Direction, InsufficientData, MetricConfig, MetricResult, NanStrategy,
    SampleSummary, classify,
};
pub use mann_whitney::{
    Intermediates, MannWhitney, MannWhitneyError, Side, intermediates, mann_whitney, wilcoxon_diff,
    z_quant,
};
pub use normal::normal_quantile;
pub use verdict::{GroupScore, JudgeConfig, JudgeError, MetricSamples, Outcome, Verdict, judge};
pub use zeroin::ZeroinError;
