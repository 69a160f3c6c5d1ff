//! `/metrics`: Prometheus text format, counted in memory (atomics, no lock
//! on the hot path) plus run and job counts read from the store.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the histogram buckets.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0,
];

/// A fixed-bucket histogram of seconds.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Webhook delivery results counted.
pub const DELIVERY_RESULTS: [&str; 4] = ["started", "ignored", "rejected", "failed"];

/// The server's own counters.
#[derive(Default)]
pub struct Metrics {
    pub queue_wait: Histogram,
    pub job_duration: Histogram,
    jobs_queued: AtomicU64,
    deliveries: [AtomicU64; DELIVERY_RESULTS.len()],
}

impl Metrics {
    pub fn job_queued(&self) {
        self.jobs_queued.fetch_add(1, Ordering::Relaxed);
    }

    pub fn delivery(&self, result: &str) {
        if let Some(i) = DELIVERY_RESULTS.iter().position(|r| *r == result) {
            self.deliveries[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The whole exposition. `runs` and `jobs` are counts by state from the
    /// store; `agents` the agents connected now.
    pub fn render(
        &self,
        runs: &[(&str, i64)],
        jobs: &[(&str, i64)],
        agents: usize,
        driven_runs: usize,
    ) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP slipway_runs Runs by state.\n# TYPE slipway_runs gauge\n");
        for (state, n) in runs {
            let _ = writeln!(out, "slipway_runs{{state=\"{state}\"}} {n}");
        }
        out.push_str("# HELP slipway_jobs Jobs by state.\n# TYPE slipway_jobs gauge\n");
        for (state, n) in jobs {
            let _ = writeln!(out, "slipway_jobs{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP slipway_agents_connected Agents waiting for or running jobs.\n# TYPE slipway_agents_connected gauge\nslipway_agents_connected {agents}"
        );
        let _ = writeln!(
            out,
            "# HELP slipway_runs_driven Runs this server is driving now.\n# TYPE slipway_runs_driven gauge\nslipway_runs_driven {driven_runs}"
        );
        let _ = writeln!(
            out,
            "# HELP slipway_jobs_queued_total Jobs queued for agents.\n# TYPE slipway_jobs_queued_total counter\nslipway_jobs_queued_total {}",
            self.jobs_queued.load(Ordering::Relaxed)
        );
        self.queue_wait.render(
            &mut out,
            "slipway_job_queue_wait_seconds",
            "Time from a job queued to an agent claiming it.",
        );
        self.job_duration.render(
            &mut out,
            "slipway_job_duration_seconds",
            "Job durations reported by agents.",
        );
        out.push_str("# HELP slipway_webhook_deliveries_total Webhook deliveries by result.\n# TYPE slipway_webhook_deliveries_total counter\n");
        for (result, n) in DELIVERY_RESULTS.iter().zip(&self.deliveries) {
            let _ = writeln!(
                out,
                "slipway_webhook_deliveries_total{{result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out
    }
}
