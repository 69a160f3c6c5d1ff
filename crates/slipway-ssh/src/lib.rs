//! Commands and uploads on `ssh` targets, over real OpenSSH with one multiplexed connection per
//! target.
//!
//! ```text
//! SshSession::connect ─► ssh -M -f -N (ControlPersist=yes, socket in control_dir) ◄─ master
//!      run / upload   ─► ssh -o ControlMaster=no … host 'script'  ─► over the master's socket
//!      close / drop   ─► ssh -O exit
//! ```
//!
//! Why the system client driven by hand rather than a library: it is the OpenSSH users already
//! configure and trust, multiplexing makes each command one local socket round trip (no TCP or
//! key exchange), and the few options we need are plain arguments. Every invocation uses
//! `-F /dev/null` and `BatchMode=yes`, so neither `~/.ssh/config` nor a prompt can change what
//! happens; only the target's key is offered; host keys are checked against the target's own
//! known-hosts file ([`KnownHosts`]).
//!
//! Remote commands: OpenSSH hands one string to the remote user's shell, so everything is quoted
//! here with [`shell_quote`]; environment variables become `export K='v';` prefixes inside that
//! string (never logged: they may be secrets). Output lines go through
//! [`slipway_logs::LineSplitter`] with the session's [`SecretMasker`](slipway_logs::SecretMasker),
//! the same masking pipeline as local steps.
//!
//! Timeouts and cancellation: killing the local `ssh` client does not stop a remote command that
//! has no terminal. sshd starts every session in its own process group, whose id the wrapper
//! prints first; on timeout a second command over the master sends SIGTERM to that group, then
//! SIGKILL after a grace period.

mod error;
mod quote;
mod session;
mod target;

pub use error::{ConnectCause, SshError};
pub use quote::{is_env_name, shell_quote};
pub use session::{CancelSignal, MAX_COLLECTED, RemoteExit, RemoteOutput, SshSession};
pub use slipway_logs::Stream;
pub use target::{KnownHosts, SshTarget};
