//! The canary judge: compares a canary's metric samples with a baseline's.
//!
//! [`mann_whitney`] is the statistics (R's `wilcox.test` with a confidence
//! interval, as Kayenta's judge uses it); [`judge`] classifies each metric and
//! combines the classifications into a scored [`Verdict`].

mod mann_whitney;
mod normal;
mod zeroin;

pub use mann_whitney::{
    Intermediates, MannWhitney, MannWhitneyError, Side, intermediates, mann_whitney, wilcoxon_diff,
    z_quant,
};
pub use normal::normal_quantile;
pub use zeroin::ZeroinError;
