//! Directory caches (`cache: {key, paths}`): dependency folders saved under
//! a key after a job and put back before the next one.
//!
//! A saved cache is a small JSON record naming, for each path as the
//! pipeline wrote it, the tree manifest of its content (see [`crate::tree`]).

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use slipway_engine::ports::StoreError;
use slipway_engine::records::Digest;

use crate::blobs::Blobs;
use crate::fsutil::io_error;
use crate::paths::expand_cache_path;
use crate::tree::{self, Links};

#[derive(Debug, Serialize, Deserialize)]
struct DirCacheRecord {
    key: String,
    paths: Vec<CachedPath>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedPath {
    /// The path as written in the pipeline (`node_modules`, `~/.cargo/registry`).
    path: String,
    tree: Digest,
}

/// Stores the content of each existing directory of `paths` and returns the
/// encoded record for the backend to publish under `key`. Paths that do not
/// exist are left out; when none exists there is nothing to save (`None`),
/// so that a later job that does create them can still fill the cache.
pub(crate) fn snapshot(
    blobs: &dyn Blobs,
    key: &str,
    paths: &[String],
    root: &Path,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut saved = Vec::with_capacity(paths.len());
    for path in paths {
        let dir = expand_cache_path(path, root)?;
        match std::fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(StoreError(format!(
                    "cache `{key}`: `{path}` is not a directory; cache paths name directories"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("inspect", &dir, e)),
        }
        let (tree, _) = tree::snapshot(blobs, &dir, path, &Links::Literal)?;
        saved.push(CachedPath {
            path: path.clone(),
            tree,
        });
    }
    if saved.is_empty() {
        return Ok(None);
    }
    let record = DirCacheRecord {
        key: key.to_string(),
        paths: saved,
    };
    serde_json::to_vec(&record)
        .map(Some)
        .map_err(|e| StoreError(format!("cannot encode cache `{key}`: {e}")))
}

/// Restores the directories of a record made by [`snapshot`] that `paths`
/// still names. Existing files are replaced; files the cache does not
/// contain are left in place.
pub(crate) fn restore(
    blobs: &dyn Blobs,
    record: &[u8],
    key: &str,
    paths: &[String],
    root: &Path,
) -> Result<(), StoreError> {
    let record: DirCacheRecord = serde_json::from_slice(record).map_err(|e| {
        StoreError(format!(
            "saved cache `{key}` is damaged ({e}); remove the store's cache and run again"
        ))
    })?;
    for path in paths {
        let Some(saved) = record.paths.iter().find(|p| p.path == *path) else {
            continue;
        };
        let dir = expand_cache_path(path, root)?;
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, e))?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| io_error("open", &dir, e))?;
        tree::restore(blobs, &saved.tree, &dir, Path::new(""), false)?;
    }
    Ok(())
}
