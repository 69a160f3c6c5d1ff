//! The dispatcher with a launcher that runs nothing: jobs "finish" with the
//! outcomes the test scripts, as a remote agent's would arrive. No process,
//! no file: the dispatcher is independent of where jobs run.

use std::sync::{Arc, Mutex};

use slipway_engine::ports::{CancelSignal, RunStore, StoreError};
use slipway_engine::records::{CacheStatus, JobResult, Record, RunMeta, RunSummary};
use slipway_engine::{
    JobOutcome, Launcher, Plan, RunContext, RunOptions, Silent, Start, Upstream, retry_records,
    run_with,
};
use slipway_spec::parse_pipeline;
use tokio::sync::mpsc;

/// Keeps records in memory.
#[derive(Default)]
struct Records(Mutex<Vec<Record>>);

impl RunStore for Records {
    async fn begin_run(&self, _: &RunMeta) -> Result<String, StoreError> {
        Ok("7".to_string())
    }
    async fn record(&self, run: &str, record: &Record) -> Result<(), StoreError> {
        assert_eq!(run, "7");
        self.0
            .lock()
            .map_err(|_| StoreError("poisoned".into()))?
            .push(record.clone());
        Ok(())
    }
    async fn finish_run(&self, _: &str, _: &RunSummary) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Finishes each job at once: `fail` fails, the others succeed; job `a`
/// publishes an output. Remembers what each launch was given.
#[derive(Default)]
struct Scripted {
    launched: Mutex<Vec<(String, Vec<Upstream>)>>,
}

impl Launcher for Scripted {
    fn launch(
        &self,
        run: &Arc<RunContext>,
        job: usize,
        upstream: Vec<Upstream>,
        _: CancelSignal,
        done: mpsc::UnboundedSender<(usize, JobOutcome)>,
    ) {
        let key = run.plan.jobs[job].key.clone();
        let outcome = JobOutcome {
            result: if key == "fail" {
                JobResult::Failure
            } else {
                JobResult::Success
            },
            outputs: if key == "a" {
                vec![("v".into(), "1".into())]
            } else {
                Vec::new()
            },
            cache: CacheStatus::Uncached,
            artifacts: Vec::new(),
            tests: None,
            error: None,
            duration_ms: 1,
            test_cases: Vec::new(),
            release: None,
            approval: None,
        };
        if let Ok(mut launched) = self.launched.lock() {
            launched.push((key, upstream));
        }
        let _ = done.send((job, outcome));
    }
}

#[tokio::test]
async fn jobs_launched_elsewhere_are_scheduled_recorded_and_summarised() {
    let yaml = "
jobs:
  a: {steps: [{run: 'true'}]}
  b:
    needs: [a]
    if: needs.a.outputs.v == '1'
    steps: [{run: 'true'}]
  fail: {steps: [{run: 'true'}]}
  after-fail: {needs: [fail], steps: [{run: 'true'}]}
";
    let pipeline = Arc::new(parse_pipeline(yaml, "slipway.yml").expect("valid"));
    let plan = Plan::new(&pipeline);
    let store = Arc::new(Records::default());
    let launcher = Arc::new(Scripted::default());
    let options = RunOptions {
        file: "slipway.yml".into(),
        parallelism: 1,
        fail_fast: false,
        secrets: Vec::new(),
        inputs: serde_json::Map::new(),
        git: Default::default(),
        restore_artifacts: true,
        deployer: None,
        approver: None,
        freeze_override: None,
        job_groups: Default::default(),
    };
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let summary = run_with(
        store.clone(),
        launcher.clone(),
        Arc::new(Silent),
        pipeline,
        plan,
        options,
        Start::New,
        cancel,
    )
    .await
    .expect("run");

    let results: Vec<(&str, JobResult)> = summary
        .jobs
        .iter()
        .map(|j| (j.key.as_str(), j.result))
        .collect();
    assert_eq!(
        results,
        [
            ("a", JobResult::Success),
            ("b", JobResult::Success),
            ("fail", JobResult::Failure),
            ("after-fail", JobResult::Skipped)
        ]
    );
    assert_eq!(summary.result, JobResult::Failure);

    let launched = launcher.launched.lock().expect("lock");
    let (_, upstream) = launched
        .iter()
        .find(|(key, _)| key == "b")
        .expect("b was launched");
    assert_eq!(upstream.len(), 1);
    assert_eq!(
        upstream[0].outputs,
        vec![("v".to_string(), "1".to_string())]
    );

    let records = store.0.lock().expect("lock");
    let position =
        |wanted: &dyn Fn(&Record) -> bool| records.iter().position(wanted).expect("record present");
    let a_finished = position(&|r| matches!(r, Record::JobFinished { job: 0, .. }));
    let b_started = position(&|r| matches!(r, Record::JobStarted { job: 1, .. }));
    assert!(a_finished < b_started, "{records:?}");
    assert!(matches!(
        records.last(),
        Some(Record::RunFinished {
            result: JobResult::Failure,
            ..
        })
    ));
}

fn options() -> RunOptions {
    RunOptions {
        file: "slipway.yml".into(),
        parallelism: 2,
        fail_fast: false,
        secrets: Vec::new(),
        inputs: serde_json::Map::new(),
        git: Default::default(),
        restore_artifacts: true,
        deployer: None,
        approver: None,
        freeze_override: None,
        job_groups: Default::default(),
    }
}

const FOUR_JOBS: &str = "
jobs:
  a: {steps: [{run: 'true'}]}
  b: {needs: [a], steps: [{run: 'true'}]}
  fail: {steps: [{run: 'true'}]}
  after-fail: {needs: [fail], steps: [{run: 'true'}]}
";

/// A restarted dispatcher resumes from the records: finished jobs keep their
/// results and outputs (and are not launched again), the job that was
/// running when the records end is launched again, and the rest follow.
#[tokio::test]
async fn a_run_resumes_from_its_records() {
    let pipeline = Arc::new(parse_pipeline(FOUR_JOBS, "slipway.yml").expect("valid"));
    let plan = Plan::new(&pipeline);
    // `a` finished with an output; `fail` had started when the process died.
    let records = vec![
        Record::JobStarted { job: 0, at_ms: 1 },
        Record::JobStarted { job: 2, at_ms: 1 },
        Record::JobFinished {
            job: 0,
            result: JobResult::Success,
            at_ms: 5,
            cache: CacheStatus::Uncached,
            outputs: vec![("v".into(), "1".into())],
            error: None,
            artifacts: Vec::new(),
        },
    ];
    let store = Arc::new(Records::default());
    let launcher = Arc::new(Scripted::default());
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let start = Start::Resume {
        run: "7".into(),
        records,
    };
    let summary = run_with(
        store.clone(),
        launcher.clone(),
        Arc::new(Silent),
        pipeline,
        plan,
        options(),
        start,
        cancel,
    )
    .await
    .expect("run");
    let launched: Vec<String> = launcher
        .launched
        .lock()
        .expect("lock")
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        !launched.contains(&"a".to_string()),
        "a finished before the restart: {launched:?}"
    );
    assert!(
        launched.contains(&"fail".to_string()),
        "the interrupted job runs again: {launched:?}"
    );
    let b_upstream = launcher
        .launched
        .lock()
        .expect("lock")
        .iter()
        .find(|(k, _)| k == "b")
        .map(|(_, u)| u.clone());
    assert_eq!(
        b_upstream.expect("b launched")[0].outputs,
        vec![("v".to_string(), "1".to_string())]
    );
    let results: Vec<JobResult> = summary.jobs.iter().map(|j| j.result).collect();
    assert_eq!(
        results,
        [
            JobResult::Success,
            JobResult::Success,
            JobResult::Failure,
            JobResult::Skipped
        ]
    );
}

/// Retrying a failed job keeps the results of the jobs that passed and runs
/// the failed job and what depends on it again.
#[tokio::test]
async fn retry_runs_the_failed_job_and_its_dependents_only() {
    let pipeline = Arc::new(parse_pipeline(FOUR_JOBS, "slipway.yml").expect("valid"));
    let plan = Plan::new(&pipeline);
    let store = Arc::new(Records::default());
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let first = run_with(
        store.clone(),
        Arc::new(Scripted::default()),
        Arc::new(Silent),
        pipeline.clone(),
        plan.clone(),
        options(),
        Start::New,
        cancel.clone(),
    )
    .await
    .expect("first run");
    assert_eq!(first.result, JobResult::Failure);

    let records = store.0.lock().expect("lock").clone();
    let fail = plan
        .jobs
        .iter()
        .position(|j| j.key == "fail")
        .expect("fail job");
    let kept = retry_records(&plan, &records, &[fail]);
    assert!(!kept.iter().any(|r| matches!(r, Record::RunFinished { .. })));
    let launcher = Arc::new(Scripted::default());
    let start = Start::Resume {
        run: "7".into(),
        records: kept,
    };
    let retried = run_with(
        store,
        launcher.clone(),
        Arc::new(Silent),
        pipeline,
        plan,
        options(),
        start,
        cancel,
    )
    .await
    .expect("retry");
    let launched: Vec<String> = launcher
        .launched
        .lock()
        .expect("lock")
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(
        launched,
        ["fail"],
        "only the failed job runs again (its dependent is skipped again)"
    );
    let results: Vec<(&str, JobResult)> = retried
        .jobs
        .iter()
        .map(|j| (j.key.as_str(), j.result))
        .collect();
    assert_eq!(
        results,
        [
            ("a", JobResult::Success),
            ("b", JobResult::Success),
            ("fail", JobResult::Failure),
            ("after-fail", JobResult::Skipped)
        ]
    );
}
