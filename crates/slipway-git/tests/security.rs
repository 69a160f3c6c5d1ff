//! Credentials in messages, option injection, and time limits.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Origin;
use slipway_git::{GitError, GitOptions, Mirror, Source, checkout};

/// Refused at once: nothing listens on port 9 of 127.0.0.1.
const URL_WITH_CREDENTIALS: &str = "https://user:secret@127.0.0.1:9/repo.git";

fn assert_redacted(err: &GitError) {
    eprintln!("{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("secret"), "credential leaked: {text}");
        assert!(!text.contains("user:"), "credential leaked: {text}");
        assert!(
            text.contains("***@127.0.0.1:9"),
            "names the repository: {text}"
        );
    }
}

#[tokio::test]
async fn credentials_never_appear_in_errors_or_debug() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mirror");
    let err = Mirror::open_or_clone(URL_WITH_CREDENTIALS, &dir)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::Failed { .. }), "{err}");
    assert_redacted(&err);
    assert!(!dir.exists(), "a failed clone leaves nothing behind");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    let err = checkout(
        Source::Url(URL_WITH_CREDENTIALS),
        &"a".repeat(40),
        &tmp.path().join("ws"),
        &GitOptions::default(),
    )
    .await
    .unwrap_err();
    assert_redacted(&err);

    // A mirror whose URL has credentials: its Debug and its fetch errors hide them.
    let origin = Origin::new(tmp.path());
    origin.commit(&[("a", Some("1"))], "one");
    let existing = tmp.path().join("existing");
    Mirror::open_or_clone(&origin.url(), &existing)
        .await
        .unwrap();
    let mirror = Mirror::open_or_clone(URL_WITH_CREDENTIALS, &existing)
        .await
        .unwrap();
    let debug = format!("{mirror:?}");
    assert!(
        !debug.contains("secret") && debug.contains("***@"),
        "{debug}"
    );
    let err = mirror.fetch().await.unwrap_err();
    assert_redacted(&err);
}

#[tokio::test]
async fn arguments_that_look_like_options_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("pwned");
    let injected = format!("--upload-pack=touch {}", marker.display());
    let err = Mirror::open_or_clone(&injected, &tmp.path().join("m"))
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err}");
    let ext = format!("ext::sh -c touch% {}", marker.display());
    let err = Mirror::open_or_clone(&ext, &tmp.path().join("m"))
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err}");
    let err = checkout(
        Source::Url(&injected),
        &"a".repeat(40),
        &tmp.path().join("ws"),
        &GitOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err}");
    assert!(!marker.exists());

    let origin = Origin::new(tmp.path());
    let sha = origin.commit(&[("a", Some("1"))], "one");
    let mirror = Mirror::open_or_clone(&origin.url(), &tmp.path().join("ok"))
        .await
        .unwrap();
    for rev in ["--all", "-n", "--output=/tmp/x"] {
        let err = mirror.resolve(rev).await.unwrap_err();
        assert!(
            matches!(err, GitError::InvalidArgument { .. }),
            "{rev}: {err}"
        );
    }
    let err = mirror.has_commit("--all").await.unwrap_err();
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err}");
    let err = mirror.changed_paths("--all", &sha).await.unwrap_err();
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        2,
        "only origin and ok"
    );
}

#[tokio::test]
async fn credentials_echoed_by_git_are_masked() {
    use std::os::unix::fs::PermissionsExt;
    // Older gits, remote helpers and credential helpers may print the URL they were given,
    // or the password alone.
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("git");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"fatal: unable to access '{URL_WITH_CREDENTIALS}/'\" >&2\n\
             echo 'the password secret was refused' >&2\nexit 128\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = GitOptions {
        program: script,
        ..GitOptions::default()
    };
    let err = Mirror::open_or_clone_with(URL_WITH_CREDENTIALS, &tmp.path().join("m"), options)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::Failed { .. }), "{err}");
    assert!(
        err.to_string().contains("unable to access"),
        "git's message is kept: {err}"
    );
    assert_redacted(&err);
}

/// A `git` that records the pid of a child it starts and then waits for it forever.
fn hanging_git(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("git");
    let pid_file = dir.join("child.pid");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 300 &\necho $! > {}\nwait\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn is_running(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name; a zombie has finished.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_git_that_hangs_is_stopped_with_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    let options = GitOptions {
        program: hanging_git(tmp.path()),
        network_timeout: Duration::from_secs(1),
        local_timeout: Duration::from_secs(1),
    };
    let err = Mirror::open_or_clone_with("/nonexistent/repo", &tmp.path().join("m"), options)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");

    // The grandchild (in git's process group) was killed too. Its parent, the reaper, may
    // take a moment to collect it, so look a few times.
    let pid = std::fs::read_to_string(tmp.path().join("child.pid")).unwrap();
    let pid = pid.trim();
    let mut running = is_running(pid);
    for _ in 0..50 {
        if !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        running = is_running(pid);
    }
    assert!(!running, "the child {pid} of the timed-out git still runs");
}

#[tokio::test]
async fn a_missing_git_program_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let options = GitOptions {
        program: tmp.path().join("no-such-git"),
        ..GitOptions::default()
    };
    let err = Mirror::open_or_clone_with("/some/repo", &tmp.path().join("m"), options)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("is git installed"), "{err}");
}
