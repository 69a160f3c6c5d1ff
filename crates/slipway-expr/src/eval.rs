//! Tree-walking evaluator. Values read from the contexts or from the tree are borrowed
//! (`Cow::Borrowed`) and only cloned when the caller asks for an owned result, so an
//! `if:` over a large `github` context copies nothing.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::Context;
use crate::ast::{BinaryOp, Index, Node};
use crate::compare::{Operand, compare_is, equals};
use crate::error::ExprError;
use crate::funcs::call;
use crate::value::{Value, fold_key};

/// Most bytes the functions of one evaluation may produce (GitHub's 1 MiB), so
/// `format('{0}{0}{0}…', toJSON(github))` cannot exhaust memory. Text is counted as
/// GitHub's .NET runner counts it, two bytes per UTF-16 unit, and the count only grows.
pub(crate) const MAX_MEMORY: usize = 1024 * 1024;

/// A value during evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    One(Cow<'a, Value>),
    /// The result of `.*` / `[*]`: an array whose items are gathered from elsewhere.
    Filtered(Vec<Cow<'a, Value>>),
}

impl<'a> Val<'a> {
    pub(crate) fn owned(value: Value) -> Self {
        Val::One(Cow::Owned(value))
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Val::One(v) => v.into_owned(),
            Val::Filtered(items) => Value::Array(items.into_iter().map(Cow::into_owned).collect()),
        }
    }

    /// The single value, or `None` for a filtered array.
    pub(crate) fn as_value(&self) -> Option<&Value> {
        match self {
            Val::One(v) => Some(v),
            Val::Filtered(_) => None,
        }
    }

    pub(crate) fn is_truthy(&self) -> bool {
        self.as_value().is_none_or(Value::is_truthy)
    }

    pub(crate) fn is_primitive(&self) -> bool {
        self.as_value().is_some_and(Value::is_primitive)
    }

    pub(crate) fn coerce_str(&self) -> Cow<'_, str> {
        match self {
            Val::One(v) => v.coerce_str(),
            Val::Filtered(_) => Cow::Borrowed("Array"),
        }
    }

    /// The items when this is an array (plain or filtered).
    pub(crate) fn array_items(&self) -> Option<Vec<&Value>> {
        match self {
            Val::One(v) => match v.as_ref() {
                Value::Array(items) => Some(items.iter().collect()),
                _ => None,
            },
            Val::Filtered(items) => Some(items.iter().map(AsRef::as_ref).collect()),
        }
    }

    /// This value as a comparison operand; only borrowed arrays and objects have an identity.
    pub(crate) fn operand(&self) -> Operand<'_> {
        match self {
            Val::Filtered(_) => Operand::Array(None),
            Val::One(cow) => {
                let identity = match cow {
                    Cow::Borrowed(v) => Some(std::ptr::from_ref::<Value>(v) as usize),
                    Cow::Owned(_) => None,
                };
                value_operand(cow, identity)
            }
        }
    }
}

/// A value as a comparison operand with the given identity for arrays and objects.
pub(crate) fn value_operand(value: &Value, identity: Option<usize>) -> Operand<'_> {
    match value {
        Value::Null => Operand::Null,
        Value::Bool(b) => Operand::Bool(*b),
        Value::Number(n) => Operand::Number(*n),
        Value::String(s) => Operand::Str(s),
        Value::Array(_) => Operand::Array(identity),
        Value::Object(_) => Operand::Object(identity),
    }
}

/// Per-evaluation state.
pub(crate) struct Evaluator<'a> {
    pub(crate) ctx: &'a dyn Context,
    /// Bytes of text produced by functions so far.
    memory: usize,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(ctx: &'a dyn Context) -> Self {
        Evaluator { ctx, memory: 0 }
    }

    /// Accounts for newly produced text; errors past [`MAX_MEMORY`].
    pub(crate) fn charge_text(&mut self, text: &str) -> Result<(), ExprError> {
        let bytes = text.encode_utf16().count().saturating_mul(2);
        self.memory = self.memory.saturating_add(bytes);
        if self.memory > MAX_MEMORY {
            return Err(ExprError::evaluation(
                "The maximum allowed memory size was exceeded",
            ));
        }
        Ok(())
    }

    pub(crate) fn eval(&mut self, node: &'a Node) -> Result<Val<'a>, ExprError> {
        match node {
            Node::Literal(value) => Ok(Val::One(Cow::Borrowed(value))),
            Node::Context(name) => Ok(match self.ctx.lookup(name) {
                Some(value) => Val::One(Cow::Borrowed(value)),
                None => Val::owned(Value::Null),
            }),
            Node::Not(inner) => {
                let value = self.eval(inner)?;
                Ok(Val::owned(Value::Bool(!value.is_truthy())))
            }
            Node::And(items) => self.logical(items, false),
            Node::Or(items) => self.logical(items, true),
            Node::Chain { first, rest } => {
                let mut acc = self.eval(first)?;
                for (op, rhs) in rest {
                    let right = self.eval(rhs)?;
                    let result = binary(*op, acc.operand(), right.operand());
                    acc = Val::owned(Value::Bool(result));
                }
                Ok(acc)
            }
            Node::Index { target, index } => {
                let key = match index {
                    Index::Star => Key::Star,
                    Index::Property(name) => Key::Name(Cow::Borrowed(name)),
                    Index::Expr(expr) => Key::from_value(&self.eval(expr)?),
                };
                let target = self.eval(target)?;
                Ok(access(target, &key))
            }
            Node::Call { function, args } => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg)?);
                }
                call(self, *function, values)
            }
        }
    }

    /// `&&` (stop at the first falsy operand) or `||` (stop at the first truthy one).
    fn logical(&mut self, items: &'a [Node], stop_when: bool) -> Result<Val<'a>, ExprError> {
        let mut result = Val::owned(Value::Null);
        for item in items {
            result = self.eval(item)?;
            if result.is_truthy() == stop_when {
                break;
            }
        }
        Ok(result)
    }
}

fn binary(op: BinaryOp, l: Operand<'_>, r: Operand<'_>) -> bool {
    match op {
        BinaryOp::Equal => equals(l, r),
        BinaryOp::NotEqual => !equals(l, r),
        BinaryOp::Less => compare_is(l, r, Ordering::Less),
        BinaryOp::Greater => compare_is(l, r, Ordering::Greater),
        BinaryOp::LessEqual => equals(l, r) || compare_is(l, r, Ordering::Less),
        BinaryOp::GreaterEqual => equals(l, r) || compare_is(l, r, Ordering::Greater),
    }
}

/// An evaluated index: `*`, or a key usable on objects (lower-cased) and/or arrays.
enum Key<'k> {
    Star,
    /// A property name: matches object keys, never array positions.
    Name(Cow<'k, str>),
    Dynamic {
        name: Option<String>,
        position: Option<usize>,
    },
}

impl Key<'_> {
    fn from_value(value: &Val<'_>) -> Key<'static> {
        let name = value
            .is_primitive()
            .then(|| fold_key(&value.coerce_str()).into_owned());
        let number = value.as_value().map_or(f64::NAN, Value::to_number);
        // Saturating float-to-int cast: huge indexes are simply out of range.
        let position = (number.is_finite() && number >= 0.0).then(|| number.floor() as usize);
        Key::Dynamic { name, position }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Key::Star => None,
            Key::Name(name) => Some(name),
            Key::Dynamic { name, .. } => name.as_deref(),
        }
    }

    fn position(&self) -> Option<usize> {
        match self {
            Key::Dynamic { position, .. } => *position,
            _ => None,
        }
    }
}

/// `target[key]`, `target.name`, `target.*`.
fn access<'a>(target: Val<'a>, key: &Key<'_>) -> Val<'a> {
    match target {
        Val::Filtered(items) => {
            let mut out = Vec::new();
            for item in items {
                gather(item, key, &mut out);
            }
            Val::Filtered(out)
        }
        Val::One(value) => {
            if let Key::Star = key {
                let mut out = Vec::new();
                gather(value, key, &mut out);
                return Val::Filtered(out);
            }
            let mut out = Vec::with_capacity(1);
            gather(value, key, &mut out);
            Val::One(out.pop().unwrap_or(Cow::Owned(Value::Null)))
        }
    }
}

/// Pushes what `key` selects from `value` (nothing when it selects nothing).
fn gather<'a>(value: Cow<'a, Value>, key: &Key<'_>, out: &mut Vec<Cow<'a, Value>>) {
    match value {
        Cow::Borrowed(Value::Array(items)) => match key {
            Key::Star => out.extend(items.iter().map(Cow::Borrowed)),
            _ => out.extend(key.position().and_then(|i| items.get(i)).map(Cow::Borrowed)),
        },
        Cow::Borrowed(Value::Object(object)) => match key {
            Key::Star => out.extend(object.values().map(Cow::Borrowed)),
            _ => out.extend(
                key.name()
                    .and_then(|k| object.get_folded(k))
                    .map(Cow::Borrowed),
            ),
        },
        Cow::Owned(Value::Array(mut items)) => match key {
            Key::Star => out.extend(items.into_iter().map(Cow::Owned)),
            _ => {
                if let Some(i) = key.position().filter(|i| *i < items.len()) {
                    out.push(Cow::Owned(items.swap_remove(i)));
                }
            }
        },
        Cow::Owned(Value::Object(mut object)) => match key {
            Key::Star => out.extend(
                object
                    .into_entries()
                    .into_iter()
                    .map(|(_, v)| Cow::Owned(v)),
            ),
            _ => {
                if let Some(v) = key.name().and_then(|k| object.take_folded(k)) {
                    out.push(Cow::Owned(v));
                }
            }
        },
        _ => {}
    }
}
