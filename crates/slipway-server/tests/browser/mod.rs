//! Shared support of the web UI's browser tests: real headless Chromium
//! driven by chromedriver over W3C WebDriver (HTTP on 127.0.0.1, with
//! reqwest). `mod browser;` in a test file, next to `mod common;`.
//!
//! [`Browser::start`] starts chromedriver on a free port in its own process
//! group and opens a session; dropping the [`Browser`] kills the group
//! (chromedriver and every Chromium process it started), so a failing test
//! leaves nothing running. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/ui-screenshots/NAME.png`.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestServer;

/// The W3C key under which an element reference is returned.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long the `wait_*` functions wait.
pub const WAIT: Duration = Duration::from_secs(30);

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process with one Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
}

/// An element of the current page (a WebDriver element reference).
#[derive(Debug, Clone)]
pub struct Element(pub String);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where screenshots are written.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1280×900).
    /// Fails naming scripts/test when either program is missing.
    pub async fn start() -> Browser {
        for tool in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: run scripts/test, which installs chromium and chromium-driver"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            client,
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
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"]
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
            .unwrap_or_else(|| panic!("chromium did not start a session: {created}"))
            .to_string();
        browser
    }

    /// A WebDriver command of the session; its `value`, or the WebDriver
    /// error as `Err((error, message))`.
    pub async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, (String, String)> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("chromedriver answers JSON");
        let value = answer["value"].clone();
        match value["error"].as_str() {
            Some(error) => Err((
                error.to_string(),
                value["message"].as_str().unwrap_or("").to_string(),
            )),
            None => Ok(value),
        }
    }

    /// [`Browser::try_call`], panicking on a WebDriver error.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_call(method, path, body).await {
            Ok(value) => value,
            Err((error, message)) => panic!("WebDriver {path}: {error}: {message}"),
        }
    }

    /// Loads `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The current page's URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The first element matching the CSS selector, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let found = self
            .try_call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .ok()?;
        found[ELEMENT].as_str().map(|id| Element(id.to_string()))
    }

    /// Every element matching the CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|id| Element(id.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until an element matches the CSS selector.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} in vain for `{css}`; page:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element (which must be there; see [`Browser::wait_for`]).
    pub async fn click(&self, element: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await;
    }

    /// Waits for the CSS selector, then clicks the element.
    pub async fn click_css(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.click(&element).await;
    }

    /// Types `text` into the element (after what it holds).
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Clears the field, then types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        )
        .await;
        self.type_into(&element, text).await;
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> String {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and
    /// returns what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The page's visible text.
    pub async fn page_text(&self) -> String {
        self.execute(
            "return document.body ? document.body.innerText : '';",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Waits until `check` holds for the page's visible text; returns it.
    pub async fn wait_text(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.page_text().await;
            if check(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} in vain for {what}; page:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `script` returns something truthy; returns it.
    pub async fn wait_until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.execute(script, json!([])).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} in vain for {what}; page:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes a PNG of the viewport to `ui-screenshots/NAME.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode_base64(data.as_str().unwrap_or(""));
        assert!(
            png.starts_with(b"\x89PNG"),
            "the screenshot of {name} is not a PNG"
        );
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Signs in through the login form and waits to leave it.
    pub async fn login(&self, server: &TestServer, user: &str, password: &str) {
        self.goto(&format!("{}/login", server.url)).await;
        self.fill("#username", user).await;
        self.fill("#password", password).await;
        self.click_css("form.login button[type=submit]").await;
        self.wait_until(
            "leaving the login page",
            "return !document.querySelector('form.login');",
        )
        .await;
    }

    /// Ends the session and stops chromedriver (dropping does it too,
    /// less politely).
    pub async fn quit(self) {
        let _ = self
            .client
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the Chromium it started.
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) with a negative pid signals our own child's
            // process group; it touches no memory.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.driver.wait();
    }
}

/// Standard base64 (as WebDriver sends screenshots) to bytes.
pub fn decode_base64(text: &str) -> Vec<u8> {
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
