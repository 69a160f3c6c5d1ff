//! A `deploy:` job through the server and its built-in agent: the demo
//! service installed on two local targets, then the topology and the
//! records over the API.

mod common;

use std::time::Duration;

use serde_json::json;

async fn version(port: u16) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.split_once("\r\n\r\n")
        .and_then(|(_, body)| body.lines().next().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_job_runs_on_the_builtin_agent_and_shows_in_the_api() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let (p1, p2) = (common::free_port(), common::free_port());
    let pipeline = format!(
        r#"on: {{ manual: {{}} }}
jobs:
  build:
    steps:
      - run: mkdir -p dist && cp {demo} dist/app
    artifacts:
      app: dist/app
  deploy:
    needs: [build]
    deploy:
      environment: local
      artifact: build.app
      strategy:
        rolling: {{ batch: 1 }}
"#,
        demo = common::demo_binary().display()
    );
    let environment = format!(
        r#"targets:
  - name: one
    kind: local
    port: {p1}
  - name: two
    kind: local
    port: {p2}
service:
  activate: {{ start: "$ARTIFACT --listen 127.0.0.1:$PORT --version v1" }}
  health:
    http: /healthz
    interval: 50ms
    timeout: 1s
    max_wait: 20s
"#
    );
    let repo = common::repo(
        work.path(),
        &[
            ("slipway.yml", &pipeline),
            (".slipway/environments/local.yml", &environment),
        ],
    );
    common::project(&server, "shop", &repo).await;
    let state_file = server
        .data
        .path()
        .join("agent/environments/shop/local/state.json");
    let _stop = common::StopTargets(vec![state_file.clone()]);
    let (status, run) = server.post("/projects/shop/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    let detail = server.wait_run(run["id"].as_i64().expect("id")).await;
    let lines = common::read_logs(&server, run["id"].as_i64().expect("id"), "?job=deploy").await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}\n{lines:?}");
    let checks = async {
        assert_eq!(version(p1).await.as_deref(), Some("v1"));
        assert_eq!(version(p2).await.as_deref(), Some("v1"));
        let (status, topology) = server.get("/projects/shop/environments/local").await;
        assert_eq!(status, 200, "{topology}");
        let targets = topology["targets"].as_array().expect("targets");
        assert_eq!(targets.len(), 2, "{topology}");
        for target in targets {
            assert_eq!(target["phase"], "serving", "{topology}");
            assert!(target["digest"].as_str().is_some(), "{topology}");
        }
        let (status, records) = server
            .get("/projects/shop/environments/local/deployments")
            .await;
        assert_eq!(status, 200, "{records}");
        assert_eq!(records.as_array().map(Vec::len), Some(1), "{records}");
        assert_eq!(records[0]["outcome"], "succeeded", "{records}");
        let (status, _) = server.get("/projects/shop/environments/nope").await;
        assert_eq!(status, 404);
    };
    tokio::time::timeout(Duration::from_secs(60), checks)
        .await
        .expect("checks finished");
    server.stop().await;
}
