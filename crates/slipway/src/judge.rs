//! `slipway judge`: the baseline comparison on saved samples, so a verdict
//! can be reproduced offline.
//!
//! Exit codes: 0 Pass; 1 Fail or Marginal (a marginal canary is not cleared
//! for release without a person looking); 2 a file is unreadable, not JSON,
//! wrongly shaped, empty, or names a metric the other file lacks.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use slipway_judge::{
    Direction, JudgeConfig, MetricConfig, MetricSamples, Outcome, Verdict, judge as judge_samples,
};

use crate::Exit;
use crate::args::{JudgeArgs, JudgeDirection};

/// The metric name of a file that is a bare array.
const SINGLE_METRIC: &str = "value";

pub fn judge(args: JudgeArgs) -> Exit {
    match run(&args) {
        Ok(verdict) => {
            if args.json {
                match serde_json::to_string_pretty(&verdict) {
                    Ok(text) => println!("{text}"),
                    Err(error) => {
                        eprintln!("slipway judge: cannot serialise the verdict: {error}");
                        return Exit::Usage;
                    }
                }
            } else {
                print_table(&verdict);
            }
            if verdict.outcome == Outcome::Pass {
                Exit::Success
            } else {
                Exit::Failure
            }
        }
        Err(message) => {
            eprintln!("slipway judge: {message}");
            Exit::Usage
        }
    }
}

fn run(args: &JudgeArgs) -> Result<Verdict, String> {
    let baseline = read_samples(&args.baseline)?;
    let mut canary = read_samples(&args.canary)?;
    let direction = match args.direction {
        JudgeDirection::Increase => Direction::Increase,
        JudgeDirection::Decrease => Direction::Decrease,
        JudgeDirection::Either => Direction::Either,
    };
    let mut metrics = Vec::with_capacity(baseline.len());
    for (name, baseline_values) in baseline {
        let Some(canary_values) = canary.remove(&name) else {
            return Err(format!(
                "metric {name:?} is in {} but not in {}",
                args.baseline.display(),
                args.canary.display()
            ));
        };
        let config = MetricConfig {
            name,
            direction,
            ..MetricConfig::default()
        };
        metrics.push(MetricSamples {
            config,
            baseline: baseline_values,
            canary: canary_values,
        });
    }
    if let Some(name) = canary.keys().next() {
        return Err(format!(
            "metric {name:?} is in {} but not in {}",
            args.canary.display(),
            args.baseline.display()
        ));
    }
    let config = JudgeConfig {
        confidence_level: args.confidence,
        ..JudgeConfig::default()
    };
    judge_samples(&config, &metrics).map_err(|error| error.to_string())
}

/// Reads a JSON array of numbers (metric `value`) or an object of metric
/// name → array. `null` stands for NaN, which JSON cannot spell.
fn read_samples(path: &Path) -> Result<BTreeMap<String, Vec<f64>>, String> {
    let file = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{file}: cannot read: {error}"))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|error| format!("{file}: not JSON: {error}"))?;
    let mut metrics = BTreeMap::new();
    match value {
        Value::Array(items) => {
            metrics.insert(
                SINGLE_METRIC.to_owned(),
                numbers(&items, path, SINGLE_METRIC)?,
            );
        }
        Value::Object(map) => {
            if map.is_empty() {
                return Err(format!("{file}: the object names no metric"));
            }
            for (name, item) in map {
                let Value::Array(items) = item else {
                    return Err(format!(
                        "{file}: metric {name:?} is not an array of numbers"
                    ));
                };
                let values = numbers(&items, path, &name)?;
                metrics.insert(name, values);
            }
        }
        _ => {
            return Err(format!(
                "{file}: expected an array of numbers or an object of metric name → array"
            ));
        }
    }
    Ok(metrics)
}

fn numbers(items: &[Value], path: &Path, metric: &str) -> Result<Vec<f64>, String> {
    if items.is_empty() {
        return Err(format!(
            "{}: metric {metric:?} has no samples (empty array)",
            path.display()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Null => Ok(f64::NAN),
            other => other.as_f64().ok_or_else(|| {
                format!(
                    "{}: metric {metric:?}, sample {index}: {other} is not a number",
                    path.display()
                )
            }),
        })
        .collect()
}

fn print_table(verdict: &Verdict) {
    println!(
        "{:<20} {:>13} {:>25} {:>27} {:<14} reason",
        "metric", "n base/canary", "median base → canary", "interval (canary−base)", "class"
    );
    for metric in &verdict.metrics {
        let counts = format!("{}/{}", metric.baseline.count, metric.canary.count);
        let medians = format!(
            "{} → {}",
            number(metric.baseline.median),
            number(metric.canary.median)
        );
        let interval = match metric.interval {
            Some([low, high]) => format!("[{}, {}]", number(Some(low)), number(Some(high))),
            None => "-".to_owned(),
        };
        println!(
            "{:<20} {:>13} {:>25} {:>27} {:<14} {}",
            metric.name,
            counts,
            medians,
            interval,
            metric.classification.to_string(),
            metric.reason
        );
    }
    println!(
        "verdict: {} (score {:.1}): {}",
        verdict.outcome, verdict.score, verdict.reason
    );
}

fn number(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) => format!("{v:.3e}"),
        Some(v) => format!("{v:.4}"),
    }
}
