//! Directory snapshots: a directory becomes a JSON manifest blob listing
//! every entry, whose digest names the whole directory.
//!
//! The manifest is `{"format":"slipway-tree/1","entries":[…]}` with entries
//! sorted by path (byte order, `/`-separated, relative to the directory):
//!
//! ```json
//! {"path":"bin","kind":"dir","mode":493,"size":0}
//! {"path":"bin/app","kind":"file","mode":493,"size":1024,"digest":"<blake3>"}
//! {"path":"lib","kind":"symlink","mode":511,"size":0,"target":"bin"}
//! ```
//!
//! Modes are normalised (files 0o755 when any executable bit is set, else
//! 0o644; directories 0o755; links 0o777) so the same tree checked out under
//! different umasks has the same digest. Every directory is listed, so a
//! restore creates each parent from an entry it has already checked.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slipway_engine::ports::StoreError;
use slipway_engine::records::Digest;

use crate::blobs::Blobs;
use crate::fsutil::{io_error, remove_any};
use crate::paths::{is_plain_relative, relative_between, resolve_lexically};

const FORMAT: &str = "slipway-tree/1";

#[derive(Debug, Serialize, Deserialize)]
struct Tree {
    format: String,
    entries: Vec<TreeEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TreeEntry {
    path: String,
    kind: EntryKind,
    mode: u32,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// What to do with symlinks met inside a directory.
pub(crate) enum Links<'a> {
    /// Artifacts: a link must resolve (canonically) inside `root`, which is
    /// canonical; it is stored as a relative link that is right when the
    /// directory is restored at `at` (relative to `root`).
    Contained { root: &'a Path, at: &'a Path },
    /// Directory caches: links are stored as written. Restoring one only
    /// creates the link; nothing is ever written through it.
    Literal,
}

/// Normalised permission bits of a regular file.
pub(crate) fn file_mode(raw: u32) -> u32 {
    if raw & 0o111 != 0 { 0o755 } else { 0o644 }
}

/// Stores every entry under the directory `dir` (canonical when `links` is
/// `Contained`) and returns the manifest's digest and the total size of its
/// files. `shown` names the directory in messages.
pub(crate) fn snapshot(
    blobs: &dyn Blobs,
    dir: &Path,
    shown: &str,
    links: &Links<'_>,
) -> Result<(Digest, u64), StoreError> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    let mut pending: Vec<String> = vec![String::new()];
    while let Some(rel_dir) = pending.pop() {
        let abs_dir = dir.join(&rel_dir);
        let listing =
            std::fs::read_dir(&abs_dir).map_err(|e| io_error("read directory", &abs_dir, e))?;
        for item in listing {
            let item = item.map_err(|e| io_error("read directory", &abs_dir, e))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else {
                return Err(StoreError(format!(
                    "`{shown}/{rel_dir}` contains a file name that is not UTF-8 ({}); rename it",
                    name.to_string_lossy()
                )));
            };
            let rel = if rel_dir.is_empty() {
                name.to_string()
            } else {
                format!("{rel_dir}/{name}")
            };
            let abs = item.path();
            let meta = std::fs::symlink_metadata(&abs).map_err(|e| io_error("inspect", &abs, e))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                entries.push(TreeEntry {
                    path: rel.clone(),
                    kind: EntryKind::Dir,
                    mode: 0o755,
                    size: 0,
                    digest: None,
                    target: None,
                });
                pending.push(rel);
            } else if kind.is_file() {
                let (digest, size) = blobs.put_file(&abs)?;
                total += size;
                let mode = file_mode(meta.permissions().mode());
                entries.push(TreeEntry {
                    path: rel,
                    kind: EntryKind::File,
                    mode,
                    size,
                    digest: Some(digest),
                    target: None,
                });
            } else if kind.is_symlink() {
                let target = link_target(&rel, &abs, shown, links)?;
                entries.push(TreeEntry {
                    path: rel,
                    kind: EntryKind::Symlink,
                    mode: 0o777,
                    size: 0,
                    digest: None,
                    target: Some(target),
                });
            } else {
                return Err(StoreError(format!(
                    "`{shown}/{rel}` is a special file (socket, fifo or device); only files, directories and symlinks can be stored"
                )));
            }
        }
    }
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let tree = Tree {
        format: FORMAT.to_string(),
        entries,
    };
    let bytes = serde_json::to_vec(&tree)
        .map_err(|e| StoreError(format!("cannot encode manifest of `{shown}`: {e}")))?;
    Ok((blobs.put_bytes(&bytes)?, total))
}

/// The target to record for the link at `dir/rel`, checked against `links`.
fn link_target(
    rel: &str,
    abs: &Path,
    shown: &str,
    links: &Links<'_>,
) -> Result<String, StoreError> {
    let target = std::fs::read_link(abs).map_err(|e| io_error("read symlink", abs, e))?;
    let Links::Contained { root, at } = links else {
        return target.into_os_string().into_string().map_err(|t| {
            StoreError(format!(
                "symlink `{shown}/{rel}` has a target that is not UTF-8 ({})",
                t.to_string_lossy()
            ))
        });
    };
    let resolved = std::fs::canonicalize(abs).map_err(|_| {
        StoreError(format!(
            "symlink `{shown}/{rel}` points to `{}`, which does not exist; remove the link or create its target",
            target.display()
        ))
    })?;
    if !resolved.starts_with(root) {
        return Err(StoreError(format!(
            "symlink `{shown}/{rel}` points to `{}`, outside the workspace `{}`; artifacts may only link inside it",
            target.display(),
            root.display()
        )));
    }
    // Where the link will sit after a restore, relative to the root: the
    // artifact is restored at its own path (`at`), which differs from `dir`
    // when that path was itself a symlink.
    let link_dir = at.join(rel);
    let link_dir = link_dir.parent().unwrap_or(at);
    let literal_still_right = target.is_relative()
        && resolve_lexically(link_dir, &target)
            .and_then(|lexical| std::fs::canonicalize(root.join(lexical)).ok())
            .is_some_and(|lexical| lexical == resolved);
    let stored = if literal_still_right {
        target
    } else {
        relative_between(&root.join(link_dir), &resolved)
    };
    stored.into_os_string().into_string().map_err(|t| {
        StoreError(format!(
            "symlink `{shown}/{rel}` has a target that is not UTF-8 ({})",
            t.to_string_lossy()
        ))
    })
}

/// Writes the tree `digest` into `contain/dest_rel`. `contain` is canonical
/// and nothing is written outside it. With `check_links`, a link whose
/// target would leave `contain` is refused.
pub(crate) fn restore(
    blobs: &dyn Blobs,
    digest: &Digest,
    contain: &Path,
    dest_rel: &Path,
    check_links: bool,
) -> Result<(), StoreError> {
    let bytes = blobs.read_bytes(digest)?;
    let tree: Tree = serde_json::from_slice(&bytes).map_err(|e| damaged(digest, &e.to_string()))?;
    if tree.format != FORMAT {
        return Err(damaged(
            digest,
            &format!("unknown format `{}`", tree.format),
        ));
    }
    let dest = ensure_dirs(contain, dest_rel)?;
    let mut dirs: HashSet<&str> = HashSet::from([""]);
    let mut previous: Option<&str> = None;
    for entry in &tree.entries {
        let path = entry.path.as_str();
        if !is_plain_relative(path) || previous.is_some_and(|p| p >= path) {
            return Err(damaged(digest, &format!("bad or unsorted entry `{path}`")));
        }
        previous = Some(path);
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        if !dirs.contains(parent) {
            return Err(damaged(
                digest,
                &format!("entry `{path}` comes before its directory"),
            ));
        }
        let full = dest.join(path);
        match entry.kind {
            EntryKind::Dir => {
                match std::fs::symlink_metadata(&full) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => {
                        remove_any(&full)?;
                        create_dir(&full)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir(&full)?,
                    Err(e) => return Err(io_error("inspect", &full, e)),
                }
                dirs.insert(path);
            }
            EntryKind::File => {
                let Some(blob) = &entry.digest else {
                    return Err(damaged(digest, &format!("file `{path}` has no digest")));
                };
                restore_file(blobs, blob, entry.size, &full, file_mode(entry.mode))?;
            }
            EntryKind::Symlink => {
                let Some(target) = &entry.target else {
                    return Err(damaged(digest, &format!("symlink `{path}` has no target")));
                };
                if check_links {
                    let link_dir = dest_rel.join(parent);
                    if resolve_lexically(&link_dir, Path::new(target)).is_none() {
                        return Err(StoreError(format!(
                            "refusing to restore symlink `{}` to `{target}`: it would point outside `{}`",
                            full.display(),
                            contain.display()
                        )));
                    }
                }
                remove_any(&full)?;
                std::os::unix::fs::symlink(target, &full)
                    .map_err(|e| io_error("create symlink", &full, e))?;
            }
        }
    }
    Ok(())
}

/// Puts the blob `digest` at `dest` with permission bits `mode`, replacing
/// whatever is there. A regular file that already holds exactly these bytes
/// is left alone (only its mode is corrected), which keeps its modification
/// time for tools that compare them and saves rewriting large artifacts in
/// the directory the user works in.
pub(crate) fn restore_file(
    blobs: &dyn Blobs,
    digest: &Digest,
    size: u64,
    dest: &Path,
    mode: u32,
) -> Result<(), StoreError> {
    if let Ok(meta) = std::fs::symlink_metadata(dest)
        && meta.is_file()
        && meta.len() == size
        && hash_of_file(dest).is_some_and(|existing| existing == *digest)
    {
        if meta.permissions().mode() & 0o777 != mode {
            std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io_error("set mode of", dest, e))?;
        }
        return Ok(());
    }
    remove_any(dest)?;
    blobs.write_to(digest, dest, mode)
}

/// BLAKE3 of a regular file, or `None` if it cannot be read.
fn hash_of_file(path: &Path) -> Option<Digest> {
    let file = crate::fsutil::open_no_follow(path).ok()?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).ok()?;
    Some(Digest::from_hash(hasher.finalize()))
}

fn create_dir(path: &Path) -> Result<(), StoreError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(io_error("create directory", path, e)),
    }
}

fn damaged(digest: &Digest, why: &str) -> StoreError {
    StoreError(format!(
        "stored directory manifest {digest} is damaged ({why}); remove the store and run again"
    ))
}

/// Creates the directories `contain/rel` one component at a time and
/// returns the path. An existing symlink on the way is accepted only when
/// it resolves inside `contain` (canonical), so nothing is created or
/// written outside it.
pub(crate) fn ensure_dirs(contain: &Path, rel: &Path) -> Result<PathBuf, StoreError> {
    let mut current = contain.to_path_buf();
    for component in rel.components() {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = std::fs::canonicalize(&current).ok();
                let inside = resolved
                    .as_deref()
                    .is_some_and(|r| r.starts_with(contain) && r.is_dir());
                if !inside {
                    return Err(StoreError(format!(
                        "refusing to write through `{}`: it is a symlink that does not lead to a directory inside `{}`",
                        current.display(),
                        contain.display()
                    )));
                }
            }
            Ok(_) => {
                return Err(StoreError(format!(
                    "cannot restore into `{}`: it exists and is not a directory; remove it",
                    current.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir(&current)?,
            Err(e) => return Err(io_error("inspect", &current, e)),
        }
    }
    Ok(current)
}
