//! Crash safety with real processes: `slipway server` killed with SIGKILL
//! while a remote `slipway agent` runs a job, then started again on the same
//! data directory and port. The run goes on, every log line the agent had
//! been answered for is still there, the agent reconnects by itself, and
//! nothing stays "running". Then the agent is killed: its job ends through
//! lease expiry with a reason.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed (SIGKILL) when dropped.
struct Process(Child);

impl Process {
    fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn start_server(data: &Path, port: u16) -> Process {
    let config = data.join("server.toml");
    std::fs::write(
        &config,
        "lease_secs = 3\nshutdown_grace_secs = 2\npoll_interval_secs = 3600\n",
    )
    .expect("config");
    let mut command = slipway();
    command
        .arg("server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(&config);
    Process(command.spawn().expect("start slipway server"))
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

struct Api {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn wait_healthy(&self, server: &mut Process) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(server.alive(), "the server exited");
            let answer = self
                .client
                .get(format!("{}/healthz", self.url))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "the server never became healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("request");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    /// The stored lines of a run, as (job, text).
    async fn lines(&self, run: i64) -> Vec<(String, String)> {
        let text = self
            .client
            .get(format!("{}/api/v1/runs/{run}/logs", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("logs")
            .text()
            .await
            .expect("logs body");
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .filter(|v| v.get("text").is_some())
            .map(|v| {
                (
                    v["job"].as_str().unwrap_or("").to_string(),
                    v["text"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    async fn wait_final(&self, run: i64) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let detail = self
                .call(reqwest::Method::GET, &format!("/runs/{run}"), None)
                .await;
            let status = detail["run"]["status"].as_str().unwrap_or("");
            if matches!(status, "succeeded" | "failed" | "cancelled") {
                return detail;
            }
            assert!(Instant::now() < deadline, "run {run} never ended: {detail}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

const PIPELINE: &str = r#"on: { manual: {} }
jobs:
  slow:
    steps:
      - run: for i in $(seq 1 40); do echo line-$i; sleep 0.1; done
  after:
    needs: [slow]
    steps:
      - run: echo after-ran
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_with_sigkill_resumes_and_loses_no_acknowledged_line() {
    let data = tempfile::tempdir().expect("data");
    let work = tempfile::tempdir().expect("work");
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("slipway.yml"), PIPELINE).expect("pipeline");
    git(&repo, &["add", "-A"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@localhost",
            "commit",
            "-q",
            "-m",
            "one",
        ],
    );

    let port = free_port();
    let mut server = start_server(data.path(), port);
    let mut api = Api {
        client: reqwest::Client::new(),
        url: format!("http://127.0.0.1:{port}"),
        token: String::new(),
    };
    api.wait_healthy(&mut server).await;
    api.token = std::fs::read_to_string(data.path().join("admin-token"))
        .expect("admin token")
        .trim()
        .to_string();
    let agent_token = api
        .call(
            reqwest::Method::POST,
            "/tokens",
            Some(json!({ "name": "a1", "kind": "agent" })),
        )
        .await["token"]
        .as_str()
        .expect("agent token")
        .to_string();
    let mut agent = {
        let mut command = slipway();
        command
            .args([
                "agent",
                "--server",
                &api.url,
                "--token",
                &agent_token,
                "--name",
                "a1",
            ])
            .arg("--work-dir")
            .arg(work.path().join("agent"));
        Process(command.spawn().expect("start slipway agent"))
    };
    api.call(
        reqwest::Method::POST,
        "/projects",
        Some(json!({ "name": "crash", "repo_url": repo.display().to_string() })),
    )
    .await;
    let run = api
        .call(
            reqwest::Method::POST,
            "/projects/crash/runs",
            Some(json!({})),
        )
        .await["id"]
        .as_i64()
        .expect("run id");

    // Kill the server in the middle of the job.
    let deadline = Instant::now() + PATIENCE;
    let before = loop {
        let lines = api.lines(run).await;
        if lines.iter().any(|(_, t)| t == "line-8") {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "the job never printed: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.kill9();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut server = start_server(data.path(), port);
    api.wait_healthy(&mut server).await;

    let detail = api.wait_final(run).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    for job in detail["jobs"].as_array().expect("jobs") {
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let after = api.lines(run).await;
    for line in &before {
        assert!(after.contains(line), "{line:?} was acknowledged, then lost");
    }
    let slow: Vec<&str> = after
        .iter()
        .filter(|(job, _)| job == "slow")
        .map(|(_, t)| t.as_str())
        .collect();
    for i in 1..=40 {
        let line = format!("line-{i}");
        assert!(slow.contains(&line.as_str()), "{line} missing: {slow:?}");
    }
    assert!(after.iter().any(|(_, t)| t == "after-ran"), "{after:?}");
    assert!(agent.alive(), "the agent survived the server's crash");

    // Now the agent dies in the middle of a job: the lease expires and the
    // job fails with a reason (no `retry:`), the run ends, nothing runs.
    let second = api
        .call(
            reqwest::Method::POST,
            "/projects/crash/runs",
            Some(json!({})),
        )
        .await["id"]
        .as_i64()
        .expect("run id");
    let deadline = Instant::now() + PATIENCE;
    while !api.lines(second).await.iter().any(|(_, t)| t == "line-3") {
        assert!(Instant::now() < deadline, "the second run never printed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent.kill9();
    let detail = api.wait_final(second).await;
    assert_eq!(detail["run"]["status"], "failed", "{detail}");
    let slow = &detail["jobs"][0];
    assert_eq!(slow["status"], "failed", "{detail}");
    assert!(
        slow["reason"].as_str().unwrap_or("").contains("lease"),
        "{detail}"
    );
    let running = api
        .call(reqwest::Method::GET, "/runs?status=running", None)
        .await;
    assert_eq!(running, json!([]));
    drop(server);
}
