//! Property tests of the delivery formats: `approval:` jobs, `canary:` strategies and an
//! environment's `requires` / `freeze` never panic on YAML-shaped input built from their own
//! keys, their diagnostics always render, and canary weights are accepted exactly when they
//! are in range and never decrease.

use proptest::prelude::*;

const KEYS: &[&str] = &[
    "approvals",
    "approvers",
    "timeout",
    "on_timeout",
    "self_approval",
    "message",
    "inputs",
    "type",
    "required",
    "default",
    "options",
    "canary",
    "canary_targets",
    "steps",
    "promote",
    "weight",
    "pause",
    "verify",
    "providers",
    "metrics",
    "comparison",
    "prom",
    "address",
    "name",
    "query",
    "count",
    "interval",
    "success_condition",
    "failure_condition",
    "window",
    "step",
    "judge",
    "batch",
    "max_unavailable",
    "cron",
    "duration",
    "from",
    "until",
    "digest",
    "paus",
];

const SCALARS: &[&str] = &[
    "0",
    "1",
    "20",
    "21",
    "100",
    "101",
    "-1",
    "99999999999999999999",
    "1.5",
    "true",
    "no",
    "~",
    "''",
    "30s",
    "200ms",
    "24h",
    "until-approved",
    "\"25%\"",
    "\"100%\"",
    "\"0%\"",
    "reject",
    "approve",
    "alice",
    "role:admin",
    "role:root",
    "\"a b\"",
    "prometheus",
    "http",
    "command",
    "\"http://127.0.0.1:9090\"",
    "up",
    "\"result[0] < 1\"",
    "\"result[0] <\"",
    "\"${{ git.sha }}\"",
    "\"${{ secrets.X }}\"",
    "\"0 18 * * 5\"",
    "\"61 * * * *\"",
    "2026-12-20T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    "staging",
    "prop",
    "choice",
    "[1, 2]",
    "{type: prometheus}",
    "&a x",
    "*a",
    "|",
];

#[derive(Clone, Debug)]
enum Shape {
    Scalar(usize),
    List(Vec<Shape>),
    Map(Vec<(usize, Shape)>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = (0..SCALARS.len()).prop_map(Shape::Scalar);
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Shape::List),
            prop::collection::vec((0..KEYS.len(), inner), 0..6).prop_map(Shape::Map),
        ]
    })
}

fn write(shape: &Shape, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match shape {
        Shape::Scalar(i) => {
            out.push(' ');
            out.push_str(SCALARS[*i]);
            out.push('\n');
        }
        Shape::List(items) if items.is_empty() => out.push_str(" []\n"),
        Shape::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Shape::List(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&pad);
                out.push('-');
                write(item, indent + 2, out);
            }
        }
        Shape::Map(entries) => {
            out.push('\n');
            for (key, value) in entries {
                out.push_str(&pad);
                out.push_str(KEYS[*key]);
                out.push(':');
                write(value, indent + 2, out);
            }
        }
    }
}

fn check_pipeline(source: &str) -> Result<(), TestCaseError> {
    if let Err(diagnostics) = slipway_spec::parse_pipeline(source, "prop.yml") {
        prop_assert!(!diagnostics.is_empty());
        prop_assert!(diagnostics.render(source, false).starts_with("error"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn approval_jobs_never_panic(approval in shape(), extra in shape()) {
        let mut source = String::from("jobs:\n  gate:\n    approval:");
        write(&approval, 6, &mut source);
        source.push_str("  other:\n    needs: [gate]\n    approval:");
        write(&extra, 6, &mut source);
        check_pipeline(&source)?;
    }

    #[test]
    fn canary_strategies_never_panic(canary in shape(), steps in prop::collection::vec(shape(), 0..6)) {
        let mut source = String::from("jobs:\n  ship:\n    deploy:\n      environment: prod\n      image: app\n      strategy:\n        canary:");
        write(&canary, 10, &mut source);
        source.push_str("  listed:\n    deploy:\n      environment: prod\n      image: app\n      strategy:\n        canary:\n          steps:");
        write(&Shape::List(steps), 12, &mut source);
        check_pipeline(&source)?;
    }

    #[test]
    fn environment_policies_never_panic(requires in shape(), freeze in shape()) {
        let mut source = String::from("targets: [{name: a, kind: local, port: 1}]\nrequires:");
        write(&requires, 2, &mut source);
        source.push_str("freeze:");
        write(&freeze, 2, &mut source);
        if let Err(diagnostics) = slipway_spec::parse_environment(&source, "prop.yml", "prop") {
            prop_assert!(!diagnostics.is_empty());
            prop_assert!(diagnostics.render(&source, false).starts_with("error"));
        }
    }

    #[test]
    fn canary_weights_are_accepted_when_in_range_and_never_decreasing(
        weights in prop::collection::vec(-5i64..=110, 1..8),
    ) {
        let steps: Vec<String> = weights.iter().map(|w| format!("{{weight: {w}}}")).collect();
        let source = format!(
            "jobs:\n  ship:\n    deploy: {{environment: prod, image: app, strategy: {{canary: {{steps: [{}]}}}}}}\n",
            steps.join(", ")
        );
        let in_range = weights.iter().all(|w| (0..=100).contains(w));
        let ordered = weights.windows(2).all(|pair| pair[0] <= pair[1]);
        let parsed = slipway_spec::parse_pipeline(&source, "prop.yml");
        prop_assert_eq!(parsed.is_ok(), in_range && ordered, "{}", source);
    }
}
