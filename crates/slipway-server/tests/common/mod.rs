//! A real server in a temporary data directory, and a local git repository
//! for it to build.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use slipway_server::{Server, ServerConfig};

pub struct TestServer {
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    pub data: tempfile::TempDir,
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: Option<tokio::task::JoinHandle<()>>,
}

pub async fn start(builtin_agent: bool) -> TestServer {
    let data = tempfile::tempdir().expect("tempdir");
    start_in(data, builtin_agent).await
}

pub async fn start_in(data: tempfile::TempDir, builtin_agent: bool) -> TestServer {
    start_with(data, builtin_agent, None).await
}

/// A server on PostgreSQL (a fresh database on the test process's real
/// PostgreSQL server).
pub async fn start_on_postgres(builtin_agent: bool) -> TestServer {
    let url = match slipway_testpg::fresh_database().await {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    };
    let data = tempfile::tempdir().expect("tempdir");
    start_with(data, builtin_agent, Some(url)).await
}

pub async fn start_with(
    data: tempfile::TempDir,
    builtin_agent: bool,
    database: Option<String>,
) -> TestServer {
    let mut config = ServerConfig::new(data.path().to_path_buf());
    config.database = database;
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.builtin_agent = builtin_agent;
    config.agent_labels = vec!["linux".into()];
    config.lease = Duration::from_secs(3);
    config.shutdown_grace = Duration::from_secs(2);
    config.poll_interval = Duration::from_millis(300);
    let server = Server::start(config).await.expect("server starts");
    let url = server.url();
    let token = server.admin_token().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = server
            .run_until(async move {
                let _ = rx.await;
            })
            .await;
    });
    TestServer {
        url,
        token,
        client: reqwest::Client::new(),
        data,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestServer {
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.api(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.api(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the run has a final status and returns it.
    pub async fn wait_run(&self, id: i64) -> Value {
        for _ in 0..600 {
            let (_, detail) = self.get(&format!("/runs/{id}")).await;
            let status = detail["run"]["status"].as_str().unwrap_or("");
            if matches!(status, "succeeded" | "failed" | "cancelled") {
                return detail;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("run {id} did not finish in 60 s");
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
        self.data
    }
}

/// A git repository with `files`, committed on `main`.
pub fn repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    repo_on(dir, "main", files)
}

/// A git repository with `files`, committed on `branch`.
pub fn repo_on(dir: &Path, branch: &str, files: &[(&str, &str)]) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", branch]);
    commit(&repo, files, "first");
    repo
}

pub fn commit(repo: &Path, files: &[(&str, &str)], message: &str) {
    for (name, text) in files {
        let path = repo.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }
    git(repo, &["add", "-A"]);
    git(
        repo,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@localhost",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Creates a project for `repo` and returns its name.
pub async fn project(server: &TestServer, name: &str, repo: &Path) -> Value {
    let (status, created) = server
        .post(
            "/projects",
            serde_json::json!({ "name": name, "repo_url": repo.display().to_string(), "webhook_secret": "s3cret" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

/// A project `project` of a new repository holding `files`, and a manual
/// run of it: the run's id and the directory holding the repository.
pub async fn project_run(
    server: &TestServer,
    project: &str,
    files: &[(&str, &str)],
) -> (i64, tempfile::TempDir) {
    let work = tempfile::tempdir().expect("tempdir");
    let repo = self::repo(work.path(), files);
    self::project(server, project, &repo).await;
    let (status, run) = server
        .post(&format!("/projects/{project}/runs"), serde_json::json!({}))
        .await;
    assert_eq!(status, 201, "{run}");
    (run["id"].as_i64().expect("run id"), work)
}

/// A new user, with `role` on project `p` when given; their first token.
pub async fn user(server: &TestServer, name: &str, role: Option<&str>) -> String {
    let (status, created) = server
        .post("/users", serde_json::json!({ "name": name }))
        .await;
    assert_eq!(status, 201, "{created}");
    if let Some(role) = role {
        let response = server
            .client
            .put(server.api(&format!("/projects/p/roles/{name}")))
            .bearer_auth(&server.token)
            .json(&serde_json::json!({ "role": role }))
            .send()
            .await
            .expect("set role");
        assert_eq!(response.status().as_u16(), 204, "role of {name}");
    }
    created["token"].as_str().expect("token").to_string()
}

/// Sets `name`'s web UI password with the administrator's token.
pub async fn set_password(server: &TestServer, name: &str, password: &str) {
    let response = server
        .client
        .put(server.api(&format!("/users/{name}/password")))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({ "password": password }))
        .send()
        .await
        .expect("set password");
    assert_eq!(response.status().as_u16(), 204, "password of {name}");
}

/// An environment of one local target `name` on `port` running the demo
/// service (the artifact), with `head` (e.g. `requires: staging`) first.
pub fn demo_environment(head: &str, name: &str, port: u16) -> String {
    format!(
        r#"{head}targets:
  - name: {name}
    kind: local
    port: {port}
service:
  activate: {{ start: "$ARTIFACT --listen 127.0.0.1:$PORT --version v1" }}
  health:
    http: /healthz
    interval: 50ms
    timeout: 1s
    max_wait: 20s
"#
    )
}

/// A pipeline that builds the demo binary as an artifact and releases it
/// to staging, then, after a sign-off gate, to production.
pub fn release_pipeline(demo: &Path) -> String {
    format!(
        r#"on: {{ manual: {{}} }}
jobs:
  build:
    steps:
      - run: mkdir -p dist && cp {demo} dist/app
    artifacts:
      app: dist/app
  staging:
    needs: [build]
    deploy:
      environment: staging
      artifact: build.app
  sign-off:
    needs: [staging]
    approval:
      timeout: 1h
  production:
    needs: [build, sign-off]
    deploy:
      environment: production
      artifact: build.app
"#,
        demo = demo.display()
    )
}

/// Waits until `check` holds for the project's run list.
pub async fn wait_runs(
    server: &TestServer,
    project: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..300 {
        let (_, runs) = server.get(&format!("/runs?project={project}")).await;
        let runs = runs.as_array().cloned().unwrap_or_default();
        if check(&runs) {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the runs of {project} never reached the expected state");
}

/// Reads a whole (non-following) log stream: the `data:` lines of events
/// without an `event:` name.
pub async fn read_logs(server: &TestServer, run: i64, query: &str) -> Vec<Value> {
    let text = server
        .client
        .get(server.api(&format!("/runs/{run}/logs{query}")))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("logs")
        .text()
        .await
        .expect("body");
    let mut lines = Vec::new();
    for event in text.split("\n\n") {
        if event.lines().any(|l| l.starts_with("event:")) {
            continue;
        }
        for line in event.lines() {
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(value) = serde_json::from_str::<Value>(data.trim())
            {
                lines.push(value);
            }
        }
    }
    lines
}

/// `target/debug/slipway-demo`, beside the test binary's directory.
pub fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let path = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("slipway-demo"))
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "the slipway-demo binary is missing at {}: run scripts/test (it builds the whole workspace first), or `cargo build -p slipway-demo`",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// Kills, when the test ends (passed or not), what deployments left running:
/// local targets are detached, each in its own process group, recorded in
/// the environments' `state.json` files given.
pub struct StopTargets(pub Vec<PathBuf>);

impl Drop for StopTargets {
    fn drop(&mut self) {
        for state in &self.0 {
            let Ok(text) = std::fs::read_to_string(state) else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            for target in value["targets"].as_object().into_iter().flatten() {
                if let Some(pid) = target.1["process"]["pid"].as_i64() {
                    // SAFETY: kill(2) of the process group the deployment started.
                    unsafe {
                        libc::kill(-(pid as i32), libc::SIGKILL);
                    }
                }
            }
        }
    }
}

/// Approves `job`'s gate of `run` as the admin with `comment`, once the
/// gate opens (voting answers 404/409 until the job waits); the vote's
/// answer. Fails when the run ends first or the gate never opens in 60 s.
pub async fn approve_when_open(server: &TestServer, run: i64, job: &str, comment: &str) -> Value {
    let votes = format!("/runs/{run}/jobs/{job}/approvals");
    for _ in 0..600 {
        let (status, answer) = server
            .post(
                &votes,
                serde_json::json!({ "approve": true, "comment": comment }),
            )
            .await;
        if status == 200 {
            return answer;
        }
        assert!(
            status == 409 || status == 404,
            "voting answered {status}: {answer}"
        );
        let (_, detail) = server.get(&format!("/runs/{run}")).await;
        let state = detail["run"]["status"].as_str().unwrap_or_default();
        assert!(
            matches!(state, "queued" | "running"),
            "the run ended before its gate: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {job} gate of run {run} did not open in 60 s");
}
