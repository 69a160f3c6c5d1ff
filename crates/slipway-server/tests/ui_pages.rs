//! The web UI's login, sessions, CSRF and the projects/runs pages over
//! plain HTTP (the browser tests are in ui_browser.rs): the cookie's flags,
//! wrong passwords, the cookie never authorizing a change without the CSRF
//! token (forms and the JSON API alike), a viewer seeing no trigger form
//! and refused when posting anyway, logout, no secret in any page, and
//! wrong passwords locking a name (sign-ins audited).

mod common;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

const PIPELINE: &str = r#"
on:
  manual:
    inputs:
      greeting: { type: string, default: hello }
      times: { type: number, default: 1 }
      loud: { type: boolean, default: false }
      colour: { type: choice, options: [red, blue], default: blue }
jobs:
  build:
    steps:
      - run: echo "${{ inputs.greeting }} ${{ inputs.times }} ${{ inputs.colour }}"
"#;

const SECRET: &str = "s3cr3t-value-never-shown-7431";

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn admin_password(server: &common::TestServer) -> String {
    std::fs::read_to_string(server.data.path().join("admin-password"))
        .expect("the admin password file")
        .trim()
        .to_string()
}

/// Logs in; the `slipway_session=…` cookie pair and the whole Set-Cookie.
async fn login(server: &common::TestServer, user: &str, password: &str) -> (String, String) {
    let response = client()
        .post(format!("{}/login", server.url))
        .form(&[("username", user), ("password", password), ("next", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status().as_u16(), 303, "login of {user}");
    let set = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    let pair = set.split(';').next().expect("pair").to_string();
    (pair, set)
}

async fn page(server: &common::TestServer, cookie: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", server.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("page");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

/// The CSRF token in a page's hidden field.
fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..]
        .split('"')
        .next()
        .expect("csrf value")
        .to_string()
}

async fn runs_of(server: &common::TestServer) -> usize {
    let (status, runs) = server.get("/runs?project=p").await;
    assert_eq!(status, 200);
    runs.as_array().expect("runs").len()
}

async fn setup() -> (common::TestServer, tempfile::TempDir) {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(work.path(), &[("slipway.yml", PIPELINE)]);
    common::project(&server, "p", &repo).await;
    let response = server
        .client
        .put(server.api("/projects/p/secrets/TOKEN"))
        .bearer_auth(&server.token)
        .json(&json!({ "value": SECRET }))
        .send()
        .await
        .expect("secret");
    assert!(response.status().is_success());
    (server, work)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_cookie_and_logout() {
    let (server, _work) = setup().await;

    // No session: pages redirect to the login with the way back.
    let response = client()
        .get(format!("{}/projects/p?status=failed", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()[LOCATION],
        "/login?next=/projects/p%3Fstatus%3Dfailed"
    );
    let (status, html) = page(&server, "", "/login?next=/projects/p").await;
    assert_eq!(status, 200);
    assert!(html.contains("<label for=\"password\">Password</label>"));

    // A wrong password: 401, the form again with an error, no cookie.
    for (user, password) in [
        ("admin", "wrong password"),
        ("nobody", "x"),
        ("bad name'", "x"),
    ] {
        let response = client()
            .post(format!("{}/login", server.url))
            .form(&[("username", user), ("password", password)])
            .send()
            .await
            .expect("login");
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.headers().get(SET_COOKIE).is_none());
        let html = response.text().await.expect("text");
        assert!(html.contains("Wrong username or password."), "{html}");
        assert!(!html.contains(password) || password == "x");
    }

    // The right one: a session cookie with the flags, and back to `next`.
    let password = admin_password(&server);
    let response = client()
        .post(format!("{}/login", server.url))
        .form(&[
            ("username", "admin"),
            ("password", password.as_str()),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/", "no open redirect");
    let set = response.headers()[SET_COOKIE].to_str().expect("ascii");
    assert!(set.starts_with("slipway_session=slw_"), "{set}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().expect("pair").to_string();

    let (status, html) = page(&server, &cookie, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/projects/p\""), "{html}");
    assert!(html.contains("Signed in as <strong>admin</strong>"));
    // The JSON API reads with the cookie.
    let response = client()
        .get(server.api("/projects"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("api");
    assert_eq!(response.status().as_u16(), 200);

    // Logout needs the CSRF token, then revokes the session.
    let csrf = csrf_of(&html);
    let response = client()
        .post(format!("{}/logout", server.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(page(&server, &cookie, "/").await.0, 200, "still logged in");
    let response = client()
        .post(format!("{}/logout", server.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 303);
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
    assert_eq!(
        page(&server, &cookie, "/").await.0,
        303,
        "the session is gone"
    );
    let response = client()
        .get(server.api("/projects"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("api");
    assert_eq!(response.status().as_u16(), 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_never_changes_anything_without_the_csrf_token() {
    let (server, _work) = setup().await;
    let (cookie, _) = login(&server, "admin", &admin_password(&server)).await;
    let (_, html) = page(&server, &cookie, "/projects/p").await;
    let csrf = csrf_of(&html);

    // The JSON API: the cookie alone, or with a wrong header, is refused.
    for header in [None, Some("wrong"), Some("")] {
        let mut request = client()
            .post(server.api("/projects/p/runs"))
            .header(COOKIE, &cookie)
            .json(&json!({}));
        if let Some(value) = header {
            request = request.header("X-CSRF-Token", value);
        }
        let response = request.send().await.expect("post");
        assert_eq!(response.status().as_u16(), 403, "header {header:?}");
    }
    // The trigger form: a missing or wrong csrf field is refused.
    for fields in [
        vec![("ref", "main")],
        vec![("csrf", "0000"), ("ref", "main")],
    ] {
        let response = client()
            .post(format!("{}/projects/p/trigger", server.url))
            .header(COOKIE, &cookie)
            .form(&fields)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 403);
    }
    // Another session's token is no good either.
    let (other, _) = login(&server, "admin", &admin_password(&server)).await;
    let (_, other_html) = page(&server, &other, "/projects/p").await;
    assert_ne!(csrf_of(&other_html), csrf);
    let response = client()
        .post(format!("{}/projects/p/trigger", server.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf_of(&other_html).as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(runs_of(&server).await, 0, "nothing was created");

    // With the token: the API and the form both start runs.
    let response = client()
        .post(server.api("/projects/p/runs"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 201);
    let response = client()
        .post(format!("{}/projects/p/trigger", server.url))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("ref", ""),
            ("input.greeting", "hi"),
            ("input.times", "3"),
            ("input.loud", "true"),
            ("input.colour", "red"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()[LOCATION].to_str().expect("ascii");
    let id: i64 = location
        .strip_prefix("/runs/")
        .and_then(|id| id.parse().ok())
        .expect("a run page");
    let (_, detail) = server.get(&format!("/runs/{id}")).await;
    assert_eq!(detail["run"]["trigger"], "manual");
    assert_eq!(runs_of(&server).await, 2);
    // Typed inputs reached the run.
    let finished = server.wait_run(id).await;
    assert_eq!(finished["run"]["status"], "succeeded", "{finished}");
    let logs = common::read_logs(&server, id, "").await;
    assert!(
        logs.iter()
            .any(|l| l["text"].as_str().unwrap_or("").contains("hi 3 red")),
        "{logs:?}"
    );
    // Bad input answers the API's 422 as a page.
    let response = client()
        .post(format!("{}/projects/p/trigger", server.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("input.colour", "green")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 422);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_trigger_form_and_is_refused() {
    let (server, _work) = setup().await;
    let (status, created) = server.post("/users", json!({ "name": "vic" })).await;
    assert_eq!(status, 201, "{created}");
    let vic_token = created["token"].as_str().expect("token").to_string();
    let response = server
        .client
        .put(server.api("/projects/p/roles/vic"))
        .bearer_auth(&server.token)
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .expect("role");
    assert_eq!(response.status().as_u16(), 204);

    // Passwords: too short refused; another user's only by an admin.
    let set = |token: &str, user: &str, password: &str| {
        server
            .client
            .put(server.api(&format!("/users/{user}/password")))
            .bearer_auth(token)
            .json(&json!({ "password": password }))
            .send()
    };
    assert_eq!(
        set(&server.token, "vic", "short")
            .await
            .expect("put")
            .status(),
        422
    );
    assert_eq!(
        set(&vic_token, "admin", "long enough!")
            .await
            .expect("put")
            .status(),
        403
    );
    assert_eq!(
        set(&vic_token, "vic", "vics password")
            .await
            .expect("put")
            .status(),
        204
    );
    assert_eq!(
        set(&server.token, "nobody", "long enough!")
            .await
            .expect("put")
            .status(),
        404
    );

    let (cookie, _) = login(&server, "vic", "vics password").await;
    let (status, html) = page(&server, &cookie, "/projects/p").await;
    assert_eq!(status, 200);
    assert!(!html.contains("Trigger a run"), "{html}");
    assert!(!html.contains("/projects/p/trigger"));
    let csrf = csrf_of(&html); // the logout form's
    let response = client()
        .post(format!("{}/projects/p/trigger", server.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        response
            .text()
            .await
            .expect("text")
            .contains("developer role")
    );
    assert_eq!(runs_of(&server).await, 0);

    // A user with no role on the project does not see it at all.
    let (status, _) = server.post("/users", json!({ "name": "olga" })).await;
    assert_eq!(status, 201);
    assert_eq!(
        set(&server.token, "olga", "olgas password")
            .await
            .expect("put")
            .status(),
        204
    );
    let (cookie, _) = login(&server, "olga", "olgas password").await;
    let (_, html) = page(&server, &cookie, "/").await;
    assert!(!html.contains("/projects/p\""), "{html}");
    assert_eq!(page(&server, &cookie, "/projects/p").await.0, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_filters_pages_and_shows_no_secret() {
    let (server, _work) = setup().await;
    for _ in 0..3 {
        let (status, run) = server.post("/projects/p/runs", json!({})).await;
        assert_eq!(status, 201, "{run}");
        server.wait_run(run["id"].as_i64().expect("id")).await;
    }
    let password = admin_password(&server);
    let (cookie, set_cookie) = login(&server, "admin", &password).await;
    let (status, html) = page(&server, &cookie, "/projects/p").await;
    assert_eq!(status, 200);
    for needle in [
        "#1",
        "#2",
        "#3",
        "succeeded",
        "manual",
        "main",
        "Trigger a run",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    // The form offers the pipeline's typed inputs.
    assert!(
        html.contains("name=\"input.times\" type=\"number\""),
        "{html}"
    );
    assert!(html.contains("<option value=\"blue\" selected>blue</option>"));
    assert!(html.contains("data-refresh=\"/projects/p/runs-table\""));
    // Filters: nothing failed; the fragment is the table alone.
    let (_, failed) = page(
        &server,
        &cookie,
        "/projects/p/runs-table?status=failed&branch=",
    )
    .await;
    assert!(failed.contains("No runs match."), "{failed}");
    assert!(!failed.contains("<html"));
    let (_, other) = page(&server, &cookie, "/projects/p/runs-table?branch=other").await;
    assert!(other.contains("No runs match."));
    let (status, _) = page(&server, &cookie, "/projects/p/runs-table?status=bogus").await;
    assert_eq!(status, 400);
    // Paging: below run 2 only run 1 remains.
    let (_, older) = page(&server, &cookie, "/projects/p?before=2").await;
    assert!(older.contains("/runs/") && older.contains("#1") && !older.contains(">#3<"));
    assert!(older.contains("Newest runs"));

    // No secret value, token or password in any page.
    let session = cookie.trim_start_matches("slipway_session=");
    for path in ["/", "/projects/p", "/projects/p/runs-table", "/login"] {
        let (_, html) = page(&server, &cookie, path).await;
        for secret in [SECRET, password.as_str(), session, server.token.as_str()] {
            assert!(!html.contains(secret), "{path} shows a secret");
        }
    }
    assert!(set_cookie.contains(session));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_lock_the_name_and_sign_ins_are_audited() {
    let (server, _work) = setup().await;
    let (status, _) = server.post("/users", json!({ "name": "dora" })).await;
    assert_eq!(status, 201);
    common::set_password(&server, "dora", "doras password").await;
    let attempt = |user: &'static str, password: String| {
        let url = format!("{}/login", server.url);
        async move {
            client()
                .post(url)
                .form(&[("username", user), ("password", password.as_str())])
                .send()
                .await
                .expect("login")
        }
    };

    // Five wrong passwords are answered as wrong; then the name is locked
    // and even the right password is refused, saying for how long.
    for n in 1..=5 {
        let response = attempt("admin", format!("guess {n}")).await;
        assert_eq!(response.status().as_u16(), 401, "guess {n}");
    }
    let response = attempt("admin", admin_password(&server)).await;
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
    let html = response.text().await.expect("text");
    assert!(
        html.contains("Too many wrong passwords for this username: sign-in is locked for"),
        "{html}"
    );
    // Another name is not locked, and the API's tokens still work.
    let (cookie, _) = login(&server, "dora", "doras password").await;
    assert_eq!(server.get("/projects").await.0, 200);

    let (_, html) = page(&server, &cookie, "/").await;
    let response = client()
        .post(format!("{}/logout", server.url))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 303);

    let (status, audit) = server.get("/audit?limit=1000").await;
    assert_eq!(status, 200);
    let entries: Vec<(String, String, String)> = audit
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().expect("actor").to_string(),
                e["action"].as_str().expect("action").to_string(),
                e["target"].as_str().expect("target").to_string(),
            )
        })
        .filter(|(_, action, _)| action.starts_with("user.log"))
        .collect();
    let expect = |actor: &str, action: &str, target: &str| {
        (actor.to_string(), action.to_string(), target.to_string())
    };
    assert_eq!(
        entries,
        vec![
            expect("anonymous", "user.login_locked", "user:admin"),
            expect("dora", "user.login", "user:dora"),
            expect("dora", "user.logout", "user:dora"),
        ]
    );
    let locked = audit
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "user.login_locked")
        .expect("the lock");
    assert_eq!(locked["details"]["failures"], 5);
    let text = audit.to_string();
    for secret in [
        "guess 5",
        "doras password",
        admin_password(&server).as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
    server.stop().await;
}
