//! The stored form of a step's log.
//!
//! A step log file is a sequence of records, one per line:
//!
//! ```text
//! <unix time in ms> <stream> <line bytes>\n
//! ```
//!
//! - the time is a decimal `u64` of milliseconds since the Unix epoch, without sign or padding;
//! - the stream is one byte, `o` for stdout or `e` for stderr;
//! - one space separates each field, so a record with an empty line ends with `o \n`;
//! - the line bytes are the line as the step printed it, secrets already masked, without its line
//!   ending. They contain no `\n` but may contain anything else, invalid UTF-8 included: bytes are
//!   kept as they were, and decoding is left to whoever displays them.
//!
//! For example `1767225600123 e warning: disk almost full\n`.
//!
//! Why this shape: appending is one write of a few bytes of header plus the line, with no escaping;
//! a record boundary is a `\n`, so any byte range of a file can be paged through from its first
//! newline on, and a file cut short by a crash loses at most its last record. Records written by
//! one writer are in time order; the two streams of a step share one file, interleaved as read.

use std::io::{self, BufRead, BufWriter, Write};

use memchr::memchr;

/// Which output stream of a step a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output, stored as `o`.
    Stdout,
    /// Standard error, stored as `e`.
    Stderr,
}

impl Stream {
    /// The byte that stands for this stream in a record.
    pub fn code(self) -> u8 {
        match self {
            Stream::Stdout => b'o',
            Stream::Stderr => b'e',
        }
    }

    /// The stream a record's code byte stands for.
    pub fn from_code(code: u8) -> Option<Stream> {
        match code {
            b'o' => Some(Stream::Stdout),
            b'e' => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// One record of a stored log, borrowing its line from the text it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Unix time in milliseconds when the line was read.
    pub ts_ms: u64,
    /// The stream the line came from.
    pub stream: Stream,
    /// The line, masked, without its line ending.
    pub line: &'a [u8],
}

/// Parses one record, given with or without its final `\n`. Returns `None` when the text is not
/// a well-formed record.
pub fn parse_record(record: &[u8]) -> Option<Record<'_>> {
    let record = record.strip_suffix(b"\n").unwrap_or(record);
    let space = memchr(b' ', record)?;
    let (digits, rest) = record.split_at(space);
    let ts_ms = parse_u64(digits)?;
    let [b' ', code, b' ', line @ ..] = rest else {
        return None;
    };
    if memchr(b'\n', line).is_some() {
        return None;
    }
    Some(Record {
        ts_ms,
        stream: Stream::from_code(*code)?,
        line,
    })
}

/// Parses a non-empty run of ASCII digits that fits a `u64`.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// Iterates the records of a byte slice holding whole records, such as a page read from a log
/// file. Bytes after the last `\n` are an unfinished record (the file is still being written, or
/// the page ends mid-record): they are not yielded, and [`Records::offset`] tells where they start
/// so the next page can be read from there.
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records { bytes, offset: 0 }
}

/// Iterator returned by [`records`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
}

/// A line of a log that is not a well-formed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedRecord {
    /// Byte offset of the line's first byte.
    pub offset: usize,
}

impl std::fmt::Display for MalformedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed log record at byte {}", self.offset)
    }
}

impl std::error::Error for MalformedRecord {}

impl<'a> Records<'a> {
    /// Byte offset just past the last complete record read so far.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, MalformedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.offset..)?;
        let newline = memchr(b'\n', rest)?;
        let start = self.offset;
        self.offset += newline + 1;
        let record = rest.get(..newline).unwrap_or_default();
        Some(parse_record(record).ok_or(MalformedRecord { offset: start }))
    }
}

/// Writes records to a log file, buffered so that a line costs no system call.
///
/// Call [`LogWriter::flush`] to push buffered records to the file (for readers of a live log), and
/// [`LogWriter::into_inner`] at the end; dropping the writer also flushes, ignoring errors.
#[derive(Debug)]
pub struct LogWriter<W: Write> {
    out: BufWriter<W>,
    /// The header of the last record: lines of one chunk share their timestamp, so it is
    /// formatted once per chunk, not once per line.
    header: [u8; 24],
    header_len: usize,
    header_of: Option<(u64, Stream)>,
}

impl<W: Write> LogWriter<W> {
    /// A writer with a 64 KiB buffer.
    pub fn new(out: W) -> LogWriter<W> {
        LogWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
            header: [0; 24],
            header_len: 0,
            header_of: None,
        }
    }

    /// Appends one record. A `line` containing `\n` is refused with
    /// [`io::ErrorKind::InvalidInput`], as it would be read back as two records.
    pub fn write_line(&mut self, ts_ms: u64, stream: Stream, line: &[u8]) -> io::Result<()> {
        if memchr(b'\n', line).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a log line must not contain a newline",
            ));
        }
        if self.header_of != Some((ts_ms, stream)) {
            self.header_len = format_header(ts_ms, stream, &mut self.header);
            self.header_of = Some((ts_ms, stream));
        }
        self.out
            .write_all(self.header.get(..self.header_len).unwrap_or_default())?;
        self.out.write_all(line)?;
        self.out.write_all(b"\n")
    }

    /// Writes buffered records through to the underlying writer and flushes it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer, for inspection.
    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }

    /// Flushes buffered records and returns the underlying writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

/// Appends one record to `out`: the same bytes [`LogWriter::write_line`] writes, for a caller that
/// assembles a batch of records in memory and writes it with one system call (the live log store
/// does, so the batch it wrote is also the batch it broadcasts). A `line` containing `\n` is
/// refused with [`io::ErrorKind::InvalidInput`] and `out` is left as it was.
pub fn append_record(out: &mut Vec<u8>, ts_ms: u64, stream: Stream, line: &[u8]) -> io::Result<()> {
    if memchr(b'\n', line).is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a log line must not contain a newline",
        ));
    }
    let mut header = [0u8; 24];
    let header_len = format_header(ts_ms, stream, &mut header);
    out.reserve(header_len + line.len() + 1);
    out.extend_from_slice(header.get(..header_len).unwrap_or_default());
    out.extend_from_slice(line);
    out.push(b'\n');
    Ok(())
}

/// Writes `<ts_ms> <code> ` into `buf` and returns its length (at most 20 + 3 bytes).
fn format_header(ts_ms: u64, stream: Stream, buf: &mut [u8; 24]) -> usize {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut value = ts_ms;
    loop {
        start -= 1;
        // `value % 10` is below 10, so the cast cannot truncate.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    let digits = &digits[start..];
    let len = digits.len();
    buf[..len].copy_from_slice(digits);
    buf[len..len + 3].copy_from_slice(&[b' ', stream.code(), b' ']);
    len + 3
}

/// Reads records one at a time from a stored log, reusing one buffer.
#[derive(Debug)]
pub struct LogReader<R: BufRead> {
    input: R,
    buf: Vec<u8>,
    offset: u64,
}

impl<R: BufRead> LogReader<R> {
    /// A reader starting at the current position of `input`, which should be a record start.
    pub fn new(input: R) -> LogReader<R> {
        LogReader {
            input,
            buf: Vec::new(),
            offset: 0,
        }
    }

    /// Bytes consumed so far: the offset of the next record relative to where reading began.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, or `None` at the end of the log.
    ///
    /// A malformed record is an [`io::ErrorKind::InvalidData`] error; an unfinished last record
    /// (no `\n`: the log is being written, or was cut short) is an
    /// [`io::ErrorKind::UnexpectedEof`] error, and [`LogReader::offset`] still points at its start.
    pub fn next_record(&mut self) -> io::Result<Option<Record<'_>>> {
        self.buf.clear();
        let read = self.input.read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(None);
        }
        if !self.buf.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("unfinished log record at byte {}", self.offset),
            ));
        }
        let start = self.offset;
        self.offset += read as u64;
        match parse_record(&self.buf) {
            Some(record) => Ok(Some(record)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed log record at byte {start}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(records: &[(u64, Stream, &[u8])]) -> Vec<u8> {
        let mut writer = LogWriter::new(Vec::new());
        for (ts, stream, line) in records {
            writer.write_line(*ts, *stream, line).unwrap_or_default();
        }
        writer.into_inner().unwrap_or_default()
    }

    #[test]
    fn writes_the_documented_format() {
        let bytes = written(&[
            (
                1_767_225_600_123,
                Stream::Stderr,
                b"warning: disk almost full",
            ),
            (0, Stream::Stdout, b""),
            (u64::MAX, Stream::Stdout, b"\xff bytes \r kept"),
        ]);
        assert_eq!(
            bytes,
            b"1767225600123 e warning: disk almost full\n0 o \n18446744073709551615 o \xff bytes \r kept\n"
        );
    }

    #[test]
    fn append_record_writes_what_log_writer_writes() {
        let lines: [(u64, Stream, &[u8]); 3] = [
            (1_767_225_600_123, Stream::Stderr, b"warning"),
            (0, Stream::Stdout, b""),
            (u64::MAX, Stream::Stdout, b"\xff\r"),
        ];
        let mut out = Vec::new();
        for (ts, stream, line) in lines {
            assert!(append_record(&mut out, ts, stream, line).is_ok());
        }
        assert_eq!(out, written(&lines));
        let err = append_record(&mut out, 1, Stream::Stdout, b"a\nb").err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        assert_eq!(out, written(&lines));
    }

    #[test]
    fn line_with_newline_is_refused() {
        let mut writer = LogWriter::new(Vec::new());
        let err = writer.write_line(1, Stream::Stdout, b"a\nb").err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        assert_eq!(writer.into_inner().unwrap_or_default(), b"");
    }

    #[test]
    fn parses_records() {
        assert_eq!(
            parse_record(b"42 e hello world\n"),
            Some(Record {
                ts_ms: 42,
                stream: Stream::Stderr,
                line: b"hello world"
            })
        );
        assert_eq!(
            parse_record(b"7 o "),
            Some(Record {
                ts_ms: 7,
                stream: Stream::Stdout,
                line: b""
            })
        );
    }

    #[test]
    fn rejects_malformed_records() {
        for bad in [
            &b""[..],
            b"\n",
            b"12",
            b"12 o",
            b"12 x line",
            b"12  o line",
            b"12 oline",
            b" 12 o line",
            b"-1 o line",
            b"+1 o line",
            b"1a o line",
            b"18446744073709551616 o overflow",
            b"1 o two\nlines",
        ] {
            assert_eq!(
                parse_record(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn records_stop_before_an_unfinished_record() {
        let bytes = b"1 o a\n2 e b\nbad\n3 o unfini";
        let mut iter = records(bytes);
        assert_eq!(
            iter.next().and_then(Result::ok).map(|r| r.line),
            Some(&b"a"[..])
        );
        assert_eq!(iter.next().and_then(Result::ok).map(|r| r.ts_ms), Some(2));
        assert_eq!(iter.next(), Some(Err(MalformedRecord { offset: 12 })));
        assert_eq!(iter.next(), None);
        assert_eq!(iter.offset(), 16);
        assert_eq!(&bytes[iter.offset()..], b"3 o unfini");
    }

    #[test]
    fn reader_reads_back_what_writer_wrote() {
        let lines: [(u64, Stream, &[u8]); 3] = [
            (1, Stream::Stdout, b"first"),
            (2, Stream::Stderr, b""),
            (3, Stream::Stdout, b"\x00\xff"),
        ];
        let bytes = written(&lines);
        let mut reader = LogReader::new(&bytes[..]);
        for (ts, stream, line) in lines {
            let record = reader.next_record().ok().flatten();
            assert_eq!(
                record,
                Some(Record {
                    ts_ms: ts,
                    stream,
                    line
                })
            );
        }
        assert!(matches!(reader.next_record(), Ok(None)));
        assert_eq!(reader.offset(), bytes.len() as u64);
    }

    #[test]
    fn reader_reports_malformed_and_unfinished_records() {
        let mut reader = LogReader::new(&b"1 o ok\nnope\n2 o cut"[..]);
        assert!(matches!(reader.next_record(), Ok(Some(_))));
        let err = reader.next_record().err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        let err = reader.next_record().err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));
        assert_eq!(reader.offset(), 12);
    }
}
