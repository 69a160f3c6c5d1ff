//! The agent's side of the agent protocol (routes in `slipway-api`): one
//! HTTP client per agent, so connections are reused, and every answer
//! classified into what the agent does next.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use slipway_api::{
    ApprovalWaitAnswer, ApprovalWaitRequest, Assignment, ClaimRequest, ErrorBody, EventAck,
    EventBatch, FinishRequest, PrefetchHint,
};
use slipway_engine::records::Digest;

/// How long a connection attempt may take before the server counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Limit of a small call (events, finish, HEAD).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Beyond the claim's own wait: time for the server to answer.
const CLAIM_SLACK: Duration = Duration::from_secs(15);
/// At most this much of an error body is kept for a message.
const MAX_ERROR_TEXT: usize = 500;

/// The answer to a claim.
#[derive(Debug)]
pub(crate) enum Claimed {
    /// A job to run.
    Job(Box<Assignment>),
    /// A commit a job will likely need soon: fetch it, then claim again.
    Hint(PrefetchHint),
    /// No job within the wait.
    Nothing,
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// No answer: the server is down, restarting, or the network failed.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// 401 or 403: the token is missing, wrong or revoked.
    #[error("the server refused the agent's token (HTTP {0})")]
    Unauthorized(u16),
    /// 404 or 409 on a job route: the job is no longer this agent's.
    #[error("the job is no longer this agent's (HTTP {0})")]
    Gone(u16),
    /// Any other answer that is not a success.
    #[error("the server answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    /// A success whose body could not be read.
    #[error("the server's answer could not be read: {0}")]
    Decode(String),
    /// The agent's own side failed (its store, a damaged download): trying
    /// the call again would fail the same way.
    #[error("{0}")]
    Local(String),
}

impl CallError {
    /// Whether trying the same call again later may succeed.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            CallError::Unreachable(_) => true,
            CallError::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            CallError::Unauthorized(_)
            | CallError::Gone(_)
            | CallError::Decode(_)
            | CallError::Local(_) => false,
        }
    }
}

fn transport(error: reqwest::Error) -> CallError {
    // The URL in reqwest's message holds no secret (the token travels in a
    // header), but it adds nothing the log line does not say already.
    CallError::Unreachable(error.without_url().to_string())
}

/// A success whose body could not be read: cut short (retryable) or not
/// what the protocol says.
fn body_error(error: reqwest::Error) -> CallError {
    if error.is_decode() {
        CallError::Decode(error.without_url().to_string())
    } else {
        transport(error)
    }
}

/// The agent's connection to the server.
pub(crate) struct Api {
    http: reqwest::Client,
    /// The server's base URL without a trailing `/`.
    base: String,
    /// `Bearer <token>`, marked sensitive so it is never printed.
    auth: HeaderValue,
    /// This agent's name, sent with every claim, batch and finish.
    pub(crate) agent: String,
}

impl Api {
    pub(crate) fn new(server: &str, token: &str, agent: &str) -> Result<Api, String> {
        let base = server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "the server URL `{base}` must start with http:// or https://"
            ));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            "the token contains characters that cannot be sent in a header".to_string()
        })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Api {
            http,
            base,
            auth,
            agent: agent.to_string(),
        })
    }

    /// The server's base URL, for messages.
    pub(crate) fn server(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.auth.clone())
    }

    /// Waits up to `wait_ms` for a job matching `labels`. The agent accepts
    /// prefetch hints; `prefetched` is the commit it has ready from one.
    pub(crate) async fn claim(
        &self,
        labels: &[String],
        wait_ms: u64,
        prefetched: Option<String>,
    ) -> Result<Claimed, CallError> {
        let body = ClaimRequest {
            agent: self.agent.clone(),
            labels: labels.to_vec(),
            wait_ms,
            prefetch: true,
            prefetched,
        };
        let response = self
            .request(Method::POST, "/api/v1/agent/claim")
            .timeout(Duration::from_millis(wait_ms) + CLAIM_SLACK)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        match response.status() {
            StatusCode::NO_CONTENT => return Ok(Claimed::Nothing),
            StatusCode::ACCEPTED => {
                return response
                    .json::<PrefetchHint>()
                    .await
                    .map(Claimed::Hint)
                    .map_err(body_error);
            }
            _ => {}
        }
        let response = check(response, false).await?;
        response
            .json::<Assignment>()
            .await
            .map(|a| Claimed::Job(Box::new(a)))
            .map_err(body_error)
    }

    /// Sends a batch of events (which also renews the job's lease).
    pub(crate) async fn events(
        &self,
        job_id: i64,
        batch: &EventBatch,
    ) -> Result<EventAck, CallError> {
        let response = self
            .request(Method::POST, &format!("/api/v1/agent/jobs/{job_id}/events"))
            .timeout(CALL_TIMEOUT)
            .json(batch)
            .send()
            .await
            .map_err(transport)?;
        let response = check(response, true).await?;
        response.json::<EventAck>().await.map_err(body_error)
    }

    /// Reports the job's outcome.
    pub(crate) async fn finish(
        &self,
        job_id: i64,
        finish: &FinishRequest,
    ) -> Result<(), CallError> {
        let response = self
            .request(Method::POST, &format!("/api/v1/agent/jobs/{job_id}/finish"))
            .timeout(CALL_TIMEOUT)
            .json(finish)
            .send()
            .await
            .map_err(transport)?;
        check(response, true).await.map(drop)
    }

    /// Waits up to `wait_ms` for the decision of a gate of the job (the
    /// first call opens the gate). A 404 or 409 here is a plain refusal
    /// with the server's reason (no such gate, or the job is not ours).
    pub(crate) async fn approval_wait(
        &self,
        job_id: i64,
        gate: &str,
        message: Option<&str>,
        wait_ms: u64,
    ) -> Result<ApprovalWaitAnswer, CallError> {
        let body = ApprovalWaitRequest {
            agent: self.agent.clone(),
            gate: gate.to_string(),
            wait_ms,
            message: message.map(str::to_string),
        };
        let response = self
            .request(
                Method::POST,
                &format!("/api/v1/agent/jobs/{job_id}/approvals/wait"),
            )
            .timeout(Duration::from_millis(wait_ms) + CLAIM_SLACK)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let response = check(response, false).await?;
        response
            .json::<ApprovalWaitAnswer>()
            .await
            .map_err(body_error)
    }

    fn object_path(digest: &Digest) -> String {
        format!("/api/v1/agent/objects/{digest}")
    }

    /// Whether the server holds the object.
    pub(crate) async fn has_object(&self, digest: &Digest) -> Result<bool, CallError> {
        let response = self
            .request(Method::HEAD, &Self::object_path(digest))
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check(response, false).await.map(|_| true)
    }

    /// The object's bytes as a streaming answer, or `None` when the server
    /// does not have it.
    pub(crate) async fn get_object(&self, digest: &Digest) -> Result<Option<Response>, CallError> {
        let response = self
            .request(Method::GET, &Self::object_path(digest))
            .send()
            .await
            .map_err(transport)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check(response, false).await.map(Some)
    }

    /// Uploads an object from its file, streamed.
    pub(crate) async fn put_object(
        &self,
        digest: &Digest,
        file: tokio::fs::File,
        len: u64,
    ) -> Result<(), CallError> {
        let response = self
            .request(Method::PUT, &Self::object_path(digest))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::from(file))
            .send()
            .await
            .map_err(transport)?;
        check(response, false).await.map(drop)
    }
}

/// Turns a non-success answer into its [`CallError`]; `job_route` makes
/// 404 and 409 mean "the job is gone".
async fn check(response: Response, job_route: bool) -> Result<Response, CallError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let code = status.as_u16();
    match code {
        401 | 403 => return Err(CallError::Unauthorized(code)),
        404 | 409 if job_route => return Err(CallError::Gone(code)),
        _ => {}
    }
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => body.error,
        Err(_) => text,
    };
    let mut message: String = message.chars().take(MAX_ERROR_TEXT).collect();
    if message.is_empty() {
        message = status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_string();
    }
    Err(CallError::Status {
        status: code,
        message,
    })
}
