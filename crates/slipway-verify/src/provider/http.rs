//! An HTTP endpoint answering JSON: `GET` the rendered URL, take the number or array at the
//! configured JSON pointer. A non-2xx status, a body that is not JSON, or nothing numeric at
//! the pointer is an error; an empty array is [`FetchError::NoData`].

use std::time::Duration;

use super::json::extract;
use super::{FetchError, MetricValue, error_chain, read_body};

#[derive(Debug, Clone)]
pub(crate) struct HttpJson {
    client: reqwest::Client,
}

impl HttpJson {
    pub(crate) fn new(timeout: Duration) -> Result<HttpJson, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| format!("cannot build an HTTP client: {error}"))?;
        Ok(HttpJson { client })
    }

    pub(crate) async fn fetch(
        &self,
        url: &str,
        path: Option<&str>,
    ) -> Result<MetricValue, FetchError> {
        let response =
            self.client
                .get(url)
                .send()
                .await
                .map_err(|error| FetchError::Unreachable {
                    address: url.to_owned(),
                    cause: error_chain(&error),
                })?;
        let status = response.status();
        let body = read_body(response, url).await?;
        let bad = |message: String| FetchError::BadResponse {
            address: url.to_owned(),
            message,
        };
        if !status.is_success() {
            return Err(bad(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(body.get(..200).unwrap_or(&body))
            )));
        }
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|error| bad(format!("not JSON: {error}")))?;
        let value = extract(&document, path).map_err(bad)?;
        match value {
            MetricValue::Vector(values) if values.is_empty() => Err(FetchError::NoData),
            value => Ok(value),
        }
    }
}
