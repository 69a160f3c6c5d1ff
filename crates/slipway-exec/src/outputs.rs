//! The files steps write their outputs to (`$SLIPWAY_OUTPUT`).
//!
//! They live outside the workspace, so that they never show up among a job's files (inputs,
//! artifacts, `git status`): one private directory per executor under the system's temporary
//! directory, created on first use and removed with the executor, holding one file per step of
//! each workspace, removed with the workspace.

use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use slipway_engine::ports::ExecError;

/// Most bytes of outputs one step may write.
pub(crate) const MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// The executor's directory of output files.
#[derive(Debug, Default)]
pub(crate) struct OutputDir {
    dir: Mutex<Option<PathBuf>>,
    next_workspace: AtomicU64,
}

impl OutputDir {
    /// A number naming one workspace's files.
    pub(crate) fn workspace_id(&self) -> u64 {
        self.next_workspace.fetch_add(1, Ordering::Relaxed)
    }

    /// The path of the output file of `step` in workspace `id`, creating the directory if
    /// needed.
    pub(crate) fn path(&self, id: u64, step: usize) -> Result<PathBuf, ExecError> {
        Ok(self.dir()?.join(format!("{id}-{step}")))
    }

    /// The directory itself, created on first use.
    pub(crate) fn dir(&self) -> Result<PathBuf, ExecError> {
        let mut dir = self
            .dir
            .lock()
            .map_err(|_| ExecError("the output directory's lock is poisoned".to_owned()))?;
        let dir = match &*dir {
            Some(existing) => existing.clone(),
            None => {
                let created = create_private_dir()?;
                *dir = Some(created.clone());
                created
            }
        };
        Ok(dir)
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if let Ok(Some(dir)) = self.dir.get_mut().map(Option::take) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Removes output directories that processes killed without unwinding
/// (SIGKILL) left behind: `slipway-outputs-PID-N` whose PID is not running.
/// Done once per process, before its first directory is made.
fn sweep_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("slipway-outputs-"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn create_private_dir() -> Result<PathBuf, ExecError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let base = std::env::temp_dir();
    SWEPT.call_once(|| sweep_stale(&base));
    let mut last_error = None;
    for _ in 0..100 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("slipway-outputs-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last_error = Some(e),
        }
    }
    Err(ExecError(format!(
        "cannot create a directory for step outputs in {}: {}",
        base.display(),
        last_error.map_or_else(String::new, |e| e.to_string())
    )))
}

/// Removes an output file left by an earlier attempt.
pub(crate) fn remove(path: &Path) -> Result<(), ExecError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ExecError(format!(
            "cannot empty the output file {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Reads an output file; a file the step removed counts as empty.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ExecError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ExecError(format!(
                "cannot read the step's outputs ($SLIPWAY_OUTPUT): {e}"
            )));
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_OUTPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            ExecError(format!(
                "cannot read the step's outputs ($SLIPWAY_OUTPUT): {e}"
            ))
        })?;
    if bytes.len() as u64 > MAX_OUTPUT_BYTES {
        return Err(ExecError(format!(
            "the step wrote more than {MAX_OUTPUT_BYTES} bytes to $SLIPWAY_OUTPUT"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn directories_of_dead_processes_are_swept_and_others_kept() {
        let base = tempfile::tempdir().expect("tempdir");
        // A pid that ran and is gone: a child that exited and was reaped.
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = base.path().join(format!("slipway-outputs-{dead}-0"));
        let mine = base
            .path()
            .join(format!("slipway-outputs-{}-7", std::process::id()));
        let other = base.path().join("slipway-outputs-notapid-0");
        for dir in [&stale, &mine, &other] {
            std::fs::create_dir(dir).expect("mkdir");
        }
        sweep_stale(base.path());
        assert!(!stale.exists(), "a dead process's directory is removed");
        assert!(mine.exists(), "this process's directory is kept");
        assert!(other.exists(), "names that are not ours are left alone");
    }
}
