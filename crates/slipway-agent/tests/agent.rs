//! The agent against a small real HTTP server that speaks the agent routes
//! of `slipway-api` in memory: a test fixture of the protocol (it hands out
//! prepared assignments of a real git repository made in a temporary
//! directory, and records what the agent sends), not a stand-in for the
//! real server, which is tested end to end on its own.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use slipway_agent::{AgentConfig, AgentError};
use slipway_api::{Assignment, ClaimRequest, EventAck, EventBatch, FinishRequest, PrefetchHint};
use slipway_engine::Upstream;
use slipway_engine::records::{GitInfo, JobResult, Record};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const TOKEN: &str = "agent-test-token";
const SECRET: &str = "s3cr3t-value-42";
/// A guard against a hung test, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(90);

// ---- the protocol fixture -------------------------------------------------

#[derive(Default)]
struct Recorded {
    queue: VecDeque<Assignment>,
    /// Prefetch hints, answered (202) before any assignment.
    hints: VecDeque<PrefetchHint>,
    claims: Vec<ClaimRequest>,
    batches: Vec<(i64, EventBatch)>,
    finishes: Vec<(i64, FinishRequest)>,
    objects: HashMap<String, Vec<u8>>,
    /// A line with this text makes the server cancel its job.
    cancel_on_line: Option<String>,
    cancelled: HashSet<i64>,
    /// Jobs the server no longer gives to the agent (events answer 404).
    gone: HashSet<i64>,
    /// This many event calls are answered 503 (an overloaded or restarting
    /// server) before batches are taken again.
    unavailable_events: usize,
    /// Event calls answered 503 so far.
    refused_events: usize,
}

type Fixture = Arc<Mutex<Recorded>>;

fn lock(fixture: &Fixture) -> std::sync::MutexGuard<'_, Recorded> {
    fixture
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

async fn claim(
    State(fixture): State<Fixture>,
    headers: HeaderMap,
    Json(request): Json<ClaimRequest>,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // A short long poll keeps the tests quick to stop.
    let deadline = Instant::now() + Duration::from_millis(request.wait_ms.min(300));
    let hint = {
        let mut state = lock(&fixture);
        let accepts = request.prefetch;
        state.claims.push(request);
        if accepts {
            state.hints.pop_front()
        } else {
            None
        }
    };
    if let Some(hint) = hint {
        return (StatusCode::ACCEPTED, Json(hint)).into_response();
    }
    loop {
        if let Some(assignment) = lock(&fixture).queue.pop_front() {
            return Json(assignment).into_response();
        }
        if Instant::now() >= deadline {
            return StatusCode::NO_CONTENT.into_response();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn events(
    State(fixture): State<Fixture>,
    UrlPath(job): UrlPath<i64>,
    headers: HeaderMap,
    Json(batch): Json<EventBatch>,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut state = lock(&fixture);
    if state.gone.contains(&job) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if state.refused_events < state.unavailable_events && !batch.lines.is_empty() {
        state.refused_events += 1;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let trigger = state.cancel_on_line.clone();
    if let Some(trigger) = trigger
        && batch.lines.iter().any(|l| l.text == trigger)
    {
        state.cancelled.insert(job);
    }
    state.batches.push((job, batch));
    let cancel = state.cancelled.contains(&job);
    Json(EventAck { cancel }).into_response()
}

async fn finish(
    State(fixture): State<Fixture>,
    UrlPath(job): UrlPath<i64>,
    headers: HeaderMap,
    Json(request): Json<FinishRequest>,
) -> StatusCode {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    lock(&fixture).finishes.push((job, request));
    StatusCode::NO_CONTENT
}

async fn get_object(
    State(fixture): State<Fixture>,
    UrlPath(digest): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match lock(&fixture).objects.get(&digest) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn put_object(
    State(fixture): State<Fixture>,
    UrlPath(digest): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    if blake3::hash(&body).to_hex().as_str() != digest {
        return StatusCode::BAD_REQUEST;
    }
    lock(&fixture).objects.insert(digest, body.to_vec());
    StatusCode::NO_CONTENT
}

/// Serves the agent routes on `listener` until the task is aborted.
fn serve(fixture: Fixture, listener: tokio::net::TcpListener) -> JoinHandle<()> {
    let app = router(fixture);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

fn router(fixture: Fixture) -> axum::Router {
    axum::Router::new()
        .route("/api/v1/agent/claim", post(claim))
        .route("/api/v1/agent/jobs/{job}/events", post(events))
        .route("/api/v1/agent/jobs/{job}/finish", post(finish))
        // `get` answers HEAD too, without the body.
        .route(
            "/api/v1/agent/objects/{digest}",
            get(get_object).put(put_object),
        )
        .with_state(fixture)
}

async fn start_server(fixture: &Fixture) -> (String, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    (format!("http://{addr}"), serve(fixture.clone(), listener))
}

/// Waits for the finish of `job` and returns it.
async fn finished(fixture: &Fixture, job: i64) -> FinishRequest {
    let start = Instant::now();
    loop {
        if let Some((_, request)) = lock(fixture).finishes.iter().find(|(j, _)| *j == job) {
            return request.clone();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "job {job} was not finished; batches: {}",
            lock(fixture).batches.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lines_of(fixture: &Fixture, job: i64) -> Vec<(u32, String)> {
    lock(fixture)
        .batches
        .iter()
        .filter(|(j, _)| *j == job)
        .flat_map(|(_, b)| b.lines.iter().map(|l| (l.step, l.text.clone())))
        .collect()
}

fn records_of(fixture: &Fixture, job: i64) -> Vec<Record> {
    lock(fixture)
        .batches
        .iter()
        .filter(|(j, _)| *j == job)
        .flat_map(|(_, b)| b.records.iter().cloned())
        .collect()
}

// ---- a repository and its assignments ------------------------------------

struct Repo {
    dir: PathBuf,
    commit: String,
    source: String,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn repo(root: &Path, source: &str) -> Repo {
    let dir = root.join("repo");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("slipway.yml"), source).unwrap_or_else(|e| panic!("{e}"));
    git(&dir, &["add", "slipway.yml"]);
    git(&dir, &["commit", "-q", "-m", "pipeline"]);
    let commit = git(&dir, &["rev-parse", "HEAD"]);
    Repo {
        dir,
        commit,
        source: source.to_string(),
    }
}

fn assignment(repo: &Repo, job_id: i64, key: &str, upstream: Vec<Upstream>) -> Assignment {
    Assignment {
        job_id,
        run_id: 1,
        run: "1".to_string(),
        project: "demo".to_string(),
        repo_url: repo.dir.display().to_string(),
        commit: repo.commit.clone(),
        pipeline_file: "slipway.yml".to_string(),
        pipeline_source: repo.source.clone(),
        job_key: key.to_string(),
        attempt: 1,
        lease_ms: 3_000,
        secrets: vec![("TOKEN".to_string(), SECRET.to_string())],
        inputs: serde_json::Map::new(),
        git: GitInfo {
            sha: Some(repo.commit.clone()),
            event: "manual".to_string(),
            ..GitInfo::default()
        },
        upstream,
        freeze_override: None,
    }
}

struct Agent {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), AgentError>>,
}

fn start_agent(server: &str, work_dir: &Path, name: &str) -> Agent {
    let mut config = AgentConfig::new(server, TOKEN, name, work_dir);
    config.labels = vec!["linux".to_string()];
    config.capacity = 2;
    config.shutdown_grace = Duration::from_secs(5);
    start_agent_with(config)
}

fn start_agent_with(config: AgentConfig) -> Agent {
    let (stop, shutdown) = watch::channel(false);
    Agent {
        stop,
        task: tokio::spawn(slipway_agent::run(config, shutdown)),
    }
}

impl Agent {
    async fn stop(self) {
        self.stop.send_replace(true);
        let result = tokio::time::timeout(PATIENCE, self.task)
            .await
            .unwrap_or_else(|_| panic!("the agent did not stop"))
            .unwrap_or_else(|e| panic!("the agent task failed: {e}"));
        assert!(result.is_ok(), "agent ended with {result:?}");
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

// ---- the tests -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_streams_its_lines_and_records_in_order_and_succeeds() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        r#"
jobs:
  build:
    env:
      TOKEN: ${{ secrets.TOKEN }}
    steps:
      - name: greet
        run: |
          echo one
          echo two
          echo "token is $TOKEN"
      - name: again
        run: echo three
"#,
    );
    let fixture = Fixture::default();
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 7, "build", Vec::new()));
    let (url, server) = start_server(&fixture).await;
    let work = dir.path().join("agent");
    let agent = start_agent(&url, &work, "agent-1");

    let finish = finished(&fixture, 7).await;
    assert_eq!(finish.agent, "agent-1");
    assert_eq!(
        finish.outcome.result,
        JobResult::Success,
        "{:?}",
        finish.outcome.error
    );
    let lines = lines_of(&fixture, 7);
    assert_eq!(
        lines,
        vec![
            (0, "one".to_string()),
            (0, "two".to_string()),
            (0, "token is ***".to_string()),
            (1, "three".to_string()),
        ]
    );
    let steps: Vec<(&str, usize)> = records_of(&fixture, 7)
        .iter()
        .filter_map(|r| match r {
            Record::StepStarted { step, .. } => Some(("started", *step)),
            Record::StepFinished { step, .. } => Some(("finished", *step)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        steps,
        vec![
            ("started", 0),
            ("finished", 0),
            ("started", 1),
            ("finished", 1)
        ]
    );
    {
        let state = lock(&fixture);
        assert!(
            state
                .batches
                .iter()
                .all(|(_, b)| b.agent == "agent-1"
                    && b.lines.iter().all(|l| !l.text.contains(SECRET))),
            "the secret reached the server"
        );
        let claim = state
            .claims
            .first()
            .unwrap_or_else(|| panic!("no claim recorded"));
        assert_eq!(claim.labels, vec!["linux".to_string()]);
        assert_eq!(claim.wait_ms, 30_000);
    }
    agent.stop().await;
    // The checkout is gone; the mirror and the store stay for the next job.
    let left: Vec<_> = std::fs::read_dir(work.join("jobs"))
        .unwrap_or_else(|e| panic!("{e}"))
        .collect();
    assert!(left.is_empty(), "checkouts left behind: {left:?}");
    assert!(work.join("mirrors").is_dir() && work.join("store/objects").is_dir());
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_job_and_later_steps_do_not_run() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        r#"
jobs:
  test:
    steps:
      - name: broken
        run: |
          echo about to fail
          exit 3
      - name: never
        run: echo not reached
"#,
    );
    let fixture = Fixture::default();
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 8, "test", Vec::new()));
    let (url, server) = start_server(&fixture).await;
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-f");

    let finish = finished(&fixture, 8).await;
    assert_eq!(finish.outcome.result, JobResult::Failure);
    let error = finish.outcome.error.unwrap_or_default();
    assert!(error.contains("broken") && error.contains('3'), "{error}");
    assert_eq!(
        lines_of(&fixture, 8),
        vec![(0, "about to fail".to_string())]
    );
    assert!(
        !records_of(&fixture, 8)
            .iter()
            .any(|r| matches!(r, Record::StepStarted { step: 1, .. }))
    );
    agent.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_not_in_the_plan_fails_with_a_reason() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  build:\n    steps:\n      - run: echo hi\n",
    );
    let fixture = Fixture::default();
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 9, "deploy", Vec::new()));
    let (url, server) = start_server(&fixture).await;
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-p");
    let finish = finished(&fixture, 9).await;
    assert_eq!(finish.outcome.result, JobResult::Failure);
    let error = finish.outcome.error.unwrap_or_default();
    assert!(error.contains("`deploy` is not in the plan"), "{error}");
    agent.stop().await;
    server.abort();
}

/// Whether a process is gone (or a zombie nobody reaped yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_cancel_kills_the_step_and_the_job_ends_cancelled() {
    let dir = tempdir();
    let pid_file = dir.path().join("sleep.pid");
    let repo = repo(
        dir.path(),
        &format!(
            r#"
jobs:
  long:
    steps:
      - name: wait forever
        run: |
          sleep 1000 &
          echo $! > {}
          echo started
          wait
"#,
            pid_file.display()
        ),
    );
    let fixture = Fixture::default();
    {
        let mut state = lock(&fixture);
        state.cancel_on_line = Some("started".to_string());
        state
            .queue
            .push_back(assignment(&repo, 10, "long", Vec::new()));
    }
    let (url, server) = start_server(&fixture).await;
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-c");

    let finish = finished(&fixture, 10).await;
    assert_eq!(finish.outcome.result, JobResult::Cancelled);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        process_gone(pid),
        "the step's background process {pid} survived"
    );
    assert!(records_of(&fixture, 10).iter().any(|r| matches!(
        r,
        Record::StepFinished {
            exit: slipway_engine::ports::StepExit::Cancelled,
            ..
        }
    )));
    agent.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_server_took_back_is_stopped_and_not_reported() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  long:\n    steps:\n      - run: |\n          echo started\n          sleep 1000\n",
    );
    let fixture = Fixture::default();
    {
        let mut state = lock(&fixture);
        state.gone.insert(11);
        state
            .queue
            .push_back(assignment(&repo, 11, "long", Vec::new()));
    }
    let (url, server) = start_server(&fixture).await;
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-g");
    // The job is stopped (its step killed) and never reported; the agent
    // goes on with other work meanwhile.
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 12, "long", Vec::new()));
    lock(&fixture).cancelled.insert(12);
    let second = finished(&fixture, 12).await;
    assert_eq!(second.outcome.result, JobResult::Cancelled);
    agent.stop().await;
    assert!(lock(&fixture).finishes.iter().all(|(job, _)| *job != 11));
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reconnects_when_the_server_comes_back() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  build:\n    steps:\n      - run: echo built\n",
    );
    // A port nobody listens on yet.
    let addr: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        probe.local_addr().unwrap_or_else(|e| panic!("{e}"))
    };
    let url = format!("http://{addr}");
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-r");
    // Let it fail a few times (100, 200, 400 ms …).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!agent.task.is_finished(), "the agent gave up on the server");

    let fixture = Fixture::default();
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 13, "build", Vec::new()));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("rebind {addr}: {e}"));
    let server = serve(fixture.clone(), listener);
    let finish = finished(&fixture, 13).await;
    assert_eq!(
        finish.outcome.result,
        JobResult::Success,
        "{:?}",
        finish.outcome.error
    );
    assert_eq!(lines_of(&fixture, 13), vec![(0, "built".to_string())]);
    agent.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_ends_the_agent_with_an_error_after_clearing_stale_checkouts() {
    let dir = tempdir();
    let fixture = Fixture::default();
    let (url, server) = start_server(&fixture).await;
    let (_stop, shutdown) = watch::channel(false);
    let config = AgentConfig {
        server: url,
        token: "wrong-token".to_string(),
        name: "agent-x".to_string(),
        labels: Vec::new(),
        work_dir: dir.path().join("agent"),
        capacity: 1,
        shutdown_grace: Duration::from_secs(1),
    };
    assert!(!format!("{config:?}").contains("wrong-token"));
    // A checkout a dead agent process left behind.
    let stale = dir.path().join("agent/jobs/5-1/1/build");
    std::fs::create_dir_all(&stale).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(stale.join("file"), b"old").unwrap_or_else(|e| panic!("{e}"));
    let result = tokio::time::timeout(PATIENCE, slipway_agent::run(config, shutdown))
        .await
        .unwrap_or_else(|_| panic!("the agent did not stop"));
    match result {
        Err(error @ AgentError::Unauthorized { status: 401, .. }) => {
            let message = error.to_string();
            assert!(message.contains("token"), "{message}");
            assert!(!message.contains("wrong-token"), "{message}");
        }
        other => panic!("expected a token error, got {other:?}"),
    }
    assert!(!stale.exists(), "the stale checkout was kept");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_made_on_one_agent_is_restored_on_another() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        r#"
jobs:
  build:
    steps:
      - run: |
          mkdir -p dist out/sub
          printf '#!/bin/sh\necho app runs\n' > dist/app
          chmod +x dist/app
          echo payload > out/sub/file
    artifacts:
      app: dist/app
      out: out
  use:
    needs: [build]
    steps:
      - run: |
          test -x dist/app
          ./dist/app
          cat out/sub/file
"#,
    );
    let fixture = Fixture::default();
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 20, "build", Vec::new()));
    let (url, server) = start_server(&fixture).await;
    let builder = start_agent(&url, &dir.path().join("agent-a"), "agent-a");
    let built = finished(&fixture, 20).await;
    builder.stop().await;
    assert_eq!(
        built.outcome.result,
        JobResult::Success,
        "{:?}",
        built.outcome.error
    );
    assert_eq!(built.outcome.artifacts.len(), 2);
    // The file, its executable marker, the directory's manifest and blob.
    assert_eq!(lock(&fixture).objects.len(), 4);

    let upstream = vec![Upstream {
        job_id: "build".to_string(),
        key: "build".to_string(),
        result: JobResult::Success,
        outputs: Vec::new(),
        artifacts: built.outcome.artifacts.clone(),
    }];
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 21, "use", upstream));
    let user = start_agent(&url, &dir.path().join("agent-b"), "agent-b");
    let used = finished(&fixture, 21).await;
    assert_eq!(
        used.outcome.result,
        JobResult::Success,
        "{:?}",
        used.outcome.error
    );
    assert_eq!(
        lines_of(&fixture, 21),
        vec![(0, "app runs".to_string()), (0, "payload".to_string())]
    );
    user.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_jobs_after_the_grace_period_and_still_reports_them() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  long:\n    steps:\n      - run: |\n          echo started\n          sleep 1000\n",
    );
    let fixture = Fixture::default();
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 30, "long", Vec::new()));
    let (url, server) = start_server(&fixture).await;
    let mut config = AgentConfig::new(&url, TOKEN, "agent-s", dir.path().join("agent"));
    config.shutdown_grace = Duration::from_millis(200);
    let agent = start_agent_with(config);
    // Wait until the step runs, then stop the agent.
    let start = Instant::now();
    while !lines_of(&fixture, 30).contains(&(0, "started".to_string())) {
        assert!(start.elapsed() < PATIENCE, "the job never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    agent.stop().await;
    // `stop` returned, so the outcome was reported before the agent ended.
    let finish = finished(&fixture, 30).await;
    assert_eq!(finish.outcome.result, JobResult::Cancelled);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_job_keeps_its_lease_with_heartbeats() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  quiet:\n    steps:\n      - run: sleep 1\n",
    );
    let fixture = Fixture::default();
    let mut quiet = assignment(&repo, 31, "quiet", Vec::new());
    quiet.lease_ms = 300;
    lock(&fixture).queue.push_back(quiet);
    let (url, server) = start_server(&fixture).await;
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-h");
    let finish = finished(&fixture, 31).await;
    assert_eq!(finish.outcome.result, JobResult::Success);
    let empty = lock(&fixture)
        .batches
        .iter()
        .filter(|(job, b)| *job == 31 && b.lines.is_empty() && b.records.is_empty())
        .count();
    assert!(empty >= 1, "no heartbeat during a one-second silent step");
    agent.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_refused_by_an_unavailable_server_are_sent_again_whole() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  talk:\n    steps:\n      - run: |\n          echo a\n          sleep 0.3\n          echo b\n          sleep 0.3\n          echo c\n",
    );
    let fixture = Fixture::default();
    {
        let mut state = lock(&fixture);
        state.unavailable_events = 4;
        state
            .queue
            .push_back(assignment(&repo, 32, "talk", Vec::new()));
    }
    let (url, server) = start_server(&fixture).await;
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-u");
    let finish = finished(&fixture, 32).await;
    assert_eq!(finish.outcome.result, JobResult::Success);
    assert_eq!(lock(&fixture).refused_events, 4);
    assert_eq!(
        lines_of(&fixture, 32),
        vec![
            (0, "a".to_string()),
            (0, "b".to_string()),
            (0, "c".to_string())
        ]
    );
    agent.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_during_a_job_loses_no_line() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  talk:\n    steps:\n      - run: |\n          echo a\n          sleep 1\n          echo b\n          sleep 1\n          echo c\n",
    );
    let fixture = Fixture::default();
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 33, "talk", Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(
        axum::serve(listener, router(fixture.clone()))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let agent = start_agent(
        &format!("http://{addr}"),
        &dir.path().join("agent"),
        "agent-k",
    );
    let start = Instant::now();
    while !lines_of(&fixture, 33).contains(&(0, "a".to_string())) {
        assert!(start.elapsed() < PATIENCE, "the job never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server goes away (its connections closed) and comes back on the
    // same address with the state it had stored.
    let _ = stop_server.send(());
    let _ = first.await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("rebind {addr}: {e}"));
    let second = serve(fixture.clone(), listener);
    let finish = finished(&fixture, 33).await;
    assert_eq!(finish.outcome.result, JobResult::Success);
    assert_eq!(
        lines_of(&fixture, 33),
        vec![
            (0, "a".to_string()),
            (0, "b".to_string()),
            (0, "c".to_string())
        ]
    );
    agent.stop().await;
    second.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_up_to_its_capacity_at_once() {
    let dir = tempdir();
    let flag = dir.path().join("flag");
    // `wait` succeeds only if `signal` runs while it waits (up to 30 s).
    let repo = repo(
        dir.path(),
        &format!(
            r#"
jobs:
  wait:
    steps:
      - run: |
          for i in $(seq 300); do test -f {flag} && exit 0; sleep 0.1; done
          exit 1
  signal:
    steps:
      - run: touch {flag}
"#,
            flag = flag.display()
        ),
    );
    let fixture = Fixture::default();
    {
        let mut state = lock(&fixture);
        state
            .queue
            .push_back(assignment(&repo, 40, "wait", Vec::new()));
        state
            .queue
            .push_back(assignment(&repo, 41, "signal", Vec::new()));
    }
    let (url, server) = start_server(&fixture).await;
    let agent = start_agent(&url, &dir.path().join("agent"), "agent-2");
    let waited = finished(&fixture, 40).await;
    let signalled = finished(&fixture, 41).await;
    assert_eq!(signalled.outcome.result, JobResult::Success);
    assert_eq!(
        waited.outcome.result,
        JobResult::Success,
        "the two jobs did not run at once"
    );
    agent.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_works_in_a_git_checkout_of_its_commit_fetched_alone_and_left_nowhere() {
    let dir = tempdir();
    let source = "jobs:\n  build:\n    steps:\n      - run: git rev-parse HEAD; git status --porcelain; cat file.txt\n";
    let mut first = repo(dir.path(), source);
    std::fs::write(first.dir.join("file.txt"), "one\n").unwrap_or_else(|e| panic!("{e}"));
    git(&first.dir, &["add", "file.txt"]);
    git(&first.dir, &["commit", "-q", "-m", "one"]);
    first.commit = git(&first.dir, &["rev-parse", "HEAD"]);
    let fixture = Fixture::default();
    let mut job = assignment(&first, 31, "build", Vec::new());
    job.git.sha = Some(first.commit.clone());
    lock(&fixture).queue.push_back(job);
    let (url, server) = start_server(&fixture).await;
    let work = dir.path().join("agent");
    let agent = start_agent(&url, &work, "agent-g");

    let finish = finished(&fixture, 31).await;
    assert_eq!(
        finish.outcome.result,
        JobResult::Success,
        "{:?}",
        finish.outcome.error
    );
    let texts = |job| -> Vec<String> {
        lines_of(&fixture, job)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    };
    assert_eq!(texts(31), vec![first.commit.clone(), "one".to_string()]);

    // A later commit on the same branch: the agent's open mirror lacks it and
    // fetches it; the step sees that commit, not the earlier one.
    std::fs::write(first.dir.join("file.txt"), "two\n").unwrap_or_else(|e| panic!("{e}"));
    git(&first.dir, &["commit", "-q", "-am", "two"]);
    let second = git(&first.dir, &["rev-parse", "HEAD"]);
    let mut job = assignment(&first, 32, "build", Vec::new());
    job.commit = second.clone();
    lock(&fixture).queue.push_back(job);
    let finish = finished(&fixture, 32).await;
    assert_eq!(
        finish.outcome.result,
        JobResult::Success,
        "{:?}",
        finish.outcome.error
    );
    assert_eq!(texts(32), vec![second, "two".to_string()]);

    // The second commit came alone: the mirror's branch is where the first
    // job's clone left it.
    let mirrors: Vec<_> = std::fs::read_dir(work.join("mirrors"))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path())
        .collect();
    let [mirror] = mirrors.as_slice() else {
        panic!("one mirror expected: {mirrors:?}");
    };
    assert_eq!(git(mirror, &["rev-parse", "refs/heads/main"]), first.commit);

    // A commit no repository has: a clear failure, no checkout left.
    let mut job = assignment(&first, 33, "build", Vec::new());
    job.commit = "0123456789abcdef0123456789abcdef01234567".to_string();
    lock(&fixture).queue.push_back(job);
    let finish = finished(&fixture, 33).await;
    assert_eq!(finish.outcome.result, JobResult::Failure);
    let error = finish.outcome.error.unwrap_or_default();
    assert!(error.contains("0123456789abcdef"), "{error}");

    agent.stop().await;
    let left: Vec<_> = std::fs::read_dir(work.join("jobs"))
        .unwrap_or_else(|e| panic!("{e}"))
        .collect();
    assert!(left.is_empty(), "checkouts left behind: {left:?}");
    // No working tree is still recorded in the mirror.
    for mirror in std::fs::read_dir(work.join("mirrors")).unwrap_or_else(|e| panic!("{e}")) {
        let records = mirror
            .unwrap_or_else(|e| panic!("{e}"))
            .path()
            .join("worktrees");
        let count = std::fs::read_dir(&records).map_or(0, |d| d.count());
        assert_eq!(
            count,
            0,
            "working trees still recorded in {}",
            records.display()
        );
    }
    server.abort();
}

/// Waits until a claim satisfies `test`.
async fn claim_where(fixture: &Fixture, test: impl Fn(&ClaimRequest) -> bool) {
    let start = Instant::now();
    while !lock(fixture).claims.iter().any(&test) {
        assert!(start.elapsed() < PATIENCE, "no such claim came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hinted_commit_is_fetched_and_named_in_the_next_claims() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  build:\n    steps:\n      - run: git rev-parse HEAD\n",
    );
    let fixture = Fixture::default();
    lock(&fixture).hints.push_back(PrefetchHint {
        repo_url: repo.dir.display().to_string(),
        commit: repo.commit.clone(),
    });
    let (url, server) = start_server(&fixture).await;
    let work = dir.path().join("agent");
    let agent = start_agent(&url, &work, "agent-1");

    claim_where(&fixture, |c| {
        c.prefetched.as_deref() == Some(repo.commit.as_str())
    })
    .await;
    assert!(lock(&fixture).claims.iter().all(|c| c.prefetch));
    // The fetch ran beside the claim: the mirror has the commit once the
    // job (which waits for that fetch) runs, and the job sees it.
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 3, "build", Vec::new()));
    let finish = finished(&fixture, 3).await;
    assert_eq!(
        finish.outcome.result,
        JobResult::Success,
        "{:?}",
        finish.outcome.error
    );
    assert_eq!(lines_of(&fixture, 3), vec![(0, repo.commit.clone())]);
    agent.stop().await;
    // The checkout made ahead became the job's (nothing prepared is left).
    let left: Vec<_> = std::fs::read_dir(work.join("jobs"))
        .unwrap_or_else(|e| panic!("{e}"))
        .collect();
    assert!(left.is_empty(), "checkouts left behind: {left:?}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hint_that_cannot_be_fetched_is_forgotten_and_jobs_still_run() {
    let dir = tempdir();
    let repo = repo(
        dir.path(),
        "jobs:\n  build:\n    steps:\n      - run: echo ran\n",
    );
    let fixture = Fixture::default();
    let missing = "0123456789abcdef0123456789abcdef01234567".to_string();
    lock(&fixture).hints.push_back(PrefetchHint {
        repo_url: dir.path().join("no-such-repo").display().to_string(),
        commit: missing.clone(),
    });
    let (url, server) = start_server(&fixture).await;
    let work = dir.path().join("agent");
    let agent = start_agent(&url, &work, "agent-1");

    // Named while the fetch runs, then no longer once it failed.
    claim_where(&fixture, |c| {
        c.prefetched.as_deref() == Some(missing.as_str())
    })
    .await;
    let first_named = lock(&fixture)
        .claims
        .iter()
        .position(|c| c.prefetched.is_some())
        .unwrap_or_default();
    let start = Instant::now();
    loop {
        let forgotten = lock(&fixture)
            .claims
            .iter()
            .skip(first_named)
            .any(|c| c.prefetched.is_none());
        if forgotten {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the failed hint was never forgotten"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lock(&fixture)
        .queue
        .push_back(assignment(&repo, 4, "build", Vec::new()));
    let finish = finished(&fixture, 4).await;
    assert_eq!(
        finish.outcome.result,
        JobResult::Success,
        "{:?}",
        finish.outcome.error
    );
    assert_eq!(lines_of(&fixture, 4), vec![(0, "ran".to_string())]);
    agent.stop().await;
    server.abort();
}
