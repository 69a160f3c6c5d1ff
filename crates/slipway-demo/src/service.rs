//! What each path answers, and the injected failures: a failing health check (flag or state
//! file) and 500s on `/` at a rate or on every Nth request.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::http::{Method, PROMETHEUS_TEXT, Route, Status, TEXT};
use crate::metrics::Metrics;

/// The line in the state file that makes `/healthz` fail.
pub const FAIL_HEALTH: &str = "fail-health";
/// Largest state file read; anything past it is ignored.
const MAX_STATE_FILE_LEN: u64 = 4096;

/// The body of an answer: fixed text, or text made for this request.
#[derive(Debug)]
pub enum Body {
    Static(&'static str),
    Owned(String),
}

impl Body {
    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Static(text) => text.as_bytes(),
            Body::Owned(text) => text.as_bytes(),
        }
    }
}

/// An answer before it is framed.
#[derive(Debug)]
pub struct Answer {
    pub status: Status,
    pub content_type: &'static str,
    pub body: Body,
}

impl Answer {
    fn text(status: Status, body: Body) -> Self {
        Answer {
            status,
            content_type: TEXT,
            body,
        }
    }
}

/// The service's state, shared by all connections.
pub struct Service {
    version: String,
    listen: SocketAddr,
    fail_health: bool,
    state_file: Option<PathBuf>,
    error_rate: f64,
    error_every: Option<NonZeroU64>,
    latency: Duration,
    /// Requests to `/` so far, for `--error-every`.
    root_requests: AtomicU64,
    /// SplitMix64 state for `--error-rate`: an atomic counter, so no lock and no dependency.
    random_state: AtomicU64,
    /// The request metrics.
    pub metrics: Metrics,
}

impl Service {
    /// A service for `config`, reporting `listen` (the bound address, which differs from the
    /// configured one when port 0 was asked for).
    pub fn new(config: Config, listen: SocketAddr) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Service {
            metrics: Metrics::new(&config.version),
            version: config.version,
            listen,
            fail_health: config.fail_health,
            state_file: config.state_file,
            error_rate: config.error_rate,
            error_every: config.error_every,
            latency: config.latency,
            root_requests: AtomicU64::new(0),
            random_state: AtomicU64::new(seed),
        }
    }

    /// The version string, for the `X-Demo-Version` header.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Answers a well-formed request.
    pub async fn answer(&self, method: Method, route: Route) -> Answer {
        if method == Method::Other {
            return Answer::text(
                Status::MethodNotAllowed,
                Body::Static("method not allowed\n"),
            );
        }
        match route {
            Route::Root => self.root().await,
            Route::Healthz => self.healthz().await,
            Route::Version => Answer::text(
                Status::Ok,
                Body::Owned(format!("{}\n{}\n", self.version, self.listen)),
            ),
            Route::Metrics => {
                let mut text = String::with_capacity(16 * 1024);
                self.metrics.render(&mut text);
                Answer {
                    status: Status::Ok,
                    content_type: PROMETHEUS_TEXT,
                    body: Body::Owned(text),
                }
            }
            Route::Other => Answer::text(Status::NotFound, Body::Static("not found\n")),
        }
    }

    async fn root(&self) -> Answer {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let nth = self.root_requests.fetch_add(1, Relaxed).wrapping_add(1);
        let every = self
            .error_every
            .is_some_and(|every| nth.is_multiple_of(every.get()));
        if every || self.random_error() {
            return Answer::text(
                Status::InternalServerError,
                Body::Owned(format!("injected error from {}\n", self.version)),
            );
        }
        Answer::text(
            Status::Ok,
            Body::Owned(format!("hello from {}\n", self.version)),
        )
    }

    fn random_error(&self) -> bool {
        if self.error_rate <= 0.0 {
            return false;
        }
        let state = self
            .random_state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits as a uniform number in [0, 1).
        let uniform = (z >> 11) as f64 / (1u64 << 53) as f64;
        uniform < self.error_rate
    }

    async fn healthz(&self) -> Answer {
        if self.fail_health || self.state_file_says_fail().await {
            return Answer::text(Status::ServiceUnavailable, Body::Static("failing\n"));
        }
        Answer::text(Status::Ok, Body::Static("ok\n"))
    }

    /// Re-reads the state file on every check (a few bytes; checks come a few times a second),
    /// so a test can flip health without restarting. A missing or unreadable file means healthy.
    async fn state_file_says_fail(&self) -> bool {
        let Some(path) = &self.state_file else {
            return false;
        };
        let Ok(file) = tokio::fs::File::open(path).await else {
            return false;
        };
        let mut contents = Vec::new();
        use tokio::io::AsyncReadExt as _;
        if file
            .take(MAX_STATE_FILE_LEN)
            .read_to_end(&mut contents)
            .await
            .is_err()
        {
            return false;
        }
        contents
            .split(|b| *b == b'\n')
            .any(|line| line.trim_ascii() == FAIL_HEALTH.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(args: &[&str]) -> Service {
        let mut all = vec!["--listen", "127.0.0.1:0", "--version", "v9"];
        all.extend_from_slice(args);
        let Ok(crate::config::Command::Serve(config)) =
            crate::config::parse_args(all.into_iter().map(Into::into))
        else {
            panic!("bad test arguments {args:?}");
        };
        let listen = config.listen;
        Service::new(config, listen)
    }

    async fn statuses(service: &Service, route: Route, count: usize) -> Vec<Status> {
        let mut statuses = Vec::new();
        for _ in 0..count {
            statuses.push(service.answer(Method::Get, route).await.status);
        }
        statuses
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn error_every_fails_exactly_every_nth_root_request() {
        block_on(async {
            let service = service(&["--error-every", "3"]);
            let got = statuses(&service, Route::Root, 6).await;
            use Status::{InternalServerError as E, Ok as K};
            assert_eq!(got, [K, K, E, K, K, E]);
            // Other paths neither fail nor advance the count.
            assert_eq!(statuses(&service, Route::Version, 3).await, [K, K, K]);
            assert_eq!(statuses(&service, Route::Root, 3).await, [K, K, E]);
        });
    }

    #[test]
    fn error_rate_extremes() {
        block_on(async {
            let always = service(&["--error-rate", "1"]);
            assert!(
                statuses(&always, Route::Root, 20)
                    .await
                    .iter()
                    .all(|s| *s == Status::InternalServerError)
            );
            let never = service(&["--error-rate", "0"]);
            assert!(
                statuses(&never, Route::Root, 20)
                    .await
                    .iter()
                    .all(|s| *s == Status::Ok)
            );
        });
    }

    #[test]
    fn error_rate_is_roughly_the_rate() {
        let service = service(&["--error-rate", "0.25"]);
        let failures = (0..10_000).filter(|_| service.random_error()).count();
        // A binomial(10000, 0.25) lies within 2000..3000 with overwhelming probability.
        assert!((2000..3000).contains(&failures), "{failures} failures");
    }

    #[test]
    fn other_methods_get_405_and_unknown_paths_404() {
        block_on(async {
            let service = service(&[]);
            let answer = service.answer(Method::Other, Route::Root).await;
            assert_eq!(answer.status, Status::MethodNotAllowed);
            let answer = service.answer(Method::Get, Route::Other).await;
            assert_eq!(answer.status, Status::NotFound);
        });
    }
}
