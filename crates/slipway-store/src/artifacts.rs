//! Storing a job's artifact and putting it back in another workspace, with
//! the path rules that keep both inside the workspace.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use slipway_engine::ports::StoreError;
use slipway_engine::records::{ArtifactKind, ArtifactRecord};

use crate::blobs::Blobs;
use crate::fsutil::io_error;
use crate::paths::normalise_relative;
use crate::tree::{self, Links, ensure_dirs};

/// Stores `root/rel_path` (a file, or a directory with everything in it).
///
/// Refused with a message naming the artifact and the path: absolute paths,
/// `..`, a path that does not exist, and a path or symlink inside the
/// directory that resolves outside the workspace.
pub(crate) fn store(
    blobs: &dyn Blobs,
    root: &Path,
    name: &str,
    rel_path: &str,
) -> Result<ArtifactRecord, StoreError> {
    let rel = normalise_relative(name, rel_path)?;
    let root_canon = canonical_root(root)?;
    let full = root_canon.join(&rel);
    let link_meta = match std::fs::symlink_metadata(&full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError(format!(
                "artifact `{name}` not found at `{rel}`: did the job create it?"
            )));
        }
        Err(e) => return Err(io_error("inspect", &full, e)),
    };
    let resolved = std::fs::canonicalize(&full).map_err(|_| {
        let target = std::fs::read_link(&full).map(|t| t.display().to_string()).unwrap_or_default();
        StoreError(format!(
            "artifact `{name}`: `{rel}` is a symlink to `{target}`, which does not exist; did the job create it?"
        ))
    })?;
    if !resolved.starts_with(&root_canon) {
        let what = if link_meta.file_type().is_symlink() {
            "is a symlink to"
        } else {
            "resolves to"
        };
        return Err(StoreError(format!(
            "artifact `{name}`: `{rel}` {what} `{}`, outside the workspace `{}`; artifacts must stay inside it",
            resolved.display(),
            root_canon.display()
        )));
    }
    if resolved == root_canon {
        return Err(StoreError(format!(
            "artifact `{name}`: `{rel}` leads to the workspace root itself; name a file or directory inside it"
        )));
    }
    let meta = std::fs::metadata(&resolved).map_err(|e| io_error("inspect", &resolved, e))?;
    if meta.is_file() {
        let (digest, size) = blobs.put_file(&resolved)?;
        if meta.permissions().mode() & 0o111 != 0 {
            blobs.mark_executable(&digest)?;
        }
        Ok(ArtifactRecord {
            name: name.to_string(),
            path: rel,
            digest,
            size,
            kind: ArtifactKind::File,
        })
    } else if meta.is_dir() {
        let (digest, size) = tree::snapshot(
            blobs,
            &resolved,
            &rel,
            &Links::Contained {
                root: &root_canon,
                at: Path::new(&rel),
            },
        )?;
        Ok(ArtifactRecord {
            name: name.to_string(),
            path: rel,
            digest,
            size,
            kind: ArtifactKind::Directory,
        })
    } else {
        Err(StoreError(format!(
            "artifact `{name}`: `{rel}` is a special file (socket, fifo or device); only files and directories can be artifacts"
        )))
    }
}

/// Writes an artifact back at `root/<record.path>`, replacing what is there,
/// creating parent directories, and never writing outside `root`.
pub(crate) fn restore(
    blobs: &dyn Blobs,
    record: &ArtifactRecord,
    root: &Path,
) -> Result<(), StoreError> {
    let rel = normalise_relative(&record.name, &record.path)?;
    let root_canon = canonical_root(root)?;
    let rel = Path::new(&rel);
    match record.kind {
        ArtifactKind::Directory => tree::restore(blobs, &record.digest, &root_canon, rel, true),
        ArtifactKind::File => {
            let parent = ensure_dirs(&root_canon, rel.parent().unwrap_or(Path::new("")))?;
            let Some(file_name) = rel.file_name() else {
                return Err(StoreError(format!(
                    "artifact `{}` has no file name in `{}`",
                    record.name, record.path
                )));
            };
            let mode = if blobs.is_executable(&record.digest)? {
                0o755
            } else {
                0o644
            };
            tree::restore_file(
                blobs,
                &record.digest,
                record.size,
                &parent.join(file_name),
                mode,
            )
        }
    }
}

fn canonical_root(root: &Path) -> Result<std::path::PathBuf, StoreError> {
    std::fs::canonicalize(root).map_err(|e| io_error("open workspace", root, e))
}
