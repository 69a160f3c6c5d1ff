//! Server settings: flags, environment, and an optional file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server is configured by. `ServerConfig::new` gives the
/// defaults of `slipway up`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the API listens (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// Data directory: the SQLite database, logs, objects, mirrors,
    /// `admin-token`, the secret key.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; `None` is `DATA_DIR/slipway.db`.
    pub database: Option<String>,
    /// Run a built-in agent in this process.
    pub builtin_agent: bool,
    /// Labels of the built-in agent.
    pub agent_labels: Vec<String>,
    /// How long an agent's lease lasts without renewal.
    pub lease: Duration,
    /// How long running steps may go on after SIGTERM.
    pub shutdown_grace: Duration,
    /// Git polling interval (a project's `poll_interval_secs` overrides).
    pub poll_interval: Duration,
    /// Step logs older than this are deleted (`None`: kept forever).
    pub log_max_age: Option<Duration>,
    /// The oldest step logs are deleted beyond this total (`None`: no cap).
    pub log_max_bytes: Option<u64>,
}

impl ServerConfig {
    /// The defaults, with data in `data_dir`.
    pub fn new(data_dir: PathBuf) -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            database: None,
            builtin_agent: true,
            agent_labels: vec!["linux".to_string(), "docker".to_string()],
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            poll_interval: Duration::from_secs(60),
            log_max_age: Some(Duration::from_secs(90 * 24 * 3600)),
            log_max_bytes: None,
        }
    }
}

/// `$SLIPWAY_HOME`, else `$XDG_DATA_HOME/slipway`, else
/// `~/.local/share/slipway`.
pub fn default_data_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("SLIPWAY_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("slipway");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/slipway")
}
