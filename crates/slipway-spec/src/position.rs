//! Maps a character offset inside a scalar's value back to its line and column in the file,
//! undoing quoting, escapes, line folding and block indentation.

use saphyr_parser::ScalarStyle;

use crate::model::Span;
use crate::yaml::{Node, NodeKind};

/// The source text with the byte offset of each line start.
pub(crate) struct SourceMap<'s> {
    src: &'s str,
    line_starts: Vec<usize>,
}

impl<'s> SourceMap<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(memchr_newlines(src));
        SourceMap { src, line_starts }
    }

    /// The text of a 1-based line, without its line break.
    pub(crate) fn line(&self, line: u32) -> Option<&'s str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(index)?;
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.src.len(), |next| next.saturating_sub(1));
        let text = self.src.get(start..end)?;
        Some(text.strip_suffix('\r').unwrap_or(text))
    }

    /// The text of a node written on one line, as it appears in the file.
    pub(crate) fn raw(&self, node: &Node) -> Option<&'s str> {
        if node.span.line != node.end.line {
            return None;
        }
        let text = self.line(node.span.line)?;
        let start = byte_of_col(text, node.span.col)?;
        let end = byte_of_col(text, node.end.col)?;
        text.get(start..end)
    }

    /// Where the character at `offset` (0-based, in characters) of the scalar's value is.
    pub(crate) fn locate(&self, node: &Node, offset: usize) -> Span {
        let found = match node.style {
            ScalarStyle::Plain => self.walk_flow(node.span, offset, Quote::None),
            ScalarStyle::SingleQuoted => self.walk_flow(next_col(node.span), offset, Quote::Single),
            ScalarStyle::DoubleQuoted => self.walk_flow(next_col(node.span), offset, Quote::Double),
            ScalarStyle::Literal | ScalarStyle::Folded => self.walk_block(node, offset),
        };
        found.unwrap_or(node.span)
    }

    fn walk_flow(&self, start: Span, offset: usize, quote: Quote) -> Option<Span> {
        let first = self.line(start.line)?;
        let begin = self
            .line_starts
            .get(usize::try_from(start.line).ok()?.checked_sub(1)?)?
            + byte_of_col(first, start.col)?;
        let mut chars = self.src.get(begin..)?.chars().peekable();
        let (mut line, mut col) = (start.line, start.col);
        let mut decoded = 0usize;
        while decoded < offset {
            let c = chars.next()?;
            col += 1;
            match (c, quote) {
                ('\'', Quote::Single) => {
                    chars.next_if_eq(&'\'')?;
                    col += 1;
                    decoded += 1;
                }
                ('"', Quote::Double) => return None,
                ('\\', Quote::Double) => {
                    let escape = chars.next()?;
                    col += 1;
                    let extra = match escape {
                        'x' => 2,
                        'u' => 4,
                        'U' => 8,
                        '\n' => {
                            line += 1;
                            col = 1;
                            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {
                                col += 1;
                            }
                            continue;
                        }
                        _ => 0,
                    };
                    for _ in 0..extra {
                        chars.next()?;
                        col += 1;
                    }
                    decoded += 1;
                }
                ('\n', _) => {
                    // A line break folds to one space, or to n line feeds after n blank lines.
                    let mut blank_lines = 0;
                    loop {
                        line += 1;
                        col = 1;
                        while chars
                            .next_if(|c| *c == ' ' || *c == '\t' || *c == '\r')
                            .is_some()
                        {
                            col += 1;
                        }
                        if chars.next_if_eq(&'\n').is_none() {
                            break;
                        }
                        blank_lines += 1;
                    }
                    decoded += blank_lines.max(1);
                }
                _ => decoded += 1,
            }
        }
        Some(Span { line, col })
    }

    /// Block scalars: saphyr places the node at the first character of the first non-blank
    /// content line, whose column is the indentation; blank lines before it are leading
    /// line feeds of the value.
    fn walk_block(&self, node: &Node, offset: usize) -> Option<Span> {
        let leading_blank = match &node.kind {
            NodeKind::Str(value) => value.chars().take_while(|c| *c == '\n').count(),
            _ => 0,
        };
        let mut remaining = offset.checked_sub(leading_blank)?;
        let indent = usize::try_from(node.span.col).ok()?.checked_sub(1)?;
        let mut line = node.span.line;
        loop {
            let text = self.line(line)?;
            let content = text.chars().count().saturating_sub(indent);
            if remaining <= content {
                return Some(Span {
                    line,
                    col: u32::try_from(indent + remaining + 1).ok()?,
                });
            }
            remaining -= content + 1;
            line = line.checked_add(1)?;
        }
    }
}

#[derive(Clone, Copy)]
enum Quote {
    None,
    Single,
    Double,
}

fn next_col(span: Span) -> Span {
    Span {
        line: span.line,
        col: span.col.saturating_add(1),
    }
}

/// Byte offset of a 1-based character column within a line (the end of the line if `col` is
/// one past it).
fn byte_of_col(text: &str, col: u32) -> Option<usize> {
    let index = usize::try_from(col).ok()?.checked_sub(1)?;
    if index == text.chars().count() {
        return Some(text.len());
    }
    text.char_indices().nth(index).map(|(byte, _)| byte)
}

fn memchr_newlines(src: &str) -> impl Iterator<Item = usize> + '_ {
    src.bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use crate::parse_pipeline;

    /// Line and column of the first error for a `run:` value written as `value_yaml`.
    fn first_error(value_yaml: &str) -> (u32, u32) {
        let source = format!("jobs:\n  a:\n    steps:\n      - run: {value_yaml}\n");
        match parse_pipeline(&source, "p.yml") {
            Ok(_) => panic!("expected an error for {value_yaml}"),
            Err(d) => (d.0[0].line, d.0[0].col),
        }
    }

    #[test]
    fn columns_in_each_scalar_style() {
        // The bad token is `+` in every case.
        assert_eq!(first_error("x ${{ 1 + 2 }}"), (4, 22));
        assert_eq!(first_error("'it''s ${{ 1 + 2 }}'"), (4, 27));
        assert_eq!(first_error("\"\\u00e9 ${{ 1 + 2 }}\""), (4, 28));
        assert_eq!(first_error("\"a\n          b ${{ 1 + 2 }}\""), (5, 19));
        assert_eq!(first_error("x\n          y ${{ 1 + 2 }}"), (5, 19));
        assert_eq!(
            first_error("|\n          one\n\n          two ${{ 1 + 2 }}"),
            (7, 21)
        );
        assert_eq!(
            first_error(">\n          one\n          two ${{ 1 + 2 }}"),
            (6, 21)
        );
    }
}
