//! Manual inputs checked against a pipeline's `on.manual.inputs`: typed, defaults filled.

use serde_json::{Map, Number, Value};
use slipway_spec::{InputKind, ManualInput};

/// Checks `given` against `declared` and returns the inputs the run sees: every given value
/// converted to its declared type, and every declared input with a default that was not given
/// set to that default. Optional inputs without a default that were not given stay absent.
///
/// Values may come as JSON of the declared type or as text (`slipway trigger --input k=v`):
/// `"true"`/`"false"` for a boolean, a decimal number for a number. A string input takes only
/// a string. Every problem is reported, one per line: unknown names, missing required inputs,
/// wrong types, choices outside their options.
pub fn check_inputs(
    declared: &[ManualInput],
    given: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if !declared.iter().any(|input| &input.name == name) {
            let known = if declared.is_empty() {
                "the pipeline declares no inputs under `on.manual.inputs`".to_owned()
            } else {
                let names: Vec<&str> = declared.iter().map(|i| i.name.as_str()).collect();
                format!("declared inputs: {}", names.join(", "))
            };
            problems.push(format!("unknown input `{}` ({known})", shown(name)));
        }
    }
    let mut given = given;
    let mut typed = Map::new();
    for input in declared {
        match given.remove(&input.name) {
            Some(value) => match convert(&input.kind, value) {
                Ok(value) => {
                    typed.insert(input.name.clone(), value);
                }
                Err(why) => problems.push(format!("input `{}`: {why}", input.name)),
            },
            None => match &input.default {
                Some(default) => {
                    typed.insert(input.name.clone(), default.clone());
                }
                None if input.required => {
                    problems.push(format!(
                        "input `{}` is required and has no default",
                        input.name
                    ));
                }
                None => {}
            },
        }
    }
    if problems.is_empty() {
        Ok(typed)
    } else {
        Err(problems.join("\n"))
    }
}

/// `value` as `kind`, or why not.
fn convert(kind: &InputKind, value: Value) -> Result<Value, String> {
    match (kind, value) {
        (InputKind::String, Value::String(text)) => Ok(Value::String(text)),
        (InputKind::Boolean, Value::Bool(flag)) => Ok(Value::Bool(flag)),
        (InputKind::Boolean, Value::String(text)) => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "expected `true` or `false`, found \"{}\"",
                shown(&text)
            )),
        },
        (InputKind::Number, Value::Number(number)) => Ok(Value::Number(number)),
        (InputKind::Number, Value::String(text)) => parse_number(text.trim())
            .map(Value::Number)
            .ok_or_else(|| format!("expected a number, found \"{}\"", shown(&text))),
        (InputKind::Choice(options), Value::String(text)) => {
            if options.contains(&text) {
                Ok(Value::String(text))
            } else {
                Err(format!(
                    "\"{}\" is not one of the options: {}",
                    shown(&text),
                    options.join(", ")
                ))
            }
        }
        (kind, other) => Err(format!(
            "expected {}, found {}",
            describe_kind(kind),
            describe_value(&other)
        )),
    }
}

/// A decimal number: an integer when it reads as one, else a finite float.
fn parse_number(text: &str) -> Option<Number> {
    if let Ok(int) = text.parse::<i64>() {
        return Some(Number::from(int));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

fn describe_kind(kind: &InputKind) -> &'static str {
    match kind {
        InputKind::String => "a string",
        InputKind::Boolean => "`true` or `false`",
        InputKind::Number => "a number",
        InputKind::Choice(_) => "one of the options (a string)",
    }
}

fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// User text for a message: at most 64 characters, control characters escaped.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use slipway_spec::Span;

    fn input(name: &str, kind: InputKind, required: bool, default: Option<Value>) -> ManualInput {
        ManualInput {
            name: name.into(),
            kind,
            required,
            default,
            description: None,
            span: Span::default(),
        }
    }

    fn declared() -> Vec<ManualInput> {
        vec![
            input(
                "target",
                InputKind::Choice(vec!["dev".into(), "prod".into()]),
                true,
                None,
            ),
            input("dry_run", InputKind::Boolean, false, Some(json!(true))),
            input("replicas", InputKind::Number, false, None),
            input("note", InputKind::String, false, Some(json!("none"))),
        ]
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn text_values_are_typed_and_defaults_filled() {
        let typed = check_inputs(
            &declared(),
            map(json!({"target": "prod", "dry_run": "false", "replicas": "3"})),
        );
        assert_eq!(
            typed.map(Value::Object),
            Ok(json!({"target": "prod", "dry_run": false, "replicas": 3, "note": "none"}))
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let err = check_inputs(
            &declared(),
            map(json!({"dry_run": 1, "replicas": "many", "note": 5, "extra": "x"})),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "unknown input `extra` (declared inputs: target, dry_run, replicas, note)\n\
             input `target` is required and has no default\n\
             input `dry_run`: expected `true` or `false`, found a number\n\
             input `replicas`: expected a number, found \"many\"\n\
             input `note`: expected a string, found a number"
        );
    }

    #[test]
    fn choices_outside_options_and_odd_numbers_are_refused() {
        let err = check_inputs(&declared(), map(json!({"target": "staging"}))).unwrap_err();
        assert_eq!(
            err,
            "input `target`: \"staging\" is not one of the options: dev, prod"
        );
        let err = check_inputs(
            &declared(),
            map(json!({"target": "dev", "replicas": "NaN"})),
        );
        assert!(err.is_err());
        let ok = check_inputs(
            &declared(),
            map(json!({"target": "dev", "replicas": "2.5"})),
        );
        assert_eq!(ok.map(|m| m.get("replicas").cloned()), Ok(Some(json!(2.5))));
    }

    #[test]
    fn no_declared_inputs_refuses_any() {
        let err = check_inputs(&[], map(json!({"x\n": "1"}))).unwrap_err();
        assert_eq!(
            err,
            "unknown input `x\\n` (the pipeline declares no inputs under `on.manual.inputs`)"
        );
        assert_eq!(check_inputs(&[], Map::new()), Ok(Map::new()));
    }
}
