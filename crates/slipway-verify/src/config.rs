//! The `verify:` block as plain structs with defaults, and its validation. Parsing YAML is the
//! spec crate's job; these derive serde so it (and stored releases) can use them directly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_judge::{
    Direction, InsufficientData, JudgeConfig, MetricConfig, MetricSamples, NanStrategy,
};

use crate::duration::serde_text;
use crate::template::{self, Escape, Role};
use crate::threshold::parse_condition;

/// Everything a verification step does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Metric providers by name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Threshold analysis (Argo Rollouts' AnalysisTemplate `metrics`).
    pub metrics: Vec<ThresholdMetric>,
    /// Baseline comparison (the canary judge).
    pub comparison: Option<ComparisonConfig>,
}

/// One provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ProviderConfig {
    /// Prometheus's HTTP API at `address` (`http://127.0.0.1:9090`); queries are PromQL.
    Prometheus {
        address: String,
        #[serde(default = "default_timeout", with = "serde_text")]
        timeout: Duration,
    },
    /// `GET` of the query, a URL; `path` is a JSON pointer to the number or array.
    Http {
        #[serde(default = "default_timeout", with = "serde_text")]
        timeout: Duration,
    },
    /// The query is a `sh -c` command line printing a number or JSON.
    Command {
        #[serde(default = "default_timeout", with = "serde_text")]
        timeout: Duration,
    },
}

impl ProviderConfig {
    /// How values substituted into this provider's queries are escaped.
    pub fn escape(&self) -> Escape {
        match self {
            ProviderConfig::Prometheus { .. } => Escape::PromQl,
            ProviderConfig::Http { .. } => Escape::Url,
            ProviderConfig::Command { .. } => Escape::Shell,
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            ProviderConfig::Prometheus { timeout, .. }
            | ProviderConfig::Http { timeout }
            | ProviderConfig::Command { timeout } => *timeout,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// One metric of the threshold analysis, with Argo Rollouts' semantics (see [`crate::threshold`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdMetric {
    pub name: String,
    /// The provider's name; may be left out when only one provider is configured.
    pub provider: Option<String>,
    /// PromQL, a URL or a command line, with `{{target}}`, `{{version}}`, `{{role}}`, `{{interval}}`.
    pub query: String,
    /// JSON pointer into an HTTP or command answer.
    pub path: Option<String>,
    /// Whose targets and version the query is rendered with.
    pub role: Role,
    /// Time between measurements (from the end of one to the start of the next).
    #[serde(with = "serde_text")]
    pub interval: Duration,
    /// Measurements to take (at least 1).
    pub count: u32,
    /// Wait before the first measurement.
    #[serde(with = "serde_text")]
    pub initial_delay: Duration,
    /// An expression over `result` (slipway-expr): `result[0] <= 0.01`.
    pub success_condition: Option<String>,
    /// An expression over `result`; wins when both match.
    pub failure_condition: Option<String>,
    /// The metric fails when more measurements than this failed.
    pub failure_limit: u32,
    /// The metric is inconclusive when more measurements than this were inconclusive.
    pub inconclusive_limit: u32,
    /// The metric errs when more measurements than this erred in a row.
    pub consecutive_error_limit: u32,
    /// NaN in a result: `remove` drops those values (nothing left: inconclusive); `replace`
    /// reads them as 0.
    pub nan_strategy: NanStrategy,
}

impl Default for ThresholdMetric {
    fn default() -> Self {
        ThresholdMetric {
            name: String::new(),
            provider: None,
            query: String::new(),
            path: None,
            role: Role::Canary,
            interval: Duration::from_secs(10),
            count: 1,
            initial_delay: Duration::ZERO,
            success_condition: None,
            failure_condition: None,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            nan_strategy: NanStrategy::Remove,
        }
    }
}

/// The baseline comparison: each metric's samples over a window, canary against baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparisonConfig {
    /// How far back from the comparison's moment the samples reach.
    #[serde(with = "serde_text")]
    pub window: Duration,
    /// Resolution of `query_range` (one sample per step and series).
    #[serde(with = "serde_text")]
    pub step: Duration,
    /// Wait before fetching, so the canary collects samples of its own.
    #[serde(with = "serde_text")]
    pub delay: Duration,
    /// Confidence, score thresholds and group weights.
    pub judge: JudgeConfig,
    pub metrics: Vec<ComparedMetric>,
}

impl Default for ComparisonConfig {
    fn default() -> Self {
        ComparisonConfig {
            window: Duration::from_secs(300),
            step: Duration::from_secs(10),
            delay: Duration::ZERO,
            judge: JudgeConfig::default(),
            metrics: Vec::new(),
        }
    }
}

/// One compared metric: its query (rendered once per role) and how the judge treats it
/// (the fields of [`MetricConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparedMetric {
    pub name: String,
    pub provider: Option<String>,
    pub query: String,
    pub path: Option<String>,
    pub group: String,
    pub direction: Direction,
    pub critical: bool,
    pub nan_strategy: NanStrategy,
    pub allowed_increase: f64,
    pub allowed_decrease: f64,
    pub tolerance: f64,
    pub min_samples: usize,
    pub insufficient_data: InsufficientData,
}

impl Default for ComparedMetric {
    fn default() -> Self {
        let judge = MetricConfig::default();
        ComparedMetric {
            name: String::new(),
            provider: None,
            query: String::new(),
            path: None,
            group: judge.group,
            direction: judge.direction,
            critical: judge.critical,
            nan_strategy: judge.nan_strategy,
            allowed_increase: judge.allowed_increase,
            allowed_decrease: judge.allowed_decrease,
            tolerance: judge.tolerance,
            min_samples: judge.min_samples,
            insufficient_data: judge.insufficient_data,
        }
    }
}

impl ComparedMetric {
    /// The judge's view of this metric.
    pub fn judge_config(&self) -> MetricConfig {
        MetricConfig {
            name: self.name.clone(),
            group: self.group.clone(),
            direction: self.direction,
            critical: self.critical,
            nan_strategy: self.nan_strategy,
            allowed_increase: self.allowed_increase,
            allowed_decrease: self.allowed_decrease,
            tolerance: self.tolerance,
            min_samples: self.min_samples,
            insufficient_data: self.insufficient_data,
        }
    }
}

/// One problem of a configuration: where (`metrics[0] (error-rate).count`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub at: String,
    pub message: String,
}

/// Every problem found, in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "verify.{}: {}", error.at, error.message)?;
        }
        Ok(())
    }
}

/// Prometheus refuses `query_range` beyond this many points per series.
const MAX_POINTS: u128 = 11_000;

impl VerifyConfig {
    /// Checks everything that can be checked without running: names, providers, templates,
    /// conditions, limits and the judge's settings. Collects every problem.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let mut error = |at: String, message: String| errors.push(ConfigError { at, message });
        for (name, provider) in &self.providers {
            let at = format!("providers.{name}");
            if name.trim().is_empty() {
                error(at.clone(), "a provider needs a name".to_owned());
            }
            if provider.timeout().is_zero() {
                error(format!("{at}.timeout"), "must be longer than 0".to_owned());
            }
            if let ProviderConfig::Prometheus { address, .. } = provider
                && !(address.starts_with("http://") || address.starts_with("https://"))
            {
                error(
                    format!("{at}.address"),
                    format!("{address:?} is not an http:// or https:// URL"),
                );
            }
        }
        if self.metrics.is_empty()
            && self
                .comparison
                .as_ref()
                .is_none_or(|c| c.metrics.is_empty())
        {
            error(
                "metrics".to_owned(),
                "nothing to verify: give threshold metrics, comparison metrics, or both".to_owned(),
            );
        }
        let mut names = BTreeSet::new();
        for (index, metric) in self.metrics.iter().enumerate() {
            let at = format!("metrics[{index}] ({})", metric.name);
            if metric.name.trim().is_empty() {
                error(at.clone(), "a metric needs a name".to_owned());
            } else if !names.insert(metric.name.as_str()) {
                error(
                    at.clone(),
                    format!("the name {:?} is used twice", metric.name),
                );
            }
            self.check_query(
                &at,
                metric.provider.as_deref(),
                &metric.query,
                metric.path.as_deref(),
                &mut error,
            );
            if metric.count == 0 {
                error(format!("{at}.count"), "must be at least 1".to_owned());
            }
            if metric.count > 1 && metric.interval.is_zero() {
                error(
                    format!("{at}.interval"),
                    "must be longer than 0 when count > 1".to_owned(),
                );
            }
            if metric.success_condition.is_none() && metric.failure_condition.is_none() {
                error(
                    at.clone(),
                    "give a success_condition, a failure_condition or both (without either every measurement would pass)".to_owned(),
                );
            }
            for (field, condition) in [
                ("success_condition", &metric.success_condition),
                ("failure_condition", &metric.failure_condition),
            ] {
                if let Some(text) = condition
                    && let Err(message) = parse_condition(text)
                {
                    error(format!("{at}.{field}"), message);
                }
            }
        }
        if let Some(comparison) = &self.comparison {
            if comparison.step.is_zero() {
                error(
                    "comparison.step".to_owned(),
                    "must be longer than 0".to_owned(),
                );
            } else if comparison.window < comparison.step {
                error(
                    "comparison.window".to_owned(),
                    "must be at least one step".to_owned(),
                );
            } else if comparison.window.as_millis() / comparison.step.as_millis().max(1)
                > MAX_POINTS
            {
                error(
                    "comparison.window".to_owned(),
                    format!("window / step is more than {MAX_POINTS} points (Prometheus's limit)"),
                );
            }
            for (index, metric) in comparison.metrics.iter().enumerate() {
                let at = format!("comparison.metrics[{index}] ({})", metric.name);
                self.check_query(
                    &at,
                    metric.provider.as_deref(),
                    &metric.query,
                    metric.path.as_deref(),
                    &mut error,
                );
                if !(metric.tolerance.is_finite() && metric.tolerance >= 0.0) {
                    error(format!("{at}.tolerance"), "must be a number ≥ 0".to_owned());
                }
                for (field, value) in [
                    ("allowed_increase", metric.allowed_increase),
                    ("allowed_decrease", metric.allowed_decrease),
                ] {
                    if !(value.is_finite() && value > 0.0) {
                        error(format!("{at}.{field}"), "must be a number > 0".to_owned());
                    }
                }
                if metric.name.trim().is_empty() {
                    error(at.clone(), "a metric needs a name".to_owned());
                }
            }
            if !comparison.metrics.is_empty() {
                // The judge checks confidence, thresholds, weights and duplicate names.
                let dry: Vec<MetricSamples> = comparison
                    .metrics
                    .iter()
                    .map(|m| MetricSamples {
                        config: m.judge_config(),
                        baseline: Vec::new(),
                        canary: Vec::new(),
                    })
                    .collect();
                if let Err(judge_error) = slipway_judge::judge(&comparison.judge, &dry) {
                    error("comparison".to_owned(), judge_error.to_string());
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The provider a metric uses: the named one, or the only one.
    pub fn provider_of(&self, named: Option<&str>) -> Result<(&str, &ProviderConfig), String> {
        match named {
            Some(name) => self
                .providers
                .get_key_value(name)
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| {
                    let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
                    format!("no provider named {name:?} (configured: {known:?})")
                }),
            None => {
                let mut all = self.providers.iter();
                match (all.next(), all.next()) {
                    (Some((k, v)), None) => Ok((k.as_str(), v)),
                    (None, _) => Err("no provider is configured".to_owned()),
                    (Some(_), Some(_)) => {
                        Err("several providers are configured: name one with `provider`".to_owned())
                    }
                }
            }
        }
    }

    fn check_query(
        &self,
        at: &str,
        provider: Option<&str>,
        query: &str,
        path: Option<&str>,
        error: &mut impl FnMut(String, String),
    ) {
        match self.provider_of(provider) {
            Ok((_, ProviderConfig::Prometheus { .. })) if path.is_some() => {
                error(
                    format!("{at}.path"),
                    "Prometheus metrics take no JSON path".to_owned(),
                );
            }
            Ok(_) => {}
            Err(message) => error(format!("{at}.provider"), message),
        }
        if query.trim().is_empty() {
            error(format!("{at}.query"), "is empty".to_owned());
        } else if let Err(message) = template::check(query) {
            error(format!("{at}.query"), message);
        }
        if let Some(path) = path
            && !(path.is_empty() || path.starts_with('/'))
        {
            error(
                format!("{at}.path"),
                format!("{path:?} is not a JSON pointer (it starts with `/`, e.g. /data/0/value)"),
            );
        }
    }
}
