//! Verification, the step of canary analysis that decides whether a new version may go on.
//!
//! A [`Verifier`] holds a validated [`VerifyConfig`] (the `verify:` block: providers, threshold
//! metrics, a baseline comparison) and the clients of its providers. A canary strategy calls
//! [`Verifier::verify`] with the [`Scope`] (canary and baseline targets and versions) and a
//! cancel signal, and gets a [`Verification`]: a [`Phase`] (Successful, Inconclusive, Error,
//! Failed) with every piece of evidence, serialisable for the release record and printable
//! (`Display`) for people.
//!
//! Two judges, usable together:
//! - **threshold analysis** ([`threshold`]): Argo Rollouts' AnalysisTemplate semantics;
//! - **baseline comparison** ([`compare`]): canary samples against baseline samples over a
//!   window, judged by slipway-judge (Mann-Whitney U, Kayenta's classification and score).
//!
//! Providers ([`provider`]): Prometheus's HTTP API, an HTTP endpoint answering JSON, a command.
//! Queries are templates ([`template`]) with `{{target}}`, `{{version}}`, `{{role}}` and
//! `{{interval}}`, escaped for the provider.
//!
//! # Bad input, and what it becomes
//!
//! | input | threshold analysis | baseline comparison |
//! |---|---|---|
//! | query error (syntax, unknown function) | Error measurement (counts towards `consecutive_error_limit`) | Error, naming metric, query and Prometheus's message |
//! | no data / empty vector | Error measurement | no samples on that side: the judge's `NodataFailure` (Failed), or Pass with `insufficient_data: pass` |
//! | NaN | `nan_strategy` remove (default: dropped; nothing left is an Inconclusive measurement) or replace (0) | the judge's `nan_strategy` |
//! | Prometheus down | Error measurement naming the address and the cause | Error naming the address and the cause |
//! | cancel signal | stops at once; never Successful (running metrics end Inconclusive) | the same |

pub mod compare;
pub mod config;
pub mod duration;
mod nan;
mod phase;
pub mod provider;
mod render;
pub mod template;
pub mod threshold;
mod verify;

pub use compare::{ComparedEvidence, ComparisonReport};
pub use config::{
    ComparedMetric, ComparisonConfig, ConfigError, ConfigErrors, ProviderConfig, ThresholdMetric,
    VerifyConfig,
};
pub use phase::Phase;
pub use provider::{Fetch, FetchError, MetricValue, Providers, Query, Window};
pub use render::{render_comparison, render_thresholds};
pub use template::{Role, Side};
pub use threshold::{AnalysisRun, Measurement, MetricRun};
pub use verify::{Scope, Verification, Verifier};

/// Set to `true` to stop a verification (the convention of slipway-engine and slipway-deploy).
pub type CancelSignal = tokio::sync::watch::Receiver<bool>;
