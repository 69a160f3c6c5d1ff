//! A canary's verification evidence as HTML: for each compared metric the
//! baseline's samples against the canary's (a chart and the judge's numbers),
//! for each threshold metric its measurements over time, and the verdict with
//! its whole explanation (slipway-verify's `Display`, as text).

use std::fmt::Write as _;

use slipway_verify::{AnalysisRun, ComparisonReport, Verification};

use super::charts::{self, Series, Summary, short_number};
use crate::ui::layout::escape;

/// The most threshold measurements listed in a table per metric (the chart
/// and the explanation show them all).
const MEASUREMENTS_LISTED: usize = 50;

/// One verification step: its verdict, its charts and its explanation.
/// `id` makes the charts' ids unique in the page.
pub fn verification_html(out: &mut String, id: &str, number: usize, v: &Verification) {
    let _ = write!(
        out,
        "<section class=\"verification\" aria-labelledby=\"{id}-h\"><h3 id=\"{id}-h\">Verification {number}: <span class=\"badge {}\">{}</span></h3><p class=\"verdict\">{}</p>",
        phase_class(v.phase),
        escape(v.phase.as_str()),
        escape(&v.reason)
    );
    if v.cancelled {
        out.push_str("<p class=\"note\">Cancelled before it ended.</p>");
    }
    let side = |s: &slipway_verify::Side| {
        format!(
            "{} on {}",
            if s.version.is_empty() {
                "-"
            } else {
                &s.version
            },
            if s.targets.is_empty() {
                "-".to_owned()
            } else {
                s.targets.join(", ")
            }
        )
    };
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>Canary</dt><dd>{}</dd><dt>Baseline</dt><dd>{}</dd></dl>",
        escape(&side(&v.scope.canary)),
        escape(&side(&v.scope.baseline))
    );
    if let Some(report) = &v.comparison {
        comparison_html(out, id, report);
    }
    if let Some(run) = &v.thresholds {
        thresholds_html(out, id, run);
    }
    let _ = write!(
        out,
        "<details><summary>The whole explanation</summary><pre class=\"explanation\">{}</pre></details></section>",
        escape(&v.to_string())
    );
}

fn comparison_html(out: &mut String, id: &str, report: &ComparisonReport) {
    let _ = write!(
        out,
        "<h4>Baseline comparison: {}</h4><p>{}</p>",
        escape(report.phase.as_str()),
        escape(&report.reason)
    );
    if let Some(verdict) = &report.verdict {
        let _ = write!(
            out,
            "<p>Verdict: <strong>{}</strong>, score {:.1} (pass at {}, marginal at {}): {}</p>",
            escape(&verdict.outcome.to_string()),
            if verdict.score.is_finite() {
                verdict.score
            } else {
                0.0
            },
            escape(&short_number(verdict.pass_threshold)),
            escape(&short_number(verdict.marginal_threshold)),
            escape(&verdict.reason)
        );
        out.push_str(
            "<table class=\"judge\"><caption>The judge, per metric</caption><thead><tr><th scope=\"col\">Metric</th><th scope=\"col\">Samples baseline / canary</th><th scope=\"col\">Median baseline → canary</th><th scope=\"col\">Interval (canary − baseline)</th><th scope=\"col\">Classification</th><th scope=\"col\">Reason</th></tr></thead><tbody>",
        );
        for metric in &verdict.metrics {
            let optional = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), short_number);
            let interval = metric.interval.map_or_else(
                || "-".to_owned(),
                |[low, high]| format!("[{}, {}]", short_number(low), short_number(high)),
            );
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{} / {}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&metric.name),
                metric.baseline.count,
                metric.canary.count,
                escape(&optional(metric.baseline.median)),
                escape(&optional(metric.canary.median)),
                escape(&interval),
                escape(&metric.classification.to_string()),
                escape(&metric.reason)
            );
        }
        out.push_str("</tbody></table>");
    }
    for (i, evidence) in report.evidence.iter().enumerate() {
        let _ = write!(
            out,
            "<figure class=\"chart\"><figcaption>{}: baseline against canary</figcaption>",
            escape(&evidence.name)
        );
        out.push_str(&charts::samples_chart(
            &format!("{id}-cmp{i}"),
            &format!("{}: baseline and canary samples", evidence.name),
            &[
                ("baseline", &evidence.baseline_samples),
                ("canary", &evidence.canary_samples),
            ],
        ));
        let baseline = Summary::of(evidence.baseline_samples.iter().copied());
        let canary = Summary::of(evidence.canary_samples.iter().copied());
        let _ = write!(
            out,
            "<p class=\"values\">Baseline: {}. Canary: {}.</p><p class=\"query\">Canary query: <code>{}</code><br>Baseline query: <code>{}</code></p>",
            escape(&baseline.to_string()),
            escape(&canary.to_string()),
            escape(&evidence.canary_query.text),
            escape(&evidence.baseline_query.text)
        );
        if let Some(error) = &evidence.error {
            let _ = write!(out, "<p role=\"alert\">Error: {}</p>", escape(error));
        }
        out.push_str("</figure>");
    }
}

fn thresholds_html(out: &mut String, id: &str, run: &AnalysisRun) {
    let _ = write!(
        out,
        "<h4>Threshold analysis: {}</h4><p>{}</p>",
        escape(run.phase.as_str()),
        escape(&run.reason)
    );
    for (i, metric) in run.metrics.iter().enumerate() {
        let start = metric
            .measurements
            .iter()
            .map(|m| m.started_unix_ms)
            .min()
            .unwrap_or(run.started_unix_ms);
        let points: Vec<(f64, f64)> = metric
            .measurements
            .iter()
            .flat_map(|m| {
                let at = m.started_unix_ms.saturating_sub(start) as f64 / 1000.0;
                m.value
                    .iter()
                    .flat_map(move |v| v.values().iter().map(move |value| (at, *value)))
            })
            .collect();
        let _ = write!(
            out,
            "<figure class=\"chart\"><figcaption>{}: {} ({} successful, {} failed, {} inconclusive, {} errors of {} measurements){}</figcaption>",
            escape(&metric.name),
            escape(metric.phase.as_str()),
            metric.successful,
            metric.failed,
            metric.inconclusive,
            metric.errors,
            metric.count,
            if metric.message.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&metric.message))
            }
        );
        let series = [Series {
            label: &metric.name,
            points,
        }];
        out.push_str(&charts::line_chart(
            &format!("{id}-thr{i}"),
            &format!("{}: measurements over time", metric.name),
            "seconds since the first measurement",
            &|x| format!("+{}s", short_number(x)),
            &series,
        ));
        let conditions = [
            ("success", &metric.success_condition),
            ("failure", &metric.failure_condition),
        ];
        out.push_str("<p class=\"query\">");
        let _ = write!(
            out,
            "Query ({}): <code>{}</code>",
            escape(&metric.query.provider),
            escape(&metric.query.text)
        );
        for (name, condition) in conditions {
            if let Some(condition) = condition {
                let _ = write!(
                    out,
                    "<br>{name} condition: <code>{}</code>",
                    escape(condition)
                );
            }
        }
        out.push_str("</p><table class=\"measurements\"><thead><tr><th scope=\"col\">+s</th><th scope=\"col\">Phase</th><th scope=\"col\">Value</th><th scope=\"col\">Message</th></tr></thead><tbody>");
        for m in metric.measurements.iter().take(MEASUREMENTS_LISTED) {
            let value = m.value.as_ref().map_or_else(
                || "-".to_owned(),
                |v| {
                    let shown: Vec<String> = v
                        .values()
                        .iter()
                        .take(10)
                        .map(|x| short_number(*x))
                        .collect();
                    shown.join(", ")
                },
            );
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                m.started_unix_ms.saturating_sub(start) / 1000,
                escape(m.phase.as_str()),
                escape(&value),
                escape(&m.message)
            );
        }
        out.push_str("</tbody></table>");
        if metric.measurements.len() > MEASUREMENTS_LISTED {
            let _ = write!(
                out,
                "<p class=\"note\">{} more measurements in the explanation below.</p>",
                metric.measurements.len() - MEASUREMENTS_LISTED
            );
        }
        out.push_str("</figure>");
    }
}

/// The badge class of a verification phase (the phase is always written too).
pub fn phase_class(phase: slipway_verify::Phase) -> &'static str {
    match phase {
        slipway_verify::Phase::Successful => "s-ok",
        slipway_verify::Phase::Inconclusive => "s-wait",
        slipway_verify::Phase::Error | slipway_verify::Phase::Failed => "s-bad",
    }
}
