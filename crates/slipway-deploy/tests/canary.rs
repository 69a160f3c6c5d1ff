//! Canary deployments of real `slipway-demo` processes behind a real HAProxy, verified against a
//! real Prometheus scraping them: a canary failing 5% of its requests caught by each judge and
//! rolled back with no failure outside its share; a healthy canary moved through 10% → 50% →
//! 100% and promoted with no failed request; approval pauses rejected, missing, approved; an
//! inconclusive verification decided by a person; weights restored after an HAProxy reload.

mod canary_support;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use canary_support::{
    Hit, Prometheus, ScriptedApprover, TimedLog, Traffic, release_with, versions_between, weights,
};
use slipway_deploy::strategy::canary::PauseApprover;
use slipway_deploy::{
    Artifact, DeployError, DeployRequest, Deployer, DeploymentRecord, Outcome, Phase,
};
use slipway_judge::{Classification, Direction};
use slipway_spec::deploy::{BatchSize, Canary, CanaryStep, Group, Rolling, Strategy, TargetCount};
use slipway_verify::{
    ComparedMetric, ComparisonConfig, Phase as Verdict, ProviderConfig, ThresholdMetric,
    VerifyConfig,
};
use support::World;
use tokio::sync::watch;
use tokio::time::Instant;

const THREE: [(&str, Option<Group>); 3] = [("web-1", None), ("web-2", None), ("web-3", None)];

/// The share of `GET /` answered with 5xx by the side's version on the side's targets.
const ERROR_RATIO: &str = r#"sum(rate(demo_requests_total{path="/",code=~"5..",version="{{version}}",instance=~"{{target}}"}[5s])) / sum(rate(demo_requests_total{path="/",version="{{version}}",instance=~"{{target}}"}[5s]))"#;

fn rolling() -> Rolling {
    Rolling {
        batch: BatchSize::Count(1),
        max_unavailable: None,
        max_fail_percentage: 0,
    }
}

/// web-1 is the canary; web-2 and web-3 stay stable until promoted.
fn canary(steps: Vec<CanaryStep>) -> Strategy {
    Strategy::Canary(Canary {
        canary_targets: TargetCount::Count(1),
        steps,
        promote: rolling(),
    })
}

fn prometheus(address: String) -> BTreeMap<String, ProviderConfig> {
    BTreeMap::from([(
        "prometheus".to_owned(),
        ProviderConfig::Prometheus {
            address,
            timeout: Duration::from_secs(5),
        },
    )])
}

/// Threshold analysis only: the canary's error ratio under 1%, three times a second apart.
fn thresholds_only(address: String, count: u32) -> VerifyConfig {
    VerifyConfig {
        providers: prometheus(address),
        metrics: vec![ThresholdMetric {
            name: "error-rate".to_owned(),
            query: ERROR_RATIO.to_owned(),
            interval: Duration::from_secs(1),
            count,
            // The canary's first seconds of traffic, scraped at 1 s, before the first measurement.
            initial_delay: Duration::from_secs(4),
            success_condition: Some("result[0] < 0.01".to_owned()),
            failure_condition: Some("result[0] >= 0.01".to_owned()),
            inconclusive_limit: 2,
            ..ThresholdMetric::default()
        }],
        comparison: None,
    }
}

/// Baseline comparison only: Mann-Whitney over 8 s of error-ratio samples, an increase is bad.
fn comparison_only(address: String) -> VerifyConfig {
    VerifyConfig {
        providers: prometheus(address),
        metrics: Vec::new(),
        comparison: Some(ComparisonConfig {
            window: Duration::from_secs(8),
            step: Duration::from_secs(1),
            // The window then holds only seconds in which the canary had its share.
            delay: Duration::from_secs(10),
            metrics: vec![ComparedMetric {
                name: "error-rate".to_owned(),
                query: ERROR_RATIO.to_owned(),
                direction: Direction::Increase,
                critical: true,
                ..ComparedMetric::default()
            }],
            ..ComparisonConfig::default()
        }),
    }
}

async fn deploy(
    world: &World,
    deployer: &Deployer,
    artifact: &Artifact,
    version: &str,
    strategy: &Strategy,
    approver: Option<PauseApprover>,
    log: &mut TimedLog,
) -> Result<slipway_deploy::DeployReport, DeployError> {
    let (_cancel_tx, cancel) = watch::channel(false);
    deploy_cancellable(
        world, deployer, artifact, version, strategy, approver, log, cancel,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn deploy_cancellable(
    world: &World,
    deployer: &Deployer,
    artifact: &Artifact,
    version: &str,
    strategy: &Strategy,
    approver: Option<PauseApprover>,
    log: &mut TimedLog,
    cancel: watch::Receiver<bool>,
) -> Result<slipway_deploy::DeployReport, DeployError> {
    deployer
        .deploy(
            DeployRequest {
                approver,
                ..DeployRequest::new(
                    &world.env,
                    Path::new("/"),
                    artifact.clone(),
                    strategy,
                    format!("run-{version}"),
                    version.to_owned(),
                )
            },
            log,
            cancel,
        )
        .await
}

fn last_record(deployer: &Deployer) -> DeploymentRecord {
    deployer
        .deployments("staging")
        .expect("records")
        .pop()
        .expect("a record")
}

/// v1 on every target by the rolling path.
async fn v1_everywhere(world: &World, deployer: &Deployer, log: &mut TimedLog) -> Artifact {
    let v1 = world.release("v1");
    deploy(
        world,
        deployer,
        &v1,
        "v1",
        &Strategy::Rolling(rolling()),
        None,
        log,
    )
    .await
    .expect("v1 everywhere");
    v1
}

/// Every server at the same weight, every target on `artifact`, serving.
async fn assert_settled(world: &World, artifact: &Artifact) {
    let weights = weights(world).await;
    assert!(
        weights.values().all(|&w| w == 1),
        "weights not back to the configured ones: {weights:?}"
    );
    assert!(
        world.digests().values().all(|d| d == artifact.digest()),
        "{:?}",
        world.digests()
    );
    let state = world.state();
    for name in world.ports.keys() {
        let target = &state["targets"][name];
        assert_eq!(target["phase"], "serving", "{name}: {target}");
        assert!(target.get("weight").is_none(), "{name}: {target}");
    }
}

/// Every failed request was answered by the bad canary release, which did answer some.
fn assert_failures_only_from(hits: &[Hit], canary_version: &str) {
    assert!(hits.len() >= 100, "only {} requests were sent", hits.len());
    let outside: Vec<&Hit> = hits
        .iter()
        .filter(|h| !h.ok() && h.version.as_deref() != Some(canary_version))
        .collect();
    assert!(
        outside.is_empty(),
        "{} failed request(s) outside the canary's share: {:?}",
        outside.len(),
        &outside[..outside.len().min(10)]
    );
    let from_canary: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.version.as_deref() == Some(canary_version))
        .collect();
    let failed = from_canary.iter().filter(|h| !h.ok()).count();
    println!(
        "{} of {} requests went to the canary, {failed} failed",
        from_canary.len(),
        hits.len()
    );
    assert!(
        failed > 0,
        "the canary answered {} requests and failed none",
        from_canary.len()
    );
    assert!(from_canary.iter().all(|h| h.ok() || h.status == Ok(500)));
}

/// A canary of v2 answering every 20th request with 500, judged by `config` at 10%.
async fn bad_canary_is_rolled_back(
    config: impl FnOnce(String) -> VerifyConfig,
) -> DeploymentRecord {
    let world = World::start(&THREE).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TimedLog::default();
    let v1 = v1_everywhere(&world, &deployer, &mut log).await;
    let prometheus = Prometheus::start(world.dir.path(), &world.ports).await;
    prometheus.wait_for_targets(3).await;

    let bad = release_with(&world, "v2", "--error-every 20");
    let strategy = canary(vec![
        CanaryStep::Weight(10),
        CanaryStep::Verify(Box::new(config(prometheus.address()))),
        CanaryStep::Weight(100),
    ]);
    let traffic = Traffic::start(world.haproxy.frontend, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let result = deploy(&world, &deployer, &bad, "v2", &strategy, None, &mut log).await;
    let done = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = traffic.finish().await;

    assert!(matches!(result, Err(DeployError::Failed(_))), "{result:?}");
    assert_failures_only_from(&hits, "v2");
    let after = versions_between(&hits, done, Instant::now());
    assert_eq!(after.keys().collect::<Vec<_>>(), vec!["v1"], "{after:?}");
    assert!(hits.iter().filter(|h| h.sent >= done).all(Hit::ok));
    assert_settled(&world, &v1).await;
    assert!(log.contains("canary: 10% of requests to web-1 (weights: 2 on each canary server, 9 on each stable server)"));

    let record = last_record(&deployer);
    assert_eq!(record.outcome, Outcome::RolledBack, "{record:?}");
    let message = record.message.clone().unwrap_or_default();
    assert!(
        message.contains("canary step 2 (verify) Failed") && message.contains("error-rate"),
        "{message}"
    );
    assert!(message.contains("web-1 back to v1"), "{message}");
    assert_eq!(record.verifications.len(), 1, "{record:?}");
    let verification = &record.verifications[0];
    assert_eq!(verification.phase, Verdict::Failed, "{verification}");
    assert_eq!(verification.scope.canary.targets, vec!["web-1"]);
    assert_eq!(verification.scope.canary.version, "v2");
    assert_eq!(verification.scope.baseline.targets, vec!["web-2", "web-3"]);
    assert_eq!(verification.scope.baseline.version, "v1");
    let web1 = record
        .targets
        .iter()
        .find(|t| t.target == "web-1")
        .expect("web-1's record");
    assert!(web1.result.contains("rolled back: succeeded"), "{web1:?}");
    assert_eq!(record.targets.len(), 1, "only the canary was touched");
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_threshold_analysis_catches_a_canary_failing_five_percent_and_it_is_rolled_back() {
    let record = bad_canary_is_rolled_back(|address| thresholds_only(address, 3)).await;
    let verification = &record.verifications[0];
    let thresholds = verification.thresholds.as_ref().expect("thresholds ran");
    assert_eq!(thresholds.phase, Verdict::Failed, "{verification}");
    assert_eq!(thresholds.metrics[0].name, "error-rate");
    assert!(thresholds.metrics[0].failed >= 1, "{verification}");
    assert!(verification.comparison.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_comparison_catches_a_canary_failing_five_percent_and_it_is_rolled_back() {
    let record = bad_canary_is_rolled_back(comparison_only).await;
    let verification = &record.verifications[0];
    assert!(verification.thresholds.is_none());
    let comparison = verification.comparison.as_ref().expect("compared");
    assert_eq!(comparison.phase, Verdict::Failed, "{verification}");
    let verdict = comparison.verdict.as_ref().expect("judged");
    let errors = verdict
        .metrics
        .iter()
        .find(|m| m.name == "error-rate")
        .expect("error-rate judged");
    assert_eq!(errors.classification, Classification::High, "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_goes_through_10_50_100_percent_and_is_promoted_without_a_failed_request()
{
    let world = World::start(&THREE).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TimedLog::default();
    v1_everywhere(&world, &deployer, &mut log).await;
    let prometheus = Prometheus::start(world.dir.path(), &world.ports).await;
    prometheus.wait_for_targets(3).await;

    let v2 = world.release("v2");
    let strategy = canary(vec![
        CanaryStep::Weight(10),
        CanaryStep::Verify(Box::new(thresholds_only(prometheus.address(), 2))),
        CanaryStep::Pause(Duration::from_secs(3)),
        CanaryStep::Weight(50),
        CanaryStep::Pause(Duration::from_secs(3)),
        CanaryStep::Weight(100),
        CanaryStep::Pause(Duration::from_secs(2)),
    ]);
    let traffic = Traffic::start(world.haproxy.frontend, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = deploy(&world, &deployer, &v2, "v2", &strategy, None, &mut log)
        .await
        .expect("the canary is promoted");
    let done = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = traffic.finish().await;

    let failed: Vec<&Hit> = hits.iter().filter(|h| !h.ok()).collect();
    assert!(hits.len() >= 100, "only {} requests", hits.len());
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
    // The share of requests v2 answered during each pause, against the weight asked.
    for (pause, percent, tolerance) in [
        ("canary step 3: pause", 10.0, 4.0),
        ("canary step 5: pause", 50.0, 6.0),
        ("canary step 7: pause", 100.0, 0.0),
    ] {
        let (from, to) = log.span(pause);
        let seen = versions_between(
            &hits,
            from + Duration::from_millis(100),
            to - Duration::from_millis(100),
        );
        let total: usize = seen.values().sum();
        let canary = seen.get("v2").copied().unwrap_or(0);
        let share = 100.0 * canary as f64 / total.max(1) as f64;
        println!("{pause}: {seen:?}: {share:.1}% to the canary");
        assert!(total >= 50, "{pause}: only {total} requests");
        assert!(
            (share - percent).abs() <= tolerance,
            "{pause}: {share:.1}% of requests reached the canary, {percent}% was asked: {seen:?}"
        );
    }
    let after = versions_between(&hits, done, Instant::now());
    assert_eq!(after.keys().collect::<Vec<_>>(), vec!["v2"], "{after:?}");
    assert_settled(&world, &v2).await;
    assert!(log.contains("canary: 50% of requests to web-1 (weights: 2 on each canary server, 1 on each stable server)"));

    assert_eq!(report.outcome, Outcome::Succeeded);
    let mut touched: Vec<&str> = report.targets.iter().map(|t| t.target.as_str()).collect();
    touched.sort_unstable();
    assert_eq!(touched, vec!["web-1", "web-2", "web-3"]);
    assert_eq!(report.verifications.len(), 1);
    assert_eq!(report.verifications[0].phase, Verdict::Successful);
    let record = last_record(&deployer);
    assert_eq!(record.verifications, report.verifications);
}

/// Reloads HAProxy (which forgets runtime weights) until every weight is the configured 1.
async fn reload_until_weights_reset(world: &World) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut signalled: Option<Instant> = None;
    loop {
        // A reload signalled right after start is sometimes not acted on: repeat it every 2 s.
        if signalled.is_none_or(|at| at.elapsed() >= Duration::from_secs(2)) {
            world.haproxy.reload();
            signalled = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let client = slipway_lb::HaproxyClient::new(slipway_lb::Endpoint::Unix(
            world.haproxy.admin_sock.clone(),
        ));
        if let Ok(servers) = client.servers("app").await
            && servers.iter().all(|s| s.weight == 1)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "HAProxy did not reload: {}",
            world.haproxy.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pauses_until_approved_abort_when_rejected_or_unanswerable_and_go_on_when_approved() {
    let world = World::start(&THREE).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TimedLog::default();
    let v1 = v1_everywhere(&world, &deployer, &mut log).await;
    let (approver, mut asked, answers) = ScriptedApprover::start();
    let approver = PauseApprover {
        approver,
        job_key: "deploy".to_owned(),
    };
    let v2 = world.release("v2");
    let strategy = canary(vec![
        CanaryStep::Weight(50),
        CanaryStep::PauseUntilApproved,
        CanaryStep::Weight(100),
    ]);

    // Rejected; while it waits, an HAProxy reload loses the weights and reconcile restores them.
    let mut waiting_log = log.clone();
    let (result, ()) = tokio::join!(
        deploy(
            &world,
            &deployer,
            &v2,
            "v2",
            &strategy,
            Some(approver.clone()),
            &mut waiting_log
        ),
        async {
            let question = asked.recv().await.expect("the approver is asked");
            assert_eq!(question.gate, "canary step 2");
            assert_eq!(question.run, "run-v2");
            assert_eq!(question.job_key, "deploy");
            let message = question.message.unwrap_or_default();
            assert!(
                message.contains("web-1 runs v2 with 50% of requests"),
                "{message}"
            );
            let expected = BTreeMap::from([
                ("web-1".to_owned(), 2),
                ("web-2".to_owned(), 1),
                ("web-3".to_owned(), 1),
            ]);
            assert_eq!(weights(&world).await, expected);
            assert_eq!(world.state()["targets"]["web-1"]["weight"], 2);
            reload_until_weights_reset(&world).await;
            deployer
                .reconcile(&world.env, Path::new("/"))
                .await
                .expect("reconcile");
            assert_eq!(
                weights(&world).await,
                expected,
                "reconcile restores the weights"
            );
            answers.send(false).expect("answer");
        }
    );
    assert!(matches!(result, Err(DeployError::Failed(_))), "{result:?}");
    let record = last_record(&deployer);
    assert_eq!(record.outcome, Outcome::RolledBack);
    let message = record.message.clone().unwrap_or_default();
    assert!(
        message.contains(
            "canary step 2 (pause: until-approved): rejected: rejected by carol: not today"
        ),
        "{message}"
    );
    assert_eq!(record.approvals.len(), 1);
    assert!(!record.approvals[0].approved);
    assert_eq!(record.approvals[0].gate, "canary step 2");
    assert_settled(&world, &v1).await;

    // No approver: the pause cannot be answered.
    let result = deploy(&world, &deployer, &v2, "v2", &strategy, None, &mut log).await;
    assert!(matches!(result, Err(DeployError::Failed(_))), "{result:?}");
    let record = last_record(&deployer);
    assert_eq!(record.outcome, Outcome::RolledBack);
    let message = record.message.clone().unwrap_or_default();
    assert!(
        message.contains("canary step 2 (pause: until-approved): no approver"),
        "{message}"
    );
    assert_settled(&world, &v1).await;

    // Approved: on to 100% and promoted.
    answers.send(true).expect("answer");
    let report = deploy(
        &world,
        &deployer,
        &v2,
        "v2",
        &strategy,
        Some(approver.clone()),
        &mut log,
    )
    .await
    .expect("approved and promoted");
    assert_eq!(asked.recv().await.expect("asked").gate, "canary step 2");
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.approvals.len(), 1);
    assert!(report.approvals[0].approved);
    assert_settled(&world, &v2).await;
}

/// A verification neither passing nor failing: a command printing 0.5, with success below 0.1
/// and failure above 0.9.
fn inconclusive() -> VerifyConfig {
    VerifyConfig {
        providers: BTreeMap::from([(
            "coin".to_owned(),
            ProviderConfig::Command {
                timeout: Duration::from_secs(5),
            },
        )]),
        metrics: vec![ThresholdMetric {
            name: "coin".to_owned(),
            query: "echo '[0.5]'".to_owned(),
            count: 1,
            success_condition: Some("result[0] < 0.1".to_owned()),
            failure_condition: Some("result[0] > 0.9".to_owned()),
            ..ThresholdMetric::default()
        }],
        comparison: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inconclusive_verification_is_for_a_person_to_decide_and_aborts_without_one() {
    let world = World::start(&THREE).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TimedLog::default();
    let v1 = v1_everywhere(&world, &deployer, &mut log).await;
    let v2 = world.release("v2");
    let strategy = canary(vec![
        CanaryStep::Weight(20),
        CanaryStep::Verify(Box::new(inconclusive())),
    ]);

    let result = deploy(&world, &deployer, &v2, "v2", &strategy, None, &mut log).await;
    assert!(matches!(result, Err(DeployError::Failed(_))), "{result:?}");
    let record = last_record(&deployer);
    assert_eq!(record.outcome, Outcome::RolledBack);
    let message = record.message.clone().unwrap_or_default();
    assert!(
        message.contains(
            "canary step 2 (verify) Inconclusive, and no approver is configured to decide"
        ),
        "{message}"
    );
    assert_eq!(record.verifications[0].phase, Verdict::Inconclusive);
    assert_settled(&world, &v1).await;

    let (approver, mut asked, answers) = ScriptedApprover::start();
    answers.send(true).expect("answer");
    let approver = PauseApprover {
        approver,
        job_key: "deploy".to_owned(),
    };
    let report = deploy(
        &world,
        &deployer,
        &v2,
        "v2",
        &strategy,
        Some(approver),
        &mut log,
    )
    .await
    .expect("a person let it go on");
    assert_eq!(asked.recv().await.expect("asked").gate, "canary step 2");
    assert_eq!(report.verifications[0].phase, Verdict::Inconclusive);
    assert_eq!(report.approvals.len(), 1);
    assert_settled(&world, &v2).await;
    let topology = deployer
        .topology(&world.env, Path::new("/"))
        .await
        .expect("topology");
    assert!(topology.targets.iter().all(|t| t.phase == Phase::Serving));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_release_goes_everywhere_an_impossible_canary_is_refused_and_a_cancelled_one_rolls_back()
 {
    let world = World::start(&THREE).await;
    let deployer = Deployer::new(&world.state_dir);
    let mut log = TimedLog::default();
    let steps = vec![
        CanaryStep::Weight(50),
        CanaryStep::Pause(Duration::from_secs(60)),
        CanaryStep::Weight(100),
    ];

    // Nothing runs yet: no baseline, so the promote path puts v1 everywhere.
    let v1 = world.release("v1");
    deploy(
        &world,
        &deployer,
        &v1,
        "v1",
        &canary(steps.clone()),
        None,
        &mut log,
    )
    .await
    .expect("the first release");
    assert!(log.contains("no stable target serves a release yet"));
    assert_settled(&world, &v1).await;

    // Every target a canary: refused before anything is touched or recorded.
    let v2 = world.release("v2");
    let all = Strategy::Canary(Canary {
        canary_targets: TargetCount::Count(3),
        steps: steps.clone(),
        promote: rolling(),
    });
    let refused = deploy(&world, &deployer, &v2, "v2", &all, None, &mut log).await;
    match refused {
        Err(DeployError::Config(message)) => assert!(
            message.contains("canary_targets selects 3 of 3 target(s)"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(deployer.deployments("staging").expect("records").len(), 1);

    // Cancelled during a pause: traffic back, the canary back to v1, the outcome `cancelled`.
    let (cancel_tx, cancel) = watch::channel(false);
    let mut waiting_log = log.clone();
    let cancellable = canary(steps);
    let (result, ()) = tokio::join!(
        deploy_cancellable(
            &world,
            &deployer,
            &v2,
            "v2",
            &cancellable,
            None,
            &mut waiting_log,
            cancel
        ),
        async {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !log.contains("canary step 2: pause") {
                assert!(Instant::now() < deadline, "the canary never paused");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            cancel_tx.send(true).expect("cancel");
        }
    );
    assert!(matches!(result, Err(DeployError::Cancelled)), "{result:?}");
    let record = last_record(&deployer);
    assert_eq!(record.outcome, Outcome::Cancelled);
    let message = record.message.clone().unwrap_or_default();
    assert!(
        message.contains("cancelled at canary step 2") && message.contains("web-1 back to v1"),
        "{message}"
    );
    assert_settled(&world, &v1).await;
}
