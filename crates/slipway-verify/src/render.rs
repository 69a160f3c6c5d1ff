//! The human rendering of a verification: what `slipway judge` prints for the comparison,
//! with the threshold analysis's measurements before it.

use std::fmt::{self, Write as _};

use crate::compare::ComparisonReport;
use crate::duration::format_duration;
use crate::threshold::{AnalysisRun, number, show};
use crate::verify::Verification;

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "verification: {}: {}", self.phase, self.reason)?;
        let side = |s: &crate::template::Side| format!("{} on {}", s.version, s.targets.join(", "));
        writeln!(
            f,
            "canary {}; baseline {}",
            side(&self.scope.canary),
            side(&self.scope.baseline)
        )?;
        if let Some(run) = &self.thresholds {
            f.write_str(&render_thresholds(run))?;
        }
        if let Some(report) = &self.comparison {
            f.write_str(&render_comparison(report))?;
        }
        Ok(())
    }
}

/// The threshold analysis: one row per metric, its query, then one line per measurement.
pub fn render_thresholds(run: &AnalysisRun) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "threshold analysis: {}: {}", run.phase, run.reason);
    let _ = writeln!(
        out,
        "  {:<20} {:<12} {:>9} {:>4} {:>4} {:>4} {:>4}  message",
        "metric", "phase", "measured", "ok", "fail", "inc", "err"
    );
    for metric in &run.metrics {
        let _ = writeln!(
            out,
            "  {:<20} {:<12} {:>9} {:>4} {:>4} {:>4} {:>4}  {}",
            metric.name,
            metric.phase.as_str(),
            format!("{}/{}", metric.measurements.len(), metric.count),
            metric.successful,
            metric.failed,
            metric.inconclusive,
            metric.errors,
            metric.message
        );
        let _ = writeln!(
            out,
            "    query ({}): {}",
            metric.query.provider, metric.query.text
        );
        for measurement in &metric.measurements {
            let value = measurement
                .value
                .as_ref()
                .map_or_else(|| "-".to_owned(), show);
            let _ = writeln!(
                out,
                "    {:<12} {:>14}  {}",
                measurement.phase.as_str(),
                value,
                measurement.message
            );
        }
    }
    out
}

/// The baseline comparison: the judge's table (as `slipway judge` prints it) and each
/// metric's two queries.
pub fn render_comparison(report: &ComparisonReport) -> String {
    let mut out = String::new();
    let window = &report.window;
    let _ = writeln!(
        out,
        "baseline comparison: {}: {} (window {} at step {})",
        report.phase,
        report.reason,
        format_duration(std::time::Duration::from_millis(
            window.end_unix_ms.saturating_sub(window.start_unix_ms)
        )),
        format_duration(window.step)
    );
    if let Some(verdict) = &report.verdict {
        let _ = writeln!(
            out,
            "  {:<20} {:>13} {:>25} {:>27} {:<14} reason",
            "metric", "n base/canary", "median base → canary", "interval (canary−base)", "class"
        );
        for metric in &verdict.metrics {
            let optional = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), number);
            let interval = match metric.interval {
                Some([low, high]) => format!("[{}, {}]", number(low), number(high)),
                None => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {:<20} {:>13} {:>25} {:>27} {:<14} {}",
                metric.name,
                format!("{}/{}", metric.baseline.count, metric.canary.count),
                format!(
                    "{} → {}",
                    optional(metric.baseline.median),
                    optional(metric.canary.median)
                ),
                interval,
                metric.classification.to_string(),
                metric.reason
            );
        }
        let _ = writeln!(
            out,
            "  verdict: {} (score {:.1}): {}",
            verdict.outcome, verdict.score, verdict.reason
        );
    }
    for evidence in &report.evidence {
        let _ = writeln!(out, "  {}:", evidence.name);
        let _ = writeln!(out, "    canary query:   {}", evidence.canary_query.text);
        let _ = writeln!(out, "    baseline query: {}", evidence.baseline_query.text);
        if let Some(error) = &evidence.error {
            let _ = writeln!(out, "    error: {error}");
        }
    }
    out
}
