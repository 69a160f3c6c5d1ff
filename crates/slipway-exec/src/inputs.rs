//! Matching input globs against the workspace and hashing what they match.
//!
//! Globs are relative to the root; `**` crosses directories, `*` does not; a glob starting with
//! `!` excludes what it matches (in any order). A glob matching a directory takes in everything
//! below it, as `hashFiles` does. Only the literal prefix of each glob is walked (`src/**/*.rs`
//! walks `src/`, a literal path is only looked at), so a large `target/` is never walked unless
//! a glob asks for it. `.git/` directories and `.slipway/local/` are never matched.
//! Symbolic links are not followed: a link is hashed by its target path, as git records it.
//! File names that are not UTF-8 are skipped.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use slipway_engine::ports::ExecError;
use slipway_engine::records::Digest;

/// The directory of Slipway's local state, never an input.
const LOCAL_STATE: &str = ".slipway/local";

/// Compiled globs of one request.
struct Patterns {
    include: GlobSet,
    exclude: GlobSet,
    /// Where to look: directories to walk and literal paths to look at, relative to the root.
    starts: Vec<String>,
}

impl Patterns {
    fn new(globs: &[String]) -> Result<Patterns, ExecError> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        let mut starts = Vec::new();
        for raw in globs {
            let (negated, pattern) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw.as_str()),
            };
            let pattern = clean_pattern(raw, pattern)?;
            let glob = compile(raw, &pattern)?;
            if negated {
                exclude.add(glob);
            } else {
                include.add(glob);
                starts.push(literal_prefix(&pattern));
            }
        }
        let include = include
            .build()
            .map_err(|e| ExecError(format!("input globs cannot be compiled: {e}")))?;
        let exclude = exclude
            .build()
            .map_err(|e| ExecError(format!("input globs cannot be compiled: {e}")))?;
        // A start below another start is walked by it already.
        starts.sort();
        starts.dedup();
        let mut kept: Vec<String> = Vec::with_capacity(starts.len());
        for start in starts {
            if !kept.iter().any(|k| is_within(&start, k)) {
                kept.push(start);
            }
        }
        Ok(Patterns {
            include,
            exclude,
            starts: kept,
        })
    }

    /// True when `rel` or a directory above it is excluded.
    fn excluded(&self, rel: &str) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        self.exclude.is_match(rel)
            || rel
                .match_indices('/')
                .any(|(i, _)| rel.get(..i).is_some_and(|dir| self.exclude.is_match(dir)))
    }
}

/// Strips `./`, refuses patterns that leave the root, and puts the pattern in `/` form.
fn clean_pattern(raw: &str, pattern: &str) -> Result<String, ExecError> {
    if pattern.is_empty() {
        return Err(ExecError(format!("input glob `{raw}` is empty")));
    }
    if pattern.starts_with('/') {
        return Err(ExecError(format!(
            "input glob `{raw}` is absolute; give it relative to the workspace root"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ExecError(format!(
                    "input glob `{raw}` leaves the workspace (`..` is not allowed)"
                )));
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Ok("**".to_owned());
    }
    Ok(parts.join("/"))
}

fn compile(raw: &str, pattern: &str) -> Result<Glob, ExecError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| ExecError(format!("input glob `{raw}` is not a valid glob: {e}")))
}

/// The leading components of `pattern` that hold no glob syntax, joined by `/`: the whole
/// pattern when it is a literal path.
fn literal_prefix(pattern: &str) -> String {
    let mut prefix: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        if part.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            break;
        }
        prefix.push(part);
    }
    prefix.join("/")
}

/// True when `path` is `dir` or lies below it (an empty `dir` is the root).
fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn never_matched(rel: &str) -> bool {
    rel == ".git"
        || rel.starts_with(".git/")
        || rel.ends_with("/.git")
        || rel.contains("/.git/")
        || is_within(rel, LOCAL_STATE)
}

/// Counters of the work done on inputs by one executor, for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Files read to compute their digest.
    pub files_hashed: u64,
    /// Digests taken from memory because the file had not changed.
    pub digests_reused: u64,
    /// Directories listed while matching globs.
    pub dirs_listed: u64,
}

/// Relative paths of the files under `root` matched by `globs`, sorted. `dirs_listed` counts
/// the directories read.
pub(crate) fn matched_files(
    root: &Path,
    globs: &[String],
    dirs_listed: &AtomicU64,
) -> Result<Vec<String>, ExecError> {
    let patterns = Patterns::new(globs)?;
    let mut found = BTreeSet::new();
    for start in &patterns.starts {
        if start.is_empty() {
            walk(
                root,
                String::new(),
                false,
                &patterns,
                &mut found,
                dirs_listed,
            )?;
            continue;
        }
        if never_matched(start) || patterns.excluded(start) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(root.join(start)) else {
            continue;
        };
        if meta.is_dir() {
            let implied = patterns.include.is_match(start.as_str());
            walk(
                root,
                start.clone(),
                implied,
                &patterns,
                &mut found,
                dirs_listed,
            )?;
        } else if (meta.is_file() || meta.is_symlink()) && patterns.include.is_match(start.as_str())
        {
            found.insert(start.clone());
        }
    }
    Ok(found.into_iter().collect())
}

/// Walks the directory `dir` (relative to `root`). `implied`: a directory above matched, so
/// every file below is taken unless excluded.
fn walk(
    root: &Path,
    dir: String,
    implied: bool,
    patterns: &Patterns,
    found: &mut BTreeSet<String>,
    dirs_listed: &AtomicU64,
) -> Result<(), ExecError> {
    let mut stack = vec![(dir, implied)];
    while let Some((dir, implied)) = stack.pop() {
        dirs_listed.fetch_add(1, Ordering::Relaxed);
        let entries = match std::fs::read_dir(root.join(&dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(ExecError(format!(
                    "cannot list `{dir}` in the workspace: {e}"
                )));
            }
        };
        for entry in entries {
            let entry = entry
                .map_err(|e| ExecError(format!("cannot list `{dir}` in the workspace: {e}")))?;
            let Ok(name) = std::str::from_utf8(entry.file_name().as_bytes()).map(str::to_owned)
            else {
                continue;
            };
            let rel = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if never_matched(&rel) || patterns.exclude.is_match(rel.as_str()) {
                continue;
            }
            if kind.is_dir() {
                let implied = implied || patterns.include.is_match(rel.as_str());
                stack.push((rel, implied));
            } else if (kind.is_file() || kind.is_symlink())
                && (implied || patterns.include.is_match(rel.as_str()))
            {
                found.insert(rel);
            }
        }
    }
    Ok(())
}

/// Digests of files, remembered by path and the file's identity, so that jobs sharing inputs
/// hash each file once per executor.
#[derive(Debug, Default)]
pub(crate) struct DigestMemo {
    entries: Mutex<HashMap<PathBuf, (FileStamp, Digest)>>,
    files_hashed: AtomicU64,
    digests_reused: AtomicU64,
    pub(crate) dirs_listed: AtomicU64,
}

/// What tells that a file is unchanged since it was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    dev: u64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

impl DigestMemo {
    pub(crate) fn stats(&self) -> InputStats {
        InputStats {
            files_hashed: self.files_hashed.load(Ordering::Relaxed),
            digests_reused: self.digests_reused.load(Ordering::Relaxed),
            dirs_listed: self.dirs_listed.load(Ordering::Relaxed),
        }
    }

    /// Digests of `files` (relative to `root`), in the same order.
    pub(crate) fn hash_files(
        &self,
        root: &Path,
        files: Vec<String>,
    ) -> Result<Vec<(String, Digest)>, ExecError> {
        let mut buf = Vec::new();
        let mut out = Vec::with_capacity(files.len());
        for rel in files {
            let path = root.join(&rel);
            let digest = self
                .digest(&path, &mut buf)
                .map_err(|e| ExecError(format!("cannot read input `{rel}` for hashing: {e}")))?;
            out.push((rel, digest));
        }
        Ok(out)
    }

    fn digest(&self, path: &Path, buf: &mut Vec<u8>) -> std::io::Result<Digest> {
        let meta = std::fs::symlink_metadata(path)?;
        if meta.is_symlink() {
            let target = std::fs::read_link(path)?;
            let mut hasher = blake3::Hasher::new();
            hasher.update(b"symlink\0");
            hasher.update(target.as_os_str().as_bytes());
            return Ok(Digest::from_hash(hasher.finalize()));
        }
        let stamp = FileStamp::of(&meta);
        if let Ok(entries) = self.entries.lock()
            && let Some((known, digest)) = entries.get(path)
            && *known == stamp
        {
            self.digests_reused.fetch_add(1, Ordering::Relaxed);
            return Ok(digest.clone());
        }
        let digest = hash_file(path, buf)?;
        self.files_hashed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(path.to_path_buf(), (stamp, digest.clone()));
        }
        Ok(digest)
    }
}

fn hash_file(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<Digest> {
    buf.resize(64 * 1024, 0);
    let mut file = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(buf.get(..n).unwrap_or_default());
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Digest::from_hash(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("src/**/*.rs"), "src");
        assert_eq!(literal_prefix("Cargo.toml"), "Cargo.toml");
        assert_eq!(literal_prefix("**/*.rs"), "");
        assert_eq!(literal_prefix("a/b/c*.txt"), "a/b");
    }

    #[test]
    fn patterns_are_cleaned_and_refused() {
        assert_eq!(
            clean_pattern("./src/*", "./src/*").ok(),
            Some("src/*".to_owned())
        );
        assert!(clean_pattern("../x", "../x").is_err());
        assert!(clean_pattern("/etc", "/etc").is_err());
        assert!(clean_pattern("", "").is_err());
    }

    #[test]
    fn nested_starts_are_merged() {
        let globs = [
            "src/**".to_owned(),
            "src/a/*.rs".to_owned(),
            "srcx/*".to_owned(),
        ];
        let patterns = Patterns::new(&globs).ok();
        assert_eq!(
            patterns.map(|p| p.starts),
            Some(vec!["src".to_owned(), "srcx".to_owned()])
        );
    }

    #[test]
    fn state_directories_are_never_matched() {
        assert!(never_matched(".git"));
        assert!(never_matched("sub/.git/config"));
        assert!(never_matched(".slipway/local/runs"));
        assert!(!never_matched(".slipway/environments.yml"));
        assert!(!never_matched(".github/x"));
    }
}
