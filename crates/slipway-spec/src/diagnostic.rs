//! User-facing errors with a file position, a help line, and a rustc-style renderer.

use std::fmt::Write as _;

use crate::model::Span;

/// One error in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file name the caller passed in.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Length of the offending token in characters; 0 when unknown (one marker is drawn).
    pub len: u32,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Further context, e.g. where a duplicate was first defined.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at `span` covering `len` characters.
    pub(crate) fn new(span: Span, len: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            file: String::new(),
            line: span.line,
            col: span.col,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            message: message.into(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// All errors found in a pipeline file, sorted by position.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Renders every diagnostic rustc-style, with the offending source line and a marker under
    /// the token. `color` adds ANSI colours for a terminal.
    pub fn render(&self, source: &str, color: bool) -> String {
        let mut out = String::new();
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            render_one(&mut out, diagnostic, source, color);
        }
        out
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Diagnostics {
    /// One line per error: `file:line:col: error: message`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}:{}:{}: error: {}", d.file, d.line, d.col, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

struct Palette {
    error: &'static str,
    blue: &'static str,
    bold: &'static str,
    reset: &'static str,
}

const COLOR: Palette = Palette {
    error: "\x1b[1;31m",
    blue: "\x1b[1;34m",
    bold: "\x1b[1m",
    reset: "\x1b[0m",
};
const PLAIN: Palette = Palette {
    error: "",
    blue: "",
    bold: "",
    reset: "",
};

/// Longest source line excerpt shown, in characters, so that a minified file does not flood
/// the terminal.
const MAX_SHOWN_CHARS: usize = 160;

fn render_one(out: &mut String, d: &Diagnostic, source: &str, color: bool) {
    let p = if color { &COLOR } else { &PLAIN };
    let line_text = usize::try_from(d.line)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| source.lines().nth(n));
    let number = d.line.to_string();
    let gutter = " ".repeat(number.len());
    let _ = writeln!(
        out,
        "{}error{}{}: {}{}",
        p.error, p.reset, p.bold, d.message, p.reset
    );
    let _ = writeln!(
        out,
        "{gutter}{}-->{} {}:{}:{}",
        p.blue, p.reset, d.file, d.line, d.col
    );
    if let Some(text) = line_text {
        let (shown, marker_col, marker_len) = excerpt(text, d.col, d.len);
        let _ = writeln!(out, "{gutter} {}|{}", p.blue, p.reset);
        let _ = writeln!(out, "{}{number} |{} {shown}", p.blue, p.reset);
        let _ = writeln!(
            out,
            "{gutter} {}|{} {}{}{}{}",
            p.blue,
            p.reset,
            " ".repeat(marker_col),
            p.error,
            "^".repeat(marker_len),
            p.reset
        );
    }
    if let Some(help) = &d.help {
        let _ = writeln!(
            out,
            "{gutter} {}={} {}help{}: {help}",
            p.blue, p.reset, p.bold, p.reset
        );
    }
    for note in &d.notes {
        let _ = writeln!(
            out,
            "{gutter} {}={} {}note{}: {note}",
            p.blue, p.reset, p.bold, p.reset
        );
    }
}

/// The part of `text` to show, the marker's offset within it, and the marker length. Tabs are
/// shown as one space so the marker stays aligned.
fn excerpt(text: &str, col: u32, len: u32) -> (String, usize, usize) {
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c == '\t' || c.is_control() { ' ' } else { c })
        .collect();
    let col0 = usize::try_from(col).unwrap_or(1).saturating_sub(1);
    let col0 = col0.min(chars.len());
    let start = if col0 + 20 > MAX_SHOWN_CHARS {
        col0.saturating_sub(MAX_SHOWN_CHARS / 2)
    } else {
        0
    };
    let end = (start + MAX_SHOWN_CHARS).min(chars.len());
    let shown: String = chars.get(start..end).unwrap_or_default().iter().collect();
    let available = end.saturating_sub(col0).max(1);
    let len = usize::try_from(len).unwrap_or(1).clamp(1, available);
    (shown.trim_end().to_string(), col0 - start, len)
}
