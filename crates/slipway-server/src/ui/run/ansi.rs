//! ANSI colours of a log line rendered as HTML spans.
//!
//! Only SGR colours and weight are kept: foreground 30–37 and 90–97, bold
//! (1), normal (22), default colour (39) and reset (0 or nothing). Every
//! other escape sequence (cursor moves, OSC titles and links, other SGR
//! attributes) is dropped, control characters other than tab are dropped,
//! and every character of text is HTML-escaped, so a hostile log can neither
//! inject markup nor make the renderer work more than once per byte.

/// The style a run of text is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Style {
    /// 0–7 normal, 8–15 bright; `None` is the default colour.
    colour: Option<u8>,
    bold: bool,
}

impl Style {
    fn is_plain(self) -> bool {
        self.colour.is_none() && !self.bold
    }

    /// Applies one SGR parameter.
    fn apply(&mut self, code: u32) {
        match code {
            0 => *self = Style::default(),
            1 => self.bold = true,
            22 => self.bold = false,
            30..=37 => self.colour = Some((code - 30) as u8),
            39 => self.colour = None,
            90..=97 => self.colour = Some((code - 90) as u8 + 8),
            _ => {}
        }
    }
}

/// Appends `line` to `out` as escaped HTML, its SGR colours as
/// `<span class="a-fN a-b">` (N: 0–15). Bytes that are not UTF-8 become
/// U+FFFD. Spans are balanced whatever the input.
pub fn render(line: &[u8], out: &mut String) {
    let text = String::from_utf8_lossy(line);
    let mut chars = text.chars().peekable();
    let mut current = Style::default();
    // The style the text written since the last span change is in.
    let mut open = Style::default();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    // CSI: parameter and intermediate bytes, then a final
                    // byte in 0x40..=0x7e.
                    // Codes apply to a copy, kept only if the sequence
                    // is an SGR one (final `m`): no list of parameters is
                    // held, however many there are.
                    let mut pending = current;
                    let mut number: u32 = 0;
                    // After 38 or 48 (256 and RGB colours, not drawn) the
                    // rest of the sequence is their arguments: ignored.
                    let mut extended = false;
                    let mut final_byte = None;
                    for c in chars.by_ref() {
                        match c {
                            '0'..='9' => {
                                number = number
                                    .saturating_mul(10)
                                    .saturating_add(c as u32 - '0' as u32);
                            }
                            ';' | ':' => {
                                extended |= matches!(number, 38 | 48);
                                if !extended {
                                    pending.apply(number);
                                }
                                number = 0;
                            }
                            '\u{40}'..='\u{7e}' => {
                                final_byte = Some(c);
                                break;
                            }
                            '\u{20}'..='\u{3f}' => {}
                            // Not a CSI byte: the sequence is broken; drop it.
                            _ => break,
                        }
                    }
                    if final_byte == Some('m') {
                        if !extended {
                            pending.apply(number);
                        }
                        current = pending;
                    }
                }
                Some(']') => {
                    // OSC: up to BEL or ST (ESC \).
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // A two-character escape (ESC c, ESC =, …): drop both.
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\t' => {
                switch(out, &mut open, current);
                out.push('\t');
            }
            c if c.is_control() => {}
            c => {
                switch(out, &mut open, current);
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&#39;"),
                    c => out.push(c),
                }
            }
        }
    }
    if !open.is_plain() {
        out.push_str("</span>");
    }
}

/// Closes the open span and opens one for `wanted` when they differ.
fn switch(out: &mut String, open: &mut Style, wanted: Style) {
    if *open == wanted {
        return;
    }
    if !open.is_plain() {
        out.push_str("</span>");
    }
    if !wanted.is_plain() {
        out.push_str("<span class=\"");
        if let Some(colour) = wanted.colour {
            out.push_str("a-f");
            push_number(out, colour);
            if wanted.bold {
                out.push(' ');
            }
        }
        if wanted.bold {
            out.push_str("a-b");
        }
        out.push_str("\">");
    }
    *open = wanted;
}

fn push_number(out: &mut String, n: u8) {
    if n >= 10 {
        out.push('1');
    }
    out.push(char::from(b'0' + n % 10));
}

#[cfg(test)]
mod tests {
    use super::render;

    fn html(line: &[u8]) -> String {
        let mut out = String::new();
        render(line, &mut out);
        out
    }

    #[test]
    fn plain_text_is_escaped() {
        assert_eq!(
            html(b"<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn colours_bold_and_reset() {
        assert_eq!(
            html(b"\x1b[31merror\x1b[0m done"),
            "<span class=\"a-f1\">error</span> done"
        );
        assert_eq!(
            html(b"\x1b[1;92mok\x1b[22m!\x1b[39m."),
            "<span class=\"a-f10 a-b\">ok</span><span class=\"a-f10\">!</span>."
        );
        assert_eq!(html(b"\x1b[1mB\x1b[m"), "<span class=\"a-b\">B</span>");
        assert_eq!(html(b"\x1b[97mw"), "<span class=\"a-f15\">w</span>");
    }

    #[test]
    fn other_sequences_are_dropped() {
        // Cursor moves, 256 colours' unsupported codes, OSC title and link.
        assert_eq!(html(b"a\x1b[2Kb\x1b[10;20Hc"), "abc");
        assert_eq!(html(b"\x1b]0;title\x07x\x1b]8;;http://e\x1b\\y"), "xy");
        assert_eq!(html(b"\x1b[4munder\x1b[0m"), "under");
        // 256-colour arguments are not read as colours.
        assert_eq!(html(b"\x1b[38;5;31mx"), "x");
        assert_eq!(html(b"\x1b[1;38;2;1;2;3mx"), "<span class=\"a-b\">x</span>");
        assert_eq!(html(b"\x1bcz"), "z");
    }

    #[test]
    fn hostile_input_stays_balanced_and_escaped() {
        // Unterminated sequences, a huge parameter, control characters,
        // invalid UTF-8, markup hidden inside an escape.
        assert_eq!(html(b"\x1b["), "");
        assert_eq!(html(b"\x1b"), "");
        assert_eq!(html(b"\x1b[99999999999999999999m<x>"), "&lt;x&gt;");
        assert_eq!(html(b"\x1b[31;<b>m"), "&gt;m");
        assert_eq!(html(b"a\x00\x08\rb\tc"), "ab\tc");
        assert_eq!(html(b"\xff\xfe"), "\u{fffd}\u{fffd}");
        let many = "\x1b[".to_string() + &"1;".repeat(10_000) + "31mX";
        assert_eq!(html(many.as_bytes()), "<span class=\"a-f1 a-b\">X</span>");
        // Every opened span is closed.
        for input in [
            &b"\x1b[31m"[..],
            b"\x1b[31mx",
            b"\x1b[1mx\x1b[32my",
            b"x\x1b[0m",
        ] {
            let out = html(input);
            assert_eq!(
                out.matches("<span").count(),
                out.matches("</span>").count(),
                "{out}"
            );
            assert!(!out.contains('\u{1b}'));
        }
    }
}
