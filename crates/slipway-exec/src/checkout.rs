//! Fresh checkouts of one commit, for clean workspaces.
//!
//! `git clone --shared --no-checkout` of the local repository followed by a checkout of the
//! commit: the clone borrows the repository's object store (nothing is copied), sees only
//! committed content, and, unlike `git worktree`, leaves no trace in the user's repository —
//! nothing to prune if the process dies before it cleans up.

use std::path::Path;

use slipway_engine::ports::ExecError;
use tokio::process::Command;

/// Makes `key` safe as one directory name. Characters other than `A-Z a-z 0-9 . _ -` become
/// `_`; when anything was replaced, a short digest of the key is appended so that keys which
/// differ only there (`test (a)`, `test [a]`) get different directories.
pub(crate) fn sanitise(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with('.') {
        out.insert(0, '_');
    }
    if out != key || out.is_empty() || out.starts_with('.') {
        let digest = blake3::hash(key.as_bytes()).to_hex();
        out.push('-');
        out.push_str(digest.get(..10).unwrap_or_default());
    }
    out
}

/// Replaces `dir` by a checkout of `commit` from the repository at `repo`.
pub(crate) async fn clone_commit(repo: &Path, commit: &str, dir: &Path) -> Result<(), ExecError> {
    if commit.is_empty() || commit.starts_with('-') || commit.contains(char::is_whitespace) {
        return Err(ExecError(format!(
            "`{commit}` is not a commit to check out"
        )));
    }
    remove_dir(dir).await?;
    if let Some(parent) = dir.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| ExecError(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut clone = git();
    clone
        .args(["clone", "--quiet", "--shared", "--no-checkout", "--"])
        .arg(repo)
        .arg(dir);
    run_git(clone, "clone", repo).await?;
    let mut checkout = git();
    checkout
        .current_dir(dir)
        .args([
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
        ])
        .arg(commit)
        .arg("--");
    run_git(checkout, "checkout", repo).await
}

/// Removes a checkout; a directory that does not exist is fine.
pub(crate) async fn remove_dir(dir: &Path) -> Result<(), ExecError> {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ExecError(format!("cannot remove {}: {e}", dir.display()))),
    }
}

fn git() -> Command {
    let mut cmd = Command::new("git");
    // Variables a surrounding git (a hook, a test harness) may have set would point the command
    // at another repository.
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run_git(mut cmd: Command, what: &str, repo: &Path) -> Result<(), ExecError> {
    let output = cmd.output().await.map_err(|e| {
        ExecError(format!(
            "cannot run `git {what}` (is git installed and on PATH?): {e}"
        ))
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(ExecError(format!(
        "`git {what}` of {} failed ({}): {}",
        repo.display(),
        output.status,
        stderr.trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::sanitise;

    #[test]
    fn sanitised_keys_stay_distinct() {
        assert_eq!(sanitise("build"), "build");
        assert_ne!(sanitise("test (a)"), sanitise("test [a]"));
        assert!(sanitise("test (a)").starts_with("test__a_-"));
        assert!(!sanitise("..").starts_with('.'));
        assert!(!sanitise("a/../b").contains('/'));
    }
}
