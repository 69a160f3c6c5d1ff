//! The mirror is opened once and kept: later passes fetch into it, a removed mirror directory
//! is cloned again, and a project whose URL changed gets a mirror of the new URL.

mod common;

use common::{Fixture, Origin, pipeline};
use slipway_git::MAINTENANCE_EVERY;

const ON: &str = "  push:\n    branches: [main]";

#[tokio::test]
async fn a_kept_mirror_sees_new_commits_and_a_removed_one_is_cloned_again() {
    let f = Fixture::new("main", &pipeline(ON)).await;
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty()
    );

    let first = f.origin.commit(&[("a", Some("1"))]);
    assert_eq!(f.triggers.poll_project(&f.project).await.unwrap().len(), 1);
    assert_eq!(
        f.recorder.taken()[0].commit.as_deref(),
        Some(first.as_str())
    );

    // The directory goes away under the kept mirror: the next pass clones it again.
    std::fs::remove_dir_all(f.mirrors.join(f.project.id.to_string())).unwrap();
    let second = f.origin.commit(&[("a", Some("2"))]);
    let runs = f.triggers.poll_project(&f.project).await.unwrap();
    assert_eq!(runs.len(), 1);
    let requests = f.recorder.taken();
    assert_eq!(requests[0].commit.as_deref(), Some(second.as_str()));
    assert!(requests[0].pipeline.is_ok(), "{:?}", requests[0].pipeline);
    assert!(
        f.mirrors
            .join(f.project.id.to_string())
            .join("HEAD")
            .exists()
    );
}

#[tokio::test]
async fn a_changed_url_opens_the_new_repository() {
    let f = Fixture::new("main", &pipeline(ON)).await;
    assert!(
        f.triggers
            .poll_project(&f.project)
            .await
            .unwrap()
            .is_empty()
    );

    // Another repository whose history shares nothing with the first; the project now
    // follows it (same id, same mirror directory).
    let other_root = tempfile::tempdir().unwrap();
    let other = Origin::new(other_root.path(), "main");
    other.commit(&[("slipway.yml", Some(&pipeline(ON)))]);
    let sha = other.commit(&[("b", Some("1"))]);
    let mut moved = f.project.clone();
    moved.repo_url = other.url();
    let runs = f.triggers.poll_project(&moved).await.unwrap();
    assert_eq!(runs.len(), 1, "{:?}", f.recorder.taken());
    assert_eq!(f.recorder.taken()[0].commit.as_deref(), Some(sha.as_str()));
}

#[tokio::test]
async fn many_passes_run_maintenance_and_keep_working() {
    let f = Fixture::new("main", &pipeline(ON)).await;
    for _ in 0..=MAINTENANCE_EVERY {
        f.triggers.poll_project(&f.project).await.unwrap();
    }
    // Maintenance ran in the background under the project's lock; the next pass waits for it
    // and still sees a new commit.
    let sha = f.origin.commit(&[("c", Some("1"))]);
    assert_eq!(f.triggers.poll_project(&f.project).await.unwrap().len(), 1);
    assert_eq!(f.recorder.taken()[0].commit.as_deref(), Some(sha.as_str()));
}
