//! Threshold analysis and comparison semantics against a scripted provider, in paused tokio
//! time (the intervals cost nothing and the order of events is fixed).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use slipway_judge::{Classification, Direction, NanStrategy};
use slipway_verify::{
    ComparedMetric, ComparisonConfig, Fetch, FetchError, MetricValue, Phase, ProviderConfig, Query,
    Role, Scope, Side, ThresholdMetric, Verifier, VerifyConfig, Window,
};
use tokio::sync::watch;

/// Answers from a script per query text; the last answer repeats. Records every query sent.
#[derive(Default)]
struct Script {
    answers: Mutex<BTreeMap<String, VecDeque<Result<MetricValue, FetchError>>>>,
    ranges: BTreeMap<String, Result<Vec<f64>, FetchError>>,
    sent: Mutex<Vec<String>>,
}

impl Script {
    fn instant(mut self, query: &str, answers: Vec<Result<MetricValue, FetchError>>) -> Self {
        self.answers
            .get_mut()
            .expect("lock")
            .insert(query.to_owned(), answers.into());
        self
    }

    fn range(mut self, query: &str, answer: Result<Vec<f64>, FetchError>) -> Self {
        self.ranges.insert(query.to_owned(), answer);
        self
    }

    fn sent(&self) -> Vec<String> {
        self.sent.lock().expect("lock").clone()
    }
}

impl Fetch for Script {
    async fn instant(&self, query: &Query) -> Result<MetricValue, FetchError> {
        self.sent.lock().expect("lock").push(query.text.clone());
        let mut answers = self.answers.lock().expect("lock");
        let queue = answers
            .get_mut(&query.text)
            .unwrap_or_else(|| panic!("no script for {:?}", query.text));
        if queue.len() > 1 {
            queue.pop_front().expect("non-empty")
        } else {
            queue.front().cloned().expect("a script has an answer")
        }
    }

    async fn range(&self, query: &Query, _window: &Window) -> Result<Vec<f64>, FetchError> {
        self.sent.lock().expect("lock").push(query.text.clone());
        self.ranges
            .get(&query.text)
            .cloned()
            .unwrap_or_else(|| panic!("no range script for {:?}", query.text))
    }
}

fn vector(values: &[f64]) -> Result<MetricValue, FetchError> {
    Ok(MetricValue::Vector(values.to_vec()))
}

fn providers() -> BTreeMap<String, ProviderConfig> {
    BTreeMap::from([(
        "prom".to_owned(),
        ProviderConfig::Prometheus {
            address: "http://127.0.0.1:9".to_owned(),
            timeout: Duration::from_secs(1),
        },
    )])
}

fn metric(query: &str) -> ThresholdMetric {
    ThresholdMetric {
        name: "errors".to_owned(),
        query: query.to_owned(),
        interval: Duration::from_secs(1),
        count: 3,
        success_condition: Some("result[0] <= 0.01".to_owned()),
        failure_condition: Some("result[0] > 0.05".to_owned()),
        ..ThresholdMetric::default()
    }
}

fn scope() -> Scope {
    Scope {
        canary: Side {
            version: "v2".to_owned(),
            targets: vec!["127.0.0.1:8002".to_owned()],
        },
        baseline: Side {
            version: "v1".to_owned(),
            targets: vec!["127.0.0.1:8001".to_owned()],
        },
    }
}

async fn analyse(
    metrics: Vec<ThresholdMetric>,
    script: Script,
) -> (slipway_verify::Verification, Vec<String>) {
    let config = VerifyConfig {
        providers: providers(),
        metrics,
        comparison: None,
    };
    let verifier = Verifier::with_fetch(config, script).expect("valid config");
    let (_tx, mut cancel) = watch::channel(false);
    let verification = verifier.verify(&scope(), &mut cancel).await;
    println!("{verification}");
    (verification, verifier.fetch().sent())
}

#[tokio::test(start_paused = true)]
async fn all_measurements_pass() {
    let script = Script::default().instant("q", vec![vector(&[0.0])]);
    let (v, _) = analyse(vec![metric("q")], script).await;
    assert_eq!(v.phase, Phase::Successful, "{v}");
    let run = v.thresholds.as_ref().expect("thresholds ran");
    assert_eq!(run.metrics[0].measurements.len(), 3);
    assert!(
        run.metrics[0].measurements.iter().all(
            |m| m.phase == Phase::Successful && m.value == Some(MetricValue::Vector(vec![0.0]))
        )
    );
}

#[tokio::test(start_paused = true)]
async fn failure_wins_when_both_conditions_match() {
    let mut m = metric("q");
    m.success_condition = Some("result[0] >= 0".to_owned());
    m.failure_condition = Some("result[0] > 0.05".to_owned());
    let script = Script::default().instant("q", vec![vector(&[0.2])]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(v.phase, Phase::Failed, "{v}");
    let run = v.thresholds.as_ref().expect("thresholds ran");
    // failure_limit 0: the first failed measurement decides.
    assert_eq!(run.metrics[0].measurements.len(), 1);
    assert!(
        run.metrics[0].measurements[0]
            .message
            .contains("failure_condition `result[0] > 0.05` matched")
    );
    assert!(v.reason.contains("\"errors\""), "{}", v.reason);
}

#[tokio::test(start_paused = true)]
async fn neither_condition_is_inconclusive_within_and_beyond_the_limit() {
    let mut m = metric("q");
    m.inconclusive_limit = 1;
    // 0.03: neither <= 0.01 nor > 0.05.
    let script = Script::default().instant("q", vec![vector(&[0.0]), vector(&[0.03])]);
    let (v, _) = analyse(vec![m.clone()], script).await;
    assert_eq!(v.phase, Phase::Inconclusive, "{v}");
    let metric_run = &v.thresholds.as_ref().expect("ran").metrics[0];
    assert_eq!(
        metric_run
            .measurements
            .iter()
            .map(|m| m.phase)
            .collect::<Vec<_>>(),
        [Phase::Successful, Phase::Inconclusive, Phase::Inconclusive]
    );

    m.inconclusive_limit = 2;
    let script = Script::default().instant("q", vec![vector(&[0.0]), vector(&[0.03])]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(
        v.phase,
        Phase::Successful,
        "two inconclusive are within the limit: {v}"
    );
}

#[tokio::test(start_paused = true)]
async fn one_condition_alone_follows_argo() {
    let mut only_success = metric("q");
    only_success.failure_condition = None;
    let script = Script::default().instant("q", vec![vector(&[0.03])]);
    let (v, _) = analyse(vec![only_success], script).await;
    assert_eq!(
        v.phase,
        Phase::Failed,
        "success condition not met is a failure: {v}"
    );

    let mut only_failure = metric("q");
    only_failure.success_condition = None;
    let script = Script::default().instant("q", vec![vector(&[0.03])]);
    let (v, _) = analyse(vec![only_failure], script).await;
    assert_eq!(
        v.phase,
        Phase::Successful,
        "failure condition not met is a success: {v}"
    );
}

#[tokio::test(start_paused = true)]
async fn failure_limit_tolerates_that_many_failures() {
    let mut m = metric("q");
    m.failure_limit = 1;
    let script = Script::default().instant("q", vec![vector(&[0.2]), vector(&[0.0])]);
    let (v, _) = analyse(vec![m.clone()], script).await;
    assert_eq!(v.phase, Phase::Successful, "{v}");
    let run = &v.thresholds.as_ref().expect("ran").metrics[0];
    assert_eq!((run.failed, run.successful), (1, 2));

    let script =
        Script::default().instant("q", vec![vector(&[0.2]), vector(&[0.0]), vector(&[0.2])]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(v.phase, Phase::Failed, "{v}");
}

#[tokio::test(start_paused = true)]
async fn consecutive_errors_beyond_the_limit_are_an_error() {
    let unreachable = || {
        Err(FetchError::Unreachable {
            address: "http://127.0.0.1:9".to_owned(),
            cause: "connection refused".to_owned(),
        })
    };
    let mut m = metric("q");
    m.count = 10;
    m.consecutive_error_limit = 2;
    // An error, a success (resets the streak), then errors only.
    let script = Script::default().instant("q", vec![unreachable(), vector(&[0.0]), unreachable()]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(v.phase, Phase::Error, "{v}");
    let run = &v.thresholds.as_ref().expect("ran").metrics[0];
    assert_eq!(
        run.measurements.len(),
        5,
        "1 error, 1 success, 3 errors in a row"
    );
    assert_eq!(run.consecutive_errors, 3);
    assert!(
        run.message.contains("http://127.0.0.1:9"),
        "{}",
        run.message
    );
    assert!(
        run.message.contains("connection refused"),
        "{}",
        run.message
    );
}

#[tokio::test(start_paused = true)]
async fn errors_within_the_limit_do_not_pass_a_metric_alone() {
    let mut m = metric("q");
    m.count = 2;
    let script = Script::default().instant("q", vec![Err(FetchError::NoData)]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(v.phase, Phase::Error, "every measurement erred: {v}");
    assert!(v.reason.contains("no data"), "{}", v.reason);
}

#[tokio::test(start_paused = true)]
async fn nan_is_removed_or_replaced() {
    let script = Script::default().instant("q", vec![vector(&[f64::NAN])]);
    let mut m = metric("q");
    m.count = 1;
    let (v, _) = analyse(vec![m.clone()], script).await;
    assert_eq!(
        v.phase,
        Phase::Inconclusive,
        "NaN removed leaves nothing: {v}"
    );
    assert!(v.reason.contains("NaN"), "{}", v.reason);

    m.nan_strategy = NanStrategy::Replace;
    let script = Script::default().instant("q", vec![vector(&[f64::NAN])]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(
        v.phase,
        Phase::Successful,
        "NaN read as 0 passes <= 0.01: {v}"
    );
}

#[tokio::test(start_paused = true)]
async fn indexing_past_the_result_is_an_error_not_a_pass() {
    // GitHub's language reads a missing result[1] as null, which compares as 0.
    let mut m = metric("q");
    m.count = 1;
    m.success_condition = Some("result[1] <= 0.01".to_owned());
    m.failure_condition = None;
    let script = Script::default().instant("q", vec![vector(&[0.5])]);
    let (v, _) = analyse(vec![m.clone()], script).await;
    assert_eq!(v.phase, Phase::Error, "{v}");
    assert!(
        v.reason.contains("result[1] does not exist"),
        "{}",
        v.reason
    );

    m.success_condition = Some("result[0] <= 0.01".to_owned());
    let script = Script::default().instant("q", vec![Ok(MetricValue::Scalar(0.0))]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(v.phase, Phase::Error, "{v}");
    assert!(v.reason.contains("scalar"), "{}", v.reason);
}

#[tokio::test(start_paused = true)]
async fn scalar_conditions_and_templates() {
    let mut m =
        metric(r#"errors{version="{{version}}",role="{{role}}",i=~"{{target}}"}[{{interval}}]"#);
    m.count = 1;
    m.success_condition = Some("result <= 0.01".to_owned());
    m.failure_condition = Some("result > 0.05".to_owned());
    let rendered = r#"errors{version="v2",role="canary",i=~"127\\.0\\.0\\.1:8002"}[1s]"#;
    let script = Script::default().instant(rendered, vec![Ok(MetricValue::Scalar(0.001))]);
    let (v, sent) = analyse(vec![m.clone()], script).await;
    assert_eq!(v.phase, Phase::Successful, "{v}");
    assert_eq!(
        v.thresholds.as_ref().expect("ran").metrics[0].query.text,
        rendered
    );
    assert_eq!(sent, [rendered]);

    m.role = Role::Baseline;
    let rendered = r#"errors{version="v1",role="baseline",i=~"127\\.0\\.0\\.1:8001"}[1s]"#;
    let script = Script::default().instant(rendered, vec![Ok(MetricValue::Scalar(0.001))]);
    let (v, _) = analyse(vec![m], script).await;
    assert_eq!(v.phase, Phase::Successful, "{v}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_metric_stops_the_others_and_the_worst_phase_wins() {
    let mut slow = metric("slow");
    slow.name = "slow".to_owned();
    slow.count = 5;
    slow.interval = Duration::from_secs(10);
    let mut bad = metric("bad");
    bad.name = "bad".to_owned();
    bad.initial_delay = Duration::from_secs(15);
    let script = Script::default()
        .instant("slow", vec![vector(&[0.0])])
        .instant("bad", vec![vector(&[0.5])]);
    let (v, _) = analyse(vec![slow, bad], script).await;
    assert_eq!(v.phase, Phase::Failed, "{v}");
    let run = v.thresholds.as_ref().expect("ran");
    let slow = run.metrics.iter().find(|m| m.name == "slow").expect("slow");
    assert_eq!(
        slow.measurements.len(),
        2,
        "measured at 0 s and 10 s, stopped at 15 s"
    );
    assert_eq!(slow.phase, Phase::Inconclusive);
    assert!(
        slow.message
            .contains("stopped: metric \"bad\" ended Failed"),
        "{}",
        slow.message
    );
    assert!(v.reason.contains("\"bad\""), "{}", v.reason);
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_at_once_and_never_passes() {
    let mut m = metric("q");
    m.count = 100;
    let config = VerifyConfig {
        providers: providers(),
        metrics: vec![m],
        comparison: None,
    };
    let verifier =
        Verifier::with_fetch(config, Script::default().instant("q", vec![vector(&[0.0])]))
            .expect("valid");
    let (tx, mut cancel) = watch::channel(false);
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let _ = tx.send(true);
        tx
    });
    let v = verifier.verify(&scope(), &mut cancel).await;
    let _tx = stopper.await.expect("stopper");
    assert!(v.cancelled);
    assert_eq!(v.phase, Phase::Inconclusive, "{v}");
    let run = &v.thresholds.as_ref().expect("ran").metrics[0];
    assert_eq!(run.measurements.len(), 3, "measured at 0, 1 and 2 s");
    assert!(
        run.message.starts_with("cancelled after 3 of 100"),
        "{}",
        run.message
    );
}

fn comparison(metrics: Vec<ComparedMetric>) -> VerifyConfig {
    VerifyConfig {
        providers: providers(),
        metrics: Vec::new(),
        comparison: Some(ComparisonConfig {
            window: Duration::from_secs(60),
            step: Duration::from_secs(5),
            metrics,
            ..ComparisonConfig::default()
        }),
    }
}

fn compared(name: &str) -> ComparedMetric {
    ComparedMetric {
        name: name.to_owned(),
        query: format!("{name}{{version=\"{{{{version}}}}\"}}"),
        direction: Direction::Increase,
        critical: true,
        ..ComparedMetric::default()
    }
}

async fn compare(config: VerifyConfig, script: Script) -> slipway_verify::Verification {
    let verifier = Verifier::with_fetch(config, script).expect("valid config");
    let (_tx, mut cancel) = watch::channel(false);
    let v = verifier.verify(&scope(), &mut cancel).await;
    println!("{v}");
    v
}

#[tokio::test(start_paused = true)]
async fn comparison_fails_a_higher_canary_and_explains_it() {
    let script = Script::default()
        .range(
            r#"errors{version="v2"}"#,
            Ok(vec![0.05, 0.06, 0.04, 0.05, 0.055, 0.045]),
        )
        .range(
            r#"errors{version="v1"}"#,
            Ok(vec![0.0, 0.001, 0.0, 0.0, 0.002, 0.0]),
        );
    let v = compare(comparison(vec![compared("errors")]), script).await;
    assert_eq!(v.phase, Phase::Failed, "{v}");
    let report = v.comparison.as_ref().expect("compared");
    let verdict = report.verdict.as_ref().expect("judged");
    assert_eq!(verdict.metrics[0].classification, Classification::High);
    assert_eq!(report.evidence[0].canary_samples.len(), 6);
    let text = v.to_string();
    assert!(text.contains("errors") && text.contains("High"), "{text}");
    assert!(
        text.contains(r#"canary query:   errors{version="v2"}"#),
        "{text}"
    );
    // Stored with the release: JSON and back.
    let json = serde_json::to_string(&v).expect("serialises");
    let back: slipway_verify::Verification = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back.phase, Phase::Failed);
}

#[tokio::test(start_paused = true)]
async fn comparison_no_data_is_the_judges_nodata_and_errors_are_errors() {
    let script = Script::default()
        .range(r#"errors{version="v2"}"#, Err(FetchError::NoData))
        .range(r#"errors{version="v1"}"#, Ok(vec![0.0, 0.0, 0.0]));
    let v = compare(comparison(vec![compared("errors")]), script).await;
    assert_eq!(v.phase, Phase::Failed, "{v}");
    let verdict = v
        .comparison
        .as_ref()
        .and_then(|c| c.verdict.as_ref())
        .expect("judged");
    assert_eq!(
        verdict.metrics[0].classification,
        Classification::NodataFailure
    );

    let script = Script::default()
        .range(
            r#"errors{version="v2"}"#,
            Err(FetchError::Query {
                address: "http://127.0.0.1:9".to_owned(),
                kind: "bad_data".to_owned(),
                message: "parse error".to_owned(),
            }),
        )
        .range(r#"errors{version="v1"}"#, Ok(vec![0.0, 0.0, 0.0]));
    let v = compare(comparison(vec![compared("errors")]), script).await;
    assert_eq!(v.phase, Phase::Error, "{v}");
    assert!(v.reason.contains("metric \"errors\""), "{}", v.reason);
    assert!(v.reason.contains("parse error"), "{}", v.reason);
}

#[tokio::test(start_paused = true)]
async fn comparison_is_skipped_when_thresholds_fail() {
    let mut config = comparison(vec![compared("errors")]);
    config.metrics = vec![metric("q")];
    let script = Script::default().instant("q", vec![vector(&[0.9])]);
    let v = compare(config, script).await;
    assert_eq!(v.phase, Phase::Failed);
    assert!(v.comparison.is_none());
    assert!(v.reason.contains("comparison was skipped"), "{}", v.reason);
}

#[test]
fn validation_collects_every_problem() {
    let mut bad = metric("x {{host}}");
    bad.count = 0;
    bad.success_condition = Some("result[0] <".to_owned());
    let mut none = metric("q");
    none.name = "errors".to_owned();
    none.success_condition = None;
    none.failure_condition = None;
    let mut config = comparison(vec![ComparedMetric {
        tolerance: -1.0,
        ..compared("lat")
    }]);
    config.metrics = vec![bad, none];
    config.providers.insert(
        "other".to_owned(),
        ProviderConfig::Prometheus {
            address: "127.0.0.1:9090".to_owned(),
            timeout: Duration::ZERO,
        },
    );
    let errors = config.validate().expect_err("invalid").to_string();
    for expected in [
        "verify.providers.other.address: \"127.0.0.1:9090\" is not an http:// or https:// URL",
        "verify.providers.other.timeout: must be longer than 0",
        "verify.metrics[0] (errors).provider: several providers are configured",
        "verify.metrics[0] (errors).query: unknown variable {{host}}",
        "verify.metrics[0] (errors).count: must be at least 1",
        "verify.metrics[0] (errors).success_condition:",
        "verify.metrics[1] (errors): the name \"errors\" is used twice",
        "verify.metrics[1] (errors): give a success_condition, a failure_condition or both",
        "verify.comparison.metrics[0] (lat).tolerance: must be a number ≥ 0",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in\n{errors}"
        );
    }
    assert!(
        VerifyConfig::default().validate().is_err(),
        "nothing to verify"
    );
}

#[test]
fn configuration_reads_from_json_with_defaults() {
    let config: VerifyConfig = serde_json::from_value(serde_json::json!({
        "providers": {"prom": {"type": "prometheus", "address": "http://127.0.0.1:9090"}},
        "metrics": [{"name": "errors", "query": "q", "interval": "500ms", "count": 2,
                     "failure_condition": "result[0] > 0.01"}],
        "comparison": {"window": "1m", "step": "5s",
                       "metrics": [{"name": "errors", "query": "q", "direction": "increase"}]}
    }))
    .expect("parses");
    config.validate().expect("valid");
    assert_eq!(config.metrics[0].interval, Duration::from_millis(500));
    assert_eq!(config.metrics[0].consecutive_error_limit, 4);
    let comparison = config.comparison.expect("comparison");
    assert_eq!(comparison.judge.confidence_level, 0.98);
    assert_eq!(comparison.metrics[0].tolerance, 0.25);
    let unknown = serde_json::from_value::<VerifyConfig>(serde_json::json!({"metrix": []}));
    assert!(unknown.is_err());
}
