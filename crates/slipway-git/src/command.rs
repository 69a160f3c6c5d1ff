//! Running the `git` program: a fixed environment, a time limit, bounded output.
//!
//! Each git runs as the leader of its own process group, so that a timeout kills what it
//! started too (`git-remote-https`, `ssh`, `upload-pack`), not only git itself.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::GitError;
use crate::redact::redact_with;

/// How git is run. [`Default`] runs `git` from `PATH` with generous limits.
#[derive(Debug, Clone)]
pub struct GitOptions {
    /// The git program.
    pub program: PathBuf,
    /// Limit for operations that may talk to a remote (clone, fetch, checkout from a URL).
    pub network_timeout: Duration,
    /// Limit for operations on local repositories only (refs, diffs, reading files).
    pub local_timeout: Duration,
}

impl Default for GitOptions {
    fn default() -> Self {
        Self {
            program: PathBuf::from("git"),
            network_timeout: Duration::from_secs(600),
            local_timeout: Duration::from_secs(60),
        }
    }
}

/// Most of standard error kept for a message; git's useful line is at the start.
const STDERR_LIMIT: usize = 4096;

/// Configuration given to every git: the transports it may use, and no hooks (a user's global
/// `core.hooksPath` has no business running in mirrors and workspaces).
const FORCED_CONFIG: [(&str, &str); 7] = [
    ("core.hooksPath", "/dev/null"),
    ("protocol.allow", "never"),
    ("protocol.file.allow", "always"),
    ("protocol.https.allow", "always"),
    ("protocol.http.allow", "always"),
    ("protocol.ssh.allow", "always"),
    ("protocol.git.allow", "always"),
];

/// What a git invocation is, for its error messages.
pub(crate) struct Context<'a> {
    pub operation: &'static str,
    /// The repository, already redacted.
    pub repo: &'a str,
    /// A credential to mask in git's output beyond URL userinfo.
    pub secret: Option<&'a str>,
}

/// The error for a failed file-system operation, as a `map_err` argument.
pub(crate) fn io_error(
    operation: &'static str,
    repo: &str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> GitError + use<> {
    let repo = repo.to_owned();
    let path = path.to_owned();
    move |source| GitError::Io {
        operation,
        repo,
        path,
        source,
    }
}

pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// Standard output went over the limit; the process was stopped and `stdout` is a prefix.
    pub truncated: bool,
    /// Standard error, lossily decoded, redacted, trimmed.
    pub stderr: String,
}

impl Output {
    /// The error for an unsuccessful exit.
    pub fn failure(&self, ctx: &Context<'_>) -> GitError {
        GitError::Failed {
            operation: ctx.operation,
            repo: ctx.repo.to_owned(),
            status: self.status.to_string(),
            stderr: if self.stderr.is_empty() {
                "(no message)".to_owned()
            } else {
                self.stderr.clone()
            },
        }
    }
}

/// Runs git with `args` and returns its output whatever its exit status (the caller decides
/// what a status means). Standard output beyond `stdout_limit` bytes stops the process and
/// sets [`Output::truncated`].
pub(crate) async fn run<I, S>(
    options: &GitOptions,
    timeout: Duration,
    ctx: &Context<'_>,
    args: I,
    stdout_limit: usize,
) -> Result<Output, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(&options.program);
    // Variables that would point git at another repository than the one on the command line
    // (set, for instance, when the server itself runs from a git hook).
    for inherited in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_COMMON_DIR",
    ] {
        command.env_remove(inherited);
    }
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Never wait for a person: no terminal prompt, no credential-manager window.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        // Messages in one language, paths taken literally (no globbing, no magic).
        .env("LC_ALL", "C")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .kill_on_drop(true)
        .process_group(0);
    // Only these transports, whatever the user's configuration says about others (remote
    // helpers, `ext::`). Set through the environment so that it holds for every subcommand
    // git starts.
    command.env("GIT_CONFIG_COUNT", FORCED_CONFIG.len().to_string());
    for (index, (key, value)) in FORCED_CONFIG.iter().enumerate() {
        command
            .env(format!("GIT_CONFIG_KEY_{index}"), key)
            .env(format!("GIT_CONFIG_VALUE_{index}"), value);
    }
    if std::env::var_os("GIT_SSH_COMMAND").is_none() && std::env::var_os("GIT_SSH").is_none() {
        // ssh would otherwise ask for a passphrase or a host-key confirmation on the terminal.
        command.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
    }
    let mut child = command.spawn().map_err(|source| GitError::Spawn {
        program: options.program.display().to_string(),
        operation: ctx.operation,
        repo: ctx.repo.to_owned(),
        source,
    })?;
    let pid = child.id();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(pid);
        return Err(unexpected(
            ctx,
            "git's output pipes were not available".to_owned(),
        ));
    };

    let work = async {
        let ((stdout, truncated), (stderr, _)) = tokio::join!(
            read_limited(stdout, stdout_limit, Overflow::Stop),
            read_limited(stderr, STDERR_LIMIT, Overflow::Drain)
        );
        if truncated {
            // Git may be blocked writing, or have children holding the pipe: stop them all.
            kill_group(pid);
        }
        child
            .wait()
            .await
            .map(|status| (status, stdout, truncated, stderr))
    };
    let finished = tokio::time::timeout(timeout, work).await;
    let (status, stdout, truncated, stderr) = match finished {
        Ok(Ok(done)) => done,
        Ok(Err(source)) => {
            return Err(GitError::Io {
                operation: "waiting for git",
                repo: ctx.repo.to_owned(),
                path: options.program.clone(),
                source,
            });
        }
        Err(_elapsed) => {
            // The child has not been reaped (its wait did not finish), so its pid, which is
            // also its group id, cannot have been reused yet.
            kill_group(pid);
            let _ = child.wait().await;
            return Err(GitError::Timeout {
                operation: ctx.operation,
                repo: ctx.repo.to_owned(),
                after: timeout,
            });
        }
    };
    let stderr = redact_with(String::from_utf8_lossy(&stderr).trim(), ctx.secret);
    Ok(Output {
        status,
        stdout,
        truncated,
        stderr,
    })
}

/// Runs git and requires success; returns standard output, which must fit in `stdout_limit`.
pub(crate) async fn run_ok<I, S>(
    options: &GitOptions,
    timeout: Duration,
    ctx: &Context<'_>,
    args: I,
    stdout_limit: usize,
) -> Result<Vec<u8>, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = run(options, timeout, ctx, args, stdout_limit).await?;
    if output.truncated {
        return Err(unexpected(
            ctx,
            format!("more than {stdout_limit} bytes of output"),
        ));
    }
    if !output.status.success() {
        return Err(output.failure(ctx));
    }
    Ok(output.stdout)
}

pub(crate) fn unexpected(ctx: &Context<'_>, detail: String) -> GitError {
    GitError::Unexpected {
        operation: ctx.operation,
        repo: ctx.repo.to_owned(),
        detail,
    }
}

/// What [`read_limited`] does once it holds `limit` bytes.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    /// Return at once (dropping the pipe, so the writer gets EPIPE).
    Stop,
    /// Keep reading and discard the rest, so that a chatty git is not disturbed.
    Drain,
}

/// Reads `reader` to its end, keeping at most `limit` bytes; the flag is true when more arrived.
async fn read_limited<R: AsyncRead + Unpin>(
    mut reader: R,
    limit: usize,
    overflow: Overflow,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut over = false;
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return (kept, over),
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
                if n > room {
                    over = true;
                    if overflow == Overflow::Stop {
                        return (kept, over);
                    }
                }
            }
        }
    }
}

/// SIGKILL to the process group git leads (`process_group(0)` made its pid the group id).
fn kill_group(pid: Option<u32>) {
    let Some(pgid) = pid.and_then(|pid| libc::pid_t::try_from(pid).ok()) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions; a pgid above 1 never means "all
        // processes", and the group leader is not reaped yet, so the id is still ours.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}
