//! The Slipway engine: plan a run, schedule its jobs, run their steps through
//! an executor, record everything through a store.

pub mod ports;
pub mod records;
