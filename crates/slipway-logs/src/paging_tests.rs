//! Tests of archives, paged reading and search, over both plain logs and archives.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::{
    ArchiveOptions, ArchiveReader, LogSource, LogWriter, OwnedRecord, PlainLogReader, Stream,
    archive, archive_file, archive_with, search,
};

type Line = (u64, Stream, Vec<u8>);

fn plain_log(lines: &[Line]) -> Vec<u8> {
    let mut writer = LogWriter::new(Vec::new());
    for (ts, stream, text) in lines {
        writer.write_line(*ts, *stream, text).expect("no newline");
    }
    writer.into_inner().expect("vec")
}

fn owned(lines: &[Line]) -> Vec<OwnedRecord> {
    lines
        .iter()
        .enumerate()
        .map(|(at, (ts, stream, text))| OwnedRecord {
            line: at as u64 + 1,
            ts_ms: *ts,
            stream: *stream,
            text: text.clone(),
        })
        .collect()
}

fn archived(plain: &[u8], block_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let options = ArchiveOptions {
        block_bytes,
        ..ArchiveOptions::default()
    };
    archive_with(plain, &mut out, &options).expect("archive");
    out
}

fn read_all(source: &mut impl LogSource, page: usize) -> io::Result<Vec<OwnedRecord>> {
    let mut out = Vec::new();
    let mut first = 1;
    loop {
        let before = out.len();
        source.read_lines(first, page, &mut out)?;
        let read = out.len() - before;
        if read < page {
            return Ok(out);
        }
        first += read as u64;
    }
}

fn numbered(count: usize, width: usize) -> Vec<Line> {
    (0..count)
        .map(|n| {
            let stream = if n % 7 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let text = format!("line {n:0width$} of the build");
            (1_700_000_000_000 + n as u64, stream, text.into_bytes())
        })
        .collect()
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.read.set(self.read.get() + read as u64);
        Ok(read)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn counting<R>(inner: R) -> (Counting<R>, Rc<Cell<u64>>) {
    let read = Rc::new(Cell::new(0));
    (
        Counting {
            inner,
            read: Rc::clone(&read),
        },
        read,
    )
}

#[test]
fn empty_log_archives_to_an_empty_archive() {
    let mut out = Vec::new();
    let stats = archive(&b""[..], &mut out).expect("archive");
    assert_eq!((stats.lines, stats.blocks), (0, 0));
    assert_eq!(stats.archived_bytes, out.len() as u64);
    let mut reader = ArchiveReader::open(Cursor::new(out)).expect("open");
    assert_eq!(reader.line_count().ok(), Some(0));
    assert_eq!(read_all(&mut reader, 10).ok(), Some(Vec::new()));
    let mut plain = PlainLogReader::open(Cursor::new(Vec::new())).expect("open");
    assert_eq!(plain.line_count().ok(), Some(0));
    assert_eq!(read_all(&mut plain, 10).ok(), Some(Vec::new()));
}

#[test]
fn line_zero_is_refused() {
    let plain = plain_log(&numbered(3, 1));
    let mut reader = ArchiveReader::open(Cursor::new(archived(&plain, 64))).expect("open");
    let mut out = Vec::new();
    let err = reader.read_lines(0, 1, &mut out).err().map(|e| e.kind());
    assert_eq!(err, Some(io::ErrorKind::InvalidInput));
    let mut plain = PlainLogReader::open(Cursor::new(plain)).expect("open");
    let err = search(&mut plain, b"x", 0, 1).err().map(|e| e.kind());
    assert_eq!(err, Some(io::ErrorKind::InvalidInput));
}

#[test]
fn a_line_bigger_than_a_block_ends_its_block() {
    let mut lines = numbered(10, 2);
    let huge: Vec<u8> = (0..300_000u32).map(|n| b'a' + (n % 26) as u8).collect();
    lines.insert(5, (42, Stream::Stdout, huge));
    let plain = plain_log(&lines);
    let bytes = archived(&plain, 1024);
    let mut reader = ArchiveReader::open(Cursor::new(bytes)).expect("open");
    let blocks = reader.blocks().to_vec();
    // Lines 1..=6 (the huge one last) make the first block; the others follow in their own.
    assert_eq!(
        blocks
            .first()
            .map(|b| (b.line_count, b.plain_len > 300_000)),
        Some((6, true))
    );
    assert_eq!(blocks.get(1).map(|b| b.first_line), Some(7));
    assert_eq!(read_all(&mut reader, 3).ok(), Some(owned(&lines)));
    let mut page = Vec::new();
    reader.read_lines(6, 1, &mut page).expect("page");
    assert_eq!(page.first().map(|r| r.text.len()), Some(300_000));
}

#[test]
fn invalid_utf8_and_odd_bytes_survive() {
    let lines: Vec<Line> = vec![
        (1, Stream::Stdout, b"\xff\xfe\x00 not utf-8 \xc3".to_vec()),
        (2, Stream::Stderr, b"".to_vec()),
        (3, Stream::Stdout, b"\r\x1b[31mred\x1b[0m\r".to_vec()),
    ];
    let plain = plain_log(&lines);
    let mut reader = ArchiveReader::open(Cursor::new(archived(&plain, 8))).expect("open");
    assert_eq!(read_all(&mut reader, 2).ok(), Some(owned(&lines)));
    let mut reader = PlainLogReader::open(Cursor::new(plain)).expect("open");
    assert_eq!(read_all(&mut reader, 2).ok(), Some(owned(&lines)));
}

#[test]
fn pages_across_block_boundaries_keep_their_line_numbers() {
    let lines = numbered(500, 4);
    let plain = plain_log(&lines);
    // About 37 bytes a record: a block every 3 lines or so.
    let mut reader = ArchiveReader::open(Cursor::new(archived(&plain, 100))).expect("open");
    assert!(reader.blocks().len() > 100);
    let expected = owned(&lines);
    for (first, count) in [
        (1, 10),
        (2, 3),
        (3, 4),
        (250, 37),
        (498, 10),
        (500, 1),
        (501, 5),
    ] {
        let mut page = Vec::new();
        reader.read_lines(first, count, &mut page).expect("page");
        let start = (first - 1) as usize;
        let end = (start + count).min(expected.len());
        assert_eq!(
            page,
            expected.get(start..end).unwrap_or_default(),
            "page {first}+{count}"
        );
    }
    // Backwards too, which reloads earlier blocks.
    let mut page = Vec::new();
    reader.read_lines(4, 2, &mut page).expect("page");
    assert_eq!(page.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 5]);
}

#[test]
fn the_last_page_of_an_archive_reads_only_its_block() {
    let lines = numbered(20_000, 6);
    let bytes = archived(&plain_log(&lines), 16 * 1024);
    let total = bytes.len() as u64;
    let (input, read) = counting(Cursor::new(bytes));
    let mut reader = ArchiveReader::open(input).expect("open");
    let count = reader.line_count().expect("count");
    let mut page = Vec::new();
    reader.read_lines(count - 99, 100, &mut page).expect("page");
    assert_eq!(page.last().map(|r| r.line), Some(20_000));
    let largest_block = reader.blocks().iter().map(|b| b.compressed_len).max();
    let index = reader.blocks().len() as u64 * 56 + 56;
    assert!(
        read.get() <= index + 2 * largest_block.unwrap_or(0),
        "{} of {total}",
        read.get()
    );
}

#[test]
fn a_growing_plain_log_is_indexed_incrementally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("step.log");
    let mut all = numbered(5_000, 5);
    let mut file = File::create(&path).expect("create");
    file.write_all(&plain_log(&all)).expect("write");
    // A record still being written: not a line yet.
    file.write_all(b"1700000099999 o half a li").expect("write");
    file.flush().expect("flush");

    let (input, read) = counting(File::open(&path).expect("open"));
    let mut reader = PlainLogReader::open(input).expect("open");
    let mut page = Vec::new();
    reader.read_lines(1, 100, &mut page).expect("first page");
    assert_eq!(page, owned(&all).get(..100).unwrap_or_default());
    assert!(
        read.get() < 300 * 1024,
        "first page read {} bytes",
        read.get()
    );
    assert_eq!(reader.line_count().ok(), Some(5_000));

    // The writer finishes its record and appends more.
    file.write_all(b"ne\n").expect("write");
    all.push((1_700_000_099_999, Stream::Stdout, b"half a line".to_vec()));
    let more = numbered(3_000, 7);
    file.write_all(&plain_log(&more)).expect("write");
    all.extend(more);
    let file_len = file.metadata().expect("metadata").len();
    let before = read.get();
    assert_eq!(reader.line_count().ok(), Some(8_001));
    let rescanned = read.get() - before;
    assert!(
        rescanned < file_len / 2,
        "re-count read {rescanned} of {file_len} bytes"
    );

    let expected = owned(&all);
    for (first, count) in [(7_950, 100), (1_020, 10), (5_001, 1), (4_999, 3)] {
        page.clear();
        reader.read_lines(first, count, &mut page).expect("page");
        let start = (first - 1) as usize;
        let end = (start + count).min(expected.len());
        assert_eq!(
            page,
            expected.get(start..end).unwrap_or_default(),
            "page {first}"
        );
    }
    assert_eq!(read_all(&mut reader, 333).ok(), Some(expected));
    assert!(reader.index_bytes() <= 9 * 8);
}

#[test]
fn pages_read_past_the_index_extend_it() {
    let lines = numbered(3_000, 4);
    let mut reader = PlainLogReader::open(Cursor::new(plain_log(&lines))).expect("open");
    // Reading everything without counting first indexes as it goes.
    assert_eq!(read_all(&mut reader, 700).ok(), Some(owned(&lines)));
    assert_eq!(reader.line_count().ok(), Some(3_000));
    assert_eq!(reader.index_bytes(), 3 * 8);
}

#[test]
fn a_replaced_plain_log_is_indexed_again() {
    let long = plain_log(&numbered(2_000, 4));
    let mut reader = PlainLogReader::open(Cursor::new(long)).expect("open");
    assert_eq!(reader.line_count().ok(), Some(2_000));
    let mut input = reader.into_inner();
    let short = numbered(10, 9);
    *input.get_mut() = plain_log(&short);
    let mut reader = PlainLogReader::open(input).expect("open");
    assert_eq!(read_all(&mut reader, 4).ok(), Some(owned(&short)));
}

#[test]
fn a_malformed_plain_record_is_invalid_data_naming_its_line() {
    let mut plain = plain_log(&numbered(3, 1));
    plain.extend_from_slice(b"garbage\n");
    let mut reader = PlainLogReader::open(Cursor::new(plain.clone())).expect("open");
    let err = read_all(&mut reader, 10).err();
    assert_eq!(
        err.as_ref().map(io::Error::kind),
        Some(io::ErrorKind::InvalidData)
    );
    assert!(err.is_some_and(|e| e.to_string().contains("line 4")));
    let err = archive(&plain[..], io::sink()).err();
    assert_eq!(
        err.as_ref().map(io::Error::kind),
        Some(io::ErrorKind::InvalidData)
    );
    assert!(err.is_some_and(|e| e.to_string().contains("line 4")));
}

#[test]
fn an_unfinished_last_record_is_kept_when_it_has_text_and_dropped_when_not() {
    let mut plain = plain_log(&numbered(2, 1));
    plain.extend_from_slice(b"77 e cut sho");
    let mut out = Vec::new();
    let stats = archive(&plain[..], &mut out).expect("archive");
    assert_eq!((stats.lines, stats.dropped_tail_bytes), (3, 0));
    let mut reader = ArchiveReader::open(Cursor::new(out)).expect("open");
    let mut page = Vec::new();
    reader.read_lines(3, 1, &mut page).expect("page");
    assert_eq!(
        page.first().map(|r| r.text.as_slice()),
        Some(&b"cut sho"[..])
    );

    let mut plain = plain_log(&numbered(2, 1));
    plain.extend_from_slice(b"77 e");
    let stats = archive(&plain[..], io::sink()).expect("archive");
    assert_eq!((stats.lines, stats.dropped_tail_bytes), (2, 4));
}

#[test]
fn search_finds_lines_across_blocks_in_both_forms() {
    let mut lines = numbered(2_000, 4);
    for at in [0, 17, 999, 1_024, 1_025, 1_999] {
        if let Some((_, _, text)) = lines.get_mut(at) {
            text.extend_from_slice(b" error: needle here");
        }
    }
    let plain = plain_log(&lines);
    let mut archive = ArchiveReader::open(Cursor::new(archived(&plain, 2048))).expect("open");
    let mut plain = PlainLogReader::open(Cursor::new(plain)).expect("open");
    let sources: [&mut dyn LogSource; 2] = [&mut archive, &mut plain];
    for source in sources {
        let all = search(source, b"needle", 1, 100).expect("search");
        assert_eq!(all, [1, 18, 1_000, 1_025, 1_026, 2_000]);
        assert_eq!(
            search(source, b"needle", 19, 2).ok(),
            Some(vec![1_000, 1_025])
        );
        assert_eq!(search(source, b"needle", 2_001, 2).ok(), Some(vec![]));
        assert_eq!(search(source, b"NEEDLE", 1, 10).ok(), Some(vec![]));
        // The header is not searched: timestamps do not match.
        assert_eq!(search(source, b"1700000000", 1, 10).ok(), Some(vec![]));
        assert_eq!(
            search(source, b"of the", 1_999, 10).ok(),
            Some(vec![1_999, 2_000])
        );
    }
}

#[test]
fn archive_file_replaces_the_plain_log_only_on_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("step.log");
    let archived_path = dir.path().join("step.log.zst");
    let lines = numbered(1_000, 3);
    fs::write(&plain, plain_log(&lines)).expect("write");
    let stats = archive_file(&plain, &archived_path).expect("archive");
    assert_eq!(stats.lines, 1_000);
    assert!(!plain.exists());
    let mut reader = ArchiveReader::open(File::open(&archived_path).expect("open")).expect("open");
    assert_eq!(read_all(&mut reader, 128).ok(), Some(owned(&lines)));
    // The archive is a plain zstd stream of the log for standard tools.
    let decoded = zstd::stream::decode_all(File::open(&archived_path).expect("open"));
    assert_eq!(decoded.ok(), Some(plain_log(&lines)));

    let bad = dir.path().join("bad.log");
    let bad_archive = dir.path().join("bad.log.zst");
    fs::write(&bad, b"1 o fine\nnot a record\n").expect("write");
    let err = archive_file(&bad, &bad_archive).err().map(|e| e.kind());
    assert_eq!(err, Some(io::ErrorKind::InvalidData));
    assert!(bad.exists());
    assert!(!bad_archive.exists());
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");

    let err = archive_file(&bad, &bad).err().map(|e| e.kind());
    assert_eq!(err, Some(io::ErrorKind::InvalidInput));
}

#[test]
fn every_truncation_and_byte_flip_is_invalid_data_or_harmless() {
    let lines = numbered(300, 3);
    let plain = plain_log(&lines);
    let bytes = archived(&plain, 1024);
    let expected = owned(&lines);
    let check = |damaged: Vec<u8>, what: &str| {
        let result = ArchiveReader::open(Cursor::new(damaged)).and_then(|mut reader| {
            let count = reader.line_count()?;
            read_all(&mut reader, 64).map(|records| (count, records))
        });
        match result {
            Ok((count, records)) => {
                assert_eq!(
                    (count, &records),
                    (300, &expected),
                    "{what} read wrong lines"
                );
            }
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{what}: {e}"),
        }
    };
    for len in 0..bytes.len() {
        let cut = bytes.get(..len).unwrap_or_default().to_vec();
        let result = ArchiveReader::open(Cursor::new(cut)).map(|_| ());
        assert_eq!(
            result.err().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidData),
            "cut at {len}"
        );
    }
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        if let Some(byte) = flipped.get_mut(at) {
            *byte ^= 0x10;
        }
        check(flipped, &format!("flip at {at}"));
    }
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..40),
        1 => vec(any::<u8>(), 200..3000),
    ]
    .prop_map(|mut text| {
        for byte in &mut text {
            if *byte == b'\n' {
                *byte = b'N';
            }
        }
        text
    })
}

fn log_lines() -> impl Strategy<Value = Vec<Line>> {
    vec(
        (
            any::<u64>(),
            prop_oneof![Just(Stream::Stdout), Just(Stream::Stderr)],
            text(),
        ),
        0..200,
    )
}

proptest! {
    #[test]
    fn archive_round_trips_and_pages_match(
        lines in log_lines(),
        block_bytes in 1usize..4096,
        page in 1usize..50,
        first in 1u64..220,
    ) {
        let plain = plain_log(&lines);
        let expected = owned(&lines);
        let bytes = archived(&plain, block_bytes);
        let mut reader = ArchiveReader::open(Cursor::new(bytes)).expect("open");
        prop_assert_eq!(reader.line_count().ok(), Some(lines.len() as u64));
        prop_assert_eq!(read_all(&mut reader, page).ok(), Some(expected.clone()));
        let start = usize::try_from(first - 1).unwrap_or(usize::MAX).min(expected.len());
        let end = (start + page).min(expected.len());
        let want = expected.get(start..end).unwrap_or_default();
        let mut got = Vec::new();
        reader.read_lines(first, page, &mut got).expect("page");
        prop_assert_eq!(&got, want);

        let mut plain_reader = PlainLogReader::open(Cursor::new(plain)).expect("open");
        got.clear();
        plain_reader.read_lines(first, page, &mut got).expect("page");
        prop_assert_eq!(&got, want);
        prop_assert_eq!(plain_reader.line_count().ok(), Some(lines.len() as u64));
        prop_assert_eq!(read_all(&mut plain_reader, page).ok(), Some(expected));
    }

    #[test]
    fn arbitrary_bytes_never_panic_an_archive_reader(bytes in vec(any::<u8>(), 0..2000)) {
        if let Ok(mut reader) = ArchiveReader::open(Cursor::new(bytes)) {
            let result = read_all(&mut reader, 7);
            prop_assert!(result.err().is_none_or(|e| e.kind() == io::ErrorKind::InvalidData));
        }
    }

    #[test]
    fn damaged_archives_are_invalid_data_or_read_correctly(
        lines in log_lines(),
        block_bytes in 1usize..2048,
        damage in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let expected = owned(&lines);
        let mut bytes = archived(&plain_log(&lines), block_bytes);
        for (at, value) in damage {
            let at = at.index(bytes.len());
            if let Some(byte) = bytes.get_mut(at) {
                *byte = value;
            }
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let result = ArchiveReader::open(Cursor::new(bytes))
            .and_then(|mut reader| read_all(&mut reader, 16));
        match result {
            Ok(records) => prop_assert_eq!(records, expected),
            Err(e) => prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{}", e),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_plain_reader(
        bytes in vec(prop_oneof![Just(b'\n'), Just(b' '), Just(b'o'), any::<u8>()], 0..2000),
        first in 1u64..100,
    ) {
        let mut reader = PlainLogReader::open(Cursor::new(bytes)).expect("open");
        let mut page = Vec::new();
        let result = reader.read_lines(first, 10, &mut page);
        prop_assert!(result.err().is_none_or(|e| e.kind() == io::ErrorKind::InvalidData));
        let _ = reader.line_count().expect("count");
    }
}

#[test]
fn a_log_written_while_read_is_read_consistently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.log");
    let mut writer = LogWriter::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("create"),
    );
    let mut reader = PlainLogReader::open(File::open(&path).expect("open")).expect("open");
    let lines = numbered(4_000, 4);
    let mut seen = 0u64;
    for chunk in lines.chunks(333) {
        for (ts, stream, text) in chunk {
            writer.write_line(*ts, *stream, text).expect("write");
        }
        // Flushing mid-way leaves whatever the buffer held: possibly a cut record.
        writer.flush().expect("flush");
        let count = reader.line_count().expect("count");
        assert!(count >= seen);
        let mut page = Vec::new();
        reader
            .read_lines(seen + 1, 10_000, &mut page)
            .expect("page");
        for record in &page {
            let expected = lines.get((record.line - 1) as usize);
            assert_eq!(
                expected.map(|l| l.2.as_slice()),
                Some(record.text.as_slice())
            );
        }
        seen += page.len() as u64;
    }
    assert_eq!(seen, 4_000);
}
