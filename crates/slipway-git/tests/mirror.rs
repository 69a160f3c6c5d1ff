//! Mirrors against real git: clone, fetch, refs, ref changes, changed paths, files.

mod common;

use std::collections::BTreeMap;

use common::{Origin, git};
use slipway_git::{GitError, Mirror, RefChange, Refs, diff_refs};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn clones_by_path_and_by_file_url_and_peels_annotated_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let first = origin.commit(&[("a.txt", Some("a"))], "first");
    origin.git(&["tag", "light", first.as_str()]);
    origin.git(&["tag", "-a", "-m", "annotated", "v1"]);
    origin.git(&["tag", "-a", "-m", "tag of a tag", "nested", "v1"]);
    let tree = origin.git(&["rev-parse", "HEAD^{tree}"]);
    origin.git(&["tag", "tree-tag", &tree]);
    origin.git(&["checkout", "--quiet", "-b", "feature/x"]);
    let feature = origin.commit(&[("b.txt", Some("b"))], "feature");
    origin.git(&["checkout", "--quiet", "main"]);

    let expected = Refs {
        branches: map(&[("main", &first), ("feature/x", &feature)]),
        tags: map(&[("light", &first), ("v1", &first), ("nested", &first)]),
    };
    let by_path = Mirror::open_or_clone(origin.dir.to_str().unwrap(), &tmp.path().join("m1"))
        .await
        .unwrap();
    assert_eq!(by_path.refs().await.unwrap(), expected);
    let by_url = Mirror::open_or_clone(&origin.url(), &tmp.path().join("data/m2"))
        .await
        .unwrap();
    assert_eq!(by_url.refs().await.unwrap(), expected);
    assert_eq!(
        git(by_url.dir(), &["rev-parse", "--is-bare-repository"]),
        "true"
    );
    // Nothing is left of the partial clone beside the mirror.
    let siblings: Vec<_> = std::fs::read_dir(tmp.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["m2"]);

    assert_eq!(by_url.resolve("main").await.unwrap(), Some(first.clone()));
    assert_eq!(
        by_url.resolve("refs/tags/v1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        by_url.resolve("feature/x~1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(by_url.resolve("no-such-branch").await.unwrap(), None);
    assert_eq!(
        by_url.resolve("tree-tag").await.unwrap(),
        None,
        "a tree is not a commit"
    );
    assert!(by_url.has_commit(&feature).await.unwrap());
    assert!(!by_url.has_commit(&"1".repeat(40)).await.unwrap());
}

#[tokio::test]
async fn reopening_does_not_fetch_and_fetch_brings_new_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let first = origin.commit(&[("a", Some("1"))], "one");
    let dir = tmp.path().join("mirror");
    Mirror::open_or_clone(&origin.url(), &dir).await.unwrap();
    let second = origin.commit(&[("a", Some("2"))], "two");

    let reopened = Mirror::open_or_clone(&origin.url(), &dir).await.unwrap();
    assert_eq!(reopened.refs().await.unwrap().branches["main"], first);
    assert!(!reopened.has_commit(&second).await.unwrap());
    reopened.fetch().await.unwrap();
    assert_eq!(reopened.refs().await.unwrap().branches["main"], second);
}

#[tokio::test]
async fn an_empty_directory_is_cloned_into_and_anything_else_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    origin.commit(&[("a", Some("1"))], "one");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mirror = Mirror::open_or_clone(&origin.url(), &empty).await.unwrap();
    assert_eq!(mirror.refs().await.unwrap().branches.len(), 1);

    let occupied = tmp.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("precious"), "keep me").unwrap();
    let err = Mirror::open_or_clone(&origin.url(), &occupied)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::NotAMirror { .. }), "{err}");
    assert_eq!(
        std::fs::read(occupied.join("precious")).unwrap(),
        b"keep me"
    );
}

#[tokio::test]
async fn polling_sees_every_kind_of_ref_change() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let base = origin.commit(&[("a", Some("1"))], "base");
    origin.git(&["branch", "doomed"]);
    origin.git(&["branch", "rewritten"]);
    origin.git(&["tag", "old-tag"]);
    origin.git(&["tag", "-a", "-m", "m", "moving-tag"]);
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let before = mirror.refs().await.unwrap();

    let main_after = origin.commit(&[("a", Some("2"))], "fast-forward");
    origin.git(&["branch", "-D", "doomed"]);
    origin.git(&["branch", "fresh"]);
    origin.git(&["tag", "-d", "old-tag"]);
    origin.git(&["tag", "new-tag"]);
    origin.git(&["tag", "-f", "-a", "-m", "moved", "moving-tag"]);
    // A force push: `rewritten` gets a commit that does not descend from what it was.
    origin.git(&["checkout", "--quiet", "--orphan", "rewritten-new"]);
    let rewritten = origin.commit(&[("other", Some("x"))], "unrelated history");
    origin.git(&["branch", "-M", "rewritten-new", "rewritten"]);
    origin.git(&["checkout", "--quiet", "main"]);

    mirror.fetch().await.unwrap();
    let after = mirror.refs().await.unwrap();
    assert_eq!(
        diff_refs(&before, &after),
        vec![
            RefChange::BranchCreated {
                branch: "fresh".into(),
                after: main_after.clone()
            },
            RefChange::BranchUpdated {
                branch: "main".into(),
                before: base.clone(),
                after: main_after.clone()
            },
            RefChange::BranchUpdated {
                branch: "rewritten".into(),
                before: base.clone(),
                after: rewritten.clone()
            },
            RefChange::BranchDeleted {
                branch: "doomed".into(),
                before: base.clone()
            },
            RefChange::TagMoved {
                tag: "moving-tag".into(),
                before: base.clone(),
                after: main_after.clone()
            },
            RefChange::TagCreated {
                tag: "new-tag".into(),
                sha: main_after.clone()
            },
            RefChange::TagDeleted {
                tag: "old-tag".into(),
                sha: base.clone()
            },
        ]
    );
    // The fast-forward has a commit range; the force push does not.
    let paths = mirror.changed_paths(&base, &main_after).await.unwrap();
    assert_eq!(paths.unwrap().paths, ["a"]);
    assert_eq!(mirror.changed_paths(&base, &rewritten).await.unwrap(), None);
    // A second fetch with nothing new changes nothing.
    mirror.fetch().await.unwrap();
    assert!(diff_refs(&after, &mirror.refs().await.unwrap()).is_empty());
}

#[tokio::test]
async fn changed_paths_of_linear_history_merges_and_renames() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let base = origin.commit(
        &[
            ("src/lib.rs", Some("lib")),
            (
                "docs/old-name.md",
                Some("a document long enough to be recognised as renamed\n"),
            ),
            ("gone.txt", Some("bye")),
            ("same.txt", Some("unchanged")),
        ],
        "base",
    );
    origin.commit(&[("src/lib.rs", Some("lib 2"))], "edit");
    origin.commit(
        &[("gone.txt", None), ("src/new.rs", Some("new"))],
        "add and delete",
    );
    origin.git(&["mv", "docs/old-name.md", "docs/new-name.md"]);
    let renamed = origin.commit(&[], "rename");
    origin.commit(&[("src/lib.rs", Some("lib 3"))], "edit again");
    let linear_end = origin.head();

    // A side branch merged back: its paths and the merge's own resolution count.
    origin.git(&["checkout", "--quiet", "-b", "side"]);
    origin.commit(&[("side/feature.rs", Some("feature"))], "side work");
    origin.git(&["checkout", "--quiet", "main"]);
    origin.commit(&[("main-only.txt", Some("m"))], "main work");
    origin.git(&["merge", "--quiet", "--no-ff", "--no-edit", "side"]);
    let merged = origin.head();

    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let linear = mirror
        .changed_paths(&base, &linear_end)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        linear.paths,
        [
            "docs/new-name.md",
            "docs/old-name.md",
            "gone.txt",
            "src/lib.rs",
            "src/new.rs"
        ]
    );
    assert!(!linear.truncated);

    let rename_only = mirror
        .changed_paths(&base, &renamed)
        .await
        .unwrap()
        .unwrap();
    assert!(rename_only.paths.contains(&"docs/new-name.md".to_owned()));
    assert!(rename_only.paths.contains(&"docs/old-name.md".to_owned()));

    let with_merge = mirror
        .changed_paths(&linear_end, &merged)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_merge.paths, ["main-only.txt", "side/feature.rs"]);

    assert_eq!(
        mirror
            .changed_paths(&merged, &merged)
            .await
            .unwrap()
            .unwrap()
            .paths,
        Vec::<String>::new()
    );
    // A new branch (zero before), an unknown before, and a backwards range have no paths.
    let zero = "0".repeat(40);
    assert_eq!(mirror.changed_paths(&zero, &merged).await.unwrap(), None);
    assert_eq!(
        mirror
            .changed_paths(&"1".repeat(40), &merged)
            .await
            .unwrap(),
        None
    );
    assert_eq!(mirror.changed_paths(&merged, &base).await.unwrap(), None);
    // An unknown after is an error that names the commit.
    let missing = "2".repeat(40);
    let err = mirror.changed_paths(&base, &missing).await.unwrap_err();
    assert!(matches!(err, GitError::CommitNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
}

#[tokio::test]
async fn read_file_present_absent_directory_too_large_and_missing_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let with_file = origin.commit(
        &[
            ("slipway.yml", Some("jobs: {}\n")),
            ("slipway.yml.bak", Some("old")),
            ("ci/nested.yml", Some("nested")),
            ("-dash", Some("dash")),
        ],
        "with pipeline",
    );
    let without = origin.commit(&[("slipway.yml", None)], "pipeline removed");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();

    let read = |sha: String, path: &'static str| {
        let mirror = &mirror;
        async move { mirror.read_file(&sha, path, 1024).await }
    };
    assert_eq!(
        read(with_file.clone(), "slipway.yml")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"jobs: {}\n"[..])
    );
    assert_eq!(
        read(with_file.clone(), "ci/nested.yml")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"nested"[..])
    );
    assert_eq!(
        read(with_file.clone(), "-dash").await.unwrap().as_deref(),
        Some(&b"dash"[..])
    );
    assert_eq!(read(without.clone(), "slipway.yml").await.unwrap(), None);
    assert_eq!(read(with_file.clone(), "slipway").await.unwrap(), None);
    assert_eq!(
        read(with_file.clone(), "ci").await.unwrap(),
        None,
        "a directory"
    );

    let err = mirror
        .read_file(&with_file, "slipway.yml", 3)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GitError::FileTooLarge {
                size: 9,
                limit: 3,
                ..
            }
        ),
        "{err}"
    );

    let missing = "3".repeat(40);
    let err = read(missing.clone(), "slipway.yml").await.unwrap_err();
    assert!(matches!(err, GitError::CommitNotFound { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&missing) && message.contains("was not found in"),
        "{message}"
    );
    assert!(
        message.contains("file://"),
        "names the repository: {message}"
    );

    for bad_path in ["../etc/passwd", "/slipway.yml", ""] {
        let err = read(with_file.clone(), bad_path).await.unwrap_err();
        assert!(matches!(err, GitError::InvalidArgument { .. }), "{err}");
    }
    let err = mirror
        .read_file("HEAD", "slipway.yml", 10)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err}");
}

#[tokio::test]
async fn fetch_ref_brings_a_pull_request_head_outside_branches() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let base = origin.commit(&[("a", Some("1"))], "base");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    // A forge keeps a pull request's head under refs/pull/N/head, not as a branch.
    origin.git(&["checkout", "--quiet", "-b", "contributor"]);
    let head = origin.commit(&[("a", Some("2"))], "contribution");
    origin.git(&["update-ref", "refs/pull/7/head", &head]);
    origin.git(&["checkout", "--quiet", "main"]);
    origin.git(&["branch", "-D", "contributor"]);

    assert_eq!(mirror.fetch_ref("refs/pull/7/head").await.unwrap(), head);
    assert!(mirror.has_commit(&head).await.unwrap());
    mirror.fetch().await.unwrap();
    let refs = mirror.refs().await.unwrap();
    assert_eq!(
        refs.branches,
        map(&[("main", &base)]),
        "not listed as a branch"
    );
    assert!(
        mirror.has_commit(&head).await.unwrap(),
        "not pruned by fetch"
    );
    assert_eq!(
        mirror
            .changed_paths(&base, &head)
            .await
            .unwrap()
            .unwrap()
            .paths,
        ["a"]
    );

    let err = mirror.fetch_ref("refs/pull/8/head").await.unwrap_err();
    assert!(matches!(err, GitError::Failed { .. }), "{err}");
    for bad in ["--all", "main", "refs/pull/../x", "refs/a:refs/heads/main"] {
        let err = mirror.fetch_ref(bad).await.unwrap_err();
        assert!(
            matches!(err, GitError::InvalidArgument { .. }),
            "{bad}: {err}"
        );
    }
}

#[tokio::test]
async fn an_empty_repository_mirrors_with_no_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    assert_eq!(mirror.refs().await.unwrap(), Refs::default());
    let first = origin.commit(&[("a", Some("1"))], "first");
    mirror.fetch().await.unwrap();
    assert_eq!(
        diff_refs(&Refs::default(), &mirror.refs().await.unwrap()),
        vec![RefChange::BranchCreated {
            branch: "main".into(),
            after: first
        }]
    );
}
