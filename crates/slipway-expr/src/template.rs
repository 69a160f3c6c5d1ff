//! Strings that mix literal text with `${{ expression }}` segments.

use crate::error::{ErrorKind, ExprError};
use crate::{Context, Expr, ParseOptions, Value, eval};

/// A parsed template such as `build-${{ matrix.os }}-${{ github.sha }}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The text as written, for display and for hashing a definition.
    source: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Expr(Expr),
}

const OPEN: &str = "${{";
const CLOSE: &str = "}}";

impl Template {
    /// Splits `src` into text and expressions and parses each expression. Error positions
    /// are 1-based character offsets within the whole of `src`. A `}}` inside a string
    /// literal (`'...'`) does not end an expression.
    pub fn parse(src: &str, opts: &ParseOptions) -> Result<Template, ExprError> {
        let mut segments = Vec::new();
        let mut rest = src;
        let mut consumed = 0; // bytes of `src` before `rest`
        while let Some(open) = rest.find(OPEN) {
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_owned()));
            }
            let body_start = open + OPEN.len();
            let body = &rest[body_start..];
            let Some(close) = find_close(body) else {
                return Err(ExprError::new(
                    ErrorKind::Parsing,
                    char_position(src, consumed + open),
                    "The expression is not closed. An unescaped ${{ sequence was found, \
                     but the closing }} sequence was not found",
                ));
            };
            let text = &body[..close];
            if text.trim().is_empty() {
                return Err(ExprError::new(
                    ErrorKind::Parsing,
                    char_position(src, consumed + open),
                    "An expression was expected",
                ));
            }
            let offset = char_position(src, consumed + body_start) - 1;
            let expr = Expr::parse(text, opts).map_err(|e| e.shifted(offset))?;
            segments.push(Segment::Expr(expr));
            let next = body_start + close + CLOSE.len();
            consumed += next;
            rest = &rest[next..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_owned()));
        }
        Ok(Template {
            source: src.to_owned(),
            segments,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether there is no `${{ }}` at all.
    pub fn is_literal(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Text(_)))
    }

    /// The expressions in order.
    pub fn expressions(&self) -> impl Iterator<Item = &Expr> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Expr(e) => Some(e),
            Segment::Text(_) => None,
        })
    }

    /// The expression when the template is one `${{ }}` with at most whitespace around it.
    pub(crate) fn whole_expression(&self) -> Option<&Expr> {
        let mut exprs = self.segments.iter().filter(|s| match s {
            Segment::Text(text) => !text.trim().is_empty(),
            Segment::Expr(_) => true,
        });
        match (exprs.next(), exprs.next()) {
            (Some(Segment::Expr(expr)), None) => Some(expr),
            _ => None,
        }
    }

    /// Whether any expression calls a status function.
    pub fn uses_status_function(&self) -> bool {
        self.expressions().any(Expr::uses_status_function)
    }

    /// Evaluates every expression and joins the pieces, coercing values to text
    /// (null is empty, numbers as GitHub prints them, arrays `Array`, objects `Object`).
    pub fn render(&self, ctx: &dyn Context) -> Result<String, ExprError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Expr(expr) => out.push_str(&expr.eval_display(ctx)?),
            }
        }
        Ok(out)
    }

    /// The value itself when the template is exactly one `${{ }}` with no text around it
    /// (so `${{ fromJSON('[1,2]') }}` stays an array); otherwise the rendered text.
    pub fn eval_single(&self, ctx: &dyn Context) -> Result<Value, ExprError> {
        match self.segments.as_slice() {
            [Segment::Expr(expr)] => eval(expr, ctx),
            _ => self.render(ctx).map(Value::String),
        }
    }
}

/// Byte offset of the `}}` that closes an expression body, skipping string literals.
fn find_close(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // `''` inside a string toggles twice, which is right.
            b'\'' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// 1-based character position of the character at `byte` in `src`.
fn char_position(src: &str, byte: usize) -> usize {
    src.get(..byte).map_or(0, |s| s.chars().count()) + 1
}
