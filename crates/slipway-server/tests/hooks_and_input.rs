//! Real webhook payloads (signed, tampered, unsigned) delivered over HTTP to
//! a real server; bad input of every kind; roles.

mod common;

use std::path::PathBuf;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

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

const GH_PUSH_BEFORE: &str = "a10867b14bb761a232cd80139fbd4c0d33264240";
const GH_PUSH_AFTER: &str = "199eddf46df50de8d02e99bf1c5fdb4101338224";

async fn deliver(
    server: &common::TestServer,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}{path}", server.url))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("deliver");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_push_signed_runs_tampered_and_unsigned_get_401() {
    let Some(hooks) = conformance() else { return };
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let pipeline = "on:\n  push:\n    branches: [master]\njobs:\n  hello:\n    steps:\n      - run: echo from a webhook\n";
    let repo = common::repo_on(work.path(), "master", &[("slipway.yml", pipeline)]);
    let before = common::git(&repo, &["rev-parse", "HEAD"]);
    common::commit(&repo, &[("src/main.rs", "fn main() {}\n")], "second");
    let after = common::git(&repo, &["rev-parse", "HEAD"]);
    common::project(&server, "hello", &repo).await;
    let text = std::fs::read_to_string(hooks.join("go-scm/github/push.json")).expect("payload");
    let body = text
        .replace(GH_PUSH_BEFORE, &before)
        .replace(GH_PUSH_AFTER, &after)
        .into_bytes();

    let mut tampered = body.clone();
    if let Some(byte) = tampered.iter_mut().find(|b| **b == b'M') {
        *byte = b'N';
    }
    let signature = sign("s3cret", &body);
    let event = ("x-github-event", "push".to_string());
    let (status, answer) = deliver(
        &server,
        "/hooks/github/hello",
        &[event.clone(), ("x-hub-signature-256", signature.clone())],
        tampered,
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = deliver(
        &server,
        "/hooks/github/hello",
        std::slice::from_ref(&event),
        body.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = deliver(
        &server,
        "/hooks/github/hello",
        &[event.clone(), ("x-hub-signature-256", sign("wrong", &body))],
        body.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let (_, runs) = server.get("/runs?project=hello").await;
    assert_eq!(runs, json!([]), "a bad signature creates nothing");

    let (status, answer) = deliver(
        &server,
        "/hooks/github/hello",
        &[event.clone(), ("x-hub-signature-256", signature)],
        body.clone(),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["result"], "started", "{answer}");
    let run = answer["runs"][0].as_i64().expect("run id");
    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    assert_eq!(detail["run"]["commit"], after.as_str());

    // An event Slipway does not act on.
    let release = br#"{"action":"published"}"#.to_vec();
    let (status, answer) = deliver(
        &server,
        "/hooks/github/hello",
        &[
            ("x-github-event", "release".to_string()),
            ("x-hub-signature-256", sign("s3cret", &release)),
        ],
        release,
    )
    .await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (202, Some("ignored")),
        "{answer}"
    );
    // Unknown project and forge.
    let (status, _) = deliver(
        &server,
        "/hooks/github/nope",
        std::slice::from_ref(&event),
        body.clone(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = deliver(&server, "/hooks/bitbucket/hello", &[event], body).await;
    assert_eq!(status, 404);

    // A delivery whose commit is gone still becomes a failed run.
    let missing = text
        .replace(GH_PUSH_BEFORE, &before)
        .replace(GH_PUSH_AFTER, "0123456789abcdef0123456789abcdef01234567")
        .into_bytes();
    let (status, answer) = deliver(
        &server,
        "/hooks/github/hello",
        &[
            ("x-github-event", "push".to_string()),
            ("x-hub-signature-256", sign("s3cret", &missing)),
        ],
        missing,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let failed = answer["runs"][0].as_i64().expect("a failed run");
    let detail = server.wait_run(failed).await;
    assert_eq!(detail["run"]["status"], "failed");
    assert!(
        detail["run"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("0123456789abcdef"),
        "{detail}"
    );

    let metrics = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("slipway_webhook_deliveries_total{result=\"started\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("slipway_webhook_deliveries_total{result=\"rejected\"}"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_stores_nothing() {
    let server = common::start(false).await;
    let api = |p: &str| server.api(p);
    let auth = format!("Bearer {}", server.token);

    // No token, a wrong token.
    let status = server
        .client
        .get(api("/runs"))
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 401);
    let status = server
        .client
        .get(api("/runs"))
        .header("authorization", "Bearer slw_nope")
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 401);
    // Malformed JSON, wrong content type, too large.
    let response = server
        .client
        .post(api("/projects"))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body("{\"repo_url\": ")
        .send()
        .await
        .expect("req");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json error");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("malformed JSON"),
        "{body}"
    );
    let status = server
        .client
        .post(api("/projects"))
        .header("authorization", &auth)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 415);
    let huge = format!("{{\"repo_url\": \"{}\"}}", "x".repeat(9 * 1024 * 1024));
    // A client of its own: the server closes the connection after refusing
    // a body it did not read, which must not break the next request's.
    let status = reqwest::Client::new()
        .post(api("/projects"))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 413);
    // Names full of quotes and SQL are refused clearly, not executed.
    let (status, body) = server
        .post(
            "/projects",
            json!({ "name": "x'; DROP TABLE runs; --", "repo_url": "/tmp/r" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, projects) = server.get("/projects").await;
    assert_eq!((status, projects), (200, json!([])));
    // Unknown things.
    assert_eq!(server.get("/runs/999999").await.0, 404);
    assert_eq!(server.get("/projects/none").await.0, 404);
    assert_eq!(server.get("/runs?status=bogus").await.0, 422);
    assert_eq!(server.get("/nowhere").await.0, 404);
    // Objects: names must be digests (no path traversal).
    let status = server
        .client
        .get(api("/agent/objects/..%2F..%2Fetc%2Fpasswd"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 400);
    let status = server
        .client
        .put(api(&format!("/agent/objects/{}", "ab".repeat(32))))
        .header("authorization", &auth)
        .body("not those bytes")
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 422);
    // A bad Last-Event-ID.
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(
        work.path(),
        &[(
            "slipway.yml",
            "on: { manual: {} }\njobs:\n  a:\n    steps:\n      - run: 'true'\n",
        )],
    );
    common::project(&server, "p", &repo).await;
    let (status, run) = server
        .post("/projects/p/runs", json!({ "ref": "no-such-branch" }))
        .await;
    assert_eq!(status, 422, "{run}");
    let (status, run) = server.post("/projects/p/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    let status = server
        .client
        .get(api(&format!("/runs/{}/logs", run["id"])))
        .header("authorization", &auth)
        .header("last-event-id", "x:y:z")
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 400);
    // The OpenAPI document is served and names the routes.
    let (status, doc) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/runs/{id}/logs",
        "/api/v1/agent/claim",
        "/hooks/{forge}/{project}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_a_token_may_do() {
    let server = common::start(false).await;
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(
        work.path(),
        &[(
            "slipway.yml",
            "on: { manual: {} }\njobs:\n  a:\n    steps:\n      - run: 'true'\n",
        )],
    );
    common::project(&server, "p", &repo).await;
    let (status, dev) = server.post("/users", json!({ "name": "dana" })).await;
    assert_eq!(status, 201, "{dev}");
    let dev_token = dev["token"].as_str().expect("token").to_string();
    let as_dev = |method: reqwest::Method, path: &str| {
        server
            .client
            .request(method, server.api(path))
            .bearer_auth(&dev_token)
    };
    // No role yet: the project is invisible, triggering forbidden.
    let projects: Value = as_dev(reqwest::Method::GET, "/projects")
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(projects, json!([]));
    let status = as_dev(reqwest::Method::POST, "/projects/p/runs")
        .json(&json!({}))
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 403);
    // Viewer: may look, not run.
    let response = server
        .client
        .put(server.api("/projects/p/roles/dana"))
        .bearer_auth(&server.token)
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .expect("req");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        as_dev(reqwest::Method::GET, "/projects/p")
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    assert_eq!(
        as_dev(reqwest::Method::POST, "/projects/p/runs")
            .json(&json!({}))
            .send()
            .await
            .expect("req")
            .status(),
        403
    );
    // Developer: may run, not read secrets or create projects.
    server
        .client
        .put(server.api("/projects/p/roles/dana"))
        .bearer_auth(&server.token)
        .json(&json!({ "role": "developer" }))
        .send()
        .await
        .expect("req");
    assert_eq!(
        as_dev(reqwest::Method::POST, "/projects/p/runs")
            .json(&json!({}))
            .send()
            .await
            .expect("req")
            .status(),
        201
    );
    assert_eq!(
        as_dev(reqwest::Method::GET, "/projects/p/secrets")
            .send()
            .await
            .expect("req")
            .status(),
        403
    );
    assert_eq!(
        as_dev(reqwest::Method::PUT, "/projects/p/secrets/X")
            .json(&json!({"value": "v"}))
            .send()
            .await
            .expect("req")
            .status(),
        403
    );
    assert_eq!(
        as_dev(reqwest::Method::POST, "/projects")
            .json(&json!({"repo_url": "/x"}))
            .send()
            .await
            .expect("req")
            .status(),
        403
    );
    // An agent token may not act on projects; a personal token may not claim.
    let (_, agent) = server
        .post("/tokens", json!({ "name": "a1", "kind": "agent" }))
        .await;
    let agent_token = agent["token"].as_str().expect("agent token");
    let status = server
        .client
        .get(server.api("/projects/p"))
        .bearer_auth(agent_token)
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 403);
    let status = as_dev(reqwest::Method::POST, "/agent/claim")
        .json(&json!({"agent": "x", "labels": [], "wait_ms": 0}))
        .send()
        .await
        .expect("req")
        .status();
    assert_eq!(status, 403);
    server.stop().await;
}
