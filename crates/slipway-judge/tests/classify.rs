//! Classification and verdict edge cases, and a property test that any finite
//! samples give an answer without panicking.

use proptest::prelude::*;
use slipway_judge::{
    Classification, Direction, InsufficientData, JudgeConfig, JudgeError, MetricConfig,
    MetricSamples, NanStrategy, Outcome, classify, judge, mann_whitney,
};

const LEVEL: f64 = 0.98;

/// 40 deterministic values spread around `centre`.
fn sample(centre: f64) -> Vec<f64> {
    (0..40)
        .map(|i| centre + ((i * 37) % 40) as f64 * 0.1)
        .collect()
}

fn metric(direction: Direction) -> MetricConfig {
    MetricConfig {
        direction,
        ..MetricConfig::default()
    }
}

#[test]
fn a_clear_increase_is_high_when_increase_is_bad() {
    let result = classify(
        &metric(Direction::Increase),
        &sample(100.0),
        &sample(150.0),
        LEVEL,
    );
    assert_eq!(
        result.classification,
        Classification::High,
        "{}",
        result.reason
    );
    let [low, high] = result.interval.unwrap_or([f64::NAN; 2]);
    assert!(low > 0.0 && low <= high, "{low} {high}");
    assert_eq!((result.baseline.count, result.canary.count), (40, 40));
}

#[test]
fn direction_decides_which_shift_fails() {
    let (baseline, canary) = (sample(100.0), sample(150.0));
    let result = classify(&metric(Direction::Decrease), &baseline, &canary, LEVEL);
    assert_eq!(result.classification, Classification::Pass);
    assert!(
        result.reason.contains("only a decrease is bad"),
        "{}",
        result.reason
    );
    let result = classify(&metric(Direction::Either), &baseline, &canary, LEVEL);
    assert_eq!(result.classification, Classification::High);
    let result = classify(&metric(Direction::Decrease), &canary, &baseline, LEVEL);
    assert_eq!(result.classification, Classification::Low);
}

#[test]
fn no_shift_passes() {
    let baseline = sample(100.0);
    let canary: Vec<f64> = baseline.iter().rev().map(|v| v + 0.01).collect();
    let result = classify(&metric(Direction::Either), &baseline, &canary, LEVEL);
    assert_eq!(
        result.classification,
        Classification::Pass,
        "{}",
        result.reason
    );
    assert!(
        result.reason.starts_with("no significant shift"),
        "{}",
        result.reason
    );
}

#[test]
fn identical_samples_and_all_ties_pass() {
    let result = classify(
        &metric(Direction::Either),
        &sample(5.0),
        &sample(5.0),
        LEVEL,
    );
    assert_eq!(result.classification, Classification::Pass);
    assert!(result.reason.contains("identical"));
    let result = classify(&metric(Direction::Either), &[2.0; 10], &[2.0; 12], LEVEL);
    assert_eq!(result.classification, Classification::Pass);
    assert!(result.reason.contains("every sample"), "{}", result.reason);
}

#[test]
fn two_constant_sides_have_an_exact_shift() {
    let result = classify(&metric(Direction::Increase), &[1.0; 10], &[3.0; 10], LEVEL);
    assert_eq!(result.classification, Classification::High);
    assert_eq!(result.interval, Some([2.0, 2.0]));
    assert_eq!(result.estimate, Some(2.0));
}

#[test]
fn nans_are_removed_or_replaced() {
    let mut canary = sample(100.0);
    canary.extend([f64::NAN, f64::INFINITY]);
    let result = classify(&metric(Direction::Either), &sample(100.0), &canary, LEVEL);
    assert_eq!((result.canary.count, result.canary.not_a_number), (40, 2));
    let config = MetricConfig {
        nan_strategy: NanStrategy::Replace,
        ..MetricConfig::default()
    };
    let result = classify(&config, &sample(100.0), &canary, LEVEL);
    assert_eq!((result.canary.count, result.canary.not_a_number), (42, 2));
    let result = classify(
        &MetricConfig::default(),
        &[f64::NAN; 5],
        &sample(1.0),
        LEVEL,
    );
    assert_eq!(result.classification, Classification::NodataFailure);
    assert_eq!(result.baseline.median, None);
}

#[test]
fn too_few_samples_fail_or_pass_as_configured() {
    let result = classify(
        &MetricConfig::default(),
        &[1.0, 2.0],
        &[5.0, 6.0, 7.0],
        LEVEL,
    );
    assert_eq!(result.classification, Classification::NodataFailure);
    assert!(
        result.reason.contains("too few samples"),
        "{}",
        result.reason
    );
    let config = MetricConfig {
        insufficient_data: InsufficientData::Pass,
        ..MetricConfig::default()
    };
    let result = classify(&config, &[1.0, 2.0], &[5.0, 6.0, 7.0], LEVEL);
    assert_eq!(result.classification, Classification::Pass);
    // Tiny but sufficient samples still get a test.
    let config = MetricConfig {
        min_samples: 1,
        ..MetricConfig::default()
    };
    let result = classify(&config, &[1.0], &[2.0], LEVEL);
    assert!(result.interval.is_some(), "{}", result.reason);
}

#[test]
fn an_allowed_increase_tolerates_a_small_effect() {
    let config = MetricConfig {
        direction: Direction::Increase,
        allowed_increase: 2.0,
        ..MetricConfig::default()
    };
    let result = classify(&config, &sample(100.0), &sample(150.0), LEVEL);
    assert_eq!(result.classification, Classification::Pass);
    assert!(
        result.reason.contains("within the allowed increase"),
        "{}",
        result.reason
    );
}

fn samples(
    name: &str,
    group: &str,
    critical: bool,
    baseline: Vec<f64>,
    canary: Vec<f64>,
) -> MetricSamples {
    let config = MetricConfig {
        name: name.to_owned(),
        group: group.to_owned(),
        critical,
        direction: Direction::Increase,
        ..MetricConfig::default()
    };
    MetricSamples {
        config,
        baseline,
        canary,
    }
}

#[test]
fn group_weights_make_the_score_and_thresholds_the_outcome() {
    let metrics = [
        samples("latency", "speed", false, sample(100.0), sample(150.0)),
        samples("cpu", "speed", false, sample(10.0), sample(10.0)),
        samples("errors", "errors", false, sample(1.0), sample(1.0)),
    ];
    let mut config = JudgeConfig::default();
    let verdict = judge(&config, &metrics).map_err(|e| e.to_string());
    // speed 50 %, errors 100 %, equal weights: 75 → marginal.
    assert!(
        matches!(&verdict, Ok(v) if v.outcome == Outcome::Marginal && (v.score - 75.0).abs() < 1e-9),
        "{verdict:?}"
    );
    config.group_weights.insert("errors".to_owned(), 3.0);
    let verdict = judge(&config, &metrics).map_err(|e| e.to_string());
    assert!(
        matches!(&verdict, Ok(v) if (v.score - 87.5).abs() < 1e-9 && v.outcome == Outcome::Marginal),
        "{verdict:?}"
    );
    config.group_weights.insert("speed".to_owned(), 9.0);
    let verdict = judge(&config, &metrics).map_err(|e| e.to_string());
    assert!(
        matches!(&verdict, Ok(v) if v.outcome == Outcome::Fail),
        "{verdict:?}"
    );
}

#[test]
fn a_failing_critical_metric_fails_everything() {
    let mut metrics: Vec<MetricSamples> = (0..30)
        .map(|i| samples(&format!("m{i}"), "default", false, sample(1.0), sample(1.0)))
        .collect();
    metrics.push(samples(
        "latency",
        "default",
        true,
        sample(100.0),
        sample(150.0),
    ));
    let verdict = judge(&JudgeConfig::default(), &metrics).map_err(|e| e.to_string());
    assert!(
        matches!(&verdict, Ok(v) if v.outcome == Outcome::Fail && v.score > 95.0 && v.reason.contains("critical metric \"latency\"")),
        "{verdict:?}"
    );
}

#[test]
fn bad_configurations_are_refused() {
    assert_eq!(
        judge(&JudgeConfig::default(), &[]),
        Err(JudgeError::NoMetrics)
    );
    let twice = [
        samples("a", "g", false, sample(1.0), sample(1.0)),
        samples("a", "g", false, sample(1.0), sample(1.0)),
    ];
    assert_eq!(
        judge(&JudgeConfig::default(), &twice),
        Err(JudgeError::DuplicateMetric("a".to_owned()))
    );
    let config = JudgeConfig {
        confidence_level: 1.0,
        ..JudgeConfig::default()
    };
    assert_eq!(
        judge(&config, &twice[..1]),
        Err(JudgeError::ConfidenceLevel(1.0))
    );
    let config = JudgeConfig {
        pass_threshold: 50.0,
        ..JudgeConfig::default()
    };
    assert!(matches!(
        judge(&config, &twice[..1]),
        Err(JudgeError::Thresholds { .. })
    ));
}

#[test]
fn a_verdict_serialises_with_its_evidence() {
    let metrics = [samples(
        "latency",
        "default",
        false,
        sample(100.0),
        sample(150.0),
    )];
    let verdict = judge(&JudgeConfig::default(), &metrics).map_err(|e| e.to_string());
    let json = verdict
        .and_then(|v| serde_json::to_string(&v).map_err(|e| e.to_string()))
        .unwrap_or_default();
    for field in [
        "\"outcome\":\"Fail\"",
        "\"classification\":\"High\"",
        "\"interval\":[",
        "\"median\":",
        "\"reason\":",
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
}

proptest! {
    #[test]
    fn finite_samples_never_panic_and_intervals_are_ordered(
        baseline in prop::collection::vec(-1e6f64..1e6, 1..40),
        canary in prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), -1e6f64..1e6], 1..40),
        level in 0.5f64..0.999,
    ) {
        if let Ok(test) = mann_whitney(&canary, &baseline, level) {
            prop_assert!(test.interval[0] <= test.interval[1], "{:?}", test);
        }
        let config = MetricConfig { min_samples: 1, ..MetricConfig::default() };
        let result = classify(&config, &baseline, &canary, level);
        if let Some([low, high]) = result.interval {
            prop_assert!(low <= high);
        }
        prop_assert!(!result.reason.is_empty());
    }
}
