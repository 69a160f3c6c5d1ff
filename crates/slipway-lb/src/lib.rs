//! HAProxy runtime API client for deployments: take a server out of a backend, wait for its
//! sessions to end, put it back, move traffic with weights, and re-apply intended state.
//!
//! # Runtime API commands used, and why
//!
//! | command | used by | why this one |
//! |---|---|---|
//! | `show servers state B` | [`HaproxyClient::servers`], [`HaproxyClient::apply`] | the only dump with the admin state bits (`srv_admin_state`: drain and maint, forced or inherited) and both the user and the initial weight (`srv_uweight`, `srv_iweight`); percentages refer to the initial weight |
//! | `show stat B 4 -1` | [`HaproxyClient::servers`], [`HaproxyClient::wait_drained`] | current sessions (`scur`), which the state dump lacks; `4 -1` limits the CSV to that backend's servers |
//! | `show backend` | errors | lists the backends when a backend name is unknown |
//! | `set server B/S state ready\|drain\|maint` | [`HaproxyClient::set_state`] | the admin state; `drain` stops new sessions while existing ones finish |
//! | `set weight B/S N\|N%` | [`HaproxyClient::set_weight`] | canary traffic shares; `N%` is relative to the configured weight |
//!
//! # One command per connection
//!
//! Each command opens a connection, sends one line, and reads until HAProxy closes (the
//! non-interactive mode; no `prompt`). The end of an answer is then EOF, with nothing to frame,
//! and a reload — which replaces the worker and its socket — never leaves the client talking to
//! an old worker over a kept-open connection. Every command has a time limit
//! ([`HaproxyClient::with_timeout`]) for connecting and again for the answer.
//!
//! # Reloads
//!
//! A reload (or restart) resets admin states and weights to the configuration file's values.
//! The deployer therefore keeps a [`DesiredState`] and calls [`HaproxyClient::apply`] again
//! (after each reload, or before each step), which changes only what differs.
//!
//! The socket must be `level admin` for the `set` commands.

mod client;
mod error;
mod model;
mod parse;
mod transport;

pub use client::{DEFAULT_TIMEOUT, HaproxyClient};
pub use error::{LbError, Result};
pub use model::{
    Change, DesiredServer, DesiredState, DrainOutcome, MAX_WEIGHT, OperationalState, ServerState,
    State, Weight,
};
pub use transport::Endpoint;
