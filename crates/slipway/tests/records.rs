//! The records a run leaves in `.slipway/local/` are complete and replayable.

mod common;

use common::Project;
use slipway_engine::records::{JobResult, Record};
use slipway_engine::scheduler::{Scheduler, SchedulerOptions};

#[test]
fn records_are_ordered_and_replay_to_the_final_state() {
    let yaml = "
jobs:
  build: {steps: [{run: echo build}, {run: echo more}]}
  test: {needs: [build], steps: [{run: 'false'}]}
  deploy: {needs: [test], steps: [{run: echo never}]}
";
    let project = Project::new(yaml);
    let run = project.run(&["run"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    let text = std::fs::read_to_string(project.path().join(".slipway/local/runs/1/events.jsonl"))
        .expect("events");
    let records: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();

    // Each job: started, then its steps, then finished; the run's end is last.
    let position = |wanted: &dyn Fn(&Record) -> bool| records.iter().position(wanted);
    let started =
        position(&|r| matches!(r, Record::JobStarted { job: 0, .. })).expect("build started");
    let step = position(&|r| {
        matches!(
            r,
            Record::StepStarted {
                job: 0,
                step: 1,
                ..
            }
        )
    })
    .expect("step 2 started");
    let finished =
        position(&|r| matches!(r, Record::JobFinished { job: 0, .. })).expect("build finished");
    assert!(started < step && step < finished, "{records:?}");
    assert!(matches!(
        records.last(),
        Some(Record::RunFinished {
            result: JobResult::Failure,
            ..
        })
    ));
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::JobSkipped { job: 2, .. })),
        "{records:?}"
    );

    let pipeline = slipway_spec::parse_pipeline(yaml, "slipway.yml").expect("valid");
    let plan = slipway_engine::Plan::new(&pipeline);
    let options = SchedulerOptions {
        parallelism: 2,
        fail_fast: false,
    };
    let (restored, interrupted) = Scheduler::restore(&plan, &[false; 3], options, &records);
    assert!(interrupted.is_empty());
    assert!(restored.is_over());
    assert_eq!(restored.result(0), Some(JobResult::Success));
    assert_eq!(restored.result(1), Some(JobResult::Failure));
    assert_eq!(restored.result(2), Some(JobResult::Skipped));
}
