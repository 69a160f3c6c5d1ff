//! Where measurements come from: Prometheus's HTTP API, an HTTP endpoint answering JSON, or a
//! command printing a number or JSON. [`Fetch`] is the seam the analysis runs against;
//! [`Providers`] is its real implementation.

mod command;
mod http;
mod json;
mod prometheus;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ProviderConfig;

/// One measurement's value: Prometheus's scalar, or one number per series of a vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricValue {
    Scalar(#[serde(deserialize_with = "crate::nan::number")] f64),
    Vector(#[serde(deserialize_with = "crate::nan::vec")] Vec<f64>),
}

impl MetricValue {
    /// The numbers, in order.
    pub fn values(&self) -> &[f64] {
        match self {
            MetricValue::Scalar(value) => std::slice::from_ref(value),
            MetricValue::Vector(values) => values,
        }
    }
}

/// A rendered query, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// The provider's name in the configuration.
    pub provider: String,
    /// PromQL, a URL, or a shell command line.
    pub text: String,
    /// A JSON pointer (RFC 6901) to the number or array, for HTTP and command providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The time range of a range query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    pub end_unix_ms: u64,
    #[serde(with = "crate::duration::serde_text")]
    pub step: Duration,
}

/// Why a measurement has no value. Every variant is an error measurement in the threshold
/// analysis; in the baseline comparison [`FetchError::NoData`] becomes an empty sample list
/// (the judge then says `NodataFailure`) and the others end the comparison in `Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum FetchError {
    #[error("cannot reach {address}: {cause}")]
    Unreachable { address: String, cause: String },
    #[error("{address} rejected the query ({kind}): {message}")]
    Query {
        address: String,
        kind: String,
        message: String,
    },
    #[error("the query returned no data (an empty result)")]
    NoData,
    #[error("unexpected answer from {address}: {message}")]
    BadResponse { address: String, message: String },
    #[error("{0}")]
    Command(String),
    #[error("no provider named {0:?}")]
    UnknownProvider(String),
}

/// A source of measurements.
pub trait Fetch: Sync {
    /// The current value of `query`.
    fn instant(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<MetricValue, FetchError>> + Send;

    /// Every sample of `query` over `window`: for Prometheus, all points of all series returned
    /// by `query_range`; for HTTP and command providers, the array they answer (they are asked
    /// for the samples, the window is theirs to know).
    fn range(
        &self,
        query: &Query,
        window: &Window,
    ) -> impl Future<Output = Result<Vec<f64>, FetchError>> + Send;
}

/// The configured providers, by name.
#[derive(Debug, Clone)]
pub struct Providers {
    providers: BTreeMap<String, Provider>,
}

#[derive(Debug, Clone)]
enum Provider {
    Prometheus(prometheus::Prometheus),
    Http(http::HttpJson),
    Command(command::CommandProvider),
}

/// Answers larger than this are refused rather than read whole.
const MAX_BODY: usize = 16 << 20;

impl Providers {
    /// Clients for `configs`. Fails only when the HTTP client cannot be built.
    pub fn new(configs: &BTreeMap<String, ProviderConfig>) -> Result<Providers, String> {
        let mut providers = BTreeMap::new();
        for (name, config) in configs {
            let provider = match config {
                ProviderConfig::Prometheus { address, timeout } => {
                    Provider::Prometheus(prometheus::Prometheus::new(address, *timeout)?)
                }
                ProviderConfig::Http { timeout } => Provider::Http(http::HttpJson::new(*timeout)?),
                ProviderConfig::Command { timeout } => {
                    Provider::Command(command::CommandProvider::new(*timeout))
                }
            };
            providers.insert(name.clone(), provider);
        }
        Ok(Providers { providers })
    }

    fn get(&self, name: &str) -> Result<&Provider, FetchError> {
        self.providers
            .get(name)
            .ok_or_else(|| FetchError::UnknownProvider(name.to_owned()))
    }
}

impl Fetch for Providers {
    async fn instant(&self, query: &Query) -> Result<MetricValue, FetchError> {
        match self.get(&query.provider)? {
            Provider::Prometheus(p) => p.instant(&query.text).await,
            Provider::Http(p) => p.fetch(&query.text, query.path.as_deref()).await,
            Provider::Command(p) => p.fetch(&query.text, query.path.as_deref()).await,
        }
    }

    async fn range(&self, query: &Query, window: &Window) -> Result<Vec<f64>, FetchError> {
        let value = match self.get(&query.provider)? {
            Provider::Prometheus(p) => return p.range(&query.text, window).await,
            Provider::Http(p) => p.fetch(&query.text, query.path.as_deref()).await?,
            Provider::Command(p) => p.fetch(&query.text, query.path.as_deref()).await?,
        };
        Ok(match value {
            MetricValue::Scalar(value) => vec![value],
            MetricValue::Vector(values) => values,
        })
    }
}

/// Reads a response body up to [`MAX_BODY`].
async fn read_body(mut response: reqwest::Response, address: &str) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(FetchError::BadResponse {
                        address: address.to_owned(),
                        message: format!("the answer is larger than {} MiB", MAX_BODY >> 20),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => {
                return Err(FetchError::Unreachable {
                    address: address.to_owned(),
                    cause: error_chain(&error),
                });
            }
        }
    }
}

/// An error with its causes (reqwest's own message says little: "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
