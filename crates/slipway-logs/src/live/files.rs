//! The live store's directory layout and the small file operations on it.
//!
//! ```text
//! <root>/<run>/finished            the run has ended (empty)
//! <root>/<run>/<job>/key           the job's key, e.g. `build (linux)`
//! <root>/<run>/<job>/finished      the job has ended (empty)
//! <root>/<run>/<job>/<step>.log    a step's plain log (format in `crate::format`)
//! <root>/<run>/<job>/<step>.log.zst    the same, archived (format in `crate::archive`)
//! ```
//!
//! Every path component below the root is a number formatted by Rust or a fixed name, so no
//! input can reach outside the root.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use memchr::memrchr;

use crate::retention::{ARCHIVED_LOG_SUFFIX, PLAIN_LOG_SUFFIX};
use crate::{ArchiveReader, LogSource, PlainLogReader};

const FINISHED: &str = "finished";
const KEY: &str = "key";

pub(super) fn run_dir(root: &Path, run: i64) -> PathBuf {
    root.join(run.to_string())
}

pub(super) fn job_dir(root: &Path, run: i64, job: i64) -> PathBuf {
    run_dir(root, run).join(job.to_string())
}

pub(super) fn plain_path(job_dir: &Path, step: u32) -> PathBuf {
    job_dir.join(format!("{step}{PLAIN_LOG_SUFFIX}"))
}

pub(super) fn archived_path(job_dir: &Path, step: u32) -> PathBuf {
    job_dir.join(format!("{step}{ARCHIVED_LOG_SUFFIX}"))
}

/// Whether the run or job whose directory is `dir` has its `finished` marker.
pub(super) fn is_finished(dir: &Path) -> io::Result<bool> {
    match fs::metadata(dir.join(FINISHED)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Leaves the `finished` marker in `dir`, creating it if needed.
pub(super) fn mark_finished(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    File::create(dir.join(FINISHED)).map(drop)
}

/// The job key stored in `job_dir`, if one was stored.
pub(super) fn read_key(job_dir: &Path) -> io::Result<Option<String>> {
    match fs::read(job_dir.join(KEY)) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores the job key: written beside and renamed into place, so a crash leaves the whole key or
/// none.
pub(super) fn write_key(job_dir: &Path, key: &str) -> io::Result<()> {
    let temp = job_dir.join(".key.tmp");
    fs::write(&temp, key)?;
    fs::rename(&temp, job_dir.join(KEY))
}

/// The numeric entries of `dir` (run or job directories), ascending. A missing `dir` has none.
/// Only canonical numbers count (`7`, not `07` or `+7`), so each id has one directory.
pub(super) fn numeric_dirs(dir: &Path) -> io::Result<Vec<i64>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Ok(id) = name.parse::<i64>()
            && id.to_string() == name
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The steps that have a log in `job_dir`, plain or archived, ascending. A missing directory has
/// none.
pub(super) fn steps(job_dir: &Path) -> io::Result<BTreeSet<u32>> {
    let mut steps = BTreeSet::new();
    let entries = match fs::read_dir(job_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(steps),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(step) = entry.file_name().to_str().and_then(step_of_file_name) {
            steps.insert(step);
        }
    }
    Ok(steps)
}

/// `3` for `3.log` or `3.log.zst`.
fn step_of_file_name(name: &str) -> Option<u32> {
    let digits = name
        .strip_suffix(ARCHIVED_LOG_SUFFIX)
        .or_else(|| name.strip_suffix(PLAIN_LOG_SUFFIX))?;
    let step = digits.parse::<u32>().ok()?;
    (step.to_string() == digits).then_some(step)
}

/// Opens a step's log for reading, plain if it is there, else archived; `None` when it has
/// neither (removed by retention). Plain first: archiving renames the archive into place before
/// it removes the plain log, so one of the two always exists.
pub(super) fn open_step(job_dir: &Path, step: u32) -> io::Result<Option<Box<dyn LogSource>>> {
    match File::open(plain_path(job_dir, step)) {
        Ok(file) => return Ok(Some(Box::new(PlainLogReader::open(file)?))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match File::open(archived_path(job_dir, step)) {
        Ok(file) => Ok(Some(Box::new(ArchiveReader::open(file)?))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Cuts an unfinished last record (a write cut short by a crash) off a plain log, so the next
/// record starts on a line of its own. Its append had not returned, so it was never
/// acknowledged. Returns the file's length afterwards.
pub(super) fn drop_unfinished_tail(file: &mut File) -> io::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut buf = [0u8; 8192];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        // At most `buf.len()`, so the cast cannot truncate.
        let chunk = buf.get_mut(..(end - start) as usize).unwrap_or_default();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(newline) = memrchr(b'\n', chunk) {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        file.set_len(end)?;
    }
    Ok(end)
}
