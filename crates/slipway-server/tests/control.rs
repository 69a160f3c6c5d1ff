//! Cancel, retry, concurrency groups, polling — against a real server with
//! its built-in agent and real git repositories.

mod common;

use std::time::Duration;

use serde_json::json;

/// Whether run `run` printed the line `text` within about 30 s.
async fn printed(server: &common::TestServer, run: i64, text: &str) -> bool {
    for _ in 0..300 {
        if common::read_logs(server, run, "")
            .await
            .iter()
            .any(|l| l["text"] == text)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_job() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let pipeline = "on: { manual: {} }\njobs:\n  slow:\n    steps:\n      - run: echo started; sleep 60\n  after:\n    needs: [slow]\n    steps:\n      - run: echo never\n";
    let repo = common::repo(work.path(), &[("slipway.yml", pipeline)]);
    common::project(&server, "demo", &repo).await;
    let (_, run) = server.post("/projects/demo/runs", json!({})).await;
    let id = run["id"].as_i64().expect("id");
    // Wait until the step printed, so the cancel reaches a running process.
    assert!(
        printed(&server, id, "started").await,
        "the job never started"
    );
    let (status, _) = server.post(&format!("/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    let detail = server.wait_run(id).await;
    assert_eq!(detail["run"]["status"], "cancelled", "{detail}");
    let jobs = detail["jobs"].as_array().expect("jobs");
    let slow = jobs.iter().find(|j| j["key"] == "slow").expect("slow");
    assert_eq!(slow["status"], "cancelled", "{detail}");
    assert!(
        jobs.iter()
            .all(|j| j["key"] != "after" || j["status"] != "succeeded"),
        "{detail}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_reruns_the_failed_job_and_keeps_the_passed_one() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let flag = work.path().join("flag");
    let pipeline = format!(
        "on: {{ manual: {{}} }}\njobs:\n  build:\n    steps:\n      - run: echo built >> {count}\n  test:\n    needs: [build]\n    steps:\n      - run: test -f {flag} || (touch {flag}; exit 3)\n",
        count = work.path().join("builds").display(),
        flag = flag.display()
    );
    let repo = common::repo(work.path(), &[("slipway.yml", &pipeline)]);
    common::project(&server, "demo", &repo).await;
    let (_, run) = server.post("/projects/demo/runs", json!({})).await;
    let first = server.wait_run(run["id"].as_i64().expect("id")).await;
    assert_eq!(first["run"]["status"], "failed", "{first}");
    assert!(
        first["run"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("test"),
        "{first}"
    );

    let (status, retried) = server
        .post(
            &format!("/runs/{}/retry", run["id"]),
            json!({ "jobs": ["test"] }),
        )
        .await;
    assert_eq!(status, 201, "{retried}");
    let second = server.wait_run(retried["id"].as_i64().expect("id")).await;
    assert_eq!(second["run"]["status"], "succeeded", "{second}");
    assert_eq!(second["run"]["trigger"], "retry");
    let builds = std::fs::read_to_string(work.path().join("builds")).expect("builds");
    assert_eq!(
        builds.lines().count(),
        1,
        "the passed build job kept its result"
    );

    let (status, _) = server
        .post(
            &format!("/runs/{}/retry", run["id"]),
            json!({ "jobs": ["nope"] }),
        )
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_groups_queue_in_order_or_cancel_in_progress() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let order = work.path().join("order");
    let pipeline = format!(
        "on: {{ manual: {{}} }}\nconcurrency: deploy\njobs:\n  only:\n    steps:\n      - run: echo $SLIPWAY_RUN start >> {o}; sleep 1; echo $SLIPWAY_RUN end >> {o}\n",
        o = order.display()
    );
    let repo = common::repo(work.path(), &[("slipway.yml", &pipeline)]);
    common::project(&server, "queued", &repo).await;
    let (_, a) = server.post("/projects/queued/runs", json!({})).await;
    let (_, b) = server.post("/projects/queued/runs", json!({})).await;
    let (a, b) = (a["id"].as_i64().expect("a"), b["id"].as_i64().expect("b"));
    assert_eq!(server.wait_run(a).await["run"]["status"], "succeeded");
    assert_eq!(server.wait_run(b).await["run"]["status"], "succeeded");
    let text = std::fs::read_to_string(&order).expect("order");
    let expected = format!("{a} start\n{a} end\n{b} start\n{b} end\n");
    assert_eq!(text, expected, "one run of the group at a time, in order");

    let cancelling = "on: { manual: {} }\nconcurrency:\n  group: deploy\n  cancel-in-progress: true\njobs:\n  only:\n    steps:\n      - run: echo started; sleep 60\n";
    let work2 = tempfile::tempdir().expect("tempdir");
    let repo2 = common::repo(work2.path(), &[("slipway.yml", cancelling)]);
    common::project(&server, "superseded", &repo2).await;
    let (_, c) = server.post("/projects/superseded/runs", json!({})).await;
    let c = c["id"].as_i64().expect("c");
    assert!(
        printed(&server, c, "started").await,
        "the first job never started"
    );
    let (_, d) = server.post("/projects/superseded/runs", json!({})).await;
    let d = d["id"].as_i64().expect("d");
    let first = server.wait_run(c).await;
    assert_eq!(first["run"]["status"], "cancelled", "{first}");
    let (_, cancel) = server.post(&format!("/runs/{d}/cancel"), json!({})).await;
    assert_eq!(cancel["id"], d);
    assert_eq!(server.wait_run(d).await["run"]["status"], "cancelled");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_concurrency_groups_hold_across_runs() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let order = work.path().join("order");
    // `build` has no group: both runs' builds may run side by side. The
    // built-in agent runs two jobs at once, so without the group the two
    // `deploy` jobs would overlap.
    let pipeline = format!(
        "on: {{ manual: {{}} }}\njobs:\n  build:\n    steps:\n      - run: echo built\n  deploy:\n    needs: [build]\n    concurrency: deploy-${{{{ git.branch }}}}\n    steps:\n      - run: echo $SLIPWAY_RUN start >> {o}; sleep 1; echo $SLIPWAY_RUN end >> {o}\n",
        o = order.display()
    );
    let repo = common::repo(work.path(), &[("slipway.yml", &pipeline)]);
    common::project(&server, "jobs", &repo).await;
    let (_, a) = server.post("/projects/jobs/runs", json!({})).await;
    let (_, b) = server.post("/projects/jobs/runs", json!({})).await;
    let (a, b) = (a["id"].as_i64().expect("a"), b["id"].as_i64().expect("b"));
    assert_eq!(server.wait_run(a).await["run"]["status"], "succeeded");
    assert_eq!(server.wait_run(b).await["run"]["status"], "succeeded");
    let text = std::fs::read_to_string(&order).expect("order");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let first = lines[0].split(' ').next().expect("run");
    assert_eq!(
        lines,
        [
            format!("{first} start"),
            format!("{first} end"),
            format!("{} start", if first == a.to_string() { b } else { a }),
            format!("{} end", if first == a.to_string() { b } else { a }),
        ],
        "one deploy of the group at a time"
    );

    // With cancel-in-progress a newer run's job supersedes the running one.
    let cancelling = "on: { manual: {} }\njobs:\n  deploy:\n    concurrency:\n      group: prod\n      cancel-in-progress: true\n    steps:\n      - run: echo started; sleep 60\n";
    let work2 = tempfile::tempdir().expect("tempdir");
    let repo2 = common::repo(work2.path(), &[("slipway.yml", cancelling)]);
    common::project(&server, "superseded", &repo2).await;
    let (_, c) = server.post("/projects/superseded/runs", json!({})).await;
    let c = c["id"].as_i64().expect("c");
    assert!(
        printed(&server, c, "started").await,
        "the first job never started"
    );
    let (_, d) = server.post("/projects/superseded/runs", json!({})).await;
    let d = d["id"].as_i64().expect("d");
    let first = server.wait_run(c).await;
    assert_eq!(first["run"]["status"], "cancelled", "{first}");
    assert!(
        first.to_string().contains("superseded by deploy of run"),
        "{first}"
    );
    // The newcomer runs (it is cancelled here only to end the test).
    assert!(
        printed(&server, d, "started").await,
        "the newcomer never started"
    );
    let (_, cancel) = server.post(&format!("/runs/{d}/cancel"), json!({})).await;
    assert_eq!(cancel["id"], d);
    assert_eq!(server.wait_run(d).await["run"]["status"], "cancelled");

    // A job waiting for its group says so on its run's page.
    let work3 = tempfile::tempdir().expect("tempdir");
    let go = work3.path().join("go");
    let holding = format!(
        "on: {{ manual: {{}} }}\njobs:\n  deploy:\n    concurrency: shared\n    steps:\n      - run: echo holding; while [ ! -f {go} ]; do sleep 0.1; done\n",
        go = go.display()
    );
    let repo3 = common::repo(work3.path(), &[("slipway.yml", &holding)]);
    common::project(&server, "held", &repo3).await;
    let (_, e) = server.post("/projects/held/runs", json!({})).await;
    let e = e["id"].as_i64().expect("e");
    assert!(
        printed(&server, e, "holding").await,
        "the first job never started"
    );
    let (_, f) = server.post("/projects/held/runs", json!({})).await;
    let f = f["id"].as_i64().expect("f");
    let expected = format!(
        "<li>deploy: waiting, concurrency group <code>shared</code> is held by deploy of run {e}</li>"
    );
    let mut shown = String::new();
    for _ in 0..300 {
        shown = server
            .client
            .get(format!("{}/runs/{f}", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        if shown.contains(&expected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown.contains(&expected), "{expected}\n{shown}");
    std::fs::write(&go, "").expect("go");
    assert_eq!(server.wait_run(e).await["run"]["status"], "succeeded");
    assert_eq!(server.wait_run(f).await["run"]["status"], "succeeded");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_commit_starts_a_run_by_polling() {
    let server = common::start(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let pipeline = "on:\n  push:\n    branches: [main]\njobs:\n  hello:\n    steps:\n      - run: echo polled\n";
    let repo = common::repo(work.path(), &[("slipway.yml", pipeline)]);
    common::project(&server, "polled", &repo).await;
    // The first poll only records the refs; give it time to happen.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    common::commit(&repo, &[("README", "hi\n")], "second");
    let sha = common::git(&repo, &["rev-parse", "HEAD"]);
    let runs = common::wait_runs(&server, "polled", |runs| !runs.is_empty()).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["trigger"], "push");
    assert_eq!(runs[0]["commit"], sha.as_str());
    let detail = server.wait_run(runs[0]["id"].as_i64().expect("id")).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    server.stop().await;
}
