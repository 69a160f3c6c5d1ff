//! slipway-ssh against a real sshd on 127.0.0.1.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{Sshd, process_with};
use slipway_logs::SecretMasker;
use slipway_ssh::{ConnectCause, KnownHosts, RemoteExit, SshError, SshSession, Stream};

async fn connect(sshd: &Sshd) -> SshSession {
    match SshSession::connect(&sshd.target(), &sshd.control_dir()).await {
        Ok(s) => s,
        Err(e) => panic!("connect: {e}"),
    }
}

/// Runs a command and returns its output and the lines the callback saw.
async fn run(
    s: &SshSession,
    cmd: &str,
    env: &[(String, String)],
    timeout: Option<Duration>,
) -> (slipway_ssh::RemoteOutput, Vec<(Stream, String)>) {
    let mut lines = Vec::new();
    let mut on_line =
        |st: Stream, l: &[u8]| lines.push((st, String::from_utf8_lossy(l).into_owned()));
    let out = match s.run(cmd, env, timeout, None, &mut on_line).await {
        Ok(o) => o,
        Err(e) => panic!("run {cmd:?}: {e}"),
    };
    (out, lines)
}

fn connect_error(r: Result<SshSession, SshError>) -> (ConnectCause, String) {
    match r {
        Ok(_) => panic!("connect succeeded but should not"),
        Err(e @ SshError::Connect { cause, .. }) => (cause, e.to_string()),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_commands_with_exit_codes_streams_and_env() {
    let sshd = Sshd::start();
    let mut s = connect(&sshd).await;
    let (out, lines) = run(&s, "echo out1; echo err1 >&2; echo out2; exit 3", &[], None).await;
    assert_eq!(out.exit, RemoteExit::Code(3));
    assert_eq!(out.stdout, b"out1\nout2\n");
    assert_eq!(out.stderr, b"err1\n");
    assert!(lines.contains(&(Stream::Stdout, "out1".into())));
    assert!(lines.contains(&(Stream::Stderr, "err1".into())));
    assert_eq!(
        lines.len(),
        3,
        "the pgid line must not reach the callback: {lines:?}"
    );

    let (out, _) = run(&s, "true", &[], None).await;
    assert!(out.exit.success());

    let hostile = "it's $(id) `id` \"q\" \\ ; rm -rf / # * \n newline";
    let env = vec![
        ("GREETING".to_owned(), hostile.to_owned()),
        ("EMPTY".to_owned(), String::new()),
    ];
    let (out, _) = run(&s, "printf '%s|%s' \"$GREETING\" \"$EMPTY\"", &env, None).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{hostile}|\n")
    );

    // The command itself is one hostile word for the remote shell.
    let (out, _) = run(&s, "printf '%s\\n' 'a'\"'\"'b' \"$((1+2))\"", &[], None).await;
    assert_eq!(out.stdout, b"a'b\n3\n");

    // Secrets are masked before the callback and in the collected output.
    s.set_masker(SecretMasker::new(["hunter2-secret"]));
    let env = vec![("TOKEN".to_owned(), "hunter2-secret".to_owned())];
    let (out, lines) = run(&s, "echo \"token=$TOKEN\"", &env, None).await;
    assert_eq!(out.stdout, b"token=***\n");
    assert!(lines.iter().all(|(_, l)| !l.contains("hunter2")));

    let bad = vec![("A;B".to_owned(), "x".to_owned())];
    let r = s.run("true", &bad, None, None, &mut |_, _| {}).await;
    assert!(matches!(r, Err(SshError::InvalidEnvName { .. })), "{r:?}");
    if let Err(e) = s.close().await {
        panic!("close: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_commands_share_one_master_connection() {
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    assert!(s.control_path().exists(), "control socket missing");
    assert!(s.check().await, "ssh -O check failed");
    assert_eq!(sshd.established_connections(), 1);
    for i in 0..20 {
        let (out, _) = run(&s, &format!("echo {i}"), &[], None).await;
        assert_eq!(out.stdout, format!("{i}\n").as_bytes());
    }
    assert_eq!(
        sshd.established_connections(),
        1,
        "commands opened connections of their own"
    );
    let path = s.control_path().to_owned();
    if let Err(e) = s.close().await {
        panic!("close: {e}");
    }
    let mut gone = false;
    for _ in 0..100 {
        if !path.exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "close left the control socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_preserves_content_and_mode_atomically() {
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let local = sshd.path("tool.sh");
    let body = b"#!/bin/sh\necho uploaded-ok\n".repeat(1000);
    if let Err(e) = std::fs::write(&local, &body) {
        panic!("{e}");
    }
    if let Err(e) = std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o750)) {
        panic!("{e}");
    }
    let remote_dir = format!(
        "/tmp/slipway-ssh-upload-{}-{}",
        std::process::id(),
        sshd.port
    );
    let (out, _) = run(&s, &format!("mkdir -p '{remote_dir}'"), &[], None).await;
    assert!(out.exit.success());
    let dest = format!("{remote_dir}/it's a tool.sh");
    if let Err(e) = s.upload(&local, &dest).await {
        panic!("upload: {e}");
    }
    let got = std::fs::read(&dest).unwrap_or_default();
    assert_eq!(got, body);
    let mode = std::fs::metadata(&dest)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0);
    assert_eq!(mode, 0o750);
    // Uploading again replaces the file; no temporary file is left beside it.
    if let Err(e) = s.upload(&local, &dest).await {
        panic!("second upload: {e}");
    }
    let entries = std::fs::read_dir(&remote_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(entries, 1);
    let (out, _) = run(
        &s,
        &format!("'{remote_dir}/it'\\''s a tool.sh' | head -1"),
        &[],
        None,
    )
    .await;
    assert_eq!(out.stdout, b"uploaded-ok\n");
    // A destination in a missing directory fails with an upload error and leaves nothing.
    let r = s.upload(&local, "/nonexistent-dir/x").await;
    assert!(matches!(r, Err(SshError::Upload { .. })), "{r:?}");
    let _ = std::fs::remove_dir_all(&remote_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_remote_command() {
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let marker = format!(
        "slipway-timeout-marker-{}-{}",
        std::process::id(),
        sshd.port
    );
    let cmd = format!("echo started; sleep 300; echo {marker}");
    let (out, lines) = run(&s, &cmd, &[], Some(Duration::from_millis(1500))).await;
    assert_eq!(out.exit, RemoteExit::TimedOut);
    assert!(
        lines.contains(&(Stream::Stdout, "started".into())),
        "{lines:?}"
    );
    assert!(
        !process_with(&marker),
        "the remote command survived its timeout"
    );
    // The master is still usable afterwards.
    let (out, _) = run(&s, "echo still-here", &[], None).await;
    assert_eq!(out.stdout, b"still-here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_remote_command() {
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let marker = format!("slipway-cancel-marker-{}-{}", std::process::id(), sshd.port);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let cmd = format!("echo started; sleep 300; echo {marker}");
    let mut tx = Some(tx);
    let mut seen_running = false;
    let mut on_line = |_: Stream, l: &[u8]| {
        if l == b"started" {
            seen_running = process_with(&marker);
            if let Some(tx) = tx.take() {
                let _ = tx.send(true);
            }
        }
    };
    let r = s.run(&cmd, &[], None, Some(rx), &mut on_line).await;
    assert!(
        matches!(r, Ok(ref o) if o.exit == RemoteExit::Cancelled),
        "{r:?}"
    );
    assert!(
        seen_running,
        "the marker was not visible while the command ran"
    );
    assert!(
        !process_with(&marker),
        "the remote command survived cancellation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_is_refused_naming_host_and_port() {
    let sshd = Sshd::start();
    let mut target = sshd.target();
    target.port = common::free_port();
    let (cause, msg) = connect_error(SshSession::connect(&target, &sshd.control_dir()).await);
    assert_eq!(cause, ConnectCause::Refused, "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{}", target.port)), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_an_auth_error() {
    let sshd = Sshd::start();
    let mut target = sshd.target();
    target.key_path = sshd.path("other_key");
    let (cause, msg) = connect_error(SshSession::connect(&target, &sshd.control_dir()).await);
    assert_eq!(cause, ConnectCause::AuthFailed, "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_mismatch_is_refused_with_strict_known_hosts() {
    let sshd = Sshd::start();
    let mut target = sshd.target();
    // Record a different key for the server: the one from other_key.pub.
    let other = std::fs::read_to_string(sshd.path("other_key.pub")).unwrap_or_default();
    let kh = sshd.path("wrong_known_hosts");
    if let Err(e) = std::fs::write(&kh, format!("[127.0.0.1]:{} {other}", sshd.port)) {
        panic!("{e}");
    }
    target.known_hosts = KnownHosts::Strict(kh);
    let (cause, msg) = connect_error(SshSession::connect(&target, &sshd.control_dir()).await);
    assert_eq!(cause, ConnectCause::HostKeyMismatch, "{msg}");

    // Strict with an empty file: unknown host, refused too.
    let empty = sshd.path("empty_known_hosts");
    if let Err(e) = std::fs::write(&empty, "") {
        panic!("{e}");
    }
    target.known_hosts = KnownHosts::Strict(empty.clone());
    let (cause, msg) = connect_error(SshSession::connect(&target, &sshd.control_dir()).await);
    assert_eq!(cause, ConnectCause::HostKeyUnknown, "{msg}");

    // AcceptNew records the key on first use, then a second session checks against it.
    target.known_hosts = KnownHosts::AcceptNew(empty.clone());
    let s = connect_target(&target, &sshd).await;
    drop(s);
    let recorded = std::fs::read_to_string(&empty).unwrap_or_default();
    assert!(recorded.contains("ssh-ed25519"), "{recorded}");
    target.known_hosts = KnownHosts::Strict(empty);
    let s = connect_target(&target, &sshd).await;
    assert!(s.check().await);
}

async fn connect_target(target: &slipway_ssh::SshTarget, sshd: &Sshd) -> SshSession {
    match SshSession::connect(target, &sshd.control_dir()).await {
        Ok(s) => s,
        Err(e) => panic!("connect: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_target_fields_are_rejected() {
    let sshd = Sshd::start();
    let mut target = sshd.target();
    target.host = "-oProxyCommand=touch /tmp/x".into();
    let r = SshSession::connect(&target, &sshd.control_dir()).await;
    assert!(matches!(r, Err(SshError::InvalidTarget { .. })), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_master_is_an_error_not_a_second_connection() {
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    // End the master behind the session's back.
    let stopped = std::process::Command::new("ssh")
        .args(["-F", "/dev/null", "-o"])
        .arg(format!("ControlPath={}", s.control_path().display()))
        .args(["-O", "exit", "127.0.0.1"])
        .output();
    assert!(
        matches!(stopped, Ok(ref o) if o.status.success()),
        "{stopped:?}"
    );
    let mut gone = false;
    for _ in 0..100 {
        if sshd.established_connections() == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the master's connection is still open");
    let r = s.run("echo hi", &[], None, None, &mut |_, _| {}).await;
    assert!(matches!(r, Err(SshError::ConnectionLost { .. })), "{r:?}");
    assert_eq!(
        sshd.established_connections(),
        0,
        "run opened a connection of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_killed_by_a_signal_reports_128_plus_the_signal() {
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let (out, _) = run(&s, "kill -9 $$", &[], None).await;
    assert_eq!(out.exit, RemoteExit::Code(128 + 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out_within_the_connect_timeout() {
    let sshd = Sshd::start();
    // Accepts TCP (the kernel's backlog) but never says a word.
    let silent = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let mut target = sshd.target();
    target.port = silent.local_addr().map(|a| a.port()).unwrap_or(0);
    target.connect_timeout = Duration::from_secs(1);
    let (cause, msg) = connect_error(SshSession::connect(&target, &sshd.control_dir()).await);
    assert_eq!(cause, ConnectCause::Timeout, "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{}", target.port)), "{msg}");
}
