//! Conformance against other projects' webhook fixtures, read in place from
//! `$SLIPWAY_CONFORMANCE_DIR/webhooks` (default `<repo>/../shared/conformance/webhooks`):
//!
//! - `go-scm/{github,gitlab,gitea}/X.json` with `X.json.golden` (drone/go-scm's normalised
//!   event): every body is parsed with the event header its name implies, and every golden field
//!   our model carries is compared (see `GOLDEN_FIELD_MAP`); the rest is listed in
//!   `UNMATCHED_GOLDEN_FIELDS` with the reason.
//! - `woodpecker-forgejo/*.json`: Forgejo bodies without goldens; the facts readable off each
//!   body (ref, shas, paths, numbers, branches, names) are checked against the parsed event.
//! - The README's file-based signature vectors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use slipway_hooks::{Event, Forge, Parsed, PullRequestAction, Push, Repository, parse, verify};

/// How each golden field maps onto our model (golden path → our field).
const GOLDEN_FIELD_MAP: &[(&str, &str)] = &[
    ("Ref (string, push)", "Push.ref_name"),
    ("Ref.Name (branch/tag hook)", "Push.branch or Push.tag"),
    ("Ref.Sha (deletion hook)", "Push.before"),
    ("Action = deleted (branch/tag hook)", "Push.deleted"),
    ("Before", "Push.before"),
    ("After, else Commit.Sha", "Push.after"),
    ("Repo.Namespace + '/' + Repo.Name", "Repository.full_name"),
    ("Repo.Clone", "Repository.clone_url"),
    ("Repo.CloneSSH", "Repository.ssh_url"),
    ("Repo.Link", "Repository.web_url"),
    ("Repo.Branch", "Repository.default_branch"),
    ("Sender.Login", "sender"),
    (
        "Action (opened/synchronized/reopened)",
        "PullRequest.action",
    ),
    ("PullRequest.Number", "PullRequest.number"),
    ("PullRequest.Title", "PullRequest.title"),
    ("PullRequest.Sha", "PullRequest.head_sha"),
    ("PullRequest.Ref", "PullRequest.head_ref"),
    ("PullRequest.Source", "PullRequest.source_branch"),
    ("PullRequest.Target", "PullRequest.target_branch"),
    ("PullRequest.Link", "PullRequest.url"),
];

/// Golden fields deliberately not compared, with the reason.
const UNMATCHED_GOLDEN_FIELDS: &[(&str, &str)] = &[
    (
        "Repo.ID, Repo.Perm, Repo.Private, Repo.Created, Repo.Updated",
        "Slipway identifies a project by its webhook URL and clones by URL; forge ids, \
         permissions and timestamps are not used",
    ),
    (
        "Commit (message, author, committer, link), Commits (metadata)",
        "run metadata is read from git after fetching `after`; of the listed commits only their \
         changed paths are kept (checked against the body instead, since goldens omit paths)",
    ),
    (
        "BaseRef",
        "GitHub-only hint of the branch a tag was created from; triggers filter on the tag",
    ),
    (
        "Sender.Name, Sender.Email, Sender.Avatar",
        "display data; runs record the login",
    ),
    (
        "PullRequest.Fork, PullRequest.Head, PullRequest.Base",
        "Slipway fetches `head_ref` from the base repository, so the fork's name is not needed; \
         Head.Sha/Name equal Sha/Source and Base.Name equals Target, which are compared",
    ),
    (
        "PullRequest.Body, Diff, Closed, Merged, Author, Created, Updated, Labels",
        "not used to decide or run a pipeline",
    ),
    (
        "Action of ignored events, Issue, Comment, Release, Checks, Execution, Deployment fields",
        "those events are Parsed::Ignored; the test asserts that instead",
    ),
];

/// Goldens that are empty files upstream (go-scm has no expectation for them); the bodies are
/// still parsed and their outcome asserted, and for `push_merge` the facts are read off the body.
const EMPTY_GOLDENS: &[&str] = &[
    "gitlab/issue_closed",
    "gitlab/issue_comment_create",
    "gitlab/issue_create",
    "gitlab/issue_edited",
    "gitlab/issue_labeled",
    "gitlab/issue_reopen",
    "gitlab/push_merge",
    "gitlab/review_comment_create",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Push,
    Tag,
    Pr(PullRequestAction),
    Ignored,
}

use Expect::{Ignored, Pr, Push as P, Tag as T};
use PullRequestAction::{Opened, Reopened, Synchronize};

/// Every go-scm body: (folder/stem, event header the forge sends for it, expected outcome).
const GO_SCM: &[(&str, &str, Expect)] = &[
    ("github/branch_create", "create", Ignored),
    ("github/branch_delete", "delete", Ignored),
    ("github/check_run", "check_run", Ignored),
    ("github/comment", "issue_comment", Ignored),
    ("github/deployment", "deployment", Ignored),
    ("github/deployment_commit", "deployment", Ignored),
    (
        "github/merge_group_checks_requested",
        "merge_group",
        Ignored,
    ),
    ("github/merge_group_destroyed", "merge_group", Ignored),
    ("github/pipeline_hook", "workflow_run", Ignored),
    ("github/pr_closed", "pull_request", Ignored),
    ("github/pr_edited", "pull_request", Ignored),
    ("github/pr_labeled", "pull_request", Ignored),
    ("github/pr_opened", "pull_request", Pr(Opened)),
    ("github/pr_ready_for_review", "pull_request", Ignored),
    ("github/pr_reopened", "pull_request", Pr(Reopened)),
    ("github/pr_review_edited", "pull_request_review", Ignored),
    ("github/pr_review_submitted", "pull_request_review", Ignored),
    ("github/pr_sync", "pull_request", Pr(Synchronize)),
    ("github/pr_unlabeled", "pull_request", Ignored),
    ("github/push", "push", P),
    ("github/push_branch_create", "push", P),
    ("github/push_branch_delete", "push", P),
    ("github/push_tag", "push", T),
    ("github/push_tag_delete", "push", T),
    ("github/release_created", "release", Ignored),
    ("github/release_deleted", "release", Ignored),
    ("github/release_edited", "release", Ignored),
    ("github/release_prereleased", "release", Ignored),
    ("github/release_published", "release", Ignored),
    ("github/release_released", "release", Ignored),
    ("github/release_unpublished", "release", Ignored),
    ("github/status", "status", Ignored),
    ("github/tag_create", "create", Ignored),
    ("github/tag_delete", "delete", Ignored),
    ("gitlab/branch_create", "Push Hook", P),
    ("gitlab/branch_delete", "Push Hook", P),
    ("gitlab/branch_delete_subgroup", "Push Hook", P),
    ("gitlab/issue_closed", "Issue Hook", Ignored),
    ("gitlab/issue_comment_create", "Note Hook", Ignored),
    ("gitlab/issue_create", "Issue Hook", Ignored),
    ("gitlab/issue_edited", "Issue Hook", Ignored),
    ("gitlab/issue_labeled", "Issue Hook", Ignored),
    ("gitlab/issue_reopen", "Issue Hook", Ignored),
    ("gitlab/merge_request_comment_create", "Note Hook", Ignored),
    (
        "gitlab/merge_request_comment_subgroup",
        "Note Hook",
        Ignored,
    ),
    (
        "gitlab/merge_request_subgroup",
        "Merge Request Hook",
        Pr(Opened),
    ),
    ("gitlab/pipeline_hook", "Pipeline Hook", Ignored),
    ("gitlab/pipeline_subgroup", "Pipeline Hook", Ignored),
    ("gitlab/pull_request_close", "Merge Request Hook", Ignored),
    (
        "gitlab/pull_request_create",
        "Merge Request Hook",
        Pr(Opened),
    ),
    ("gitlab/pull_request_merge", "Merge Request Hook", Ignored),
    (
        "gitlab/pull_request_reopen",
        "Merge Request Hook",
        Pr(Reopened),
    ),
    // `update` that only leaves draft state, without `oldrev`: no new commits to build.
    (
        "gitlab/pull_request_review_ready",
        "Merge Request Hook",
        Ignored,
    ),
    ("gitlab/push", "Push Hook", P),
    ("gitlab/push_merge", "Push Hook", P),
    ("gitlab/push_subgroup", "Push Hook", P),
    ("gitlab/review_comment_create", "Note Hook", Ignored),
    ("gitlab/tag_create", "Tag Push Hook", T),
    ("gitlab/tag_delete", "Tag Push Hook", T),
    ("gitlab/tag_delete_subgroup", "Tag Push Hook", T),
    ("gitea/branch_create", "create", Ignored),
    ("gitea/branch_delete", "delete", Ignored),
    ("gitea/issue_comment_created", "issue_comment", Ignored),
    ("gitea/issue_comment_deleted", "issue_comment", Ignored),
    ("gitea/issue_comment_edited", "issue_comment", Ignored),
    ("gitea/issues_closed", "issues", Ignored),
    ("gitea/issues_opened", "issues", Ignored),
    ("gitea/pull_request_closed", "pull_request", Ignored),
    (
        "gitea/pull_request_comment_created",
        "issue_comment",
        Ignored,
    ),
    (
        "gitea/pull_request_comment_deleted",
        "issue_comment",
        Ignored,
    ),
    (
        "gitea/pull_request_comment_edited",
        "issue_comment",
        Ignored,
    ),
    ("gitea/pull_request_edited", "pull_request", Ignored),
    ("gitea/pull_request_merged", "pull_request", Ignored),
    ("gitea/pull_request_opened", "pull_request", Pr(Opened)),
    ("gitea/pull_request_reopened", "pull_request", Pr(Reopened)),
    (
        "gitea/pull_request_synchronized",
        "pull_request",
        Pr(Synchronize),
    ),
    ("gitea/push", "push", P),
    ("gitea/tag_create", "create", Ignored),
    ("gitea/tag_delete", "delete", Ignored),
];

/// Every Forgejo body: (file stem, `X-Forgejo-Event`, expected outcome).
const FORGEJO: &[(&str, &str, Expect)] = &[
    ("HookPullRequest", "pull_request", Pr(Opened)),
    ("HookPullRequestAssigneeCleared", "pull_request", Ignored),
    ("HookPullRequestAssigneesAdded", "pull_request", Ignored),
    ("HookPullRequestClosed", "pull_request", Ignored),
    ("HookPullRequestEdited", "pull_request", Ignored),
    ("HookPullRequestLabelAdded", "pull_request", Ignored),
    ("HookPullRequestLabelsCleared", "pull_request", Ignored),
    ("HookPullRequestLabelsUpdated", "pull_request", Ignored),
    ("HookPullRequestMerged", "pull_request", Ignored),
    ("HookPullRequestMilestoneAdded", "pull_request", Ignored),
    ("HookPullRequestMilestoneChanged", "pull_request", Ignored),
    ("HookPullRequestMilestoneCleared", "pull_request", Ignored),
    ("HookPullRequestReopened", "pull_request", Pr(Reopened)),
    ("HookPullRequestUpdated", "pull_request", Pr(Synchronize)),
    ("HookPush", "push", P),
    ("HookPushBranch", "push", P),
    ("HookPushMulti", "push", P),
    ("HookRelease", "release", Ignored),
    // A `create` event (ref_type tag): the tag's `push` event starts the run instead.
    ("HookTag", "create", Ignored),
];

fn webhooks_dir() -> Option<PathBuf> {
    let root = std::env::var_os("SLIPWAY_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    let dir = root.join("webhooks");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: webhook conformance data not found at {} (set SLIPWAY_CONFORMANCE_DIR)",
            dir.display()
        );
        None
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn forge_of(folder: &str) -> Forge {
    match folder {
        "github" => Forge::GitHub,
        "gitlab" => Forge::GitLab,
        "gitea" => Forge::Gitea,
        other => panic!("unknown go-scm folder {other}"),
    }
}

/// Collects mismatches so one run reports all of them.
struct Checker {
    file: String,
    failures: Vec<String>,
    compared: usize,
}

impl Checker {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, field: &str, expected: T, actual: T) {
        self.compared += 1;
        if expected != actual {
            self.failures.push(format!(
                "{}: {field}: expected {expected:?}, got {actual:?}",
                self.file
            ));
        }
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Union of added/modified/removed over `commits`, read straight off a body.
fn body_paths(body: &Value) -> Vec<String> {
    let mut paths = BTreeSet::new();
    for commit in body["commits"].as_array().into_iter().flatten() {
        for list in ["added", "modified", "removed"] {
            for path in commit[list].as_array().into_iter().flatten() {
                if let Some(path) = path.as_str() {
                    paths.insert(path.to_owned());
                }
            }
        }
    }
    paths.into_iter().collect()
}

fn check_repo(c: &mut Checker, golden: &Value, repo: &Repository) {
    let Some(g) = golden.get("Repo").filter(|r| r.is_object()) else {
        c.failures.push(format!("{}: golden has no Repo", c.file));
        return;
    };
    let full_name = format!(
        "{}/{}",
        str_at(g, "/Namespace").unwrap_or_default(),
        str_at(g, "/Name").unwrap_or_default()
    );
    c.eq("Repo.Namespace/Name", full_name.as_str(), &repo.full_name);
    c.eq("Repo.Clone", str_at(g, "/Clone"), Some(&repo.clone_url));
    c.eq(
        "Repo.CloneSSH",
        str_at(g, "/CloneSSH"),
        repo.ssh_url.as_deref(),
    );
    c.eq("Repo.Link", str_at(g, "/Link"), repo.web_url.as_deref());
    c.eq(
        "Repo.Branch",
        str_at(g, "/Branch"),
        repo.default_branch.as_deref(),
    );
}

fn check_push_golden(c: &mut Checker, golden: &Value, body: &Value, push: &Push) {
    check_repo(c, golden, &push.repository);
    c.eq(
        "Sender.Login",
        str_at(golden, "/Sender/Login"),
        Some(&push.sender),
    );
    match golden.get("Ref") {
        Some(Value::String(ref_name)) => {
            c.eq("Ref", ref_name.as_str(), &push.ref_name);
            c.eq("Before", str_at(golden, "/Before"), Some(&push.before));
            let after = str_at(golden, "/After").or_else(|| str_at(golden, "/Commit/Sha"));
            c.eq("After|Commit.Sha", after, Some(&push.after));
            let zeros = after.is_some_and(|a| a.bytes().all(|b| b == b'0'));
            c.eq("deleted (After all zeros)", zeros, push.deleted);
        }
        Some(reference @ Value::Object(_)) => {
            // go-scm turns GitLab deletions into branch/tag hooks.
            let name = push.branch.as_deref().or(push.tag.as_deref());
            c.eq("Ref.Name", str_at(reference, "/Name"), name);
            c.eq("Ref.Sha", str_at(reference, "/Sha"), Some(&push.before));
            c.eq("Action", str_at(golden, "/Action"), Some("deleted"));
            c.eq("deleted", true, push.deleted);
        }
        other => c
            .failures
            .push(format!("{}: unexpected golden Ref {other:?}", c.file)),
    }
    c.eq(
        "changed paths (from body)",
        body_paths(body),
        push.commits_changed_paths.clone(),
    );
}

fn golden_action(action: PullRequestAction) -> &'static str {
    match action {
        Opened => "opened",
        Synchronize => "synchronized",
        Reopened => "reopened",
    }
}

fn check_pr_golden(c: &mut Checker, golden: &Value, pr: &slipway_hooks::PullRequest) {
    check_repo(c, golden, &pr.repository);
    c.eq(
        "Sender.Login",
        str_at(golden, "/Sender/Login"),
        Some(&pr.sender),
    );
    c.eq(
        "Action",
        str_at(golden, "/Action"),
        Some(golden_action(pr.action)),
    );
    let g = &golden["PullRequest"];
    c.eq("PullRequest.Number", g["Number"].as_u64(), Some(pr.number));
    c.eq("PullRequest.Title", str_at(g, "/Title"), Some(&pr.title));
    c.eq("PullRequest.Sha", str_at(g, "/Sha"), Some(&pr.head_sha));
    c.eq("PullRequest.Ref", str_at(g, "/Ref"), Some(&pr.head_ref));
    c.eq(
        "PullRequest.Source",
        str_at(g, "/Source"),
        Some(&pr.source_branch),
    );
    c.eq(
        "PullRequest.Target",
        str_at(g, "/Target"),
        Some(&pr.target_branch),
    );
    c.eq("PullRequest.Link", str_at(g, "/Link"), pr.url.as_deref());
}

fn outcome_matches(expect: Expect, parsed: &Parsed) -> bool {
    match (expect, parsed) {
        (Expect::Push, Parsed::Event(Event::Push(p))) => p.branch.is_some() && p.tag.is_none(),
        (Expect::Tag, Parsed::Event(Event::Tag(p))) => p.tag.is_some() && p.branch.is_none(),
        (Expect::Pr(action), Parsed::Event(Event::PullRequest(pr))) => pr.action == action,
        (Expect::Ignored, Parsed::Ignored { reason }) => !reason.is_empty(),
        _ => false,
    }
}

/// Files in `dir` ending in `.json`, by stem; the tables must cover exactly these.
fn json_stems(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect()
}

#[test]
fn go_scm_payloads_match_their_goldens() {
    let Some(dir) = webhooks_dir() else { return };
    let dir = dir.join("go-scm");
    let mut listed = BTreeSet::new();
    for folder in ["github", "gitlab", "gitea"] {
        for stem in json_stems(&dir.join(folder)) {
            listed.insert(format!("{folder}/{stem}"));
        }
    }
    let tabled: BTreeSet<String> = GO_SCM.iter().map(|(name, ..)| (*name).to_owned()).collect();
    assert_eq!(listed, tabled, "every go-scm body needs a row in GO_SCM");

    let mut failures = Vec::new();
    let (mut files, mut fields, mut with_golden) = (0, 0, 0);
    for &(name, event, expect) in GO_SCM {
        let (folder, _) = name.split_once('/').expect("table names are folder/stem");
        let raw = read(&dir.join(format!("{name}.json")));
        let body: Value = serde_json::from_slice(&raw).expect("fixture bodies are JSON");
        let golden_path = dir.join(format!("{name}.json.golden"));
        let golden_text = std::fs::read_to_string(&golden_path).unwrap_or_default();
        let golden: Option<Value> = if golden_text.trim().is_empty() {
            let expected_empty = EMPTY_GOLDENS.contains(&name) || !golden_path.exists();
            assert!(expected_empty, "{name}: golden unexpectedly empty");
            None
        } else {
            assert!(
                !EMPTY_GOLDENS.contains(&name),
                "{name}: golden is no longer empty"
            );
            Some(serde_json::from_str(&golden_text).expect("goldens are JSON"))
        };
        files += 1;
        let mut c = Checker {
            file: name.to_owned(),
            failures: Vec::new(),
            compared: 0,
        };
        match parse(forge_of(folder), event, &raw) {
            Err(e) => c.failures.push(format!("{name}: parse error: {e}")),
            Ok(parsed) => {
                if !outcome_matches(expect, &parsed) {
                    c.failures
                        .push(format!("{name}: expected {expect:?}, got {parsed:?}"));
                } else if let (Some(golden), Parsed::Event(ev)) = (&golden, &parsed) {
                    with_golden += 1;
                    match ev {
                        Event::Push(p) | Event::Tag(p) => {
                            check_push_golden(&mut c, golden, &body, p)
                        }
                        Event::PullRequest(pr) => check_pr_golden(&mut c, golden, pr),
                    }
                } else if let Parsed::Event(Event::Push(p)) = &parsed {
                    // push_merge: empty golden; read the facts off the body.
                    c.eq("ref", str_at(&body, "/ref"), Some(&p.ref_name));
                    c.eq("before", str_at(&body, "/before"), Some(&p.before));
                    c.eq("after", str_at(&body, "/after"), Some(&p.after));
                    c.eq("paths", body_paths(&body), p.commits_changed_paths.clone());
                }
            }
        }
        fields += c.compared;
        failures.extend(c.failures);
    }
    println!(
        "go-scm: {files} bodies, {with_golden} events compared with goldens on {fields} fields, \
         {} failures",
        failures.len()
    );
    println!("golden fields compared: {GOLDEN_FIELD_MAP:?}");
    println!("golden fields not compared: {UNMATCHED_GOLDEN_FIELDS:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(files, GO_SCM.len());
    assert!(with_golden >= 20, "too few events compared: {with_golden}");
}

#[test]
fn forgejo_payloads_normalise_to_the_facts_in_their_bodies() {
    let Some(dir) = webhooks_dir() else { return };
    let dir = dir.join("woodpecker-forgejo");
    let tabled: BTreeSet<String> = FORGEJO.iter().map(|(s, ..)| (*s).to_owned()).collect();
    assert_eq!(
        json_stems(&dir),
        tabled,
        "every Forgejo body needs a row in FORGEJO"
    );

    let mut failures = Vec::new();
    let mut fields = 0;
    for &(stem, event, expect) in FORGEJO {
        let raw = read(&dir.join(format!("{stem}.json")));
        let body: Value = serde_json::from_slice(&raw).expect("fixture bodies are JSON");
        let mut c = Checker {
            file: stem.to_owned(),
            failures: Vec::new(),
            compared: 0,
        };
        let parsed = match parse(Forge::Gitea, event, &raw) {
            Ok(parsed) => parsed,
            Err(e) => {
                failures.push(format!("{stem}: parse error: {e}"));
                continue;
            }
        };
        if !outcome_matches(expect, &parsed) {
            failures.push(format!("{stem}: expected {expect:?}, got {parsed:?}"));
            continue;
        }
        if let Parsed::Event(ev) = &parsed {
            let repo = ev.repository();
            c.eq(
                "repository.full_name",
                str_at(&body, "/repository/full_name"),
                Some(&repo.full_name),
            );
            c.eq(
                "repository.clone_url",
                str_at(&body, "/repository/clone_url"),
                Some(&repo.clone_url),
            );
            c.eq(
                "repository.default_branch",
                str_at(&body, "/repository/default_branch"),
                repo.default_branch.as_deref(),
            );
        }
        match &parsed {
            Parsed::Event(Event::Push(p) | Event::Tag(p)) => {
                c.eq(
                    "sender.login",
                    str_at(&body, "/sender/login"),
                    Some(&p.sender),
                );
                c.eq("ref", str_at(&body, "/ref"), Some(&p.ref_name));
                c.eq(
                    "branch",
                    str_at(&body, "/ref").and_then(|r| r.strip_prefix("refs/heads/")),
                    p.branch.as_deref(),
                );
                c.eq("before", str_at(&body, "/before"), Some(&p.before));
                c.eq("after", str_at(&body, "/after"), Some(&p.after));
                c.eq("deleted", false, p.deleted);
                c.eq("paths", body_paths(&body), p.commits_changed_paths.clone());
                let listed = body["commits"].as_array().map_or(0, Vec::len) as u64;
                let truncated = body["total_commits"].as_u64().is_some_and(|t| t > listed);
                c.eq("commits_truncated", truncated, p.commits_truncated);
            }
            Parsed::Event(Event::PullRequest(pr)) => {
                c.eq(
                    "sender.login",
                    str_at(&body, "/sender/login"),
                    Some(&pr.sender),
                );
                c.eq("number", body["number"].as_u64(), Some(pr.number));
                c.eq(
                    "head.sha",
                    str_at(&body, "/pull_request/head/sha"),
                    Some(&pr.head_sha),
                );
                c.eq(
                    "head.ref",
                    str_at(&body, "/pull_request/head/ref"),
                    Some(&pr.source_branch),
                );
                c.eq(
                    "base.ref",
                    str_at(&body, "/pull_request/base/ref"),
                    Some(&pr.target_branch),
                );
                c.eq(
                    "title",
                    str_at(&body, "/pull_request/title"),
                    Some(&pr.title),
                );
                c.eq(
                    "html_url",
                    str_at(&body, "/pull_request/html_url"),
                    pr.url.as_deref(),
                );
                c.eq(
                    "head_ref",
                    format!("refs/pull/{}/head", pr.number),
                    pr.head_ref.clone(),
                );
            }
            Parsed::Ignored { reason } => {
                // Pull requests are ignored by action, other events by their type.
                let named = match body["action"].as_str() {
                    Some(action) if event == "pull_request" => action,
                    _ => event,
                };
                c.eq(
                    "reason names the action or event",
                    true,
                    reason.contains(named),
                );
            }
        }
        fields += c.compared;
        failures.extend(c.failures);
    }
    println!(
        "forgejo: {} bodies, {fields} facts checked, {} failures",
        FORGEJO.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Facts worth pinning by value, not only by re-reading the body.
#[test]
fn forgejo_pushes_pin_known_values() {
    let Some(dir) = webhooks_dir() else { return };
    let dir = dir.join("woodpecker-forgejo");
    let push = |stem: &str| match parse(
        Forge::Gitea,
        "push",
        &read(&dir.join(format!("{stem}.json"))),
    ) {
        Ok(Parsed::Event(Event::Push(p))) => p,
        other => panic!("{stem}: {other:?}"),
    };
    // Three commits: modify aaa, remove aa, add aa and aaa.
    let multi = push("HookPushMulti");
    assert_eq!(multi.commits_changed_paths, ["aa", "aaa"]);
    assert_eq!(multi.branch.as_deref(), Some("main"));
    assert!(!multi.commits_truncated);
    // A new branch: `before` is the null id, no commits listed, not a deletion.
    let created = push("HookPushBranch");
    assert_eq!(created.before, "0".repeat(40));
    assert_eq!(created.branch.as_deref(), Some("fdsafdsa"));
    assert!(created.commits_changed_paths.is_empty());
    assert!(!created.deleted);
    let single = push("HookPush");
    assert_eq!(
        single.commits_changed_paths,
        ["CHANGELOG.md", "app/controller/application.rb"]
    );
    assert_eq!(single.sender, "gordon");
}

#[test]
fn readme_signature_vectors_on_fixture_files() {
    let Some(dir) = webhooks_dir() else { return };
    let github = read(&dir.join("go-scm/github/push.json"));
    let gh_sig = "sha256=e3bfe744d4e2e29ed990bde8acfb8255ca51ef65f99657767989fb6349f32957";
    let gh_headers = |name: &str| {
        name.eq_ignore_ascii_case("x-hub-signature-256")
            .then(|| gh_sig.to_owned())
    };
    assert_eq!(
        verify(Forge::GitHub, &gh_headers, &github, b"topsecret"),
        Ok(())
    );
    assert!(verify(Forge::GitHub, &gh_headers, &github, b"topsecreT").is_err());

    let gitea = read(&dir.join("go-scm/gitea/pull_request_edited.json"));
    let gitea_sig = "a31111f057bafe895837f4a93c0f1f528919c199a20438b1fc8e23485780a33a";
    let secret = b"71295b197fa25f4356d2fb9965df3f2379d903d7";
    let gitea_headers = |name: &str| {
        name.eq_ignore_ascii_case("x-gitea-signature")
            .then(|| gitea_sig.to_owned())
    };
    assert_eq!(verify(Forge::Gitea, &gitea_headers, &gitea, secret), Ok(()));
    let forgejo_headers = |name: &str| {
        name.eq_ignore_ascii_case("x-forgejo-signature")
            .then(|| gitea_sig.to_owned())
    };
    assert_eq!(
        verify(Forge::Gitea, &forgejo_headers, &gitea, secret),
        Ok(())
    );

    let mut tampered = gitea.clone();
    if let Some(byte) = tampered.iter_mut().find(|b| **b == b'1') {
        *byte = b'2';
    }
    assert!(verify(Forge::Gitea, &gitea_headers, &tampered, secret).is_err());
}
