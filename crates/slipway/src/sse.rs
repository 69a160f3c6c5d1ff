//! A small Server-Sent Events parser: the `text/event-stream` of
//! `GET /api/v1/runs/{id}/logs`, fed chunk by chunk as they arrive.
//!
//! Follows the WHATWG rules the server relies on: `field: value` lines (one
//! space after the colon is dropped), `data:` lines joined by `\n`, a blank
//! line ends the event, lines starting with `:` are comments (keep-alives),
//! unknown fields are ignored. Lines end with `\n` or `\r\n` (a lone `\r`,
//! which no server of ours sends, is not a line end here).

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` of the event, or the last one seen before it.
    pub id: Option<String>,
    /// The `event:` type; `None` is the default type, `message`.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// A line longer than this is refused rather than buffered without bound.
pub const MAX_LINE: usize = 4 << 20;

/// The stream broke the parser's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server sent an event line longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

/// Parses a byte stream into events; keeps the partial line between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    partial: Vec<u8>,
    /// The id of the event being received (the standard's "buffer").
    pending_id: Option<String>,
    /// The id as of the last completed event: where to resume.
    last_id: Option<String>,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// The last `id:` received: what to send back as `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Drops a half-received line and event (the connection broke), keeping
    /// the last id to resume from.
    pub fn forget_partial_event(&mut self) {
        self.partial.clear();
        self.pending_id.clone_from(&self.last_id);
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }

    /// Feeds a chunk, appending each event it completes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LineTooLong> {
        let mut rest = chunk;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or_default();
            if self.partial.is_empty() {
                self.line(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, out);
            }
        }
        if self.partial.len() + rest.len() > MAX_LINE {
            self.partial.clear();
            return Err(LineTooLong);
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            // An id with a NUL is ignored, as the standard says.
            "id" if !value.contains('\0') => self.pending_id = Some(value.to_string()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        self.last_id.clone_from(&self.pending_id);
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            id: self.last_id.clone(),
            event,
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, SseParser) {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk, &mut out).unwrap();
        }
        (out, parser)
    }

    fn event(id: Option<&str>, kind: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            id: id.map(str::to_string),
            event: kind.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn fields_and_blank_line_end_an_event() {
        let (events, parser) =
            parse_chunks(&[b"id: 1.0.0\nevent: log\ndata: {\"a\":1}\n\ndata: two\n\n"]);
        assert_eq!(
            events,
            vec![
                event(Some("1.0.0"), Some("log"), "{\"a\":1}"),
                event(Some("1.0.0"), None, "two"),
            ]
        );
        assert_eq!(parser.last_event_id(), Some("1.0.0"));
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let (events, _) = parse_chunks(&[b"data: a\ndata:b\ndata:  c\n\n"]);
        assert_eq!(events, vec![event(None, None, "a\nb\n c")]);
    }

    #[test]
    fn events_split_anywhere_across_chunks() {
        let stream = b"id: 7\ndata: hello world\n\nid: 8\r\ndata: again\r\n\r\n";
        let (whole, _) = parse_chunks(&[stream]);
        for cut in 0..stream.len() {
            let (first, second) = stream.split_at(cut);
            let (split, parser) = parse_chunks(&[first, second]);
            assert_eq!(split, whole, "cut at {cut}");
            assert_eq!(parser.last_event_id(), Some("8"));
        }
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[1], event(Some("8"), None, "again"));
    }

    #[test]
    fn comments_unknown_fields_and_empty_events_are_skipped() {
        let (events, parser) =
            parse_chunks(&[b": keep-alive\n\nretry: 100\nfoo\n\nid: 3\n\nevent: x\n\ndata\n\n"]);
        // `data` without a colon is a data field with an empty value.
        assert_eq!(events, vec![event(Some("3"), None, "")]);
        assert_eq!(parser.last_event_id(), Some("3"));
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let (events, _) = parse_chunks(&[b"data: half\n"]);
        assert!(events.is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let (events, _) = parse_chunks(&[b"data: \xff\xfe ok\n\n"]);
        assert_eq!(events, vec![event(None, None, "\u{fffd}\u{fffd} ok")]);
    }

    #[test]
    fn a_broken_connection_keeps_only_the_last_id() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser
            .push(b"id: 4\ndata: whole\n\nid: 5\ndata: ha", &mut out)
            .unwrap();
        // Event 5 never completed: resume after 4.
        assert_eq!(parser.last_event_id(), Some("4"));
        parser.forget_partial_event();
        assert_eq!(parser.last_event_id(), Some("4"));
        parser
            .push(b"id: 5\ndata: fresh\n\ndata: no id\n\n", &mut out)
            .unwrap();
        assert_eq!(
            out,
            vec![
                event(Some("4"), None, "whole"),
                event(Some("5"), None, "fresh"),
                event(Some("5"), None, "no id"),
            ]
        );
    }

    proptest::proptest! {
        /// Any bytes, cut anywhere: no panic, and the same events as in
        /// one piece.
        #[test]
        fn chunking_never_changes_the_events(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..6),
        ) {
            let (whole, _) = parse_chunks(&[&bytes]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for cut in cuts {
                pieces.push(&bytes[start..cut]);
                start = cut;
            }
            pieces.push(&bytes[start..]);
            let (split, _) = parse_chunks(&pieces);
            proptest::prop_assert_eq!(split, whole);
        }

        /// Events written as a server writes them come back as written.
        #[test]
        fn written_events_round_trip(
            events in proptest::collection::vec(
                ("[a-z0-9.]{1,8}", proptest::option::of("[a-z]{1,6}"), "[ -~]{0,20}(\n[ -~]{0,20}){0,2}"),
                0..6,
            ),
        ) {
            let mut stream = String::new();
            for (id, kind, data) in &events {
                stream.push_str(&format!("id: {id}\n"));
                if let Some(kind) = kind {
                    stream.push_str(&format!("event: {kind}\n"));
                }
                for line in data.split('\n') {
                    stream.push_str(&format!("data: {line}\n"));
                }
                stream.push('\n');
            }
            let (parsed, parser) = parse_chunks(&[stream.as_bytes()]);
            let expected: Vec<SseEvent> = events
                .iter()
                .map(|(id, kind, data)| event(Some(id), kind.as_deref(), data))
                .collect();
            proptest::prop_assert_eq!(parsed, expected);
            proptest::prop_assert_eq!(
                parser.last_event_id(),
                events.last().map(|(id, _, _)| id.as_str())
            );
        }
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        let chunk = vec![b'x'; MAX_LINE / 2 + 1];
        assert!(parser.push(&chunk, &mut out).is_ok());
        assert_eq!(parser.push(&chunk, &mut out), Err(LineTooLong));
        // The parser recovers at the next event.
        parser.push(b"\ndata: next\n\n", &mut out).unwrap();
        assert_eq!(out, vec![event(None, None, "next")]);
    }
}
