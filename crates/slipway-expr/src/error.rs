//! The error type shared by the lexer, parser, evaluator and templates.

use std::fmt;

/// Which stage rejected the expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text could not be split into tokens (bad symbol, unterminated string, bad number).
    Lexing,
    /// The tokens do not form a valid expression (syntax, unknown name or function, depth).
    Parsing,
    /// The expression is valid but failed while running (bad format string, bad JSON, memory).
    Evaluation,
}

/// An error from parsing or evaluating an expression.
///
/// `message` is GitHub's wording without the location (e.g. `Unexpected symbol: ')'`);
/// `position` is the 1-based character position of the offending token, or 0 when the
/// error has no position (most evaluation errors). For templates the position counts from
/// the start of the whole template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// The stage that failed.
    pub kind: ErrorKind,
    /// 1-based character position of the bad token, 0 if none.
    pub position: usize,
    /// What went wrong, in GitHub's words.
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(kind: ErrorKind, position: usize, message: impl Into<String>) -> Self {
        ExprError {
            kind,
            position,
            message: message.into(),
        }
    }

    pub(crate) fn evaluation(message: impl Into<String>) -> Self {
        ExprError::new(ErrorKind::Evaluation, 0, message)
    }

    /// The same error moved `offset` characters to the right (for expressions embedded in
    /// a larger text such as a template).
    pub(crate) fn shifted(mut self, offset: usize) -> Self {
        if self.position > 0 {
            self.position += offset;
        }
        self
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.position > 0 {
            write!(f, "{}. Located at position {}", self.message, self.position)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for ExprError {}
