//! One deployment per environment at a time: `flock` on `STATE/ENV/lock`.
//!
//! A second deployment of the same environment WAITS (saying so in its log,
//! with the holder's run written in the lock file) until the first ends or
//! it is cancelled: two runs deploying one environment are normal in CI and
//! the later one should follow, not fail. The kernel drops the lock when the
//! holder exits, even by SIGKILL, so a crash never leaves it stuck.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use slipway_engine::ports::CancelSignal;

use crate::{DeployError, DeployLog};

/// Held while a deployment runs; released when dropped.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
}

/// Takes the lock of the environment in `env_dir`, waiting for it.
pub async fn acquire(
    env_dir: &Path,
    holder: &str,
    log: &mut dyn DeployLog,
    cancel: &CancelSignal,
) -> Result<EnvLock, DeployError> {
    std::fs::create_dir_all(env_dir)
        .map_err(|e| DeployError::State(format!("{}: {e}", env_dir.display())))?;
    let path = env_dir.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| DeployError::State(format!("{}: {e}", path.display())))?;
    let mut said = false;
    loop {
        // SAFETY: flock on a descriptor we own.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if taken {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = file.write_all(holder.as_bytes());
            return Ok(EnvLock { _file: file });
        }
        if *cancel.borrow() {
            return Err(DeployError::Cancelled);
        }
        if !said {
            let mut other = String::new();
            let _ = file.rewind();
            let _ = file.read_to_string(&mut other);
            log.line(&format!(
                "waiting for the deployment of {} by {} to finish",
                env_dir.display(),
                if other.is_empty() {
                    "another process"
                } else {
                    other.trim()
                }
            ));
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
