//! The Docker executor against the real daemon. Each test labels its objects with a run name
//! unique to the test and the test process, so tests run in parallel, and checks that nothing
//! with that label is left when it is done.

mod docker_support;

use std::time::Duration;

use docker_support::{
    IMAGE, Step, containers_of, executor, live_processes_with, networks_of, prepare,
    release_and_check, request, run, run_name, run_with_cancel,
};
use slipway_engine::ports::{
    Executor, HealthCheck, PullPolicy, ServiceRequest, Shell, StepExit, Stream, Workspace,
    WorkspaceRequest,
};
use slipway_exec::{AnyExecutor, AnyWorkspace, DockerConfig, LocalConfig};

/// A `sleep` duration unique to this test and this test process, found again in /proc.
fn marker(seconds: &str) -> String {
    format!("{seconds}.{}", std::process::id())
}

#[tokio::test]
async fn steps_share_the_workspace_with_the_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("share");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    assert_eq!(
        ws.root(),
        std::fs::canonicalize(dir.path()).expect("canonical")
    );

    let first = run(
        &mut ws,
        &Step::new("mkdir -p out && echo built > out/result.txt"),
    )
    .await;
    assert_eq!(first.exit, StepExit::Exited(0));
    let second = run(&mut ws, &Step::new("cat out/result.txt; ls /")).await;
    assert_eq!(second.exit, StepExit::Exited(0));
    assert_eq!(second.sink.of(Stream::Stdout).first(), Some(&"built"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/result.txt")).expect("visible on the host"),
        "built\n"
    );
    assert_eq!(
        ws.glob(&["out/*.txt".to_owned()]).expect("glob"),
        vec!["out/result.txt"]
    );
    assert_eq!(
        ws.read_file("out/result.txt", 100).expect("read"),
        b"built\n"
    );
    release_and_check(ws, &run_id).await;
    // The user's files stay.
    assert!(dir.path().join("out/result.txt").is_file());
}

#[tokio::test]
async fn env_workdir_outputs_and_exit_codes_reach_the_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("env");
    let mut ws = prepare(&executor, &request(&run_id)).await;

    let output = ws.output_file(0).expect("output file");
    let mut step =
        Step::new("echo \"$GREETING from $(pwd)\"; echo answer=42 >> \"$SLIPWAY_OUTPUT\"");
    step.env = vec![
        ("GREETING".to_owned(), "hello world".to_owned()),
        (
            "SLIPWAY_OUTPUT".to_owned(),
            output.to_string_lossy().into_owned(),
        ),
    ];
    step.workdir = Some("sub");
    let out = run(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    let cwd = std::fs::canonicalize(dir.path().join("sub")).expect("canonical");
    assert_eq!(
        out.sink.of(Stream::Stdout),
        vec![format!("hello world from {}", cwd.display())]
    );
    assert_eq!(ws.read_output_file(0).expect("outputs"), b"answer=42\n");

    let failing = run(&mut ws, &Step::new("echo oops >&2; exit 3")).await;
    assert_eq!(failing.exit, StepExit::Exited(3));
    assert_eq!(failing.sink.of(Stream::Stderr), vec!["oops"]);

    // `-e`: the first failing command ends the script.
    let mut sh = Step::new("false; echo unreachable");
    sh.shell = Shell::Sh;
    let errexit = run(&mut ws, &sh).await;
    assert_eq!(errexit.exit, StepExit::Exited(1));
    assert!(errexit.sink.lines.is_empty());

    let mut escaping = Step::new("true");
    escaping.workdir = Some("../..");
    assert!(matches!(
        run(&mut ws, &escaping).await.exit,
        StepExit::SpawnFailed(_)
    ));
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn a_service_is_reachable_by_name_once_healthy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("service");
    let mut req = request(&run_id);
    if let Some(container) = &mut req.container {
        container.services.push(ServiceRequest {
            name: "web".to_owned(),
            image: IMAGE.to_owned(),
            env: vec![("PAGE".to_owned(), "hello from web".to_owned())],
            command: Some(vec![
                "sh".to_owned(),
                "-c".to_owned(),
                // Starts slowly, so the health check has something to wait for.
                "sleep 1; mkdir -p /www; echo \"$PAGE\" > /www/index.html; exec httpd -f -p 80 -h /www"
                    .to_owned(),
            ]),
            health: Some(HealthCheck {
                cmd: "wget -qO- http://127.0.0.1/".to_owned(),
                interval: Duration::from_millis(200),
                timeout: Duration::from_secs(20),
            }),
        });
    }
    let mut ws = prepare(&executor, &req).await;
    assert!(ws.network().is_some());
    assert_eq!(networks_of(&run_id).len(), 1);
    let out = run(&mut ws, &Step::new("wget -qO- http://web/")).await;
    assert_eq!(out.exit, StepExit::Exited(0), "{:?}", out.sink.lines);
    assert_eq!(out.sink.of(Stream::Stdout), vec!["hello from web"]);
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn a_service_that_never_gets_healthy_fails_the_job_and_is_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("unhealthy");
    let mut req = request(&run_id);
    if let Some(container) = &mut req.container {
        container.services.push(ServiceRequest {
            name: "db".to_owned(),
            image: IMAGE.to_owned(),
            env: Vec::new(),
            command: Some(vec!["sleep".to_owned(), "300".to_owned()]),
            health: Some(HealthCheck {
                cmd: "exit 7".to_owned(),
                interval: Duration::from_millis(200),
                timeout: Duration::from_secs(3),
            }),
        });
    }
    let error = executor.prepare(&req).await.expect_err("must fail");
    assert!(
        error.0.contains("service `db` did not become healthy"),
        "{error}"
    );
    assert!(error.0.contains("exited with 7"), "{error}");
    assert_eq!(containers_of(&run_id), Vec::<String>::new());
    assert_eq!(networks_of(&run_id), Vec::<String>::new());
}

#[tokio::test]
async fn a_step_with_its_own_image_runs_in_its_own_container() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("own-image");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    let job_host = run(&mut ws, &Step::new("cat /etc/hostname")).await;
    let mut step =
        Step::new("cat /etc/hostname; echo \"$WHO\" > from-step.txt; echo err >&2; exit 4");
    step.image = Some(IMAGE);
    step.env = vec![("WHO".to_owned(), "step container".to_owned())];
    let out = run(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::Exited(4));
    assert_eq!(out.sink.of(Stream::Stderr), vec!["err"]);
    let step_host = out.sink.of(Stream::Stdout);
    assert_eq!(step_host.len(), 1);
    assert_ne!(step_host, job_host.sink.of(Stream::Stdout));
    // The file is in the shared workspace; the step's container is gone.
    let read = run(&mut ws, &Step::new("cat from-step.txt")).await;
    assert_eq!(read.sink.of(Stream::Stdout), vec!["step container"]);
    assert_eq!(containers_of(&run_id).len(), 1);
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn cancel_in_the_middle_of_a_step_leaves_nothing_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("cancel");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    let marker = &marker("311");
    let script = format!(
        "sleep {marker} & sleep {marker} & sh -c 'sleep {marker} &'; echo ready; sleep {marker}"
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = tx.send(true);
        tx
    });
    let out = run_with_cancel(&mut ws, &Step::new(&script), &rx).await;
    assert_eq!(out.exit, StepExit::Cancelled);
    assert_eq!(out.sink.of(Stream::Stdout), vec!["ready"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
    drop(canceller.await);
    // The container still serves the next step (the engine decides what follows a cancel).
    let after = run(&mut ws, &Step::new("echo still here")).await;
    assert_eq!(after.exit, StepExit::Exited(0));
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn a_timeout_kills_even_a_step_that_ignores_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("timeout");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    let marker = &marker("312");
    let script =
        format!("trap '' TERM; sleep {marker} & echo started; sleep {marker}; echo unreachable");
    let mut step = Step::new(&script);
    step.timeout = Some(Duration::from_millis(800));
    let out = run(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::TimedOut);
    assert_eq!(out.sink.of(Stream::Stdout), vec!["started"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn a_step_in_its_own_container_times_out_and_is_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("own-timeout");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    let marker = &marker("313");
    let script = format!("sleep {marker} & echo started; sleep {marker}");
    let mut step = Step::new(&script);
    step.image = Some(IMAGE);
    step.timeout = Some(Duration::from_millis(1500));
    let out = run(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::TimedOut);
    assert_eq!(out.sink.of(Stream::Stdout), vec!["started"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
    assert_eq!(containers_of(&run_id).len(), 1);
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn background_processes_end_with_their_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("strays");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    let marker = &marker("314");
    let script = format!("sleep {marker} >/dev/null 2>&1 & echo bye");
    let out = run(&mut ws, &Step::new(&script)).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(out.sink.of(Stream::Stdout), vec!["bye"]);
    assert_eq!(live_processes_with(marker), Vec::<String>::new());
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn a_secret_split_across_two_writes_is_masked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("secret");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    let mut step =
        Step::new("printf 'token: s3cr'; sleep 0.2; printf 'et-value\\n'; echo \"$TOKEN\" >&2");
    step.env = vec![("TOKEN".to_owned(), "s3cret-value".to_owned())];
    step.secrets = vec!["s3cret-value"];
    let out = run(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(out.sink.of(Stream::Stdout), vec!["token: ***"]);
    assert_eq!(out.sink.of(Stream::Stderr), vec!["***"]);
    // Two writes arrived as two chunks, each flushed.
    assert!(out.sink.flushes >= 2);
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn a_missing_image_with_pull_never_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("missing");
    let mut req = request(&run_id);
    let image = format!("slipway-test/absent-{}:1", std::process::id());
    if let Some(container) = &mut req.container {
        container.image = image.clone();
        container.pull = PullPolicy::Never;
    }
    let error = executor.prepare(&req).await.expect_err("must fail");
    assert!(
        error
            .0
            .contains(&format!("image `{image}` is not on the Docker host")),
        "{error}"
    );
    assert!(error.0.contains("pull: never"), "{error}");
    assert_eq!(containers_of(&run_id), Vec::<String>::new());
}

#[tokio::test]
async fn the_sweep_removes_what_dead_owners_left_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("sweep");
    // A job of this (live) process.
    let ws = prepare(&executor, &request(&run_id)).await;
    // What an agent that died left: a container and a network with its owner label.
    let dead_owner = "2147483646:12345";
    let dead_name = format!("slipway-{run_id}-dead");
    let labels = [
        "--label".to_owned(),
        "slipway.managed=true".to_owned(),
        "--label".to_owned(),
        format!("slipway.run={run_id}"),
        "--label".to_owned(),
        format!("slipway.owner={dead_owner}"),
    ];
    let mut create = vec!["create".to_owned(), "--name".to_owned(), dead_name.clone()];
    create.extend(labels.iter().cloned());
    create.extend([IMAGE.to_owned(), "sleep".to_owned(), "300".to_owned()]);
    let status = std::process::Command::new("docker")
        .args(&create)
        .output()
        .expect("docker create");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut network = vec!["network".to_owned(), "create".to_owned()];
    network.extend(labels.iter().cloned());
    network.push(dead_name.clone());
    let status = std::process::Command::new("docker")
        .args(&network)
        .output()
        .expect("docker network create");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let report = executor.sweep().await.expect("sweep");
    assert!(report.containers.contains(&dead_name), "{report:?}");
    assert!(report.networks.contains(&dead_name), "{report:?}");
    // The live job is untouched.
    assert_eq!(containers_of(&run_id).len(), 1);
    assert_eq!(networks_of(&run_id), Vec::<String>::new());
    release_and_check(ws, &run_id).await;
}

#[tokio::test]
async fn any_executor_runs_local_and_docker_jobs() {
    let dir = tempfile::tempdir().expect("temp dir");
    docker_support::ensure_test_image();
    let executor = AnyExecutor::new(
        LocalConfig::in_place(dir.path()),
        DockerConfig::default().grace(Duration::from_millis(500)),
    );
    let run_id = run_name("any");
    let local = executor
        .prepare(&WorkspaceRequest {
            run: run_id.clone(),
            job_key: "local".to_owned(),
            container: None,
        })
        .await
        .expect("local job");
    assert!(matches!(local, AnyWorkspace::Local(_)));
    assert!(
        executor.docker().is_none(),
        "Docker is only connected when a job needs it"
    );
    let mut docker_ws = match executor.prepare(&request(&run_id)).await {
        Ok(ws) => ws,
        Err(e) => panic!("{e}; run scripts/test, which starts dockerd"),
    };
    assert!(matches!(docker_ws, AnyWorkspace::Docker(_)));
    assert!(matches!(executor.sweep_report(), Some(Ok(_))));
    let masker = slipway_engine::ports::SecretMasker::new(Vec::<String>::new());
    let mut sink = docker_support::VecSink::default();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let cmd = slipway_engine::ports::StepCommand {
        script: "echo in a container > where.txt",
        shell: Shell::Sh,
        env: &[],
        workdir: None,
        timeout: None,
        image: None,
    };
    assert_eq!(
        docker_ws.run_step(cmd, &masker, &mut sink, &rx).await,
        StepExit::Exited(0)
    );
    assert_eq!(
        local.read_file("where.txt", 100).expect("shared dir"),
        b"in a container\n"
    );
    docker_ws.release().await;
    local.release().await;
    assert_eq!(containers_of(&run_id), Vec::<String>::new());
}

#[tokio::test]
async fn a_script_too_long_for_the_command_line_runs_from_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = executor(dir.path()).await;
    let run_id = run_name("long");
    let mut ws = prepare(&executor, &request(&run_id)).await;
    let mut script = ": padding\n".repeat(15_000);
    script.push_str("echo \"long script, $#\"\n");
    assert!(script.len() > 128 * 1024);
    for shell in [Shell::Bash, Shell::Sh] {
        let mut step = Step::new(&script);
        step.shell = shell;
        let out = run(&mut ws, &step).await;
        assert_eq!(
            out.exit,
            StepExit::Exited(0),
            "{shell:?}: {:?}",
            out.sink.lines
        );
        assert_eq!(
            out.sink.of(Stream::Stdout),
            vec!["long script, 0"],
            "{shell:?}"
        );
    }
    release_and_check(ws, &run_id).await;
}
