//! Real webhook payloads delivered to a real `slipway server` process
//! (with a remote `slipway agent`): a signed push starts a run that
//! succeeds; a tampered body and a missing signature get 401 and create
//! nothing. The payload is GitHub's own (shared conformance data), its
//! commits replaced by the local repository's.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "webhook-s3cret";
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

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_push_runs_tampered_and_unsigned_are_refused() {
    let Some(hooks) = conformance() else { return };
    let data = tempfile::tempdir().expect("data");
    let work = tempfile::tempdir().expect("work");
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    git(&repo, &["init", "-q", "-b", "master"]);
    std::fs::write(
        repo.join("slipway.yml"),
        "on:\n  push:\n    branches: [master]\njobs:\n  hello:\n    steps:\n      - run: echo delivered\n",
    )
    .expect("pipeline");
    let commit = |message: &str| {
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
                "--allow-empty",
                "-m",
                message,
            ],
        );
        git(&repo, &["rev-parse", "HEAD"])
    };
    let before = commit("one");
    let after = commit("two");

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = Killed(
        slipway()
            .args([
                "server",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data.path())
            .spawn()
            .expect("server"),
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let healthy = http.get(format!("{url}/healthz")).send().await;
        if healthy.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = std::fs::read_to_string(data.path().join("admin-token"))
        .expect("token")
        .trim()
        .to_string();
    let api = |path: &str| format!("{url}/api/v1{path}");
    let agent_token: Value = http
        .post(api("/tokens"))
        .bearer_auth(&token)
        .json(&json!({ "name": "a", "kind": "agent" }))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let _agent = Killed(
        slipway()
            .args(["agent", "--server", &url, "--name", "a", "--token"])
            .arg(agent_token["token"].as_str().expect("agent token"))
            .arg("--work-dir")
            .arg(work.path().join("agent"))
            .spawn()
            .expect("agent"),
    );
    let created = http
        .post(api("/projects"))
        .bearer_auth(&token)
        .json(&json!({ "name": "hooked", "repo_url": repo.display().to_string(), "default_branch": "master", "webhook_secret": SECRET, "settings": { "poll_interval_secs": 0 } }))
        .send()
        .await
        .expect("project");
    assert_eq!(created.status().as_u16(), 201);

    let text = std::fs::read_to_string(hooks.join("go-scm/github/push.json")).expect("payload");
    let body = text
        .replace(GH_PUSH_BEFORE, &before)
        .replace(GH_PUSH_AFTER, &after)
        .into_bytes();
    let deliver = |body: Vec<u8>, signature: Option<String>| {
        let mut request = http
            .post(format!("{url}/hooks/github/hooked"))
            .header("x-github-event", "push")
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send()
    };
    let mut tampered = body.clone();
    if let Some(byte) = tampered.iter_mut().find(|b| **b == b'M') {
        *byte = b'N';
    }
    let answer = deliver(tampered, Some(sign(&body)))
        .await
        .expect("tampered");
    assert_eq!(answer.status().as_u16(), 401);
    let answer = deliver(body.clone(), None).await.expect("unsigned");
    assert_eq!(answer.status().as_u16(), 401);
    let runs: Value = http
        .get(api("/runs?project=hooked"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("runs")
        .json()
        .await
        .expect("json");
    assert_eq!(runs, json!([]), "refused deliveries create nothing");

    let answer = deliver(body.clone(), Some(sign(&body)))
        .await
        .expect("signed");
    assert_eq!(answer.status().as_u16(), 202);
    let answer: Value = answer.json().await.expect("json");
    assert_eq!(answer["result"], "started", "{answer}");
    let run = answer["runs"][0].as_i64().expect("a run");
    let deadline = Instant::now() + Duration::from_secs(120);
    let detail = loop {
        let detail: Value = http
            .get(api(&format!("/runs/{run}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        if matches!(
            detail["run"]["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            break detail;
        }
        assert!(Instant::now() < deadline, "the run never ended: {detail}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    assert_eq!(detail["run"]["commit"], after.as_str());
    assert_eq!(detail["jobs"][0]["agent"], "a");
}
