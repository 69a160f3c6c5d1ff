//! The web UI's run page over HTTP against a real server with its built-in
//! agent: the page (DAG, steps, cache, artifacts, tests failures first),
//! the artifact download, the log pages (first, by line, last, search,
//! JSON, hostile parameters), the live tail over SSE, and the approval,
//! cancel and retry forms with their CSRF and role checks.

mod common;

use std::time::Duration;

use serde_json::Value;

const PIPELINE: &str = r#"
on: { manual: {} }
jobs:
  build:
    inputs: ["src/**"]
    steps:
      - run: |
          printf '\033[31mred <b>not bold</b>\033[0m plain\n'
          i=1; while [ $i -le 1200 ]; do echo "line $i"; i=$((i+1)); done
          echo needle-here
      - run: echo "artifact bytes" > out.txt
    artifacts:
      out: out.txt
  test:
    needs: [build]
    steps:
      - run: |
          mkdir -p reports
          echo '<testsuite name="s"><testcase classname="t" name="passes" time="0.1"/><testcase classname="t" name="breaks"><failure message="expected 1, got 2">trace &lt;here&gt;</failure></testcase></testsuite>' > reports/junit.xml
          exit 1
    reports:
      junit: ["reports/*.xml"]
  docs:
    needs: [build]
    steps:
      - run: echo docs
  publish:
    needs: [test, docs]
    steps:
      - run: echo publish
"#;

fn job_id(detail: &Value, key: &str) -> i64 {
    detail["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["key"] == key))
        .and_then(|j| j["id"].as_i64())
        .unwrap_or_else(|| panic!("no job {key} in {detail}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_page_shows_the_dag_steps_artifacts_and_tests() {
    let server = common::start(true).await;
    let (run, _work) = common::project_run(
        &server,
        "p",
        &[("slipway.yml", PIPELINE), ("src/a.txt", "a")],
    )
    .await;
    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "failed", "{detail}");
    let admin = Session::admin(&server).await;

    let (status, html) = admin.get(&format!("/runs/{run}")).await;
    assert_eq!(status, 200, "{html}");
    // The header and the DAG: four boxes, four edges, statuses in words.
    assert!(html.contains("p <span class=\"num\">#1</span>"), "{html}");
    assert!(html.contains("<dt>Trigger</dt><dd>manual"), "{html}");
    let svg = &html[html.find("<svg").expect("svg")..html.find("</svg>").expect("end")];
    assert_eq!(svg.matches("<rect").count(), 4, "{svg}");
    assert_eq!(svg.matches("<path").count(), 4, "{svg}");
    assert!(
        svg.contains(">build</text>") && svg.contains("✓ succeeded"),
        "{svg}"
    );
    assert!(svg.contains("✗ failed"), "{svg}");
    // Steps with their log links, the cache verdict, the artifact.
    let build = job_id(&detail, "build");
    assert!(html.contains(&format!("/runs/{run}/jobs/{build}/steps/0/log?at=last")));
    assert!(html.contains("Cache miss"), "{html}");
    let digest = slipway_engine::records::Digest::of(b"artifact bytes\n").0;
    assert!(html.contains(&format!("<code>{digest}</code>")), "{html}");
    // Tests: the failure first, with its message escaped.
    let failing = html.find("s › t › breaks");
    let passing = html.find("s › t › passes");
    assert!(failing.is_some() && passing.is_some(), "{html}");
    assert!(failing < passing, "failures come first: {html}");
    assert!(html.contains("1 failed, 0 flaky, 1 passed"), "{html}");
    assert!(
        html.contains("<pre class=\"failure\">expected 1, got 2</pre>"),
        "{html}"
    );

    // The artifact, by its digest, for a reader of the run; an unknown one
    // is not served.
    let (status, bytes) = admin.get(&format!("/runs/{run}/artifacts/{digest}")).await;
    assert_eq!((status, bytes.as_str()), (200, "artifact bytes\n"));
    let (status, _) = admin
        .get(&format!("/runs/{run}/artifacts/{}", "0".repeat(64)))
        .await;
    assert_eq!(status, 404);
    let (status, _) = admin
        .get(&format!("/runs/{run}/artifacts/..%2F..%2Fetc"))
        .await;
    assert_eq!(status, 404);

    // A retry form for the failed job only (the run is finished).
    assert!(
        html.contains("Retry test") && html.contains("Retry publish"),
        "{html}"
    );
    assert!(!html.contains("Retry build"), "{html}");
    assert!(!html.contains("Cancel run"), "{html}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_pages_by_line_last_and_search() {
    let server = common::start(true).await;
    let (run, _work) = common::project_run(
        &server,
        "p",
        &[("slipway.yml", PIPELINE), ("src/a.txt", "a")],
    )
    .await;
    let detail = server.wait_run(run).await;
    let build = job_id(&detail, "build");
    let admin = Session::admin(&server).await;
    let log = format!("/runs/{run}/jobs/{build}/steps/0/log");

    // 1,202 lines: the red one, 1,200 numbered, the needle.
    let (status, first) = admin.get(&log).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.contains("1202 lines"), "{first}");
    assert!(first.contains("<li id=\"L1\">") && first.contains("id=\"L500\""));
    assert!(!first.contains("id=\"L501\""));
    assert!(
        first.contains("<span class=\"a-f1\">red &lt;b&gt;not bold&lt;/b&gt;</span> plain"),
        "{first}"
    );
    assert!(first.contains("rel=\"next\"") && !first.contains("rel=\"prev\""));

    let (_, by_line) = admin.get(&format!("{log}?at=1234")).await;
    assert!(by_line.contains("id=\"L1001\"") && by_line.contains("id=\"L1202\""));
    let (_, middle) = admin.get(&format!("{log}?at=700")).await;
    assert!(
        middle.contains("id=\"L501\"")
            && middle.contains("id=\"L700\"")
            && !middle.contains("id=\"L1001\"")
    );
    let (_, last) = admin.get(&format!("{log}?at=last")).await;
    assert!(last.contains("needle-here") && last.contains("rel=\"prev\""));

    // Search: hits link to their lines' pages.
    let (_, found) = admin.get(&format!("{log}?q=needle")).await;
    assert!(found.contains("1 line for “needle”"), "{found}");
    assert!(
        found.contains(&format!("{log}?at=1202&amp;q=needle#L1202")),
        "{found}"
    );
    let (_, none) = admin.get(&format!("{log}?q=%3Cscript%3E")).await;
    assert!(none.contains("No lines for “&lt;script&gt;”"), "{none}");

    // JSON and fragment forms.
    let (status, page) = admin.get(&format!("{log}?at=last&format=json")).await;
    assert_eq!(status, 200);
    let page: Value = serde_json::from_str(&page).expect("json");
    assert_eq!(page["from"], 1001);
    assert_eq!(page["total"], 1202);
    assert_eq!(page["lines"].as_array().map(Vec::len), Some(202));
    assert_eq!(page["lines"][201]["html"], "needle-here");
    let (_, fragment) = admin.get(&format!("{log}?from=2&format=fragment")).await;
    assert!(
        fragment.starts_with("<ol class=\"log\" start=\"2\">"),
        "{fragment}"
    );

    // Hostile or odd parameters: never an error page from a panic.
    for query in [
        "?at=-1",
        "?at=99999999999999999999",
        "?from=0",
        "?at=",
        "?q=&after=0",
        "?from=18446744073709551615",
    ] {
        let (status, _) = admin.get(&format!("{log}{query}")).await;
        assert!(status == 200 || status == 400, "{query}: {status}");
    }
    // A step with no log, a job of another run, a run that does not exist.
    let (status, empty) = admin
        .get(&format!("/runs/{run}/jobs/{build}/steps/9/log"))
        .await;
    assert_eq!(status, 200);
    assert!(empty.contains("no lines yet"), "{empty}");
    let (status, _) = admin
        .get(&format!("/runs/{}/jobs/{build}/steps/0/log", run + 100))
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

const SLOW: &str = r#"
on: { manual: {} }
jobs:
  slow:
    steps:
      - run: |
          for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 0.5; done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_tail_sends_lines_while_the_step_runs() {
    let server = common::start(true).await;
    let (run, _work) =
        common::project_run(&server, "p", &[("slipway.yml", SLOW), ("src/a.txt", "a")]).await;
    let admin = Session::admin(&server).await;
    // Wait for the job to exist and run.
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
    let mut response = admin
        .request(
            reqwest::Method::GET,
            &format!("/runs/{run}/jobs/{job}/steps/0/live?from=1"),
        )
        .send()
        .await
        .expect("sse");
    assert_eq!(response.status().as_u16(), 200);
    let mut text = String::new();
    let mut seen_before_end = false;
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(20), response.chunk())
        .await
        .expect("in time")
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("tick 1") && !text.contains("tick 6") {
            // A line arrived while later ones were not printed yet.
            let (_, detail) = server.get(&format!("/runs/{run}")).await;
            seen_before_end |= detail["run"]["status"] == "running";
        }
        if text.contains("event: end") {
            break;
        }
    }
    assert!(
        seen_before_end,
        "no line arrived while the step ran: {text}"
    );
    for i in 1..=6 {
        assert!(text.contains(&format!("\"html\":\"tick {i}\"")), "{text}");
    }
    assert!(text.contains("id: 6"), "{text}");
    // Resuming after line 4 gives 5 and 6 only.
    server.wait_run(run).await;
    let (_, resumed) = admin
        .get(&format!("/runs/{run}/jobs/{job}/steps/0/live?from=5"))
        .await;
    assert!(
        !resumed.contains("tick 4") && resumed.contains("tick 5") && resumed.contains("tick 6"),
        "{resumed}"
    );
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
        risk: { type: choice, options: [low, high], default: low }
  ship:
    needs: [sign-off]
    steps:
      - run: echo shipping
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_gate_from_the_page() {
    let server = common::start(true).await;
    let (run, _work) =
        common::project_run(&server, "p", &[("slipway.yml", GATED), ("src/a.txt", "a")]).await;
    let viewer = Session::user(&server, "vic", Some("viewer")).await;
    let dev = Session::user(&server, "dana", Some("developer")).await;
    // Wait for the gate.
    let mut html = String::new();
    for _ in 0..100 {
        html = dev.get(&format!("/runs/{run}")).await.1;
        if html.contains("name=\"decision\" value=\"approve\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        html.contains("name=\"decision\" value=\"approve\""),
        "{html}"
    );
    assert!(
        html.contains("<label for=\"in-0-0\">ticket (required)</label>"),
        "{html}"
    );
    assert!(html.contains("<option selected>low</option>"), "{html}");
    assert!(html.contains("Cancel run"), "{html}");
    // The job after the gate is not created yet: drawn from the plan.
    assert!(
        html.contains(">ship</text><text class=\"st\" x=\"528\" y=\"40\">… waiting"),
        "{html}"
    );
    let action = format!("/runs/{run}/jobs/sign-off/approvals");

    // A viewer sees no form, and a post anyway is refused by the API's rule.
    let (_, seen) = viewer.get(&format!("/runs/{run}")).await;
    assert!(!seen.contains("value=\"approve\""), "{seen}");
    assert!(seen.contains("You cannot vote"), "{seen}");
    assert!(!seen.contains("Cancel run"), "{seen}");
    // (Their own page's CSRF token: the one of the log-out form.)
    let mut fields = viewer.hidden_fields(&seen, "/logout");
    assert!(fields.iter().any(|(k, _)| k == "csrf"), "{fields:?}");
    fields.push(("decision".into(), "approve".into()));
    fields.push(("input.ticket".into(), "T-1".into()));
    let (status, body) = viewer.post_form(&action, &fields).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("developer role"), "{body}");

    // Without the CSRF token: refused before the API is asked.
    let (status, _) = dev
        .post_form(&action, &[("decision".into(), "approve".into())])
        .await;
    assert_eq!(status, 403);
    // A missing required input: the API's validation answers.
    let mut fields = dev.hidden_fields(&html, &action);
    fields.push(("decision".into(), "approve".into()));
    let (status, body) = dev.post_form(&action, &fields).await;
    assert_eq!(status, 422, "{body}");
    fields.push(("input.ticket".into(), "T-1".into()));
    fields.push(("comment".into(), "looks <fine>".into()));
    let (status, _) = dev.post_form(&action, &fields).await;
    assert_eq!(status, 303);

    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    let (_, after) = dev.get(&format!("/runs/{run}")).await;
    assert!(
        after.contains("dana approved: looks &lt;fine&gt;"),
        "{after}"
    );
    server.stop().await;
}

/// A browser-less client of the UI: one user's session.
struct Session {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Session {
    async fn admin(server: &common::TestServer) -> Session {
        Session::with_token(server, server.token.clone())
    }

    /// A new user with `role` on project `p`.
    async fn user(server: &common::TestServer, name: &str, role: Option<&str>) -> Session {
        let token = common::user(server, name, role).await;
        Session::with_token(server, token)
    }

    fn with_token(server: &common::TestServer, token: String) -> Session {
        Session {
            base: server.url.clone(),
            token,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    async fn post_form(&self, path: &str, fields: &[(String, String)]) -> (u16, String) {
        let response = self
            .request(reqwest::Method::POST, path)
            .form(fields)
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The hidden fields of the form posting to `action` in `html` (the
    /// CSRF token among them), as this session's page would have them.
    fn hidden_fields(&self, html: &str, action: &str) -> Vec<(String, String)> {
        let start = html
            .find(&format!("action=\"{action}\""))
            .unwrap_or_else(|| panic!("no form posting to {action}"));
        let form = &html[start..];
        let form = &form[..form.find("</form>").unwrap_or(form.len())];
        let mut fields = Vec::new();
        for input in form.split("<input").skip(1) {
            let tag = &input[..input.find('>').unwrap_or(input.len())];
            if !tag.contains("type=\"hidden\"") {
                continue;
            }
            let attr = |name: &str| {
                let key = format!("{name}=\"");
                tag.find(&key).map(|i| {
                    let rest = &tag[i + key.len()..];
                    rest[..rest.find('"').unwrap_or(rest.len())].to_string()
                })
            };
            if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
                fields.push((name, value));
            }
        }
        fields
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_forms() {
    let server = common::start(true).await;
    let (run, _work) =
        common::project_run(&server, "p", &[("slipway.yml", SLOW), ("src/a.txt", "a")]).await;
    let viewer = Session::user(&server, "vic", Some("viewer")).await;
    let dev = Session::user(&server, "dana", Some("developer")).await;
    let mut html = String::new();
    for _ in 0..100 {
        html = dev.get(&format!("/runs/{run}")).await.1;
        if html.contains("Cancel run") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let action = format!("/runs/{run}/cancel");
    // A viewer's post (with their own CSRF token) is refused by the API.
    let (_, seen) = viewer.get(&format!("/runs/{run}")).await;
    let (status, body) = viewer
        .post_form(&action, &viewer.hidden_fields(&seen, "/logout"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("developer role"), "{body}");
    // The developer cancels from the page.
    let (status, _) = dev
        .post_form(&action, &dev.hidden_fields(&html, &action))
        .await;
    assert_eq!(status, 303);
    let detail = server.wait_run(run).await;
    assert_eq!(detail["run"]["status"], "cancelled", "{detail}");
    // Retrying the job makes a new run, and the form leads to it.
    let (_, html) = dev.get(&format!("/runs/{run}")).await;
    let retry = format!("/runs/{run}/retry");
    let response = dev
        .request(reqwest::Method::POST, &retry)
        .form(&dev.hidden_fields(&html, &retry))
        .send()
        .await
        .expect("retry");
    assert_eq!(response.status().as_u16(), 303);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        location.starts_with("/runs/") && location != format!("/runs/{run}"),
        "{location}"
    );
    server.stop().await;
}
