//! Approval gates end to end: a real server with its built-in agent runs a
//! pipeline whose `approval:` job waits for people voting over the API.

mod common;

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const GATED: &str = r#"
on: { manual: {} }
jobs:
  build:
    steps:
      - run: echo built
  sign-off:
    needs: [build]
    approval:
      approvals: 2
      approvers: [role:maintainer, carol]
      self_approval: false
      timeout: 1h
      inputs:
        ticket: { type: string, required: true }
  ship:
    needs: [sign-off]
    steps:
      - run: echo shipping
"#;

const QUICK_TIMEOUT: &str = r#"
on: { manual: {} }
jobs:
  sign-off:
    approval:
      timeout: 2s
  ship:
    needs: [sign-off]
    steps:
      - run: echo shipping
"#;

async fn post_as(
    server: &common::TestServer,
    token: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = server
        .client
        .post(server.api(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Starts a manual run of project `p` as the token's user.
async fn start_run(server: &common::TestServer, token: &str) -> i64 {
    let (status, run) = post_as(server, token, "/projects/p/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    run["id"].as_i64().expect("run id")
}

/// Waits until the run's gate of `job` is open and pending.
async fn wait_gate(server: &common::TestServer, run: i64, job: &str) -> Value {
    for _ in 0..300 {
        let (status, gates) = server.get(&format!("/runs/{run}/approvals")).await;
        assert_eq!(status, 200, "{gates}");
        if let Some(gate) = gates
            .as_array()
            .and_then(|gates| gates.iter().find(|g| g["job"] == job))
        {
            return gate.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gate of `{job}` in run {run} never opened");
}

fn job<'a>(detail: &'a Value, key: &str) -> Option<&'a Value> {
    detail["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["key"] == key))
}

async fn audit(server: &common::TestServer) -> Vec<Value> {
    let (status, entries) = server.get("/audit?limit=1000").await;
    assert_eq!(status, 200, "{entries}");
    entries.as_array().cloned().unwrap_or_default()
}

async fn audit_intact(server: &common::TestServer) {
    let (status, verdict) = server.get("/audit/verify").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["intact"], true, "{verdict}");
}

async fn gated_project(server: &common::TestServer, work: &std::path::Path, pipeline: &str) {
    let repo = common::repo(work, &[("slipway.yml", pipeline)]);
    common::project(server, "p", &repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_gate_blocks_until_enough_allowed_users_approve() {
    blocks_until_approved(common::start(true).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_gate_on_postgresql() {
    blocks_until_approved(common::start_on_postgres(true).await).await;
}

async fn blocks_until_approved(server: common::TestServer) {
    let work = tempfile::tempdir().expect("tempdir");
    gated_project(&server, work.path(), GATED).await;
    let alice = common::user(&server, "alice", Some("maintainer")).await;
    let bob = common::user(&server, "bob", Some("maintainer")).await;
    // Named in `approvers:`: a viewer may approve.
    let carol = common::user(&server, "carol", Some("viewer")).await;
    let run = start_run(&server, &alice).await;

    let gate = wait_gate(&server, run, "sign-off").await;
    assert_eq!(gate["state"], "pending", "{gate}");
    assert_eq!(gate["required"], 2);
    assert_eq!(gate["approvers"], json!(["role:maintainer", "carol"]));
    assert_eq!(gate["self_approval"], false);
    assert_eq!(gate["started_by"], "alice");
    assert!(gate["deadline_ms"].as_i64() > gate["opened_ms"].as_i64());

    let votes = format!("/runs/{run}/jobs/sign-off/approvals");
    let (status, after_bob) = post_as(
        &server,
        &bob,
        &votes,
        json!({ "approve": true, "comment": "fine by me", "inputs": { "ticket": "OPS-1" } }),
    )
    .await;
    assert_eq!(status, 200, "{after_bob}");
    assert_eq!(after_bob["state"], "pending", "one of two: {after_bob}");
    assert_eq!(after_bob["votes"][0]["user"], "bob");

    let (status, waiting) = server.get("/projects/p/approvals").await;
    assert_eq!(status, 200, "{waiting}");
    assert_eq!(waiting.as_array().map(Vec::len), Some(1), "{waiting}");
    assert_eq!(waiting[0]["run"], run);
    assert_eq!(waiting[0]["job"], "sign-off");
    assert_eq!(waiting[0]["votes"].as_array().map(Vec::len), Some(1));

    // One vote is not enough: the run waits on the gate, `ship` has not run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, detail) = server.get(&format!("/runs/{run}")).await;
    assert_eq!(detail["run"]["status"], "running", "{detail}");
    assert_eq!(
        job(&detail, "sign-off").expect("sign-off")["status"],
        "running"
    );
    assert!(
        job(&detail, "ship").is_none_or(|ship| ship["status"] == "queued"),
        "{detail}"
    );

    let (status, twice) = post_as(
        &server,
        &bob,
        &votes,
        json!({ "approve": true, "inputs": { "ticket": "OPS-1" } }),
    )
    .await;
    assert_eq!(status, 409, "{twice}");
    assert!(
        twice["error"]
            .as_str()
            .unwrap_or("")
            .contains("already voted"),
        "{twice}"
    );
    let (status, missing_input) =
        post_as(&server, &carol, &votes, json!({ "approve": true })).await;
    assert_eq!(status, 422, "{missing_input}");
    assert!(
        missing_input["error"]
            .as_str()
            .unwrap_or("")
            .contains("ticket"),
        "{missing_input}"
    );
    let (status, bad_input) = post_as(
        &server,
        &carol,
        &votes,
        json!({ "approve": true, "inputs": { "ticket": "OPS-2", "extra": 1 } }),
    )
    .await;
    assert_eq!(status, 422, "{bad_input}");

    let (status, decided) = post_as(
        &server,
        &carol,
        &votes,
        json!({ "approve": true, "inputs": { "ticket": "OPS-2" } }),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["state"], "approved", "{decided}");
    assert_eq!(decided["reason"], "approved by bob, carol");

    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    assert_eq!(job(&detail, "ship").expect("ship")["status"], "succeeded");
    assert_eq!(server.get("/projects/p/approvals").await, (200, json!([])));
    let (status, late) = post_as(&server, &server.token, &votes, json!({ "approve": false })).await;
    assert_eq!(status, 409, "{late}");
    assert!(
        late["error"]
            .as_str()
            .unwrap_or("")
            .contains("already decided"),
        "{late}"
    );

    let entries = audit(&server).await;
    let target = format!("run {run} job sign-off gate approval");
    let of_gate: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["target"] == target.as_str())
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        of_gate,
        [
            ("approval.vote", "bob"),
            ("approval.vote", "carol"),
            ("approval.decided", "carol"),
        ]
    );
    audit_intact(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_role_gets_403_and_a_rejection_fails_the_job_with_its_comment() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    gated_project(&server, work.path(), GATED).await;
    let dave = common::user(&server, "dave", Some("developer")).await;
    let stranger = common::user(&server, "eve", None).await;
    let run = start_run(&server, &dave).await;
    wait_gate(&server, run, "sign-off").await;
    let votes = format!("/runs/{run}/jobs/sign-off/approvals");

    let (status, refused) = post_as(
        &server,
        &dave,
        &votes,
        json!({ "approve": true, "inputs": { "ticket": "X" } }),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let why = refused["error"].as_str().unwrap_or("");
    assert!(
        why.contains("not among this gate's approvers: role:maintainer, carol"),
        "{refused}"
    );
    let (status, refused) = post_as(&server, &stranger, &votes, json!({ "approve": false })).await;
    assert_eq!(status, 403, "{refused}");
    let (status, unknown) = post_as(
        &server,
        &server.token,
        &format!("/runs/{run}/jobs/nope/approvals"),
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(status, 404, "{unknown}");
    let (status, no_gate) = post_as(
        &server,
        &server.token,
        &format!("/runs/{run}/jobs/build/approvals"),
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(status, 404, "{no_gate}");

    // A server admin counts as a project admin: above role:maintainer.
    let (status, rejected) = post_as(
        &server,
        &server.token,
        &votes,
        json!({ "approve": false, "comment": "not during the sale" }),
    )
    .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["state"], "rejected");
    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "failed", "{detail}");
    let sign_off = job(&detail, "sign-off").expect("sign-off");
    assert_eq!(sign_off["status"], "failed");
    assert_eq!(
        sign_off["reason"], "rejected by admin: not during the sale",
        "{detail}"
    );
    assert_ne!(
        job(&detail, "ship").map(|j| j["status"].clone()),
        Some(json!("succeeded"))
    );
    let entries = audit(&server).await;
    let actions: Vec<&str> = entries
        .iter()
        .filter(|e| e["target"] == format!("run {run} job sign-off gate approval").as_str())
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["approval.vote", "approval.decided"]);
    audit_intact(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_false_refuses_the_runs_starter() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    gated_project(&server, work.path(), GATED).await;
    let alice = common::user(&server, "alice", Some("maintainer")).await;
    let run = start_run(&server, &alice).await;
    wait_gate(&server, run, "sign-off").await;
    let (status, refused) = post_as(
        &server,
        &alice,
        &format!("/runs/{run}/jobs/sign-off/approvals"),
        json!({ "approve": true, "inputs": { "ticket": "OPS-1" } }),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .contains("self_approval is off"),
        "{refused}"
    );
    let gate = wait_gate(&server, run, "sign-off").await;
    assert_eq!(gate["votes"], json!([]), "a refused vote is not stored");

    // Cancelling the run ends the agent's wait.
    let (status, _) = server.post(&format!("/runs/{run}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "cancelled", "{detail}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_rejects_and_a_later_vote_gets_409() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    gated_project(&server, work.path(), QUICK_TIMEOUT).await;
    let run = start_run(&server, &server.token).await;
    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "failed", "{detail}");
    let sign_off = job(&detail, "sign-off").expect("sign-off");
    assert_eq!(
        sign_off["reason"], "timed out after 2s: rejected",
        "{detail}"
    );
    assert!(job(&detail, "ship").is_none_or(|j| j["status"] != "succeeded"));

    let (status, late) = server
        .post(
            &format!("/runs/{run}/jobs/sign-off/approvals"),
            json!({ "approve": true }),
        )
        .await;
    assert_eq!(status, 409, "{late}");
    assert!(
        late["error"]
            .as_str()
            .unwrap_or("")
            .contains("the approval timed out: timed out after 2s: rejected"),
        "{late}"
    );
    let gate = wait_gate(&server, run, "sign-off").await;
    assert_eq!(gate["state"], "timed_out");
    let decided = audit(&server)
        .await
        .into_iter()
        .filter(|e| e["action"] == "approval.decided")
        .map(|e| e["actor"].clone())
        .collect::<Vec<_>>();
    assert_eq!(decided, [json!("system")]);
    audit_intact(&server).await;
    server.stop().await;
}

const ON_PUSH: &str = r#"
on: { push: { branches: [main] } }
jobs:
  sign-off:
    approval:
      self_approval: false
      approvers: [octocat, admin]
"#;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_runs_starter_is_the_forges_sender() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(work.path(), &[("slipway.yml", ON_PUSH)]);
    let head = common::git(&repo, &["rev-parse", "HEAD"]);
    common::project(&server, "p", &repo).await;
    let octocat = common::user(&server, "octocat", Some("maintainer")).await;
    let body = json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": head,
        "repository": { "full_name": "octo/p", "clone_url": repo.display().to_string() },
        "sender": { "login": "octocat" },
    })
    .to_string()
    .into_bytes();
    let response = server
        .client
        .post(format!("{}/hooks/github/p", server.url))
        .header("x-github-event", "push")
        .header("x-hub-signature-256", sign("s3cret", &body))
        .body(body)
        .send()
        .await
        .expect("deliver");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 202, "{answer}");
    let run = answer["runs"][0].as_i64().expect("a run started");
    let gate = wait_gate(&server, run, "sign-off").await;
    assert_eq!(gate["started_by"], "octocat", "{gate}");
    let (status, refused) = post_as(
        &server,
        &octocat,
        &format!("/runs/{run}/jobs/sign-off/approvals"),
        json!({ "approve": true }),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, approved) = server
        .post(
            &format!("/runs/{run}/jobs/sign-off/approvals"),
            json!({ "approve": true }),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(server.wait_run(run).await["run"]["status"], "succeeded");
    server.stop().await;
}

const WITH_MESSAGE: &str = r#"
on: { manual: {} }
jobs:
  build:
    steps:
      - id: v
        run: echo "version=4.2 <b> $KEY" >> "$SLIPWAY_OUTPUT"
        env:
          KEY: ${{ secrets.DEPLOY_KEY }}
    outputs:
      version: ${{ steps.v.outputs.version }}
  sign-off:
    needs: [build]
    approval:
      message: "Ship ${{ needs.build.outputs.version }}?\nSay yes."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_shows_its_rendered_message_with_secrets_masked() {
    const KEY: &str = "k3y-never-shown-5521";
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    gated_project(&server, work.path(), WITH_MESSAGE).await;
    let response = server
        .client
        .put(server.api("/projects/p/secrets/DEPLOY_KEY"))
        .bearer_auth(&server.token)
        .json(&json!({ "value": KEY }))
        .send()
        .await
        .expect("secret");
    assert!(response.status().is_success());
    let run = start_run(&server, &server.token).await;

    let gate = wait_gate(&server, run, "sign-off").await;
    let message = gate["message"].as_str().expect("a message");
    // Rendered by the agent, the secret in the output masked there.
    assert_eq!(message, "Ship 4.2 <b> ***?\nSay yes.");
    let (_, waiting) = server.get("/projects/p/approvals").await;
    assert_eq!(waiting[0]["message"], message, "{waiting}");

    // The run page shows it as text.
    let page = server
        .client
        .get(format!("{}/runs/{run}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(
            "<blockquote class=\"gate-message\">Ship 4.2 &lt;b&gt; ***?\nSay yes.</blockquote>"
        ),
        "{page}"
    );
    assert!(!page.contains(KEY));

    let (status, decided) = server
        .post(
            &format!("/runs/{run}/jobs/sign-off/approvals"),
            json!({ "approve": true }),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["message"], message);
    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    server.stop().await;
}
