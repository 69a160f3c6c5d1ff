//! The bridge to `slipway-expr`: parse options per field, and its errors as positions.

pub use slipway_expr::{Condition, Template};
use slipway_expr::{ExprError, ParseOptions};

use crate::fields::Field;
use crate::refs::CONTEXTS;

/// A syntax error in an expression.
pub(crate) struct ExprIssue {
    /// 1-based character position in the text, 0 if unknown.
    pub position: usize,
    /// Length of the bad token in characters, 0 if unknown.
    pub length: usize,
    pub message: String,
    pub help: Option<String>,
}

/// Every context is allowed at parse time: which contexts a field may use is checked by
/// [`crate::check`], which can explain the rule (e.g. secrets only through `env:`).
fn options(field: Field) -> ParseOptions {
    ParseOptions::new()
        .with_contexts(CONTEXTS)
        .with_status_functions(field.status_functions())
        .with_hash_files(field.hash_files())
}

fn issue(error: ExprError, field: Field) -> ExprIssue {
    let lower = error.message.to_ascii_lowercase();
    let help = if lower.contains("hashfiles") && !field.hash_files() {
        Some(format!(
            "`hashFiles()` reads the workspace and cannot be used in {}",
            field.describe()
        ))
    } else if ["success", "failure", "always", "cancelled"]
        .iter()
        .any(|f| lower.contains(f))
        && !field.status_functions()
    {
        Some("status functions (`success()`, `failure()`, `always()`, `cancelled()`) can be used only in `if:`".to_string())
    } else {
        None
    };
    ExprIssue {
        position: error.position,
        length: 0,
        message: error.message,
        help,
    }
}

pub(crate) fn parse_template(text: &str, field: Field) -> Result<Template, ExprIssue> {
    Template::parse(text, &options(field)).map_err(|e| issue(e, field))
}

pub(crate) fn parse_condition(text: &str, field: Field) -> Result<Condition, ExprIssue> {
    Condition::parse(text, &options(field)).map_err(|e| issue(e, field))
}
