//! The encoded forms in which a secret can leak into a log.
//!
//! A step rarely prints a secret verbatim by accident; it prints it inside an `Authorization`
//! header (base64), a URL (percent-encoding) or a JSON document (escaping). Each function here
//! computes one such form; [`crate::SecretMasker`] turns them into search patterns.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// The two base64 alphabets in common use: standard (`+/`) and URL-safe (`-_`).
const ALPHABETS: [&base64::engine::GeneralPurpose; 2] = [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD];

/// Appends to `out` every base64 form of `value` that is visible in a larger base64 text.
///
/// Base64 maps 3 input bytes to 4 output characters, so the characters produced for `value`
/// depend on where `value` starts modulo 3 inside the encoded input, and the first and last
/// characters also carry bits of the neighbouring bytes. For each start offset 0, 1 and 2 this
/// yields only the characters whose 6 bits all come from `value` (the stable core), as GitHub
/// Actions does. For offset 0 it also yields the complete padded encoding, so that a value
/// encoded on its own (`echo -n $TOKEN | base64`) is masked up to its last `=`.
pub(crate) fn base64_forms(value: &[u8], out: &mut Vec<Vec<u8>>) {
    let mut shifted = Vec::with_capacity(value.len() + 2);
    for engine in ALPHABETS {
        for offset in 0..3usize {
            shifted.clear();
            shifted.resize(offset, 0);
            shifted.extend_from_slice(value);
            let encoded = engine.encode(&shifted);
            // Character i covers bits [6i, 6i + 6) of `shifted`; `value` covers bits
            // [8 * offset, 8 * shifted.len()).
            let first_stable = (8 * offset).div_ceil(6);
            let end_stable = 8 * shifted.len() / 6;
            if let Some(core) = encoded.as_bytes().get(first_stable..end_stable) {
                out.push(core.to_vec());
            }
        }
        let mut padded = engine.encode(value).into_bytes();
        while padded.len() % 4 != 0 {
            padded.push(b'=');
        }
        out.push(padded);
    }
}

/// Appends the percent-encoded forms of `value`: every byte outside RFC 3986's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`) as `%XX`, with upper-case hex (RFC 3986's recommendation) and with
/// lower-case hex (what some encoders emit), and the form encoding where a space is `+`.
pub(crate) fn url_forms(value: &[u8], out: &mut Vec<Vec<u8>>) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    for (digits, space_as_plus) in [(UPPER, false), (LOWER, false), (UPPER, true)] {
        let mut encoded = Vec::with_capacity(value.len() * 3);
        for &byte in value {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                encoded.push(byte);
            } else if byte == b' ' && space_as_plus {
                encoded.push(b'+');
            } else {
                encoded.push(b'%');
                encoded.push(digits[usize::from(byte >> 4)]);
                encoded.push(digits[usize::from(byte & 0x0f)]);
            }
        }
        out.push(encoded);
    }
}

/// Returns `value` escaped as serde_json writes it inside a JSON string, without the quotes:
/// `"` and `\` are backslash-escaped, control characters use the short escapes `\b \t \n \f \r`
/// or `\u00xx`, and everything else (including non-ASCII) is kept as is.
pub(crate) fn json_escaped(value: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut escaped = Vec::with_capacity(value.len() + 8);
    for &byte in value {
        match byte {
            b'"' => escaped.extend_from_slice(b"\\\""),
            b'\\' => escaped.extend_from_slice(b"\\\\"),
            0x08 => escaped.extend_from_slice(b"\\b"),
            b'\t' => escaped.extend_from_slice(b"\\t"),
            b'\n' => escaped.extend_from_slice(b"\\n"),
            0x0c => escaped.extend_from_slice(b"\\f"),
            b'\r' => escaped.extend_from_slice(b"\\r"),
            0x00..=0x1f => {
                escaped.extend_from_slice(b"\\u00");
                escaped.push(HEX[usize::from(byte >> 4)]);
                escaped.push(HEX[usize::from(byte & 0x0f)]);
            }
            _ => escaped.push(byte),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    fn forms(value: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        base64_forms(value, &mut out);
        out
    }

    #[test]
    fn base64_core_appears_in_any_enclosing_encoding() {
        let secret = b"correct horse battery staple?>";
        let cores = forms(secret);
        for prefix_len in 0..6 {
            for suffix_len in 0..4 {
                let mut plain = vec![b'x'; prefix_len];
                plain.extend_from_slice(secret);
                plain.extend(std::iter::repeat_n(b'y', suffix_len));
                for encoded in [STANDARD.encode(&plain), URL_SAFE.encode(&plain)] {
                    let found = cores
                        .iter()
                        .any(|core| encoded.as_bytes().windows(core.len()).any(|w| w == core));
                    assert!(found, "no core in {encoded} (prefix {prefix_len})");
                }
            }
        }
    }

    #[test]
    fn base64_offsets_trim_unstable_characters() {
        // "abc" at offset 0 is "YWJj"; at offset 1 (after one byte) its stable core is 3 chars,
        // at offset 2 also 3 chars.
        let all = forms(b"abc");
        assert!(all.contains(&b"YWJj".to_vec()));
        let shifted1 = STANDARD_NO_PAD.encode(b"\0abc");
        assert!(all.contains(&shifted1.as_bytes()[2..5].to_vec()));
        let shifted2 = STANDARD_NO_PAD.encode(b"\0\0abc");
        assert!(all.contains(&shifted2.as_bytes()[3..6].to_vec()));
    }

    #[test]
    fn base64_padded_form_is_complete() {
        assert!(forms(b"abcd").contains(&b"YWJjZA==".to_vec()));
        assert!(forms(b"ab>?~").contains(&b"YWI-P34=".to_vec()));
    }

    #[test]
    fn url_forms_escape_reserved_bytes() {
        let mut out = Vec::new();
        url_forms("a b/ü~".as_bytes(), &mut out);
        assert_eq!(out[0], b"a%20b%2F%C3%BC~");
        assert_eq!(out[1], b"a%20b%2f%c3%bc~");
        assert_eq!(out[2], b"a+b%2F%C3%BC~");
    }

    #[test]
    fn json_escape_matches_serde_json() {
        let samples = [
            "plain",
            "quo\"te and back\\slash",
            "multi\nline\r\n\ttabbed",
            "\u{0}\u{1}\u{8}\u{b}\u{c}\u{1f}\u{7f}",
            "ünïcödé / slash",
        ];
        for sample in samples {
            let quoted = serde_json::to_string(sample).unwrap_or_default();
            let inner = quoted
                .as_bytes()
                .get(1..quoted.len() - 1)
                .unwrap_or_default();
            assert_eq!(json_escaped(sample.as_bytes()), inner, "for {sample:?}");
        }
    }
}
