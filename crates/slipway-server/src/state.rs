//! What every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slipway_store::sql::SqlStore;
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::driver::Runs;
use crate::livelogs::LogHub;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::triggers::Hooks;

/// The server's state, cloned into every handler (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<SqlStore>,
    pub queue: Arc<Queue>,
    pub runs: Arc<Runs>,
    pub logs: Arc<LogHub>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ServerConfig>,
    pub hooks: Arc<Hooks>,
    /// Artifact objects uploaded by agents.
    pub objects: Arc<slipway_store::FileStore>,
    /// Agents by name and when they were last heard from.
    pub agents: Arc<Mutex<HashMap<String, Instant>>>,
    /// Turns true when the server begins to shut down: no job is handed out
    /// any more.
    pub closing: watch::Receiver<bool>,
    /// Wrong passwords per username at the login form.
    pub logins: Arc<crate::ui::throttle::LoginThrottle>,
}

impl AppState {
    pub fn lease_ms(&self) -> u64 {
        self.config.lease.as_millis() as u64
    }

    pub fn agent_seen(&self, name: &str) {
        if let Ok(mut agents) = self.agents.lock() {
            match agents.get_mut(name) {
                Some(seen) => *seen = Instant::now(),
                None => {
                    agents.insert(name.to_string(), Instant::now());
                }
            }
        }
    }

    /// Agents heard from within one lease period.
    pub fn connected_agents(&self) -> usize {
        let window = self.config.lease.max(Duration::from_secs(1));
        let Ok(mut agents) = self.agents.lock() else {
            return 0;
        };
        agents.retain(|_, seen| seen.elapsed() < window * 2);
        agents
            .values()
            .filter(|seen| seen.elapsed() < window)
            .count()
    }
}
