//! Parsing of synthetic deliveries: the cases the conformance fixtures do not cover (bad input,
//! ignored events and refs, truncated commit lists, GitLab `update` with new commits).

use serde_json::json;
use slipway_hooks::{
    Event, Forge, MAX_BODY_BYTES, ParseError, Parsed, PullRequestAction, event_type, parse,
};

const ZEROS: &str = "0000000000000000000000000000000000000000";
const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";

fn hub_repo() -> serde_json::Value {
    json!({
        "full_name": "acme/app",
        "clone_url": "https://forge.example/acme/app.git",
        "ssh_url": "git@forge.example:acme/app.git",
        "html_url": "https://forge.example/acme/app",
        "default_branch": "main"
    })
}

fn gitlab_project() -> serde_json::Value {
    json!({
        "path_with_namespace": "group/sub/app",
        "git_http_url": "https://gitlab.example/group/sub/app.git",
        "git_ssh_url": "git@gitlab.example:group/sub/app.git",
        "web_url": "https://gitlab.example/group/sub/app",
        "default_branch": "main"
    })
}

fn hub_push(ref_name: &str, before: &str, after: &str) -> Vec<u8> {
    json!({
        "ref": ref_name, "before": before, "after": after,
        "commits": [
            {"added": ["src/new.rs"], "modified": ["README.md"], "removed": []},
            {"added": [], "modified": ["README.md", "src/lib.rs"], "removed": ["old.txt"]}
        ],
        "repository": hub_repo(),
        "sender": {"login": "alice"}
    })
    .to_string()
    .into_bytes()
}

fn event(parsed: Result<Parsed, ParseError>) -> Event {
    match parsed {
        Ok(Parsed::Event(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn ignored(parsed: Result<Parsed, ParseError>) -> String {
    match parsed {
        Ok(Parsed::Ignored { reason }) => reason,
        other => panic!("expected Ignored, got {other:?}"),
    }
}

#[test]
fn branch_push_normalises_ref_paths_and_sender() {
    let Event::Push(push) = event(parse(
        Forge::GitHub,
        "push",
        &hub_push("refs/heads/feat/x", A, B),
    )) else {
        panic!("not a branch push")
    };
    assert_eq!(push.ref_name, "refs/heads/feat/x");
    assert_eq!(push.branch.as_deref(), Some("feat/x"));
    assert_eq!(push.tag, None);
    assert_eq!((push.before.as_str(), push.after.as_str()), (A, B));
    assert_eq!(
        push.commits_changed_paths,
        ["README.md", "old.txt", "src/lib.rs", "src/new.rs"]
    );
    assert!(!push.deleted && !push.commits_truncated);
    assert_eq!(push.sender, "alice");
    assert_eq!(push.repository.full_name, "acme/app");
    assert_eq!(
        push.repository.clone_url,
        "https://forge.example/acme/app.git"
    );
}

#[test]
fn tag_push_and_deletions() {
    let Event::Tag(tag) = event(parse(
        Forge::Gitea,
        "push",
        &hub_push("refs/tags/v1.2.3", ZEROS, A),
    )) else {
        panic!("not a tag push")
    };
    assert_eq!(tag.tag.as_deref(), Some("v1.2.3"));
    assert_eq!(tag.branch, None);
    assert!(!tag.deleted);

    let Event::Push(gone) = event(parse(
        Forge::Gitea,
        "push",
        &hub_push("refs/heads/old", A, ZEROS),
    )) else {
        panic!("not a branch push")
    };
    assert!(gone.deleted);

    // GitHub's own flag counts even if `after` were not zeros.
    let mut body: serde_json::Value =
        serde_json::from_slice(&hub_push("refs/heads/x", A, B)).unwrap_or_default();
    body["deleted"] = json!(true);
    let Event::Push(flagged) = event(parse(Forge::GitHub, "push", body.to_string().as_bytes()))
    else {
        panic!("not a branch push")
    };
    assert!(flagged.deleted);
}

#[test]
fn pushes_to_other_refs_are_ignored() {
    let reason = ignored(parse(
        Forge::GitHub,
        "push",
        &hub_push("refs/notes/commits", A, B),
    ));
    assert!(reason.contains("refs/notes/commits"), "{reason}");
}

#[test]
fn gitlab_push_reports_truncated_commit_lists() {
    let body = json!({
        "object_kind": "push", "ref": "refs/heads/main", "before": A, "after": B,
        "user_username": "bob", "project": gitlab_project(),
        "commits": [{"added": [], "modified": ["a"], "removed": []}],
        "total_commits_count": 25
    });
    let Event::Push(push) = event(parse(
        Forge::GitLab,
        "Push Hook",
        body.to_string().as_bytes(),
    )) else {
        panic!("not a branch push")
    };
    assert!(push.commits_truncated);
    assert_eq!(push.commits_changed_paths, ["a"]);
    assert_eq!(push.repository.full_name, "group/sub/app");
    assert_eq!(push.sender, "bob");
}

fn gitlab_mr(action: &str, oldrev: Option<&str>) -> Vec<u8> {
    let mut attributes = json!({
        "iid": 7, "title": "Add feature", "action": action,
        "source_branch": "feature", "target_branch": "main",
        "last_commit": {"id": B}, "url": "https://gitlab.example/group/sub/app/-/merge_requests/7"
    });
    if let Some(oldrev) = oldrev {
        attributes["oldrev"] = json!(oldrev);
    }
    json!({"object_kind": "merge_request", "user": {"username": "carol"}, "project": gitlab_project(), "object_attributes": attributes})
        .to_string()
        .into_bytes()
}

#[test]
fn gitlab_update_with_new_commits_is_a_synchronize() {
    let Event::PullRequest(pr) = event(parse(
        Forge::GitLab,
        "Merge Request Hook",
        &gitlab_mr("update", Some(A)),
    )) else {
        panic!("not a pull request")
    };
    assert_eq!(pr.action, PullRequestAction::Synchronize);
    assert_eq!(pr.number, 7);
    assert_eq!(pr.head_sha, B);
    assert_eq!(pr.head_ref, "refs/merge-requests/7/head");
    assert_eq!(
        (pr.source_branch.as_str(), pr.target_branch.as_str()),
        ("feature", "main")
    );
    assert_eq!(pr.sender, "carol");

    let reason = ignored(parse(
        Forge::GitLab,
        "Merge Request Hook",
        &gitlab_mr("update", None),
    ));
    assert!(reason.contains("oldrev"), "{reason}");
    for action in ["close", "merge", "approved", "unapproved"] {
        let reason = ignored(parse(
            Forge::GitLab,
            "Merge Request Hook",
            &gitlab_mr(action, Some(A)),
        ));
        assert!(reason.contains(action), "{reason}");
    }
}

#[test]
fn events_slipway_does_not_act_on_are_ignored_without_reading_the_body() {
    let cases = [
        (Forge::GitHub, "ping"),
        (Forge::GitHub, "issues"),
        (Forge::GitHub, "issue_comment"),
        (Forge::GitHub, "release"),
        (Forge::GitHub, "create"),
        (Forge::GitHub, "something_new"),
        (Forge::GitLab, "Note Hook"),
        (Forge::GitLab, "Issue Hook"),
        (Forge::GitLab, "Pipeline Hook"),
        (Forge::GitLab, "System Hook"),
        (Forge::Gitea, "issues"),
        (Forge::Gitea, "delete"),
        (Forge::Gitea, "release"),
    ];
    for (forge, event) in cases {
        let reason = ignored(parse(forge, event, b"not json at all"));
        assert!(!reason.is_empty(), "{forge} {event}");
    }
}

#[test]
fn pull_request_actions_outside_the_three_are_ignored() {
    for (forge, action) in [
        (Forge::GitHub, "closed"),
        (Forge::GitHub, "edited"),
        (Forge::GitHub, "labeled"),
        (Forge::GitHub, "synchronized"), // Gitea's spelling, not GitHub's
        (Forge::Gitea, "synchronize"),   // GitHub's spelling, not Gitea's
        (Forge::Gitea, "label_updated"),
    ] {
        // Only the action is needed to decide; the rest of the body may be absent.
        let body = json!({"action": action}).to_string();
        let reason = ignored(parse(forge, "pull_request", body.as_bytes()));
        assert!(reason.contains(action), "{reason}");
    }
}

#[test]
fn reasons_escape_control_characters() {
    let reason = ignored(parse(Forge::GitHub, "evil\n[INFO] forged", b""));
    assert!(!reason.contains('\n'), "{reason}");
    assert!(reason.contains("evil\\n"), "{reason}");
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    match parse(Forge::GitHub, "push", &body) {
        Err(ParseError::TooLarge { size, limit }) => {
            assert_eq!((size, limit), (MAX_BODY_BYTES + 1, MAX_BODY_BYTES));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn missing_event_header_is_an_error() {
    for header in ["", "   "] {
        let err = parse(Forge::Gitea, header, b"{}").err();
        assert!(
            matches!(
                err,
                Some(ParseError::MissingEvent {
                    header: "X-Forgejo-Event",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}

#[test]
fn malformed_and_misshapen_bodies_are_clear_errors() {
    let err = parse(Forge::GitHub, "push", b"{\"ref\": ").err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("GitHub `push` body is not a valid payload"),
        "{text}"
    );
    assert!(text.contains("line 1"), "{text}");

    assert!(matches!(
        parse(Forge::GitLab, "Push Hook", b"[]"),
        Err(ParseError::Json { .. })
    ));
    assert!(matches!(
        parse(Forge::GitHub, "push", br#"{"ref": 5}"#),
        Err(ParseError::Json { .. })
    ));
    match parse(Forge::GitHub, "push", b"{}") {
        Err(ParseError::MissingField { field, .. }) => assert_eq!(field, "repository"),
        other => panic!("{other:?}"),
    }
    match parse(
        Forge::GitLab,
        "Merge Request Hook",
        br#"{"object_attributes": {"action": "open"}}"#,
    ) {
        Err(ParseError::MissingField { field, .. }) => assert_eq!(field, "project"),
        other => panic!("{other:?}"),
    }
    // An empty sender is as good as none.
    let mut body: serde_json::Value =
        serde_json::from_slice(&hub_push("refs/heads/x", A, B)).unwrap_or_default();
    body["sender"] = json!({"login": ""});
    match parse(Forge::GitHub, "push", body.to_string().as_bytes()) {
        Err(ParseError::MissingField { field, .. }) => assert_eq!(field, "sender.login"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        parse(Forge::GitHub, "push", deep.as_bytes()),
        Err(ParseError::Json { .. })
    ));
}

#[test]
fn clone_url_falls_back_to_the_web_page() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&hub_push("refs/heads/x", A, B)).unwrap_or_default();
    body["repository"]["clone_url"] = serde_json::Value::Null;
    let event = event(parse(Forge::GitHub, "push", body.to_string().as_bytes()));
    assert_eq!(
        event.repository().clone_url,
        "https://forge.example/acme/app.git"
    );
}

#[test]
fn event_type_prefers_forgejo_header_and_skips_empty_values() {
    let lookup = |name: &str| match name.to_ascii_lowercase().as_str() {
        "x-forgejo-event" => Some(" ".to_owned()),
        "x-gitea-event" => Some("push".to_owned()),
        "x-github-event" => Some("pull_request".to_owned()),
        _ => None,
    };
    assert_eq!(event_type(Forge::Gitea, &lookup).as_deref(), Some("push"));
    assert_eq!(
        event_type(Forge::GitHub, &lookup).as_deref(),
        Some("pull_request")
    );
    assert_eq!(event_type(Forge::GitLab, &lookup), None);
}
