//! The HTTP routes, one module per concern.

pub mod agent;
pub mod approvals;
pub mod audit;
pub mod environments;
pub mod hooks;
pub mod meta;
pub mod objects;
pub mod projects;
pub mod releases;
pub mod runs;
pub mod users;
