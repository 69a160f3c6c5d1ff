//! Errors of the HAProxy client. Each says what is wrong and, where HAProxy can tell us, what
//! exists instead, so that a misspelt backend or server name is fixed without opening HAProxy.

use std::time::Duration;

/// Everything that can go wrong talking to HAProxy's runtime API.
#[derive(Debug, thiserror::Error)]
pub enum LbError {
    /// The socket is missing, refuses connections, or does not accept the connection in time.
    #[error("HAProxy runtime API at {endpoint} not reachable: {reason}")]
    Unreachable {
        /// The endpoint as configured (socket path or address).
        endpoint: String,
        /// Why the connection failed (the OS error, or a timeout).
        reason: String,
    },
    /// Connected, but the conversation failed (write, read or timeout while reading).
    #[error("HAProxy runtime API at {endpoint} failed during `{command}`: {reason}")]
    Conversation {
        /// The endpoint as configured.
        endpoint: String,
        /// The command that was sent.
        command: String,
        /// What went wrong.
        reason: String,
    },
    /// HAProxy has no backend of that name.
    #[error(
        "HAProxy has no backend `{backend}`; its backends are: {}",
        list(known)
    )]
    UnknownBackend {
        /// The name asked for.
        backend: String,
        /// The backends HAProxy has (`show backend`).
        known: Vec<String>,
    },
    /// The backend has no server of that name.
    #[error(
        "HAProxy backend `{backend}` has no server `{server}`; its servers are: {}",
        list(known)
    )]
    UnknownServer {
        /// The backend asked for.
        backend: String,
        /// The server name asked for.
        server: String,
        /// The servers of that backend (`show servers state`).
        known: Vec<String>,
    },
    /// HAProxy answered a command with an error message.
    #[error("HAProxy refused `{command}`: {message}")]
    Refused {
        /// The command that was sent.
        command: String,
        /// HAProxy's own message.
        message: String,
    },
    /// HAProxy's answer could not be understood (a different version or format than expected).
    #[error("unexpected answer from HAProxy to `{command}`: {detail}")]
    Protocol {
        /// The command that was sent.
        command: String,
        /// What did not parse.
        detail: String,
    },
    /// A backend or server name that cannot be sent safely (it would change the command).
    #[error(
        "invalid HAProxy {what} name `{name}`: only letters, digits, `-`, `_`, `.` and `:` are allowed"
    )]
    InvalidName {
        /// "backend" or "server".
        what: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A weight outside what HAProxy accepts, or text that is not a weight.
    #[error(
        "invalid weight `{0}`: expected 0 to 256, or a percentage of the initial weight like `50%`"
    )]
    InvalidWeight(String),
    /// `wait_drained` was given a zero poll interval.
    #[error("invalid poll interval {0:?}: must be greater than zero")]
    InvalidPoll(Duration),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// Result with [`LbError`].
pub type Result<T, E = LbError> = std::result::Result<T, E>;
