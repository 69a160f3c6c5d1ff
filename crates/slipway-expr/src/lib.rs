//! The GitHub Actions expression language (`${{ … }}`), as used in `slipway.yml`.
//!
//! # Design
//!
//! Text goes through three stages, each pure (no I/O) and panic-free on any input:
//!
//! 1. **Lexer** (`lexer.rs`): characters to tokens. Numbers are read up to the next
//!    boundary character and must be valid JavaScript `Number()` text (`0xff`, `1e3`,
//!    `.5`, `Infinity`); strings are `'...'` with `''` for a quote.
//! 2. **Parser** (`parser.rs`): recursive descent, one function per precedence level
//!    (lowest first: `||`, `&&`, `== !=`, `< <= > >=`, `!`, then `.x` `[i]` `.*`, calls
//!    and literals). Unknown context names and functions, and wrong argument counts, are
//!    parse errors. Nesting deeper than GitHub's 50 levels and text longer than 21,000
//!    characters are rejected, so nothing recurses without bound.
//! 3. **Evaluator** (`eval.rs`, `funcs.rs`, `compare.rs`): walks the tree, borrowing values from the contexts and
//!    cloning only what the caller receives. Functions may produce at most 1 MiB of text
//!    per evaluation.
//!
//! [`Template`] handles strings that mix text and `${{ }}`; [`Condition`] handles `if:`.
//!
//! # Coercion, in brief
//!
//! * Truthiness: `null`, `false`, `0`, `NaN` and `''` are false; all else (also `[]`, `{}`) true.
//! * To number: null 0, booleans 0/1, strings by JavaScript's `Number()` (blank is 0,
//!   junk NaN), arrays and objects NaN.
//! * To text: null `''`, numbers rounded to 15 decimals in JavaScript's layout,
//!   arrays `Array`, objects `Object`.
//! * `==` between different kinds converts null and booleans to numbers, then a
//!   string/number pair to numbers; arrays and objects equal only themselves. Strings
//!   compare ignoring case. `<`/`>` on incomparable kinds, or NaN, are false.
//! * `&&` and `||` return an operand, not a boolean.

mod ast;
mod compare;
mod condition;
mod error;
mod eval;
mod funcs;
mod json;
mod lexer;
mod number;
mod parser;
mod template;
mod value;

pub use ast::StatusFunction;
pub use condition::Condition;
pub use error::{ErrorKind, ExprError};
pub use json::parse_json;
pub use template::Template;
pub use value::{Object, Value};

use ast::Node;

/// What an expression may refer to: which contexts, and which optional functions.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Allowed context names, lower-cased.
    contexts: Vec<String>,
    /// Whether `success()`, `failure()`, `always()` and `cancelled()` may be called.
    pub status_functions: bool,
    /// Whether `hashFiles(...)` may be called.
    pub hash_files: bool,
}

impl ParseOptions {
    /// Options allowing no contexts and no optional functions.
    pub fn new() -> Self {
        ParseOptions::default()
    }

    /// Adds allowed context names (compared without regard to case).
    pub fn with_contexts<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.contexts
            .extend(names.into_iter().map(|n| n.as_ref().to_lowercase()));
        self
    }

    /// Allows or forbids the status functions.
    pub fn with_status_functions(mut self, allowed: bool) -> Self {
        self.status_functions = allowed;
        self
    }

    /// Allows or forbids `hashFiles`.
    pub fn with_hash_files(mut self, allowed: bool) -> Self {
        self.hash_files = allowed;
        self
    }

    /// Whether `name` is an allowed context.
    pub fn allows_context(&self, name: &str) -> bool {
        self.contexts.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// A parsed expression, ready to be evaluated any number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// `None` for the empty expression, which evaluates to null.
    root: Option<Node>,
}

impl Expr {
    /// Parses the text of an expression (without `${{ }}`). Error positions are 1-based
    /// character positions within `src`.
    pub fn parse(src: &str, opts: &ParseOptions) -> Result<Expr, ExprError> {
        let tokens = lexer::lex(src)?;
        let root = parser::parse_tokens(&tokens, opts)?;
        Ok(Expr { root })
    }

    /// Whether the expression is empty (only whitespace).
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Whether `success()`, `failure()`, `always()` or `cancelled()` is called anywhere.
    /// An `if:` without one is implicitly `success() && (...)`.
    pub fn uses_status_function(&self) -> bool {
        self.root.as_ref().is_some_and(Node::uses_status_function)
    }

    /// Evaluates against `ctx`; same as [`eval`].
    pub fn eval(&self, ctx: &dyn Context) -> Result<Value, ExprError> {
        eval(self, ctx)
    }

    /// Evaluates and returns only the truthiness, without copying any value.
    pub fn eval_truthy(&self, ctx: &dyn Context) -> Result<bool, ExprError> {
        match &self.root {
            None => Ok(false),
            Some(node) => Ok(eval::Evaluator::new(ctx).eval(node)?.is_truthy()),
        }
    }

    /// Evaluates and coerces the result to text (see [`Value::to_display_string`]).
    pub fn eval_display(&self, ctx: &dyn Context) -> Result<String, ExprError> {
        match &self.root {
            None => Ok(String::new()),
            Some(node) => Ok(eval::Evaluator::new(ctx)
                .eval(node)?
                .coerce_str()
                .into_owned()),
        }
    }
}

/// Evaluates `expr` against the contexts in `ctx`.
pub fn eval(expr: &Expr, ctx: &dyn Context) -> Result<Value, ExprError> {
    match &expr.root {
        None => Ok(Value::Null),
        Some(node) => Ok(eval::Evaluator::new(ctx).eval(node)?.into_value()),
    }
}

/// Where an evaluation gets its data and the run's status from.
pub trait Context {
    /// The context with this lower-case name (`github`, `env`, `matrix`, ...), if any.
    /// A context the parser allowed but that is absent here reads as null.
    fn lookup(&self, name: &str) -> Option<&Value>;

    /// The value of a status function. By default: success and always are true,
    /// failure and cancelled false.
    fn status(&self, f: StatusFunction) -> bool {
        matches!(f, StatusFunction::Success | StatusFunction::Always)
    }

    /// `hashFiles(patterns...)`: a digest of the matching files. Unavailable by default.
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        let _ = patterns;
        Err("hashFiles is not available here".to_owned())
    }
}

/// A [`Context`] holding its contexts in an [`Object`] (name -> value), with the
/// default status and no `hashFiles`.
#[derive(Debug, Clone, Default)]
pub struct MapContext {
    /// The contexts by name (looked up without regard to case).
    pub contexts: Object,
}

impl MapContext {
    /// A context set with no contexts.
    pub fn new() -> Self {
        MapContext::default()
    }

    /// Adds or replaces a context.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.contexts.insert(name, value);
        self
    }

    /// The names of the contexts held (for [`ParseOptions::with_contexts`]).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.contexts.iter().map(|(k, _)| k)
    }
}

impl From<Object> for MapContext {
    fn from(contexts: Object) -> Self {
        MapContext { contexts }
    }
}

impl Context for MapContext {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.contexts.get(name)
    }
}
