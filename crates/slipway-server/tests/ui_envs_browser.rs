//! "See the release appear in the environment's timeline", in real
//! headless Chromium (chromedriver, W3C WebDriver on 127.0.0.1): sign in
//! through the login form, open the staging timeline (empty), run the
//! pipeline that builds the demo service and deploys it, and watch the
//! release with its digest and approval appear; then the release's page and
//! the environment's topology. Screenshots go to
//! `CARGO_TARGET_TMPDIR/ui-screenshots/` (`target/tmp/ui-screenshots/`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// An approval comment no page may interpret as markup.
const HOSTILE: &str = "<script>alert(\"pwned\")</script> ship it & go";
const PASSWORD: &str = "correct horse battery staple";

fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let path = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("slipway-demo"))
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "the slipway-demo binary is missing at {}: run scripts/test (it builds the whole workspace first), or `cargo build -p slipway-demo`",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// Kills what the deployments left running (local targets are detached).
struct StopOnDrop(Vec<PathBuf>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for state in &self.0 {
            let Ok(text) = std::fs::read_to_string(state) else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            for target in value["targets"].as_object().into_iter().flatten() {
                if let Some(pid) = target.1["process"]["pid"].as_i64() {
                    // SAFETY: kill(2) of the process group the deployment started.
                    unsafe {
                        libc::kill(-(pid as i32), libc::SIGKILL);
                    }
                }
            }
        }
    }
}

fn environment(port: u16) -> String {
    format!(
        r#"targets:
  - name: web-1
    kind: local
    port: {port}
service:
  activate: {{ start: "$ARTIFACT --listen 127.0.0.1:$PORT --version v1" }}
  health:
    http: /healthz
    interval: 50ms
    timeout: 1s
    max_wait: 20s
"#
    )
}

fn pipeline(demo: &Path) -> String {
    format!(
        r#"on: {{ manual: {{}} }}
jobs:
  build:
    steps:
      - run: mkdir -p dist && cp {demo} dist/app
    artifacts:
      app: dist/app
  staging:
    needs: [build]
    deploy:
      environment: staging
      artifact: build.app
  sign-off:
    needs: [staging]
    approval:
      timeout: 1h
  production:
    needs: [build, sign-off]
    deploy:
      environment: production
      artifact: build.app
"#,
        demo = demo.display()
    )
}

async fn approve(server: &common::TestServer, run: i64) {
    let votes = format!("/runs/{run}/jobs/sign-off/approvals");
    for _ in 0..600 {
        let (status, answer) = server
            .post(&votes, json!({ "approve": true, "comment": HOSTILE }))
            .await;
        if status == 200 {
            return;
        }
        assert!(
            status == 409 || status == 404,
            "voting answered {status}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sign-off gate of run {run} did not open in 60 s");
}

/// A chromedriver process with one headless Chromium session; both end
/// when it is dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        for tool in ["/usr/bin/chromedriver", "/usr/bin/chromium"] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: run scripts/test, which installs chromium and chromium-driver"
            );
        }
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .client
                .get(format!("{}/status", browser.base))
                .send()
                .await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1400"]
            }
        }}});
        let created: Value = browser
            .client
            .post(format!("{}/session", browser.base))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("webdriver json");
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element matching `css`; fails the test naming it when there is none.
    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no element `{css}`: {found}"))
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    async fn page_text(&self) -> String {
        self.script("return document.body ? document.body.innerText : '';")
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn screenshot(&self, name: &str) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode_base64(data.as_str().unwrap_or(""));
        assert!(
            png.starts_with(b"\x89PNG"),
            "the screenshot of {name} is not a PNG"
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn see_the_release_appear_in_the_environments_timeline() {
    let browser = Browser::start().await;
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(
        work.path(),
        &[
            ("slipway.yml", &pipeline(&demo_binary())),
            (
                ".slipway/environments/staging.yml",
                &environment(free_port()),
            ),
            (
                ".slipway/environments/production.yml",
                &environment(free_port()),
            ),
        ],
    );
    common::project(&server, "shop", &repo).await;
    let _stop = StopOnDrop(
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
    browser.type_into("#username", "admin").await;
    browser.type_into("#password", PASSWORD).await;
    browser
        .click("form button[type=submit], form input[type=submit]")
        .await;
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
    approve(&server, run_id).await;
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
        .script("return document.querySelectorAll('main script').length;")
        .await;
    assert_eq!(injected, json!(0), "the hostile comment stayed text");
    let bars = browser
        .script("return document.querySelectorAll('svg.chart title').length;")
        .await;
    assert!(
        bars.as_u64().unwrap_or(0) >= 1,
        "the DORA chart is drawn: {bars}"
    );
    browser.screenshot("releases-timeline").await;

    // Its page, by the timeline's link; then the environment.
    browser
        .click(&format!("a[href='/projects/shop/releases/{release_id}']"))
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

    drop(browser);
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("server stops");
}
