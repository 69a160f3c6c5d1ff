//! Prefetch hints over the real server: a verified webhook delivery answers
//! one waiting agent that accepts hints with the commit (202), the job of
//! that commit prefers an agent that has it ready, and a hint never holds a
//! job back from another agent. The agents here are raw HTTP claims, so the
//! test decides exactly who waits and who comes back.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const GH_PUSH_BEFORE: &str = "a10867b14bb761a232cd80139fbd4c0d33264240";
const GH_PUSH_AFTER: &str = "199eddf46df50de8d02e99bf1c5fdb4101338224";

fn conformance() -> Option<PathBuf> {
    let dir = std::env::var_os("SLIPWAY_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    let hooks = dir.join("webhooks");
    if hooks.is_dir() {
        Some(hooks)
    } else {
        println!("skipped: no conformance data at {}", hooks.display());
        None
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A server without a built-in agent, a project `p` whose push pipeline has
/// one job, an agent token, and a signed GitHub push of a new commit.
struct Setup {
    server: common::TestServer,
    _work: tempfile::TempDir,
    repo_url: String,
    after: String,
    agent_token: String,
    body: Vec<u8>,
}

async fn setup(hooks: &std::path::Path) -> Setup {
    let server = common::start(false).await;
    let work = tempfile::tempdir().expect("tempdir");
    let pipeline = "on:\n  push:\n    branches: [master]\n  manual: {}\njobs:\n  hello:\n    steps:\n      - run: echo hi\n";
    let repo = common::repo_on(work.path(), "master", &[("slipway.yml", pipeline)]);
    let before = common::git(&repo, &["rev-parse", "HEAD"]);
    common::commit(&repo, &[("src/main.rs", "fn main() {}\n")], "second");
    let after = common::git(&repo, &["rev-parse", "HEAD"]);
    common::project(&server, "p", &repo).await;
    let (status, agent) = server
        .post("/tokens", json!({ "name": "agents", "kind": "agent" }))
        .await;
    assert_eq!(status, 201, "{agent}");
    let text = std::fs::read_to_string(hooks.join("go-scm/github/push.json")).expect("payload");
    let body = text
        .replace(GH_PUSH_BEFORE, &before)
        .replace(GH_PUSH_AFTER, &after)
        .into_bytes();
    Setup {
        repo_url: repo.display().to_string(),
        after,
        agent_token: agent["token"].as_str().expect("agent token").to_string(),
        body,
        server,
        _work: work,
    }
}

impl Setup {
    /// A claim in the background: its status and body.
    fn claim(&self, body: Value) -> tokio::task::JoinHandle<(u16, Value)> {
        let request = self
            .server
            .client
            .post(self.server.api("/agent/claim"))
            .bearer_auth(&self.agent_token)
            .json(&body);
        tokio::spawn(async move {
            let response = request.send().await.expect("claim");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }

    /// Delivers the push in the background.
    fn deliver(&self) -> tokio::task::JoinHandle<u16> {
        let request = self
            .server
            .client
            .post(format!("{}/hooks/github/p", self.server.url))
            .header("x-github-event", "push")
            .header("x-hub-signature-256", sign("s3cret", &self.body))
            .body(self.body.clone());
        tokio::spawn(async move { request.send().await.expect("deliver").status().as_u16() })
    }
}

/// Lets claims sent in the background reach the wait list.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hinted_agent_gets_the_hint_then_the_job() {
    let Some(hooks) = conformance() else { return };
    let s = setup(&hooks).await;
    // A plain agent waits first: hints go only to agents that accept them.
    let plain = s.claim(json!({ "agent": "plain", "labels": [], "wait_ms": 3_000 }));
    settle().await;
    let hinted =
        s.claim(json!({ "agent": "a", "labels": [], "wait_ms": 20_000, "prefetch": true }));
    settle().await;
    let delivered = s.deliver();
    let (status, hint) = hinted.await.expect("claim task");
    assert_eq!(status, 202, "{hint}");
    assert_eq!(hint, json!({ "repo_url": s.repo_url, "commit": s.after }));
    // The hinted agent claims again at once, naming the commit; whichever
    // of the two gets the job, it is the pushed commit's, and only one does.
    let again = s.claim(json!({
        "agent": "a", "labels": [], "wait_ms": 3_000, "prefetch": true, "prefetched": s.after,
    }));
    assert_eq!(delivered.await.expect("deliver task"), 202);
    let (again, plain) = (
        again.await.expect("claim task"),
        plain.await.expect("claim task"),
    );
    let jobs: Vec<&Value> = [&again, &plain]
        .into_iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, job)| job)
        .collect();
    assert_eq!(jobs.len(), 1, "{again:?} {plain:?}");
    assert_eq!(jobs[0]["commit"], json!(s.after));
    assert_eq!(jobs[0]["repo_url"], json!(s.repo_url));
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hinted_agent_that_never_comes_back_does_not_hold_the_job() {
    let Some(hooks) = conformance() else { return };
    let s = setup(&hooks).await;
    let hinted =
        s.claim(json!({ "agent": "a", "labels": [], "wait_ms": 20_000, "prefetch": true }));
    let plain = s.claim(json!({ "agent": "b", "labels": [], "wait_ms": 20_000 }));
    settle().await;
    let delivered = s.deliver();
    let (status, hint) = hinted.await.expect("claim task");
    assert_eq!(status, 202, "{hint}");
    // Agent `a` does not claim again (its fetch failed, or it died): the
    // job goes to the other agent waiting.
    assert_eq!(delivered.await.expect("deliver task"), 202);
    let (status, job) = plain.await.expect("claim task");
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["commit"], json!(s.after));
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_the_commit_ready_is_preferred_and_others_still_get_jobs() {
    let Some(hooks) = conformance() else { return };
    let s = setup(&hooks).await;
    // `plain` waits first and would be woken first; `ready` already has the
    // commit (so no hint is sent to anyone) and is preferred for its job.
    let plain = s.claim(json!({ "agent": "plain", "labels": [], "wait_ms": 2_000 }));
    settle().await;
    let ready = s.claim(json!({
        "agent": "ready", "labels": [], "wait_ms": 20_000, "prefetch": true, "prefetched": s.after,
    }));
    settle().await;
    assert_eq!(s.deliver().await.expect("deliver task"), 202);
    let (status, job) = ready.await.expect("claim task");
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["commit"], json!(s.after));
    let (status, nothing) = plain.await.expect("claim task");
    assert_eq!(status, 204, "{nothing}");

    // With no agent accepting hints, a plain agent gets the next job
    // directly (a manual run of the same commit's branch).
    let plain = s.claim(json!({ "agent": "plain", "labels": [], "wait_ms": 20_000 }));
    settle().await;
    let (status, run) = s
        .server
        .post("/projects/p/runs", json!({ "ref": "master" }))
        .await;
    assert_eq!(status, 201, "{run}");
    let (status, job) = plain.await.expect("claim task");
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["commit"], json!(s.after));
    s.server.stop().await;
}
