//! `slipway.yml`: parsing with source spans, validation into a typed [`model`], diagnostics.
//!
//! Pure: no I/O besides the source text the caller passes in, and no panic on any input.

mod expr;
pub mod model;

pub use model::*;
