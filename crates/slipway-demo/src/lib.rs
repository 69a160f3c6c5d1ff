//! The demo service: a small HTTP server that Slipway deploys in its tests and in the demo
//! environment of `slipway up`. It stands in for a real application: it reports its version,
//! answers health checks, exports Prometheus metrics, and fails on request.
//!
//! ```text
//! slipway-demo --listen 127.0.0.1:PORT --version V [--fail-health] [--state-file PATH]
//!              [--error-rate P] [--error-every N] [--latency-ms N]
//! ```
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | 200 `hello from V`; 500 with probability `--error-rate`, or on every `--error-every`th request to `/`; after `--latency-ms` |
//! | `GET /healthz` | 200 `ok`; 503 with `--fail-health`, or while the `--state-file` has a line `fail-health` (re-read on every check, so health flips at runtime) |
//! | `GET /version` | 200, the version on the first line and the bound address on the second |
//! | `GET /metrics` | Prometheus text format 0.0.4: `demo_build_info`, `demo_requests_in_flight`, `demo_requests_total{code,path,version}`, `demo_request_duration_seconds` (histogram by path, default buckets) |
//! | other path | 404; other method 405; malformed request 400 (and the connection closes) |
//!
//! Every response carries `X-Demo-Version: V`, so a client behind a load balancer can tell which
//! version answered. `HEAD` is accepted wherever `GET` is.
//!
//! Once bound, the service prints `listening on ADDR` (the real address, so `--listen
//! 127.0.0.1:0` lets the caller learn the port without racing for a free one). On SIGTERM or
//! SIGINT it stops accepting, finishes the requests in flight and exits 0; see [`server`].
//!
//! # Why a hand-written HTTP server
//!
//! The service needs `GET`, keep-alive and length-framed responses — a few hundred lines on
//! tokio, which the workspace already builds. hyper would add hyper, http, http-body, httparse
//! and hyper-util for the glue, and a web framework more; none of that earns its build time
//! here. The parser ([`http`]) is pure and tested on its own.

pub mod config;
pub mod http;
pub mod metrics;
pub mod server;
pub mod service;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

pub use config::{Command, Config, ConfigError, USAGE, parse_args};
pub use service::Service;

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// Parses `args` (without the program name), runs the service, and returns the exit code:
/// 0 after a graceful stop or `--help`, 2 for bad arguments, 1 when the service cannot start.
pub fn main<I>(args: I) -> ExitCode
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    match parse_args(args) {
        Ok(Command::Help) => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Serve(config)) => match run(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("slipway-demo: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("slipway-demo: {error}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Binds `config.listen`, prints the ready line and serves until SIGTERM or SIGINT.
pub fn run(config: Config) -> Result<(), RunError> {
    // One thread is plenty for a demo, and leaves the cores to the tests around it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| RunError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| RunError::Bind {
            addr: config.listen,
            source,
        })?;
        // Installed before the ready line, so a SIGTERM right after it is graceful too.
        let mut terminate = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        };

        // Printed with an explicit flush and errors ignored: stdout may be a pipe that
        // nobody reads any more, which must not stop the service.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {addr}");
        let _ = stdout.flush();
        drop(stdout);

        let service = Arc::new(Service::new(config, addr));
        server::serve(listener, service, shutdown).await;
        Ok(())
    })
}
