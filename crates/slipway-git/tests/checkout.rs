//! Working trees of a commit, from a mirror and from a URL.

mod common;

use common::{Origin, files_under, git};
use slipway_git::{GitError, GitOptions, Mirror, Source, checkout};

/// The origin with two commits; returns the first (the one checked out) and its files.
fn origin_with_history(root: &std::path::Path) -> (Origin, String, String) {
    let origin = Origin::new(root);
    let wanted = origin.commit(
        &[
            ("README.md", Some("hello\n")),
            ("src/main.rs", Some("fn main() {}\n")),
            ("deep/a/b/c.txt", Some("c")),
        ],
        "wanted",
    );
    let later = origin.commit(
        &[("README.md", Some("changed\n")), ("extra", Some("x"))],
        "later",
    );
    (origin, wanted, later)
}

fn tree_of(origin: &Origin, sha: &str) -> Vec<(String, Vec<u8>)> {
    let names = origin.git(&["ls-tree", "-r", "--name-only", sha]);
    let mut files: Vec<_> = names
        .lines()
        .map(|name| {
            let content = origin.git(&["show", &format!("{sha}:{name}")]);
            (name.to_owned(), content.into_bytes())
        })
        .collect();
    files.sort();
    files
}

/// The trimmed content from `git show` against files on disk, trimmed the same way.
fn trimmed(files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    files
        .into_iter()
        .map(|(name, content)| (name, content.trim_ascii().to_vec()))
        .collect()
}

#[tokio::test]
async fn checkout_from_a_mirror_equals_the_commit_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, wanted, _later) = origin_with_history(tmp.path());
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let dest = tmp.path().join("workspace");
    mirror.checkout(&wanted, &dest).await.unwrap();

    assert_eq!(trimmed(files_under(&dest)), tree_of(&origin, &wanted));
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), wanted);
    assert_eq!(
        git(&dest, &["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    // Detached, and sharing the mirror's objects rather than copying them.
    assert_eq!(git(&dest, &["rev-parse", "--abbrev-ref", "HEAD"]), "HEAD");
    assert!(dest.join(".git/objects/info/alternates").exists());
}

#[tokio::test]
async fn checkout_from_a_url_equals_the_commit_tree_and_stores_no_url() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, wanted, _later) = origin_with_history(tmp.path());
    let dest = tmp.path().join("workspace");
    // An existing empty directory is a fresh destination too.
    std::fs::create_dir(&dest).unwrap();
    checkout(
        Source::Url(&origin.url()),
        &wanted,
        &dest,
        &GitOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(trimmed(files_under(&dest)), tree_of(&origin, &wanted));
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), wanted);
    let config = std::fs::read_to_string(dest.join(".git/config")).unwrap();
    assert!(
        !config.contains("origin"),
        "no remote is configured: {config}"
    );
}

#[tokio::test]
async fn a_used_destination_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, wanted, later) = origin_with_history(tmp.path());
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let dest = tmp.path().join("workspace");
    mirror.checkout(&later, &dest).await.unwrap();
    // A job left an uncommitted change: the next job must not inherit it.
    std::fs::write(dest.join("README.md"), "local edit").unwrap();

    let err = mirror.checkout(&wanted, &dest).await.unwrap_err();
    assert!(matches!(err, GitError::DestinationNotEmpty { .. }), "{err}");
    assert_eq!(
        std::fs::read(dest.join("README.md")).unwrap(),
        b"local edit"
    );
}

#[tokio::test]
async fn a_missing_commit_is_named_and_leaves_no_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, _wanted, _later) = origin_with_history(tmp.path());
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let missing = "4".repeat(40);

    let dest = tmp.path().join("from-mirror");
    let err = mirror.checkout(&missing, &dest).await.unwrap_err();
    assert!(matches!(err, GitError::CommitNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(!dest.exists());

    let dest = tmp.path().join("from-url");
    let err = checkout(
        Source::Url(&origin.url()),
        &missing,
        &dest,
        &GitOptions::default(),
    )
    .await
    .unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(
            err,
            GitError::CommitNotFound { .. } | GitError::Failed { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(!dest.exists(), "a failed checkout leaves nothing behind");
}
