//! Working trees attached to a [`Mirror`]: a job's workspace in one git process.
//!
//! A working tree (what `git worktree add --detach` makes) shares the mirror's objects and
//! refs: no clone (which starts `upload-pack` through a shell and copies hook templates). Its
//! record in the mirror is written directly, so the checkout is the only git process. The price is that the workspace is
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
    /// mirror: what `git worktree add --detach` makes, in one git process. `dest` must not
    /// exist or be empty. Steps can use git in it as in a clone; branches and tags are the
    /// mirror's.
    ///
    /// The mirror's record of it is written here, in git's documented layout
    /// (`gitrepository-layout`: `worktrees/NAME/{gitdir,commondir,HEAD}`, and `dest/.git`
    /// holding `gitdir: MIRROR/worktrees/NAME`), locked while it is made as `git worktree add`
    /// does; then `git read-tree -u --reset SHA` fills the index and the files. (`worktree
    /// add` itself starts a second process for that checkout.)
    ///
    /// Remove it with [`Mirror::remove_worktree`]; working trees whose directory vanished
    /// otherwise (a crash) are forgotten by [`Mirror::prune_worktrees`], as git's own are.
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
        let record = match self.write_worktree_record(sha, &dest) {
            Ok(record) => record,
            Err(err) => {
                let _ = self.remove_worktree(&dest).await;
                return Err(err);
            }
        };
        let ctx = self.context("read-tree");
        let mut git_dir = OsString::from("--git-dir=");
        git_dir.push(&record);
        let mut work_tree = OsString::from("--work-tree=");
        work_tree.push(&dest);
        let args = [
            git_dir,
            work_tree,
            "read-tree".into(),
            "-u".into(),
            "--reset".into(),
            sha.into(),
        ];
        let options = self.options();
        let output = command::run(options, options.local_timeout, &ctx, args, SMALL_OUTPUT).await?;
        if output.status.success() {
            // Made: `git worktree prune` may judge it from now on.
            return std::fs::remove_file(record.join("locked"))
                .map_err(self.io_error("unlocking the working tree's record", &record));
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

    /// Writes the mirror's record of a new working tree in `dest` (absolute), locked, and
    /// `dest/.git` pointing at it; returns the record's directory. Its name is `dest`'s
    /// (made safe), with a number added when a record of that name exists.
    fn write_worktree_record(&self, sha: &str, dest: &Path) -> Result<PathBuf, GitError> {
        let records = self.dir().join("worktrees");
        std::fs::create_dir_all(&records)
            .map_err(self.io_error("making the working tree records", &records))?;
        let base = record_name(dest);
        let mut record = records.join(&base);
        let mut n = 1;
        loop {
            match std::fs::create_dir(&record) {
                Ok(()) => break,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                    record = records.join(format!("{base}{n}"));
                    n += 1;
                }
                Err(err) => {
                    return Err(self.io_error("making the working tree's record", &record)(
                        err,
                    ));
                }
            }
        }
        match self.fill_worktree_record(&record, sha, dest) {
            Ok(()) => Ok(record),
            Err(err) => {
                // A locked record would never be pruned.
                let _ = std::fs::remove_dir_all(&record);
                Err(err)
            }
        }
    }

    fn fill_worktree_record(&self, record: &Path, sha: &str, dest: &Path) -> Result<(), GitError> {
        let write = |name: &str, text: &[u8]| {
            let path = record.join(name);
            std::fs::write(&path, text)
                .map_err(self.io_error("writing the working tree's record", &path))
        };
        // First, as `git worktree add` does: a prune meanwhile leaves the record alone.
        write("locked", b"initializing\n")?;
        let mut gitdir = dest.join(".git").into_os_string().into_encoded_bytes();
        gitdir.push(b'\n');
        write("gitdir", &gitdir)?;
        write("commondir", b"../..\n")?;
        write("HEAD", format!("{sha}\n").as_bytes())?;
        std::fs::create_dir_all(dest).map_err(self.io_error("making the working tree", dest))?;
        let mut pointer = b"gitdir: ".to_vec();
        pointer.extend_from_slice(record.as_os_str().as_encoded_bytes());
        pointer.push(b'\n');
        let dot_git = dest.join(".git");
        std::fs::write(&dot_git, pointer)
            .map_err(self.io_error("writing the working tree's .git", &dot_git))?;
        Ok(())
    }

    /// Moves a working tree made by [`Mirror::add_worktree`] from `from` to `to` (which must not
    /// exist), as `git worktree move` does: the directory is renamed and the mirror's record
    /// pointed at the new place; its files and index are untouched (a rename changes no file's
    /// stat data), so it stays as clean as it was. No git process.
    pub async fn move_worktree(&self, from: &Path, to: &Path) -> Result<(), GitError> {
        let from =
            std::path::absolute(from).map_err(self.io_error("locating the working tree", from))?;
        let to = std::path::absolute(to).map_err(self.io_error("locating the working tree", to))?;
        let Some(record) = self.worktree_record(&from).await else {
            return Err(GitError::InvalidArgument {
                what: "working tree",
                value: from.display().to_string(),
                reason: "it is not a working tree of this mirror",
            });
        };
        if std::fs::symlink_metadata(&to).is_ok() {
            return Err(GitError::DestinationNotEmpty { dest: to });
        }
        tokio::fs::rename(&from, &to)
            .await
            .map_err(self.io_error("moving the working tree", &from))?;
        let mut gitdir = to.join(".git").into_os_string().into_encoded_bytes();
        gitdir.push(b'\n');
        let path = record.join("gitdir");
        tokio::fs::write(&path, gitdir)
            .await
            .map_err(self.io_error("writing the working tree's record", &path))
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

/// A record name for the working tree in `dest`: its last path component, with anything but
/// ASCII letters, digits, `-`, `_` and `.` (not leading) replaced by `-`.
fn record_name(dest: &Path) -> String {
    let name: String = dest
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .enumerate()
        .map(|(i, c)| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            '.' if i > 0 => c,
            _ => '-',
        })
        .collect();
    if name.is_empty() {
        "worktree".to_owned()
    } else {
        name
    }
}

async fn remove_dir_if_present(dir: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}
