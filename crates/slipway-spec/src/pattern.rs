//! Filter patterns of `branches`, `tags`, `paths` and their `-ignore` twins, with GitHub
//! Actions' syntax (its "filter pattern cheat sheet"):
//!
//! - `*` any run of characters except `/`; `**` any run of characters; `**/` nothing, or any
//!   run of characters ending in `/` (so `docs/**/*.md` matches `docs/a.md`);
//! - `?` makes the preceding character (or `[...]`) optional, `+` repeats it once or more:
//!   `*.jsx?` matches `page.js` and `page.jsx`; `v[12].[0-9]+` matches `v1.10`;
//! - `[...]` one character: ASCII letters and digits, and ranges inside `a-z`, `A-Z`, `0-9`;
//! - `\` takes the next character literally; every other character, `.` included, is literal;
//! - a leading `!` (see [`Pattern::negated`]) turns the pattern into an exclusion.
//!
//! Matching is a set-of-states simulation: time linear in the text for a given pattern, no
//! backtracking, whatever the pattern.

/// One character position of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Atom {
    Char(char),
    /// Inclusive ranges; a single character is a range of one.
    Class(Vec<(char, char)>),
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Char(a) => *a == c,
            Atom::Class(ranges) => ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    One(Atom),
    /// `x?`
    Optional(Atom),
    /// `x+`
    OneOrMore(Atom),
    /// `*`
    Star,
    /// `**`
    Globstar,
    /// `**/`: nothing, or at least one character followed by `/`.
    Dirs,
}

/// A compiled filter pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    negated: bool,
    items: Vec<Item>,
}

impl Pattern {
    /// Compiles `source`, or says what is wrong with it.
    pub(crate) fn new(source: &str) -> Result<Pattern, String> {
        let (negated, body) = match source.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, source),
        };
        if body.is_empty() {
            return Err(if negated {
                "`!` must be followed by a pattern".to_string()
            } else {
                "the pattern is empty".to_string()
            });
        }
        let mut items = Vec::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            let item = match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    if chars.peek() == Some(&'/') {
                        chars.next();
                        Item::Dirs
                    } else {
                        Item::Globstar
                    }
                }
                '*' => Item::Star,
                '?' | '+' => match items.pop() {
                    Some(Item::One(atom)) if c == '?' => Item::Optional(atom),
                    Some(Item::One(atom)) => Item::OneOrMore(atom),
                    // At the start GitHub takes the character literally.
                    None => Item::One(Atom::Char(c)),
                    Some(_) => {
                        return Err(format!(
                            "`{c}` applies to the preceding character or `[...]`, not to a wildcard or another `?`/`+`"
                        ));
                    }
                },
                '[' => Item::One(class(&mut chars)?),
                '\\' => match chars.next() {
                    Some(next) => Item::One(Atom::Char(next)),
                    None => return Err("`\\` at the end has nothing to escape".to_string()),
                },
                other => Item::One(Atom::Char(other)),
            };
            items.push(item);
        }
        Ok(Pattern { negated, items })
    }

    /// Whether the pattern was written with a leading `!`.
    pub(crate) fn negated(&self) -> bool {
        self.negated
    }

    /// Whether `text` matches the pattern (ignoring its `!`).
    pub(crate) fn matches(&self, text: &str) -> bool {
        let n = self.items.len();
        // States 0..=n: "before item i" (n accepts); n+1+i: inside the `**/` item i.
        let mut current = vec![false; 2 * (n + 1)];
        let mut next = vec![false; 2 * (n + 1)];
        current[0] = true;
        self.close(&mut current);
        for c in text.chars() {
            next.iter_mut().for_each(|s| *s = false);
            for (i, item) in self.items.iter().enumerate() {
                let inside = n + 1 + i;
                if current[inside] {
                    // `**/` after at least one character: keep going, or end at this `/`.
                    next[inside] = true;
                    next[i + 1] |= c == '/';
                }
                if !current[i] {
                    continue;
                }
                match item {
                    Item::One(atom) | Item::Optional(atom) => next[i + 1] |= atom.matches(c),
                    Item::OneOrMore(atom) => {
                        if atom.matches(c) {
                            next[i] = true;
                            next[i + 1] = true;
                        }
                    }
                    Item::Star => next[i] |= c != '/',
                    Item::Globstar => next[i] = true,
                    Item::Dirs => next[inside] = true,
                }
            }
            self.close(&mut next);
            if !next.iter().any(|s| *s) {
                return false;
            }
            std::mem::swap(&mut current, &mut next);
        }
        current[n]
    }

    /// Follows the moves that consume nothing. They only go forward, so one pass suffices.
    fn close(&self, states: &mut [bool]) {
        for (i, item) in self.items.iter().enumerate() {
            let skippable = matches!(
                item,
                Item::Optional(_) | Item::Star | Item::Globstar | Item::Dirs
            );
            if skippable && states[i] {
                states[i + 1] = true;
            }
        }
    }
}

/// Reads a `[...]` class after its `[`.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Atom, String> {
    let mut ranges = Vec::new();
    loop {
        let Some(c) = chars.next() else {
            return Err("`[` has no closing `]`".to_string());
        };
        match c {
            ']' if ranges.is_empty() => return Err("`[]` is empty".to_string()),
            ']' => return Ok(Atom::Class(ranges)),
            c if c.is_ascii_alphanumeric() => {
                if chars.peek() == Some(&'-') {
                    chars.next();
                    let high = chars
                        .next()
                        .filter(|h| *h != ']')
                        .ok_or_else(|| format!("range `{c}-` in `[...]` has no upper end"))?;
                    if !same_kind(c, high) || high < c {
                        return Err(format!(
                            "range `{c}-{high}` must run upwards inside a-z, A-Z or 0-9"
                        ));
                    }
                    ranges.push((c, high));
                } else {
                    ranges.push((c, c));
                }
            }
            other => {
                return Err(format!(
                    "`[...]` may hold only letters, digits and ranges, not `{other}`"
                ));
            }
        }
    }
}

fn same_kind(a: char, b: char) -> bool {
    (a.is_ascii_lowercase() && b.is_ascii_lowercase())
        || (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        || (a.is_ascii_digit() && b.is_ascii_digit())
}

/// The outcome of a list of patterns for one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict<'p> {
    /// Selected: the last pattern that matched is positive.
    pub selected: bool,
    /// The source of the last pattern that matched, if any.
    pub by: Option<&'p str>,
}

/// A pattern list: patterns in order, each with its source.
pub(crate) struct PatternList<'p> {
    patterns: Vec<(&'p str, Pattern)>,
}

impl<'p> PatternList<'p> {
    /// Compiles every pattern; those that do not compile are skipped (the parser has already
    /// reported them, so a validated pipeline has none).
    pub(crate) fn new(sources: &'p [String]) -> PatternList<'p> {
        PatternList {
            patterns: sources
                .iter()
                .filter_map(|s| Pattern::new(s).ok().map(|p| (s.as_str(), p)))
                .collect(),
        }
    }

    /// Evaluates the patterns in order: a matching pattern selects the name, a matching `!`
    /// pattern deselects it; the last one that matches wins.
    pub(crate) fn verdict(&self, name: &str) -> Verdict<'p> {
        let mut verdict = Verdict {
            selected: false,
            by: None,
        };
        for (source, pattern) in &self.patterns {
            if pattern.matches(name) {
                verdict = Verdict {
                    selected: !pattern.negated(),
                    by: Some(source),
                };
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn matches(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .matches(text)
    }

    #[test]
    fn wildcards() {
        assert!(matches("a*c", "abbc"));
        assert!(!matches("a*c", "a/c"));
        assert!(matches("a**c", "a/b/c"));
        assert!(matches("**/x", "x"));
        assert!(matches("**/x", "a/b/x"));
        assert!(!matches("**/x", "ax"));
        assert!(matches("a/**/b", "a/b"));
        assert!(matches("a/**/b", "a/x/y/b"));
        assert!(!matches("a/**/b", "a/xb"));
    }

    #[test]
    fn quantifiers_and_classes() {
        assert!(matches("ab?c", "ac"));
        assert!(matches("ab?c", "abc"));
        assert!(!matches("ab?c", "abbc"));
        assert!(matches("ab+c", "abbbc"));
        assert!(!matches("ab+c", "ac"));
        assert!(matches("[a-c]+x", "abcax"));
        assert!(!matches("[a-c]x", "dx"));
        assert!(matches("?a", "?a"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches(".yml", ".yml"));
        assert!(!matches(".yml", "fyml"));
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in [
            "", "!", "[", "[]", "[a-", "[z-a]", "[a-Z]", "[.]", "a\\", "*?", "**+", "a??",
        ] {
            assert!(Pattern::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
