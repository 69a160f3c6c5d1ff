//! The scheduler as a pure state machine: no processes, no clock.

use slipway_engine::plan::Plan;
use slipway_engine::records::{JobResult, Record};
use slipway_engine::scheduler::{
    Action, Conditions, Decision, ReadyStatus, Scheduler, SchedulerOptions,
};
use slipway_spec::parse_pipeline;

/// The default rule (run when every need succeeded), except for jobs named
/// in `always`, which run whatever happened.
struct Rules {
    always: Vec<usize>,
}

impl Conditions for Rules {
    fn decide(&self, job: usize, status: ReadyStatus, _: &Scheduler) -> Decision {
        if self.always.contains(&job) || (status.needs_succeeded && !status.cancelled) {
            Decision::Run
        } else {
            Decision::Skip("a need did not succeed".to_string())
        }
    }
}

const DEFAULT: Rules = Rules { always: Vec::new() };

fn plan(yaml: &str) -> Plan {
    let pipeline =
        parse_pipeline(yaml, "slipway.yml").unwrap_or_else(|d| panic!("{}", d.render(yaml, false)));
    Plan::new(&pipeline)
}

fn scheduler(plan: &Plan, parallelism: usize, fail_fast: bool) -> Scheduler {
    Scheduler::new(
        plan,
        &vec![false; plan.jobs.len()],
        SchedulerOptions {
            parallelism,
            fail_fast,
        },
    )
}

fn starts(actions: &[Action]) -> Vec<usize> {
    actions
        .iter()
        .filter_map(|a| {
            if let Action::Start { job } = a {
                Some(*job)
            } else {
                None
            }
        })
        .collect()
}

const CHAIN: &str = "
jobs:
  a: {steps: [{run: 'true'}]}
  b: {needs: [a], steps: [{run: 'true'}]}
  c: {needs: [b], steps: [{run: 'true'}]}
";

#[test]
fn chain_runs_in_order_and_succeeds() {
    let plan = plan(CHAIN);
    let mut s = scheduler(&plan, 4, false);
    assert_eq!(s.start(&DEFAULT), vec![Action::Start { job: 0 }]);
    assert_eq!(
        s.job_finished(0, JobResult::Success, vec![], &DEFAULT),
        vec![Action::Start { job: 1 }]
    );
    assert_eq!(
        s.job_finished(1, JobResult::Success, vec![], &DEFAULT),
        vec![Action::Start { job: 2 }]
    );
    assert_eq!(
        s.job_finished(2, JobResult::Success, vec![], &DEFAULT),
        vec![Action::RunFinished {
            result: JobResult::Success
        }]
    );
    assert!(s.is_over());
}

#[test]
fn parallelism_limits_running_jobs() {
    let plan = plan(
        "
jobs:
  a: {steps: [{run: 'true'}]}
  b: {steps: [{run: 'true'}]}
  c: {steps: [{run: 'true'}]}
  d: {steps: [{run: 'true'}]}
  e: {steps: [{run: 'true'}]}
",
    );
    let mut s = scheduler(&plan, 2, false);
    assert_eq!(starts(&s.start(&DEFAULT)), vec![0, 1]);
    assert_eq!(s.running(), 2);
    assert_eq!(
        starts(&s.job_finished(1, JobResult::Success, vec![], &DEFAULT)),
        vec![2]
    );
    assert_eq!(
        starts(&s.job_finished(0, JobResult::Success, vec![], &DEFAULT)),
        vec![3]
    );
    assert_eq!(
        starts(&s.job_finished(2, JobResult::Success, vec![], &DEFAULT)),
        vec![4]
    );
    assert_eq!(s.running(), 2);
}

#[test]
fn failure_skips_dependents_and_keeps_independent_jobs_going() {
    let plan = plan(
        "
jobs:
  build: {steps: [{run: 'true'}]}
  test: {needs: [build], steps: [{run: 'true'}]}
  deploy: {needs: [test], steps: [{run: 'true'}]}
  lint: {steps: [{run: 'true'}]}
",
    );
    let mut s = scheduler(&plan, 1, false);
    assert_eq!(starts(&s.start(&DEFAULT)), vec![0]);
    let actions = s.job_finished(0, JobResult::Failure, vec![], &DEFAULT);
    assert_eq!(
        actions,
        vec![
            Action::Finish {
                job: 1,
                result: JobResult::Skipped,
                reason: "a need did not succeed".into()
            },
            Action::Finish {
                job: 2,
                result: JobResult::Skipped,
                reason: "a need did not succeed".into()
            },
            Action::Start { job: 3 },
        ]
    );
    assert_eq!(
        s.job_finished(3, JobResult::Success, vec![], &DEFAULT),
        vec![Action::RunFinished {
            result: JobResult::Failure
        }]
    );
}

#[test]
fn fail_fast_cancels_running_and_queued_jobs() {
    let plan = plan(
        "
jobs:
  a: {steps: [{run: 'true'}]}
  b: {steps: [{run: 'true'}]}
  c: {steps: [{run: 'true'}]}
  d: {needs: [c], steps: [{run: 'true'}]}
",
    );
    let mut s = scheduler(&plan, 2, true);
    assert_eq!(starts(&s.start(&DEFAULT)), vec![0, 1]);
    let actions = s.job_finished(0, JobResult::Failure, vec![], &DEFAULT);
    assert_eq!(
        actions,
        vec![
            Action::CancelRunning,
            Action::Finish {
                job: 2,
                result: JobResult::Cancelled,
                reason: "the run was cancelled before the job started".into()
            },
            Action::Finish {
                job: 3,
                result: JobResult::Cancelled,
                reason: "the run was cancelled".into()
            },
        ]
    );
    assert_eq!(
        s.job_finished(1, JobResult::Cancelled, vec![], &DEFAULT),
        vec![Action::RunFinished {
            result: JobResult::Failure
        }]
    );
}

#[test]
fn cancel_stops_everything_and_the_run_ends_cancelled() {
    let plan = plan(CHAIN);
    let mut s = scheduler(&plan, 2, false);
    s.start(&DEFAULT);
    assert_eq!(s.cancel(&DEFAULT), vec![Action::CancelRunning]);
    assert!(
        s.cancel(&DEFAULT).is_empty(),
        "a second cancel does nothing new"
    );
    let actions = s.job_finished(0, JobResult::Cancelled, vec![], &DEFAULT);
    assert_eq!(actions.len(), 3);
    assert_eq!(
        actions[2],
        Action::RunFinished {
            result: JobResult::Cancelled
        }
    );
}

#[test]
fn a_job_that_always_runs_runs_after_a_failure() {
    let plan = plan(
        "
jobs:
  build: {steps: [{run: 'true'}]}
  report: {needs: [build], steps: [{run: 'true'}]}
",
    );
    let rules = Rules { always: vec![1] };
    let mut s = scheduler(&plan, 2, false);
    s.start(&rules);
    assert_eq!(
        s.job_finished(0, JobResult::Failure, vec![], &rules),
        vec![Action::Start { job: 1 }]
    );
}

#[test]
fn continue_on_error_failures_do_not_fail_the_run_or_block_dependents() {
    let plan = plan(CHAIN);
    let mut s = Scheduler::new(
        &plan,
        &[true, false, false],
        SchedulerOptions {
            parallelism: 2,
            fail_fast: true,
        },
    );
    s.start(&DEFAULT);
    assert_eq!(
        s.job_finished(0, JobResult::Failure, vec![], &DEFAULT),
        vec![Action::Start { job: 1 }]
    );
    s.job_finished(1, JobResult::Success, vec![], &DEFAULT);
    assert_eq!(
        s.job_finished(2, JobResult::Success, vec![], &DEFAULT),
        vec![Action::RunFinished {
            result: JobResult::Success
        }]
    );
}

#[test]
fn matrix_instances_are_all_needed() {
    let plan = plan(
        "
jobs:
  test:
    matrix: {os: [linux, mac], v: [1, 2]}
    steps: [{run: 'true'}]
  deploy: {needs: [test], steps: [{run: 'true'}]}
",
    );
    let keys: Vec<&str> = plan.jobs.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "test (linux, 1)",
            "test (linux, 2)",
            "test (mac, 1)",
            "test (mac, 2)",
            "deploy"
        ]
    );
    assert_eq!(plan.jobs[4].needs, vec![0, 1, 2, 3]);
    let mut s = scheduler(&plan, 8, false);
    assert_eq!(starts(&s.start(&DEFAULT)), vec![0, 1, 2, 3]);
    for job in 0..3 {
        assert!(starts(&s.job_finished(job, JobResult::Success, vec![], &DEFAULT)).is_empty());
    }
    assert_eq!(
        starts(&s.job_finished(3, JobResult::Success, vec![], &DEFAULT)),
        vec![4]
    );
}

#[test]
fn selecting_a_job_keeps_what_it_needs() {
    let yaml = "
jobs:
  a: {steps: [{run: 'true'}]}
  b: {needs: [a], steps: [{run: 'true'}]}
  c: {steps: [{run: 'true'}]}
";
    let pipeline =
        parse_pipeline(yaml, "slipway.yml").unwrap_or_else(|d| panic!("{}", d.render(yaml, false)));
    let mut plan = Plan::new(&pipeline);
    assert_eq!(
        plan.select(&pipeline, &["b".to_string(), "nope".to_string()]),
        vec!["nope".to_string()]
    );
    let keys: Vec<&str> = plan.jobs.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(plan.jobs[1].needs, vec![0]);
    assert_eq!(plan.jobs[0].dependents, vec![1]);
}

/// Records of a run replayed into a new scheduler give the same state: the
/// scheduler can resume after a restart.
#[test]
fn restore_from_records_resumes_where_the_run_stood() {
    let plan = plan(CHAIN);
    let mut s = scheduler(&plan, 1, false);
    let mut records = Vec::new();
    let apply = |actions: Vec<Action>, records: &mut Vec<Record>| {
        for action in &actions {
            records.extend(action.record(0));
        }
        actions
    };
    apply(s.start(&DEFAULT), &mut records);
    records.push(Record::JobFinished {
        job: 0,
        result: JobResult::Success,
        at_ms: 0,
        cache: slipway_engine::records::CacheStatus::Uncached,
        outputs: vec![("v".into(), "1".into())],
        error: None,
        artifacts: Vec::new(),
    });
    apply(
        s.job_finished(
            0,
            JobResult::Success,
            vec![("v".into(), "1".into())],
            &DEFAULT,
        ),
        &mut records,
    );

    let (mut restored, interrupted) = Scheduler::restore(
        &plan,
        &[false; 3],
        SchedulerOptions {
            parallelism: 1,
            fail_fast: false,
        },
        &records,
    );
    assert_eq!(
        interrupted,
        vec![1],
        "job b was running when the records end"
    );
    assert_eq!(restored.result(0), Some(JobResult::Success));
    assert_eq!(restored.outputs(0), &[("v".to_string(), "1".to_string())]);
    assert_eq!(
        restored.job_finished(1, JobResult::Success, vec![], &DEFAULT),
        s.job_finished(1, JobResult::Success, vec![], &DEFAULT)
    );
}

/// Skips propagate through a worklist: a 20,000-job chain whose first job
/// fails must not overflow the stack.
#[test]
fn long_chains_of_skips_do_not_recurse() {
    let mut yaml = String::from("jobs:\n  j0: {steps: [{run: 'true'}]}\n");
    for i in 1..5_000 {
        yaml.push_str(&format!(
            "  j{i}: {{needs: [j{}], steps: [{{run: 'true'}}]}}\n",
            i - 1
        ));
    }
    let plan = plan(&yaml);
    let mut s = scheduler(&plan, 2, false);
    s.start(&DEFAULT);
    let actions = s.job_finished(0, JobResult::Failure, vec![], &DEFAULT);
    assert_eq!(actions.len(), 5_000);
    assert_eq!(
        actions.last(),
        Some(&Action::RunFinished {
            result: JobResult::Failure
        })
    );
}
