//! `Triggers::matches`: GitHub Actions' filter pattern cheat sheet, negation order, path
//! filters with unknown paths, tags against branches, schedules and manual runs. Every
//! pipeline goes through the parser, so the patterns are also checked to be accepted.

use slipway_spec::{Match, Pipeline, TriggerEvent};

/// A pipeline whose `on:` is `on` (YAML, indented by two spaces under `on:`).
fn pipeline(on: &str) -> Pipeline {
    let source = format!("on:\n{on}\njobs:\n  a:\n    steps:\n      - run: make\n");
    slipway_spec::parse_pipeline(&source, "slipway.yml")
        .unwrap_or_else(|d| panic!("{}", d.render(&source, false)))
}

fn yaml_list(patterns: &[&str]) -> String {
    let quoted: Vec<String> = patterns.iter().map(|p| format!("'{p}'")).collect();
    format!("[{}]", quoted.join(", "))
}

fn push(p: &Pipeline, branch: &str, paths: Option<&[String]>) -> Match {
    p.on.matches(&TriggerEvent::Push {
        branch,
        changed_paths: paths,
    })
}

fn tag(p: &Pipeline, tag: &str) -> Match {
    p.on.matches(&TriggerEvent::Tag { tag })
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// GitHub's "Patterns to match branches and tags" table: (patterns, names that match).
const BRANCH_AND_TAG_CASES: &[(&[&str], &[&str])] = &[
    (
        &["feature/*"],
        &["feature/my-branch", "feature/your-branch"],
    ),
    (
        &["feature/**"],
        &[
            "feature/beta-a/my-branch",
            "feature/your-branch",
            "feature/mona/the/octocat",
        ],
    ),
    (
        &["main", "releases/mona-the-octocat"],
        &["main", "releases/mona-the-octocat"],
    ),
    (&["*"], &["main", "releases"]),
    (&["**"], &["all/the/branches", "every/tag"]),
    (
        &["*feature"],
        &["mona-feature", "feature", "ver-10-feature"],
    ),
    (&["v2*"], &["v2", "v2.0", "v2.9"]),
    (&["v[12].[0-9]+.[0-9]+"], &["v1.10.1", "v2.0.0"]),
];

/// Names the same patterns must not match (the cheat sheet's counterparts, spelled out).
const BRANCH_AND_TAG_MISSES: &[(&[&str], &[&str])] = &[
    (&["feature/*"], &["feature/a/b", "feature", "features/x"]),
    (&["feature/**"], &["feature", "other/feature/x"]),
    (
        &["main", "releases/mona-the-octocat"],
        &["mainline", "releases/other"],
    ),
    (&["*"], &["releases/v1", "feature/x"]),
    (&["*feature"], &["feature-x", "a/feature"]),
    (&["v2*"], &["v1", "xv2", "v2/x"]),
    (
        &["v[12].[0-9]+.[0-9]+"],
        &["v3.0.0", "v1.x.1", "v1..1", "v1.0"],
    ),
];

#[test]
fn cheat_sheet_branches() {
    for (patterns, names) in BRANCH_AND_TAG_CASES {
        let p = pipeline(&format!("  push:\n    branches: {}", yaml_list(patterns)));
        for name in *names {
            let m = push(&p, name, None);
            assert!(m.matched, "{patterns:?} should match branch {name}: {m}");
        }
    }
    for (patterns, names) in BRANCH_AND_TAG_MISSES {
        let p = pipeline(&format!("  push:\n    branches: {}", yaml_list(patterns)));
        for name in *names {
            let m = push(&p, name, None);
            assert!(
                !m.matched,
                "{patterns:?} should not match branch {name}: {m}"
            );
        }
    }
}

#[test]
fn cheat_sheet_tags() {
    for (patterns, names) in BRANCH_AND_TAG_CASES {
        let p = pipeline(&format!("  tag:\n    tags: {}", yaml_list(patterns)));
        for name in *names {
            assert!(
                tag(&p, name).matched,
                "{patterns:?} should match tag {name}"
            );
        }
    }
    for (patterns, names) in BRANCH_AND_TAG_MISSES {
        let p = pipeline(&format!("  tag:\n    tags: {}", yaml_list(patterns)));
        for name in *names {
            assert!(
                !tag(&p, name).matched,
                "{patterns:?} should not match tag {name}"
            );
        }
    }
}

/// GitHub's "Patterns to match file paths" table: (patterns, paths that match, paths that
/// do not, as the table's descriptions say).
const PATH_CASES: &[(&[&str], &[&str], &[&str])] = &[
    (&["*"], &["README.md", "server.rb"], &["docs/README.md"]),
    (
        &["*.jsx?"],
        &["page.js", "page.jsx"],
        &["page.jsxx", "a/page.js"],
    ),
    (&["**"], &["all/the/files.md"], &[]),
    (
        &["*.js"],
        &["app.js", "index.js"],
        &["js/index.js", "app.jsx"],
    ),
    (
        &["**.js"],
        &["index.js", "js/index.js", "src/js/app.js"],
        &["index.jsx"],
    ),
    (
        &["docs/*"],
        &["docs/README.md", "docs/file.txt"],
        &["docs/mona/octocat.txt", "README.md"],
    ),
    (
        &["docs/**"],
        &["docs/README.md", "docs/mona/octocat.txt"],
        &["a/docs/x.md", "docsx/a"],
    ),
    (
        &["docs/**/*.md"],
        &[
            "docs/README.md",
            "docs/mona/hello-world.md",
            "docs/a/markdown/file.md",
        ],
        &["docs/a.txt", "README.md"],
    ),
    (
        &["**/docs/**"],
        &[
            "docs/hello.md",
            "dir/docs/my-file.txt",
            "space/docs/plan/space.doc",
        ],
        &["mydocs/x.md"],
    ),
    (
        &["**/README.md"],
        &["README.md", "js/README.md"],
        &["js/README.mdx", "NOTREADME.md"],
    ),
    (
        &["**/*src/**"],
        &["a/src/app.js", "my-src/code/js/app.js"],
        &["src.js", "a/srcx/app.js"],
    ),
    (
        &["**/*-post.md"],
        &["my-post.md", "path/their-post.md"],
        &["post.md", "a/post.md"],
    ),
    (
        &["**/migrate-*.sql"],
        &[
            "migrate-10909.sql",
            "db/migrate-v1.0.sql",
            "db/sept/migrate-v1.sql",
        ],
        &["db/migrate.sql", "migrate-1.sqlx"],
    ),
    (
        &["*.md", "!README.md"],
        &["hello.md"],
        &["README.md", "docs/hello.md"],
    ),
    (
        &["*.md", "!README.md", "README*"],
        &["hello.md", "README.md", "README.doc"],
        &["docs/README.md"],
    ),
];

#[test]
fn cheat_sheet_paths() {
    for (patterns, hits, misses) in PATH_CASES {
        let p = pipeline(&format!("  push:\n    paths: {}", yaml_list(patterns)));
        for path in *hits {
            let changed = paths(&[path]);
            let m = push(&p, "main", Some(&changed));
            assert!(m.matched, "{patterns:?} should match {path}: {m}");
        }
        for path in *misses {
            let changed = paths(&[path]);
            let m = push(&p, "main", Some(&changed));
            assert!(!m.matched, "{patterns:?} should not match {path}: {m}");
        }
    }
}

#[test]
fn paths_ignore_runs_when_some_path_is_not_ignored() {
    let p = pipeline("  push:\n    paths-ignore: ['docs/**', '*.md']");
    let only_docs = paths(&["docs/a.md", "README.md"]);
    let m = push(&p, "main", Some(&only_docs));
    assert!(!m.matched);
    assert_eq!(
        m.reason,
        "all 2 changed paths match paths-ignore [docs/**, *.md]"
    );
    let mixed = paths(&["docs/a.md", "src/lib.rs"]);
    let m = push(&p, "main", Some(&mixed));
    assert!(m.matched, "{m}");
    assert_eq!(
        m.reason,
        "changed path `src/lib.rs` is not ignored by paths-ignore [docs/**, *.md]"
    );
}

#[test]
fn negation_order_decides() {
    // A later `!` excludes what an earlier pattern included, and a later positive pattern
    // includes again.
    let p = pipeline(
        "  push:\n    branches: ['releases/**', '!releases/**-alpha', 'releases/keep-alpha']",
    );
    assert!(push(&p, "releases/v1", None).matched);
    let m = push(&p, "releases/v1-alpha", None);
    assert!(!m.matched);
    assert_eq!(
        m.reason,
        "branch `releases/v1-alpha` is excluded by `!releases/**-alpha` in branches [releases/**, !releases/**-alpha, releases/keep-alpha]"
    );
    assert!(push(&p, "releases/keep-alpha", None).matched);

    // The same patterns in the other order: the positive pattern comes last and wins.
    let p = pipeline("  push:\n    branches: ['main', '!releases/**-alpha', 'releases/**']");
    assert!(push(&p, "releases/v1-alpha", None).matched);

    // In paths: a path excluded by `!` does not count, another one does.
    let p = pipeline("  push:\n    paths: ['src/**', '!src/**/*.md']");
    let doc_only = paths(&["src/a/README.md"]);
    assert!(!push(&p, "main", Some(&doc_only)).matched);
    let with_code = paths(&["src/a/README.md", "src/a/lib.rs"]);
    assert!(push(&p, "main", Some(&with_code)).matched);
}

#[test]
fn ignore_lists_are_evaluated_in_order_too() {
    let p = pipeline("  push:\n    branches-ignore: ['dependabot/**', '!dependabot/keep']");
    assert!(!push(&p, "dependabot/npm/x", None).matched);
    assert!(push(&p, "dependabot/keep", None).matched);
    let m = push(&p, "main", None);
    assert!(m.matched);
    let m = push(&p, "dependabot/a", None);
    assert_eq!(
        m.reason,
        "branch `dependabot/a` is ignored by `dependabot/**` in branches-ignore [dependabot/**, !dependabot/keep]"
    );
}

#[test]
fn branches_and_paths_must_both_pass() {
    let p = pipeline("  push:\n    branches: [main, 'release/*']\n    paths: ['src/**']");
    let src = paths(&["src/lib.rs"]);
    let docs = paths(&["docs/a.md", "README.md"]);

    let m = push(&p, "dev", Some(&src));
    assert!(!m.matched);
    assert_eq!(
        m.reason,
        "branch `dev` is not in branches [main, release/*]"
    );

    let m = push(&p, "main", Some(&docs));
    assert!(!m.matched);
    assert_eq!(
        m.reason,
        "no changed path matches paths [src/**] (2 paths changed)"
    );

    let m = push(&p, "release/1.0", Some(&src));
    assert!(m.matched);
    assert_eq!(
        m.reason,
        "branch `release/1.0` matches `release/*` in branches [main, release/*]; changed path `src/lib.rs` matches `src/**` in paths [src/**]"
    );
}

#[test]
fn unknown_changed_paths_pass_path_filters() {
    let p =
        pipeline("  push:\n    paths: ['src/**']\n  pull_request:\n    paths-ignore: ['docs/**']");
    let m = push(&p, "new-branch", None);
    assert!(m.matched, "{m}");
    assert_eq!(
        m.reason,
        "the changed paths are unknown, so paths [src/**] is not applied"
    );
    let m = p.on.matches(&TriggerEvent::PullRequest {
        target_branch: "main",
        changed_paths: None,
    });
    assert!(m.matched, "{m}");
}

#[test]
fn no_changed_paths_fail_path_filters() {
    let p =
        pipeline("  push:\n    paths: ['src/**']\n  pull_request:\n    paths-ignore: ['docs/**']");
    let none: Vec<String> = Vec::new();
    assert!(!push(&p, "main", Some(&none)).matched);
    let m = p.on.matches(&TriggerEvent::PullRequest {
        target_branch: "main",
        changed_paths: Some(&none),
    });
    assert!(!m.matched);
    assert_eq!(
        m.reason,
        "no path changed, so paths-ignore [docs/**] cannot pass"
    );
}

#[test]
fn pull_request_branches_filter_the_target_branch() {
    let p = pipeline("  pull_request:\n    branches: [main]");
    let changed = paths(&["a"]);
    let to_main = TriggerEvent::PullRequest {
        target_branch: "main",
        changed_paths: Some(&changed),
    };
    assert!(p.on.matches(&to_main).matched);
    let to_dev = TriggerEvent::PullRequest {
        target_branch: "dev",
        changed_paths: Some(&changed),
    };
    let m = p.on.matches(&to_dev);
    assert!(!m.matched);
    assert_eq!(m.reason, "target branch `dev` is not in branches [main]");
    // A pull request is not a push.
    let m = push(&p, "main", None);
    assert_eq!(m.reason, "the pipeline has no `push` trigger");
}

#[test]
fn tags_and_branches_are_separate_triggers() {
    let p = pipeline("  push:\n    branches: ['**']");
    let m = tag(&p, "v1.0.0");
    assert!(!m.matched);
    assert_eq!(m.reason, "the pipeline has no `tag` trigger");

    let p = pipeline("  tag:\n    tags: ['v*']");
    assert!(tag(&p, "v1.0.0").matched);
    let m = tag(&p, "release-1");
    assert_eq!(m.reason, "tag `release-1` is not in tags [v*]");
    assert!(!push(&p, "v1.0.0", None).matched);

    let p = pipeline("  tag:\n    tags-ignore: ['*-rc*']");
    assert!(tag(&p, "v1.0.0").matched);
    assert!(!tag(&p, "v1.0.0-rc1").matched);
}

#[test]
fn short_forms_have_no_constraints() {
    let p = slipway_spec::parse_pipeline(
        "on: [push, tag, pull_request]\njobs:\n  a:\n    steps:\n      - run: make\n",
        "slipway.yml",
    )
    .expect("valid");
    let weird = paths(&[]);
    let m = push(&p, "any/branch/at/all", Some(&weird));
    assert!(m.matched, "{m}");
    assert_eq!(m.reason, "no path filter");
    assert!(tag(&p, "anything").matched);
    assert!(
        p.on.matches(&TriggerEvent::PullRequest {
            target_branch: "x",
            changed_paths: None
        })
        .matched
    );
    let m = p.on.matches(&TriggerEvent::Manual);
    assert_eq!(
        (m.matched, m.reason.as_str()),
        (false, "the pipeline has no `manual` trigger")
    );
}

#[test]
fn no_on_key_starts_nothing() {
    let p = slipway_spec::parse_pipeline("jobs:\n  a:\n    steps:\n      - run: make\n", "x")
        .expect("valid");
    assert!(!push(&p, "main", None).matched);
    assert!(!tag(&p, "v1").matched);
    assert!(!p.on.matches(&TriggerEvent::Manual).matched);
    assert!(
        !p.on
            .matches(&TriggerEvent::Schedule { cron: "* * * * *" })
            .matched
    );
}

#[test]
fn schedule_and_manual() {
    let p = pipeline(
        "  schedule:\n    - cron: '0 4 * * *'\n    - cron: '*/15  9-17 * * 1-5'\n  manual:",
    );
    let m = p.on.matches(&TriggerEvent::Schedule { cron: "0 4 * * *" });
    assert!(m.matched, "{m}");
    // Fields are compared, not white space.
    assert!(
        p.on.matches(&TriggerEvent::Schedule {
            cron: "*/15 9-17 * * 1-5"
        })
        .matched
    );
    let m = p.on.matches(&TriggerEvent::Schedule { cron: "0 5 * * *" });
    assert!(!m.matched);
    assert_eq!(
        m.reason,
        "the pipeline has no schedule `0 5 * * *` (it has [0 4 * * *, */15  9-17 * * 1-5])"
    );
    assert!(p.on.matches(&TriggerEvent::Manual).matched);
    assert_eq!(
        p.on.matches(&TriggerEvent::Manual).to_string(),
        "runs: manual run"
    );

    // The earliest schedule wins: 2024-01-01 (a Monday) 08:59 UTC → 09:00 by the second entry.
    let (at, entry) = p.on.next_schedule(1_704_099_540).expect("a next time");
    assert_eq!(at, 1_704_099_600);
    assert_eq!(entry.cron, "*/15  9-17 * * 1-5");
}

#[test]
fn escaped_special_characters_are_literal() {
    let p = pipeline("  push:\n    branches: ['fix\\*', 'a\\+b', '\\!bang']");
    assert!(push(&p, "fix*", None).matched);
    assert!(!push(&p, "fixes", None).matched);
    assert!(push(&p, "a+b", None).matched);
    assert!(!push(&p, "aab", None).matched);
    assert!(push(&p, "!bang", None).matched);
}
