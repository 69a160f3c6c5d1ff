//! Expression types of the model. Placeholder until `slipway-expr` lands: the model names
//! `Template` and `Condition`, which will be re-exported from that crate.

/// Text mixed with `${{ }}` expressions (placeholder).
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// The source text.
    pub source: String,
}

/// An `if:` condition (placeholder).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The source text.
    pub source: String,
}
