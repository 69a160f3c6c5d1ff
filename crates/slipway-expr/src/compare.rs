//! GitHub's loose comparison: operands of different kinds are coerced towards numbers
//! (like JavaScript's `==`, but arrays and objects are only equal to themselves), and
//! strings compare case-insensitively by their upper-case forms.

use std::cmp::Ordering;

use crate::number::parse_js_number;

/// An operand reduced to what comparison needs. Arrays and objects carry an identity:
/// the address of a value borrowed from the contexts, or `None` for a value made during
/// evaluation, which is equal to nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operand<'x> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'x str),
    Array(Option<usize>),
    Object(Option<usize>),
}

impl Operand<'_> {
    fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn to_number(self) -> f64 {
        match self {
            Operand::Null => 0.0,
            Operand::Bool(b) => f64::from(u8::from(b)),
            Operand::Number(n) => n,
            Operand::Str(s) => parse_js_number(s),
            Operand::Array(_) | Operand::Object(_) => f64::NAN,
        }
    }
}

/// Converts the operands until they are of one kind, where a rule says so.
fn coerce<'x>(l: Operand<'x>, r: Operand<'x>) -> (Operand<'x>, Operand<'x>) {
    if l.same_kind(&r) {
        return (l, r);
    }
    match (l, r) {
        (Operand::Number(_), Operand::Str(_)) => (l, Operand::Number(r.to_number())),
        (Operand::Str(_), Operand::Number(_)) => (Operand::Number(l.to_number()), r),
        (Operand::Null | Operand::Bool(_), _) => coerce(Operand::Number(l.to_number()), r),
        (_, Operand::Null | Operand::Bool(_)) => coerce(l, Operand::Number(r.to_number())),
        _ => (l, r),
    }
}

/// `==`.
pub(crate) fn equals(l: Operand<'_>, r: Operand<'_>) -> bool {
    match coerce(l, r) {
        (Operand::Null, Operand::Null) => true,
        (Operand::Number(a), Operand::Number(b)) => a == b,
        (Operand::Str(a), Operand::Str(b)) => str_eq_ignore_case(a, b),
        (Operand::Bool(a), Operand::Bool(b)) => a == b,
        (Operand::Array(Some(a)), Operand::Array(Some(b)))
        | (Operand::Object(Some(a)), Operand::Object(Some(b))) => a == b,
        _ => false,
    }
}

/// `<` (`Less`) or `>` (`Greater`); false whenever the operands are not comparable.
pub(crate) fn compare_is(l: Operand<'_>, r: Operand<'_>, wanted: Ordering) -> bool {
    let ordering = match coerce(l, r) {
        (Operand::Number(a), Operand::Number(b)) => a.partial_cmp(&b),
        (Operand::Str(a), Operand::Str(b)) => Some(str_cmp_ignore_case(a, b)),
        (Operand::Bool(a), Operand::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    };
    ordering == Some(wanted)
}

/// JavaScript's `toUpperCase`, except that the dotless `ı` stays as it is (GitHub's
/// `toUpperSpecial`, which keeps `ı` distinct from `i`).
pub(crate) fn upper_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(|c| {
        let keep = c == 'ı';
        let mut upper = c.to_uppercase();
        let first = if keep { Some(c) } else { upper.next() };
        first.into_iter().chain(upper.filter(move |_| !keep))
    })
}

/// The upper-case form as a string (see [`upper_chars`]).
pub(crate) fn to_upper_special(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    upper_chars(s).collect()
}

fn str_eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    upper_chars(a).eq(upper_chars(b))
}

/// Orders upper-cased strings by UTF-16 code units, as JavaScript's `<` does.
fn str_cmp_ignore_case(a: &str, b: &str) -> Ordering {
    upper_chars(a)
        .map(utf16_order)
        .cmp(upper_chars(b).map(utf16_order))
}

/// A key that orders characters as their UTF-16 encodings order: characters beyond the
/// basic plane (surrogate pairs, D800–DFFF) sort before U+E000–U+FFFF.
fn utf16_order(c: char) -> u32 {
    let c = c as u32;
    if (0xE000..=0xFFFF).contains(&c) {
        c + 0x10_0000
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_equality() {
        assert!(equals(Operand::Null, Operand::Number(0.0)));
        assert!(equals(Operand::Str(" 0x10 "), Operand::Number(16.0)));
        assert!(equals(Operand::Bool(true), Operand::Str("1")));
        assert!(!equals(
            Operand::Number(f64::NAN),
            Operand::Number(f64::NAN)
        ));
        assert!(equals(Operand::Str("ABC"), Operand::Str("abc")));
        assert!(!equals(Operand::Str("ı"), Operand::Str("I")));
        assert!(equals(Operand::Str("straße"), Operand::Str("STRASSE")));
        assert!(!equals(Operand::Array(None), Operand::Array(None)));
        assert!(equals(Operand::Object(Some(8)), Operand::Object(Some(8))));
    }

    #[test]
    fn ordering() {
        assert!(compare_is(
            Operand::Str("a"),
            Operand::Str("B"),
            Ordering::Less
        ));
        assert!(compare_is(
            Operand::Bool(true),
            Operand::Bool(false),
            Ordering::Greater
        ));
        assert!(!compare_is(
            Operand::Number(f64::NAN),
            Operand::Number(1.0),
            Ordering::Less
        ));
        assert!(compare_is(
            Operand::Str("😀"),
            Operand::Str("\u{FF21}"),
            Ordering::Less
        ));
    }
}
