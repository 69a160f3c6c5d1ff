//! Moving content-addressed objects between stores: what agents download
//! before a job (the artifacts of the jobs it needs) and upload after it
//! (the artifacts it made), one object at a time, by digest.
//!
//! An artifact is a set of objects: a file artifact is its blob; a directory
//! artifact is its manifest blob and the blob of every file in it. The
//! executable bit of a file artifact is not part of its content (the
//! [`FileStore`] keeps it as a marker beside the blob), so it travels as an
//! object of its own: the **executable marker** of content `D` is the blob
//! whose bytes are `slipway-executable/1 D` ([`executable_marker`]).
//! Importing that blob marks `D` executable; a receiver that does not find
//! the marker object knows the file was not executable.
//!
//! Invariant: an imported object is published only after its bytes were
//! checked against its digest (written to `tmp/`, hashed, then renamed into
//! place), so a damaged or malicious transfer never enters the store.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use serde::Deserialize;
use slipway_engine::ports::StoreError;
use slipway_engine::records::{ArtifactKind, ArtifactRecord, Digest};

use crate::FileStore;
use crate::blobs::{Blobs, FileBlobs};
use crate::fsutil::{create_new, io_error, temp_name};

/// What the bytes of an executable marker start with.
const MARKER_PREFIX: &str = "slipway-executable/1 ";

/// Copy buffer size of an import.
const CHUNK: usize = 64 * 1024;

/// The bytes of the executable marker of the file content `digest`.
fn marker_bytes(digest: &Digest) -> String {
    format!("{MARKER_PREFIX}{digest}")
}

/// The digest of the object saying that file content `digest` is executable.
pub fn executable_marker(digest: &Digest) -> Digest {
    Digest::of(marker_bytes(digest).as_bytes())
}

/// The file entries of a directory manifest (format in `src/tree.rs`); other
/// fields are not needed to list the objects.
#[derive(Deserialize)]
struct ManifestFiles {
    entries: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(default)]
    digest: Option<Digest>,
}

/// Checks that a digest is 64 lower-case hex characters: it becomes a file
/// name, so a digest from the network must not be able to name `../x`.
fn checked_hex(digest: &Digest) -> Result<&str, StoreError> {
    let hex = digest.0.as_str();
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(hex)
    } else {
        Err(StoreError(format!(
            "`{}` is not a BLAKE3 digest (64 lower-case hex characters)",
            hex.escape_debug()
        )))
    }
}

impl FileStore {
    fn object_blobs(&self) -> FileBlobs {
        FileBlobs::new(self.dir().join("objects"), self.dir().join("tmp"))
    }

    fn object_file(&self, digest: &Digest) -> Result<PathBuf, StoreError> {
        let hex = checked_hex(digest)?;
        let (dir, rest) = hex.split_at(2);
        Ok(self.dir().join("objects").join(dir).join(rest))
    }

    /// Every object the artifact consists of, without duplicates: the blob
    /// of a file (and its executable marker if the file was executable), or
    /// the manifest of a directory and the blob of each file in it. The
    /// artifact's own object (blob or manifest) must be in this store.
    pub fn artifact_objects(&self, record: &ArtifactRecord) -> Result<Vec<Digest>, StoreError> {
        let blobs = self.object_blobs();
        match record.kind {
            ArtifactKind::File => {
                checked_hex(&record.digest)?;
                let mut objects = vec![record.digest.clone()];
                if blobs.is_executable(&record.digest)? {
                    // Made on demand: stores written before markers were
                    // objects only have the `.x` file.
                    let marker = blobs.put_bytes(marker_bytes(&record.digest).as_bytes())?;
                    objects.push(marker);
                }
                Ok(objects)
            }
            ArtifactKind::Directory => {
                let manifest = blobs.read_bytes(&record.digest)?;
                let files: ManifestFiles = serde_json::from_slice(&manifest).map_err(|e| {
                    StoreError(format!(
                        "stored directory manifest {} of artifact `{}` is damaged ({e})",
                        record.digest, record.name
                    ))
                })?;
                let mut seen = BTreeSet::new();
                let mut objects = vec![record.digest.clone()];
                for digest in files.entries.into_iter().filter_map(|e| e.digest) {
                    checked_hex(&digest)?;
                    if digest != record.digest && seen.insert(digest.clone()) {
                        objects.push(digest);
                    }
                }
                Ok(objects)
            }
        }
    }

    /// Whether the object `digest` is in this store.
    pub fn has_object(&self, digest: &Digest) -> Result<bool, StoreError> {
        let path = self.object_file(digest)?;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("inspect", &path, e)),
        }
    }

    /// Opens the object `digest` for reading (its bytes are what the digest
    /// names: objects are checked when they enter the store).
    pub fn open_object(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.object_file(digest)?;
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError(format!("object {digest} is not in the store"))
            } else {
                io_error("read", &path, e)
            }
        })
    }

    /// Stores the bytes read from `reader` as the object `digest`, after
    /// checking that they are what the digest names; returns their size. An
    /// object already present is kept and `reader` is not read. Importing an
    /// [`executable_marker`] also marks its file content executable.
    pub fn import_object(&self, digest: &Digest, mut reader: impl Read) -> Result<u64, StoreError> {
        let object = self.object_file(digest)?;
        if let Ok(meta) = std::fs::metadata(&object) {
            return Ok(meta.len());
        }
        let tmp_dir = self.dir().join("tmp");
        let tmp = tmp_dir.join(temp_name("import"));
        let mut out = create_new(&tmp, 0o444).map_err(|e| io_error("create", &tmp, e))?;
        // Small objects are kept in memory too, to recognise a marker.
        let mut head = Vec::new();
        let copied = copy_hashing(&mut reader, &mut out, &mut head);
        drop(out);
        let (hash, size) = match copied {
            Ok(done) => done,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(StoreError(format!("cannot import object {digest}: {e}")));
            }
        };
        let got = Digest::from_hash(hash);
        if got != *digest {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError(format!(
                "object {digest} was refused: its bytes have the digest {got} (damaged in transfer?)"
            )));
        }
        publish(&tmp, &object)?;
        if let Some(named) = std::str::from_utf8(&head)
            .ok()
            .and_then(|text| text.strip_prefix(MARKER_PREFIX))
        {
            let named = Digest(named.to_string());
            if checked_hex(&named).is_ok() {
                self.object_blobs().mark_executable(&named)?;
            }
        }
        Ok(size)
    }
}

/// Copies `reader` into `out`, hashing; the first bytes (up to the size of a
/// marker) also go to `head`, and `head` is cleared when there are more.
fn copy_hashing(
    reader: &mut impl Read,
    out: &mut File,
    head: &mut Vec<u8>,
) -> io::Result<(blake3::Hash, u64)> {
    let head_limit = MARKER_PREFIX.len() + 64;
    let mut hasher = blake3::Hasher::new();
    let mut writer = BufWriter::with_capacity(CHUNK, out);
    let mut buf = vec![0u8; CHUNK];
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
        writer.write_all(chunk)?;
        total += n as u64;
        if total <= head_limit as u64 {
            head.extend_from_slice(chunk);
        } else {
            head.clear();
        }
    }
    writer.flush()?;
    Ok((hasher.finalize(), total))
}

/// Renames a checked temporary file to its object name, creating the
/// prefix directory if needed. Another writer having published the same
/// object first is fine: it has the same bytes.
fn publish(tmp: &std::path::Path, object: &std::path::Path) -> Result<(), StoreError> {
    if let Some(dir) = object.parent() {
        match std::fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                return Err(io_error("create", dir, e));
            }
        }
    }
    std::fs::rename(tmp, object).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        io_error("store object", object, e)
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use slipway_engine::ports::Store;

    use super::*;

    fn stores() -> (tempfile::TempDir, FileStore, FileStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let a = FileStore::open(&dir.path().join("a")).unwrap_or_else(|e| panic!("{e}"));
        let b = FileStore::open(&dir.path().join("b")).unwrap_or_else(|e| panic!("{e}"));
        (dir, a, b)
    }

    /// Copies every object of `record` from `from` to `to`, as an agent does
    /// over HTTP: the root object first (a manifest lists the rest), and a
    /// file's marker only if the sender has it.
    fn transfer(from: &FileStore, to: &FileStore, record: &ArtifactRecord) {
        for digest in from
            .artifact_objects(record)
            .unwrap_or_else(|e| panic!("{e}"))
        {
            let file = from.open_object(&digest).unwrap_or_else(|e| panic!("{e}"));
            to.import_object(&digest, file)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn a_file_artifact_travels_with_its_executable_bit() {
        let (dir, a, b) = stores();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("dist")).unwrap_or_else(|e| panic!("{e}"));
        let app = ws.join("dist/app");
        std::fs::write(&app, b"#!/bin/sh\necho hi\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        let record = a
            .store_artifact(&ws, "app", "dist/app")
            .unwrap_or_else(|e| panic!("{e}"));
        let objects = a
            .artifact_objects(&record)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            objects,
            vec![record.digest.clone(), executable_marker(&record.digest)]
        );
        assert!(
            !b.has_object(&record.digest)
                .unwrap_or_else(|e| panic!("{e}"))
        );
        transfer(&a, &b, &record);
        assert!(
            b.has_object(&record.digest)
                .unwrap_or_else(|e| panic!("{e}"))
        );

        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap_or_else(|e| panic!("{e}"));
        b.restore_artifact(&record, &other)
            .unwrap_or_else(|e| panic!("{e}"));
        let restored = other.join("dist/app");
        let mode = std::fs::metadata(&restored)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read(&restored).unwrap_or_else(|e| panic!("{e}")),
            b"#!/bin/sh\necho hi\n"
        );
    }

    #[test]
    fn a_plain_file_has_no_marker() {
        let (dir, a, _) = stores();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(ws.join("notes.txt"), b"plain").unwrap_or_else(|e| panic!("{e}"));
        let record = a
            .store_artifact(&ws, "notes", "notes.txt")
            .unwrap_or_else(|e| panic!("{e}"));
        let objects = a
            .artifact_objects(&record)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(objects, vec![record.digest.clone()]);
    }

    #[test]
    fn a_directory_artifact_lists_its_manifest_and_distinct_blobs() {
        let (dir, a, b) = stores();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("out/sub")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(ws.join("out/one"), b"same").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(ws.join("out/sub/two"), b"same").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(ws.join("out/sub/three"), b"other").unwrap_or_else(|e| panic!("{e}"));
        let record = a
            .store_artifact(&ws, "out", "out")
            .unwrap_or_else(|e| panic!("{e}"));
        let objects = a
            .artifact_objects(&record)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            objects.len(),
            3,
            "manifest + two distinct blobs: {objects:?}"
        );
        assert_eq!(objects.first(), Some(&record.digest));

        // Without the manifest the receiver cannot list the members yet.
        assert!(b.artifact_objects(&record).is_err());
        transfer(&a, &b, &record);
        assert_eq!(
            b.artifact_objects(&record)
                .unwrap_or_else(|e| panic!("{e}")),
            objects
        );
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap_or_else(|e| panic!("{e}"));
        b.restore_artifact(&record, &other)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read(other.join("out/sub/three")).unwrap_or_else(|e| panic!("{e}")),
            b"other"
        );
    }

    #[test]
    fn import_refuses_bytes_that_do_not_match() {
        let (_dir, a, _) = stores();
        let claimed = Digest::of(b"expected");
        let error = a
            .import_object(&claimed, &b"something else"[..])
            .expect_err("mismatch must be refused");
        assert!(error.0.contains("refused"), "{error}");
        assert!(!a.has_object(&claimed).unwrap_or_else(|e| panic!("{e}")));
        // Nothing is left in tmp/ either.
        let leftovers = std::fs::read_dir(a.dir().join("tmp"))
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("import"))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn import_stores_and_is_idempotent() {
        let (_dir, a, _) = stores();
        let bytes = vec![7u8; 200_000];
        let digest = Digest::of(&bytes);
        assert_eq!(
            a.import_object(&digest, &bytes[..])
                .unwrap_or_else(|e| panic!("{e}")),
            200_000
        );
        assert_eq!(
            a.import_object(&digest, &b"not read"[..])
                .unwrap_or_else(|e| panic!("{e}")),
            200_000
        );
        let mut back = Vec::new();
        a.open_object(&digest)
            .unwrap_or_else(|e| panic!("{e}"))
            .read_to_end(&mut back)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, bytes);
    }

    #[test]
    fn digests_that_are_not_hex_are_refused() {
        let (_dir, a, _) = stores();
        for bad in ["../../etc/passwd", "", "ABCDEF", &"g".repeat(64)] {
            let digest = Digest(bad.to_string());
            assert!(a.has_object(&digest).is_err(), "{bad}");
            assert!(a.open_object(&digest).is_err(), "{bad}");
            assert!(a.import_object(&digest, &b"x"[..]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_object_is_reported() {
        let (_dir, a, _) = stores();
        let digest = Digest::of(b"absent");
        assert!(!a.has_object(&digest).unwrap_or_else(|e| panic!("{e}")));
        let error = a.open_object(&digest).expect_err("absent");
        assert!(error.0.contains("not in the store"), "{error}");
    }
}
