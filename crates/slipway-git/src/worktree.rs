//! Working trees attached to a [`Mirror`]: a job's workspace in one git process.
//!
//! `git worktree add --detach` checks a commit out into a new directory that shares the
//! mirror's objects and refs: no clone (which starts `upload-pack` through a shell and copies
//! hook templates), no second process for the checkout. The price is that the workspace is
//! not a separate repository: what a job does to refs, tags or configuration with git lands
//! in the mirror (its branches and tags are set right again by the next full fetch).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::command;
use crate::mirror::Mirror;
use crate::{GitError, validate};

const SMALL_OUTPUT: usize = 64 << 10;

impl Mirror {
    /// Makes `dest` a working tree of commit `sha` (full id), detached, attached to this
    /// mirror (`git worktree add --detach`). `dest` must not exist or be empty. Steps can use
    /// git in it as in a clone; branches and tags are the mirror's.
    ///
    /// Remove it with [`Mirror::remove_worktree`]; working trees whose directory vanished
    /// otherwise (a crash) are forgotten by [`Mirror::prune_worktrees`].
    pub async fn add_worktree(&self, sha: &str, dest: &Path) -> Result<(), GitError> {
        validate::sha(sha)?;
        let dest =
            std::path::absolute(dest).map_err(self.io_error("locating the working tree", dest))?;
        match std::fs::read_dir(&dest) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(GitError::DestinationNotEmpty { dest });
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(self.io_error("reading the working tree", &dest)(err)),
        }
        let ctx = self.context("worktree add");
        let args = [
            self.git_dir_arg(),
            "-c".into(),
            "advice.detachedHead=false".into(),
            "worktree".into(),
            "add".into(),
            "--quiet".into(),
            "--detach".into(),
            dest.clone().into(),
            sha.into(),
        ];
        let options = self.options();
        let output = command::run(options, options.local_timeout, &ctx, args, SMALL_OUTPUT).await?;
        if output.status.success() {
            return Ok(());
        }
        // Leave nothing half made: no directory, no record in the mirror.
        let _ = self.remove_worktree(&dest).await;
        if !self.has_commit(sha).await? {
            return Err(GitError::CommitNotFound {
                repo: self.shown_url().to_owned(),
                sha: sha.to_owned(),
            });
        }
        Err(output.failure(&ctx))
    }

    /// Removes a working tree made by [`Mirror::add_worktree`]: its directory and the mirror's
    /// record of it (`worktrees/<name>`), without running git. A directory that is not there
    /// is fine; one that is not a working tree of this mirror only has its directory removed.
    pub async fn remove_worktree(&self, dest: &Path) -> Result<(), GitError> {
        let dest =
            std::path::absolute(dest).map_err(self.io_error("locating the working tree", dest))?;
        let record = self.worktree_record(&dest).await;
        remove_dir_if_present(&dest)
            .await
            .map_err(self.io_error("removing the working tree", &dest))?;
        if let Some(record) = record {
            remove_dir_if_present(&record)
                .await
                .map_err(self.io_error("removing the working tree's record", &record))?;
        }
        Ok(())
    }

    /// `git worktree prune`: forgets working trees whose directory is gone (left by a process
    /// that died before [`Mirror::remove_worktree`]).
    pub async fn prune_worktrees(&self) -> Result<(), GitError> {
        let ctx = self.context("worktree prune");
        let options = self.options();
        command::run_ok(
            options,
            options.local_timeout,
            &ctx,
            [
                self.git_dir_arg(),
                OsString::from("worktree"),
                "prune".into(),
            ],
            SMALL_OUTPUT,
        )
        .await?;
        Ok(())
    }

    /// The mirror's record of the working tree in `dest`, read from `dest/.git` (`gitdir:
    /// MIRROR/worktrees/NAME`), when it lies inside this mirror's `worktrees/`.
    async fn worktree_record(&self, dest: &Path) -> Option<PathBuf> {
        let pointer = tokio::fs::read_to_string(dest.join(".git")).await.ok()?;
        let record = PathBuf::from(pointer.strip_prefix("gitdir:")?.trim());
        let records = self.dir().join("worktrees");
        let inside = record.parent() == Some(records.as_path())
            && record
                .file_name()
                .is_some_and(|name| name != "." && name != "..");
        inside.then_some(record)
    }
}

async fn remove_dir_if_present(dir: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}
