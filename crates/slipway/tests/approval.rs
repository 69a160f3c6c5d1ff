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
/// `typed`. `exec`, because `script` starts the command through `$SHELL`
/// (dash when unset, as under CI), which would otherwise stay in the
/// terminal's process group, die of a typed Ctrl-C and report 130.
fn on_a_terminal(project: &Project, args: &str, typed: &str) -> Run {
    let binary = env!("CARGO_BIN_EXE_slipway");
    let mut child = std::process::Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            &format!("exec '{binary}' {args}"),
            "/dev/null",
        ])
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

#[test]
fn ctrl_c_at_the_question_cancels_the_gate_and_the_run() {
    let project = Project::new(PIPELINE);
    let binary = env!("CARGO_BIN_EXE_slipway");
    let mut child = std::process::Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            &format!("exec '{binary}' run"),
            "/dev/null",
        ])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .env("USER", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("util-linux `script` is needed for a terminal ({e}); scripts/test installs it")
        });
    let mut stdout = child.stdout.take().expect("stdout");
    let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut buffer) {
                if let Ok(mut shown) = shown.lock() {
                    shown.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }
        })
    };
    // Wait for the question (a bound against hanging, not a timing check).
    let asked = (0..1500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        shown
            .lock()
            .is_ok_and(|shown| shown.contains("approve? [y/N]"))
    });
    let mut stdin = child.stdin.take().expect("stdin");
    if asked {
        // Ctrl-C typed at the terminal: SIGINT to slipway.
        stdin.write_all(b"\x03").expect("type Ctrl-C");
    } else {
        let _ = child.kill();
    }
    // Bounded again: a run that does not stop is killed and fails below.
    let ended = (0..3000).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = child.kill();
    }
    let status = child.wait().expect("script");
    drop(stdin);
    reader.join().expect("reader");
    let shown = shown.lock().expect("shown").clone();
    assert!(asked, "the question was never asked:\n{shown}");
    assert!(ended, "Ctrl-C did not end the run:\n{shown}");
    assert_eq!(status.code(), Some(1), "{shown}");
    assert!(shown.contains("was cancelled"), "{shown}");
    assert!(!shown.contains("shipping for"), "{shown}");
    let records = records(&project);
    assert!(
        records.iter().any(|r| matches!(
            r,
            Record::JobFinished {
                job: 1,
                result: JobResult::Cancelled,
                ..
            }
        )),
        "{records:?}"
    );
}
