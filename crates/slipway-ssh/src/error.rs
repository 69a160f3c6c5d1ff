//! Errors, each naming the target as `user@host:port`.

use std::fmt;

/// Why the master connection could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectCause {
    /// Nothing listens on the port.
    Refused,
    /// No answer within the connect timeout.
    Timeout,
    /// The server rejected the key.
    AuthFailed,
    /// The server's key differs from the one recorded for it.
    HostKeyMismatch,
    /// Strict checking and the host is not in the known-hosts file.
    HostKeyUnknown,
    /// The host name does not resolve.
    UnknownHost,
    /// Anything else; the detail says what `ssh` reported.
    Other,
}

impl fmt::Display for ConnectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectCause::Refused => "connection refused",
            ConnectCause::Timeout => "connection timed out",
            ConnectCause::AuthFailed => "authentication failed",
            ConnectCause::HostKeyMismatch => "host key mismatch (the server's key has changed)",
            ConnectCause::HostKeyUnknown => "host key unknown (not in the known-hosts file)",
            ConnectCause::UnknownHost => "host name does not resolve",
            ConnectCause::Other => "ssh failed",
        })
    }
}

/// An error from an ssh target.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("ssh target {target}: {reason}")]
    InvalidTarget { target: String, reason: String },
    #[error("ssh {target}: {cause}: {detail}")]
    Connect {
        target: String,
        cause: ConnectCause,
        /// The last lines `ssh` printed.
        detail: String,
    },
    #[error("ssh {target}: environment variable name {name:?} is not a valid shell name")]
    InvalidEnvName { target: String, name: String },
    #[error("ssh {target}: the connection was lost: {detail}")]
    ConnectionLost { target: String, detail: String },
    #[error("ssh {target}: upload to {remote}: {detail}")]
    Upload {
        target: String,
        remote: String,
        detail: String,
    },
    #[error("ssh {target}: {what}: {source}")]
    Io {
        target: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Classifies what `ssh` printed when the master failed.
pub(crate) fn classify(log: &str) -> ConnectCause {
    let has = |s: &str| log.contains(s);
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key for") && has("has changed") {
        ConnectCause::HostKeyMismatch
    } else if has("No ") && has("host key is known") || has("Host key verification failed") {
        ConnectCause::HostKeyUnknown
    } else if has("Connection refused") {
        ConnectCause::Refused
    } else if has("timed out") {
        ConnectCause::Timeout
    } else if has("Permission denied") || has("Too many authentication failures") {
        ConnectCause::AuthFailed
    } else if has("Could not resolve hostname") || has("Name or service not known") {
        ConnectCause::UnknownHost
    } else {
        ConnectCause::Other
    }
}

/// The last few non-empty lines of `ssh`'s output, for an error message.
pub(crate) fn tail(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(3);
    lines.get(start..).unwrap_or_default().join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_openssh_messages() {
        let cases = [
            (
                "ssh: connect to host 127.0.0.1 port 9: Connection refused",
                ConnectCause::Refused,
            ),
            (
                "ssh: connect to host 10.0.0.1 port 22: Connection timed out",
                ConnectCause::Timeout,
            ),
            (
                "slipway-test@127.0.0.1: Permission denied (publickey).",
                ConnectCause::AuthFailed,
            ),
            (
                "@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @",
                ConnectCause::HostKeyMismatch,
            ),
            (
                "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.",
                ConnectCause::HostKeyUnknown,
            ),
            (
                "ssh: Could not resolve hostname nope: Name or service not known",
                ConnectCause::UnknownHost,
            ),
            ("something new", ConnectCause::Other),
        ];
        for (log, cause) in cases {
            assert_eq!(classify(log), cause, "{log}");
        }
    }

    #[test]
    fn tail_keeps_last_three_lines() {
        assert_eq!(tail("a\n\nb\nc\nd\n"), "b / c / d");
        assert_eq!(tail(""), "");
    }
}
