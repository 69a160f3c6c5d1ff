//! Small file-system helpers shared by the stores: error phrasing, temporary
//! names and atomic publication of a file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use slipway_engine::ports::StoreError;

/// `cannot <action> `<path>`: <cause>`.
pub(crate) fn io_error(action: &str, path: &Path, err: io::Error) -> StoreError {
    StoreError(format!("cannot {action} `{}`: {err}", path.display()))
}

/// A file name unique to this process and call, for temporaries that are
/// renamed into place.
pub(crate) fn temp_name(hint: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{hint}.{}.{n}.tmp", std::process::id())
}

/// Creates a new file that must not exist yet, without following a symlink
/// in its place, with the given permission bits (less the umask).
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// Opens a file for reading, refusing to follow a symlink at its last
/// component (the caller has already classified it as a regular file).
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Writes `bytes` to a temporary file in `tmp_dir` and renames it to `dest`,
/// so a reader sees the old content or the new one, never a mix.
pub(crate) fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = write_temp(tmp_dir, bytes)?;
    std::fs::rename(&tmp, dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("write", dest, e)
    })
}

/// Like [`write_atomic`] but leaves an existing `dest` alone: the first
/// writer wins. Returns whether this call created `dest`.
pub(crate) fn write_if_absent(
    tmp_dir: &Path,
    dest: &Path,
    bytes: &[u8],
) -> Result<bool, StoreError> {
    let tmp = write_temp(tmp_dir, bytes)?;
    // A hard link fails when the name exists, which makes "create unless
    // present" atomic; rename would silently replace.
    let result = match std::fs::hard_link(&tmp, dest) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_error("write", dest, e)),
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

fn write_temp(tmp_dir: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let tmp = tmp_dir.join(temp_name("write"));
    let mut file = create_new(&tmp, 0o644).map_err(|e| io_error("create", &tmp, e))?;
    if let Err(e) = file.write_all(bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error("write", &tmp, e));
    }
    Ok(tmp)
}

/// Reads a small file; `Ok(None)` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// Removes whatever sits at `path` (file, symlink or whole directory);
/// nothing there is fine.
pub(crate) fn remove_any(path: &Path) -> Result<(), StoreError> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|e| io_error("remove", path, e))
}
