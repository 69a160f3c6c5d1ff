//! Turning the byte chunks read from a pipe into masked lines.
//!
//! A pipe delivers whatever the child wrote, cut wherever the kernel chose: half a line, many
//! lines, a line split inside a secret (`printf 'sec'; sleep 1; printf 'ret\n'`). Masking is
//! therefore applied to whole lines, never to chunks: bytes of an unfinished line wait in one
//! reused buffer until their `\n` arrives. Complete lines inside a chunk are masked straight from
//! the chunk without being copied, and with no secrets they are handed on as they are.
//!
//! Memory stays bounded by cutting a line longer than the maximum into pieces. A cut must never
//! split a secret, so it is placed where no match can straddle it: looking at the first `max`
//! bytes of the line, every match that starts before `max - (longest pattern - 1)` lies wholly
//! inside them, so the cut goes after the last such match, or at that boundary. Because the cut
//! depends only on the line's bytes and not on when they arrived, the pieces are the same however
//! the input was chunked, and the pieces of a line put together are exactly the masked line.

use std::fmt;

use memchr::{memchr, memchr_iter};

use crate::SecretMasker;

/// Default longest piece of a line, in bytes, before a line is cut.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// Assembles masked lines from arbitrary chunks of a stream.
///
/// Each line is emitted without its `\n` and without a `\r` before it, with secrets masked. A
/// line longer than [`LineSplitter::max_line_len`] bytes is emitted as several pieces of at most
/// that many (unmasked) bytes each; no secret is ever cut by a piece boundary. Memory use is
/// about the maximum line length plus the largest chunk fed.
///
/// `Debug` shows sizes only: the unfinished line may hold a secret not yet masked.
pub struct LineSplitter {
    /// Bytes of the current, unfinished line (never a `\n`).
    pending: Vec<u8>,
    emitter: Emitter,
}

/// The part of the splitter that masks and emits, kept apart from `pending` so a line borrowed
/// from `pending` can be emitted without copying it.
struct Emitter {
    masker: SecretMasker,
    /// Reused output buffer for lines that contain a match.
    masked: Vec<u8>,
    /// Longest piece of a line, in bytes.
    max_piece: usize,
    /// Bytes that may begin a match longer than what is in view: the longest pattern less one.
    hold_back: usize,
}

impl LineSplitter {
    /// A splitter cutting lines at [`DEFAULT_MAX_LINE_LEN`] bytes.
    pub fn new(masker: SecretMasker) -> LineSplitter {
        LineSplitter::with_max_line_len(masker, DEFAULT_MAX_LINE_LEN)
    }

    /// A splitter cutting lines at `max_line_len` bytes, raised to twice the masker's longest
    /// pattern (and at least 1) so that every cut makes progress without splitting a match.
    pub fn with_max_line_len(masker: SecretMasker, max_line_len: usize) -> LineSplitter {
        let longest = masker.longest_pattern();
        LineSplitter {
            pending: Vec::new(),
            emitter: Emitter {
                max_piece: max_line_len.max(longest.saturating_mul(2)).max(1),
                hold_back: longest.saturating_sub(1),
                masker,
                masked: Vec::new(),
            },
        }
    }

    /// The longest piece of a line emitted, in bytes before masking.
    pub fn max_line_len(&self) -> usize {
        self.emitter.max_piece
    }

    /// Feeds the next chunk of the stream, calling `on_line` with each line it completes (and
    /// each piece of an overlong line).
    pub fn feed(&mut self, chunk: &[u8], mut on_line: impl FnMut(&[u8])) {
        self.feed_pieces(chunk, |piece, _| on_line(piece));
    }

    /// Ends the stream, emitting its last line if it had no `\n`.
    pub fn finish(&mut self, mut on_line: impl FnMut(&[u8])) {
        self.finish_pieces(|piece, _| on_line(piece));
    }

    /// Like [`LineSplitter::feed`], also telling for each piece whether it ends its line (false
    /// only for the leading pieces of an overlong line).
    pub fn feed_pieces(&mut self, chunk: &[u8], mut on_piece: impl FnMut(&[u8], bool)) {
        let mut rest = chunk;
        if !self.pending.is_empty() {
            let Some(newline) = memchr(b'\n', rest) else {
                self.pending.extend_from_slice(rest);
                let consumed = self
                    .emitter
                    .emit_leading_pieces_unfinished(&self.pending, &mut on_piece);
                self.pending.drain(..consumed.min(self.pending.len()));
                return;
            };
            let (line_end, after) = rest.split_at(newline);
            self.pending.extend_from_slice(line_end);
            self.emitter.emit_line(&self.pending, &mut on_piece);
            self.pending.clear();
            rest = after.get(1..).unwrap_or_default();
        }
        // Searching the whole chunk once is much cheaper than starting a search on every short
        // line: lines that end before the next match start need no masking.
        let mut next_match = None;
        let mut line_start = 0;
        for newline in memchr_iter(b'\n', rest) {
            let line = rest.get(line_start..newline).unwrap_or_default();
            if next_match.is_none_or(|start| start < line_start) {
                next_match = Some(self.emitter.masker.first_match_from(rest, line_start));
            }
            let clean = next_match.is_some_and(|start| start >= newline);
            if clean && line.len() <= self.emitter.max_piece {
                on_piece(line.strip_suffix(b"\r").unwrap_or(line), true);
            } else {
                self.emitter.emit_line(line, &mut on_piece);
            }
            line_start = newline + 1;
        }
        let tail = rest.get(line_start..).unwrap_or_default();
        let consumed = self
            .emitter
            .emit_leading_pieces_unfinished(tail, &mut on_piece);
        self.pending
            .extend_from_slice(tail.get(consumed..).unwrap_or_default());
    }

    /// Like [`LineSplitter::finish`], with the same flag as [`LineSplitter::feed_pieces`].
    pub fn finish_pieces(&mut self, mut on_piece: impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            self.emitter.emit_line(&self.pending, &mut on_piece);
            self.pending.clear();
        }
    }
}

impl fmt::Debug for LineSplitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineSplitter")
            .field("masker", &self.emitter.masker)
            .field("max_line_len", &self.emitter.max_piece)
            .field("pending_bytes", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Emitter {
    /// Emits a complete line (without its `\n`).
    fn emit_line(&mut self, line: &[u8], on_piece: &mut impl FnMut(&[u8], bool)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let consumed = self.emit_leading_pieces(line, on_piece);
        self.emit(line.get(consumed..).unwrap_or_default(), true, on_piece);
    }

    /// Emits the leading pieces of an unfinished line and returns how many bytes they took; the
    /// caller keeps the rest and passes it again with what follows.
    ///
    /// A final `\r` does not count, as it may turn out to be the line's ending: so the pieces
    /// are those the whole line will give, and a line's last piece is never empty.
    fn emit_leading_pieces_unfinished(
        &mut self,
        line: &[u8],
        on_piece: &mut impl FnMut(&[u8], bool),
    ) -> usize {
        self.emit_leading_pieces(line.strip_suffix(b"\r").unwrap_or(line), on_piece)
    }

    /// Emits pieces from the front of `line` while more than `max_piece` bytes remain, and
    /// returns how many bytes they took.
    fn emit_leading_pieces(
        &mut self,
        line: &[u8],
        on_piece: &mut impl FnMut(&[u8], bool),
    ) -> usize {
        let mut consumed = 0;
        while line.len() - consumed > self.max_piece {
            let Some(view) = line.get(consumed..consumed + self.max_piece) else {
                break;
            };
            let cut = self.safe_cut(view);
            self.emit(view.get(..cut).unwrap_or(view), false, on_piece);
            consumed += cut;
        }
        consumed
    }

    /// Where to cut `view` (the next `max_piece` bytes of a line) so that no match straddles the
    /// cut: after the last match starting before `boundary`, or at `boundary`. Matches starting
    /// before `boundary` end inside `view`, so the masker sees each of them whole.
    fn safe_cut(&self, view: &[u8]) -> usize {
        let boundary = view.len() - self.hold_back;
        let mut cut = boundary;
        for (start, end) in self.masker.matches(view) {
            if start >= boundary {
                break;
            }
            cut = cut.max(end);
        }
        cut
    }

    fn emit(&mut self, piece: &[u8], ends_line: bool, on_piece: &mut impl FnMut(&[u8], bool)) {
        self.masked.clear();
        if self.masker.mask_if_matched(piece, &mut self.masked) {
            on_piece(&self.masked, ends_line);
        } else {
            on_piece(piece, ends_line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and returns every piece with its ends-line flag.
    fn pieces(splitter: &mut LineSplitter, chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.feed_pieces(chunk, |piece, ends| out.push((piece.to_vec(), ends)));
        }
        splitter.finish_pieces(|piece, ends| out.push((piece.to_vec(), ends)));
        out
    }

    fn lines(masker: SecretMasker, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut splitter = LineSplitter::new(masker);
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |line| out.push(line.to_vec()));
        }
        splitter.finish(|line| out.push(line.to_vec()));
        out
    }

    fn no_secrets() -> SecretMasker {
        SecretMasker::new(Vec::<String>::new())
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let got = lines(no_secrets(), &[b"one\r\ntwo\n\nthr", b"ee\r", b"\nlast"]);
        assert_eq!(got, [&b"one"[..], b"two", b"", b"three", b"last"]);
    }

    #[test]
    fn empty_lines_and_empty_chunks() {
        let got = lines(no_secrets(), &[b"", b"\n", b"", b"\r\n\n", b""]);
        assert_eq!(got, [&b""[..], b"", b""]);
        assert!(lines(no_secrets(), &[]).is_empty());
    }

    #[test]
    fn only_a_final_cr_is_stripped() {
        let got = lines(no_secrets(), &[b"a\rb\r\r\n", b"c\r"]);
        assert_eq!(got, [&b"a\rb\r"[..], b"c"]);
    }

    #[test]
    fn invalid_utf8_is_kept() {
        let masker = SecretMasker::new(["tok3n"]);
        let got = lines(masker, &[b"\xff\xfe tok3n \xc3\n\x80"]);
        assert_eq!(got, [&b"\xff\xfe *** \xc3"[..], b"\x80"]);
    }

    #[test]
    fn secret_split_across_chunks_at_every_offset() {
        let input = b"before secret-value after\nnext secret-value\n";
        let masker = SecretMasker::new(["secret-value"]);
        let expected = [&b"before *** after"[..], b"next ***"];
        for first in 0..=input.len() {
            for second in first..=input.len() {
                let (a, rest) = input.split_at(first);
                let (b, c) = rest.split_at(second - first);
                assert_eq!(
                    lines(masker.clone(), &[a, b, c]),
                    expected,
                    "{first} {second}"
                );
            }
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(lines(masker, &bytes), expected);
    }

    #[test]
    fn long_line_without_secrets_is_cut_at_the_maximum() {
        let mut splitter = LineSplitter::with_max_line_len(no_secrets(), 4);
        let got = pieces(&mut splitter, &[b"abcdefghij\nxy\n"]);
        let expected = [
            (b"abcd".to_vec(), false),
            (b"efgh".to_vec(), false),
            (b"ij".to_vec(), true),
            (b"xy".to_vec(), true),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn line_of_exactly_the_maximum_is_one_piece() {
        let mut splitter = LineSplitter::with_max_line_len(no_secrets(), 4);
        assert_eq!(
            pieces(&mut splitter, &[b"abcd\r\n", b"efgh"]),
            [(b"abcd".to_vec(), true), (b"efgh".to_vec(), true)]
        );
    }

    #[test]
    fn final_cr_of_long_line_never_becomes_a_piece() {
        let mut splitter = LineSplitter::with_max_line_len(no_secrets(), 4);
        let got = pieces(&mut splitter, &[b"abcd\r", b"\n"]);
        assert_eq!(got, [(b"abcd".to_vec(), true)]);
        let got = pieces(&mut splitter, &[b"abcde\r", b"\r\n"]);
        assert_eq!(got, [(b"abcd".to_vec(), false), (b"e\r".to_vec(), true)]);
    }

    #[test]
    fn forced_cut_never_splits_a_secret() {
        let secret = "0123456789";
        let masker = SecretMasker::new([secret]);
        let longest = masker.longest_pattern();
        let max = 2 * longest;
        for position in 0..3 * max {
            let line = format!("{}{secret}{}", "x".repeat(position), "y".repeat(max));
            let input = format!("{line}\n");
            let whole = {
                let mut splitter = LineSplitter::with_max_line_len(masker.clone(), max);
                pieces(&mut splitter, &[input.as_bytes()])
            };
            let joined: Vec<u8> = whole.iter().flat_map(|(p, _)| p.clone()).collect();
            let mut expected = Vec::new();
            masker.mask(line.as_bytes(), &mut expected);
            assert_eq!(joined, expected, "secret at {position}");
            assert!(whole.len() > 1, "line was not cut");
            let bytewise: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
            let mut splitter = LineSplitter::with_max_line_len(masker.clone(), max);
            assert_eq!(
                pieces(&mut splitter, &bytewise),
                whole,
                "secret at {position}"
            );
        }
    }

    #[test]
    fn maximum_is_raised_to_fit_the_longest_pattern() {
        let masker = SecretMasker::new(["a-rather-long-secret"]);
        let longest = masker.longest_pattern();
        assert_eq!(
            LineSplitter::with_max_line_len(masker, 1).max_line_len(),
            2 * longest
        );
        assert_eq!(
            LineSplitter::with_max_line_len(no_secrets(), 0).max_line_len(),
            1
        );
        assert_eq!(
            LineSplitter::new(no_secrets()).max_line_len(),
            DEFAULT_MAX_LINE_LEN
        );
    }

    #[test]
    fn debug_does_not_show_the_unfinished_line() {
        let mut splitter = LineSplitter::new(SecretMasker::new(["topsecret"]));
        splitter.feed(b"password: tops", |_| {});
        let shown = format!("{splitter:?}");
        assert!(!shown.contains("tops"), "{shown}");
        assert!(shown.contains("pending_bytes: 14"), "{shown}");
    }

    #[test]
    fn encoded_multi_line_secret_is_masked_in_lines() {
        let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END KEY-----\n";
        let masker = SecretMasker::new([key]);
        let json = serde_json::json!({ "key": key }).to_string();
        let input = format!("{json}\n{key}");
        let got = lines(masker, &input.as_bytes().chunks(7).collect::<Vec<_>>());
        assert_eq!(got, [&br#"{"key":"***"}"#[..], b"***", b"***", b"***"]);
    }

    #[test]
    fn unfinished_long_line_keeps_bounded_pending_bytes() {
        let mut splitter = LineSplitter::with_max_line_len(no_secrets(), 100);
        let mut emitted = 0;
        for _ in 0..1000 {
            splitter.feed(&[b'z'; 37], |piece| emitted += piece.len());
            assert!(splitter.pending.len() <= 100);
        }
        splitter.finish(|piece| emitted += piece.len());
        assert_eq!(emitted, 37_000);
    }
}
