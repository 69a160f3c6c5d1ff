//! Workspaces: clean checkouts, input globs and hashing, reading files, step output files.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Step, config, run_in, workspace};
use slipway_engine::ports::{Executor, StepExit, Stream, Workspace, WorkspaceRequest};
use slipway_exec::{LocalConfig, LocalExecutor};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, content).expect("write");
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn clean_checkout_has_the_commit_and_not_the_uncommitted_changes() {
    let repo = tempfile::tempdir().expect("temp dir");
    git(repo.path(), &["init", "--quiet", "-b", "main"]);
    write(repo.path(), "tracked.txt", "committed\n");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "--quiet", "-m", "first"]);
    let sha = git(repo.path(), &["rev-parse", "HEAD"]);
    write(repo.path(), "tracked.txt", "changed, not committed\n");
    write(repo.path(), "untracked.txt", "new\n");

    let work = tempfile::tempdir().expect("temp dir");
    let executor = LocalExecutor::new(LocalConfig::clean(repo.path(), &sha, work.path()));
    let request = WorkspaceRequest {
        run: "7".to_owned(),
        job_key: "test (linux, 1)".to_owned(),
        container: None,
    };
    let mut ws = executor.prepare(&request).await.expect("checkout");
    assert!(
        ws.root()
            .starts_with(std::fs::canonicalize(work.path()).expect("canonical"))
    );
    let out = run_in(
        &mut ws,
        &Step::new("cat tracked.txt; ls; git rev-parse HEAD"),
    )
    .await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(
        out.sink.of(Stream::Stdout),
        vec!["committed", "tracked.txt", sha.as_str()]
    );
    let root = ws.root().to_path_buf();
    ws.release().await;
    assert!(!root.exists());
    // The user's repository is untouched.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("tracked.txt")).expect("read"),
        "changed, not committed\n"
    );
}

#[tokio::test]
async fn a_bad_commit_is_a_clear_error() {
    let repo = tempfile::tempdir().expect("temp dir");
    git(repo.path(), &["init", "--quiet"]);
    let work = tempfile::tempdir().expect("temp dir");
    for commit in [
        "0123456789abcdef0123456789abcdef01234567",
        "--upload-pack=evil",
    ] {
        let executor = LocalExecutor::new(LocalConfig::clean(repo.path(), commit, work.path()));
        let request = WorkspaceRequest {
            run: "1".to_owned(),
            job_key: "job".to_owned(),
            container: None,
        };
        let error = executor.prepare(&request).await.err();
        assert!(error.is_some_and(|e| e.0.contains(commit) || e.0.contains("checkout")));
    }
}

#[tokio::test]
async fn in_place_workspace_sees_uncommitted_files_and_release_keeps_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "draft.txt", "work in progress\n");
    let mut ws = workspace(config(dir.path())).await;
    let out = run_in(&mut ws, &Step::new("cat draft.txt")).await;
    assert_eq!(out.sink.of(Stream::Stdout), vec!["work in progress"]);
    ws.release().await;
    assert!(dir.path().join("draft.txt").exists());
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for rel in [
        "Cargo.toml",
        "src/main.rs",
        "src/lib.rs",
        "src/gen/out.rs",
        "src/notes.md",
        "docs/a.md",
        "docs/deep/b.md",
        "target/debug/x.rs",
        ".git/config",
        ".slipway/local/runs/1.json",
        ".slipway/environments.yml",
    ] {
        write(dir.path(), rel, rel);
    }
    dir
}

#[tokio::test]
async fn globs_match_with_double_star_excludes_and_directories() {
    let dir = tree();
    let ws = workspace(config(dir.path())).await;
    let glob = |globs: &[&str]| ws.glob(&strings(globs)).expect("glob");
    assert_eq!(
        glob(&["src/**/*.rs"]),
        strings(&["src/gen/out.rs", "src/lib.rs", "src/main.rs"])
    );
    assert_eq!(
        glob(&["src/*.rs", "!src/lib.rs"]),
        strings(&["src/main.rs"])
    );
    assert_eq!(
        glob(&["src/**", "!src/gen", "!**/*.md"]),
        strings(&["src/lib.rs", "src/main.rs"])
    );
    // A directory takes in everything below it.
    assert_eq!(glob(&["docs"]), strings(&["docs/a.md", "docs/deep/b.md"]));
    assert_eq!(
        glob(&["./Cargo.toml", "missing.txt"]),
        strings(&["Cargo.toml"])
    );
    // `**` from the root never reaches git's or Slipway's own state.
    let everything = glob(&["**"]);
    assert!(everything.contains(&".slipway/environments.yml".to_owned()));
    assert!(everything.contains(&"target/debug/x.rs".to_owned()));
    assert!(
        everything
            .iter()
            .all(|p| !p.starts_with(".git/") && !p.starts_with(".slipway/local"))
    );
    assert!(
        glob(&["**/*.rs", "!target"])
            .iter()
            .all(|p| !p.starts_with("target"))
    );
}

#[tokio::test]
async fn globs_leaving_the_root_are_refused() {
    let dir = tree();
    let ws = workspace(config(dir.path())).await;
    for bad in ["../x", "/etc/*", "src/../../x", "!", "src/[", ""] {
        assert!(ws.glob(&strings(&[bad])).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn only_the_literal_prefix_is_walked() {
    let dir = tree();
    let executor = LocalExecutor::new(LocalConfig::in_place(dir.path()));
    let request = WorkspaceRequest {
        run: "1".to_owned(),
        job_key: "job".to_owned(),
        container: None,
    };
    let ws = executor.prepare(&request).await.expect("prepare");
    let files = ws
        .glob(&strings(&["src/**/*.rs", "Cargo.toml", "docs/a.md"]))
        .expect("glob");
    assert_eq!(files.len(), 5);
    // `src` and `src/gen` only: neither the root, nor `target`, nor `docs`.
    assert_eq!(executor.input_stats().dirs_listed, 2);
}

#[tokio::test]
async fn inputs_are_hashed_and_digests_remembered() {
    let dir = tree();
    let ws = workspace(config(dir.path())).await;
    let globs = strings(&["src/*.rs"]);
    let first = ws.hash_inputs(&globs).expect("hash");
    let expected = blake3::hash(b"src/lib.rs").to_hex().to_string();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].0, "src/lib.rs");
    assert_eq!(first[0].1.0, expected);

    // Same size and, on a coarse clock, the same mtime: the inode and ctime still tell.
    write(dir.path(), "src/lib.rs", "src/LIB.rs");
    let second = ws.hash_inputs(&globs).expect("hash");
    assert_eq!(
        second[0].1.0,
        blake3::hash(b"src/LIB.rs").to_hex().to_string()
    );
    assert_eq!(second[1], first[1]);
}

#[tokio::test]
async fn digests_are_shared_between_jobs_of_one_executor() {
    let dir = tree();
    let executor = LocalExecutor::new(LocalConfig::in_place(dir.path()));
    let request = |job: &str| WorkspaceRequest {
        run: "1".to_owned(),
        job_key: job.to_owned(),
        container: None,
    };
    let globs = strings(&["src/**/*.rs"]);
    let mut results = Vec::new();
    for job in ["a", "b", "c"] {
        let ws = executor.prepare(&request(job)).await.expect("prepare");
        results.push(ws.hash_inputs(&globs).expect("hash"));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let stats = executor.input_stats();
    assert_eq!((stats.files_hashed, stats.digests_reused), (3, 6));

    // A changed file is read again, the others are not.
    write(dir.path(), "src/main.rs", "changed");
    let ws = executor.prepare(&request("d")).await.expect("prepare");
    let after = ws.hash_inputs(&globs).expect("hash");
    assert_ne!(after, results[0]);
    let stats = executor.input_stats();
    assert_eq!((stats.files_hashed, stats.digests_reused), (4, 8));
}

#[tokio::test]
async fn read_file_stays_inside_the_root() {
    let dir = tree();
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("escape")).expect("symlink");
    let ws = workspace(config(dir.path())).await;
    assert_eq!(
        ws.read_file("src/main.rs", 100).expect("read"),
        b"src/main.rs"
    );
    assert!(ws.read_file("src/main.rs", 3).is_err());
    for bad in ["../x", "/etc/hostname", "escape", "missing"] {
        assert!(ws.read_file(bad, 1 << 20).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn step_outputs_go_to_a_file_outside_the_workspace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ws = workspace(config(dir.path())).await;
    let path = ws.output_file(0).expect("output file");
    assert!(!path.starts_with(ws.root()));
    let mut step = Step::new("echo version=1.2 >> \"$SLIPWAY_OUTPUT\"");
    step.env = vec![("SLIPWAY_OUTPUT".into(), path.display().to_string())];
    let out = run_in(&mut ws, &step).await;
    assert_eq!(out.exit, StepExit::Exited(0));
    assert_eq!(ws.read_output_file(0).expect("read"), b"version=1.2\n");
    // A new attempt starts empty.
    ws.output_file(0).expect("output file");
    assert_eq!(ws.read_output_file(0).expect("read"), b"");
    ws.release().await;
    assert!(!path.exists());
}
