//! Content-addressed blobs: bytes named by their BLAKE3 digest.
//!
//! Both backends give the same digest for the same bytes, so an artifact's
//! digest does not depend on where it was stored.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use slipway_engine::ports::StoreError;
use slipway_engine::records::Digest;

use crate::fsutil::{create_new, io_error, open_no_follow, temp_name};

/// Where blobs live. Implemented by the directory and the memory backends;
/// artifacts and directory caches are built on top of it.
pub(crate) trait Blobs {
    /// Stores the regular file at `path` (not following a symlink there)
    /// and returns its digest and size.
    fn put_file(&self, path: &Path) -> Result<(Digest, u64), StoreError>;
    /// Stores `bytes` and returns their digest.
    fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError>;
    /// Reads a (small) blob whole, checking it against its digest.
    fn read_bytes(&self, digest: &Digest) -> Result<Vec<u8>, StoreError>;
    /// Writes a blob to the new file `dest` (which must not exist) with the
    /// permission bits `mode`, checking its content against the digest.
    fn write_to(&self, digest: &Digest, dest: &Path, mode: u32) -> Result<(), StoreError>;
    /// Remembers that a file artifact with this content was executable.
    /// [`slipway_engine::records::ArtifactRecord`] has no mode field, so the
    /// bit is kept beside the blob.
    fn mark_executable(&self, digest: &Digest) -> Result<(), StoreError>;
    /// Whether [`Blobs::mark_executable`] was called for this content.
    fn is_executable(&self, digest: &Digest) -> Result<bool, StoreError>;
}

/// Copy buffer size: large enough that a 1 GiB file is a few thousand reads.
const CHUNK: usize = 64 * 1024;

/// Reads `reader` to its end, hashing it and copying it to `sink` if given.
fn hash_copy(
    reader: &mut impl Read,
    mut sink: Option<&mut dyn Write>,
) -> io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = [0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        if let Some(sink) = sink.as_mut() {
            sink.write_all(chunk)?;
        }
        total += n as u64;
    }
    Ok((hasher.finalize(), total))
}

/// Checks that a digest is 64 lower-case hex characters (it becomes a file
/// name, so a damaged record must not be able to name `../x`).
fn checked_hex(digest: &Digest) -> Result<&str, StoreError> {
    let hex = digest.0.as_str();
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(hex)
    } else {
        Err(StoreError(format!(
            "`{hex}` is not a BLAKE3 digest (64 lower-case hex characters)"
        )))
    }
}

fn corrupt(digest: &Digest) -> StoreError {
    StoreError(format!(
        "stored object {digest} does not match its digest: the store is damaged; remove it and run again"
    ))
}

/// Blobs as files `objects/<first 2 hex>/<other 62 hex>`.
///
/// Invariant: an object file is complete and matches its name. It is
/// written under `tmp/` and renamed into place; an existing object is never
/// rewritten.
pub(crate) struct FileBlobs {
    objects: PathBuf,
    tmp: PathBuf,
}

impl FileBlobs {
    pub(crate) fn new(objects: PathBuf, tmp: PathBuf) -> FileBlobs {
        FileBlobs { objects, tmp }
    }

    fn object_path(&self, digest: &Digest) -> Result<PathBuf, StoreError> {
        let hex = checked_hex(digest)?;
        let (dir, rest) = hex.split_at(2);
        Ok(self.objects.join(dir).join(rest))
    }

    /// `<object>.x`: an empty file saying the content was stored as an
    /// executable file artifact.
    fn marker_path(&self, digest: &Digest) -> Result<PathBuf, StoreError> {
        let mut path = self.object_path(digest)?.into_os_string();
        path.push(".x");
        Ok(PathBuf::from(path))
    }

    fn exists(&self, object: &Path) -> bool {
        std::fs::symlink_metadata(object).is_ok()
    }

    /// Renames a complete temporary file to its object name.
    fn publish(&self, tmp: &Path, object: &Path) -> Result<(), StoreError> {
        let mut result = std::fs::rename(tmp, object);
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::NotFound
            && let Some(dir) = object.parent()
        {
            // First object with this prefix: create its directory.
            match std::fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    let _ = std::fs::remove_file(tmp);
                    return Err(io_error("create", dir, e));
                }
            }
            result = std::fs::rename(tmp, object);
        }
        result.map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            io_error("store object", object, e)
        })
    }

    fn temp_file(&self) -> Result<(PathBuf, std::fs::File), StoreError> {
        let path = self.tmp.join(temp_name("object"));
        let file = create_new(&path, 0o444).map_err(|e| io_error("create", &path, e))?;
        Ok((path, file))
    }
}

impl Blobs for FileBlobs {
    fn put_file(&self, path: &Path) -> Result<(Digest, u64), StoreError> {
        let mut file = open_no_follow(path).map_err(|e| io_error("read", path, e))?;
        // Hash first: when the object exists (a rebuild of the same bytes)
        // nothing is written at all.
        let (hash, size) = hash_copy(&mut file, None).map_err(|e| io_error("read", path, e))?;
        let digest = Digest::from_hash(hash);
        let object = self.object_path(&digest)?;
        if self.exists(&object) {
            return Ok((digest, size));
        }
        file.rewind().map_err(|e| io_error("read", path, e))?;
        let (tmp, mut out) = self.temp_file()?;
        let mut writer = io::BufWriter::with_capacity(CHUNK, &mut out);
        let copied =
            hash_copy(&mut file, Some(&mut writer)).and_then(|r| writer.flush().map(|()| r));
        drop(writer);
        let (copy_hash, copy_size) = match copied {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(io_error("store", path, e));
            }
        };
        if copy_hash != hash {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError(format!(
                "`{}` changed while it was being stored; make sure no process still writes it",
                path.display()
            )));
        }
        self.publish(&tmp, &object)?;
        Ok((digest, copy_size))
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let object = self.object_path(&digest)?;
        if !self.exists(&object) {
            let (tmp, mut out) = self.temp_file()?;
            if let Err(e) = out.write_all(bytes) {
                let _ = std::fs::remove_file(&tmp);
                return Err(io_error("write", &tmp, e));
            }
            self.publish(&tmp, &object)?;
        }
        Ok(digest)
    }

    fn read_bytes(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let object = self.object_path(digest)?;
        let bytes = std::fs::read(&object).map_err(|e| missing_or(digest, &object, e))?;
        if Digest::of(&bytes) != *digest {
            return Err(corrupt(digest));
        }
        Ok(bytes)
    }

    fn write_to(&self, digest: &Digest, dest: &Path, mode: u32) -> Result<(), StoreError> {
        let object = self.object_path(digest)?;
        let mut input = std::fs::File::open(&object).map_err(|e| missing_or(digest, &object, e))?;
        let mut out = create_new(dest, mode).map_err(|e| io_error("create", dest, e))?;
        let mut writer = io::BufWriter::with_capacity(CHUNK, &mut out);
        let copied =
            hash_copy(&mut input, Some(&mut writer)).and_then(|r| writer.flush().map(|()| r));
        drop(writer);
        match copied {
            Ok((hash, _)) if Digest::from_hash(hash) == *digest => Ok(()),
            Ok(_) => {
                let _ = std::fs::remove_file(dest);
                Err(corrupt(digest))
            }
            Err(e) => {
                let _ = std::fs::remove_file(dest);
                Err(io_error("write", dest, e))
            }
        }
    }

    fn mark_executable(&self, digest: &Digest) -> Result<(), StoreError> {
        let marker = self.marker_path(digest)?;
        if self.exists(&marker) {
            return Ok(());
        }
        match create_new(&marker, 0o444) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_error("create", &marker, e)),
        }
    }

    fn is_executable(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.exists(&self.marker_path(digest)?))
    }
}

fn missing_or(digest: &Digest, object: &Path, err: io::Error) -> StoreError {
    if err.kind() == io::ErrorKind::NotFound {
        StoreError(format!("stored object {digest} is missing from the store"))
    } else {
        io_error("read", object, err)
    }
}

/// Blobs in memory, for `--no-store`.
#[derive(Default)]
pub(crate) struct MemoryBlobs {
    map: RwLock<HashMap<Digest, Arc<[u8]>>>,
    executable: RwLock<HashSet<Digest>>,
}

impl MemoryBlobs {
    fn get(&self, digest: &Digest) -> Result<Arc<[u8]>, StoreError> {
        let map = self.map.read().map_err(|_| poisoned())?;
        map.get(digest)
            .cloned()
            .ok_or_else(|| StoreError(format!("stored object {digest} is missing from the store")))
    }

    fn insert(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        let mut map = self.map.write().map_err(|_| poisoned())?;
        if !map.contains_key(digest) {
            map.insert(digest.clone(), Arc::from(bytes));
        }
        Ok(())
    }
}

pub(crate) fn poisoned() -> StoreError {
    StoreError("the store's state is unusable after a panic in another thread".to_string())
}

impl Blobs for MemoryBlobs {
    fn put_file(&self, path: &Path) -> Result<(Digest, u64), StoreError> {
        let mut file = open_no_follow(path).map_err(|e| io_error("read", path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error("read", path, e))?;
        let digest = Digest::of(&bytes);
        self.insert(&digest, &bytes)?;
        Ok((digest, bytes.len() as u64))
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        self.insert(&digest, bytes)?;
        Ok(digest)
    }

    fn read_bytes(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        Ok(self.get(digest)?.to_vec())
    }

    fn write_to(&self, digest: &Digest, dest: &Path, mode: u32) -> Result<(), StoreError> {
        let bytes = self.get(digest)?;
        let mut out = create_new(dest, mode).map_err(|e| io_error("create", dest, e))?;
        out.write_all(&bytes).map_err(|e| {
            let _ = std::fs::remove_file(dest);
            io_error("write", dest, e)
        })
    }

    fn mark_executable(&self, digest: &Digest) -> Result<(), StoreError> {
        let mut set = self.executable.write().map_err(|_| poisoned())?;
        set.insert(digest.clone());
        Ok(())
    }

    fn is_executable(&self, digest: &Digest) -> Result<bool, StoreError> {
        let set = self.executable.read().map_err(|_| poisoned())?;
        Ok(set.contains(digest))
    }
}
