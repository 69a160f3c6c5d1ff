//! A project's mirror: opened once (cloned the first time), kept open, and fetched.

use std::sync::Arc;

use slipway_git::{GitError, Mirror};
use slipway_store::sql::{Project, ServerStore};

use crate::{RunStarter, Triggers};

/// A mirror after an attempt to bring it up to date: the mirror when it could be opened, and
/// what went wrong, if anything. A webhook still looks for its commit in a mirror whose fetch
/// failed (the commit may be there from before), and names the failure when it is not.
pub(crate) struct Synced {
    pub mirror: Option<Arc<Mirror>>,
    pub error: Option<GitError>,
}

/// An opened mirror and the URL it was opened for (a project's URL may be changed).
pub(crate) struct OpenMirror {
    url: String,
    mirror: Arc<Mirror>,
}

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    /// Opens the project's mirror (cloning it on first use) and fetches it. Call with the
    /// project's lock held.
    ///
    /// The opened mirror is kept for the next call, so that a delivery does not check the
    /// directory again; after a failed fetch it is opened afresh at once (the directory may
    /// have been removed or damaged), and so it is when the project's URL changed. Every
    /// [`slipway_git::MAINTENANCE_EVERY`] fetches, git's maintenance runs in the background
    /// under the project's lock (fetches skip it).
    pub(crate) async fn sync_mirror(&self, project: &Project) -> Synced {
        if let Some(mirror) = self.open_mirror(project) {
            match mirror.fetch().await {
                Ok(()) => {
                    self.maintain_if_due(project.id, &mirror);
                    return Synced {
                        mirror: Some(mirror),
                        error: None,
                    };
                }
                // Open it again below, as if for the first time: a removed directory is
                // cloned again, a damaged one refused with the reason.
                Err(_) => self.forget_mirror(project.id),
            }
        }
        let dir = self.mirror_dir(project.id);
        let existed = dir.exists();
        let mirror = match Mirror::open_or_clone(&project.repo_url, &dir).await {
            Ok(mirror) => Arc::new(mirror),
            Err(err) => {
                return Synced {
                    mirror: None,
                    error: Some(err),
                };
            }
        };
        // A first clone has just fetched everything.
        let error = if existed {
            mirror.fetch().await.err()
        } else {
            None
        };
        if error.is_none() {
            self.keep_mirror(project, &mirror);
        }
        Synced {
            mirror: Some(mirror),
            error,
        }
    }

    /// The mirror, freshly fetched, or the error. Call with the project's lock held.
    pub(crate) async fn fetched_mirror(&self, project: &Project) -> Result<Arc<Mirror>, GitError> {
        match self.sync_mirror(project).await {
            Synced {
                error: Some(err), ..
            } => Err(err),
            Synced {
                mirror: Some(mirror),
                ..
            } => Ok(mirror),
            Synced {
                mirror: None,
                error: None,
            } => unreachable_mirror(project),
        }
    }

    /// The project's mirror opened earlier for its current URL.
    fn open_mirror(&self, project: &Project) -> Option<Arc<Mirror>> {
        let mirrors = self
            .mirrors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        mirrors
            .get(&project.id)
            .filter(|open| open.url == project.repo_url)
            .map(|open| Arc::clone(&open.mirror))
    }

    fn keep_mirror(&self, project: &Project, mirror: &Arc<Mirror>) {
        let mut mirrors = self
            .mirrors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        mirrors.insert(
            project.id,
            OpenMirror {
                url: project.repo_url.clone(),
                mirror: Arc::clone(mirror),
            },
        );
    }

    fn forget_mirror(&self, project_id: i64) {
        let mut mirrors = self
            .mirrors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        mirrors.remove(&project_id);
    }

    /// Runs git's maintenance of the mirror in a task of its own once it is due. The task
    /// waits for the project's lock, so it runs after the current delivery has been decided
    /// and never alongside a fetch.
    fn maintain_if_due(&self, project_id: i64, mirror: &Arc<Mirror>) {
        if !mirror.maintenance_due() {
            return;
        }
        let lock = self.project_lock(project_id);
        let mirror = Arc::clone(mirror);
        tokio::spawn(async move {
            let _guard = lock.lock_owned().await;
            if !mirror.maintenance_due() {
                return; // Another task got there first.
            }
            if let Err(err) = mirror.maintain().await {
                tracing::warn!(project_id, error = %err, "git maintenance of the mirror failed");
            }
        });
    }
}

/// `sync_mirror` gives a mirror or an error; this keeps the match total without a panic.
fn unreachable_mirror(project: &Project) -> Result<Arc<Mirror>, GitError> {
    Err(GitError::Unexpected {
        operation: "open",
        repo: slipway_git::redact(&project.repo_url).into_owned(),
        detail: "the mirror could not be opened".to_owned(),
    })
}

impl Synced {
    /// The mirror if it holds commit `sha`; else why the commit cannot be built.
    pub(crate) async fn with_commit(&self, sha: &str) -> Result<&Mirror, String> {
        let Some(mirror) = &self.mirror else {
            return Err(self.not_fetched(sha));
        };
        match mirror.has_commit(sha).await {
            Ok(true) => Ok(mirror),
            Ok(false) => Err(self.missing(mirror, sha)),
            Err(err) => Err(err.to_string()),
        }
    }

    /// Why commit `sha` cannot be built when there is no mirror.
    pub(crate) fn not_fetched(&self, sha: &str) -> String {
        match &self.error {
            Some(err) => format!("commit {sha} could not be fetched: {err}"),
            None => format!("commit {sha} could not be fetched"),
        }
    }

    /// Why commit `sha` cannot be built when `mirror` does not hold it.
    pub(crate) fn missing(&self, mirror: &Mirror, sha: &str) -> String {
        match &self.error {
            Some(_) => self.not_fetched(sha),
            None => format!(
                "commit {sha} is not in {}; it was never pushed there, or was removed",
                mirror.shown_url()
            ),
        }
    }
}
