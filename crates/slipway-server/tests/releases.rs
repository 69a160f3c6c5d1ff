//! Releases through the server and its built-in agent: a pipeline that
//! builds the demo service and deploys it to staging, then to production
//! (which `requires: [staging]`), leaves two releases and their audit
//! entries; a push-button release of a digest that never passed staging is
//! refused with the reason; one of the staging-passed digest runs and leaves
//! a third release; DORA counts what the records hold.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

async fn releases(server: &common::TestServer, query: &str) -> Vec<Value> {
    let (status, list) = server.get(&format!("/projects/shop/releases{query}")).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().cloned().unwrap_or_default()
}

async fn audit_actions(server: &common::TestServer) -> Vec<(String, String, Value)> {
    let (status, entries) = server.get("/audit?limit=1000").await;
    assert_eq!(status, 200, "{entries}");
    entries
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("release."))
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["target"].as_str().unwrap_or_default().to_string(),
                e["details"].clone(),
            )
        })
        .collect()
}

/// Approves the run's `sign-off` gate as soon as it is open.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_promotion_push_button_and_dora() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let (staging_port, production_port, frozen_port) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let repo = common::repo(
        work.path(),
        &[
            (
                "slipway.yml",
                &common::release_pipeline(&common::demo_binary()),
            ),
            (
                ".slipway/environments/staging.yml",
                &common::demo_environment("", "one", staging_port),
            ),
            (
                ".slipway/environments/production.yml",
                &common::demo_environment("requires: [staging]\n", "one", production_port),
            ),
            // Frozen for this whole century: only an admin's override deploys there.
            (
                ".slipway/environments/frozen.yml",
                &common::demo_environment(
                    "freeze:\n  - {name: forever, from: 2000-01-01T00:00:00Z, until: 2100-01-01T00:00:00Z}\n",
                    "one",
                    frozen_port,
                ),
            ),
        ],
    );
    common::project(&server, "shop", &repo).await;
    let states = ["staging", "production", "frozen"]
        .map(|env| {
            server
                .data
                .path()
                .join(format!("agent/environments/shop/{env}/state.json"))
        })
        .to_vec();
    let _stop = common::StopTargets(states);

    // Nothing released yet: a push-button release has no digest to take.
    let (status, refused) = server
        .post(
            "/projects/shop/releases",
            json!({ "environment": "staging" }),
        )
        .await;
    assert_eq!(status, 409, "{refused}");

    // The pipeline: build, staging, production.
    let (status, run) = server.post("/projects/shop/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_i64().expect("id");
    let vote = common::approve_when_open(&server, run_id, "sign-off", "ship it").await;
    assert_eq!(vote["state"], "approved", "{vote}");
    let detail = server.wait_run(run_id).await;
    let lines = common::read_logs(&server, run_id, "").await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}\n{lines:?}");

    let listed = releases(&server, "").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let (production, staging) = (&listed[0], &listed[1]);
    assert_eq!(production["environment"], "production", "newest first");
    assert_eq!(staging["environment"], "staging");
    for release in [production, staging] {
        assert_eq!(release["outcome"], "succeeded", "{release}");
        assert_eq!(release["kind"], "deploy", "{release}");
        assert_eq!(release["run_id"], run_id, "{release}");
        assert_eq!(release["artifact"], "app", "{release}");
    }
    let digest = staging["digest"].as_str().expect("digest").to_string();
    assert_eq!(production["digest"], digest.as_str(), "one digest promoted");
    assert_eq!(
        releases(&server, "?env=staging").await.len(),
        1,
        "filtered by environment"
    );
    assert_eq!(
        releases(&server, "?limit=1").await[0]["id"],
        production["id"]
    );

    let (status, whole) = server
        .get(&format!("/projects/shop/releases/{}", staging["id"]))
        .await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["release"]["id"], staging["id"]);
    assert_eq!(whole["record"]["digest"], digest.as_str());
    assert_eq!(whole["record"]["environment"], "staging");
    assert_eq!(
        whole["record"]["targets"].as_array().map(Vec::len),
        Some(1),
        "{whole}"
    );
    // The production release carries the gate passed on the way (the server's record of it).
    let (status, whole) = server
        .get(&format!("/projects/shop/releases/{}", production["id"]))
        .await;
    assert_eq!(status, 200, "{whole}");
    let approvals = whole["record"]["approvals"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(approvals.len(), 1, "{whole}");
    assert_eq!(approvals[0]["job_key"], "sign-off", "{whole}");
    assert_eq!(approvals[0]["approved"], true, "{whole}");
    assert_eq!(approvals[0]["votes"][0]["comment"], "ship it", "{whole}");
    let (status, _) = server.get("/projects/shop/releases/999999").await;
    assert_eq!(status, 404);

    let audited = audit_actions(&server).await;
    for (release, env) in [(staging, "staging"), (production, "production")] {
        let entry = audited
            .iter()
            .find(|(action, target, _)| {
                action == "release.succeeded" && *target == format!("shop {env} {digest}")
            })
            .unwrap_or_else(|| panic!("no audit entry for {env}: {audited:?}"));
        assert_eq!(entry.2["run"], run_id, "{entry:?}");
        assert_eq!(entry.2["release"], release["id"], "{entry:?}");
        assert_eq!(entry.2["digest"], digest.as_str());
        assert_eq!(entry.2["outcome"], "succeeded");
    }

    // A digest that never passed staging cannot go to production.
    let never = "f".repeat(64);
    let (status, refused) = server
        .post(
            "/projects/shop/releases",
            json!({ "environment": "production", "digest": never }),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let reason = refused["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("staging") && reason.contains(&never),
        "{reason}"
    );
    // Roles: a developer may not release; a maintainer may not override a freeze.
    let (status, user) = server.post("/users", json!({ "name": "dev" })).await;
    assert_eq!(status, 201, "{user}");
    let token = user["token"].as_str().expect("token").to_string();
    let as_dev = |body: Value| {
        let request = server
            .client
            .post(server.api("/projects/shop/releases"))
            .bearer_auth(&token)
            .json(&body);
        async move { request.send().await.expect("request").status().as_u16() }
    };
    for (role, body, expected) in [
        ("developer", json!({ "environment": "production" }), 403),
        (
            "maintainer",
            json!({ "environment": "production", "override_freeze": "hotfix" }),
            403,
        ),
    ] {
        let response = server
            .client
            .put(server.api("/projects/shop/roles/dev"))
            .bearer_auth(&server.token)
            .json(&json!({ "role": role }))
            .send()
            .await
            .expect("role");
        assert_eq!(response.status().as_u16(), 204);
        assert_eq!(as_dev(body).await, expected, "{role}");
    }
    assert_eq!(
        releases(&server, "").await.len(),
        2,
        "nothing refused left a release"
    );

    // The staging-passed digest (the default) goes to production as a release run.
    let (status, started) = server
        .post(
            "/projects/shop/releases",
            json!({ "environment": "production" }),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["digest"], digest.as_str(), "{started}");
    assert_eq!(started["artifact"], "app");
    assert_eq!(started["run"]["trigger"], "release");
    let release_run = started["run"]["id"].as_i64().expect("run id");
    let detail = server.wait_run(release_run).await;
    let lines = common::read_logs(&server, release_run, "").await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}\n{lines:?}");
    let jobs: Vec<&str> = detail["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["key"].as_str())
        .collect();
    assert_eq!(jobs, ["release"], "{detail}");
    let listed = releases(&server, "").await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let newest = &listed[0];
    assert_eq!(newest["kind"], "release", "{newest}");
    assert_eq!(newest["environment"], "production");
    assert_eq!(newest["digest"], digest.as_str());
    assert_eq!(newest["outcome"], "succeeded");
    assert_eq!(newest["run_id"], release_run);
    assert!(
        audit_actions(&server)
            .await
            .iter()
            .any(|(action, _, details)| action == "release.start" && details["run"] == release_run),
        "the push-button release is audited"
    );

    // A frozen environment: refused without an override (the run fails saying
    // which window), deployed with an admin's, which the release record keeps.
    let (status, started) = server
        .post(
            "/projects/shop/releases",
            json!({ "environment": "frozen", "digest": digest }),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let refused_run = started["run"]["id"].as_i64().expect("run id");
    let detail = server.wait_run(refused_run).await;
    let lines = common::read_logs(&server, refused_run, "").await;
    assert_eq!(detail["run"]["status"], "failed", "{detail}");
    assert!(
        lines.iter().any(|l| {
            let text = l.to_string();
            text.contains("frozen by") && text.contains("forever")
        }),
        "{lines:?}"
    );
    let (status, started) = server
        .post(
            "/projects/shop/releases",
            json!({ "environment": "frozen", "digest": digest, "override_freeze": "hotfix for INC-42" }),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let override_run = started["run"]["id"].as_i64().expect("run id");
    let detail = server.wait_run(override_run).await;
    let lines = common::read_logs(&server, override_run, "").await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}\n{lines:?}");
    let frozen = releases(&server, "?env=frozen").await;
    let Some(newest) = frozen.first() else {
        panic!("no release to the frozen environment: {frozen:?}");
    };
    let id = newest["id"].as_i64().expect("release id");
    let (status, detail) = server.get(&format!("/projects/shop/releases/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        detail["record"]["freeze_override"], "hotfix for INC-42",
        "{detail}"
    );

    // DORA from the records: production had two successful changes, staging one.
    let (status, dora) = server
        .get("/dora?project=shop&env=production&since=86400")
        .await;
    assert_eq!(status, 200, "{dora}");
    assert_eq!(dora["environment"], "production");
    assert_eq!(dora["deployment_frequency"]["releases"], 2, "{dora}");
    assert_eq!(dora["change_failure_rate"]["releases"], 2, "{dora}");
    assert_eq!(dora["change_failure_rate"]["failed"], 0, "{dora}");
    assert_eq!(dora["change_failure_rate"]["rate"], 0.0, "{dora}");
    let lead = &dora["lead_time"];
    assert_eq!(
        lead["measured"].as_u64().unwrap_or(99)
            + lead["without_commit_time"].as_u64().unwrap_or(99),
        2,
        "{dora}"
    );
    let (status, dora) = server
        .get("/dora?project=shop&env=staging&since=86400")
        .await;
    assert_eq!(status, 200, "{dora}");
    assert_eq!(dora["deployment_frequency"]["releases"], 1, "{dora}");
    let (status, _) = server.get("/dora?project=nope&env=staging").await;
    assert_eq!(status, 404);

    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("server stops");
}
