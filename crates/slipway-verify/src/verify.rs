//! The verification step as a canary strategy runs it: the threshold analysis, then the
//! baseline comparison over the window that ends when the analysis does.

use serde::{Deserialize, Serialize};

use crate::CancelSignal;
use crate::compare::{ComparisonReport, PreparedComparison, compare, window_ending_now};
use crate::config::{ConfigErrors, VerifyConfig};
use crate::phase::{Phase, now_unix_ms};
use crate::provider::{Fetch, Providers, Query, Window};
use crate::template::{self, Role, Side, Vars};
use crate::threshold::{AnalysisRun, Prepared, parse_condition, run, until_cancelled};

/// What is verified: the canary's targets and version against the baseline's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scope {
    pub canary: Side,
    pub baseline: Side,
}

impl Scope {
    fn side(&self, role: Role) -> &Side {
        match role {
            Role::Canary => &self.canary,
            Role::Baseline => &self.baseline,
        }
    }
}

/// The outcome of a verification step, with all its evidence: stored with the release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The worst of the two judges' phases.
    pub phase: Phase,
    pub reason: String,
    pub cancelled: bool,
    pub scope: Scope,
    pub started_unix_ms: u64,
    pub finished_unix_ms: u64,
    /// `None` when no threshold metric is configured.
    pub thresholds: Option<AnalysisRun>,
    /// `None` when no comparison is configured, or it was skipped (the reason says why).
    pub comparison: Option<ComparisonReport>,
}

/// A validated `verify:` block and the providers it queries.
#[derive(Debug, Clone)]
pub struct Verifier<F = Providers> {
    config: VerifyConfig,
    fetch: F,
}

impl Verifier<Providers> {
    /// Validates `config` and builds its providers' clients.
    pub fn new(config: VerifyConfig) -> Result<Verifier<Providers>, ConfigErrors> {
        config.validate()?;
        let fetch = Providers::new(&config.providers).map_err(|message| {
            ConfigErrors(vec![crate::config::ConfigError {
                at: "providers".to_owned(),
                message,
            }])
        })?;
        Ok(Verifier { config, fetch })
    }
}

impl<F: Fetch> Verifier<F> {
    /// Validates `config`; measurements come from `fetch` (a test double, or a cache).
    pub fn with_fetch(config: VerifyConfig, fetch: F) -> Result<Verifier<F>, ConfigErrors> {
        config.validate()?;
        Ok(Verifier { config, fetch })
    }

    pub fn config(&self) -> &VerifyConfig {
        &self.config
    }

    /// Where measurements come from.
    pub fn fetch(&self) -> &F {
        &self.fetch
    }

    /// Runs both judges for `scope`. The threshold analysis runs first; when it ends Failed or
    /// Error (or is cancelled) the comparison is skipped, since the step is lost anyway. Then,
    /// after the comparison's `delay`, the samples of the `window` ending now are judged.
    /// Setting `cancel` to true stops at once; a cancelled verification is never Successful.
    pub async fn verify(&self, scope: &Scope, cancel: &mut CancelSignal) -> Verification {
        let started_unix_ms = now_unix_ms();
        let thresholds = self.thresholds(scope, cancel).await;
        let mut skipped = None;
        let comparison = match (&self.config.comparison, &thresholds) {
            (None, _) => None,
            (Some(c), _) if c.metrics.is_empty() => None,
            (Some(_), Some(run))
                if run.cancelled || matches!(run.phase, Phase::Failed | Phase::Error) =>
            {
                skipped = Some(format!(
                    "the comparison was skipped: the threshold analysis ended {}",
                    if run.cancelled {
                        "cancelled"
                    } else {
                        run.phase.as_str()
                    }
                ));
                None
            }
            (Some(config), _) => {
                let delayed = tokio::select! {
                    _ = tokio::time::sleep(config.delay) => true,
                    _ = until_cancelled(cancel) => false,
                };
                if delayed {
                    let window = window_ending_now(config.window, config.step);
                    self.compare(scope, window, cancel).await
                } else {
                    skipped = Some("cancelled before the comparison".to_owned());
                    None
                }
            }
        };
        let cancelled = thresholds.as_ref().is_some_and(|t| t.cancelled)
            || comparison.as_ref().is_some_and(|c| c.cancelled)
            || skipped.as_deref() == Some("cancelled before the comparison");
        let mut phase = thresholds
            .iter()
            .map(|t| t.phase)
            .chain(comparison.iter().map(|c| c.phase))
            .max()
            .unwrap_or(Phase::Error);
        if cancelled {
            phase = phase.max(Phase::Inconclusive);
        }
        let mut parts = Vec::new();
        if let Some(run) = &thresholds {
            parts.push(format!("threshold analysis {}: {}", run.phase, run.reason));
        }
        if let Some(report) = &comparison {
            parts.push(format!(
                "baseline comparison {}: {}",
                report.phase, report.reason
            ));
        }
        parts.extend(skipped);
        if parts.is_empty() {
            parts.push("nothing was verified".to_owned());
        }
        Verification {
            phase,
            reason: parts.join("; "),
            cancelled,
            scope: scope.clone(),
            started_unix_ms,
            finished_unix_ms: now_unix_ms(),
            thresholds,
            comparison,
        }
    }

    /// The threshold analysis alone; `None` when no threshold metric is configured.
    pub async fn thresholds(
        &self,
        scope: &Scope,
        cancel: &mut CancelSignal,
    ) -> Option<AnalysisRun> {
        if self.config.metrics.is_empty() {
            return None;
        }
        let mut prepared = Vec::with_capacity(self.config.metrics.len());
        for metric in &self.config.metrics {
            let outcome = self
                .render(
                    metric.provider.as_deref(),
                    &metric.query,
                    metric.path.as_deref(),
                    metric.role,
                    scope,
                    metric.interval,
                )
                .and_then(|query| {
                    let parse = |c: &Option<String>| c.as_deref().map(parse_condition).transpose();
                    Ok(Prepared {
                        config: metric.clone(),
                        query,
                        success: parse(&metric.success_condition)?,
                        failure: parse(&metric.failure_condition)?,
                    })
                });
            match outcome {
                Ok(one) => prepared.push(one),
                Err(message) => {
                    return Some(setup_error(format!("metric {:?}: {message}", metric.name)));
                }
            }
        }
        Some(run(&self.fetch, prepared, cancel).await)
    }

    /// The baseline comparison over `window` alone; `None` when none is configured.
    pub async fn compare(
        &self,
        scope: &Scope,
        window: Window,
        cancel: &mut CancelSignal,
    ) -> Option<ComparisonReport> {
        let config = self
            .config
            .comparison
            .as_ref()
            .filter(|c| !c.metrics.is_empty())?;
        let mut prepared = Vec::with_capacity(config.metrics.len());
        for metric in &config.metrics {
            let render = |role| {
                self.render(
                    metric.provider.as_deref(),
                    &metric.query,
                    metric.path.as_deref(),
                    role,
                    scope,
                    window.step,
                )
            };
            match (render(Role::Canary), render(Role::Baseline)) {
                (Ok(canary), Ok(baseline)) => prepared.push(PreparedComparison {
                    config: metric.clone(),
                    canary,
                    baseline,
                }),
                (Err(message), _) | (_, Err(message)) => {
                    return Some(ComparisonReport {
                        phase: Phase::Error,
                        reason: format!("metric {:?}: {message}", metric.name),
                        cancelled: false,
                        window,
                        evidence: Vec::new(),
                        verdict: None,
                    });
                }
            }
        }
        Some(compare(&self.fetch, &config.judge, &prepared, window, cancel).await)
    }

    fn render(
        &self,
        provider: Option<&str>,
        text: &str,
        path: Option<&str>,
        role: Role,
        scope: &Scope,
        interval: std::time::Duration,
    ) -> Result<Query, String> {
        let (name, config) = self.config.provider_of(provider)?;
        let vars = Vars {
            role,
            side: scope.side(role),
            interval,
        };
        Ok(Query {
            provider: name.to_owned(),
            text: template::render(text, &vars, config.escape())?,
            path: path.map(str::to_owned),
        })
    }
}

fn setup_error(reason: String) -> AnalysisRun {
    let now = now_unix_ms();
    AnalysisRun {
        phase: Phase::Error,
        reason,
        cancelled: false,
        started_unix_ms: now,
        finished_unix_ms: now,
        metrics: Vec::new(),
    }
}
