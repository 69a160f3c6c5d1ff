//! The Slipway engine: plan a run, schedule its jobs, run their steps through
//! an executor, record everything through a store.

pub mod approval;
pub mod cachekey;
pub mod contexts;
pub mod events;
pub mod groups;
mod job;
mod job_approval;
mod job_definition;
mod job_deploy;
mod job_outputs;
mod job_single;
mod job_sink;
pub mod plan;
pub mod ports;
pub mod records;
pub mod run;
pub mod scheduler;

pub use events::{Event, EventSink, Silent};
pub use job::{JobOutcome, Upstream, run_job};
pub use plan::Plan;
pub use run::{
    Engine, EngineError, Launcher, LocalLauncher, RunContext, RunOptions, Start, now_ms,
    retry_records, run_with,
};
