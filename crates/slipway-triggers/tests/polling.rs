//! Polling against a real git origin and a real SQLite store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, pipeline};

const ON_MAIN_SRC: &str = "  push:\n    branches: [main]\n    paths: [\"src/**\", \"slipway.yml\"]\n  tag:\n    tags: [\"v*\"]";

#[tokio::test]
async fn first_poll_only_records_then_each_new_commit_and_tag_starts_one_run() {
    let f = Fixture::new("main", &pipeline(ON_MAIN_SRC)).await;
    assert_eq!(
        f.triggers.poll_project(&f.project).await.unwrap(),
        Vec::<i64>::new()
    );
    assert!(f.recorder.taken().is_empty());

    let sha = f.origin.commit(&[("src/lib.rs", Some("fn main() {}\n"))]);
    let runs = f.triggers.poll_project(&f.project).await.unwrap();
    assert_eq!(runs.len(), 1);
    let requests = f.recorder.taken();
    let [request] = requests.as_slice() else {
        panic!("one request expected, got {requests:?}");
    };
    assert_eq!(request.trigger, "push");
    assert_eq!(request.branch.as_deref(), Some("main"));
    assert_eq!(request.commit.as_deref(), Some(sha.as_str()));
    assert_eq!(request.git.event, "push");
    assert_eq!(request.git.changed_paths, vec!["src/lib.rs".to_owned()]);
    let source = request.pipeline.as_ref().expect("pipeline read");
    assert_eq!(source.file, "slipway.yml");
    assert!(source.source.contains("branches: [main]"));

    // Nothing new: nothing starts.
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty()
    );

    f.origin.git(&["tag", "v1.0"]);
    f.origin.git(&["tag", "nightly"]);
    assert_eq!(f.triggers.poll_project(&f.project).await.unwrap().len(), 1);
    let requests = f.recorder.taken();
    let [request] = requests.as_slice() else {
        panic!("one tag run expected, got {requests:?}");
    };
    assert_eq!(request.trigger, "tag");
    assert_eq!(request.tag.as_deref(), Some("v1.0"));
    assert_eq!(request.branch, None);
    assert_eq!(request.commit.as_deref(), Some(sha.as_str()));
}

#[tokio::test]
async fn branch_and_path_filters_decide() {
    let f = Fixture::new("main", &pipeline(ON_MAIN_SRC)).await;
    f.triggers.poll_project(&f.project).await.unwrap();

    f.origin.commit(&[("docs/guide.md", Some("words\n"))]);
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty(),
        "docs only"
    );

    // Two commits between polls: the range's paths count, one run for the new head.
    f.origin.commit(&[("docs/more.md", Some("more\n"))]);
    let head = f.origin.commit(&[("src/a.rs", Some("a\n"))]);
    assert_eq!(f.triggers.poll_project(&f.project).await.unwrap().len(), 1);
    let requests = f.recorder.taken();
    assert_eq!(requests[0].commit.as_deref(), Some(head.as_str()));
    assert_eq!(
        requests[0].git.changed_paths,
        vec!["docs/more.md", "src/a.rs"]
    );

    // A new branch not in `branches`: nothing.
    f.origin.git(&["checkout", "--quiet", "-b", "dev"]);
    f.origin.commit(&[("src/b.rs", Some("b\n"))]);
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty(),
        "dev is filtered"
    );
    assert!(f.recorder.taken().is_empty());
}

#[tokio::test]
async fn new_branch_has_unknown_paths_so_path_filters_pass() {
    let on = "  push:\n    branches: [\"feature/*\"]\n    paths: [\"src/**\"]";
    let f = Fixture::new("main", &pipeline(on)).await;
    f.triggers.poll_project(&f.project).await.unwrap();
    f.origin.git(&["checkout", "--quiet", "-b", "feature/x"]);
    f.origin.commit(&[("docs/only.md", Some("d\n"))]);
    assert_eq!(f.triggers.poll_project(&f.project).await.unwrap().len(), 1);
    let requests = f.recorder.taken();
    assert_eq!(requests[0].branch.as_deref(), Some("feature/x"));
    assert!(requests[0].git.changed_paths.is_empty());
}

#[tokio::test]
async fn state_survives_a_new_triggers_instance() {
    let f = Fixture::new("main", &pipeline(ON_MAIN_SRC)).await;
    f.triggers.poll_project(&f.project).await.unwrap();
    let sha = f.origin.commit(&[("src/x.rs", Some("x\n"))]);

    let restarted = f.restarted();
    assert_eq!(restarted.poll_project(&f.project).await.unwrap().len(), 1);
    assert_eq!(f.recorder.taken()[0].commit.as_deref(), Some(sha.as_str()));
    assert!(
        f.restarted()
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_commit_without_a_valid_pipeline_becomes_a_failed_request() {
    let on = "  push: {}";
    let f = Fixture::new("main", &pipeline(on)).await;
    f.triggers.poll_project(&f.project).await.unwrap();

    let broken = f.origin.commit(&[(
        "slipway.yml",
        Some("on: push\njobs:\n  build:\n    stepz: []\n"),
    )]);
    assert_eq!(f.triggers.poll_project(&f.project).await.unwrap().len(), 1);
    let requests = f.recorder.taken();
    assert_eq!(requests[0].commit.as_deref(), Some(broken.as_str()));
    let why = requests[0].pipeline.as_ref().unwrap_err();
    assert!(
        why.starts_with("slipway.yml:"),
        "file:line:col expected: {why}"
    );

    let gone = f.origin.commit(&[("slipway.yml", None)]);
    assert_eq!(f.triggers.poll_project(&f.project).await.unwrap().len(), 1);
    let requests = f.recorder.taken();
    let why = requests[0].pipeline.as_ref().unwrap_err();
    assert!(
        why.contains(&gone) && why.contains("has no slipway.yml"),
        "{why}"
    );
}

#[tokio::test]
async fn poll_loop_starts_runs_for_new_commits_and_stops_on_shutdown() {
    let f = Fixture::new("main", &pipeline(ON_MAIN_SRC)).await;
    f.triggers.poll_project(&f.project).await.unwrap();
    let sha = f.origin.commit(&[("src/loop.rs", Some("l\n"))]);

    let triggers = Arc::new(f.restarted());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Arc::clone(&triggers).poll_loop(Duration::from_secs(1), shutdown));
    // Wait for the event (bounded), not for a time.
    let mut requests = Vec::new();
    for _ in 0..600 {
        requests = f.recorder.taken();
        if !requests.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].commit.as_deref(), Some(sha.as_str()));
}
