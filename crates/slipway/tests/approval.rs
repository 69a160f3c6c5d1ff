//! Approval gates in `slipway run`, with the real binary: `--approve all`,
//! no terminal, an answer typed at a terminal (a pseudo-terminal made by
//! util-linux `script`), and what the local records keep.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Project, Run};
use slipway_engine::records::{JobResult, Record};

/// An approval job between two jobs; the later one prints what it saw.
const PIPELINE: &str = r#"
jobs:
  build: {steps: [{run: echo built}]}
  gate:
    needs: [build]
    approval:
      message: "Ship after ${{ needs.build.result }}?"
      inputs:
        ticket: {type: string, default: NONE}
  after:
    needs: [gate]
    if: needs.gate.outputs.approved_by != ''
    env:
      WHO: ${{ needs.gate.outputs.approved_by }}
      WHY: ${{ needs.gate.outputs.comment }}
      TICKET: ${{ needs.gate.outputs.ticket }}
    steps: [{run: 'echo "shipping for $WHO: $WHY ($TICKET)"'}]
"#;

fn records(project: &Project) -> Vec<Record> {
    let path = project.path().join(".slipway/local/runs/1/events.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn run(project: &Project, args: &[&str]) -> Run {
    let output = project
        .command(args)
        .env("USER", "tester")
        .stdin(Stdio::null())
        .output()
        .expect("run slipway");
    Run::from(output)
}

#[test]
fn approve_all_passes_the_gate_and_the_later_job_sees_its_outputs() {
    let project = Project::new(PIPELINE);
    let run = run(&project, &["run", "--approve", "all"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout
            .contains("shipping for tester: --approve all (NONE)"),
        "{}",
        run.stdout
    );
    for wanted in [
        "waiting for 1 approval from anyone with developer or above, timeout 24h, then rejected",
        "message: Ship after success?",
        "approved by tester",
    ] {
        assert!(run.stdout.contains(wanted), "`{wanted}`: {}", run.stdout);
    }

    // The records keep the gate: its step, its end with the outputs.
    let records = records(&project);
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::StepStarted { job: 1, name, .. } if name == "approval")),
        "{records:?}"
    );
    let outputs = records
        .iter()
        .find_map(|r| match r {
            Record::JobFinished {
                job: 1,
                result: JobResult::Success,
                outputs,
                ..
            } => Some(outputs.clone()),
            _ => None,
        })
        .expect("the gate succeeded");
    assert!(
        outputs.contains(&("approved_by".to_string(), "tester".to_string())),
        "{outputs:?}"
    );
    assert!(
        project.stored_logs().contains("approved by tester"),
        "the step's log is stored"
    );
}

#[test]
fn without_a_terminal_the_gate_fails_naming_itself_and_the_later_job_is_skipped() {
    let project = Project::new(PIPELINE);
    let run = run(&project, &["run"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stdout.contains(
            "approval gate gate needs an answer: run in a terminal or pass --approve all"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("skipped: `if: needs.gate.outputs.approved_by != ''` is false"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("shipping for"), "{}", run.stdout);

    let records = records(&project);
    assert!(
        records.iter().any(|r| matches!(
            r,
            Record::JobFinished {
                job: 1,
                result: JobResult::Failure,
                error: Some(error),
                ..
            } if error.contains("needs an answer")
        )),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::JobSkipped { job: 2, .. })),
        "{records:?}"
    );
}

#[test]
fn approve_takes_only_all() {
    let project = Project::new(PIPELINE);
    let run = run(&project, &["run", "--approve", "yes"]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("--approve takes `all`"),
        "{}",
        run.stderr
    );
    assert!(
        !project.path().join(".slipway/local/runs/1").exists(),
        "no run was started"
    );
}

/// Runs `slipway ARGS` on a pseudo-terminal (util-linux `script`), typing
/// `typed`.
fn on_a_terminal(project: &Project, args: &str, typed: &str) -> Run {
    let binary = env!("CARGO_BIN_EXE_slipway");
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &format!("'{binary}' {args}"), "/dev/null"])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .env("USER", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("util-linux `script` is needed for a terminal ({e}); scripts/test installs it")
        });
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(typed.as_bytes()).expect("type");
    }
    Run::from(child.wait_with_output().expect("script"))
}

#[test]
fn at_a_terminal_the_person_is_asked_and_their_answers_are_the_outputs() {
    let project = Project::new(PIPELINE);
    let run = on_a_terminal(&project, "run", "y\nship it\nOPS-1\n");
    assert_eq!(run.code, Some(0), "{}", run.all());
    for wanted in [
        "approval gate gate of run 1: waiting for 1 approval",
        "approve? [y/N]",
        "ticket (text, default NONE):",
        "shipping for tester: ship it (OPS-1)",
    ] {
        assert!(run.stdout.contains(wanted), "`{wanted}`: {}", run.stdout);
    }

    let project = Project::new(PIPELINE);
    let run = on_a_terminal(&project, "run", "n\nnot today\n");
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stdout.contains("rejected by tester: not today"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("shipping for"), "{}", run.stdout);
}
