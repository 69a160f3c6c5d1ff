//! Input decoding, bounded text collection, and the number formats test runners write.

use std::borrow::Cow;

/// Turns the raw file into UTF-8 text.
///
/// UTF-8 (with or without BOM) is borrowed. UTF-16 is recognised by its BOM. A declared
/// ISO-8859-1 / Latin-1 / Windows-1252 encoding that is not valid UTF-8 is mapped byte for byte
/// (exact for Latin-1, close enough for the rest). Anything else that is not valid UTF-8 is
/// decoded lossily: one stray byte in a stack trace must not cost the whole report.
pub(crate) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return Cow::Owned(decode_utf16(rest, u16::from_le_bytes));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return Cow::Owned(decode_utf16(rest, u16::from_be_bytes));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) if declares_latin1(bytes) => {
            Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
        }
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Whether the XML declaration (within the first line) names a single-byte Western encoding.
fn declares_latin1(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(100)];
    let Some(end) = head.iter().position(|&b| b == b'>') else {
        return false;
    };
    let decl = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    decl.starts_with("<?xml")
        && [
            "iso-8859-1",
            "iso8859-1",
            "latin1",
            "latin-1",
            "windows-1252",
            "cp1252",
        ]
        .iter()
        .any(|name| decl.contains(name))
}

/// Text gathered from an element, keeping at most `limit` bytes so that a huge `<system-out>`
/// costs no more memory than the cap.
#[derive(Debug)]
pub(crate) struct CappedText {
    text: String,
    limit: usize,
    dropped: usize,
}

impl CappedText {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, piece: &str) {
        if self.dropped > 0 {
            self.dropped = self.dropped.saturating_add(piece.len());
            return;
        }
        let room = self.limit.saturating_sub(self.text.len());
        if piece.len() <= room {
            self.text.push_str(piece);
            return;
        }
        let cut = floor_char_boundary(piece, room);
        self.text.push_str(&piece[..cut]);
        self.dropped = piece.len() - cut;
    }

    /// The collected text with surrounding whitespace removed, `None` when nothing is left.
    pub(crate) fn finish(self) -> Option<String> {
        let trimmed = self.text.trim();
        if trimmed.is_empty() && self.dropped == 0 {
            return None;
        }
        let mut out = String::with_capacity(trimmed.len() + 40);
        out.push_str(trimmed);
        if self.dropped > 0 {
            out.push_str(&format!("\n… [truncated: {} more bytes]", self.dropped));
        }
        Some(out)
    }
}

/// Cuts an attribute value to `limit` bytes, marking the cut.
pub(crate) fn cap(value: &str, limit: usize) -> String {
    let mut text = CappedText::new(limit);
    text.push(value);
    text.finish().unwrap_or_default()
}

fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Parses a duration in seconds as runners write it: `1.5`, `1,234.5` (Surefire's grouping),
/// `0,003` or `1.234,5` (a decimal comma from a non-English locale). Negative, infinite and
/// unparsable values give `None`.
pub(crate) fn parse_seconds(raw: &str) -> Option<f64> {
    let raw = raw.trim().trim_end_matches('s');
    let normalized: Cow<'_, str> = match (raw.rfind(','), raw.rfind('.')) {
        (None, _) => Cow::Borrowed(raw),
        // Both present: the last one is the decimal separator.
        (Some(comma), Some(dot)) if dot > comma => Cow::Owned(raw.replace(',', "")),
        (Some(_), Some(_)) => Cow::Owned(raw.replace('.', "").replace(',', ".")),
        (Some(comma), None) => {
            // "1,234" is grouping; "0,003" and "12,5" are decimal commas.
            let grouping = raw[comma + 1..].len() == 3 && !raw.starts_with("0,");
            if grouping {
                Cow::Owned(raw.replace(',', ""))
            } else {
                Cow::Owned(raw.replace(',', "."))
            }
        }
    };
    let seconds: f64 = normalized.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds)
}

/// Parses a count attribute (`tests="1,234"` included); anything else gives `None`.
pub(crate) fn parse_count(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if raw.contains(',') {
        raw.replace(',', "").parse().ok()
    } else {
        raw.parse().ok()
    }
}

/// 1-based line and column (in bytes) of a byte offset.
pub(crate) fn line_column(text: &str, offset: u64) -> (u64, u64) {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, (offset - line_start) as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_the_formats_runners_write() {
        assert_eq!(parse_seconds("1.5"), Some(1.5));
        assert_eq!(parse_seconds("1,234.5"), Some(1234.5));
        assert_eq!(parse_seconds("1,234,567.25"), Some(1_234_567.25));
        assert_eq!(parse_seconds("1,234"), Some(1234.0));
        assert_eq!(parse_seconds("0,003"), Some(0.003));
        assert_eq!(parse_seconds("12,5"), Some(12.5));
        assert_eq!(parse_seconds("1.234,5"), Some(1234.5));
        assert_eq!(parse_seconds("0.013s"), Some(0.013));
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("inf"), None);
        assert_eq!(parse_seconds("NaN"), None);
    }

    #[test]
    fn capped_text_cuts_on_a_char_boundary_and_says_so() {
        let mut text = CappedText::new(5);
        text.push("héllo world");
        text.push("more");
        let out = text.finish().unwrap_or_default();
        assert!(out.starts_with("héll"), "{out}");
        assert!(out.contains("truncated: 11 more bytes"), "{out}");
    }

    #[test]
    fn utf16_and_latin1_are_decoded() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>é</a>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16), "<a>é</a>");
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xE9</a>";
        assert!(decode(latin1).ends_with("<a>é</a>"));
    }

    #[test]
    fn line_and_column_of_an_offset() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
