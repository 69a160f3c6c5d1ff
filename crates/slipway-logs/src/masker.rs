//! Replacing secret values, and their encoded forms, with `***`.
//!
//! All forms of all secrets are compiled into one Aho-Corasick automaton, so masking costs one
//! pass over the text however many secrets a job has. Matches use leftmost-longest semantics: when
//! a secret and a longer form overlap at the same start (a secret and its padded base64, a line of
//! a multi-line secret and the whole secret), the longest is masked whole.

use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::encode;

/// What a match is replaced with.
pub const MASK: &[u8] = b"***";

/// Derived patterns (encodings, lines of a multi-line secret) shorter than this are not masked:
/// a 3-character base64 fragment or a one-letter line would mask ordinary text everywhere. The
/// secret value itself is always masked, whatever its length.
pub const MIN_DERIVED_LEN: usize = 4;

/// Masks secret values and their encoded forms in log text.
///
/// For each non-empty secret the masker searches for:
/// - the value itself, and the value without a trailing line break (secrets read from files
///   often end with one);
/// - for a multi-line secret, each of its lines (without `\r`) of at least [`MIN_DERIVED_LEN`]
///   bytes, since a log is split into lines and the whole value can never appear in one;
/// - for each of these values: its base64 forms (standard and URL-safe alphabets; the stable
///   core at each of the three byte offsets a value can have inside a larger base64 text, and the
///   complete padded encoding), its percent-encoded forms (upper- and lower-case hex, and `+` for
///   space), and its JSON-string escaping. Derived forms shorter than [`MIN_DERIVED_LEN`] are
///   skipped.
///
/// Cloning is cheap (the automaton is shared), so one masker built per job can serve every
/// stream of every step. `Debug` shows counts only, never a value.
#[derive(Clone)]
pub struct SecretMasker {
    matcher: Matcher,
    secret_count: usize,
    pattern_count: usize,
    longest_pattern: usize,
}

#[derive(Clone)]
enum Matcher {
    /// No secrets: masking is a copy (or nothing at all in [`crate::LineSplitter`]).
    Nothing,
    Patterns(AhoCorasick),
    /// The automaton could not be built (only conceivable with absurdly large secrets). Failing
    /// closed: every non-empty text is replaced by [`MASK`] rather than leak anything.
    Everything,
}

impl SecretMasker {
    /// Builds a masker for `secrets`; empty values are ignored.
    pub fn new(secrets: impl IntoIterator<Item = impl AsRef<str>>) -> SecretMasker {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut secret_count = 0;
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.is_empty() {
                continue;
            }
            secret_count += 1;
            add_patterns(secret, &mut patterns);
        }
        patterns.sort_unstable();
        patterns.dedup();
        let longest_pattern = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let pattern_count = patterns.len();
        let matcher = if patterns.is_empty() {
            Matcher::Nothing
        } else {
            build_automaton(&patterns).map_or(Matcher::Everything, Matcher::Patterns)
        };
        SecretMasker {
            matcher,
            secret_count,
            pattern_count,
            longest_pattern,
        }
    }

    /// True when there is nothing to mask; masking is then a plain copy.
    pub fn is_empty(&self) -> bool {
        matches!(self.matcher, Matcher::Nothing)
    }

    /// Length in bytes of the longest pattern searched for (0 when empty). A match can never be
    /// longer, which bounds how much text must be held back when a line is cut.
    pub fn longest_pattern(&self) -> usize {
        self.longest_pattern
    }

    /// Appends `input` to `out` with every match replaced by [`MASK`]. `out` is not cleared, so a
    /// caller can reuse one buffer.
    pub fn mask(&self, input: &[u8], out: &mut Vec<u8>) {
        if !self.mask_if_matched(input, out) {
            out.extend_from_slice(input);
        }
    }

    /// Like [`SecretMasker::mask`], but when `input` contains no match it leaves `out` untouched
    /// and returns false, so the caller can use `input` itself and skip a copy.
    pub(crate) fn mask_if_matched(&self, input: &[u8], out: &mut Vec<u8>) -> bool {
        match &self.matcher {
            Matcher::Nothing => false,
            Matcher::Everything => {
                if input.is_empty() {
                    return false;
                }
                out.extend_from_slice(MASK);
                true
            }
            Matcher::Patterns(automaton) => {
                let mut matches = automaton.find_iter(input).peekable();
                if matches.peek().is_none() {
                    return false;
                }
                let mut copied_to = 0;
                for found in matches {
                    out.extend_from_slice(input.get(copied_to..found.start()).unwrap_or_default());
                    out.extend_from_slice(MASK);
                    copied_to = found.end();
                }
                out.extend_from_slice(input.get(copied_to..).unwrap_or_default());
                true
            }
        }
    }

    /// Where the first match in `haystack[from..]` starts (as an index into `haystack`), or the
    /// length of `haystack` if there is none: text before that position needs no masking.
    pub(crate) fn first_match_from(&self, haystack: &[u8], from: usize) -> usize {
        match &self.matcher {
            Matcher::Nothing => haystack.len(),
            Matcher::Everything => from,
            Matcher::Patterns(automaton) => {
                let input = aho_corasick::Input::new(haystack)
                    .span(from.min(haystack.len())..haystack.len());
                automaton
                    .find(input)
                    .map_or(haystack.len(), |found| found.start())
            }
        }
    }

    /// Start and end of every match in `input`, leftmost-longest, without masking (used to place
    /// a forced split of an overlong line where it cuts no match).
    pub(crate) fn matches(&self, input: &[u8]) -> impl Iterator<Item = (usize, usize)> {
        let automaton = match &self.matcher {
            Matcher::Patterns(automaton) => Some(automaton),
            _ => None,
        };
        automaton
            .into_iter()
            .flat_map(move |automaton| automaton.find_iter(input))
            .map(|found| (found.start(), found.end()))
    }

    /// Every pattern searched for, for tests that check no form of a secret survives.
    #[cfg(test)]
    pub(crate) fn patterns(secrets: &[&str]) -> Vec<Vec<u8>> {
        let mut patterns = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            add_patterns(secret, &mut patterns);
        }
        patterns
    }
}

impl fmt::Debug for SecretMasker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretMasker")
            .field("secrets", &self.secret_count)
            .field("patterns", &self.pattern_count)
            .finish_non_exhaustive()
    }
}

/// Adds every pattern derived from one non-empty secret.
fn add_patterns(secret: &str, patterns: &mut Vec<Vec<u8>>) {
    let mut values: Vec<&[u8]> = vec![secret.as_bytes()];
    let trimmed = secret.trim_end_matches(['\r', '\n']);
    if !trimmed.is_empty() {
        values.push(trimmed.as_bytes());
    }
    if trimmed.contains('\n') {
        values.extend(
            trimmed
                .split('\n')
                .map(|line| line.strip_suffix('\r').unwrap_or(line).as_bytes())
                .filter(|line| line.len() >= MIN_DERIVED_LEN),
        );
    }
    let mut derived = Vec::new();
    for value in values {
        patterns.push(value.to_vec());
        encode::base64_forms(value, &mut derived);
        encode::url_forms(value, &mut derived);
        derived.push(encode::json_escaped(value));
    }
    patterns.extend(
        derived
            .into_iter()
            .filter(|pattern| pattern.len() >= MIN_DERIVED_LEN),
    );
}

/// Builds the automaton, falling back to the slower but smaller NFA when the default choice
/// exceeds the crate's size limits.
fn build_automaton(patterns: &[Vec<u8>]) -> Option<AhoCorasick> {
    let builder = |kind| {
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(kind)
            .build(patterns)
    };
    builder(None)
        .or_else(|_| builder(Some(AhoCorasickKind::NoncontiguousNFA)))
        .ok()
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    use super::*;

    fn masked(masker: &SecretMasker, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        masker.mask(input, &mut out);
        out
    }

    fn masked_str(masker: &SecretMasker, input: &str) -> String {
        String::from_utf8_lossy(&masked(masker, input.as_bytes())).into_owned()
    }

    #[test]
    fn raw_value_is_masked_everywhere() {
        let masker = SecretMasker::new(["hunter2"]);
        assert_eq!(
            masked_str(&masker, "pw=hunter2, again hunter2hunter2"),
            "pw=***, again ******"
        );
    }

    #[test]
    fn empty_masker_copies() {
        let masker = SecretMasker::new(["", ""]);
        assert!(masker.is_empty());
        assert_eq!(masker.longest_pattern(), 0);
        assert_eq!(masked(&masker, b"anything \xff"), b"anything \xff");
        assert!(SecretMasker::new(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn mask_appends_to_out() {
        let masker = SecretMasker::new(["s3cr3t"]);
        let mut out = b"prefix:".to_vec();
        masker.mask(b"a s3cr3t", &mut out);
        assert_eq!(out, b"prefix:a ***");
    }

    #[test]
    fn base64_at_each_offset_is_masked() {
        let secret = "p@ssw0rd-with-some-length";
        let masker = SecretMasker::new([secret]);
        for prefix in ["", "u", "us", "user:", "Bearer x:"] {
            let plain = format!("{prefix}{secret}");
            for encoded in [STANDARD.encode(&plain), URL_SAFE.encode(&plain)] {
                let out = masked_str(&masker, &format!("Authorization: Basic {encoded}"));
                assert!(out.contains("***"), "{prefix:?}: {out}");
                // What survives is the prefix's encoding, plus at most 2 characters mixing
                // prefix and secret bits, the mask, one mixed character and the padding.
                let kept = out.trim_start_matches("Authorization: Basic ");
                let bound = prefix.len().div_ceil(3) * 4 + 2 + MASK.len() + 1 + 2;
                assert!(kept.len() <= bound, "{prefix:?}: {out}");
            }
        }
    }

    #[test]
    fn whole_padded_base64_is_masked() {
        let masker = SecretMasker::new(["abcd"]);
        assert_eq!(masked_str(&masker, "x YWJjZA== y"), "x *** y");
    }

    #[test]
    fn url_encoded_forms_are_masked() {
        let masker = SecretMasker::new(["p@ss w/rd"]);
        assert_eq!(
            masked_str(
                &masker,
                "https://u:p%40ss%20w%2Frd@host/?q=p%40ss+w%2Frd&l=p%40ss%20w%2frd"
            ),
            "https://u:***@host/?q=***&l=***"
        );
    }

    #[test]
    fn json_escaped_form_is_masked() {
        let secret = "line one \"quoted\"\nback\\slash\tend";
        let masker = SecretMasker::new([secret]);
        let json = serde_json::json!({ "token": secret }).to_string();
        assert_eq!(masked_str(&masker, &json), r#"{"token":"***"}"#);
    }

    #[test]
    fn multi_line_secret_masks_each_line() {
        let key = "-----BEGIN KEY-----\r\nMIIEvQIBADANBg\r\nabc\r\n-----END KEY-----\n";
        let masker = SecretMasker::new([key]);
        assert_eq!(masked_str(&masker, "MIIEvQIBADANBg"), "***");
        assert_eq!(masked_str(&masker, "-----END KEY-----"), "***");
        // Shorter than MIN_DERIVED_LEN: ordinary text, not masked.
        assert_eq!(masked_str(&masker, "abc"), "abc");
        // The whole value, as in a multi-line chunk given to `mask` directly, is one match.
        assert_eq!(masked_str(&masker, &format!("<{key}>")), "<***>");
    }

    #[test]
    fn trailing_newline_of_secret_is_optional() {
        let masker = SecretMasker::new(["xyz\n"]);
        assert_eq!(masked_str(&masker, "a xyz b"), "a *** b");
    }

    #[test]
    fn overlapping_matches_mask_leftmost_longest() {
        let masker = SecretMasker::new(["abc", "abcdef", "cdefgh"]);
        // Leftmost wins ("abcdef" starts before "cdefgh"), and at one start the longest.
        assert_eq!(masked_str(&masker, "xabcdefghy"), "x***ghy");
        assert_eq!(masked_str(&masker, "xabcdy"), "x***dy");
    }

    #[test]
    fn short_derived_forms_are_skipped() {
        // The base64 core of "ab" at offset 0 is 2 characters: too short to mask.
        let masker = SecretMasker::new(["ab"]);
        assert_eq!(masked_str(&masker, "YW ab"), "YW ***");
        for pattern in SecretMasker::patterns(&["ab"]) {
            assert!(pattern == b"ab" || pattern.len() >= MIN_DERIVED_LEN);
        }
    }

    #[test]
    fn invalid_utf8_text_is_masked_bytewise() {
        let masker = SecretMasker::new(["tok"]);
        assert_eq!(masked(&masker, b"\xff\xfetok\xc3"), b"\xff\xfe***\xc3");
    }

    #[test]
    fn failed_automaton_masks_everything() {
        let masker = SecretMasker {
            matcher: Matcher::Everything,
            secret_count: 1,
            pattern_count: 1,
            longest_pattern: 4,
        };
        assert!(!masker.is_empty());
        assert_eq!(masked_str(&masker, "any text"), "***");
        assert_eq!(masked_str(&masker, ""), "");
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let masker = SecretMasker::new(["hunter2", "very-secret-value"]);
        let shown = format!("{masker:?} {masker:#?}");
        assert!(!shown.contains("hunter2") && !shown.contains("very-secret"));
        assert!(shown.contains("secrets: 2"), "{shown}");
    }
}
