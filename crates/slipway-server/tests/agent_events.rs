//! An agent's event batches over the real server, sent by raw HTTP so the
//! test decides what is sent twice: a batch sent again after its answer
//! was lost is stored once (batches are numbered per attempt), later
//! numbers are stored, and an unnumbered batch is always stored.

mod common;

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_again_is_stored_once() {
    let server = common::start(false).await;
    let work = tempfile::tempdir().expect("tempdir");
    let pipeline = "on: { manual: {} }\njobs:\n  hello:\n    steps:\n      - run: echo hi\n";
    let repo = common::repo(work.path(), &[("slipway.yml", pipeline)]);
    common::project(&server, "p", &repo).await;
    let (status, agent) = server
        .post("/tokens", json!({ "name": "agents", "kind": "agent" }))
        .await;
    assert_eq!(status, 201, "{agent}");
    let token = agent["token"].as_str().expect("token").to_string();
    let (status, run) = server.post("/projects/p/runs", json!({})).await;
    assert_eq!(status, 201, "{run}");
    let run = run["id"].as_i64().expect("run");

    let call = |path: String, body: Value| {
        let request = server
            .client
            .post(server.api(&path))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, job) = call(
        "/agent/claim".into(),
        json!({ "agent": "raw", "labels": [], "wait_ms": 10_000 }),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    let job_id = job["job_id"].as_i64().expect("job id");
    let attempt = job["attempt"].as_u64().expect("attempt");
    let events = format!("/agent/jobs/{job_id}/events");
    let batch = |seq: u64, texts: &[&str]| {
        json!({
            "agent": "raw",
            "attempt": attempt,
            "seq": seq,
            "lines": texts
                .iter()
                .map(|t| json!({ "step": 0, "stream": "o", "ts_ms": 1, "text": t }))
                .collect::<Vec<_>>(),
        })
    };
    for (seq, texts) in [
        (1, &["one", "two"][..]),
        (1, &["one", "two"][..]), // its answer was lost: sent again
        (2, &["three"][..]),
        (1, &["one", "two"][..]), // a very late copy
        (2, &["three"][..]),
        (0, &["unnumbered"][..]),
        (0, &["unnumbered"][..]),
    ] {
        let (status, ack) = call(events.clone(), batch(seq, texts)).await;
        assert_eq!(status, 200, "{ack}");
        assert_eq!(ack["cancel"], false);
    }
    // The same numbers from another attempt's stream are new batches.
    let other = json!({ "agent": "raw", "attempt": attempt + 1, "seq": 1,
        "lines": [{ "step": 0, "stream": "o", "ts_ms": 1, "text": "four" }] });
    assert_eq!(call(events.clone(), other).await.0, 200);

    let texts: Vec<String> = common::read_logs(&server, run, "")
        .await
        .iter()
        .filter_map(|line| line["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        texts,
        ["one", "two", "three", "unnumbered", "unnumbered", "four"],
        "each numbered batch once, in order"
    );
    let (status, _) = server.post(&format!("/runs/{run}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    server.stop().await;
}
