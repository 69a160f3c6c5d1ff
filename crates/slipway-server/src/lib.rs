//! The Slipway server: the HTTP API under `/api/v1`, webhooks, the agents'
//! job queue, live logs, `/metrics` and `/healthz`, over one
//! [`slipway_store::sql::SqlStore`].

mod config;

pub use config::{ServerConfig, default_data_dir};

use std::net::SocketAddr;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Startup(String),
}

/// A started server: listening, its store migrated, its runs resumed.
pub struct Server {
    addr: SocketAddr,
    admin_token: String,
}

impl Server {
    /// Opens the store, creates the admin user and token on first start,
    /// binds `config.listen`, resumes unfinished runs and starts the
    /// background loops (polling, cron, lease expiry) and, when configured,
    /// the built-in agent.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let _ = config;
        Err(ServerError::Startup("the server is being built".into()))
    }

    /// `http://ADDR:PORT` of the API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The admin token: created on first start and written to
    /// `DATA_DIR/admin-token` (mode 0600), read from there afterwards.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Serves until `shutdown` completes, then stops gracefully: no new jobs
    /// are handed out and running steps get the grace period to finish.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        shutdown.await;
        Ok(())
    }
}
