//! Real forge payloads (from the shared conformance data), re-pointed at a local repository
//! and signed here with the project's secret, delivered to `Triggers::webhook`.
//!
//! A signed payload cannot be edited, so each test substitutes the payload's commit ids (and
//! clone URL) with those of the local origin and then signs its own copy; the code verifies.

mod common;

use std::path::PathBuf;

use common::{Fixture, SECRET, pipeline};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use slipway_hooks::Forge;
use slipway_store::sql::ServerStore;

const ON: &str = "  push:\n    branches: [master]\n  pull_request: {}\n  tag: {}";

fn conformance_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SLIPWAY_CONFORMANCE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
        PathBuf::from,
    );
    let webhooks = dir.join("webhooks");
    if webhooks.is_dir() {
        Some(webhooks)
    } else {
        println!("skipped: no conformance data at {}", webhooks.display());
        None
    }
}

/// A payload with every `(old, new)` substitution made.
fn payload(dir: &std::path::Path, file: &str, swaps: &[(&str, &str)]) -> Vec<u8> {
    let mut text = std::fs::read_to_string(dir.join(file)).expect("payload");
    for (old, new) in swaps {
        assert!(text.contains(old), "{file} does not contain {old}");
        text = text.replace(old, new);
    }
    text.into_bytes()
}

fn hmac_hex(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Headers as the server's lookup gives them: by lower-case name.
fn headers(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> + Sync {
    move |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    }
}

fn github(event: &str, body: &[u8]) -> impl Fn(&str) -> Option<String> + Sync {
    headers(vec![
        ("x-github-event", event.to_owned()),
        ("x-hub-signature-256", format!("sha256={}", hmac_hex(body))),
    ])
}

/// A fixture on `master` with a second commit; returns it with (first, second) commit ids.
async fn fixture(on: &str) -> (Fixture, String, String) {
    let f = Fixture::new("master", &pipeline(on)).await;
    let first = f.origin.git(&["rev-parse", "HEAD"]);
    let second = f.origin.commit(&[("src/main.rs", Some("fn main() {}\n"))]);
    (f, first, second)
}

const GH_PUSH_BEFORE: &str = "a10867b14bb761a232cd80139fbd4c0d33264240";
const GH_PUSH_AFTER: &str = "199eddf46df50de8d02e99bf1c5fdb4101338224";
const GH_CLONE: &str = "https://github.com/Codertocat/Hello-World.git";

#[tokio::test]
async fn github_push_signed_starts_a_run_tampered_or_unsigned_does_not() {
    let Some(dir) = conformance_dir() else { return };
    let (f, first, second) = fixture(ON).await;
    let url = f.origin.url();
    let body = payload(
        &dir,
        "go-scm/github/push.json",
        &[
            (GH_PUSH_BEFORE, &first),
            (GH_PUSH_AFTER, &second),
            (GH_CLONE, &url),
        ],
    );

    let mut tampered = body.clone();
    if let Some(byte) = tampered.iter_mut().find(|b| **b == b'M') {
        *byte = b'N';
    }
    let (status, answer) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("push", &body), &tampered)
        .await;
    assert_eq!((status, answer.result.as_str()), (401, "rejected"));
    let unsigned = headers(vec![("x-github-event", "push".to_owned())]);
    let (status, _) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &unsigned, &body)
        .await;
    assert_eq!(status, 401);
    assert!(
        f.recorder.taken().is_empty(),
        "nothing created for a bad signature"
    );

    let (status, answer) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("push", &body), &body)
        .await;
    assert_eq!(
        (status, answer.result.as_str()),
        (202, "started"),
        "{answer:?}"
    );
    assert_eq!(answer.runs, vec![1]);
    let requests = f.recorder.taken();
    let [request] = requests.as_slice() else {
        panic!("one request expected: {requests:?}");
    };
    assert_eq!(request.trigger, "push");
    assert_eq!(request.branch.as_deref(), Some("master"));
    assert_eq!(request.commit.as_deref(), Some(second.as_str()));
    // No `paths:` filter: the changed paths are not computed.
    assert!(request.git.changed_paths.is_empty());
    assert!(request.pipeline.is_ok(), "{:?}", request.pipeline);

    // Every delivery is in the store's log, newest first.
    let log = f.store.deliveries(f.project.id, 10).await.unwrap();
    let results: Vec<&str> = log.iter().map(|d| d.result.as_str()).collect();
    assert_eq!(results, ["started", "rejected", "rejected"]);
    assert_eq!(log[0].run_ids, vec![1]);
    assert_eq!(
        (log[0].forge.as_str(), log[0].event.as_str()),
        ("github", "push")
    );

    // Polling after the webhook does not start the same push again.
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn changed_paths_are_computed_when_a_paths_filter_needs_them() {
    let Some(dir) = conformance_dir() else { return };
    for (on, started) in [
        (
            "  push:\n    branches: [master]\n    paths: ['src/**']",
            true,
        ),
        (
            "  push:\n    branches: [master]\n    paths-ignore: ['src/**']",
            false,
        ),
    ] {
        let (f, first, second) = fixture(on).await;
        let url = f.origin.url();
        let body = payload(
            &dir,
            "go-scm/github/push.json",
            &[
                (GH_PUSH_BEFORE, &first),
                (GH_PUSH_AFTER, &second),
                (GH_CLONE, &url),
            ],
        );
        let (status, answer) = f
            .triggers
            .webhook(Forge::GitHub, "demo", &github("push", &body), &body)
            .await;
        assert_eq!(status, 202, "{answer:?}");
        let requests = f.recorder.taken();
        if started {
            assert_eq!(answer.result, "started", "{answer:?}");
            let [request] = requests.as_slice() else {
                panic!("one request expected: {requests:?}");
            };
            assert_eq!(request.git.changed_paths, vec!["src/main.rs"]);
        } else {
            assert_eq!(answer.result, "ignored", "{answer:?}");
            assert!(requests.is_empty(), "{requests:?}");
        }
    }
}

#[tokio::test]
async fn webhook_then_poll_with_baseline_does_not_start_twice() {
    let Some(dir) = conformance_dir() else { return };
    let (f, first, _) = fixture(ON).await;
    f.triggers.poll_project(&f.project).await.unwrap(); // baseline: master at `second`
    let third = f.origin.commit(&[("src/lib.rs", Some("x\n"))]);
    let second = f.origin.git(&["rev-parse", "HEAD~1"]);
    assert_ne!(first, second);
    let body = payload(
        &dir,
        "go-scm/github/push.json",
        &[(GH_PUSH_BEFORE, &second), (GH_PUSH_AFTER, &third)],
    );
    let (status, _) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("push", &body), &body)
        .await;
    assert_eq!(status, 202);
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.recorder.taken().len(), 1);
}

#[tokio::test]
async fn unknown_events_and_unmatched_branches_are_ignored_with_202() {
    let Some(dir) = conformance_dir() else { return };
    let (f, first, second) = fixture("  push:\n    branches: [main]").await;
    let body = payload(&dir, "go-scm/github/release_published.json", &[]);
    let (status, answer) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("release", &body), &body)
        .await;
    assert_eq!(
        (status, answer.result.as_str()),
        (202, "ignored"),
        "{answer:?}"
    );

    let body = payload(
        &dir,
        "go-scm/github/push.json",
        &[(GH_PUSH_BEFORE, &first), (GH_PUSH_AFTER, &second)],
    );
    let (status, answer) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("push", &body), &body)
        .await;
    assert_eq!((status, answer.result.as_str()), (202, "ignored"));
    let message = answer.message.unwrap_or_default();
    assert!(message.contains("master"), "{message}");
    assert!(f.recorder.taken().is_empty());
}

#[tokio::test]
async fn an_unfetchable_commit_still_becomes_a_failed_run() {
    let Some(dir) = conformance_dir() else { return };
    let (f, first, _) = fixture(ON).await;
    let missing = "1234567890123456789012345678901234567890";
    let body = payload(
        &dir,
        "go-scm/github/push.json",
        &[(GH_PUSH_BEFORE, &first), (GH_PUSH_AFTER, missing)],
    );
    let (status, answer) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("push", &body), &body)
        .await;
    assert_eq!((status, answer.result.as_str()), (202, "started"));
    let requests = f.recorder.taken();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].commit.as_deref(), Some(missing));
    let why = requests[0].pipeline.as_ref().unwrap_err();
    assert!(why.contains(missing), "{why}");
}

#[tokio::test]
async fn pull_request_opened_fetches_the_head_ref_and_starts_a_pull_request_run() {
    let Some(dir) = conformance_dir() else { return };
    let (f, _, _) = fixture(ON).await;
    // The pull request's head lives only under refs/pull/1/head, as on the forge.
    f.origin.git(&["checkout", "--quiet", "-b", "topic"]);
    let head = f.origin.commit(&[("src/feature.rs", Some("f\n"))]);
    f.origin.git(&["update-ref", "refs/pull/1/head", &head]);
    f.origin.git(&["checkout", "--quiet", "master"]);
    f.origin.git(&["branch", "--quiet", "-D", "topic"]);

    let body = payload(
        &dir,
        "go-scm/github/pr_opened.json",
        &[("d2b75aa7797ec26b088fa2dd527e9d2c052fcedd", &head)],
    );
    let (status, answer) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("pull_request", &body), &body)
        .await;
    assert_eq!(
        (status, answer.result.as_str()),
        (202, "started"),
        "{answer:?}"
    );
    let requests = f.recorder.taken();
    let [request] = requests.as_slice() else {
        panic!("one request expected: {requests:?}");
    };
    assert_eq!(request.trigger, "pull_request");
    assert_eq!(request.git.event, "pull_request");
    assert_eq!(request.commit.as_deref(), Some(head.as_str()));
    assert!(request.pipeline.is_ok(), "{:?}", request.pipeline);
    let pr = request.pull_request.as_ref().expect("pull request info");
    assert_eq!(pr.number, 1);
    assert_eq!(pr.head_ref, "refs/pull/1/head");
}

#[tokio::test]
async fn gitea_and_gitlab_pushes_are_verified_their_own_way() {
    let Some(dir) = conformance_dir() else { return };
    let (f, first, second) = fixture(ON).await;

    let body = payload(
        &dir,
        "go-scm/gitea/push.json",
        &[
            ("9836a96a253cce25d17988fcf41b8c4205cf779f", &first),
            ("4522cbcefc20728a5b72b3a86af35e608622c514", &second),
        ],
    );
    let signed = headers(vec![
        ("x-gitea-event", "push".to_owned()),
        ("x-gitea-signature", hmac_hex(&body)),
    ]);
    let (status, answer) = f
        .triggers
        .webhook(Forge::Gitea, "demo", &signed, &body)
        .await;
    assert_eq!(
        (status, answer.result.as_str()),
        (202, "started"),
        "{answer:?}"
    );

    let body = payload(
        &dir,
        "go-scm/gitlab/push.json",
        &[
            ("9217710ce8c7e1eae7a5d1c45f6e43e1c769f866", &first),
            ("2adc9465c4edfc33834e173fe89436a7cb899a1d", &second),
        ],
    );
    let wrong = headers(vec![
        ("x-gitlab-event", "Push Hook".to_owned()),
        ("x-gitlab-token", "not the secret".to_owned()),
    ]);
    let (status, _) = f
        .triggers
        .webhook(Forge::GitLab, "demo", &wrong, &body)
        .await;
    assert_eq!(status, 401);
    let right = headers(vec![
        ("x-gitlab-event", "Push Hook".to_owned()),
        ("x-gitlab-token", SECRET.to_owned()),
    ]);
    let (status, answer) = f
        .triggers
        .webhook(Forge::GitLab, "demo", &right, &body)
        .await;
    assert_eq!(
        (status, answer.result.as_str()),
        (202, "started"),
        "{answer:?}"
    );

    let requests = f.recorder.taken();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.commit.as_deref() == Some(second.as_str()))
    );
}

#[tokio::test]
async fn unknown_project_is_404_and_oversized_body_is_413() {
    let (f, _, _) = fixture(ON).await;
    let body = b"{}";
    let (status, _) = f
        .triggers
        .webhook(Forge::GitHub, "nope", &github("push", body), body)
        .await;
    assert_eq!(status, 404);
    let (status, _) = f
        .triggers
        .webhook(
            Forge::GitHub,
            "'; DROP TABLE projects; --",
            &github("push", body),
            body,
        )
        .await;
    assert_eq!(status, 404);
    let big = vec![b' '; slipway_hooks::MAX_BODY_BYTES + 1];
    let (status, _) = f
        .triggers
        .webhook(Forge::GitHub, "demo", &github("push", &big), &big)
        .await;
    assert_eq!(status, 413);
    assert!(f.recorder.taken().is_empty());
}

/// The server awaits these futures in axum handlers and spawned tasks, so they must be `Send`.
#[tokio::test]
async fn trigger_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (f, _, _) = fixture(ON).await;
    let lookup = github("push", b"{}");
    let webhook = f.triggers.webhook(Forge::GitHub, "demo", &lookup, b"{}");
    assert_send(&webhook);
    let manual = f.triggers.manual(&f.project, None, serde_json::Map::new());
    assert_send(&manual);
    assert_send(&f.triggers.poll_project(&f.project));
    assert_send(&f.triggers.cron_tick(0));
    assert_eq!(
        webhook.await.0,
        400,
        "a signed empty object is not a push payload"
    );
}
