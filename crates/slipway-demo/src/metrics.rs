//! Request metrics and their Prometheus text exposition (format 0.0.4), written by hand: three
//! metric families in fixed arrays of atomics need no registry.
//!
//! Every combination of path and status code is exported from the start, zeros included, so that
//! a canary query such as `rate(demo_requests_total{code="500"}[1m])` yields 0 rather than no
//! data for a healthy version. The `path` label takes one of five values (unknown paths are
//! `other`), so clients cannot grow the series count.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::http::{Route, Status};

/// Upper bounds of the latency buckets in seconds: the Prometheus client libraries' defaults.
const BUCKETS: [(f64, &str); 11] = [
    (0.005, "0.005"),
    (0.01, "0.01"),
    (0.025, "0.025"),
    (0.05, "0.05"),
    (0.1, "0.1"),
    (0.25, "0.25"),
    (0.5, "0.5"),
    (1.0, "1"),
    (2.5, "2.5"),
    (5.0, "5"),
    (10.0, "10"),
];

const ROUTES: usize = Route::ALL.len();
const STATUSES: usize = Status::ALL.len();

/// One path's latency histogram. Buckets are stored non-cumulative (one increment per
/// observation) and summed when rendered.
struct Histogram {
    /// `BUCKETS.len()` finite buckets, then the overflow bucket.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// Counters of one service instance; shared by all connections.
pub struct Metrics {
    /// The version, escaped for a label value.
    version_label: String,
    requests: [[AtomicU64; STATUSES]; ROUTES],
    durations: [Histogram; ROUTES],
    in_flight: AtomicI64,
}

impl Metrics {
    /// Metrics labelled with `version`.
    pub fn new(version: &str) -> Self {
        Metrics {
            version_label: escape_label(version),
            requests: [const { [const { AtomicU64::new(0) }; STATUSES] }; ROUTES],
            durations: [const { Histogram::new() }; ROUTES],
            in_flight: AtomicI64::new(0),
        }
    }

    /// Counts one answered request and its duration.
    pub fn record(&self, route: Route, status: Status, elapsed: Duration) {
        if let Some(row) = self.requests.get(route.index())
            && let Some(counter) = row.get(status.index())
        {
            counter.fetch_add(1, Relaxed);
        }
        if let Some(histogram) = self.durations.get(route.index()) {
            let seconds = elapsed.as_secs_f64();
            let bucket = BUCKETS
                .iter()
                .position(|(bound, _)| seconds <= *bound)
                .unwrap_or(BUCKETS.len());
            if let Some(bucket) = histogram.buckets.get(bucket) {
                bucket.fetch_add(1, Relaxed);
            }
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            histogram.sum_nanos.fetch_add(nanos, Relaxed);
        }
    }

    /// Marks a request as started; the returned guard marks it finished when dropped.
    pub fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(&self.in_flight)
    }

    /// Appends the exposition of all metrics to `out`.
    pub fn render(&self, out: &mut String) {
        let version = &self.version_label;
        // Writing into a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP demo_build_info Version of the running demo service.\n\
             # TYPE demo_build_info gauge\n\
             demo_build_info{{version=\"{version}\"}} 1"
        );

        let _ = writeln!(
            out,
            "# HELP demo_requests_in_flight Requests being answered now, this scrape included.\n\
             # TYPE demo_requests_in_flight gauge\n\
             demo_requests_in_flight{{version=\"{version}\"}} {}",
            self.in_flight.load(Relaxed)
        );

        let _ = writeln!(
            out,
            "# HELP demo_requests_total HTTP requests answered, by status code and path.\n\
             # TYPE demo_requests_total counter"
        );
        for (route, row) in Route::ALL.iter().zip(&self.requests) {
            for (status, counter) in Status::ALL.iter().zip(row) {
                let _ = writeln!(
                    out,
                    "demo_requests_total{{code=\"{}\",path=\"{}\",version=\"{version}\"}} {}",
                    status.code(),
                    route.label(),
                    counter.load(Relaxed)
                );
            }
        }

        let _ = writeln!(
            out,
            "# HELP demo_request_duration_seconds Time from a complete request head to the response, by path.\n\
             # TYPE demo_request_duration_seconds histogram"
        );
        for (route, histogram) in Route::ALL.iter().zip(&self.durations) {
            let labels = format_args!("path=\"{}\",version=\"{version}\"", route.label());
            let mut cumulative = 0;
            for ((_, bound), bucket) in BUCKETS.iter().zip(&histogram.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(
                    out,
                    "demo_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            if let Some(overflow) = histogram.buckets.last() {
                cumulative += overflow.load(Relaxed);
            }
            let sum = Duration::from_nanos(histogram.sum_nanos.load(Relaxed)).as_secs_f64();
            let _ = writeln!(
                out,
                "demo_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}\n\
                 demo_request_duration_seconds_sum{{{labels}}} {sum}\n\
                 demo_request_duration_seconds_count{{{labels}}} {cumulative}"
            );
        }
    }
}

/// A request in flight; see [`Metrics::start_request`].
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Escapes a label value as the text format requires.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(metrics: &Metrics) -> String {
        let mut out = String::new();
        metrics.render(&mut out);
        out
    }

    #[test]
    fn counts_by_path_and_code_and_buckets_cumulatively() {
        let metrics = Metrics::new("v1");
        metrics.record(Route::Root, Status::Ok, Duration::from_millis(3));
        metrics.record(
            Route::Root,
            Status::InternalServerError,
            Duration::from_millis(30),
        );
        metrics.record(Route::Root, Status::Ok, Duration::from_secs(11));
        let text = rendered(&metrics);
        for line in [
            "demo_build_info{version=\"v1\"} 1",
            "demo_requests_total{code=\"200\",path=\"/\",version=\"v1\"} 2",
            "demo_requests_total{code=\"500\",path=\"/\",version=\"v1\"} 1",
            "demo_requests_total{code=\"200\",path=\"/healthz\",version=\"v1\"} 0",
            "demo_request_duration_seconds_bucket{path=\"/\",version=\"v1\",le=\"0.005\"} 1",
            "demo_request_duration_seconds_bucket{path=\"/\",version=\"v1\",le=\"0.025\"} 1",
            "demo_request_duration_seconds_bucket{path=\"/\",version=\"v1\",le=\"0.05\"} 2",
            "demo_request_duration_seconds_bucket{path=\"/\",version=\"v1\",le=\"10\"} 2",
            "demo_request_duration_seconds_bucket{path=\"/\",version=\"v1\",le=\"+Inf\"} 3",
            "demo_request_duration_seconds_sum{path=\"/\",version=\"v1\"} 11.033",
            "demo_request_duration_seconds_count{path=\"/\",version=\"v1\"} 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }

    #[test]
    fn in_flight_follows_the_guards() {
        let metrics = Metrics::new("v1");
        let guard = metrics.start_request();
        assert!(rendered(&metrics).contains("demo_requests_in_flight{version=\"v1\"} 1\n"));
        drop(guard);
        assert!(rendered(&metrics).contains("demo_requests_in_flight{version=\"v1\"} 0\n"));
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("a\nb"), "a\\nb");
    }
}
