//! Expression values and GitHub's coercion rules.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::number::{coerce_number_to_string, parse_js_number};

/// A value an expression works with: what contexts hold and what evaluation returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null`, also the result of reading a missing property.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Every number is a double, as in JavaScript (NaN and ±Infinity included).
    Number(f64),
    /// Text.
    String(String),
    /// An ordered list.
    Array(Vec<Value>),
    /// A map with case-insensitive keys.
    Object(Object),
}

/// An insertion-ordered map whose key lookup ignores case, as GitHub's contexts do
/// (`github.EVENT_NAME` reads `event_name`). Keys keep the spelling they were added with.
#[derive(Debug, Clone, Default)]
pub struct Object {
    entries: Vec<(String, Value)>,
    /// Lower-cased key -> index into `entries`.
    index: HashMap<String, usize>,
}

/// The lower-case form of a key, borrowing when it already is lower case.
pub(crate) fn fold_key(key: &str) -> Cow<'_, str> {
    if key.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        Cow::Owned(key.to_lowercase())
    } else {
        Cow::Borrowed(key)
    }
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value stored under `key`, compared without regard to case.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_folded(&fold_key(key))
    }

    /// Lookup with a key that is already lower case (see [`fold_key`]).
    pub(crate) fn get_folded(&self, folded: &str) -> Option<&Value> {
        let i = *self.index.get(folded)?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// Moves the value under an already lower-cased key out, leaving null behind.
    pub(crate) fn take_folded(&mut self, folded: &str) -> Option<Value> {
        let i = *self.index.get(folded)?;
        self.entries.get_mut(i).map(|(_, v)| std::mem::take(v))
    }

    /// Mutable access to the value under `key` (case-insensitive).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = *self.index.get(fold_key(key).as_ref())?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// Sets `key` to `value`. If a key equal ignoring case exists, its value is replaced
    /// and its original spelling kept; returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        let key = key.into();
        let folded = fold_key(&key).into_owned();
        if let Some(&i) = self.index.get(&folded)
            && let Some(slot) = self.entries.get_mut(i)
        {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.index.insert(folded, self.entries.len());
        self.entries.push((key, value));
        None
    }

    /// Adds `key` unless a key equal ignoring case exists (first one wins, as when GitHub
    /// reads JSON into a context).
    pub(crate) fn insert_if_absent(&mut self, key: String, value: Value) {
        let folded = fold_key(&key).into_owned();
        if self.index.contains_key(&folded) {
            return;
        }
        self.index.insert(folded, self.entries.len());
        self.entries.push((key, value));
    }

    /// Adds a member read from JSON text: `JSON.parse` lets the last of two identical keys
    /// win, and GitHub then keeps the first of keys that differ only in case.
    pub(crate) fn insert_json_member(&mut self, key: String, value: Value) {
        // Each lower-cased key has one entry, so an identical key can only be that one.
        let existing = self.index.get(fold_key(&key).as_ref()).copied();
        match existing.and_then(|i| self.entries.get_mut(i)) {
            Some(slot) if slot.0 == key => slot.1 = value,
            Some(_) => {}
            None => self.insert_if_absent(key, value),
        }
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Values in insertion order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Consumes the object, yielding its entries in order.
    pub(crate) fn into_entries(self) -> Vec<(String, Value)> {
        self.entries
    }
}

impl PartialEq for Object {
    /// Same entries, same order, same key spelling.
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut object = Object::new();
        for (k, v) in iter {
            object.insert(k, v);
        }
        object
    }
}

impl Value {
    /// GitHub truthiness: `null`, `false`, `0`, `NaN` and `''` are false; everything
    /// else, including empty arrays and objects, is true.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => !(*n == 0.0 || n.is_nan()),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// Whether this is null, a boolean, a number or a string.
    pub fn is_primitive(&self) -> bool {
        !matches!(self, Value::Array(_) | Value::Object(_))
    }

    /// GitHub's coercion to text, as used when a value is interpolated: null is `''`,
    /// booleans `true`/`false`, numbers rounded to 15 decimals in JavaScript's layout
    /// (`1`, `0.5`, `1e+21`, `NaN`, `Infinity`), arrays `Array`, objects `Object`.
    pub fn to_display_string(&self) -> String {
        self.coerce_str().into_owned()
    }

    /// [`Value::to_display_string`] without copying strings.
    pub(crate) fn coerce_str(&self) -> Cow<'_, str> {
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Bool(true) => Cow::Borrowed("true"),
            Value::Bool(false) => Cow::Borrowed("false"),
            Value::Number(n) => Cow::Owned(coerce_number_to_string(*n)),
            Value::String(s) => Cow::Borrowed(s),
            Value::Array(_) => Cow::Borrowed("Array"),
            Value::Object(_) => Cow::Borrowed("Object"),
        }
    }

    /// GitHub's coercion to a number: null 0, booleans 0/1, strings as JavaScript's
    /// `Number()` reads them (blank is 0, junk is NaN), arrays and objects NaN.
    pub fn to_number(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => *n,
            Value::String(s) => parse_js_number(s),
            Value::Array(_) | Value::Object(_) => f64::NAN,
        }
    }

    /// The kind's name as GitHub reports it: `Null`, `Boolean`, `Number`, `String`,
    /// `Array`, `Object`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Number(_) => "Number",
            Value::String(_) => "String",
            Value::Array(_) => "Array",
            Value::Object(_) => "Object",
        }
    }

    /// Converts to JSON. NaN and ±Infinity, which JSON cannot hold, become `null`;
    /// integral numbers become JSON integers.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => number_to_json(*n),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(object) => serde_json::Value::Object(
                object
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn number_to_json(n: f64) -> serde_json::Value {
    const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() <= EXACT_INT {
        // In range and integral, so the cast is exact; -0 becomes 0 as in JSON.stringify.
        return serde_json::Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(items) => {
                Value::Array(items.into_iter().map(Value::from).collect())
            }
            serde_json::Value::Object(map) => {
                let mut object = Object::new();
                for (k, v) in map {
                    object.insert_if_absent(k, Value::from(v));
                }
                Value::Object(object)
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(o)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_lookup_ignores_case_and_keeps_order() {
        let mut o = Object::new();
        o.insert("Event_Name", Value::from("push"));
        o.insert("b", Value::Null);
        assert_eq!(o.get("EVENT_NAME"), Some(&Value::from("push")));
        assert_eq!(
            o.insert("event_name", Value::from("pr")),
            Some(Value::from("push"))
        );
        let keys: Vec<&str> = o.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["Event_Name", "b"]);
    }

    #[test]
    fn display_strings() {
        assert_eq!(Value::Null.to_display_string(), "");
        assert_eq!(Value::Number(1.0).to_display_string(), "1");
        assert_eq!(Value::Array(vec![]).to_display_string(), "Array");
        assert_eq!(Value::Object(Object::new()).to_display_string(), "Object");
    }

    #[test]
    fn json_round_trip() {
        let json = serde_json::json!({"a": [1, 2.5, null, true, "x"], "B": {}});
        assert_eq!(Value::from(json.clone()).to_json(), json);
        assert_eq!(Value::Number(f64::NAN).to_json(), serde_json::Value::Null);
    }
}
