//! A project's mirror: opened (cloned the first time) and fetched.

use slipway_git::{GitError, Mirror};
use slipway_store::sql::{Project, ServerStore};

use crate::{RunStarter, Triggers};

/// A mirror after an attempt to bring it up to date: the mirror when it could be opened, and
/// what went wrong, if anything. A webhook still looks for its commit in a mirror whose fetch
/// failed (the commit may be there from before), and names the failure when it is not.
pub(crate) struct Synced {
    pub mirror: Option<Mirror>,
    pub error: Option<GitError>,
}

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    /// Opens the project's mirror (cloning it on first use) and fetches it. Call with the
    /// project's lock held.
    pub(crate) async fn sync_mirror(&self, project: &Project) -> Synced {
        let dir = self.mirror_dir(project.id);
        let existed = dir.exists();
        let mirror = match Mirror::open_or_clone(&project.repo_url, &dir).await {
            Ok(mirror) => mirror,
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
        Synced {
            mirror: Some(mirror),
            error,
        }
    }

    /// The mirror, freshly fetched, or the error. Call with the project's lock held.
    pub(crate) async fn fetched_mirror(&self, project: &Project) -> Result<Mirror, GitError> {
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
}

/// `sync_mirror` gives a mirror or an error; this keeps the match total without a panic.
fn unreachable_mirror(project: &Project) -> Result<Mirror, GitError> {
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
            return Err(match &self.error {
                Some(err) => format!("commit {sha} could not be fetched: {err}"),
                None => format!("commit {sha} could not be fetched"),
            });
        };
        match mirror.has_commit(sha).await {
            Ok(true) => Ok(mirror),
            Ok(false) => Err(match &self.error {
                Some(err) => format!("commit {sha} could not be fetched: {err}"),
                None => format!(
                    "commit {sha} is not in {}; it was never pushed there, or was removed",
                    mirror.shown_url()
                ),
            }),
            Err(err) => Err(err.to_string()),
        }
    }
}
