//! A real server with its built-in agent runs a pipeline from a git
//! repository end to end.

mod common;

use serde_json::json;

const PIPELINE: &str = r#"
name: demo
on:
  push:
    branches: [main]
  manual: {}
jobs:
  build:
    steps:
      - run: echo building $SLIPWAY_RUN
      - run: echo "artifact" > out.txt
    artifacts:
      out: out.txt
  test:
    needs: [build]
    steps:
      - run: cat out.txt
      - run: echo "secret is $TOKEN"
        env:
          TOKEN: ${{ secrets.TOKEN }}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_run_goes_through_the_builtin_agent() {
    manual_run(common::start(true).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_run_on_postgresql() {
    manual_run(common::start_on_postgres(true).await).await;
}

async fn manual_run(server: common::TestServer) {
    let work = tempfile::tempdir().expect("tempdir");
    let repo = common::repo(work.path(), &[("slipway.yml", PIPELINE)]);
    let (status, created) = server
        .post(
            "/projects",
            json!({ "name": "demo", "repo_url": repo.display().to_string() }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["generated_webhook_secret"].as_str().is_some());
    let response = server
        .client
        .put(server.api("/projects/demo/secrets/TOKEN"))
        .bearer_auth(&server.token)
        .json(&json!({ "value": "hunter2-very-secret" }))
        .send()
        .await
        .expect("put secret");
    assert_eq!(response.status().as_u16(), 204);

    let (status, run) = server.post("/projects/demo/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_i64().expect("run id");
    let detail = server.wait_run(id).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    let jobs = detail["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 2, "{detail}");
    for job in jobs {
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["agent"], "builtin-agent", "{job}");
        assert_eq!(job["steps"].as_array().map(Vec::len), Some(2), "{job}");
    }

    let lines = common::read_logs(&server, id, "").await;
    let texts: Vec<&str> = lines.iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(
        texts.contains(&"artifact"),
        "the test job read the build job's artifact: {texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("secret is ***")),
        "{texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("hunter2")),
        "secret leaked: {texts:?}"
    );
    let test_only = common::read_logs(&server, id, "?job=test").await;
    assert!(
        test_only.iter().all(|l| l["job"] == "test"),
        "{test_only:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_results_are_stored_per_test_and_flaky_ones_found() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let counter = work.path().join("count");
    // The second run's `b` fails on the same commit: flaky.
    let pipeline = format!(
        r#"on: {{ manual: {{}} }}
jobs:
  test:
    steps:
      - run: |
          echo x >> {counter}
          mkdir -p reports
          if [ "$(wc -l < {counter})" -eq 1 ]; then b='<testcase classname="t" name="b"/>'; else b='<testcase classname="t" name="b"><failure message="boom"/></testcase>'; fi
          echo "<testsuite name=\"s\"><testcase classname=\"t\" name=\"a\" time=\"0.5\"/>$b</testsuite>" > reports/junit.xml
    reports:
      junit: ["reports/*.xml"]
"#,
        counter = counter.display()
    );
    let repo = common::repo(work.path(), &[("slipway.yml", &pipeline)]);
    common::project(&server, "tests", &repo).await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (status, run) = server.post("/projects/tests/runs", json!({})).await;
        assert_eq!(status, 201, "{run}");
        let id = run["id"].as_i64().expect("id");
        assert_eq!(server.wait_run(id).await["run"]["status"], "succeeded");
        runs.push(id);
    }
    let (status, results) = server.get(&format!("/runs/{}/tests", runs[1])).await;
    assert_eq!(status, 200, "{results}");
    let results = results.as_array().expect("results");
    assert_eq!(results.len(), 2, "{results:?}");
    let b = results.iter().find(|r| r["name"] == "b").expect("b");
    assert_eq!(b["outcome"], "failed");
    assert_eq!(b["message"], "boom");
    let (_, flaky) = server.get("/projects/tests/flaky").await;
    let flaky = flaky.as_array().expect("flaky");
    assert_eq!(flaky.len(), 1, "{flaky:?}");
    assert_eq!(flaky[0]["name"], "b");
    assert!(
        flaky[0]["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("passed and failed on commit"),
        "{flaky:?}"
    );
    server.stop().await;
}
