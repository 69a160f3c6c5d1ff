//! `if:` conditions.

use crate::error::ExprError;
use crate::{Context, Expr, ParseOptions, StatusFunction, Template};

/// A parsed `if:` condition.
///
/// Follows GitHub: the text may be a bare expression (`github.ref == 'refs/heads/main'`)
/// or one wrapped whole in `${{ }}`. Text that mixes `${{ }}` with other characters
/// (`${{ a }} && b`) is a template: its rendered text is tested, so any non-empty result
/// is true, exactly the GitHub pitfall. Without a status function the condition is
/// `success() && (...)`; an empty condition is `success()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The text as written, for display and for hashing a definition.
    source: String,
    kind: Kind,
    uses_status: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Empty,
    Expr(Expr),
    Template(Template),
}

impl Condition {
    /// Parses a condition. Error positions are 1-based character offsets within `src`.
    pub fn parse(src: &str, opts: &ParseOptions) -> Result<Condition, ExprError> {
        let trimmed = src.trim();
        let kind = if trimmed.is_empty() {
            Kind::Empty
        } else if !src.contains("${{") {
            Kind::Expr(Expr::parse(src, opts)?)
        } else {
            let template = Template::parse(src, opts)?;
            match template.whole_expression() {
                Some(expr) => Kind::Expr(expr.clone()),
                None => Kind::Template(template),
            }
        };
        let uses_status = match &kind {
            Kind::Empty => false,
            Kind::Expr(expr) => expr.uses_status_function(),
            Kind::Template(template) => template.uses_status_function(),
        };
        Ok(Condition {
            source: src.to_owned(),
            kind,
            uses_status,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether a status function appears (if not, `success() &&` is implied).
    pub fn uses_status_function(&self) -> bool {
        self.uses_status
    }

    /// Evaluates the condition, applying the implicit `success() &&`.
    pub fn eval(&self, ctx: &dyn Context) -> Result<bool, ExprError> {
        if !self.uses_status && !ctx.status(StatusFunction::Success) {
            return Ok(false);
        }
        match &self.kind {
            Kind::Empty => Ok(true),
            Kind::Expr(expr) if expr.is_empty() => Ok(true),
            Kind::Expr(expr) => expr.eval_truthy(ctx),
            Kind::Template(template) => Ok(!template.render(ctx)?.is_empty()),
        }
    }
}
