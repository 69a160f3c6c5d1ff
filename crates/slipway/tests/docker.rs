//! `runs-on: docker` end to end: the example pipeline, and cancel leaving nothing behind.
//! Needs a Docker daemon and busybox-static: `scripts/test` installs and starts them.

mod common;

use std::time::{Duration, Instant};

use common::Project;

#[test]
fn the_docker_example_runs_with_a_service() {
    let project = Project::example("docker");
    let run = project.run(&["run"]);
    assert_eq!(
        run.code,
        Some(0),
        "(scripts/test installs docker.io and starts dockerd)\n{}",
        run.all()
    );
    assert!(
        run.stdout.contains("hello from the web service"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("27 bytes fetched"), "{}", run.stdout);
    assert!(run.stdout.contains("fetch/page  blake3:"), "{}", run.stdout);
}

/// Containers of a process, by its owner label.
fn containers_owned_by(pid: u32) -> Vec<String> {
    let output = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=slipway.managed=true",
            "--format",
            "{{.ID}} {{.Labels}}",
        ])
        .output()
        .expect("docker ps (scripts/test installs docker.io)");
    let marker = format!("slipway.owner={pid}:");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains(&marker))
        .map(str::to_string)
        .collect()
}

#[test]
fn cancelling_a_docker_job_removes_its_containers() {
    let project = Project::example("docker");
    let pipeline = "
jobs:
  image:
    steps: [{run: ./build-image.sh slipway-example/busybox:1}]
  busy:
    needs: [image]
    runs-on: docker
    image: slipway-example/busybox:1
    pull: never
    services:
      db:
        image: slipway-example/busybox:1
        command: exec sleep 600
    steps:
      - run: echo started; sleep 600
";
    project.write("slipway.yml", pipeline);
    let mut child = project
        .command(&["run"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start slipway");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while containers_owned_by(pid).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the job's containers never appeared"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Give the step time to start inside the container.
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) with a valid pid and signal has no memory effects.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "slipway did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("was cancelled"), "{stdout}");
    let left = containers_owned_by(pid);
    assert!(left.is_empty(), "containers outlived the run: {left:?}");
}
