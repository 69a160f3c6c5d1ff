//! The parsed form of an expression.
//!
//! Comparison chains and `&&`/`||` chains are kept flat (a first operand and a list of
//! the rest) so the tree's height stays bounded by GitHub's nesting limit even for
//! `a == b == c == ...` of any length: evaluation and drop never recurse deeply.

use crate::value::Value;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Literal(Value),
    /// A context such as `github`, by its lower-case name.
    Context(String),
    Index {
        target: Box<Node>,
        index: Index,
    },
    Not(Box<Node>),
    /// `first op1 second op2 third ...`, evaluated left to right.
    Chain {
        first: Box<Node>,
        rest: Vec<(BinaryOp, Node)>,
    },
    /// `a && b && ...`: the first falsy operand, else the last.
    And(Vec<Node>),
    /// `a || b || ...`: the first truthy operand, else the last.
    Or(Vec<Node>),
    Call {
        function: Function,
        args: Vec<Node>,
    },
}

/// What is inside `[...]` or after `.`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Index {
    /// `.*` or `[*]`: every element, as a filtered array.
    Star,
    /// `.name`, by its lower-case spelling.
    Property(String),
    /// `[expr]`.
    Expr(Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

/// The status functions GitHub offers in `if:` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusFunction {
    /// `success()`: no earlier job/step failed or was cancelled.
    Success,
    /// `failure()`: an earlier job/step failed.
    Failure,
    /// `always()`: true, even when cancelled.
    Always,
    /// `cancelled()`: the run was cancelled.
    Cancelled,
}

/// Functions an expression may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Contains,
    StartsWith,
    EndsWith,
    Format,
    Join,
    ToJson,
    FromJson,
    Case,
    Status(StatusFunction),
    HashFiles,
}

/// Most arguments a variadic function takes (GitHub's limit).
pub(crate) const MAX_ARGUMENTS: usize = 255;

impl Function {
    /// Looks a function up by its lower-case name.
    pub(crate) fn by_name(folded: &str) -> Option<Function> {
        Some(match folded {
            "contains" => Function::Contains,
            "startswith" => Function::StartsWith,
            "endswith" => Function::EndsWith,
            "format" => Function::Format,
            "join" => Function::Join,
            "tojson" => Function::ToJson,
            "fromjson" => Function::FromJson,
            "case" => Function::Case,
            "success" => Function::Status(StatusFunction::Success),
            "failure" => Function::Status(StatusFunction::Failure),
            "always" => Function::Status(StatusFunction::Always),
            "cancelled" => Function::Status(StatusFunction::Cancelled),
            "hashfiles" => Function::HashFiles,
            _ => return None,
        })
    }

    /// Least and most number of arguments.
    pub(crate) fn arity(self) -> (usize, usize) {
        match self {
            Function::Contains | Function::StartsWith | Function::EndsWith => (2, 2),
            Function::Format => (1, MAX_ARGUMENTS),
            Function::Join => (1, 2),
            Function::ToJson | Function::FromJson => (1, 1),
            Function::Case => (3, usize::MAX),
            Function::Status(_) => (0, 0),
            Function::HashFiles => (1, MAX_ARGUMENTS),
        }
    }
}

impl Node {
    /// Whether a status function is called anywhere in this tree.
    pub(crate) fn uses_status_function(&self) -> bool {
        match self {
            Node::Literal(_) | Node::Context(_) => false,
            Node::Index { target, index } => {
                target.uses_status_function()
                    || matches!(index, Index::Expr(e) if e.uses_status_function())
            }
            Node::Not(inner) => inner.uses_status_function(),
            Node::Chain { first, rest } => {
                first.uses_status_function() || rest.iter().any(|(_, n)| n.uses_status_function())
            }
            Node::And(items) | Node::Or(items) => items.iter().any(Node::uses_status_function),
            Node::Call { function, args } => {
                matches!(function, Function::Status(_))
                    || args.iter().any(Node::uses_status_function)
            }
        }
    }
}
