//! The cheaper paths: a commit fetched by id, fetches without automatic maintenance,
//! working trees attached to the mirror, and reads that take one process.

mod common;

use common::{Origin, files_under, git};
use slipway_git::{GitError, MAINTENANCE_EVERY, Mirror};

#[tokio::test]
async fn fetch_commit_brings_one_commit_and_leaves_branches_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let first = origin.commit(&[("a", Some("1"))], "first");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let second = origin.commit(&[("a", Some("2"))], "second");
    assert!(!mirror.has_commit(&second).await.unwrap());

    assert!(mirror.fetch_commit(&second).await.unwrap());
    assert!(mirror.has_commit(&second).await.unwrap());
    // Only the commit came: the branch is where the last full fetch left it.
    let refs = mirror.refs().await.unwrap();
    assert_eq!(refs.branches.get("main"), Some(&first));

    // A commit the repository does not have: the full fetch is tried, then `false`.
    let absent = "0123456789abcdef0123456789abcdef01234567";
    assert!(!mirror.fetch_commit(absent).await.unwrap());
    assert_eq!(
        mirror.refs().await.unwrap().branches.get("main"),
        Some(&second)
    );
    // Not a commit id: refused before git runs.
    assert!(matches!(
        mirror.fetch_commit("--upload-pack=x").await,
        Err(GitError::InvalidArgument { .. })
    ));
}

#[tokio::test]
async fn fetches_count_towards_maintenance_which_runs_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    origin.commit(&[("a", Some("1"))], "first");
    let dir = tmp.path().join("m");
    let mirror = Mirror::open_or_clone(&origin.url(), &dir).await.unwrap();
    // Opening counts nothing; the clone's fetch is not a reason to maintain.
    let mirror = {
        drop(mirror);
        Mirror::open_or_clone(&origin.url(), &dir).await.unwrap()
    };
    assert!(!mirror.maintenance_due());
    for i in 0..MAINTENANCE_EVERY {
        assert!(!mirror.maintenance_due(), "due after {i} fetches");
        mirror.fetch().await.unwrap();
    }
    assert!(mirror.maintenance_due());
    mirror.maintain().await.unwrap();
    assert!(!mirror.maintenance_due());
    // Still a working mirror.
    mirror.fetch().await.unwrap();
    assert_eq!(mirror.refs().await.unwrap().branches.len(), 1);
}

#[tokio::test]
async fn a_worktree_is_a_detached_checkout_and_is_removed_without_a_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let wanted = origin.commit(
        &[
            ("README.md", Some("hello\n")),
            ("src/main.rs", Some("fn main() {}\n")),
        ],
        "wanted",
    );
    origin.commit(&[("README.md", Some("changed\n"))], "later");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let dest = tmp.path().join("jobs").join("7-1");

    mirror.add_worktree(&wanted, &dest).await.unwrap();
    assert_eq!(
        files_under(&dest),
        vec![
            ("README.md".to_owned(), b"hello\n".to_vec()),
            ("src/main.rs".to_owned(), b"fn main() {}\n".to_vec()),
        ]
    );
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), wanted);
    assert_eq!(git(&dest, &["rev-parse", "--abbrev-ref", "HEAD"]), "HEAD");
    assert_eq!(
        git(&dest, &["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    assert_eq!(git(&dest, &["log", "--format=%s"]), "wanted");
    let records = mirror.dir().join("worktrees");
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 1);
    // Git itself knows it as a working tree of the mirror, unlocked.
    let listed = git(mirror.dir(), &["worktree", "list", "--porcelain"]);
    let dest_line = format!("worktree {}", dest.display());
    assert!(listed.lines().any(|l| l == dest_line), "{listed}");
    assert!(!listed.contains("locked"), "{listed}");
    assert!(git(&dest, &["status"]).contains("nothing to commit"));

    // A used destination is refused and left alone.
    assert!(matches!(
        mirror.add_worktree(&wanted, &dest).await,
        Err(GitError::DestinationNotEmpty { .. })
    ));
    assert!(dest.join("README.md").exists());

    mirror.remove_worktree(&dest).await.unwrap();
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(&records).map_or(0, |d| d.count()), 0);
    // Removing again is fine.
    mirror.remove_worktree(&dest).await.unwrap();
    // The mirror is as before: no worktree listed.
    assert_eq!(
        git(mirror.dir(), &["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        1,
        "only the mirror itself"
    );
}

#[tokio::test]
async fn a_moved_worktree_stays_clean_and_is_removed_from_its_new_place() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let head = origin.commit(&[("a", Some("1")), ("d/b", Some("2"))], "first");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let (from, to) = (tmp.path().join("prepared"), tmp.path().join("jobs-7"));
    mirror.add_worktree(&head, &from).await.unwrap();
    mirror.move_worktree(&from, &to).await.unwrap();
    assert!(!from.exists());
    assert_eq!(git(&to, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        git(&to, &["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    let listed = git(mirror.dir(), &["worktree", "list", "--porcelain"]);
    assert!(
        listed
            .lines()
            .any(|l| l == format!("worktree {}", to.display())),
        "{listed}"
    );
    // Git's own prune keeps it (its record points at the new place).
    mirror.prune_worktrees().await.unwrap();
    assert_eq!(git(&to, &["rev-parse", "HEAD"]), head);
    // Not onto an existing directory, and not a directory that is no working tree.
    let other = tmp.path().join("other");
    mirror.add_worktree(&head, &other).await.unwrap();
    assert!(matches!(
        mirror.move_worktree(&other, &to).await,
        Err(GitError::DestinationNotEmpty { .. })
    ));
    assert!(mirror.move_worktree(&from, &other.join("x")).await.is_err());
    mirror.remove_worktree(&to).await.unwrap();
    mirror.remove_worktree(&other).await.unwrap();
    assert_eq!(
        std::fs::read_dir(mirror.dir().join("worktrees")).map_or(0, |d| d.count()),
        0
    );
}

#[tokio::test]
async fn a_missing_commit_makes_no_worktree_and_a_vanished_one_is_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let head = origin.commit(&[("a", Some("1"))], "first");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let dest = tmp.path().join("ws");
    let absent = "0123456789abcdef0123456789abcdef01234567";
    assert!(matches!(
        mirror.add_worktree(absent, &dest).await,
        Err(GitError::CommitNotFound { sha, .. }) if sha == absent
    ));
    assert!(!dest.exists());
    assert!(
        !mirror.dir().join("worktrees").exists()
            || std::fs::read_dir(mirror.dir().join("worktrees"))
                .unwrap()
                .count()
                == 0
    );

    // A worktree whose directory went away without remove_worktree (a crash).
    mirror.add_worktree(&head, &dest).await.unwrap();
    std::fs::remove_dir_all(&dest).unwrap();
    mirror.prune_worktrees().await.unwrap();
    assert_eq!(
        std::fs::read_dir(mirror.dir().join("worktrees")).map_or(0, |d| d.count()),
        0
    );
    // And the same directory can be used again.
    mirror.add_worktree(&head, &dest).await.unwrap();
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), head);
}

#[tokio::test]
async fn read_file_at_the_limit_and_of_a_tree_id() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let sha = origin.commit(&[("slipway.yml", Some("12345"))], "five bytes");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    assert_eq!(
        mirror.read_file(&sha, "slipway.yml", 5).await.unwrap(),
        Some(b"12345".to_vec())
    );
    assert!(matches!(
        mirror.read_file(&sha, "slipway.yml", 4).await,
        Err(GitError::FileTooLarge {
            size: 5,
            limit: 4,
            ..
        })
    ));
    // A tree's id is not a commit, though `TREE:path` would name the file.
    let tree = origin.git(&["rev-parse", "HEAD^{tree}"]);
    assert!(matches!(
        mirror.read_file(&tree, "slipway.yml", 100).await,
        Err(GitError::CommitNotFound { .. })
    ));
}

#[tokio::test]
async fn changed_paths_with_a_missing_before_or_after() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Origin::new(tmp.path());
    let first = origin.commit(&[("a", Some("1"))], "first");
    let second = origin.commit(&[("b", Some("2"))], "second");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("m"))
        .await
        .unwrap();
    let absent = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(mirror.changed_paths(absent, &second).await.unwrap(), None);
    assert!(matches!(
        mirror.changed_paths(&first, absent).await,
        Err(GitError::CommitNotFound { .. })
    ));
    let tree = origin.git(&["rev-parse", "HEAD^{tree}"]);
    assert_eq!(mirror.changed_paths(&tree, &second).await.unwrap(), None);
    let changed = mirror
        .changed_paths(&first, &second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.paths, ["b"]);
}
