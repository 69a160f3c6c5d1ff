//! Running steps as real processes: environment, directories, exit codes, output, the fast path.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Step, config, run, run_in, workspace};
use slipway_engine::ports::{Shell, StepExit, Stream};

#[tokio::test]
async fn step_sees_agent_environment_and_its_own() {
    let mut step = Step::new("echo \"$SLIPWAY_T_A/$SLIPWAY_T_B\"; echo \"$HOME\"");
    step.env = vec![
        ("SLIPWAY_T_A".into(), "first".into()),
        ("SLIPWAY_T_B".into(), "lost".into()),
        ("SLIPWAY_T_B".into(), "second".into()),
    ];
    let out = run(&step).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(
        out.sink.of(Stream::Stdout),
        vec!["first/second", home.as_str()]
    );
}

#[tokio::test]
async fn step_runs_in_its_workdir() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("sub/deeper")).expect("mkdir");
    let mut ws = workspace(config(dir.path())).await;
    let mut step = Step::new("pwd -P");
    step.workdir = Some("sub/./deeper");
    let out = run_in(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    let expected = std::fs::canonicalize(dir.path().join("sub/deeper")).expect("canonical");
    assert_eq!(
        out.sink.of(Stream::Stdout),
        vec![expected.to_string_lossy()]
    );

    let root = run_in(&mut ws, &Step::new("pwd -P")).await;
    let root_expected = std::fs::canonicalize(dir.path()).expect("canonical");
    assert_eq!(
        root.sink.of(Stream::Stdout),
        vec![root_expected.to_string_lossy()]
    );
}

#[tokio::test]
async fn workdir_leaving_the_root_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("inside")).expect("mkdir");
    std::os::unix::fs::symlink("/tmp", dir.path().join("inside/out")).expect("symlink");
    let mut ws = workspace(config(dir.path())).await;
    for workdir in ["..", "inside/../..", "/tmp", "inside/out", "missing"] {
        let mut step = Step::new("true");
        step.workdir = Some(workdir);
        let out = run_in(&mut ws, &step).await;
        assert!(
            matches!(out.exit, StepExit::SpawnFailed(_)),
            "{workdir}: {:?}",
            out.exit
        );
    }
}

#[tokio::test]
async fn exit_codes_are_recorded() {
    assert_eq!(run(&Step::new("exit 0")).await.exit, StepExit::Exited(0));
    assert_eq!(run(&Step::new("exit 3")).await.exit, StepExit::Exited(3));
    assert_eq!(run(&Step::new("false")).await.exit, StepExit::Exited(1));
    // `-e`: the first failing command ends the script.
    let out = run(&Step::new("false\necho after")).await;
    assert_eq!(out.exit, StepExit::Exited(1));
    assert!(out.sink.lines.is_empty());
    let mut sh = Step::new("exit 4");
    sh.shell = Shell::Sh;
    assert_eq!(run(&sh).await.exit, StepExit::Exited(4));
}

#[tokio::test]
async fn a_process_killed_by_a_signal_is_reported() {
    let out = run(&Step::new("kill -USR1 $$")).await;
    assert_eq!(out.exit, StepExit::Signalled(libc::SIGUSR1));
}

#[tokio::test]
async fn missing_shell_is_a_spawn_failure() {
    // The shell is looked up in the PATH the step sees.
    let mut step = Step::new("echo never");
    step.env = vec![("PATH".into(), "/nonexistent".into())];
    let out = run(&step).await;
    assert!(
        matches!(out.exit, StepExit::SpawnFailed(_)),
        "{:?}",
        out.exit
    );
}

#[tokio::test]
async fn an_unusable_variable_is_a_spawn_failure() {
    let mut step = Step::new("true");
    step.env = vec![("BAD\0NAME".into(), "x".into())];
    let out = run(&step).await;
    assert!(
        matches!(out.exit, StepExit::SpawnFailed(_)),
        "{:?}",
        out.exit
    );
}

#[tokio::test]
async fn stdout_and_stderr_lines_keep_their_order_and_stream() {
    let script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf 'no newline'";
    let out = run(&Step::new(script)).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(
        out.sink.of(Stream::Stdout),
        vec!["out1", "out2", "out3", "no newline"]
    );
    assert_eq!(out.sink.of(Stream::Stderr), vec!["err1", "err2", "err3"]);
    assert!(out.sink.flushes > 0);
}

#[tokio::test]
async fn many_lines_arrive_complete() {
    let out = run(&Step::new("seq 1 200000")).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    let lines = out.sink.of(Stream::Stdout);
    assert_eq!(lines.len(), 200_000);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(i, l)| *l == (i + 1).to_string())
    );
}

#[tokio::test]
async fn lines_carry_wall_clock_timestamps() {
    let now = |()| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    let before = now(());
    let out = run(&Step::new("echo a; sleep 0.3; echo b")).await;
    let after = now(());
    let stamps: Vec<u64> = out.sink.lines.iter().map(|(_, ts, _)| *ts).collect();
    assert_eq!(stamps.len(), 2);
    assert!(
        stamps.iter().all(|ts| (before..=after).contains(ts)),
        "{stamps:?}"
    );
    // The second line was written after the sleep.
    assert!(stamps[1] >= stamps[0] + 250, "{stamps:?}");
}

#[tokio::test]
async fn a_secret_split_across_two_writes_is_masked() {
    let mut step = Step::new("printf sec; sleep 0.2; printf 'ret\\n'; echo tail >&2");
    step.secrets = vec!["secret"];
    let out = run(&step).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(out.sink.of(Stream::Stdout), vec!["***"]);
    assert!(out.sink.lines.iter().all(|(_, _, l)| !l.contains("secret")));
}

#[tokio::test]
async fn fast_path_and_shell_give_the_same_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("data.txt"), "x\n").expect("write");
    let script_path = dir.path().join("tool.sh");
    std::fs::write(
        &script_path,
        "#!/bin/sh\necho \"tool $1\"; echo oops >&2; exit 5\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("noshebang"), "echo from-noshebang\n").expect("write");
    for file in [&script_path, &dir.path().join("noshebang")] {
        let mut perms = std::fs::metadata(file).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(file, perms).expect("chmod");
    }
    let scripts = [
        "true",
        "false",
        "echo hello   world",
        "ls data.txt",
        "cat missing-file",
        "test -f data.txt",
        "test -f nope",
        "./tool.sh arg",
        "./noshebang",
        "env-not-a-program-xyz a b",
        "./missing.sh",
        "sh -c exit",
    ];
    let mut fast = workspace(config(dir.path())).await;
    let mut slow = workspace(config(dir.path()).fast_path(false)).await;
    for script in scripts {
        let a = run_in(&mut fast, &Step::new(script)).await;
        let b = run_in(&mut slow, &Step::new(script)).await;
        assert_eq!(a.exit, b.exit, "{script}");
        assert_eq!(
            a.sink.of(Stream::Stdout),
            b.sink.of(Stream::Stdout),
            "{script}"
        );
        assert_eq!(
            a.sink.of(Stream::Stderr),
            b.sink.of(Stream::Stderr),
            "{script}"
        );
    }
}

#[tokio::test]
async fn a_missing_program_is_exit_127_with_a_message() {
    let out = run(&Step::new("no-such-program-slipway")).await;
    assert_eq!(out.exit, StepExit::Exited(127));
    let stderr = out.sink.of(Stream::Stderr).join("\n");
    assert!(
        stderr.contains("no-such-program-slipway: command not found"),
        "{stderr}"
    );
}

#[tokio::test]
async fn fast_path_uses_the_steps_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let tool = bin.join("slipway-test-tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"argv0=$0 args=$*\"\n").expect("write");
    let mut perms = std::fs::metadata(&tool).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&tool, perms).expect("chmod");
    let mut ws = workspace(config(dir.path())).await;
    let mut step = Step::new("slipway-test-tool a=1 b");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    step.env = vec![("PATH".into(), path)];
    let out = run_in(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(out.sink.of(Stream::Stdout).len(), 1);
    assert!(out.sink.of(Stream::Stdout)[0].ends_with("args=a=1 b"));
}

#[tokio::test]
async fn a_long_script_runs_from_a_file() {
    let mut script = String::from("x=0\n");
    for _ in 0..20_000 {
        script.push_str("x=$((x+1))\n");
    }
    script.push_str("echo $x\n");
    let out = run(&Step::new(&script)).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(out.sink.of(Stream::Stdout), vec!["20000"]);
}

#[tokio::test]
async fn stdin_is_empty() {
    let out = run(&Step::new("cat; echo done")).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(out.sink.of(Stream::Stdout), vec!["done"]);
}
