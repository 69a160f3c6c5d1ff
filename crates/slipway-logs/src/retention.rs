//! Retention of step logs: delete the oldest log files until age and size limits hold.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// File name ending of a plain step log.
pub const PLAIN_LOG_SUFFIX: &str = ".log";
/// File name ending of an archived step log (a zstd stream, see [`mod@crate::archive`]).
pub const ARCHIVED_LOG_SUFFIX: &str = ".log.zst";

/// Whether a file name is a step log's, plain or archived: the only files retention deletes.
pub fn is_log_file_name(name: &str) -> bool {
    name.ends_with(PLAIN_LOG_SUFFIX) || name.ends_with(ARCHIVED_LOG_SUFFIX)
}

/// Limits on the logs kept. `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Logs last modified longer ago than this are deleted.
    pub max_age: Option<Duration>,
    /// The oldest logs are deleted until all logs together take at most this many bytes.
    pub max_total_bytes: Option<u64>,
}

/// What [`apply_retention`] did.
#[derive(Debug, Default)]
pub struct RetentionReport {
    /// Files deleted, oldest first.
    pub deleted: Vec<PathBuf>,
    /// Bytes they took.
    pub deleted_bytes: u64,
    /// Log files kept.
    pub kept_files: usize,
    /// Bytes the kept log files take. Above `max_total_bytes` only when the files being written
    /// (or failing to delete) alone exceed it.
    pub kept_bytes: u64,
    /// Files that were due for deletion but are being written, so were spared.
    pub spared_active: Vec<PathBuf>,
    /// Files that could not be deleted, with why. A file that vanished meanwhile is not an error.
    pub failed: Vec<(PathBuf, io::Error)>,
}

/// A log file found under the directory.
struct LogFile {
    path: PathBuf,
    len: u64,
    modified: SystemTime,
}

/// Deletes log files (names per [`is_log_file_name`]) under `dir`, at any depth, oldest
/// modification time first, until none is older than `max_age` and together they take at most
/// `max_total_bytes`. A file for which `is_active` is true (still being written, or being
/// archived) is never deleted, though it counts toward the total. Symbolic links are neither
/// followed nor deleted; other files are left alone. `now` is the clock (a file modified "in the
/// future" has age zero).
///
/// An error listing `dir` is returned; an error deleting one file is reported in
/// [`RetentionReport::failed`] and the others are still handled.
pub fn apply_retention(
    dir: &Path,
    retention: &Retention,
    now: SystemTime,
    is_active: impl Fn(&Path) -> bool,
) -> io::Result<RetentionReport> {
    let mut files = Vec::new();
    collect_log_files(dir, &mut files)?;
    // Oldest first; the path breaks ties so the order is stable.
    files.sort_by(|a, b| {
        a.modified
            .cmp(&b.modified)
            .then_with(|| a.path.cmp(&b.path))
    });
    let mut total: u64 = files.iter().map(|file| file.len).sum();
    let mut report = RetentionReport::default();
    for file in files {
        let too_old = retention.max_age.is_some_and(|max_age| {
            now.duration_since(file.modified).unwrap_or(Duration::ZERO) > max_age
        });
        let over_size = retention.max_total_bytes.is_some_and(|max| total > max);
        if !(too_old || over_size) {
            report.kept_files += 1;
            report.kept_bytes += file.len;
            continue;
        }
        if is_active(&file.path) {
            report.kept_files += 1;
            report.kept_bytes += file.len;
            report.spared_active.push(file.path);
            continue;
        }
        match fs::remove_file(&file.path) {
            Ok(()) => {
                total -= file.len;
                report.deleted_bytes += file.len;
                report.deleted.push(file.path);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => total -= file.len,
            Err(e) => {
                report.kept_files += 1;
                report.kept_bytes += file.len;
                report.failed.push((file.path, e));
            }
        }
    }
    Ok(report)
}

/// Lists log files under `dir`, recursively, without following symbolic links. Entries that
/// vanish while listing are skipped.
fn collect_log_files(root: &Path, files: &mut Vec<LogFile>) -> io::Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound && dir != root => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot list log directory {}: {e}", dir.display()),
                ));
            }
        };
        for entry in entries {
            let entry = entry?;
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                pending.push(entry.path());
            } else if file_type.is_file()
                && entry.file_name().to_str().is_some_and(is_log_file_name)
            {
                let Ok(metadata) = entry.metadata() else {
                    continue;
                };
                files.push(LogFile {
                    path: entry.path(),
                    len: metadata.len(),
                    modified: metadata.modified()?,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    const HOUR: Duration = Duration::from_secs(3600);

    /// Writes `len` bytes at `path`, last modified `age` before `now`.
    fn log_file(path: &Path, len: usize, now: SystemTime, age: Duration) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, vec![b'x'; len]).expect("write");
        let file = File::options().write(true).open(path).expect("open");
        file.set_modified(now - age).expect("set mtime");
    }

    fn names(paths: &[PathBuf], root: &Path) -> Vec<String> {
        paths
            .iter()
            .filter_map(|p| p.strip_prefix(root).ok())
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn deletes_logs_older_than_max_age_but_spares_active_and_other_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let now = SystemTime::now();
        log_file(&root.join("run1/job/a.log.zst"), 10, now, 50 * HOUR);
        log_file(&root.join("run1/job/b.log"), 10, now, 49 * HOUR);
        log_file(&root.join("run2/job/live.log"), 10, now, 48 * HOUR);
        log_file(&root.join("run3/job/c.log.zst"), 10, now, HOUR);
        log_file(&root.join("run1/notes.txt"), 10, now, 100 * HOUR);
        log_file(&root.join("run1/.d.log.zst.tmp"), 10, now, 100 * HOUR);
        let retention = Retention {
            max_age: Some(24 * HOUR),
            max_total_bytes: None,
        };
        let live = root.join("run2/job/live.log");
        let report = apply_retention(root, &retention, now, |p| p == live).expect("retention");
        assert_eq!(
            names(&report.deleted, root),
            ["run1/job/a.log.zst", "run1/job/b.log"]
        );
        assert_eq!(names(&report.spared_active, root), ["run2/job/live.log"]);
        assert_eq!(
            (report.deleted_bytes, report.kept_files, report.kept_bytes),
            (20, 2, 20)
        );
        assert!(live.exists());
        assert!(root.join("run1/notes.txt").exists());
        assert!(root.join("run1/.d.log.zst.tmp").exists());
        assert!(report.failed.is_empty());
    }

    #[test]
    fn deletes_oldest_logs_until_the_total_fits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let now = SystemTime::now();
        for (name, hours) in [("1.log", 5), ("2.log.zst", 4), ("3.log", 3), ("4.log", 2)] {
            log_file(&root.join(name), 100, now, hours * HOUR);
        }
        // A file from the future (clock skew) is the newest, not an error.
        log_file(&root.join("5.log"), 100, now, Duration::ZERO);
        File::options()
            .write(true)
            .open(root.join("5.log"))
            .and_then(|f| f.set_modified(now + HOUR))
            .expect("set mtime");
        let retention = Retention {
            max_age: Some(24 * HOUR),
            max_total_bytes: Some(250),
        };
        let active = root.join("2.log.zst");
        let report = apply_retention(root, &retention, now, |p| p == active).expect("retention");
        // 500 bytes: drop 1 (400), spare 2, drop 3 (300), drop 4 (200 ≤ 250).
        assert_eq!(names(&report.deleted, root), ["1.log", "3.log", "4.log"]);
        assert_eq!(names(&report.spared_active, root), ["2.log.zst"]);
        assert_eq!((report.kept_files, report.kept_bytes), (2, 200));

        let none = apply_retention(root, &Retention::default(), now, |_| false).expect("again");
        assert!(none.deleted.is_empty());
        assert_eq!(none.kept_bytes, 200);
    }

    #[test]
    fn active_files_alone_may_exceed_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        log_file(&dir.path().join("big.log"), 1000, now, HOUR);
        let retention = Retention {
            max_age: None,
            max_total_bytes: Some(10),
        };
        let report = apply_retention(dir.path(), &retention, now, |_| true).expect("retention");
        assert!(report.deleted.is_empty());
        assert_eq!(report.kept_bytes, 1000);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let err = apply_retention(&missing, &Retention::default(), SystemTime::now(), |_| {
            false
        });
        let err = err
            .err()
            .map(|e| (e.kind(), e.to_string().contains("nope")));
        assert_eq!(err, Some((io::ErrorKind::NotFound, true)));
    }
}
