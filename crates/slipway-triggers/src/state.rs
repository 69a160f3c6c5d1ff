//! What triggers remember per project across restarts: the refs polling last saw and the last
//! cron tick. Kept in `MIRRORS/<project id>.triggers.json` beside the mirror, written to a
//! temporary file and renamed over the old one, so a crash leaves the old or the new state,
//! never half of one. Read and written with the project's lock held.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slipway_git::Refs;

use crate::TriggerError;

/// One project's trigger state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProjectState {
    /// The branches and tags the last polling pass (or webhook) saw; `None` before the first
    /// pass, which only records them.
    #[serde(default)]
    pub refs: Option<Refs>,
    /// The time of the last cron tick (ms since the epoch); `None` before the first.
    #[serde(default)]
    pub last_cron_ms: Option<u64>,
}

/// The state file of a project.
pub(crate) fn path(mirrors_dir: &Path, project_id: i64) -> PathBuf {
    mirrors_dir.join(format!("{project_id}.triggers.json"))
}

/// The saved state; the default when there is none. A file that cannot be parsed (written by
/// hand, or by another version) is logged and treated as absent: the next polling pass then
/// takes a new baseline rather than starting a run for every ref.
pub(crate) async fn load(
    mirrors_dir: &Path,
    project_id: i64,
) -> Result<ProjectState, TriggerError> {
    let path = path(mirrors_dir, project_id);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ProjectState::default());
        }
        Err(source) => return Err(TriggerError::State { path, source }),
    };
    match serde_json::from_slice(&bytes) {
        Ok(state) => Ok(state),
        Err(err) => {
            tracing::warn!(project_id, path = %path.display(), error = %err,
                "unreadable trigger state ignored; polling takes a new baseline");
            Ok(ProjectState::default())
        }
    }
}

/// Replaces the saved state atomically.
pub(crate) async fn save(
    mirrors_dir: &Path,
    project_id: i64,
    state: &ProjectState,
) -> Result<(), TriggerError> {
    let path = path(mirrors_dir, project_id);
    let temp = path.with_extension("json.tmp");
    let io = |source| TriggerError::State {
        path: path.clone(),
        source,
    };
    let bytes = serde_json::to_vec(state).map_err(|err| io(std::io::Error::other(err)))?;
    tokio::fs::create_dir_all(mirrors_dir).await.map_err(io)?;
    tokio::fs::write(&temp, &bytes).await.map_err(io)?;
    tokio::fs::rename(&temp, &path).await.map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn state_round_trips_and_garbage_reads_as_default() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), 3).await.unwrap(), ProjectState::default());
        let mut refs = Refs::default();
        refs.branches.insert("main".into(), "a".repeat(40));
        let state = ProjectState {
            refs: Some(refs),
            last_cron_ms: Some(60_000),
        };
        save(dir.path(), 3, &state).await.unwrap();
        assert_eq!(load(dir.path(), 3).await.unwrap(), state);
        std::fs::write(path(dir.path(), 3), b"{not json").unwrap();
        assert_eq!(load(dir.path(), 3).await.unwrap(), ProjectState::default());
    }
}
