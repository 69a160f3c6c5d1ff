//! What the client reports and accepts: server states, admin states, weights.

use std::fmt;
use std::str::FromStr;

use crate::error::LbError;

/// The administrative state an operator (or Slipway) sets with `set server B/S state …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Takes traffic.
    Ready,
    /// Takes no new sessions (except persistent ones); existing sessions finish.
    Drain,
    /// Takes no traffic at all; existing sessions are not killed by HAProxy.
    Maint,
}

impl State {
    /// The word HAProxy's `set server … state` expects.
    pub fn as_haproxy_word(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Drain => "drain",
            State::Maint => "maint",
        }
    }

    /// Derives the state from `srv_admin_state` of `show servers state`. Any maintenance flag
    /// (forced, inherited, configuration, resolution, hostname) wins over drain flags, as in HAProxy.
    pub fn from_admin_flags(flags: u32) -> State {
        const FMAINT: u32 = 0x01;
        const IMAINT: u32 = 0x02;
        const CMAINT: u32 = 0x04;
        const FDRAIN: u32 = 0x08;
        const IDRAIN: u32 = 0x10;
        const RMAINT: u32 = 0x20;
        const HMAINT: u32 = 0x40;
        if flags & (FMAINT | IMAINT | CMAINT | RMAINT | HMAINT) != 0 {
            State::Maint
        } else if flags & (FDRAIN | IDRAIN) != 0 {
            State::Drain
        } else {
            State::Ready
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_haproxy_word())
    }
}

/// `srv_op_state` of `show servers state`: what health checks (or their absence) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationalState {
    /// Down: checks fail, or the server is in maintenance.
    Stopped,
    /// Coming up (slowstart).
    Starting,
    /// Up.
    Running,
    /// Going down (soft stop).
    Stopping,
    /// A value this client does not know (a newer HAProxy).
    Other(u32),
}

impl OperationalState {
    pub(crate) fn from_code(code: u32) -> OperationalState {
        match code {
            0 => OperationalState::Stopped,
            1 => OperationalState::Starting,
            2 => OperationalState::Running,
            3 => OperationalState::Stopping,
            other => OperationalState::Other(other),
        }
    }
}

/// One server of a backend as HAProxy sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// Server name in the backend.
    pub name: String,
    /// Address and port, `ADDR:PORT`.
    pub addr: String,
    /// Up, down, …
    pub operational: OperationalState,
    /// Ready, drain or maint (derived from `admin_flags`).
    pub admin: State,
    /// The raw `srv_admin_state` bits, for what [`State`] does not distinguish.
    pub admin_flags: u32,
    /// The weight in force (`srv_uweight`), 0–256.
    pub weight: u16,
    /// The weight from the configuration file (`srv_iweight`); percentages refer to it.
    pub initial_weight: u16,
    /// Sessions currently open to this server (`scur` of `show stat`).
    pub sessions: u64,
}

/// A server weight for `set weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weight {
    /// 0 to 256; 0 means no new traffic (like drain, but by weight).
    Absolute(u16),
    /// A percentage of the server's initial weight (HAProxy computes `initial * N / 100`).
    Percent(u16),
}

/// HAProxy's largest server weight.
pub const MAX_WEIGHT: u16 = 256;

impl Weight {
    /// Checks the range HAProxy accepts for absolute weights.
    pub fn validate(self) -> Result<Weight, LbError> {
        match self {
            Weight::Absolute(w) if w > MAX_WEIGHT => Err(LbError::InvalidWeight(self.to_string())),
            _ => Ok(self),
        }
    }

    /// The absolute weight this asks for on a server whose initial weight is `initial`, as
    /// HAProxy computes it (integer division, capped at 256).
    pub fn resolve(self, initial: u16) -> u16 {
        match self {
            Weight::Absolute(w) => w.min(MAX_WEIGHT),
            Weight::Percent(p) => {
                let w = u32::from(initial) * u32::from(p) / 100;
                u16::try_from(w).unwrap_or(MAX_WEIGHT).min(MAX_WEIGHT)
            }
        }
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weight::Absolute(w) => write!(f, "{w}"),
            Weight::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for Weight {
    type Err = LbError;

    /// Parses `N` (0–256) or `N%`.
    fn from_str(text: &str) -> Result<Weight, LbError> {
        let invalid = || LbError::InvalidWeight(text.to_owned());
        let trimmed = text.trim();
        let weight = match trimmed.strip_suffix('%') {
            Some(number) => Weight::Percent(number.parse().map_err(|_| invalid())?),
            None => Weight::Absolute(trimmed.parse().map_err(|_| invalid())?),
        };
        weight.validate().map_err(|_| invalid())
    }
}

/// How [`crate::HaproxyClient::wait_drained`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainOutcome {
    /// The server's sessions reached 0.
    Drained,
    /// The timeout passed first; `sessions` were still open at the last poll.
    TimedOut {
        /// Sessions open at the last poll.
        sessions: u64,
    },
}

/// The intended admin state and weight of servers in one backend. The deployer keeps this and
/// re-applies it with [`crate::HaproxyClient::apply`], because an HAProxy reload resets all runtime
/// changes to the configuration file's values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredState {
    /// The backend.
    pub backend: String,
    /// The servers whose state matters; servers not listed are left alone.
    pub servers: Vec<DesiredServer>,
}

/// The intended state of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredServer {
    /// Server name in the backend.
    pub name: String,
    /// Intended admin state.
    pub state: State,
    /// Intended weight; `None` leaves the weight alone.
    pub weight: Option<Weight>,
}

/// One change [`crate::HaproxyClient::apply`] made because HAProxy differed from the intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The admin state was set.
    State {
        /// Server name.
        server: String,
        /// What HAProxy had.
        from: State,
        /// What was set.
        to: State,
    },
    /// The weight was set.
    Weight {
        /// Server name.
        server: String,
        /// What HAProxy had.
        from: u16,
        /// What was set (absolute).
        to: u16,
    },
}
