//! The run page in real headless Chromium (chromedriver, W3C WebDriver on
//! 127.0.0.1): log lines arriving live, a failing test opened, a gated job
//! approved and the run going on, and a user without the role seeing no
//! approve button (and 403 when posting anyway). Screenshots of each page
//! go to `target/tmp/ui-screenshots/`.

mod browser;
mod common;

use std::time::{Duration, Instant};

use browser::Browser;
use serde_json::{Value, json};

/// Runs `code` in the page; what it returns.
async fn script(browser: &Browser, code: &str) -> Value {
    browser.execute(code, json!([])).await
}

const PASSWORD: &str = "correct horse battery";

/// Signs `browser` in as `name` through the login form.
async fn sign_in(browser: &Browser, server: &common::TestServer, name: &str) {
    browser.login(server, name, PASSWORD).await;
    browser
        .wait_text("the signed-in page", |t| {
            t.contains(&format!("Signed in as {name}"))
        })
        .await;
}

/// A new user with `role` on project `p` and the test password.
async fn user(server: &common::TestServer, name: &str, role: &str) {
    common::user(server, name, Some(role)).await;
    common::set_password(server, name, PASSWORD).await;
}

async fn run_status(server: &common::TestServer, run: i64) -> String {
    let (_, detail) = server.get(&format!("/runs/{run}")).await;
    detail["run"]["status"].as_str().unwrap_or("").to_string()
}

const SLOW: &str = r#"
on: { manual: {} }
jobs:
  slow:
    steps:
      - run: |
          for i in 1 2 3 4 5 6 7 8; do printf '\033[32mtick %s\033[0m\n' $i; sleep 0.5; done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_arrive_live_in_the_browser() {
    let server = common::start(true).await;
    common::set_password(&server, "admin", PASSWORD).await;
    let browser = Browser::start().await;
    sign_in(&browser, &server, "admin").await;
    let (run, _work) = common::project_run(&server, "p", &[("slipway.yml", SLOW)]).await;
    let mut job = None;
    for _ in 0..100 {
        let (_, detail) = server.get(&format!("/runs/{run}")).await;
        // Running, with its step started (step rows come with StepStarted).
        if detail["jobs"][0]["status"] == "running" && detail["jobs"][0]["steps"][0].is_object() {
            job = detail["jobs"][0]["id"].as_i64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = job.expect("the job runs");
    browser.goto(&format!("{}/runs/{run}", server.url)).await;
    browser
        .wait_text("the run page", |t| t.contains("slow"))
        .await;
    browser.screenshot("run-running").await;
    // From the run page to the step's log, by its link.
    // (The page refreshes itself while the run goes on: follow the link's
    // address rather than clicking an element that may be replaced.)
    let href = script(
        &browser,
        "var a = document.querySelector('a.log-link'); return a ? a.href : null;",
    )
    .await;
    let href = href.as_str().expect("a log link");
    assert!(
        href.ends_with(&format!("/runs/{run}/jobs/{job}/steps/0/log?at=last")),
        "{href}"
    );
    browser.goto(href).await;
    browser
        .wait_text("a first line", |t| t.contains("tick 1"))
        .await;
    // The page was loaded once: later lines come over SSE while the step runs.
    let loaded_at = script(&browser, "return performance.timeOrigin;").await;
    let text = browser
        .wait_text("a later line while running", |t| t.contains("tick 4"))
        .await;
    assert_eq!(
        script(&browser, "return performance.timeOrigin;").await,
        loaded_at
    );
    assert!(!text.contains("The step has finished."), "{text}");
    assert_eq!(run_status(&server, run).await, "running", "{text}");
    let colour = script(
        &browser,
        "var s = document.querySelector('#L4 .a-f2'); return s ? s.textContent : null;",
    )
    .await;
    assert_eq!(colour, "tick 4");
    browser.screenshot("log-live").await;
    let text = browser
        .wait_text("the end of the step", |t| {
            t.contains("tick 8") && t.contains("The step has finished.")
        })
        .await;
    assert_eq!(text.matches("tick 8").count(), 1, "no line twice: {text}");
    // A link to a line on another page: the script loads its page.
    browser
        .goto(&format!(
            "{}/runs/{run}/jobs/{job}/steps/0/log?from=5#L2",
            server.url
        ))
        .await;
    browser
        .wait_text("line 2's page", |t| t.contains("tick 1"))
        .await;
    browser.quit().await;
    server.stop().await;
}

const FAILING_TEST: &str = r#"
on: { manual: {} }
jobs:
  test:
    steps:
      - run: |
          mkdir -p reports
          echo '<testsuite name="s"><testcase classname="t" name="passes"/><testcase classname="t" name="breaks"><failure message="expected 1, got 2"/></testcase></testsuite>' > reports/junit.xml
          exit 1
    reports:
      junit: ["reports/*.xml"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_test_opens_first() {
    let server = common::start(true).await;
    common::set_password(&server, "admin", PASSWORD).await;
    let browser = Browser::start().await;
    sign_in(&browser, &server, "admin").await;
    let (run, _work) = common::project_run(&server, "p", &[("slipway.yml", FAILING_TEST)]).await;
    server.wait_run(run).await;
    browser.goto(&format!("{}/runs/{run}", server.url)).await;
    let text = browser
        .wait_text("the tests", |t| t.contains("1 failed"))
        .await;
    assert!(
        !text.contains("expected 1, got 2"),
        "closed at first: {text}"
    );
    let first = browser
        .find("#test-0 summary")
        .await
        .expect("the first test");
    browser.click(&first).await;
    let text = browser
        .wait_text("the failure message", |t| t.contains("expected 1, got 2"))
        .await;
    let breaks = text.find("breaks").expect("breaks");
    let passes = text.find("passes").expect("passes");
    assert!(breaks < passes, "the failure is listed first: {text}");
    browser.screenshot("run-failing-test").await;
    browser.quit().await;
    server.stop().await;
}

const GATED: &str = r#"
on: { manual: {} }
jobs:
  build:
    steps:
      - run: echo built
  sign-off:
    needs: [build]
    approval:
      approvals: 1
      inputs:
        ticket: { type: string, required: true }
  ship:
    needs: [sign-off]
    steps:
      - run: echo shipping
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_gated_job_in_the_browser() {
    let server = common::start(true).await;
    let (run, _work) = common::project_run(&server, "p", &[("slipway.yml", GATED)]).await;
    user(&server, "vic", "viewer").await;
    user(&server, "dana", "developer").await;
    let browser = Browser::start().await;

    // A viewer: no approve button; posting the form anyway is refused.
    sign_in(&browser, &server, "vic").await;
    browser.goto(&format!("{}/runs/{run}", server.url)).await;
    browser
        .wait_text("the gate", |t| t.contains("You cannot vote"))
        .await;
    assert!(browser.find("button[value=approve]").await.is_none());
    browser.screenshot("approval-as-viewer").await;
    let status = script(&browser, &format!(
            "var x = new XMLHttpRequest(); x.open('POST', '/runs/{run}/jobs/sign-off/approvals', false);\
             x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');\
             var csrf = document.querySelector('input[name=csrf]');\
             x.send('decision=approve&input.ticket=T-1&csrf=' + encodeURIComponent(csrf ? csrf.value : ''));\
             return x.status;"
        ))
        .await;
    assert_eq!(status, 403);

    // A developer approves with a ticket; the run goes on.
    let logout = browser
        .find("form[action='/logout'] button")
        .await
        .expect("log out");
    browser.click(&logout).await;
    sign_in(&browser, &server, "dana").await;
    browser.goto(&format!("{}/runs/{run}", server.url)).await;
    browser
        .wait_text("the gate", |t| t.contains("sign-off"))
        .await;
    let ticket = browser
        .find("input[name='input.ticket']")
        .await
        .expect("ticket");
    browser.type_into(&ticket, "T-42").await;
    let comment = browser
        .find("textarea[name=comment]")
        .await
        .expect("comment");
    browser.type_into(&comment, "ship it").await;
    browser.screenshot("approval-form").await;
    let approve = browser
        .find("button[value=approve]")
        .await
        .expect("approve");
    browser.click(&approve).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while run_status(&server, run).await != "succeeded" {
        assert!(
            Instant::now() < deadline,
            "the run did not go on after the approval"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The page (refreshed by its script, or reloaded) shows the outcome.
    browser.goto(&format!("{}/runs/{run}", server.url)).await;
    let text = browser
        .wait_text("the approval", |t| t.contains("dana approved: ship it"))
        .await;
    assert!(text.contains("succeeded"), "{text}");
    browser.screenshot("approval-approved").await;
    browser.quit().await;
    server.stop().await;
}
