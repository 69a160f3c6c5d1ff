//! The built-in functions: `contains`, `startsWith`, `endsWith`, `format`, `join`,
//! `toJSON`, `fromJSON`, `case`, the status functions and `hashFiles`.

use std::borrow::Cow;

use crate::ast::Function;
use crate::compare::{equals, to_upper_special};
use crate::error::ExprError;
use crate::eval::{Evaluator, Val, value_operand};
use crate::json::{parse_json, to_pretty_json, write_array};
use crate::number::js_trim;
use crate::value::Value;

/// Calls `function` with evaluated arguments (their count was checked by the parser).
pub(crate) fn call<'a>(
    ev: &mut Evaluator<'a>,
    function: Function,
    args: Vec<Val<'a>>,
) -> Result<Val<'a>, ExprError> {
    let arg = |i: usize| args.get(i);
    let text = |s: String| Val::owned(Value::String(s));
    match function {
        Function::Contains => Ok(bool_val(contains(arg(0), arg(1)))),
        Function::StartsWith => Ok(bool_val(affix(arg(0), arg(1), |l, r| l.starts_with(r)))),
        Function::EndsWith => Ok(bool_val(affix(arg(0), arg(1), |l, r| l.ends_with(r)))),
        Function::Format => {
            let out = format(&args)?;
            ev.charge_text(&out)?;
            Ok(text(out))
        }
        Function::Join => {
            let out = join(arg(0), arg(1));
            ev.charge_text(&out)?;
            Ok(text(out))
        }
        Function::ToJson => {
            let out = match arg(0) {
                Some(Val::Filtered(items)) => {
                    let mut out = String::new();
                    write_array(items.iter().map(AsRef::as_ref), 0, &mut out);
                    out
                }
                Some(Val::One(value)) => to_pretty_json(value),
                None => "null".to_owned(),
            };
            ev.charge_text(&out)?;
            Ok(text(out))
        }
        Function::FromJson => {
            let input = arg(0).map_or(Cow::Borrowed(""), Val::coerce_str);
            if js_trim(&input).is_empty() {
                return Err(ExprError::evaluation("empty input"));
            }
            ev.charge_text(&input)?;
            let value = parse_json(&input).map_err(|e| {
                ExprError::evaluation(format!("Error parsing JSON when evaluating fromJson: {e}"))
            })?;
            Ok(Val::owned(value))
        }
        Function::Case => case(args),
        Function::Status(status) => Ok(bool_val(ev.ctx.status(status))),
        Function::HashFiles => {
            let patterns: Vec<String> = args.iter().map(|a| a.coerce_str().into_owned()).collect();
            let hash = ev
                .ctx
                .hash_files(&patterns)
                .map_err(ExprError::evaluation)?;
            Ok(text(hash))
        }
    }
}

fn bool_val(b: bool) -> Val<'static> {
    Val::owned(Value::Bool(b))
}

/// `contains(search, item)`: substring test (ignoring case) for text, element test
/// (loose equality) for arrays.
fn contains(search: Option<&Val<'_>>, item: Option<&Val<'_>>) -> bool {
    let (Some(search), Some(item)) = (search, item) else {
        return false;
    };
    if search.is_primitive() {
        if !item.is_primitive() {
            return false;
        }
        let haystack = search.coerce_str().to_lowercase();
        let needle = item.coerce_str().to_lowercase();
        return haystack.contains(&needle);
    }
    let needle = item.operand();
    // Elements borrowed from the contexts keep their identity, so an object found by
    // reference (`contains(x.list, x.list[0])`) matches as in GitHub.
    let hit = |v: &Value, borrowed: bool| {
        let identity = borrowed.then(|| std::ptr::from_ref::<Value>(v) as usize);
        equals(needle, value_operand(v, identity))
    };
    match search {
        Val::Filtered(items) => items.iter().any(|c| hit(c, matches!(c, Cow::Borrowed(_)))),
        Val::One(Cow::Borrowed(Value::Array(items))) => items.iter().any(|v| hit(v, true)),
        Val::One(Cow::Owned(Value::Array(items))) => items.iter().any(|v| hit(v, false)),
        Val::One(_) => false,
    }
}

/// `startsWith` / `endsWith`: both arguments must be primitives; case is ignored.
fn affix(l: Option<&Val<'_>>, r: Option<&Val<'_>>, test: impl Fn(&str, &str) -> bool) -> bool {
    match (l, r) {
        (Some(l), Some(r)) if l.is_primitive() && r.is_primitive() => test(
            &to_upper_special(&l.coerce_str()),
            &to_upper_special(&r.coerce_str()),
        ),
        _ => false,
    }
}

/// `join(array, separator = ',')`; a primitive is returned as text, an object as `''`.
fn join(items: Option<&Val<'_>>, separator: Option<&Val<'_>>) -> String {
    let Some(items) = items else {
        return String::new();
    };
    if items.is_primitive() {
        return items.coerce_str().into_owned();
    }
    let Some(items) = items.array_items() else {
        return String::new();
    };
    let separator = separator
        .filter(|s| s.is_primitive())
        .map_or(Cow::Borrowed(","), Val::coerce_str);
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&separator);
        }
        out.push_str(&item.coerce_str());
    }
    out
}

/// `case(pred1, value1, ..., default)`: the value of the first true predicate.
fn case(args: Vec<Val<'_>>) -> Result<Val<'_>, ExprError> {
    let mut args = args.into_iter();
    while let Some(first) = args.next() {
        let Some(value) = args.next() else {
            return Ok(first); // the default
        };
        match first.as_value() {
            Some(Value::Bool(true)) => return Ok(value),
            Some(Value::Bool(false)) => {}
            _ => {
                return Err(ExprError::evaluation(
                    "case predicate must evaluate to a boolean value",
                ));
            }
        }
    }
    Ok(Val::owned(Value::Null))
}

/// `format('{0} and {1}', a, b)`: `{N}` is replaced by argument N coerced to text,
/// `{{`/`}}` are literal braces. Characters between the digits and `}` are ignored,
/// as GitHub does.
fn format(args: &[Val<'_>]) -> Result<String, ExprError> {
    let fs = args.first().map_or(Cow::Borrowed(""), Val::coerce_str);
    let fs: &str = &fs;
    let invalid = || ExprError::evaluation(format!("The following format string is invalid: {fs}"));
    let bytes = fs.as_bytes();
    let mut out = String::with_capacity(fs.len());
    let mut index = 0;
    while index < fs.len() {
        let rest = fs.get(index..).unwrap_or("");
        let lbrace = rest.find('{').map(|i| i + index);
        let rbrace = rest.find('}').map(|i| i + index);
        match (lbrace, rbrace) {
            (Some(l), r) if r.is_none_or(|r| r > l) => {
                if bytes.get(l + 1) == Some(&b'{') {
                    out.push_str(fs.get(index..=l).unwrap_or(""));
                    index = l + 2;
                    continue;
                }
                let Some(r) = r.filter(|r| *r > l + 1) else {
                    return Err(invalid());
                };
                let digits = bytes[l + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits == 0 {
                    return Err(invalid());
                }
                let arg_index = fs
                    .get(l + 1..l + 1 + digits)
                    .and_then(|d| d.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                let Some(arg) = arg_index.checked_add(1).and_then(|i| args.get(i)) else {
                    return Err(ExprError::evaluation(format!(
                        "The following format string references more arguments than were supplied: {fs}"
                    )));
                };
                out.push_str(fs.get(index..l).unwrap_or(""));
                out.push_str(&arg.coerce_str());
                index = r + 1;
            }
            (_, Some(r)) => {
                if bytes.get(r + 1) != Some(&b'}') {
                    return Err(invalid());
                }
                out.push_str(fs.get(index..=r).unwrap_or(""));
                index = r + 2;
            }
            (_, None) => {
                out.push_str(rest);
                break;
            }
        }
    }
    Ok(out)
}
