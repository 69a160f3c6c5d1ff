//! Reads `strategy: {canary: …}` of a deploy job into [`Canary`].
//!
//! ```yaml
//! strategy:
//!   canary:
//!     canary_targets: 1            # a count, or a share "1%".."99%" (rounded up); default 1
//!     steps:                       # at least one; each a map with exactly one key
//!       - weight: 10               # 0..=100, never lower than an earlier weight
//!       - pause: 30s               # a duration (`200ms`, `30s`, `5m`, whole seconds) …
//!       - pause: until-approved    # … or a person's approval
//!       - verify:                  # slipway-verify's VerifyConfig, checked now
//!           providers: {prom: {type: prometheus, address: "http://127.0.0.1:9090"}}
//!           metrics:
//!             - {name: errors, query: "…", success_condition: "result[0] < 0.01"}
//!       - weight: 100
//!     promote: {batch: 2}          # the keys of `rolling`; default batch 1
//! ```
//!
//! `verify:` is turned into JSON and deserialized into
//! [`slipway_verify::VerifyConfig`], then [`slipway_verify::VerifyConfig::validate`] runs; a
//! serde error and every validation error are reported at the `verify` key, with the path
//! inside the block in the message. That the environment has a `load_balancer` (weights need
//! one) is checked at deploy time: the environment is another file.

use std::time::Duration;

use crate::check::{Checker, parse_duration_units};
use crate::deploy::{Canary, CanaryStep, Rolling, TargetCount};
use crate::deploy_job::rolling;
use crate::diagnostic::Diagnostic;
use crate::environment::{in_range, positive};
use crate::job::to_json;
use crate::schema::names;
use crate::schema_delivery::{CANARY_KEYS, CANARY_STEP_KEYS};
use crate::yaml::{Key, Node, NodeKind};

const STEPS_HELP: &str = "list the steps, e.g. `steps: [{weight: 10}, {pause: 30s}, {weight: 100}]`; each is `weight: N`, `pause: DURATION`, `pause: until-approved` or `verify: {…}`";

/// Reads `canary:` (`key` is the `canary` key). `None` if anything is invalid.
pub(crate) fn read(c: &mut Checker<'_>, key: &Key, node: &Node) -> Option<Canary> {
    let entries = c.optional_map(node, "`canary`");
    c.check_keys(entries, CANARY_KEYS, "`canary`");
    let mut canary_targets = Some(TargetCount::Count(1));
    let mut steps = None;
    let mut promote = Some(Rolling::default());
    for (k, value) in entries {
        match k.name.as_str() {
            "canary_targets" => canary_targets = target_count(c, value),
            "steps" => steps = Some(self::steps(c, value)),
            "promote" => promote = rolling(c, value, "`promote`"),
            _ => {}
        }
    }
    if steps.is_none() {
        c.push(
            Diagnostic::new(
                key.span,
                key.name.chars().count(),
                "`canary` is missing the required key `steps`",
            )
            .help(STEPS_HELP),
        );
    }
    Some(Canary {
        canary_targets: canary_targets?,
        steps: steps??,
        promote: promote?,
    })
}

/// `canary_targets: 2` or `"25%"`.
fn target_count(c: &mut Checker<'_>, node: &Node) -> Option<TargetCount> {
    match &node.kind {
        NodeKind::Int(_) => positive(c, node, "`canary_targets`").map(TargetCount::Count),
        NodeKind::Str(text) => {
            let percent = text
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<u32>().ok())
                .filter(|n| (1..=99).contains(n));
            if percent.is_none() {
                c.push(
                    Diagnostic::new(node.span, node.width(), format!("invalid `canary_targets` `{text}`"))
                        .help("write a count (`1`) or a share of the targets from 1% to 99% (`\"25%\"`): the other targets keep the stable version as the baseline"),
                );
            }
            percent.map(TargetCount::Percent)
        }
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a count or a percentage for `canary_targets`, found {}",
                        node.describe()
                    ),
                )
                .help("write `canary_targets: 1` or `canary_targets: \"25%\"`"),
            );
            None
        }
    }
}

/// The steps; `None` if any is invalid.
fn steps(c: &mut Checker<'_>, node: &Node) -> Option<Vec<CanaryStep>> {
    let NodeKind::Seq(items) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!(
                    "expected a list of steps for `canary.steps`, found {}",
                    node.describe()
                ),
            )
            .help(STEPS_HELP),
        );
        return None;
    };
    if items.is_empty() {
        c.push(
            Diagnostic::new(node.span, node.width(), "`canary.steps` is empty").help(STEPS_HELP),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    // The highest weight so far, with its step number (1-based), for the order check.
    let mut highest: Option<(u32, usize)> = None;
    for (index, item) in items.iter().enumerate() {
        let number = index + 1;
        let Some((key, step)) = step(c, item, number) else {
            ok = false;
            continue;
        };
        if let CanaryStep::Weight(weight) = step {
            match highest {
                Some((before, at)) if weight < before => {
                    c.push(
                        Diagnostic::new(
                            key.span,
                            key.name.chars().count(),
                            format!(
                                "step {number} lowers the canary's weight to {weight}, after {before} at step {at}"
                            ),
                        )
                        .help("weights must not decrease: the canary's share only grows until it is promoted; a failed verification sends traffic back by itself"),
                    );
                    ok = false;
                }
                _ => highest = Some((weight, number)),
            }
        }
        out.push(step);
    }
    ok.then_some(out)
}

/// One step, with its key (for messages about the step).
fn step<'n>(c: &mut Checker<'_>, node: &'n Node, number: usize) -> Option<(&'n Key, CanaryStep)> {
    let what = format!("canary step {number}");
    let entries = c.map(node, &what)?;
    let [(key, value)] = entries else {
        let keys: Vec<String> = entries
            .iter()
            .map(|(k, _)| format!("`{}`", k.name))
            .collect();
        let found = if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        };
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("{what} must have exactly one of `weight`, `pause`, `verify`; found {found}"),
            )
            .help("write each step as its own list item: `- weight: 10`, `- pause: 30s`, `- verify: {…}`"),
        );
        return None;
    };
    let step = match key.name.as_str() {
        "weight" => in_range(c, value, "`weight`", 0, 100)
            .and_then(|n| u32::try_from(n).ok())
            .map(CanaryStep::Weight),
        "pause" => pause(c, value),
        "verify" => verify(c, key, value).map(|config| CanaryStep::Verify(Box::new(config))),
        _ => {
            c.unknown_key(key, names(CANARY_STEP_KEYS), &what);
            None
        }
    }?;
    Some((key, step))
}

/// `pause: 30s` or `pause: until-approved`.
fn pause(c: &mut Checker<'_>, node: &Node) -> Option<CanaryStep> {
    let parsed = match &node.kind {
        NodeKind::Str(text) if text == "until-approved" => Some(CanaryStep::PauseUntilApproved),
        NodeKind::Str(text) => parse_duration_units(text, true).map(CanaryStep::Pause),
        NodeKind::Int(n) => u64::try_from(*n)
            .ok()
            .map(|s| CanaryStep::Pause(Duration::from_secs(s))),
        _ => None,
    };
    if parsed.is_none() {
        let shown = c.source.raw(node).unwrap_or("this value").to_string();
        c.push(
            Diagnostic::new(node.span, node.width(), format!("invalid `pause` `{shown}`"))
                .help("write a duration (`30s`, `5m`, `1m30s`, `200ms`, or whole seconds) or `until-approved`"),
        );
    }
    parsed
}

/// `verify: {…}` as slipway-verify reads it, then its own validation.
fn verify(c: &mut Checker<'_>, key: &Key, node: &Node) -> Option<slipway_verify::VerifyConfig> {
    let at = |c: &mut Checker<'_>, message: String, help: &str| {
        c.push(Diagnostic::new(key.span, key.name.chars().count(), message).help(help));
    };
    if !matches!(node.kind, NodeKind::Map(_)) {
        at(
            c,
            format!("expected a map for `verify`, found {}", node.describe()),
            "write `verify: {providers: {…}, metrics: […], comparison: {…}}`; see docs/delivery.md",
        );
        return None;
    }
    let config: slipway_verify::VerifyConfig = match serde_json::from_value(to_json(node)) {
        Ok(config) => config,
        Err(error) => {
            let (message, help) = match serde_error_path(node) {
                Some((path, part_error)) => (
                    format!("invalid `verify.{path}`: {part_error}"),
                    format!("fix `verify.{path}`; the verification format is in docs/delivery.md"),
                ),
                None => (
                    format!("invalid `verify`: {error}"),
                    "fix the block; its keys are `providers`, `metrics` and `comparison` (docs/delivery.md)".to_string(),
                ),
            };
            at(c, message, &help);
            return None;
        }
    };
    match config.validate() {
        Ok(()) => Some(config),
        Err(errors) => {
            for error in errors.0 {
                at(
                    c,
                    format!("`verify.{}`: {}", error.at, error.message),
                    "fix the verification block; see docs/delivery.md",
                );
            }
            None
        }
    }
}

/// Where inside `verify:` the block fails to deserialize, found by deserializing its parts one
/// by one (serde_json's errors from a `Value` carry no path): `metrics[1]`,
/// `providers.prom`, `comparison.metrics[0]`, `comparison`, with that part's error. `None`
/// when no single part fails.
fn serde_error_path(node: &Node) -> Option<(String, String)> {
    use slipway_verify::{ComparedMetric, ComparisonConfig, ProviderConfig, ThresholdMetric};
    fn first_error<T: serde::de::DeserializeOwned>(node: &Node) -> Option<String> {
        serde_json::from_value::<T>(to_json(node))
            .err()
            .map(|e| e.to_string())
    }
    fn items<T: serde::de::DeserializeOwned>(node: &Node, path: &str) -> Option<(String, String)> {
        let NodeKind::Seq(items) = &node.kind else {
            return None;
        };
        items.iter().enumerate().find_map(|(index, item)| {
            first_error::<T>(item).map(|e| (format!("{path}[{index}]"), e))
        })
    }
    let NodeKind::Map(entries) = &node.kind else {
        return None;
    };
    entries
        .iter()
        .find_map(|(key, value)| match key.name.as_str() {
            "providers" => match &value.kind {
                NodeKind::Map(providers) => providers.iter().find_map(|(name, provider)| {
                    first_error::<ProviderConfig>(provider)
                        .map(|e| (format!("providers.{}", name.name), e))
                }),
                _ => None,
            },
            "metrics" => items::<ThresholdMetric>(value, "metrics"),
            "comparison" => {
                let in_metrics = match &value.kind {
                    NodeKind::Map(fields) => {
                        fields.iter().filter(|(k, _)| k.name == "metrics").find_map(
                            |(_, metrics)| items::<ComparedMetric>(metrics, "comparison.metrics"),
                        )
                    }
                    _ => None,
                };
                in_metrics.or_else(|| {
                    first_error::<ComparisonConfig>(value).map(|e| ("comparison".to_string(), e))
                })
            }
            _ => None,
        })
}
