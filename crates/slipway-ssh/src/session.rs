//! One master connection per target, and the commands and uploads that share it.

use std::ffi::OsString;
use std::future::pending;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use slipway_logs::{LineSplitter, SecretMasker, Stream};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::{SshError, classify, tail};
use crate::quote::{is_env_name, push_exports, shell_quote};
use crate::target::SshTarget;

/// Cancellation: the value flips to `true` once (the engine's `CancelSignal`).
pub type CancelSignal = watch::Receiver<bool>;

/// Most bytes of each stream kept in [`RemoteOutput`]; the callback still sees every line.
pub const MAX_COLLECTED: usize = 1 << 20;

/// Extra time allowed beyond the connect timeout for authentication before `connect` gives up.
const AUTH_MARGIN: Duration = Duration::from_secs(5);

/// Seconds the remote process group has between SIGTERM and SIGKILL after a timeout.
const KILL_GRACE_SECS: u32 = 5;

/// Bytes per read from the client's pipes.
const CHUNK: usize = 64 * 1024;

/// Gives each session its own control socket and log file name.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// How a remote command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteExit {
    /// The exit status of the command's shell: 128+N when the command died of signal N.
    Code(i32),
    /// The timeout elapsed; the remote process group was killed.
    TimedOut,
    /// Cancelled; the remote process group was killed.
    Cancelled,
}

impl RemoteExit {
    pub fn success(self) -> bool {
        self == RemoteExit::Code(0)
    }
}

/// A finished remote command: how it ended and its masked output, one `\n` after each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutput {
    pub exit: RemoteExit,
    /// Masked stdout, at most [`MAX_COLLECTED`] bytes.
    pub stdout: Vec<u8>,
    /// Masked stderr, at most [`MAX_COLLECTED`] bytes.
    pub stderr: Vec<u8>,
    /// Some output was left out of `stdout` or `stderr` for size.
    pub truncated: bool,
}

/// A live master connection to one target. Commands and uploads run as multiplexed sessions
/// over it; [`SshSession::close`] (or drop) ends it.
#[derive(Debug)]
pub struct SshSession {
    target: SshTarget,
    name: String,
    control_path: PathBuf,
    log_path: PathBuf,
    masker: SecretMasker,
    open: bool,
    uploads: AtomicU64,
}

impl SshSession {
    /// Starts the master connection (`ssh -M -f -N`, `ControlPersist=yes`) with its control
    /// socket in `control_dir`, and returns once the server has accepted the key. Fails within
    /// the connect timeout (plus a few seconds for authentication) with the cause.
    ///
    /// `control_dir` must be short: a UNIX socket path holds at most 107 bytes, and the socket's
    /// own name adds about 20 (`ssh` reports "path too long" otherwise).
    pub async fn connect(target: &SshTarget, control_dir: &Path) -> Result<SshSession, SshError> {
        target.validate()?;
        let name = target.display_name();
        let id = format!(
            "s{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let control_path = control_dir.join(&id);
        let log_path = control_dir.join(format!("{id}.log"));
        let io = |what: &'static str| {
            let target = name.clone();
            move |source| SshError::Io {
                target,
                what,
                source,
            }
        };
        std::fs::create_dir_all(control_dir).map_err(io("creating the control directory"))?;
        // The master's messages go to a file: it keeps running after `-f`, so a pipe to it
        // would never reach end of file.
        let _ = std::fs::remove_file(&log_path);
        let mut cmd = Command::new("ssh");
        cmd.args(target.common_args(&control_path))
            .args([
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=yes",
                "-f",
                "-N",
                "-E",
            ])
            .arg(&log_path)
            .arg(&target.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(io("starting ssh"))?;
        let limit = target.connect_timeout + AUTH_MARGIN;
        let status = match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => status.map_err(io("waiting for ssh"))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(SshError::Connect {
                    target: name,
                    cause: crate::ConnectCause::Timeout,
                    detail: format!("no session after {limit:?}"),
                });
            }
        };
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if !status.success() {
            let _ = std::fs::remove_file(&log_path);
            return Err(SshError::Connect {
                target: name,
                cause: classify(&log),
                detail: tail(&log),
            });
        }
        Ok(SshSession {
            target: target.clone(),
            name,
            control_path,
            log_path,
            masker: SecretMasker::new(std::iter::empty::<&str>()),
            open: true,
            uploads: AtomicU64::new(0),
        })
    }

    /// Masks these secrets in every line of remote output from now on.
    pub fn set_masker(&mut self, masker: SecretMasker) {
        self.masker = masker;
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// The master's control socket.
    pub fn control_path(&self) -> &Path {
        &self.control_path
    }

    /// Asks the master whether it is alive (`ssh -O check`).
    pub async fn check(&self) -> bool {
        let mut cmd = self.control_command("check");
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        matches!(cmd.status().await, Ok(s) if s.success())
    }

    /// Runs `command` with `/bin/sh -c` on the target, with `env` exported first, and hands
    /// each masked output line to `on_line`. On `timeout` or `cancel` the remote process group
    /// gets SIGTERM, then SIGKILL after a grace period.
    ///
    /// The remote user's shell runs `echo $$; export K='v'; …; /bin/sh -c 'COMMAND'; exit $?`.
    /// sshd starts every session in a new session and process group (setsid), so the echoed
    /// pid is the group to kill; the line is consumed here and never reaches `on_line`.
    pub async fn run(
        &self,
        command: &str,
        env: &[(String, String)],
        timeout: Option<Duration>,
        cancel: Option<CancelSignal>,
        on_line: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<RemoteOutput, SshError> {
        if let Some((bad, _)) = env.iter().find(|(k, _)| !is_env_name(k)) {
            return Err(SshError::InvalidEnvName {
                target: self.name.clone(),
                name: bad.clone(),
            });
        }
        let mut script = String::with_capacity(command.len() + 64);
        script.push_str("echo $$; ");
        push_exports(&mut script, env);
        script.push_str("/bin/sh -c ");
        script.push_str(&shell_quote(command));
        script.push_str("; exit $?");
        let mut cmd = self.client_command(&script);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(self.io("starting ssh"))?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = Collect::new(&self.masker);
        let ended = pump(&mut child, &mut state, deadline, cancel, on_line).await;
        if let Some(exit) = ended {
            if let Some(pgid) = state.pgid {
                self.kill_group(pgid).await;
            }
            let _ = child.kill().await;
            state.finish(on_line);
            return Ok(state.into_output(exit));
        }
        let status = child.wait().await.map_err(self.io("waiting for ssh"))?;
        state.finish(on_line);
        match status.code() {
            Some(255) if state.pgid.is_none() || !self.check().await => {
                Err(SshError::ConnectionLost {
                    target: self.name.clone(),
                    detail: String::from_utf8_lossy(&state.stderr).trim().to_owned(),
                })
            }
            Some(code) => Ok(state.into_output(RemoteExit::Code(code))),
            None => Err(SshError::ConnectionLost {
                target: self.name.clone(),
                detail: "the ssh client was killed".to_owned(),
            }),
        }
    }

    /// Copies `local` to `remote` with its permission bits: the bytes go to a temporary file
    /// beside `remote` (`cat` from the client's stdin), which is then `chmod`ed and renamed over
    /// `remote`, so the remote path holds either the old file or the whole new one.
    pub async fn upload(&self, local: &Path, remote: &str) -> Result<(), SshError> {
        let file = std::fs::File::open(local).map_err(self.io("opening the file to upload"))?;
        let meta = file
            .metadata()
            .map_err(self.io("reading the file to upload"))?;
        let mode = meta.permissions().mode() & 0o7777;
        let n = self.uploads.fetch_add(1, Ordering::Relaxed);
        let tmp = shell_quote(&format!("{remote}.slipway-tmp-{}-{n}", std::process::id()));
        let dest = shell_quote(remote);
        let script = format!(
            "umask 077 && cat > {tmp} && chmod {mode:o} -- {tmp} && mv -f -- {tmp} {dest} \
             || {{ rm -f -- {tmp}; exit 1; }}"
        );
        let mut cmd = self.client_command(&script);
        cmd.stdin(Stdio::from(file))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = cmd.output().await.map_err(self.io("running ssh"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(SshError::Upload {
            target: self.name.clone(),
            remote: remote.to_owned(),
            detail: tail(&String::from_utf8_lossy(&out.stderr)),
        })
    }

    /// Ends the master connection (`ssh -O exit`).
    pub async fn close(mut self) -> Result<(), SshError> {
        self.open = false;
        let mut cmd = self.control_command("exit");
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let status = cmd.status().await.map_err(self.io("running ssh -O exit"));
        let _ = std::fs::remove_file(&self.log_path);
        status.map(|_| ())
    }

    /// Sends SIGTERM to the remote group, waits up to the grace period, then SIGKILL.
    async fn kill_group(&self, pgid: u32) {
        let script = format!(
            "kill -TERM -{pgid} 2>/dev/null; i=0; \
             while [ $i -lt {KILL_GRACE_SECS} ] && kill -0 -{pgid} 2>/dev/null; do sleep 1; i=$((i+1)); done; \
             kill -KILL -{pgid} 2>/dev/null; exit 0"
        );
        let mut cmd = self.client_command(&script);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status().await;
    }

    /// An `ssh` client that goes through the master only. `ProxyCommand=false` stops it from
    /// silently opening a second connection when the master is gone.
    fn client_command(&self, script: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.target.common_args(&self.control_path))
            .args(["-o", "ControlMaster=no", "-o", "ProxyCommand=false", "-T"])
            .arg(&self.target.host)
            .arg(script)
            .kill_on_drop(true);
        cmd
    }

    fn control_command(&self, op: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.target.common_args(&self.control_path))
            .args(["-O", op])
            .arg(&self.target.host)
            .stdin(Stdio::null());
        cmd
    }

    fn io(&self, what: &'static str) -> impl FnOnce(std::io::Error) -> SshError + '_ {
        move |source| SshError::Io {
            target: self.name.clone(),
            what,
            source,
        }
    }
}

impl Drop for SshSession {
    /// Without `close`, the master (running with `ControlPersist=yes`) would outlive us.
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let args: Vec<OsString> = self.target.common_args(&self.control_path);
        let _ = std::process::Command::new("ssh")
            .args(args)
            .args(["-O", "exit"])
            .arg(&self.target.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// Output assembly of one command: the pgid line, masked lines, the collected copies.
struct Collect {
    pgid: Option<u32>,
    /// Stdout bytes before the pgid line is complete.
    head: Vec<u8>,
    head_done: bool,
    out: LineSplitter,
    err: LineSplitter,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    truncated: bool,
}

impl Collect {
    fn new(masker: &SecretMasker) -> Collect {
        Collect {
            pgid: None,
            head: Vec::new(),
            head_done: false,
            out: LineSplitter::new(masker.clone()),
            err: LineSplitter::new(masker.clone()),
            stdout: Vec::new(),
            stderr: Vec::new(),
            truncated: false,
        }
    }

    fn feed(&mut self, stream: Stream, mut chunk: &[u8], on_line: &mut dyn FnMut(Stream, &[u8])) {
        if stream == Stream::Stdout && !self.head_done {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.head
                        .extend_from_slice(chunk.get(..i).unwrap_or_default());
                    chunk = chunk.get(i + 1..).unwrap_or_default();
                    self.pgid = std::str::from_utf8(&self.head)
                        .ok()
                        .and_then(|s| s.trim().parse().ok());
                    self.head_done = true;
                }
                None => {
                    self.head.extend_from_slice(chunk);
                    return;
                }
            }
        }
        let (splitter, kept) = match stream {
            Stream::Stdout => (&mut self.out, &mut self.stdout),
            Stream::Stderr => (&mut self.err, &mut self.stderr),
        };
        let truncated = &mut self.truncated;
        splitter.feed(chunk, |line| emit(stream, line, kept, truncated, on_line));
    }

    fn finish(&mut self, on_line: &mut dyn FnMut(Stream, &[u8])) {
        let truncated = &mut self.truncated;
        let kept = &mut self.stdout;
        self.out
            .finish(|line| emit(Stream::Stdout, line, kept, truncated, on_line));
        let kept = &mut self.stderr;
        self.err
            .finish(|line| emit(Stream::Stderr, line, kept, truncated, on_line));
    }

    fn into_output(self, exit: RemoteExit) -> RemoteOutput {
        RemoteOutput {
            exit,
            stdout: self.stdout,
            stderr: self.stderr,
            truncated: self.truncated,
        }
    }
}

fn emit(
    stream: Stream,
    line: &[u8],
    kept: &mut Vec<u8>,
    truncated: &mut bool,
    on_line: &mut dyn FnMut(Stream, &[u8]),
) {
    on_line(stream, line);
    if kept.len() + line.len() < MAX_COLLECTED {
        kept.extend_from_slice(line);
        kept.push(b'\n');
    } else {
        *truncated = true;
    }
}

/// Reads both pipes until they close, the deadline passes or `cancel` fires; returns the
/// exit to report when the command must be killed.
async fn pump(
    child: &mut Child,
    state: &mut Collect,
    deadline: Option<Instant>,
    mut cancel: Option<CancelSignal>,
    on_line: &mut (dyn FnMut(Stream, &[u8]) + Send),
) -> Option<RemoteExit> {
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return None;
    };
    let mut out_buf = vec![0u8; CHUNK];
    let mut err_buf = vec![0u8; CHUNK];
    let (mut out_open, mut err_open) = (true, true);
    let expired = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => pending().await,
        }
    };
    tokio::pin!(expired);
    while out_open || err_open {
        tokio::select! {
            n = read(&mut stdout, &mut out_buf), if out_open => match n {
                0 => out_open = false,
                n => state.feed(Stream::Stdout, out_buf.get(..n).unwrap_or_default(), on_line),
            },
            n = read(&mut stderr, &mut err_buf), if err_open => match n {
                0 => err_open = false,
                n => state.feed(Stream::Stderr, err_buf.get(..n).unwrap_or_default(), on_line),
            },
            () = &mut expired => return Some(RemoteExit::TimedOut),
            () = cancelled(&mut cancel) => return Some(RemoteExit::Cancelled),
        }
    }
    None
}

/// A read where an error counts as end of file: the exit status tells what happened.
async fn read(r: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> usize {
    r.read(buf).await.unwrap_or(0)
}

/// Resolves once the signal is `true`; never, without a signal or once its sender is gone.
async fn cancelled(cancel: &mut Option<CancelSignal>) {
    let Some(rx) = cancel else {
        return pending().await;
    };
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return pending().await;
        }
    }
}
