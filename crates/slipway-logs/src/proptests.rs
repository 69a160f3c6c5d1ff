//! Property tests: masking is never defeated by how the input is chunked, and stored records
//! read back as written.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::{LineSplitter, LogReader, LogWriter, SecretMasker, Stream, parse_record, records};

/// Secrets from a small alphabet, so that they overlap each other and the filler text often, with
/// characters that every encoding treats specially. No `*`: the mask itself must not spell a
/// secret.
fn secret() -> impl Strategy<Value = String> {
    "[ab\"\\\\ /+=%\n\r\t\u{1}é]{1,10}"
}

/// A piece of input: filler bytes, or some form of one of the secrets.
#[derive(Clone, Debug)]
enum Segment {
    Filler(Vec<u8>),
    /// Index into the secrets' patterns (raw and encoded forms).
    Form(usize),
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        vec(
            prop_oneof![
                Just(b'\n'),
                Just(b'\r'),
                Just(b'a'),
                Just(b'x'),
                any::<u8>()
            ],
            0..12
        )
        .prop_map(Segment::Filler),
        any::<usize>().prop_map(Segment::Form),
    ]
}

fn build_input(patterns: &[Vec<u8>], segments: &[Segment]) -> Vec<u8> {
    let mut input = Vec::new();
    for segment in segments {
        match segment {
            Segment::Filler(bytes) => input.extend_from_slice(bytes),
            Segment::Form(index) => {
                if let Some(pattern) = patterns.get(index % patterns.len().max(1)) {
                    input.extend_from_slice(pattern);
                }
            }
        }
    }
    input
}

/// Cuts `input` at the given points (taken modulo its length).
fn chunked<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    points
        .windows(2)
        .filter_map(|w| input.get(w[0]..w[1]))
        .collect()
}

/// The reference: the input split on `\n`, each line without a final `\r`, masked whole.
fn masked_lines(masker: &SecretMasker, input: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| {
            let mut out = Vec::new();
            masker.mask(line.strip_suffix(b"\r").unwrap_or(line), &mut out);
            out
        })
        .collect()
}

/// Feeds `chunks` and returns each line as the list of its pieces.
fn lines_as_pieces(splitter: &mut LineSplitter, chunks: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    let mut current = Vec::new();
    let mut on_piece = |piece: &[u8], ends_line: bool| {
        current.push(piece.to_vec());
        if ends_line {
            lines.push(std::mem::take(&mut current));
        }
    };
    for chunk in chunks {
        splitter.feed_pieces(chunk, &mut on_piece);
    }
    splitter.finish_pieces(&mut on_piece);
    assert!(current.is_empty(), "pieces left without their line's end");
    lines
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #[test]
    fn chunking_never_changes_masked_lines(
        secrets in vec(secret(), 1..4),
        segments in vec(segment(), 0..24),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let patterns = SecretMasker::patterns(&refs);
        let masker = SecretMasker::new(&secrets);
        let input = build_input(&patterns, &segments);

        let mut splitter = LineSplitter::new(masker.clone());
        let mut got = Vec::new();
        for chunk in chunked(&input, &cuts) {
            splitter.feed(chunk, |line| got.push(line.to_vec()));
        }
        splitter.finish(|line| got.push(line.to_vec()));

        prop_assert_eq!(&got, &masked_lines(&masker, &input));
        for line in &got {
            for pattern in &patterns {
                prop_assert!(!contains(line, pattern), "{:?} in {:?}", pattern, line);
            }
        }
    }

    #[test]
    fn forced_cuts_are_independent_of_chunking_and_never_split_a_secret(
        secrets in vec(secret(), 1..3),
        segments in vec(segment(), 0..40),
        cuts in vec(any::<usize>(), 0..12),
        max_line_len in 1usize..48,
    ) {
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let patterns = SecretMasker::patterns(&refs);
        let masker = SecretMasker::new(&secrets);
        let input = build_input(&patterns, &segments);

        let mut splitter = LineSplitter::with_max_line_len(masker.clone(), max_line_len);
        let whole = lines_as_pieces(&mut splitter, &[&input]);
        let mut splitter = LineSplitter::with_max_line_len(masker.clone(), max_line_len);
        let chunks = chunked(&input, &cuts);
        prop_assert_eq!(&lines_as_pieces(&mut splitter, &chunks), &whole);

        let joined: Vec<Vec<u8>> = whole.iter().map(|pieces| pieces.concat()).collect();
        prop_assert_eq!(joined, masked_lines(&masker, &input));
        for piece in whole.iter().flatten() {
            for pattern in &patterns {
                prop_assert!(!contains(piece, pattern), "{:?} in {:?}", pattern, piece);
            }
        }
    }

    #[test]
    fn no_secrets_means_lines_unchanged(
        input in vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let masker = SecretMasker::new(Vec::<String>::new());
        let mut splitter = LineSplitter::new(masker.clone());
        let mut got = Vec::new();
        for chunk in chunked(&input, &cuts) {
            splitter.feed(chunk, |line| got.push(line.to_vec()));
        }
        splitter.finish(|line| got.push(line.to_vec()));
        prop_assert_eq!(got, masked_lines(&masker, &input));
    }

    #[test]
    fn masking_arbitrary_bytes_leaves_no_pattern(
        secrets in vec(secret(), 0..4),
        input in vec(any::<u8>(), 0..64),
        segments in vec(segment(), 0..8),
    ) {
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let patterns = SecretMasker::patterns(&refs);
        let masker = SecretMasker::new(&secrets);
        let mut text = input;
        text.extend(build_input(&patterns, &segments));
        let mut out = Vec::new();
        masker.mask(&text, &mut out);
        for pattern in &patterns {
            prop_assert!(!contains(&out, pattern), "{:?} in {:?}", pattern, out);
        }
    }

    #[test]
    fn records_read_back_as_written(
        records_in in vec(
            (any::<u64>(), any::<bool>(), vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40)),
            0..20,
        ),
    ) {
        let mut writer = LogWriter::new(Vec::new());
        for (ts, stderr, line) in &records_in {
            let stream = if *stderr { Stream::Stderr } else { Stream::Stdout };
            prop_assert!(writer.write_line(*ts, stream, line).is_ok());
        }
        let bytes = writer.into_inner().unwrap_or_default();

        let expected: Vec<(u64, Stream, &[u8])> = records_in
            .iter()
            .map(|(ts, stderr, line)| {
                (*ts, if *stderr { Stream::Stderr } else { Stream::Stdout }, &line[..])
            })
            .collect();
        let from_slice: Vec<(u64, Stream, &[u8])> = records(&bytes)
            .filter_map(Result::ok)
            .map(|r| (r.ts_ms, r.stream, r.line))
            .collect();
        prop_assert_eq!(&from_slice, &expected);

        let mut reader = LogReader::new(&bytes[..]);
        let mut from_reader = Vec::new();
        while let Ok(Some(record)) = reader.next_record() {
            from_reader.push((record.ts_ms, record.stream, record.line.to_vec()));
        }
        prop_assert_eq!(from_reader.len(), expected.len());
        for (read, (ts, stream, line)) in from_reader.iter().zip(&expected) {
            prop_assert_eq!(read, &(*ts, *stream, line.to_vec()));
        }
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..64)) {
        if let Some(record) = parse_record(&bytes) {
            prop_assert!(!record.line.contains(&b'\n'));
        }
        let mut iter = records(&bytes);
        for _ in iter.by_ref() {}
        prop_assert!(iter.offset() <= bytes.len());
    }
}
