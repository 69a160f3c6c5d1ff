//! A job's workspace on this machine: running steps, matching and hashing inputs, reading files.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use slipway_engine::ports::{
    CancelSignal, ExecError, LineSink, SecretMasker, Shell, StepCommand, StepExit, Stream,
    Workspace,
};
use slipway_engine::records::Digest;
use tokio::process::Command;

use crate::executor::Shared;
use crate::fast_path;
use crate::paths::resolve_inside;
use crate::process::{self, Limits, Started};
use crate::pump::Pump;

/// Longest script passed to the shell with `-c`; Linux refuses a single argument over 128 KiB,
/// so a longer script is written to a file that the shell reads.
const MAX_INLINE_SCRIPT: usize = 100 * 1024;

/// A job's directory, either the user's own or a fresh checkout that [`Workspace::release`]
/// removes.
#[derive(Debug)]
pub struct LocalWorkspace {
    /// Canonical path of the root.
    root: PathBuf,
    /// The checkout to remove on release, if this workspace made one.
    checkout: Option<PathBuf>,
    shared: Arc<Shared>,
    /// Names this workspace's output files.
    id: u64,
    /// Output files created so far, removed with the workspace.
    output_files: Vec<PathBuf>,
}

impl LocalWorkspace {
    pub(crate) fn new(root: PathBuf, checkout: Option<PathBuf>, shared: Arc<Shared>) -> Self {
        LocalWorkspace {
            root,
            checkout,
            id: shared.outputs.workspace_id(),
            shared,
            output_files: Vec::new(),
        }
    }

    /// The directory holding this workspace's output files (created if needed), which a
    /// container must see at the same path.
    pub(crate) fn output_dir(&self) -> Result<PathBuf, ExecError> {
        self.shared.outputs.dir()
    }

    /// A file in the output directory for a script too long for the command line, named
    /// after this workspace, so that a container sees it at the same path.
    pub(crate) fn script_path(&self, step: u64) -> Result<PathBuf, ExecError> {
        Ok(self
            .output_dir()?
            .join(format!("{}-script-{step}.sh", self.id)))
    }

    /// Starts the step's process: directly when the fast path applies, through the shell
    /// otherwise. `script_file` receives the path of a script written to disk, for removal.
    fn start(
        &self,
        cmd: &StepCommand<'_>,
        cwd: &Path,
        script_file: &mut Option<ScriptFile>,
    ) -> Result<
        (
            Started,
            tokio::process::ChildStdout,
            tokio::process::ChildStderr,
        ),
        String,
    > {
        if let Some(mut command) = self.direct_command(cmd, cwd)
            && let Ok(started) = spawn(&mut command)
        {
            return Ok(started);
        }
        let program = match cmd.shell {
            Shell::Bash => "bash",
            Shell::Sh => "sh",
        };
        let mut command = Command::new(program);
        command.arg("-e");
        if cmd.script.len() <= MAX_INLINE_SCRIPT {
            command.arg("-c").arg(cmd.script);
        } else {
            let file = ScriptFile::write(cmd.script)?;
            command.arg(&file.0);
            *script_file = Some(file);
        }
        prepare(&mut command, cmd, cwd);
        spawn(&mut command).map_err(|e| format!("cannot start `{program}`: {e}"))
    }

    /// `resolve_program`, remembered for names looked up on a PATH of absolute directories
    /// (a relative entry depends on the working directory).
    fn resolve(
        &self,
        name: &str,
        path_var: Option<std::ffi::OsString>,
        cwd: &Path,
    ) -> Option<PathBuf> {
        let memoisable = !name.contains('/')
            && path_var.as_ref().is_some_and(|p| {
                p.as_bytes()
                    .split(|&b| b == b':')
                    .all(|d| d.first() == Some(&b'/'))
            });
        if !memoisable {
            return fast_path::resolve_program(name, path_var.as_deref(), cwd);
        }
        let path_var = path_var?;
        let key = (name.to_owned(), path_var);
        if let Some(found) = self.shared.programs.lock().ok()?.get(&key) {
            return Some(found.clone());
        }
        let found = fast_path::resolve_program(name, Some(&key.1), cwd)?;
        if let Ok(mut programs) = self.shared.programs.lock() {
            programs.insert(key, found.clone());
        }
        Some(found)
    }

    /// The command that runs a plain one-line script without a shell, if it is one.
    fn direct_command(&self, cmd: &StepCommand<'_>, cwd: &Path) -> Option<Command> {
        if !self.shared.fast_path
            || cmd
                .env
                .iter()
                .any(|(name, _)| fast_path::changes_shell_startup(OsStr::new(name)))
        {
            return None;
        }
        let words = fast_path::plain_command(cmd.script)?;
        let (&name, args) = words.split_first()?;
        let path_var = match cmd.env.iter().rev().find(|(k, _)| k == "PATH") {
            Some((_, v)) => Some(std::ffi::OsString::from(v)),
            None => std::env::var_os("PATH"),
        };
        let program = self.resolve(name, path_var, cwd)?;
        let mut command = Command::new(program);
        command.arg0(name).args(args);
        prepare(&mut command, cmd, cwd);
        Some(command)
    }
}

fn prepare(command: &mut Command, cmd: &StepCommand<'_>, cwd: &Path) {
    command
        .current_dir(cwd)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
}

fn spawn(
    command: &mut Command,
) -> std::io::Result<(
    Started,
    tokio::process::ChildStdout,
    tokio::process::ChildStderr,
)> {
    let mut child = command.spawn()?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok());
    let (Some(pgid), Some(stdout), Some(stderr)) = (pid, child.stdout.take(), child.stderr.take())
    else {
        // Not reachable with piped output; the child is stopped rather than left running.
        let _ = child.start_kill();
        return Err(std::io::Error::other("the child's pipes were not set up"));
    };
    Ok((Started { child, pgid }, stdout, stderr))
}

/// A script too long for the command line, written to a temporary file removed on drop.
pub(crate) struct ScriptFile(PathBuf);

impl ScriptFile {
    /// Writes `script` to `path`.
    pub(crate) fn write_at(path: PathBuf, script: &str) -> Result<ScriptFile, String> {
        std::fs::write(&path, script)
            .map_err(|e| format!("cannot write the step's script to {}: {e}", path.display()))?;
        Ok(ScriptFile(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    fn write(script: &str) -> Result<ScriptFile, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "slipway-step-{}-{}.sh",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ScriptFile::write_at(std::env::temp_dir().join(name), script)
    }
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Workspace for LocalWorkspace {
    fn root(&self) -> &Path {
        &self.root
    }

    async fn run_step(
        &mut self,
        cmd: StepCommand<'_>,
        masker: &SecretMasker,
        sink: &mut dyn LineSink,
        cancel: &CancelSignal,
    ) -> StepExit {
        if let Some(image) = cmd.image {
            return StepExit::SpawnFailed(format!(
                "the step asks for image `{image}`, but this workspace runs local processes only"
            ));
        }
        let cwd = match crate::paths::step_cwd(&self.root, cmd.workdir) {
            Ok(cwd) => cwd,
            Err(message) => return StepExit::SpawnFailed(message),
        };
        let mut script_file = None;
        let (started, stdout, stderr) = match self.start(&cmd, &cwd, &mut script_file) {
            Ok(started) => started,
            Err(message) => return StepExit::SpawnFailed(message),
        };
        crate::pump::enlarge_pipe(std::os::fd::AsRawFd::as_raw_fd(&stdout));
        crate::pump::enlarge_pipe(std::os::fd::AsRawFd::as_raw_fd(&stderr));
        let mut out = Pump::new(stdout, Stream::Stdout, masker);
        let mut err = Pump::new(stderr, Stream::Stderr, masker);
        let limits = Limits {
            timeout: cmd.timeout,
            grace: self.shared.grace,
        };
        let exit = process::supervise(started, limits, cancel, &mut out, &mut err, sink).await;
        drop(script_file);
        exit
    }

    fn hash_inputs(&self, globs: &[String]) -> Result<Vec<(String, Digest)>, ExecError> {
        let digests = &self.shared.digests;
        let files = crate::inputs::matched_files(&self.root, globs, &digests.dirs_listed)?;
        digests.hash_files(&self.root, files)
    }

    fn glob(&self, globs: &[String]) -> Result<Vec<String>, ExecError> {
        crate::inputs::matched_files(&self.root, globs, &self.shared.digests.dirs_listed)
    }

    fn read_file(&self, rel: &str, max_bytes: u64) -> Result<Vec<u8>, ExecError> {
        let path = resolve_inside(&self.root, rel).map_err(ExecError)?;
        let file = std::fs::File::open(&path)
            .map_err(|e| ExecError(format!("cannot open `{rel}`: {e}")))?;
        let size = file
            .metadata()
            .map_err(|e| ExecError(format!("cannot read `{rel}`: {e}")))?
            .len();
        if size > max_bytes {
            return Err(ExecError(format!(
                "`{rel}` is {size} bytes, more than the {max_bytes} allowed"
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| ExecError(format!("cannot read `{rel}`: {e}")))?;
        if bytes.len() as u64 > max_bytes {
            return Err(ExecError(format!(
                "`{rel}` grew beyond the {max_bytes} bytes allowed while being read"
            )));
        }
        Ok(bytes)
    }

    fn output_file(&mut self, step: usize) -> Result<PathBuf, ExecError> {
        // Not created here: a step that writes no outputs costs no file (creating and
        // deleting an inode per step is measurable across 1,000 trivial jobs). `>>` creates it;
        // a missing file reads as empty.
        let path = self.shared.outputs.path(self.id, step)?;
        if self.output_files.contains(&path) {
            // A new attempt starts empty.
            crate::outputs::remove(&path)?;
        } else {
            self.output_files.push(path.clone());
        }
        Ok(path)
    }

    fn read_output_file(&mut self, step: usize) -> Result<Vec<u8>, ExecError> {
        let path = self.shared.outputs.path(self.id, step)?;
        crate::outputs::read(&path)
    }

    async fn release(mut self) {
        if let Some(dir) = self.checkout.take() {
            // A checkout that cannot be removed only costs disk space; the next run of the
            // same job replaces it.
            let _ = crate::checkout::remove_dir(&dir).await;
            if let Some(run_dir) = dir.parent() {
                let _ = tokio::fs::remove_dir(run_dir).await;
            }
        }
    }
}

impl Drop for LocalWorkspace {
    fn drop(&mut self) {
        for file in self.output_files.drain(..) {
            let _ = std::fs::remove_file(file);
        }
    }
}
