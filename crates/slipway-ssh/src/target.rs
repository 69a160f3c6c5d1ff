//! What a target is and the `ssh` options every invocation for it shares.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::SshError;

/// How the server's host key is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownHosts {
    /// Only keys already in this file are accepted (`StrictHostKeyChecking=yes`): an unknown or
    /// changed key refuses the connection.
    Strict(PathBuf),
    /// Trust on first use (`StrictHostKeyChecking=accept-new`): an unknown host's key is
    /// recorded in this file; a changed key is still refused.
    AcceptNew(PathBuf),
}

/// A host reached over OpenSSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Host name or address.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key file; the only identity offered (`IdentitiesOnly=yes`).
    pub key_path: PathBuf,
    pub known_hosts: KnownHosts,
    /// Limit for the TCP connection and the SSH handshake; rounded up to whole seconds for
    /// OpenSSH.
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// `user@host:port`, as errors name the target.
    pub fn display_name(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    /// Rejects values `ssh` would read as options or that cannot name a host or user.
    pub(crate) fn validate(&self) -> Result<(), SshError> {
        let bad = |what: &str, value: &str| SshError::InvalidTarget {
            target: self.display_name(),
            reason: format!("{what} {value:?} is not allowed"),
        };
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && s.chars().all(|c| !c.is_whitespace() && !c.is_control())
        };
        if !plain(&self.host) || self.host.contains('@') {
            return Err(bad("host", &self.host));
        }
        if !plain(&self.user) || self.user.contains('@') || self.user.contains(':') {
            return Err(bad("user", &self.user));
        }
        if self.port == 0 {
            return Err(bad("port", "0"));
        }
        Ok(())
    }

    /// Options shared by the master and every client: no user or system configuration, no
    /// prompts, this key only, this known-hosts policy, and the control socket.
    pub(crate) fn common_args(&self, control_path: &Path) -> Vec<OsString> {
        let secs =
            self.connect_timeout.as_secs() + u64::from(self.connect_timeout.subsec_nanos() > 0);
        let (strict, file) = match &self.known_hosts {
            KnownHosts::Strict(p) => ("yes", p),
            KnownHosts::AcceptNew(p) => ("accept-new", p),
        };
        let mut args: Vec<OsString> = Vec::with_capacity(32);
        let mut opt = |k: &str, v: &std::ffi::OsStr| {
            args.push("-o".into());
            let mut s = OsString::from(k);
            s.push("=");
            s.push(v);
            args.push(s);
        };
        opt("BatchMode", "yes".as_ref());
        opt("IdentitiesOnly", "yes".as_ref());
        opt("IdentityFile", self.key_path.as_os_str());
        opt("StrictHostKeyChecking", strict.as_ref());
        opt("UserKnownHostsFile", file.as_os_str());
        opt("GlobalKnownHostsFile", "/dev/null".as_ref());
        opt("ConnectTimeout", secs.max(1).to_string().as_ref());
        opt("ServerAliveInterval", "15".as_ref());
        opt("ServerAliveCountMax", "3".as_ref());
        opt("ControlPath", control_path.as_os_str());
        let mut tail: Vec<OsString> = vec![
            "-F".into(),
            "/dev/null".into(),
            "-p".into(),
            self.port.to_string().into(),
            "-l".into(),
            self.user.clone().into(),
        ];
        args.append(&mut tail);
        args
    }
}
