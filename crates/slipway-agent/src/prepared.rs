//! A working tree made ahead of its job. After a prefetch hint's fetch, the
//! agent checks the commit out into `work_dir/jobs/prepared-N`; the next job
//! of that commit (from the same repository URL) moves it into its own
//! directory, a rename, instead of checking out while its first step waits.
//! At most one tree is prepared at a time: a newer hint discards the older
//! tree. A tree nobody takes is removed by the next hint, or with the rest
//! of `jobs/` when the agent starts again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use slipway_git::Mirror;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A checked-out working tree of the mirror, not yet any job's.
pub(crate) struct Tree {
    pub(crate) dir: PathBuf,
    pub(crate) mirror: Arc<Mirror>,
}

/// The tree being prepared or ready: its lock is held while it is made.
pub(crate) struct Slot {
    repo_url: String,
    commit: String,
    tree: Arc<Mutex<Option<Tree>>>,
}

/// The agent's prepared tree, if any.
#[derive(Default)]
pub(crate) struct Prepared {
    slot: std::sync::Mutex<Option<Slot>>,
    next: AtomicU64,
}

impl Prepared {
    /// Starts preparing `commit`: the guard to put the tree in once made
    /// (a job of the commit waits for it meanwhile), the directory to make
    /// it in, and the slot it replaces (to discard).
    pub(crate) fn begin(
        &self,
        jobs_dir: &Path,
        repo_url: &str,
        commit: &str,
    ) -> Option<(OwnedMutexGuard<Option<Tree>>, PathBuf, Option<Slot>)> {
        let tree = Arc::new(Mutex::new(None));
        // A new lock: nobody else can hold it yet.
        let guard = tree.clone().try_lock_owned().ok()?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = jobs_dir.join(format!("prepared-{n}"));
        let slot = Slot {
            repo_url: repo_url.to_owned(),
            commit: commit.to_owned(),
            tree,
        };
        let replaced = self.slot.lock().ok()?.replace(slot);
        Some((guard, dir, replaced))
    }

    /// The tree prepared for `commit` of `repo_url`, waiting while it is
    /// being made; `None` when none is (or it could not be made).
    pub(crate) async fn take(&self, repo_url: &str, commit: &str) -> Option<Tree> {
        let slot = {
            let mut slot = self.slot.lock().ok()?;
            match &*slot {
                Some(s) if s.commit == commit && s.repo_url == repo_url => slot.take()?,
                _ => return None,
            }
        };
        slot.tree.lock().await.take()
    }
}

/// Removes a replaced slot's tree (once it is made, if it is being made).
pub(crate) async fn discard(slot: Slot) {
    let Some(tree) = slot.tree.lock().await.take() else {
        return;
    };
    if let Err(error) = tree.mirror.remove_worktree(&tree.dir).await {
        tracing::warn!("cannot remove a prepared checkout: {error}");
    }
}
