//! A command: `sh -c TEXT` in its own process group, its standard output read as a number
//! (`0.02`), or as JSON (a number, an array, or an object with the configured pointer).
//! A non-zero exit, a timeout (the whole group is killed), or output that is no number is an
//! error; an empty array is [`FetchError::NoData`].

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::json::{extract, parse_float};
use super::{FetchError, MetricValue};

/// Standard output beyond this is not read.
const MAX_OUTPUT: u64 = 1 << 20;

#[derive(Debug, Clone)]
pub(crate) struct CommandProvider {
    timeout: Duration,
}

impl CommandProvider {
    pub(crate) fn new(timeout: Duration) -> CommandProvider {
        CommandProvider { timeout }
    }

    pub(crate) async fn fetch(
        &self,
        command: &str,
        path: Option<&str>,
    ) -> Result<MetricValue, FetchError> {
        let fail = |message: String| FetchError::Command(format!("command `{command}`: {message}"));
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| fail(format!("cannot start /bin/sh: {error}")))?;
        let pid = child.id();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let run = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(pipe) = stdout.as_mut() {
                    let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(pipe) = stderr.as_mut() {
                    let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        let (status, out, err) = match tokio::time::timeout(self.timeout, run).await {
            Ok(done) => done,
            Err(_) => {
                if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
                    // SAFETY: kill(2) on the process group this command started.
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                }
                return Err(fail(format!("no answer within {:?}", self.timeout)));
            }
        };
        let status = status.map_err(|error| fail(format!("cannot wait for it: {error}")))?;
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(fail(format!("{status}: {last}")));
        }
        let text = String::from_utf8_lossy(&out);
        let text = text.trim();
        if path.is_none()
            && let Some(value) = parse_float(text)
        {
            return Ok(MetricValue::Scalar(value));
        }
        let document: serde_json::Value = serde_json::from_str(text).map_err(|_| {
            let shown: String = text.chars().take(80).collect();
            fail(format!(
                "the output is neither a number nor JSON: {shown:?}"
            ))
        })?;
        match extract(&document, path).map_err(fail)? {
            MetricValue::Vector(values) if values.is_empty() => Err(FetchError::NoData),
            value => Ok(value),
        }
    }
}
