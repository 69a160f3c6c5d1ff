//! Numbers out of JSON answers (HTTP endpoints and commands).

use serde_json::Value;

use super::MetricValue;

/// The number or array of numbers at `pointer` (RFC 6901; none or `""` is the whole
/// document). `null` and the strings `"NaN"`, `"+Inf"`, `"-Inf"` or numeric text are accepted,
/// as Prometheus spells values; anything else is an error naming what was found.
pub(crate) fn extract(document: &Value, pointer: Option<&str>) -> Result<MetricValue, String> {
    let pointer = pointer.unwrap_or("");
    let value = document
        .pointer(pointer)
        .ok_or_else(|| format!("nothing at the JSON pointer {pointer:?}"))?;
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                number(item).ok_or_else(|| {
                    format!(
                        "item {index} at {pointer:?} is not a number: {}",
                        short(item)
                    )
                })
            })
            .collect::<Result<Vec<f64>, String>>()
            .map(MetricValue::Vector),
        other => number(other)
            .map(MetricValue::Scalar)
            .ok_or_else(|| format!("the value at {pointer:?} is not a number: {}", short(other))),
    }
}

/// A number, `null` (NaN, as JSON cannot spell it) or numeric text.
pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::Null => Some(f64::NAN),
        Value::String(text) => parse_float(text),
        _ => None,
    }
}

/// Go's and Prometheus's spellings: `NaN`, `+Inf`, `-Inf`, `1e-3`.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    match text.trim() {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_arrays_and_pointers() {
        let doc = json!({"a": {"b": [1, "2.5", null, "+Inf"]}, "c": 0.5, "d": "x"});
        assert_eq!(extract(&doc, Some("/c")), Ok(MetricValue::Scalar(0.5)));
        let Ok(MetricValue::Vector(values)) = extract(&doc, Some("/a/b")) else {
            panic!("not a vector");
        };
        assert_eq!(values.len(), 4);
        assert!(values[2].is_nan() && values[3].is_infinite());
        assert!(
            extract(&doc, Some("/d"))
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            extract(&doc, Some("/zz"))
                .unwrap_err()
                .contains("nothing at")
        );
        assert!(extract(&doc, None).unwrap_err().contains("not a number"));
    }
}
