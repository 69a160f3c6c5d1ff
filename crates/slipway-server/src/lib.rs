//! The Slipway server: the HTTP API under `/api/v1`, webhooks, the agents'
//! job queue, live logs, `/metrics` and `/healthz`, over one
//! [`slipway_store::sql::SqlStore`] (SQLite by default, PostgreSQL).
//!
//! The server runs no step itself: it drives runs with the engine's
//! dispatcher (see [`driver`]) and hands jobs to agents, its built-in one
//! included, which run them with the same engine code as `slipway run`.

mod auth;
mod bootstrap;
mod config;
mod driver;
mod error;
mod json;
mod livelogs;
mod metrics;
mod openapi;
mod queue;
mod routes;
mod state;
mod triggers;
mod ui;

pub use config::{ServerConfig, default_data_dir};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use slipway_store::sql::{SecretKey, SqlStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::driver::Runs;
use crate::livelogs::LogHub;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::state::AppState;
use crate::triggers::{Hooks, Starter};

/// Largest JSON body of the API (log batches included).
const API_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// Largest artifact object an agent may upload.
const OBJECT_BODY_LIMIT: usize = 2 * 1024 * 1024 * 1024;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Startup(String),
}

fn startup(what: &str) -> impl FnOnce(String) -> ServerError + '_ {
    move |e| ServerError::Startup(format!("{what}: {e}"))
}

/// A started server: listening, its store migrated, its runs resumed.
pub struct Server {
    addr: SocketAddr,
    admin_token: String,
    admin_password: Option<String>,
    state: AppState,
    closing: watch::Sender<bool>,
    stop_serving: watch::Sender<bool>,
    serving: JoinHandle<()>,
    agent: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Server {
    /// Opens the store, creates the admin user and token on first start,
    /// resumes unfinished runs, binds `config.listen` and starts the
    /// background loops (polling, cron, lease expiry) and, when configured,
    /// the built-in agent.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let data_dir = config.data_dir.clone();
        bootstrap::create_private_dir(&data_dir).map_err(startup("data directory"))?;
        let key = SecretKey::from_env_or_dir(&data_dir)
            .map_err(|e| startup("secret key")(e.to_string()))?;
        let url = match &config.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", data_dir.join("slipway.db").display()),
        };
        let store = Arc::new(
            SqlStore::connect(&url, key)
                .await
                .map_err(|e| startup("database")(e.to_string()))?,
        );
        let admin_token = bootstrap::admin_token(&store, &data_dir)
            .await
            .map_err(startup("admin token"))?;
        let admin_password = bootstrap::admin_password(&store, &data_dir)
            .await
            .map_err(startup("admin password"))?;
        let objects = Arc::new(
            slipway_store::FileStore::open(&data_dir.join("objects"))
                .map_err(|e| startup("object store")(e.to_string()))?,
        );
        let queue = Arc::new(Queue::default());
        let metrics = Arc::new(Metrics::default());
        let logs = Arc::new(LogHub::new(data_dir.join("logs")));
        let runs = Arc::new(Runs::new(
            store.clone(),
            queue.clone(),
            logs.clone(),
            metrics.clone(),
        ));
        let hooks = Arc::new(Hooks::new(
            store.clone(),
            Arc::new(Starter { runs: runs.clone() }),
            data_dir.join("mirrors"),
        ));
        let (closing, closing_rx) = watch::channel(false);
        let config = Arc::new(config);
        let state = AppState {
            store,
            queue,
            runs: runs.clone(),
            logs,
            metrics,
            config: config.clone(),
            hooks: hooks.clone(),
            objects,
            agents: Arc::new(Mutex::new(HashMap::new())),
            closing: closing_rx.clone(),
            logins: Arc::default(),
        };
        // Runs resume before the API opens, so that every job an agent
        // reports on has its driver again.
        let resumed = runs
            .resume_all()
            .await
            .map_err(|e| startup("resuming runs")(e.to_string()))?;
        if resumed > 0 {
            tracing::info!(runs = resumed, "resumed unfinished runs");
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| startup("listen")(format!("{}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| startup("listen")(e.to_string()))?;
        let (stop_serving, mut stop_rx) = watch::channel(false);
        let app = router(state.clone());
        let serving = tokio::spawn(async move {
            let stop = async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(%error, "the HTTP server failed");
            }
        });
        spawn_loops(&state, hooks, closing_rx);
        let agent = if config.builtin_agent {
            Some(
                bootstrap::builtin_agent(&state, addr)
                    .await
                    .map_err(startup("built-in agent"))?,
            )
        } else {
            None
        };
        tracing::info!(%addr, "listening");
        Ok(Server {
            addr,
            admin_token,
            admin_password,
            state,
            closing,
            stop_serving,
            serving,
            agent,
        })
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

    /// The admin's web UI password while it is still the one created at
    /// first start (in `DATA_DIR/admin-password`, mode 0600); `None` once
    /// it was changed.
    pub fn admin_password(&self) -> Option<&str> {
        self.admin_password.as_deref()
    }

    /// Serves until `shutdown` completes, then stops gracefully: no job is
    /// handed out any more, running jobs get the grace period to finish (the
    /// built-in agent's steps too), and unfinished runs are left to be
    /// resumed by the next start.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = self.closing.send(true);
        let grace = self.state.config.shutdown_grace;
        if let Some((agent_stop, agent)) = self.agent {
            let _ = agent_stop.send(true);
            let _ = tokio::time::timeout(grace + Duration::from_secs(5), agent).await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.state.queue.claimed_jobs() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.stop_serving.send(true);
        // Long polls and log streams end with the process.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.serving).await;
        Ok(())
    }
}

fn spawn_loops(state: &AppState, hooks: Arc<Hooks>, closing: watch::Receiver<bool>) {
    let reaper = state.clone();
    let mut stop = closing.clone();
    tokio::spawn(async move {
        // Agents get one lease period to come back after a restart before
        // their jobs are taken from them.
        let lease = reaper.config.lease;
        let tick = (lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(lease) => {}
            _ = stop.wait_for(|c| *c) => return,
        }
        loop {
            routes::agent::expire_leases(&reaper).await;
            // Approval gates past their deadline time out even unwatched.
            routes::approvals::expire_gates(&reaper).await;
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.wait_for(|c| *c) => return,
            }
        }
    });
    let retention = state.clone();
    let mut stop = closing.clone();
    tokio::spawn(async move {
        let config = retention.config.clone();
        if config.log_max_age.is_none() && config.log_max_bytes.is_none() {
            return;
        }
        loop {
            retention
                .logs
                .prune(config.log_max_age, config.log_max_bytes)
                .await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = stop.wait_for(|c| *c) => return,
            }
        }
    });
    let sessions = state.clone();
    let mut stop = closing.clone();
    tokio::spawn(async move {
        // Expired and logged-out web sessions (each sign-in sweeps too).
        loop {
            ui::auth::sweep_sessions(&sessions).await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = stop.wait_for(|c| *c) => return,
            }
        }
    });
    tokio::spawn(
        hooks
            .clone()
            .poll_loop(state.config.poll_interval, closing.clone()),
    );
    tokio::spawn(hooks.cron_loop(closing));
}

fn router(state: AppState) -> Router {
    use routes::{agent, hooks, meta, objects, projects, runs};
    let api = Router::new()
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{project}", get(projects::get))
        .route("/projects/{project}/secrets", get(projects::secret_names))
        .route(
            "/projects/{project}/secrets/{name}",
            put(projects::set_secret),
        )
        .route("/projects/{project}/runs", post(projects::trigger))
        .route("/tokens", post(projects::create_token))
        .route("/users", post(projects::create_user))
        .route("/users/{name}/password", put(routes::users::set_password))
        .route("/audit", get(routes::audit::list))
        .route("/audit/verify", get(routes::audit::verify))
        .route("/projects/{project}/roles/{user}", put(projects::set_role))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::get))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/retry", post(runs::retry))
        .route("/runs/{id}/logs", get(runs::logs))
        .route("/runs/{id}/tests", get(runs::tests))
        .route("/runs/{id}/approvals", get(routes::approvals::list))
        .route(
            "/runs/{id}/jobs/{job}/approvals",
            post(routes::approvals::vote),
        )
        .route(
            "/projects/{project}/environments/{env}",
            get(routes::environments::show),
        )
        .route(
            "/projects/{project}/environments/{env}/deployments",
            get(routes::environments::deployments),
        )
        .route("/projects/{project}/flaky", get(runs::flaky))
        .route(
            "/projects/{project}/approvals",
            get(routes::approvals::pending),
        )
        .route(
            "/projects/{project}/releases",
            get(routes::releases::list).post(routes::releases::create),
        )
        .route(
            "/projects/{project}/releases/{id}",
            get(routes::releases::get),
        )
        .route("/dora", get(routes::releases::dora))
        .route("/agent/claim", post(agent::claim))
        .route("/agent/jobs/{job}/events", post(agent::events))
        .route("/agent/jobs/{job}/finish", post(agent::finish))
        .route(
            "/agent/jobs/{job}/approvals/wait",
            post(routes::approvals::wait),
        )
        .route("/openapi.json", get(meta::openapi))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT));
    let objects = Router::new()
        .route(
            "/agent/objects/{digest}",
            get(objects::get).head(objects::head).put(objects::put),
        )
        .layer(DefaultBodyLimit::max(OBJECT_BODY_LIMIT));
    Router::new()
        .nest("/api/v1", api.merge(objects))
        .route(
            "/hooks/{forge}/{project}",
            post(hooks::deliver).layer(DefaultBodyLimit::max(slipway_hooks::MAX_BODY_BYTES)),
        )
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .merge(ui::routes())
        .fallback(|| async {
            error::ApiError::not_found(
                "no such route; the API is under /api/v1 (see /api/v1/openapi.json)",
            )
        })
        .with_state(state)
}
