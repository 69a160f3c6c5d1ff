//! The environment and release pages over HTTP, after a real release: a
//! pipeline builds the demo service, deploys it to staging, waits for a
//! person's approval (with a hostile comment) and deploys to production
//! through the server's built-in agent. The pages then show the topology,
//! the timeline with the digest and the approval (escaped), the release's
//! evidence and DORA; refusals keep the API's statuses.

mod common;

use std::time::Duration;

use serde_json::json;

/// An approval comment no page may interpret as markup.
const HOSTILE: &str = "<script>alert(\"pwned\")</script> ship it & go";

/// A UI page: its status and HTML.
async fn page(server: &common::TestServer, path: &str) -> (u16, String) {
    let response = server
        .client
        .get(format!("{}{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn assert_escaped(html: &str) {
    assert!(
        !html.contains("<script>alert"),
        "a hostile comment reached the page as markup"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_and_release_pages_after_a_real_release() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(
        work.path(),
        &[
            (
                "slipway.yml",
                &common::release_pipeline(&common::demo_binary()),
            ),
            (
                ".slipway/environments/staging.yml",
                &common::demo_environment("", "web-1", common::free_port()),
            ),
            (
                ".slipway/environments/production.yml",
                &common::demo_environment("", "web-1", common::free_port()),
            ),
        ],
    );
    common::project(&server, "shop", &repo).await;
    let _stop = common::StopTargets(
        ["staging", "production"]
            .map(|env| {
                server
                    .data
                    .path()
                    .join(format!("agent/environments/shop/{env}/state.json"))
            })
            .to_vec(),
    );

    // Before any release: the pages say so.
    let (status, html) = page(&server, "/projects/shop/releases").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("No releases yet"), "{html}");
    let (status, html) = page(&server, "/projects/shop/environments").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Nothing was deployed yet"), "{html}");

    let (status, run) = server.post("/projects/shop/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_i64().expect("id");
    common::approve_when_open(&server, run_id, "sign-off", HOSTILE).await;
    let detail = server.wait_run(run_id).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    let (_, listed) = server.get("/projects/shop/releases").await;
    let production = listed[0].clone();
    assert_eq!(production["environment"], "production", "{listed}");
    let digest = production["digest"].as_str().expect("digest").to_string();
    let release_id = production["id"].as_i64().expect("id");

    // The timeline: both environments, the digest, the approval escaped, the run, DORA.
    let (status, html) = page(&server, "/projects/shop/releases").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("text/html") || html.starts_with("<!doctype html>"));
    assert_escaped(&html);
    for expected in [
        digest.as_str(),
        "✔ approved <strong>sign-off</strong>",
        "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; ship it &amp; go",
        &format!("<a href=\"/runs/{run_id}\">run {run_id}</a>"),
        &format!("href=\"/projects/shop/releases/{release_id}\""),
        "Deployment frequency",
        "Started by admin",
        "production: releases per day by outcome",
        "staging: releases per day by outcome",
    ] {
        assert!(html.contains(expected), "{expected}\n{html}");
    }
    let production_at = html.find("id=\"env-0-h\"").expect("a first environment");
    let staging_at = html.find("id=\"env-1-h\"").expect("a second environment");
    assert!(production_at < staging_at);
    assert!(
        html[production_at..staging_at].contains("production"),
        "the newest release's environment comes first"
    );

    // Filtered to one environment.
    let (status, html) = page(&server, "/projects/shop/releases?env=staging").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Releases of shop to staging"), "{html}");
    assert!(!html.contains("production: releases per day"), "{html}");

    // The release with its evidence.
    let (status, html) = page(&server, &format!("/projects/shop/releases/{release_id}")).await;
    assert_eq!(status, 200, "{html}");
    assert_escaped(&html);
    for expected in [
        format!("Release {release_id} to production"),
        format!("<code class=\"digest\">{digest}</code>"),
        "succeeded".to_string(),
        "No verification steps.".to_string(),
        "web-1".to_string(),
    ] {
        assert!(html.contains(&expected), "{expected}\n{html}");
    }

    // The environment: topology with the deployed digest, serving and healthy.
    let (status, html) = page(&server, "/projects/shop/environments/production").await;
    assert_eq!(status, 200, "{html}");
    assert_escaped(&html);
    for expected in [
        "<th scope=\"row\">web-1</th>",
        digest.as_str(),
        "<span class=\"badge s-ok\">serving</span>",
        "<span class=\"badge s-ok\">healthy</span>",
        "no load balancer",
        "Latest releases",
    ] {
        assert!(html.contains(expected), "{expected}\n{html}");
    }
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "nothing in progress: no refresh"
    );
    let (status, html) = page(&server, "/projects/shop/environments").await;
    assert_eq!(status, 200, "{html}");
    for expected in [
        "href=\"/projects/shop/environments/production\"",
        "href=\"/projects/shop/environments/staging\"",
    ] {
        assert!(html.contains(expected), "{expected}\n{html}");
    }

    // Refusals keep the API's statuses, as pages.
    for (path, expected) in [
        ("/projects/nope/releases", 404),
        ("/projects/shop/releases/999999", 404),
        ("/projects/shop/releases?env=%3Cx%3E", 400),
        ("/projects/shop/environments/nowhere", 404),
        ("/projects/shop/environments/%3Cscript%3E", 400),
    ] {
        let (status, html) = page(&server, path).await;
        assert_eq!(status, expected, "{path}: {html}");
        assert!(html.contains("role=\"alert\""), "{path}: {html}");
        assert!(!html.contains("<script>"), "{path}: {html}");
    }
    // A user without a role on the project sees none of it.
    let (status, user) = server.post("/users", json!({ "name": "outsider" })).await;
    assert_eq!(status, 201, "{user}");
    let token = user["token"].as_str().expect("token");
    let response = server
        .client
        .get(format!("{}/projects/shop/releases", server.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let html = response.text().await.unwrap_or_default();
    assert!(
        status == 403 || status == 404,
        "an outsider got {status}: {html}"
    );
    assert!(!html.contains(&digest), "{html}");

    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("server stops");
}

/// A canary between its steps, as the built-in agent's `state.json` records
/// it: the page shows each target's weight and share of requests, lists the
/// targets by phase and refreshes itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_in_progress_shows_weights_shares_and_refreshes() {
    let server = common::start(false).await;
    let work = tempfile::tempdir().expect("tempdir");
    let environment = r#"targets:
  - { name: canary-1, kind: local, port: 1 }
  - { name: stable-1, kind: local, port: 2 }
  - { name: stable-2, kind: local, port: 3 }
service:
  activate: { start: "true" }
"#;
    let repo = common::repo(
        work.path(),
        &[
            (
                "slipway.yml",
                "jobs: { a: { steps: [ { run: 'true' } ] } }\n",
            ),
            (".slipway/environments/production.yml", environment),
        ],
    );
    common::project(&server, "shop", &repo).await;
    let target = |phase: &str, weight: u16| {
        json!({ "digest": null, "version": "v2", "artifact_name": null, "phase": phase,
                "message": null, "process": null, "lb": "ready", "weight": weight, "updated_ms": 1 })
    };
    let state = json!({
        "targets": {
            "canary-1": target("serving", 1),
            "stable-1": target("serving", 3),
            "stable-2": target("installing", 6),
        },
        "blue_green": null,
        "last_strategy": null,
        "rollout": { "step": "batch 2 of 3", "targets": ["stable-2", "<b>"], "version": "v2" },
    });
    let dir = server
        .data
        .path()
        .join("agent/environments/shop/production");
    std::fs::create_dir_all(&dir).expect("state dir");
    std::fs::write(dir.join("state.json"), state.to_string()).expect("state.json");

    let (status, html) = page(&server, "/projects/shop/environments/production").await;
    assert_eq!(status, 200, "{html}");
    for expected in [
        "<meta http-equiv=\"refresh\" content=\"2\">",
        "Deployment in progress",
        "<span class=\"badge s-run\">installing</span> stable-2 (v2)",
        "<p class=\"rollout\"><strong>Batch 2 of 3</strong>: stable-2, &lt;b&gt; → v2</p>",
        "<td>1</td><td>10.0%</td>",
        "<td>3</td><td>30.0%</td>",
        "<td>6</td><td>60.0%</td>",
        "A canary is running",
    ] {
        assert!(html.contains(expected), "{expected}\n{html}");
    }
    // The environments list knows it from the agent's state alone.
    let (status, html) = page(&server, "/projects/shop/environments").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("href=\"/projects/shop/environments/production\""),
        "{html}"
    );

    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("server stops");
}
