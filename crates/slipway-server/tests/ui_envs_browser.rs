//! "See the release appear in the environment's timeline", in real
//! headless Chromium (chromedriver, W3C WebDriver on 127.0.0.1): sign in
//! through the login form (from the production timeline, empty), run the
//! pipeline that builds the demo service and deploys it, and watch the
//! release with its digest and approval appear; then the release's page and
//! the environment's topology. Screenshots go to
//! `CARGO_TARGET_TMPDIR/ui-screenshots/` (`target/tmp/ui-screenshots/`).

mod browser;
mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use browser::Browser;

/// An approval comment no page may interpret as markup.
const HOSTILE: &str = "<script>alert(\"pwned\")</script> ship it & go";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn see_the_release_appear_in_the_environments_timeline() {
    let browser = Browser::start().await;
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
    let response = server
        .client
        .put(server.api("/users/admin/password"))
        .bearer_auth(&server.token)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .expect("password");
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );

    // Sign in through the form, landing on the (empty) production timeline.
    let timeline = format!("{}/projects/shop/releases?env=production", server.url);
    browser.goto(&timeline).await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", PASSWORD).await;
    browser.click_css("form.login button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !browser.url().await.contains("/releases") {
        assert!(
            Instant::now() < deadline,
            "signing in did not lead back to the timeline: {}",
            browser.url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = browser.page_text().await;
    assert!(text.contains("No releases yet"), "{text}");
    browser.screenshot("releases-empty").await;

    // The pipeline: staging, a person's approval, production.
    let (status, run) = server.post("/projects/shop/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["id"].as_i64().expect("id");
    common::approve_when_open(&server, run_id, "sign-off", HOSTILE).await;
    let detail = server.wait_run(run_id).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    let (_, listed) = server.get("/projects/shop/releases?env=production").await;
    let digest = listed[0]["digest"].as_str().expect("digest").to_string();
    let release_id = listed[0]["id"].as_i64().expect("id");

    // The release appears in the production timeline, with its approval.
    browser.goto(&timeline).await;
    let text = browser.page_text().await;
    for expected in [
        format!("Release {release_id}"),
        digest.clone(),
        "approved sign-off".to_string(),
        HOSTILE.to_string(),
        format!("run {run_id}"),
        "Deployment frequency".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected}\n{text}");
    }
    let injected = browser
        .execute(
            "return document.querySelectorAll('main script').length;",
            json!([]),
        )
        .await;
    assert_eq!(injected, json!(0), "the hostile comment stayed text");
    let bars = browser
        .execute(
            "return document.querySelectorAll('svg.chart title').length;",
            json!([]),
        )
        .await;
    assert!(
        bars.as_u64().unwrap_or(0) >= 1,
        "the DORA chart is drawn: {bars}"
    );
    browser.screenshot("releases-timeline").await;

    // Its page, by the timeline's link; then the environment.
    browser
        .click_css(&format!("a[href='/projects/shop/releases/{release_id}']"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !browser
        .url()
        .await
        .ends_with(&format!("/releases/{release_id}"))
    {
        assert!(Instant::now() < deadline, "the release link did not open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = browser.page_text().await;
    assert!(
        text.contains(&format!("Release {release_id} to production")),
        "{text}"
    );
    browser.screenshot("release").await;
    browser
        .goto(&format!(
            "{}/projects/shop/environments/production",
            server.url
        ))
        .await;
    let text = browser.page_text().await;
    for expected in ["web-1", digest.as_str(), "serving", "healthy"] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    browser.screenshot("environment").await;

    browser.quit().await;
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("server stops");
}
