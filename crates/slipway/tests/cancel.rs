//! Cancelling a run kills every process it started, grandchildren included.

mod common;

use std::time::{Duration, Instant};

use common::Project;

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(marker) {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn sigterm_cancels_the_run_and_leaves_no_orphan() {
    // A number no other process uses, so the check below sees only ours.
    let marker = format!("{}.{}", 300 + std::process::id() % 1000, std::process::id());
    let project = Project::new(&format!(
        r#"
jobs:
  busy:
    steps:
      - run: |
          sleep {marker} &
          sh -c 'sleep {marker} & sleep {marker}' &
          echo started
          wait
  after:
    needs: [busy]
    steps: [{{run: echo never}}]
"#
    ));
    let mut child = project
        .command(&["run"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start slipway");
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with(&marker).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the step's processes never appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) with a valid pid and signal has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "slipway did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(status.code(), Some(1), "a cancelled run exits 1: {stdout}");
    assert!(stdout.contains("was cancelled"), "{stdout}");
    assert!(!stdout.contains("after │ never"), "{stdout}");
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
}
