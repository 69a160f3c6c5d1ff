//! Stopping steps: timeouts, cancellation and stray background processes. Each test marks its
//! processes with a `sleep` duration unique to the test and the test process and then looks through /proc for survivors.

mod common;

use std::time::Duration;

use common::{Step, live_processes_with, run, run_with_cancel, workspace};
use slipway_engine::ports::{StepExit, Stream};

/// A `sleep` duration unique to this test and this test process, found again in /proc.
fn marker(seconds: &str) -> String {
    format!("{seconds}.{}", std::process::id())
}

#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let marker = &marker("301");
    let script = format!("sleep {marker} & sleep {marker} & echo started; wait");
    let mut step = Step::new(&script);
    step.timeout = Some(Duration::from_millis(300));
    let out = run(&step).await;
    assert_eq!(out.exit, StepExit::TimedOut);
    assert_eq!(out.sink.of(Stream::Stdout), vec!["started"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
}

#[tokio::test]
async fn cancel_kills_grandchildren_and_double_forked_processes() {
    let marker = &marker("302");
    let script =
        format!("sleep {marker} & sleep {marker} & sh -c 'sleep {marker} &'; echo ready; wait");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ws = workspace(common::config(dir.path())).await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(true);
        tx
    });
    let step = Step::new(&script);
    let out = run_with_cancel(&mut ws, &step, &rx).await;
    assert_eq!(out.exit, StepExit::Cancelled);
    assert_eq!(out.sink.of(Stream::Stdout), vec!["ready"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
    drop(canceller.await);
}

#[tokio::test]
async fn a_step_ignoring_sigterm_is_killed_after_the_grace_period() {
    let marker = &marker("303");
    let script = format!("trap '' TERM; sleep {marker} & sleep {marker}; echo unreachable");
    let mut step = Step::new(&script);
    step.timeout = Some(Duration::from_millis(200));
    let out = run(&step).await;
    assert_eq!(out.exit, StepExit::TimedOut);
    assert!(out.sink.lines.is_empty());
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
}

#[tokio::test]
async fn sigterm_lets_the_step_say_goodbye() {
    let marker = &marker("304");
    let script = format!("trap 'echo cleaning up; exit 9' TERM; sleep {marker} & wait");
    let step = Step {
        timeout: Some(Duration::from_millis(200)),
        ..Step::new(&script)
    };
    let out = run(&step).await;
    assert_eq!(out.exit, StepExit::TimedOut);
    assert_eq!(out.sink.of(Stream::Stdout), vec!["cleaning up"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
}

#[tokio::test]
async fn stray_background_processes_end_with_the_step() {
    let marker = &marker("305");
    // One keeps the pipes open, one does not; neither may outlive the step.
    let script = format!("sleep {marker} & sleep {marker} >/dev/null 2>&1 & echo bye");
    let out = run(&Step::new(&script)).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(out.sink.of(Stream::Stdout), vec!["bye"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
}

#[tokio::test]
async fn a_cancel_before_the_start_stops_at_once() {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let _ = tx.send(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ws = workspace(common::config(dir.path())).await;
    let marker = &marker("306");
    let script = format!("sleep {marker}");
    let out = run_with_cancel(&mut ws, &Step::new(&script), &rx).await;
    assert_eq!(out.exit, StepExit::Cancelled);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
}
