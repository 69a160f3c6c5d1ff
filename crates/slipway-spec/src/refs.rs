//! Finds the context names an expression refers to (`matrix.os`, `secrets['TOKEN']`), with
//! their positions, by a light scan that skips string literals. The expression parser checks
//! the syntax; this scan only tells which contexts and matrix axes a field uses.

/// The context names of the expression language.
pub(crate) const CONTEXTS: &[&str] = &[
    "env", "matrix", "steps", "needs", "inputs", "secrets", "git", "job",
];

/// One use of a context.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ContextRef {
    /// The context name, as written (contexts are case-insensitive, as in GitHub Actions).
    pub context: String,
    /// 0-based character offset of the name in the scanned text.
    pub offset: usize,
    /// The property right after it (`.name` or `['name']`), with its offset.
    pub property: Option<(String, usize)>,
}

/// Scans `text`. For a template only the `${{ … }}` parts are looked at; for a bare
/// condition (`whole_is_expression`) the whole text is, unless it contains `${{`.
pub(crate) fn scan(text: &str, whole_is_expression: bool) -> Vec<ContextRef> {
    let chars: Vec<char> = text.chars().collect();
    let mut refs = Vec::new();
    let whole = whole_is_expression && !text.contains("${{");
    let mut i = 0;
    let mut inside = whole;
    while i < chars.len() {
        if !inside {
            if chars.get(i..i + 3) == Some(&['$', '{', '{']) {
                inside = true;
                i += 3;
            } else {
                i += 1;
            }
            continue;
        }
        let c = chars[i];
        if c == '\'' {
            i = skip_string(&chars, i);
        } else if !whole && c == '}' && chars.get(i + 1) == Some(&'}') {
            inside = false;
            i += 2;
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let after_dot = previous_significant(&chars, start) == Some('.');
            let name: String = chars[start..i].iter().collect();
            let is_context = CONTEXTS.iter().any(|ctx| ctx.eq_ignore_ascii_case(&name));
            let is_call = next_significant(&chars, i) == Some('(');
            if is_context && !after_dot && !is_call {
                refs.push(ContextRef {
                    context: name.to_ascii_lowercase(),
                    offset: start,
                    property: property_after(&chars, i),
                });
            }
        } else {
            i += 1;
        }
    }
    refs
}

/// Index just past a single-quoted string starting at `start` (`''` is an escaped quote).
fn skip_string(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

fn property_after(chars: &[char], mut i: usize) -> Option<(String, usize)> {
    i = skip_spaces(chars, i);
    match chars.get(i)? {
        '.' => {
            let start = skip_spaces(chars, i + 1);
            let mut end = start;
            while end < chars.len() && is_ident_char(chars[end]) {
                end += 1;
            }
            (end > start).then(|| (chars[start..end].iter().collect(), start))
        }
        '[' => {
            let quote = skip_spaces(chars, i + 1);
            if chars.get(quote) != Some(&'\'') {
                return None;
            }
            let end = skip_string(chars, quote);
            let inner: String = chars.get(quote + 1..end.checked_sub(1)?)?.iter().collect();
            Some((inner.replace("''", "'"), quote + 1))
        }
        _ => None,
    }
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

fn previous_significant(chars: &[char], i: usize) -> Option<char> {
    chars[..i]
        .iter()
        .rev()
        .find(|c| !c.is_whitespace())
        .copied()
}

fn next_significant(chars: &[char], i: usize) -> Option<char> {
    chars.get(i..)?.iter().find(|c| !c.is_whitespace()).copied()
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_contexts_outside_strings() {
        let refs = scan(
            "a ${{ matrix.os == 'matrix.x' && secrets['TOKEN'] }} matrix.no",
            false,
        );
        let found: Vec<_> = refs
            .iter()
            .map(|r| (r.context.as_str(), r.offset, r.property.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("matrix", 6, Some(("os".to_string(), 13))),
                ("secrets", 33, Some(("TOKEN".to_string(), 42))),
            ]
        );
    }

    #[test]
    fn ignores_properties_and_functions() {
        assert!(scan("${{ github.env }} ${{ toJSON(x.job) }}", false).is_empty());
        assert_eq!(scan("needs.build.result == 'success'", true).len(), 1);
    }
}
