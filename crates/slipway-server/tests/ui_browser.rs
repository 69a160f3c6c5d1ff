//! The projects and runs pages in real headless Chromium: a wrong password
//! shows an error, the right one lands on the projects; a run triggered
//! from the project page's form (typed inputs) appears in the list and
//! finishes there without a reload (live updates); a run started elsewhere
//! appears too; logout leads back to the login. Screenshots of each page
//! go to `$CARGO_TARGET_TMPDIR/ui-screenshots/`.

mod browser;
mod common;

use browser::Browser;
use serde_json::json;

const PIPELINE: &str = r#"
on:
  manual:
    inputs:
      greeting: { type: string, default: hello }
      colour: { type: choice, options: [red, blue], default: blue }
jobs:
  build:
    steps:
      - run: sleep 2; echo "${{ inputs.greeting }} ${{ inputs.colour }}"
"#;

/// A JavaScript expression: the status cell of run `#number` in the runs
/// table as the page shows it, or '' while the run is not listed.
fn status_of(number: i64) -> String {
    format!(
        "(function () {{ var row = Array.from(document.querySelectorAll('#runs tbody tr'))\
           .find(function (r) {{ return r.querySelector('th').innerText.trim() === '#{number}'; }});\
         return row ? row.querySelectorAll('td')[0].innerText : ''; }})()"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_trigger_watch_and_logout_in_the_browser() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(work.path(), &[("slipway.yml", PIPELINE)]);
    common::project(&server, "p", &repo).await;
    // A first run, so that the form knows the pipeline's inputs.
    let (status, first) = server.post("/projects/p/runs", json!({})).await;
    assert_eq!(status, 201, "{first}");
    server.wait_run(first["id"].as_i64().expect("id")).await;
    let password = std::fs::read_to_string(server.data.path().join("admin-password"))
        .expect("admin password")
        .trim()
        .to_string();

    let browser = Browser::start().await;
    // Any page asks for a login first.
    browser.goto(&format!("{}/projects/p", server.url)).await;
    browser.wait_for("form.login").await;
    browser.screenshot("login").await;

    // A wrong password: an error on the form.
    browser.fill("#username", "admin").await;
    browser.fill("#password", "not the password").await;
    browser.click_css("form.login button[type=submit]").await;
    let error = browser.wait_for("#login-error").await;
    assert_eq!(browser.text(&error).await, "Wrong username or password.");
    browser.screenshot("login-error").await;

    // The right one: back to the page asked for.
    browser.fill("#password", &password).await;
    browser.click_css("form.login button[type=submit]").await;
    browser
        .wait_text("the project page", |t| t.contains("Trigger a run"))
        .await;
    assert!(browser.url().await.ends_with("/projects/p"));
    browser.goto(&server.url).await;
    let text = browser
        .wait_text("the projects", |t| t.contains("Signed in as admin"))
        .await;
    assert!(
        text.contains("Projects") && text.contains("succeeded"),
        "{text}"
    );
    browser.screenshot("projects").await;

    // Trigger a run with inputs from the project page.
    browser.click_css("a[href='/projects/p']").await;
    browser.wait_for("#trigger-ref").await;
    browser.fill("#input-greeting", "ahoy").await;
    browser
        .execute(
            "document.getElementById('input-colour').value = 'red';",
            json!([]),
        )
        .await;
    browser.screenshot("project-runs").await;
    browser
        .click_css("form[action='/projects/p/trigger'] button")
        .await;
    browser
        .wait_until(
            "the run page",
            "return /\\/runs\\/[0-9]+$/.test(location.pathname);",
        )
        .await;
    let url = browser.url().await;
    let id: i64 = url
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("a run id in the URL");

    // Back on the list, the run is there and finishes without a reload.
    browser.goto(&format!("{}/projects/p", server.url)).await;
    let marker = browser
        .execute("window.notReloaded = true; return true;", json!([]))
        .await;
    assert_eq!(marker, true);
    browser
        .wait_until("run #2 in the list", &format!("return {};", status_of(2)))
        .await;
    browser
        .wait_until(
            "run #2 succeeded",
            &format!("return {}.indexOf('succeeded') >= 0;", status_of(2)),
        )
        .await;
    // A run started elsewhere appears as well.
    let (status, third) = server.post("/projects/p/runs", json!({})).await;
    assert_eq!(status, 201, "{third}");
    browser
        .wait_until("run #3 in the list", &format!("return {};", status_of(3)))
        .await;
    assert_eq!(
        browser
            .execute("return window.notReloaded === true;", json!([]))
            .await,
        true,
        "the list updated in place"
    );
    browser.screenshot("project-runs-live").await;
    let logs = common::read_logs(&server, id, "").await;
    assert!(
        logs.iter()
            .any(|l| l["text"].as_str().unwrap_or("").contains("ahoy red")),
        "the inputs reached the run: {logs:?}"
    );

    // Filters are a plain GET form.
    browser
        .execute(
            "document.getElementById('filter-status').value = 'failed';",
            json!([]),
        )
        .await;
    browser
        .click_css("form[aria-label='Filter runs'] button")
        .await;
    browser
        .wait_text("no failed runs", |t| t.contains("No runs match."))
        .await;

    // Log out: back to the login, and pages ask for it again.
    browser.click_css("form.who button").await;
    browser.wait_for("form.login").await;
    browser.goto(&server.url).await;
    browser.wait_for("form.login").await;
    browser.screenshot("logged-out").await;
    browser.quit().await;
    server.stop().await;
}
