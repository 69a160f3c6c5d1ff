//! The HTTP client of the commands that talk to a server: where the server
//! is, which token to send, and errors phrased for the person at the
//! terminal (never with the token in them).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use slipway_api::ErrorBody;

use crate::Exit;
use crate::args::ApiArgs;

/// Where `slipway up` listens unless told otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// How long an ordinary API call may take (log streams have no limit).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The server and the token, resolved from flags, environment, defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    pub server: String,
    pub token: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Connection {
    /// `--server`, else `SLIPWAY_SERVER`, else [`DEFAULT_SERVER`]; `--token`,
    /// else `SLIPWAY_TOKEN`, else the admin token file of the default data
    /// directory (what `slipway up` wrote).
    pub fn resolve(
        args: &ApiArgs,
        env: impl Fn(&str) -> Option<String>,
        token_file: impl FnOnce() -> PathBuf,
    ) -> Result<Connection, String> {
        let server = args
            .server
            .clone()
            .or_else(|| env("SLIPWAY_SERVER"))
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let server = normalise_server(&server)?;
        let token = match args.token.clone().or_else(|| env("SLIPWAY_TOKEN")) {
            Some(token) => token,
            None => {
                let path = token_file();
                match std::fs::read_to_string(&path) {
                    Ok(text) => text.trim().to_string(),
                    Err(error) => {
                        return Err(format!(
                            "no token: pass --token or set SLIPWAY_TOKEN (the local server's admin token would be in {}, which cannot be read: {error})",
                            path.display()
                        ));
                    }
                }
            }
        };
        if token.is_empty() {
            return Err("the token is empty: pass --token or set SLIPWAY_TOKEN".to_string());
        }
        if token.chars().any(|c| c.is_control() || c == ' ') {
            return Err("the token holds spaces or control characters; copy it again".to_string());
        }
        Ok(Connection { server, token })
    }

    /// [`Connection::resolve`] with the process environment.
    pub fn from_args(args: &ApiArgs) -> Result<Connection, String> {
        Connection::resolve(
            args,
            |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            || slipway_server::default_data_dir().join("admin-token"),
        )
    }
}

/// `http://host:port` without a trailing slash.
fn normalise_server(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let Some(rest) = trimmed.strip_prefix("http://") else {
        return Err(if trimmed.starts_with("https://") {
            format!(
                "`{trimmed}`: this build speaks plain http only (the server listens on http); use http://ADDR:PORT"
            )
        } else {
            format!(
                "`{trimmed}` is not a server URL; write http://ADDR:PORT, e.g. {DEFAULT_SERVER}"
            )
        });
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "`{trimmed}` is not a server URL; write http://ADDR:PORT without a path, e.g. {DEFAULT_SERVER}"
        ));
    }
    Ok(trimmed.to_string())
}

/// Why an API call failed.
#[derive(Debug)]
pub enum ApiError {
    /// The server answered with an error status.
    Status { status: StatusCode, message: String },
    /// The server could not be reached or the connection broke.
    Transport { server: String, message: String },
    /// The answer was not what the API promises.
    Answer(String),
}

impl ApiError {
    /// 4xx is something the user can fix (exit 2); the rest is a failure.
    pub fn exit(&self) -> Exit {
        match self {
            ApiError::Status { status, .. } if status.is_client_error() => Exit::Usage,
            _ => Exit::Failure,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status { status, message } => {
                let meaning = match status.as_u16() {
                    401 => "the token is missing, wrong or revoked (--token, SLIPWAY_TOKEN)",
                    403 => "the token's role is too weak for this",
                    404 => "no such run, project or job",
                    413 => "the request is too large",
                    409 => "it conflicts with the current state",
                    _ => status.canonical_reason().unwrap_or("error"),
                };
                write!(f, "{message} (HTTP {}: {meaning})", status.as_u16())
            }
            ApiError::Transport { server, message } => write!(
                f,
                "cannot reach the server at {server}: {message} (is `slipway up` or `slipway server` running? --server or SLIPWAY_SERVER say where)"
            ),
            ApiError::Answer(message) => write!(f, "unexpected answer from the server: {message}"),
        }
    }
}

/// A client of one server with one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    authorization: String,
}

impl Client {
    pub fn new(connection: &Connection) -> Result<Client, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Answer(format!("cannot set up HTTP: {e}")))?;
        Ok(Client {
            http,
            server: connection.server.clone(),
            authorization: format!("Bearer {}", connection.token),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// A request to `path` (which starts with `/`), authorised.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.server))
            .header(slipway_api::AUTHORIZATION, &self.authorization)
    }

    /// Sends a request and returns the response when its status is a success.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|body| body.error)
            .unwrap_or_else(|_| {
                let text = text.trim();
                if text.is_empty() || text.len() > 500 {
                    "the server refused the request".to_string()
                } else {
                    text.to_string()
                }
            });
        Err(ApiError::Status { status, message })
    }

    /// `GET path` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let response = self
            .send(self.request(Method::GET, path).timeout(REQUEST_TIMEOUT))
            .await?;
        self.decode(response).await
    }

    /// `METHOD path` with a JSON body, answered with JSON.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let response = self
            .send(
                self.request(method, path)
                    .json(body)
                    .timeout(REQUEST_TIMEOUT),
            )
            .await?;
        self.decode(response).await
    }

    /// `METHOD path` with a JSON body, answered with nothing of interest.
    pub async fn call_no_answer<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<(), ApiError> {
        self.send(
            self.request(method, path)
                .json(body)
                .timeout(REQUEST_TIMEOUT),
        )
        .await
        .map(drop)
    }

    async fn decode<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, ApiError> {
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Answer(e.to_string()))
    }

    pub fn transport(&self, error: &reqwest::Error) -> ApiError {
        // reqwest's message names the URL, which holds no secret (the
        // token travels in a header).
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ApiError::Transport {
            server: self.server.clone(),
            message,
        }
    }
}

/// A path segment, percent-encoded (project names and job keys may hold
/// spaces, parentheses, anything).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_then_environment_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin-token");
        std::fs::write(&file, "file-token\n").unwrap();
        let env = |name: &str| match name {
            "SLIPWAY_SERVER" => Some("http://10.0.0.1:9/".to_string()),
            "SLIPWAY_TOKEN" => Some("env-token".to_string()),
            _ => None,
        };
        let flags = ApiArgs {
            server: Some("http://127.0.0.1:1".into()),
            token: Some("flag-token".into()),
        };
        let c = Connection::resolve(&flags, env, || file.clone()).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_str()),
            ("http://127.0.0.1:1", "flag-token")
        );
        let c = Connection::resolve(&ApiArgs::default(), env, || file.clone()).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_str()),
            ("http://10.0.0.1:9", "env-token")
        );
        let c = Connection::resolve(&ApiArgs::default(), none, || file.clone()).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_str()),
            (DEFAULT_SERVER, "file-token")
        );
    }

    #[test]
    fn a_missing_token_says_where_to_get_one() {
        let error = Connection::resolve(&ApiArgs::default(), none, || {
            PathBuf::from("/nonexistent/admin-token")
        })
        .unwrap_err();
        assert!(error.contains("--token"), "{error}");
        assert!(error.contains("/nonexistent/admin-token"), "{error}");
    }

    #[test]
    fn bad_server_urls_are_refused() {
        for url in [
            "127.0.0.1:8080",
            "https://x",
            "http://",
            "http://h/api",
            "ftp://h",
        ] {
            let args = ApiArgs {
                server: Some(url.into()),
                token: Some("t".into()),
            };
            assert!(
                Connection::resolve(&args, none, PathBuf::new).is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Connection {
            server: DEFAULT_SERVER.into(),
            token: "very-secret".into(),
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn status_errors_explain_the_status() {
        let error = ApiError::Status {
            status: StatusCode::NOT_FOUND,
            message: "no run 9".into(),
        };
        assert_eq!(
            error.to_string(),
            "no run 9 (HTTP 404: no such run, project or job)"
        );
        assert_eq!(error.exit(), Exit::Usage);
        let error = ApiError::Status {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "boom".into(),
        };
        assert_eq!(error.exit(), Exit::Failure);
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("lint (sh)"), "lint%20%28sh%29");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(segment("hello"), "hello");
    }
}
