//! The real `slipway` binary as a server (`server`, `up`, `agent`) on a free
//! 127.0.0.1 port with a temporary data directory, driven by the client
//! commands as a user would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Long enough for a debug build on a loaded 2-core machine; a test waits
/// this long only when something is wrong.
const PATIENCE: Duration = Duration::from_secs(120);

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

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A `slipway server|up|agent` process, stopped with SIGTERM when dropped.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn spawn(mut command: Command) -> Daemon {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start slipway");
        let (send, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line of output (stdout or stderr) containing `needle`.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} from slipway; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// SIGTERM, then the exit code.
    fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("slipway did not stop within {PATIENCE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// GET /healthz answered 200.
fn healthy(port: u16) -> bool {
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    http(port, &request).is_some_and(|answer| answer.starts_with("HTTP/1.1 200"))
}

/// The whole answer to one raw HTTP/1.1 request (`Connection: close`).
fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    Some(answer)
}

/// The web UI's sign-in form posted; the answer's status line and headers.
fn sign_in(served: &Served, user: &str, password: &str) -> String {
    let port: u16 = served
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let body = format!("username={user}&password={}", password.replace(' ', "+"));
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = http(port, &request).expect("the server answers");
    answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

fn wait_healthy(port: u16, daemon: &mut Daemon) {
    let deadline = Instant::now() + PATIENCE;
    while !healthy(port) {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            while let Ok(line) = daemon.lines.recv_timeout(Duration::from_millis(200)) {
                daemon.seen.push(line);
            }
            panic!("slipway exited ({status}):\n{}", daemon.seen.join("\n"));
        }
        assert!(
            Instant::now() < deadline,
            "the server never answered /healthz"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A started `slipway server` and how to reach it.
struct Served {
    daemon: Daemon,
    url: String,
    token: String,
    _data: tempfile::TempDir,
}

impl Served {
    fn start() -> Served {
        let data = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut command = slipway();
        command.args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ]);
        command.arg(data.path());
        let mut daemon = Daemon::spawn(command);
        wait_healthy(port, &mut daemon);
        let token = std::fs::read_to_string(data.path().join("admin-token"))
            .expect("the server writes DATA_DIR/admin-token")
            .trim()
            .to_string();
        Served {
            daemon,
            url: format!("http://127.0.0.1:{port}"),
            token,
            _data: data,
        }
    }

    /// `slipway ARGS` against this server (through the environment).
    fn client(&self, args: &[&str]) -> Command {
        let mut command = slipway();
        command
            .args(args)
            .env("SLIPWAY_SERVER", &self.url)
            .env("SLIPWAY_TOKEN", &self.token);
        command
    }

    fn run(&self, args: &[&str]) -> Ran {
        Ran::from(self.client(args).output().expect("run slipway"))
    }

    fn run_with_input(&self, args: &[&str], input: &str) -> Ran {
        let mut child = self
            .client(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run slipway");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).expect("write stdin");
        }
        Ran::from(child.wait_with_output().expect("wait"))
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

/// A git repository with `slipway.yml` committed on `main`.
fn repository(pipeline: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("slipway.yml"), pipeline).expect("write");
    git(dir.path(), &["init", "--quiet", "--initial-branch=main"]);
    git(dir.path(), &["add", "--all"]);
    git(dir.path(), &["commit", "--quiet", "-m", "pipeline"]);
    dir
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

const GREET: &str = "\
name: greet
on:
  manual:
    inputs:
      who:
        type: string
        default: world
jobs:
  hello:
    steps:
      - run: echo \"hello ${{ inputs.who }}\"
  after:
    needs: [hello]
    steps:
      - run: echo done
";

/// The run id `trigger` printed (`run 7 (demo#1) queued`).
fn run_id(trigger_output: &str) -> String {
    trigger_output
        .split_whitespace()
        .nth(1)
        .expect("trigger prints `run ID …`")
        .to_string()
}

#[test]
fn projects_secrets_triggers_and_errors_over_the_api() {
    let served = Served::start();
    let repo = repository(GREET);
    let repo_path = repo.path().display().to_string();

    let added = served
        .run(&["project", "add", &repo_path, "--name", "demo"])
        .expect(0);
    assert!(
        added.stdout.contains("project demo registered"),
        "{}",
        added.stdout
    );
    assert!(added.stdout.contains("webhook secret"), "{}", added.stdout);
    assert!(
        added
            .stdout
            .contains(&format!("{}/hooks/github/demo", served.url)),
        "{}",
        added.stdout
    );
    // With a secret given, none is printed.
    let given = served
        .run(&[
            "project",
            "add",
            &repo_path,
            "--name",
            "demo2",
            "--webhook-secret",
            "given-hook-secret",
        ])
        .expect(0);
    assert!(
        !given.stdout.contains("given-hook-secret"),
        "{}",
        given.stdout
    );
    served
        .run(&["project", "add", &repo_path, "--name", "demo"])
        .expect(2);

    let listed = served.run(&["project", "list"]).expect(0);
    assert!(listed.stdout.contains("demo"), "{}", listed.stdout);
    assert!(listed.stdout.contains(&repo_path), "{}", listed.stdout);

    let secret = served
        .run_with_input(&["secret", "set", "demo", "API_KEY"], "s3cr3t-value\n")
        .expect(0);
    assert!(!secret.stdout.contains("s3cr3t") && !secret.stderr.contains("s3cr3t"));
    served
        .run_with_input(&["secret", "set", "demo", "EMPTY"], "")
        .expect(2);
    served
        .run_with_input(&["secret", "set", "nosuch", "X"], "v")
        .expect(2);

    // No agent serves this server: the run stays queued until cancelled.
    let triggered = served
        .run(&["trigger", "demo", "--input", "who=Ada"])
        .expect(0);
    let id = run_id(&triggered.stdout);
    assert!(
        triggered.stdout.contains("(demo#1)"),
        "{}",
        triggered.stdout
    );
    let runs = served.run(&["runs"]).expect(0);
    assert!(runs.stdout.starts_with("ID"), "{}", runs.stdout);
    assert!(runs.stdout.contains("demo#1"), "{}", runs.stdout);
    assert!(runs.stdout.contains("manual"), "{}", runs.stdout);
    let json = served
        .run(&["runs", "--project", "demo", "--json", "--limit", "5"])
        .expect(0);
    let parsed: serde_json::Value =
        serde_json::from_str(&json.stdout).expect("runs --json is JSON");
    assert_eq!(parsed[0]["id"].to_string(), id);
    let cancelled = served.run(&["cancel", &id]).expect(0);
    assert!(
        cancelled.stdout.contains("cancelled"),
        "{}",
        cancelled.stdout
    );
    // Following a finished run prints its result and exits with it.
    let followed = served.run(&["logs", &id, "--follow"]).expect(1);
    assert!(followed.stdout.contains("cancelled"), "{}", followed.stdout);
    served.run(&["logs", &id]).expect(0);

    // Errors a user can fix exit 2 and say what the status means.
    let missing = served.run(&["logs", "999999"]).expect(2);
    assert!(missing.stderr.contains("HTTP 404"), "{}", missing.stderr);
    served.run(&["trigger", "nosuch"]).expect(2);
    let wrong = served
        .client(&["runs"])
        .env("SLIPWAY_TOKEN", "not-a-token")
        .output()
        .expect("run");
    let wrong = Ran::from(wrong).expect(2);
    assert!(wrong.stderr.contains("HTTP 401"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("not-a-token"), "{}", wrong.stderr);
    served
        .run(&["trigger", "demo", "--input", "novalue"])
        .expect(2);
    // Nothing listens there: a failure, not a usage error.
    let port = free_port();
    let unreachable = served
        .client(&["runs"])
        .env("SLIPWAY_SERVER", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run");
    let unreachable = Ran::from(unreachable).expect(1);
    assert!(
        unreachable.stderr.contains("cannot reach"),
        "{}",
        unreachable.stderr
    );

    // No output anywhere holds the admin token.
    for ran in [added, listed, runs, cancelled, missing] {
        assert!(!ran.stdout.contains(&served.token) && !ran.stderr.contains(&served.token));
    }
    drop(served);
}

#[test]
fn users_are_added_and_their_passwords_set_for_the_web_ui() {
    let served = Served::start();
    let added = served.run(&["user", "add", "dana"]).expect(0);
    assert!(added.stdout.trim().starts_with("slw_"), "{}", added.stdout);
    assert!(
        added.stderr.contains("slipway user password dana"),
        "{}",
        added.stderr
    );
    let again = served.run(&["user", "add", "dana"]);
    assert_ne!(again.code, Some(0), "{}", again.stdout);

    // No password yet: signing in fails.
    assert!(sign_in(&served, "dana", "danas password").starts_with("HTTP/1.1 401"));
    let empty = served
        .run_with_input(&["user", "password", "dana"], "\n")
        .expect(2);
    assert!(
        empty.stderr.contains("the new password of dana is empty"),
        "{}",
        empty.stderr
    );
    // Refusals by the server are the caller's errors: exit 2.
    let short = served.run_with_input(&["user", "password", "dana"], "short\n");
    assert_eq!(short.code, Some(2), "{}", short.stderr);
    assert!(
        short.stderr.contains("at least 8 characters"),
        "{}",
        short.stderr
    );
    let unknown = served.run_with_input(&["user", "password", "nobody"], "long enough\n");
    assert_eq!(unknown.code, Some(2), "{}", unknown.stderr);

    let set = served
        .run_with_input(&["user", "password", "dana"], "danas password\n")
        .expect(0);
    assert!(
        set.stdout.contains("password of dana set"),
        "{}",
        set.stdout
    );
    assert!(!set.stdout.contains("danas password") && !set.stderr.contains("danas password"));
    let answer = sign_in(&served, "dana", "danas password");
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(answer.contains("slipway_session=slw_"), "{answer}");
}

#[test]
fn a_remote_agent_runs_what_trigger_follows() {
    let mut served = Served::start();
    let repo = repository(GREET);
    served
        .run(&[
            "project",
            "add",
            &repo.path().display().to_string(),
            "--name",
            "greet",
        ])
        .expect(0);
    let created = served
        .run(&["token", "create", "agent-1", "--agent"])
        .expect(0);
    let agent_token = created.stdout.trim().to_string();
    assert!(
        !agent_token.is_empty() && !agent_token.contains(' '),
        "{}",
        created.stdout
    );

    let work = tempfile::tempdir().expect("temp dir");
    let mut command = slipway();
    command
        .args([
            "agent",
            "--server",
            &served.url,
            "--token",
            &agent_token,
            "--name",
            "a1",
        ])
        .args(["--labels", "linux", "--work-dir"])
        .arg(work.path());
    let mut agent = Daemon::spawn(command);

    let followed = served
        .run(&["trigger", "greet", "--input", "who=Ada", "--follow"])
        .expect(0);
    assert!(
        followed.stdout.contains("[hello] hello Ada"),
        "{}",
        followed.stdout
    );
    assert!(
        followed.stdout.contains("[after] done"),
        "{}",
        followed.stdout
    );
    assert!(followed.stdout.contains("succeeded"), "{}", followed.stdout);
    let id = run_id(&followed.stdout);

    // Stored logs, one job of them.
    let logs = served.run(&["logs", &id, "--job", "hello"]).expect(0);
    assert!(logs.stdout.contains("[hello] hello Ada"), "{}", logs.stdout);
    assert!(!logs.stdout.contains("[after]"), "{}", logs.stdout);

    let retried = served.run(&["retry", &id, "--job", "after"]).expect(0);
    assert!(retried.stdout.contains("retried"), "{}", retried.stdout);
    // The retried job runs again (in the same run or a new one); the job
    // before it keeps its result.
    let retried_id = retried
        .stdout
        .split("retried as run ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or(&id)
        .to_string();
    let again = served.run(&["logs", &retried_id, "--follow"]).expect(0);
    assert!(again.stdout.contains("[after] done"), "{}", again.stdout);
    assert!(again.stdout.contains("succeeded"), "{}", again.stdout);

    assert_eq!(agent.terminate(), Some(0));
    assert!(!agent.seen.iter().any(|l| l.contains(&agent_token)));
    served.daemon.terminate();
}

#[test]
fn up_runs_the_example_then_a_second_up_starts_nothing() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let start = || {
        let mut command = slipway();
        command
            .args(["up", "--listen", &listen, "--data-dir"])
            .arg(data.path());
        Daemon::spawn(command)
    };

    let mut up = start();
    up.wait_for_line(&format!("http://127.0.0.1:{port}"));
    let token_line = up.wait_for_line("admin token:");
    let token = std::fs::read_to_string(data.path().join("admin-token"))
        .expect("admin-token")
        .trim()
        .to_string();
    assert!(token_line.contains(&token), "{token_line}");
    up.wait_for_line("project hello registered");
    up.wait_for_line("push a commit to");
    up.wait_for_line("[test] ok   greets_the_world");
    let result = up.wait_for_line("(hello#1) ");
    assert!(
        result.contains("succeeded"),
        "{result}\n{}",
        up.seen.join("\n")
    );
    let repo: PathBuf = data.path().join("examples/hello");
    assert!(repo.join("slipway.yml").is_file());

    let client = |args: &[&str]| {
        let mut command = slipway();
        command
            .args(args)
            .env("SLIPWAY_SERVER", format!("http://127.0.0.1:{port}"))
            // The token comes from the data directory.
            .env("SLIPWAY_HOME", data.path());
        Ran::from(command.output().expect("run slipway"))
    };
    let runs = client(&["runs", "--json"]).expect(0);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).expect("JSON");
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(up.terminate(), Some(0));

    let mut again = start();
    again.wait_for_line("registered already");
    again.wait_for_line("serving until");
    let runs = client(&["runs", "--json"]).expect(0);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).expect("JSON");
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(again.terminate(), Some(0));
}

#[test]
fn server_settings_come_from_flags_then_environment_then_file() {
    let data = tempfile::tempdir().expect("temp dir");
    let (file_port, env_port) = (free_port(), free_port());
    let config = data.path().join("slipway.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:{file_port}\"\npoll_interval_secs = 5\n"),
    )
    .expect("write config");
    let mut command = slipway();
    command
        .args(["server", "--config"])
        .arg(&config)
        .env("SLIPWAY_HOME", data.path())
        .env("SLIPWAY_LISTEN", format!("127.0.0.1:{env_port}"));
    let mut daemon = Daemon::spawn(command);
    wait_healthy(env_port, &mut daemon);
    assert!(data.path().join("admin-token").is_file());
    assert_eq!(daemon.terminate(), Some(0));

    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").expect("write config");
    let bad = slipway()
        .args(["server", "--config"])
        .arg(&config)
        .env("SLIPWAY_HOME", data.path())
        .output()
        .expect("run");
    let bad = Ran::from(bad).expect(2);
    assert!(bad.stderr.contains("lisen"), "{}", bad.stderr);
}

/// The file's `poll_interval_secs` and `builtin_agent` reach the server: a
/// commit pushed to a registered repository runs on the built-in agent.
#[test]
fn a_pushed_commit_runs_by_polling_with_settings_from_the_file() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = data.path().join("slipway.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\npoll_interval_secs = 1\nbuiltin_agent = true\nagent_labels = [\"linux\"]\n"
        ),
    )
    .expect("write config");
    let mut command = slipway();
    command
        .args(["server", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data.path());
    let mut daemon = Daemon::spawn(command);
    wait_healthy(port, &mut daemon);
    let client = |args: &[&str]| {
        let mut command = slipway();
        command
            .args(args)
            .env("SLIPWAY_SERVER", format!("http://127.0.0.1:{port}"))
            .env("SLIPWAY_HOME", data.path());
        Ran::from(command.output().expect("run slipway"))
    };

    let pipeline = "name: pushed\non:\n  push:\n    branches: [main]\njobs:\n  say:\n    steps:\n      - run: cat message.txt\n";
    let repo = repository(pipeline);
    // Registered by a relative path: the command makes it absolute.
    let parent = repo.path().parent().expect("parent");
    let name = repo
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name");
    let mut add = slipway();
    add.args(["project", "add", &format!("./{name}"), "--name", "pushed"])
        .current_dir(parent)
        .env("SLIPWAY_SERVER", format!("http://127.0.0.1:{port}"))
        .env("SLIPWAY_HOME", data.path());
    Ran::from(add.output().expect("run")).expect(0);

    // The server takes its baseline of the branches at its first poll of
    // the project, which may come after a first commit: commit until one
    // is seen as new.
    let deadline = Instant::now() + PATIENCE;
    let mut commits = 0;
    let id = 'pushed: loop {
        commits += 1;
        std::fs::write(
            repo.path().join("message.txt"),
            format!("pushed by a test {commits}\n"),
        )
        .expect("write");
        git(repo.path(), &["add", "message.txt"]);
        git(repo.path(), &["commit", "--quiet", "-m", "a message"]);
        for _ in 0..15 {
            let runs = client(&["runs", "--project", "pushed", "--json"]).expect(0);
            let runs: serde_json::Value = serde_json::from_str(&runs.stdout).expect("JSON");
            let found = runs.as_array().and_then(|runs| {
                runs.iter()
                    .find(|run| run["trigger"] == "push")
                    .map(|run| run["id"].to_string())
            });
            if let Some(id) = found {
                break 'pushed id;
            }
            assert!(Instant::now() < deadline, "no push run appeared: {runs}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let followed = client(&["logs", &id, "--follow"]).expect(0);
    assert!(
        followed.stdout.contains("[say] pushed by a test"),
        "{}",
        followed.stdout
    );
    assert_eq!(daemon.terminate(), Some(0));
}
