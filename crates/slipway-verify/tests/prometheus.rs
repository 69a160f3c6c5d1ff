//! Verification against a real Prometheus scraping real demo services (and, for the
//! deterministic judge test, data loaded with promtool).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_judge::{Classification, Direction};
use slipway_verify::{
    ComparedMetric, ComparisonConfig, Phase, ProviderConfig, Scope, Side, ThresholdMetric,
    Verification, Verifier, VerifyConfig, Window,
};
use support::{Demo, Load, Prometheus, load_openmetrics};
use tokio::sync::watch;

/// The share of `GET /` answered with 5xx by the side's version on the side's targets.
const ERROR_RATIO: &str = r#"sum(rate(demo_requests_total{path="/",code=~"5..",version="{{version}}",instance=~"{{target}}"}[5s])) / sum(rate(demo_requests_total{path="/",version="{{version}}",instance=~"{{target}}"}[5s]))"#;
/// Requests a second per target.
const THROUGHPUT: &str = r#"sum(rate(demo_requests_total{path="/",instance=~"{{target}}"}[5s])) / count(demo_build_info{instance=~"{{target}}"})"#;

fn providers(address: String) -> BTreeMap<String, ProviderConfig> {
    BTreeMap::from([(
        "prometheus".to_owned(),
        ProviderConfig::Prometheus {
            address,
            timeout: Duration::from_secs(5),
        },
    )])
}

fn canary_config(address: String) -> VerifyConfig {
    VerifyConfig {
        providers: providers(address),
        metrics: vec![ThresholdMetric {
            name: "error-rate".to_owned(),
            query: ERROR_RATIO.to_owned(),
            interval: Duration::from_secs(1),
            count: 3,
            success_condition: Some("result[0] <= 0.01".to_owned()),
            failure_condition: Some("result[0] > 0.01".to_owned()),
            ..ThresholdMetric::default()
        }],
        comparison: Some(ComparisonConfig {
            window: Duration::from_secs(8),
            step: Duration::from_secs(1),
            metrics: vec![
                ComparedMetric {
                    name: "error-rate".to_owned(),
                    query: ERROR_RATIO.to_owned(),
                    direction: Direction::Increase,
                    critical: true,
                    ..ComparedMetric::default()
                },
                ComparedMetric {
                    name: "throughput".to_owned(),
                    query: THROUGHPUT.to_owned(),
                    direction: Direction::Decrease,
                    // Only a canary getting half the traffic or less is bad.
                    allowed_decrease: 0.5,
                    ..ComparedMetric::default()
                },
            ],
            ..ComparisonConfig::default()
        }),
    }
}

/// Two baseline targets (v1), one canary (v2, with `canary_flags`), Prometheus scraping them,
/// load on each, and 8 s of samples; then both judges.
async fn canary_verification(canary_flags: &[&str]) -> Verification {
    let dir = support::tsdb_tempdir();
    let baseline = [
        Demo::start(dir.path(), "v1", &[]).await,
        Demo::start(dir.path(), "v1", &[]).await,
    ];
    let canary = Demo::start(dir.path(), "v2", canary_flags).await;
    let all: Vec<&Demo> = baseline.iter().chain([&canary]).collect();
    let instances: Vec<String> = all.iter().map(|d| d.instance()).collect();
    let prometheus = Prometheus::start(dir.path(), &instances).await;
    let load = Load::start(&all.iter().map(|d| d.port).collect::<Vec<_>>());
    prometheus.wait_for_samples(3, 8).await;

    let verifier = Verifier::new(canary_config(prometheus.address())).expect("valid config");
    let scope = Scope {
        canary: Side {
            version: "v2".to_owned(),
            targets: vec![canary.instance()],
        },
        baseline: Side {
            version: "v1".to_owned(),
            targets: baseline.iter().map(Demo::instance).collect(),
        },
    };
    let (_tx, mut cancel) = watch::channel(false);
    let verification = verifier.verify(&scope, &mut cancel).await;
    load.finish().await;
    println!("{verification}");
    verification
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_passes_both_judges() {
    let v = canary_verification(&[]).await;
    assert_eq!(v.phase, Phase::Successful, "{v}");
    let thresholds = v.thresholds.as_ref().expect("thresholds ran");
    assert_eq!(thresholds.phase, Phase::Successful);
    assert_eq!(thresholds.metrics[0].successful, 3);
    let comparison = v.comparison.as_ref().expect("compared");
    assert_eq!(comparison.phase, Phase::Successful, "{}", comparison.reason);
    let verdict = comparison.verdict.as_ref().expect("judged");
    for metric in &verdict.metrics {
        assert_eq!(metric.classification, Classification::Pass, "{metric:?}");
        assert!(
            metric.canary.count >= 5 && metric.baseline.count >= 5,
            "{metric:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_failing_five_percent_fails_each_judge_and_says_why() {
    let v = canary_verification(&["--error-rate", "0.05"]).await;
    assert_eq!(v.phase, Phase::Failed, "{v}");

    let thresholds = v.thresholds.as_ref().expect("thresholds ran");
    assert_eq!(thresholds.phase, Phase::Failed, "{}", thresholds.reason);
    assert!(
        thresholds.reason.contains("metric \"error-rate\""),
        "{}",
        thresholds.reason
    );
    let measurement = &thresholds.metrics[0].measurements[0];
    assert!(
        measurement
            .message
            .contains("failure_condition `result[0] > 0.01` matched"),
        "{}",
        measurement.message
    );

    // The comparison is skipped after a failed analysis; run it alone to see it fail too.
    assert!(v.comparison.is_none());
    assert!(v.reason.contains("comparison was skipped"), "{}", v.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_comparison_alone_fails_a_canary_failing_five_percent() {
    let dir = support::tsdb_tempdir();
    let baseline = Demo::start(dir.path(), "v1", &[]).await;
    let canary = Demo::start(dir.path(), "v2", &["--error-rate", "0.05"]).await;
    let prometheus = Prometheus::start(dir.path(), &[baseline.instance(), canary.instance()]).await;
    let load = Load::start(&[baseline.port, canary.port]);
    prometheus.wait_for_samples(2, 8).await;

    let mut config = canary_config(prometheus.address());
    config.metrics.clear();
    let verifier = Verifier::new(config).expect("valid config");
    let scope = Scope {
        canary: Side {
            version: "v2".to_owned(),
            targets: vec![canary.instance()],
        },
        baseline: Side {
            version: "v1".to_owned(),
            targets: vec![baseline.instance()],
        },
    };
    let (_tx, mut cancel) = watch::channel(false);
    let v = verifier.verify(&scope, &mut cancel).await;
    load.finish().await;
    println!("{v}");
    assert_eq!(v.phase, Phase::Failed, "{v}");
    let comparison = v.comparison.as_ref().expect("compared");
    let verdict = comparison.verdict.as_ref().expect("judged");
    let errors = verdict
        .metrics
        .iter()
        .find(|m| m.name == "error-rate")
        .expect("error-rate judged");
    assert_eq!(errors.classification, Classification::High, "{errors:?}");
    assert!(
        comparison.reason.contains("critical metric \"error-rate\""),
        "{}",
        comparison.reason
    );
    let text = v.to_string();
    assert!(
        text.contains("error-rate") && text.contains("High"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "instance=~\"127\\\\.0\\\\.0\\\\.1:{}\"",
            canary.port
        )),
        "{text}"
    );
}

fn bad_input_config(address: String, query: &str, consecutive_error_limit: u32) -> VerifyConfig {
    VerifyConfig {
        providers: providers(address),
        metrics: vec![ThresholdMetric {
            name: "probe".to_owned(),
            query: query.to_owned(),
            interval: Duration::from_millis(300),
            count: 3,
            consecutive_error_limit,
            success_condition: Some("result[0] <= 0.01".to_owned()),
            failure_condition: Some("result[0] > 0.01".to_owned()),
            ..ThresholdMetric::default()
        }],
        comparison: Some(ComparisonConfig {
            window: Duration::from_secs(4),
            step: Duration::from_secs(1),
            metrics: vec![ComparedMetric {
                name: "probe".to_owned(),
                query: query.to_owned(),
                ..ComparedMetric::default()
            }],
            ..ComparisonConfig::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_have_defined_outcomes() {
    let dir = support::tsdb_tempdir();
    let demo = Demo::start(dir.path(), "v1", &[]).await;
    let prometheus = Prometheus::start(dir.path(), &[demo.instance()]).await;
    let load = Load::start(&[demo.port]);
    prometheus.wait_for_samples(1, 5).await;
    let side = Side {
        version: "v1".to_owned(),
        targets: vec![demo.instance()],
    };
    let scope = Scope {
        canary: side.clone(),
        baseline: side,
    };
    let (_tx, mut cancel) = watch::channel(false);
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let window = Window {
        start_unix_ms: end - 4000,
        end_unix_ms: end,
        step: Duration::from_secs(1),
    };

    // A syntax error: an error measurement each time; limit 1 → Error after two.
    let verifier = Verifier::new(bad_input_config(
        prometheus.address(),
        "sum(rate(demo_requests_total[5s])",
        1,
    ))
    .expect("valid config");
    let run = verifier.thresholds(&scope, &mut cancel).await.expect("ran");
    println!("{}", slipway_verify::render_thresholds(&run));
    assert_eq!(run.phase, Phase::Error, "{}", run.reason);
    assert_eq!(run.metrics[0].measurements.len(), 2);
    assert!(run.reason.contains("parse error"), "{}", run.reason);
    let report = verifier
        .compare(&scope, window, &mut cancel)
        .await
        .expect("ran");
    assert_eq!(report.phase, Phase::Error, "{}", report.reason);
    assert!(
        report.reason.contains("metric \"probe\"") && report.reason.contains("parse error"),
        "{}",
        report.reason
    );

    // No data: an error measurement; the comparison's judge says NodataFailure.
    let verifier = Verifier::new(bad_input_config(
        prometheus.address(),
        r#"demo_requests_total{version="never-deployed"}"#,
        4,
    ))
    .expect("valid config");
    let run = verifier.thresholds(&scope, &mut cancel).await.expect("ran");
    assert_eq!(run.phase, Phase::Error, "{}", run.reason);
    assert!(run.reason.contains("no data"), "{}", run.reason);
    let report = verifier
        .compare(&scope, window, &mut cancel)
        .await
        .expect("ran");
    assert_eq!(report.phase, Phase::Failed, "{}", report.reason);
    let verdict = report.verdict.as_ref().expect("judged");
    assert_eq!(
        verdict.metrics[0].classification,
        Classification::NodataFailure
    );

    // NaN (0 / 0: no 500s at all): inconclusive measurements; the judge drops NaN samples.
    let nan = r#"sum(rate(demo_requests_total{code="500"}[5s])) / sum(rate(demo_requests_total{code="500"}[5s]))"#;
    let verifier = Verifier::new(bad_input_config(prometheus.address(), nan, 4)).expect("valid");
    let run = verifier.thresholds(&scope, &mut cancel).await.expect("ran");
    assert_eq!(run.phase, Phase::Inconclusive, "{}", run.reason);
    assert!(run.reason.contains("NaN"), "{}", run.reason);
    let report = verifier
        .compare(&scope, window, &mut cancel)
        .await
        .expect("ran");
    let verdict = report.verdict.as_ref().expect("judged");
    assert_eq!(
        verdict.metrics[0].classification,
        Classification::NodataFailure
    );
    assert!(
        verdict.metrics[0].canary.not_a_number > 0,
        "{:?}",
        verdict.metrics[0]
    );

    // Prometheus stopped mid-analysis: error measurements naming the address.
    let address = prometheus.address();
    let mut config = bad_input_config(address.clone(), "sum(demo_build_info)", 2);
    config.metrics[0].count = 20;
    config.metrics[0].success_condition = Some("result[0] >= 1".to_owned());
    config.metrics[0].failure_condition = None;
    let verifier = Verifier::new(config).expect("valid");
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        drop(prometheus);
    });
    let v = verifier.verify(&scope, &mut cancel).await;
    stopper.await.expect("stopper");
    load.finish().await;
    println!("{v}");
    assert_eq!(v.phase, Phase::Error, "{v}");
    let metric = &v.thresholds.as_ref().expect("ran").metrics[0];
    assert!(
        metric.successful >= 1,
        "measured before the stop: {metric:?}"
    );
    assert_eq!(metric.consecutive_errors, 3);
    assert!(metric.message.contains(&address), "{}", metric.message);
    assert!(
        metric.message.to_lowercase().contains("refused"),
        "{}",
        metric.message
    );

    // The comparison with Prometheus down: Error, naming the metric and the address.
    let report = verifier
        .compare(&scope, window, &mut cancel)
        .await
        .expect("ran");
    assert_eq!(report.phase, Phase::Error, "{}", report.reason);
    assert!(report.verdict.is_none());
    assert!(
        report.reason.contains("metric \"probe\"") && report.reason.contains(&address),
        "{}",
        report.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_on_data_loaded_with_promtool() {
    let dir = support::tsdb_tempdir();
    // 30 samples 10 s apart, an hour ago: latency 100-106 ms on the baseline, 150-154 ms on the
    // canary; errors the same on both.
    let start = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 3600)
        / 10
        * 10;
    let mut text = String::from("# TYPE verify_latency_seconds gauge\n");
    let mut expected_baseline = Vec::new();
    let mut expected_canary = Vec::new();
    for (role, base, modulo, into) in [
        ("baseline", 0.100, 7, &mut expected_baseline),
        ("canary", 0.150, 5, &mut expected_canary),
    ] {
        for i in 0..30u64 {
            let value = base + 0.001 * (i % modulo) as f64;
            into.push(value);
            text.push_str(&format!(
                "verify_latency_seconds{{role=\"{role}\"}} {value} {}\n",
                start + i * 10
            ));
        }
    }
    text.push_str("# TYPE verify_errors gauge\n");
    for role in ["baseline", "canary"] {
        for i in 0..30u64 {
            text.push_str(&format!(
                "verify_errors{{role=\"{role}\"}} {} {}\n",
                (i % 3) as f64,
                start + i * 10
            ));
        }
    }
    text.push_str("# EOF\n");
    load_openmetrics(dir.path(), &text);
    let prometheus = Prometheus::start(dir.path(), &[]).await;

    let config = VerifyConfig {
        providers: providers(prometheus.address()),
        metrics: Vec::new(),
        comparison: Some(ComparisonConfig {
            window: Duration::from_secs(290),
            step: Duration::from_secs(10),
            metrics: vec![
                ComparedMetric {
                    name: "latency".to_owned(),
                    query: r#"verify_latency_seconds{role="{{role}}"}"#.to_owned(),
                    direction: Direction::Increase,
                    ..ComparedMetric::default()
                },
                ComparedMetric {
                    name: "errors".to_owned(),
                    query: r#"verify_errors{role="{{role}}"}"#.to_owned(),
                    direction: Direction::Increase,
                    ..ComparedMetric::default()
                },
            ],
            ..ComparisonConfig::default()
        }),
    };
    let verifier = Verifier::new(config).expect("valid");
    let window = Window {
        start_unix_ms: start * 1000,
        end_unix_ms: (start + 290) * 1000,
        step: Duration::from_secs(10),
    };
    let (_tx, mut cancel) = watch::channel(false);
    let report = verifier
        .compare(&Scope::default(), window, &mut cancel)
        .await
        .expect("compared");
    println!("{}", slipway_verify::render_comparison(&report));
    let latency = &report.evidence[0];
    assert_eq!(latency.baseline_samples, expected_baseline);
    assert_eq!(latency.canary_samples, expected_canary);
    let verdict = report.verdict.as_ref().expect("judged");
    assert_eq!(verdict.metrics[0].classification, Classification::High);
    let near =
        |value: Option<f64>, expected: f64| value.is_some_and(|v| (v - expected).abs() < 1e-9);
    assert!(
        near(verdict.metrics[0].baseline.median, 0.103),
        "{:?}",
        verdict.metrics[0]
    );
    assert!(
        near(verdict.metrics[0].canary.median, 0.152),
        "{:?}",
        verdict.metrics[0]
    );
    assert_eq!(verdict.metrics[1].classification, Classification::Pass);
    // One failing metric of two, in one group: score 50, below the marginal threshold.
    assert_eq!(verdict.score, 50.0);
    assert_eq!(report.phase, Phase::Failed);
}
