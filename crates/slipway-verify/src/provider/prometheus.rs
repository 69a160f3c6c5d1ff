//! Prometheus's HTTP API: `/api/v1/query` (instant) and `/api/v1/query_range`.
//!
//! Outcomes: an answer with `"status": "error"` (a syntax error, a timeout inside Prometheus)
//! is [`FetchError::Query`] with Prometheus's own message; an empty vector or matrix is
//! [`FetchError::NoData`]; a refused or timed-out connection is [`FetchError::Unreachable`]
//! naming the address; a string or an instant query answering a range vector is
//! [`FetchError::BadResponse`]. NaN values are passed on as NaN.

use std::time::Duration;

use serde_json::Value;

use super::json::parse_float;
use super::{FetchError, MetricValue, Window, error_chain, read_body};

#[derive(Debug, Clone)]
pub(crate) struct Prometheus {
    /// As configured, without a trailing `/`: `http://127.0.0.1:9090`.
    address: String,
    client: reqwest::Client,
}

impl Prometheus {
    pub(crate) fn new(address: &str, timeout: Duration) -> Result<Prometheus, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| format!("cannot build an HTTP client: {error}"))?;
        Ok(Prometheus {
            address: address.trim_end_matches('/').to_owned(),
            client,
        })
    }

    pub(crate) async fn instant(&self, query: &str) -> Result<MetricValue, FetchError> {
        let data = self.get("query", &[("query", query.to_owned())]).await?;
        let result = data.get("result");
        match data.get("resultType").and_then(Value::as_str) {
            Some("vector") => {
                let series = result.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                if series.is_empty() {
                    return Err(FetchError::NoData);
                }
                series
                    .iter()
                    .map(|s| self.point(s.get("value")))
                    .collect::<Result<Vec<f64>, FetchError>>()
                    .map(MetricValue::Vector)
            }
            Some("scalar") => self.point(result).map(MetricValue::Scalar),
            Some("matrix") => Err(self.bad(
                "the query returns a range vector; an instant measurement needs an instant vector or a scalar (wrap it, e.g. in rate() or avg_over_time())",
            )),
            Some(other) => Err(self.bad(&format!("a result of type {other:?} is not a number"))),
            None => Err(self.bad("the answer has no data.resultType")),
        }
    }

    pub(crate) async fn range(&self, query: &str, window: &Window) -> Result<Vec<f64>, FetchError> {
        let seconds = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
        let step = window.step.as_secs_f64().max(0.001);
        let params = [
            ("query", query.to_owned()),
            ("start", seconds(window.start_unix_ms)),
            ("end", seconds(window.end_unix_ms)),
            ("step", format!("{step}")),
        ];
        let data = self.get("query_range", &params).await?;
        match data.get("resultType").and_then(Value::as_str) {
            Some("matrix") => {}
            Some(other) => {
                return Err(self.bad(&format!("query_range answered {other:?}, not a matrix")));
            }
            None => return Err(self.bad("the answer has no data.resultType")),
        }
        let series = data
            .get("result")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut samples = Vec::new();
        for one in series {
            let values = one
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| self.bad("a series of the matrix has no values"))?;
            for point in values {
                samples.push(self.point(Some(point))?);
            }
        }
        if samples.is_empty() {
            return Err(FetchError::NoData);
        }
        Ok(samples)
    }

    /// GETs `/api/v1/ENDPOINT` and returns `data`, or the error Prometheus reported.
    async fn get(&self, endpoint: &str, params: &[(&str, String)]) -> Result<Value, FetchError> {
        let url = format!("{}/api/v1/{endpoint}", self.address);
        let response = self
            .client
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|error| FetchError::Unreachable {
                address: self.address.clone(),
                cause: error_chain(&error),
            })?;
        let status = response.status();
        let body = read_body(response, &self.address).await?;
        // Prometheus answers errors (400, 422, 503) with a JSON body saying why.
        let answer: Value = serde_json::from_slice(&body).map_err(|_| {
            self.bad(&format!(
                "HTTP {status} with a body that is not JSON: {}",
                String::from_utf8_lossy(body.get(..200).unwrap_or(&body))
            ))
        })?;
        match answer.get("status").and_then(Value::as_str) {
            Some("success") => answer
                .get("data")
                .cloned()
                .ok_or_else(|| self.bad("a success without data")),
            Some("error") => Err(FetchError::Query {
                address: self.address.clone(),
                kind: answer
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
                message: answer
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
                    .to_owned(),
            }),
            _ => Err(self.bad(&format!("HTTP {status} without a status field"))),
        }
    }

    /// `[timestamp, "value"]` to the value.
    fn point(&self, point: Option<&Value>) -> Result<f64, FetchError> {
        point
            .and_then(|p| p.get(1))
            .and_then(Value::as_str)
            .and_then(parse_float)
            .ok_or_else(|| self.bad("a sample is not [time, \"number\"]"))
    }

    fn bad(&self, message: &str) -> FetchError {
        FetchError::BadResponse {
            address: self.address.clone(),
            message: message.to_owned(),
        }
    }
}
