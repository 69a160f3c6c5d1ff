//! `slipway approve` against the real binary: a `slipway server`, a remote
//! `slipway agent` running an `approval:` job, and votes from the command
//! line (refusals printed with the server's reason and a non-zero exit).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Long enough for a debug build on a loaded 2-core machine; a test waits
/// this long only when something is wrong.
const PATIENCE: Duration = Duration::from_secs(120);

const PIPELINE: &str = "\
on: { manual: {} }
jobs:
  build:
    steps:
      - run: echo built
  sign-off:
    needs: [build]
    approval:
      self_approval: false
      inputs:
        ticket: { type: string, required: true }
  after:
    needs: [sign-off]
    steps:
      - run: echo shipped ${{ needs.sign-off.outputs.ticket }}
";

fn slipway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    for name in [
        "SLIPWAY_SERVER",
        "SLIPWAY_TOKEN",
        "SLIPWAY_HOME",
        "SLIPWAY_LISTEN",
        "SLIPWAY_DATABASE",
    ] {
        command.env_remove(name);
    }
    command.env("NO_COLOR", "1");
    command
}

/// A `slipway server|agent` process, killed when dropped. Its output is
/// drained so that it never blocks on a full pipe.
struct Daemon(Child);

impl Daemon {
    fn spawn(mut command: Command) -> Daemon {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start slipway");
        let streams = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            std::thread::spawn(
                move || for _ in BufReader::new(stream).lines().map_while(Result::ok) {},
            );
        }
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Ran {
    fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Ran {
    #[track_caller]
    fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// One HTTP/1.1 request to 127.0.0.1 (the test needs a few API calls the
/// command line does not make: users, roles, the gate's state).
fn http(port: u16, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@localhost"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn approve_votes_from_the_command_line_and_prints_refusals() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = slipway();
    server
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path());
    let _server = Daemon::spawn(server);
    let token_file = data.path().join("admin-token");
    let deadline = Instant::now() + PATIENCE;
    let admin = loop {
        if let Ok(token) = std::fs::read_to_string(&token_file)
            && TcpStream::connect(("127.0.0.1", port)).is_ok()
            && !token.trim().is_empty()
        {
            break token.trim().to_string();
        }
        assert!(Instant::now() < deadline, "the server never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let url = format!("http://127.0.0.1:{port}");
    let cli = |token: &str, args: &[&str]| -> Ran {
        let mut command = slipway();
        command
            .args(args)
            .env("SLIPWAY_SERVER", &url)
            .env("SLIPWAY_TOKEN", token);
        Ran::from(command.output().expect("run slipway"))
    };

    let repo = tempfile::tempdir().expect("temp dir");
    std::fs::write(repo.path().join("slipway.yml"), PIPELINE).expect("write");
    git(repo.path(), &["init", "--quiet", "--initial-branch=main"]);
    git(repo.path(), &["add", "--all"]);
    git(repo.path(), &["commit", "--quiet", "-m", "pipeline"]);
    cli(
        &admin,
        &[
            "project",
            "add",
            &repo.path().display().to_string(),
            "--name",
            "p",
        ],
    )
    .expect(0);
    let agent_token = cli(&admin, &["token", "create", "a1", "--agent"])
        .expect(0)
        .stdout
        .trim()
        .to_string();
    let work = tempfile::tempdir().expect("temp dir");
    let mut agent = slipway();
    agent
        .args([
            "agent",
            "--server",
            &url,
            "--token",
            &agent_token,
            "--name",
            "a1",
        ])
        .arg("--work-dir")
        .arg(work.path());
    let _agent = Daemon::spawn(agent);

    let triggered = cli(&admin, &["trigger", "p"]).expect(0);
    let run = triggered
        .stdout
        .split_whitespace()
        .nth(1)
        .expect("trigger prints `run ID …`")
        .to_string();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, gates) = http(port, "GET", &format!("/runs/{run}/approvals"), &admin, None);
        if gates[0]["state"] == "pending" {
            break;
        }
        assert!(Instant::now() < deadline, "the gate never opened: {gates}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Bad arguments never reach the server.
    let bad = cli(&admin, &["approve", &run, "sign-off", "--input", "ticket"]).expect(2);
    assert!(bad.stderr.contains("NAME=VALUE"), "{}", bad.stderr);
    // The admin started the run: self_approval is off.
    let own = cli(
        &admin,
        &["approve", &run, "sign-off", "--input", "ticket=OPS-9"],
    )
    .expect(2);
    assert!(
        own.stderr.contains("self_approval is off"),
        "{}",
        own.stderr
    );
    assert!(own.stderr.contains("HTTP 403"), "{}", own.stderr);

    let (status, bob) = http(
        port,
        "POST",
        "/users",
        &admin,
        Some(&json!({ "name": "bob" })),
    );
    assert_eq!(status, 201, "{bob}");
    let bob = bob["token"].as_str().expect("bob's token").to_string();
    // A viewer may not approve (the gate names no approvers: developers and above).
    let role = |name: &str| json!({ "role": name });
    assert_eq!(
        http(
            port,
            "PUT",
            "/projects/p/roles/bob",
            &admin,
            Some(&role("viewer"))
        )
        .0,
        204
    );
    let viewer = cli(
        &bob,
        &["approve", &run, "sign-off", "--input", "ticket=OPS-9"],
    )
    .expect(2);
    assert!(
        viewer.stderr.contains("developer role"),
        "{}",
        viewer.stderr
    );
    assert_eq!(
        http(
            port,
            "PUT",
            "/projects/p/roles/bob",
            &admin,
            Some(&role("developer"))
        )
        .0,
        204
    );
    let missing = cli(&bob, &["approve", &run, "sign-off"]).expect(2);
    assert!(missing.stderr.contains("ticket"), "{}", missing.stderr);
    assert!(missing.stderr.contains("HTTP 422"), "{}", missing.stderr);

    let approved = cli(
        &bob,
        &[
            "approve",
            &run,
            "sign-off",
            "--input",
            "ticket=OPS-9",
            "--comment",
            "ship it",
        ],
    )
    .expect(0);
    assert!(
        approved
            .stdout
            .contains(&format!("approved job sign-off of run {run}")),
        "{}",
        approved.stdout
    );
    assert!(
        approved
            .stdout
            .contains("the gate is approved: approved by bob"),
        "{}",
        approved.stdout
    );
    let followed = cli(&admin, &["logs", &run, "--follow"]).expect(0);
    assert!(
        followed.stdout.contains("shipped OPS-9"),
        "{}",
        followed.stdout
    );
    assert!(followed.stdout.contains("succeeded"), "{}", followed.stdout);

    let late = cli(&bob, &["approve", &run, "sign-off", "--reject"]).expect(2);
    assert!(late.stderr.contains("already decided"), "{}", late.stderr);
    assert!(late.stderr.contains("HTTP 409"), "{}", late.stderr);
}
