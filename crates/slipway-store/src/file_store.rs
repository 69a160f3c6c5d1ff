//! The directory store used by `slipway run`: `<workspace>/.slipway/local/`.
//! The layout and its invariants are described in the crate documentation.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use slipway_engine::ports::{Store, StoreError};
use slipway_engine::records::{
    ArtifactRecord, CacheEntry, Digest, KeyManifest, Record, RunMeta, RunSummary,
};

use crate::blobs::{FileBlobs, poisoned};
use crate::fsutil::{io_error, read_optional, write_atomic, write_if_absent};
use crate::paths::job_file_name;
use crate::step_log::FileStepLog;
use crate::{StoreRead, artifacts, dir_cache, parse_run};

/// Buffer of a run's event file: a few hundred records between flushes.
const EVENTS_BUFFER: usize = 64 * 1024;

/// A store in a directory; see the crate documentation for the layout.
pub struct FileStore {
    dir: PathBuf,
    runs: PathBuf,
    tmp: PathBuf,
    blobs: FileBlobs,
    /// The next run number to try; `begin_run` skips numbers taken by
    /// another process.
    next_run: AtomicU64,
    /// Open event files of the runs this store is writing.
    events: Mutex<HashMap<u64, BufWriter<File>>>,
}

impl FileStore {
    /// Opens (creating if needed) the store in `dir` and writes
    /// `dir/.gitignore` containing `*`, so git ignores the whole store.
    pub fn open(dir: &Path) -> Result<FileStore, StoreError> {
        let runs = dir.join("runs");
        let tmp = dir.join("tmp");
        let objects = dir.join("objects");
        for sub in [
            &runs,
            &tmp,
            &objects,
            &dir.join("cache/entries"),
            &dir.join("cache/manifests"),
            &dir.join("cache/dirs"),
        ] {
            std::fs::create_dir_all(sub).map_err(|e| io_error("create directory", sub, e))?;
        }
        let gitignore = dir.join(".gitignore");
        if read_optional(&gitignore)?.is_none() {
            write_atomic(&tmp, &gitignore, b"*\n")?;
        }
        let last = list_run_numbers(&runs)?.last().copied().unwrap_or(0);
        Ok(FileStore {
            dir: dir.to_path_buf(),
            runs,
            tmp,
            blobs: FileBlobs::new(objects, dir.join("tmp")),
            next_run: AtomicU64::new(last + 1),
            events: Mutex::new(HashMap::new()),
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn run_dir(&self, run: u64) -> PathBuf {
        self.runs.join(run.to_string())
    }

    /// The run's directory, which must exist.
    fn existing_run_dir(&self, run: &str) -> Result<PathBuf, StoreError> {
        let dir = self.run_dir(parse_run(run)?);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(StoreError(format!(
                "run {run} not found in `{}`",
                self.dir.display()
            )))
        }
    }

    fn cache_file(&self, kind: &str, name: &str) -> PathBuf {
        let mut path = self.dir.join("cache").join(kind).join(name);
        path.as_mut_os_string().push(".json");
        path
    }

    /// Flushes the buffered records of `run`, if this store is writing it.
    fn flush_events(&self, run: u64) -> Result<(), StoreError> {
        let mut events = self.events.lock().map_err(|_| poisoned())?;
        if let Some(writer) = events.get_mut(&run) {
            writer
                .flush()
                .map_err(|e| io_error("write", &self.run_dir(run).join("events.jsonl"), e))?;
        }
        Ok(())
    }
}

/// Run numbers present under `runs/`, ascending.
fn list_run_numbers(runs: &Path) -> Result<Vec<u64>, StoreError> {
    let listing = std::fs::read_dir(runs).map_err(|e| io_error("read directory", runs, e))?;
    let mut numbers = Vec::new();
    for item in listing {
        let item = item.map_err(|e| io_error("read directory", runs, e))?;
        if let Some(n) = item
            .file_name()
            .to_str()
            .and_then(|name| parse_run(name).ok())
        {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError(format!(
            "`{}` is damaged ({e}); remove it and run again",
            path.display()
        ))
    })
}

fn encode<T: serde::Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError(format!("cannot encode {what}: {e}")))
}

/// Whether a record ends a unit of work worth making durable at once: a
/// crash then loses at most the records of one unfinished job.
fn flushes(record: &Record) -> bool {
    matches!(
        record,
        Record::JobFinished { .. }
            | Record::JobSkipped { .. }
            | Record::RunFinished { .. }
            | Record::CancelRequested { .. }
    )
}

impl Store for FileStore {
    type StepLog = FileStepLog;

    fn begin_run(&self, meta: &RunMeta) -> Result<String, StoreError> {
        // `create_dir` is the atomic claim: two processes never get the
        // same number, the loser moves on to the next one.
        let (run, dir) = loop {
            let n = self.next_run.fetch_add(1, Ordering::Relaxed);
            let dir = self.run_dir(n);
            match std::fs::create_dir(&dir) {
                Ok(()) => break (n, dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("create run directory", &dir, e)),
            }
        };
        write_atomic(
            &self.tmp,
            &dir.join("meta.json"),
            &encode(meta, "run metadata")?,
        )?;
        let events_path = dir.join("events.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&events_path)
            .map_err(|e| io_error("create", &events_path, e))?;
        let mut events = self.events.lock().map_err(|_| poisoned())?;
        events.insert(run, BufWriter::with_capacity(EVENTS_BUFFER, file));
        Ok(run.to_string())
    }

    fn record(&self, run: &str, record: &Record) -> Result<(), StoreError> {
        let n = parse_run(run)?;
        let mut events = self.events.lock().map_err(|_| poisoned())?;
        let writer = match events.entry(n) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                // A run begun by an earlier process (resumed after a restart).
                let path = self.run_dir(n).join("events.jsonl");
                let file = OpenOptions::new().append(true).open(&path).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        StoreError(format!("run {run} not found in `{}`", self.dir.display()))
                    } else {
                        io_error("open", &path, e)
                    }
                })?;
                entry.insert(BufWriter::with_capacity(EVENTS_BUFFER, file))
            }
        };
        let written = serde_json::to_writer(&mut *writer, record)
            .map_err(io::Error::from)
            .and_then(|()| writer.write_all(b"\n"))
            .and_then(|()| {
                if flushes(record) {
                    writer.flush()
                } else {
                    Ok(())
                }
            });
        written.map_err(|e| io_error("append to", &self.run_dir(n).join("events.jsonl"), e))
    }

    fn open_step_log(
        &self,
        run: &str,
        job_key: &str,
        step: usize,
    ) -> Result<FileStepLog, StoreError> {
        let n = parse_run(run)?;
        let mut path = self.run_dir(n);
        path.push("logs");
        path.push(job_file_name(job_key));
        path.push(format!("{step}.log"));
        Ok(FileStepLog::new(path))
    }

    fn finish_run(&self, run: &str, summary: &RunSummary) -> Result<(), StoreError> {
        let n = parse_run(run)?;
        let writer = self.events.lock().map_err(|_| poisoned())?.remove(&n);
        if let Some(writer) = writer {
            writer.into_inner().map_err(|e| {
                io_error(
                    "write",
                    &self.run_dir(n).join("events.jsonl"),
                    e.into_error(),
                )
            })?;
        }
        let dir = self.existing_run_dir(run)?;
        write_atomic(
            &self.tmp,
            &dir.join("summary.json"),
            &encode(summary, "run summary")?,
        )
    }

    fn store_artifact(
        &self,
        root: &Path,
        name: &str,
        rel_path: &str,
    ) -> Result<ArtifactRecord, StoreError> {
        artifacts::store(&self.blobs, root, name, rel_path)
    }

    fn restore_artifact(&self, record: &ArtifactRecord, root: &Path) -> Result<(), StoreError> {
        artifacts::restore(&self.blobs, record, root)
    }

    fn cache_get(&self, key: &Digest) -> Result<Option<CacheEntry>, StoreError> {
        let path = self.cache_file("entries", checked_key(key)?);
        match read_optional(&path)? {
            Some(bytes) => decode(&bytes, &path).map(Some),
            None => Ok(None),
        }
    }

    fn cache_put(&self, key: &Digest, entry: &CacheEntry) -> Result<(), StoreError> {
        let path = self.cache_file("entries", checked_key(key)?);
        write_atomic(&self.tmp, &path, &encode(entry, "cache entry")?)
    }

    fn last_manifest(&self, job_identity: &str) -> Result<Option<KeyManifest>, StoreError> {
        let path = self.cache_file("manifests", &Digest::of(job_identity.as_bytes()).0);
        match read_optional(&path)? {
            Some(bytes) => decode(&bytes, &path).map(Some),
            None => Ok(None),
        }
    }

    fn save_manifest(&self, job_identity: &str, manifest: &KeyManifest) -> Result<(), StoreError> {
        let path = self.cache_file("manifests", &Digest::of(job_identity.as_bytes()).0);
        write_atomic(&self.tmp, &path, &encode(manifest, "key manifest")?)
    }

    fn dir_cache_restore(
        &self,
        key: &str,
        paths: &[String],
        root: &Path,
    ) -> Result<bool, StoreError> {
        let path = self.cache_file("dirs", &Digest::of(key.as_bytes()).0);
        match read_optional(&path)? {
            Some(record) => {
                dir_cache::restore(&self.blobs, &record, key, paths, root).map(|()| true)
            }
            None => Ok(false),
        }
    }

    fn dir_cache_save(&self, key: &str, paths: &[String], root: &Path) -> Result<(), StoreError> {
        let path = self.cache_file("dirs", &Digest::of(key.as_bytes()).0);
        if path.exists() {
            return Ok(());
        }
        match dir_cache::snapshot(&self.blobs, key, paths, root)? {
            Some(record) => write_if_absent(&self.tmp, &path, &record).map(drop),
            None => Ok(()),
        }
    }
}

/// A cache key as a file name: it must be a digest, never a path.
fn checked_key(key: &Digest) -> Result<&str, StoreError> {
    let hex = key.0.as_str();
    if !hex.is_empty() && hex.len() <= 128 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(StoreError(format!("cache key `{hex}` is not a hex digest")))
    }
}

impl StoreRead for FileStore {
    fn list_runs(&self) -> Result<Vec<String>, StoreError> {
        Ok(list_run_numbers(&self.runs)?
            .into_iter()
            .map(|n| n.to_string())
            .collect())
    }

    fn read_meta(&self, run: &str) -> Result<RunMeta, StoreError> {
        let path = self.existing_run_dir(run)?.join("meta.json");
        let bytes = std::fs::read(&path).map_err(|e| io_error("read", &path, e))?;
        decode(&bytes, &path)
    }

    fn read_records(&self, run: &str) -> Result<Vec<Record>, StoreError> {
        let path = self.existing_run_dir(run)?.join("events.jsonl");
        self.flush_events(parse_run(run)?)?;
        let bytes = read_optional(&path)?.unwrap_or_default();
        let mut records = Vec::new();
        let mut rest = bytes.as_slice();
        let mut line_no = 0usize;
        // A last line without its newline was cut short by a crash: skipped.
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            line_no += 1;
            let (line, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or_default();
            if line.is_empty() {
                continue;
            }
            let record = serde_json::from_slice(line).map_err(|e| {
                StoreError(format!(
                    "`{}` line {line_no} is damaged ({e})",
                    path.display()
                ))
            })?;
            records.push(record);
        }
        Ok(records)
    }

    fn read_step_log(&self, run: &str, job_key: &str, step: usize) -> Result<Vec<u8>, StoreError> {
        let mut path = self.existing_run_dir(run)?;
        path.push("logs");
        path.push(job_file_name(job_key));
        path.push(format!("{step}.log"));
        Ok(read_optional(&path)?.unwrap_or_default())
    }

    fn read_summary(&self, run: &str) -> Result<Option<RunSummary>, StoreError> {
        let path = self.existing_run_dir(run)?.join("summary.json");
        match read_optional(&path)? {
            Some(bytes) => decode(&bytes, &path).map(Some),
            None => Ok(None),
        }
    }
}
