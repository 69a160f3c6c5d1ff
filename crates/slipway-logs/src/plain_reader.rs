//! Reading a plain log (format in [`mod@crate::format`]) by line number while it may still grow.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;

use memchr::memchr_iter;

use crate::format::{Record, parse_record};
use crate::source::{LogSource, OwnedRecord, check_first_line, read_lines_by_visit};

/// One checkpoint (a byte offset) is kept per this many lines.
pub const CHECKPOINT_LINES: u64 = 1024;

/// Bytes read per system call when scanning.
const SCAN_CHUNK: usize = 256 * 1024;

/// Reads a plain log a page at a time, for a log that may still be written.
///
/// It builds a sparse index as it goes: the byte offset of every [`CHECKPOINT_LINES`]-th line
/// (8 bytes per 1,024 lines: about 8 KB for a million lines), up to the last complete line seen.
/// A page is read from the nearest checkpoint before it, so paging forward or back costs at most
/// 1,023 skipped lines; when the log has grown, only the new bytes are scanned. Counting lines
/// reads the whole log once, and after that only what was appended. A file that became shorter
/// than what was indexed (replaced or truncated) is indexed again from its start.
///
/// A malformed record is an [`io::ErrorKind::InvalidData`] error naming its line when it is read;
/// counting does not parse records.
#[derive(Debug)]
pub struct PlainLogReader<R: Read + Seek> {
    input: R,
    /// `checkpoints[k]` is the offset of line `k * CHECKPOINT_LINES + 1`.
    checkpoints: Vec<u64>,
    /// Complete lines indexed so far.
    lines: u64,
    /// Offset just past the last indexed line.
    indexed_to: u64,
    scan_buf: Vec<u8>,
    line_buf: Vec<u8>,
}

impl<R: Read + Seek> PlainLogReader<R> {
    /// A reader of the log in `input`; nothing is read until asked.
    pub fn open(input: R) -> io::Result<PlainLogReader<R>> {
        Ok(PlainLogReader {
            input,
            checkpoints: vec![0],
            lines: 0,
            indexed_to: 0,
            scan_buf: Vec::new(),
            line_buf: Vec::new(),
        })
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// Bytes the index holds (its checkpoints), for whoever keeps many readers in a cache.
    pub fn index_bytes(&self) -> usize {
        self.checkpoints.len() * size_of::<u64>()
    }

    /// Forgets the index when the file is shorter than what was indexed.
    fn check_not_truncated(&mut self) -> io::Result<()> {
        let len = self.input.seek(SeekFrom::End(0))?;
        if len < self.indexed_to {
            self.checkpoints.truncate(1);
            self.lines = 0;
            self.indexed_to = 0;
        }
        Ok(())
    }

    /// Extends the index from where it stopped until it holds `target` lines or the log's end.
    fn index_until(&mut self, target: u64) -> io::Result<()> {
        self.check_not_truncated()?;
        if self.lines >= target {
            return Ok(());
        }
        self.scan_buf.resize(SCAN_CHUNK, 0);
        self.input.seek(SeekFrom::Start(self.indexed_to))?;
        let mut chunk_start = self.indexed_to;
        loop {
            let read = match self.input.read(&mut self.scan_buf) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = self.scan_buf.get(..read).unwrap_or_default();
            for newline in memchr_iter(b'\n', chunk) {
                let end = chunk_start + newline as u64 + 1;
                self.lines += 1;
                self.indexed_to = end;
                if self.lines.is_multiple_of(CHECKPOINT_LINES) {
                    self.checkpoints.push(end);
                }
                if self.lines >= target {
                    return Ok(());
                }
            }
            chunk_start += read as u64;
        }
    }
}

impl<R: Read + Seek> LogSource for PlainLogReader<R> {
    fn line_count(&mut self) -> io::Result<u64> {
        self.index_until(u64::MAX)?;
        Ok(self.lines)
    }

    fn read_lines(
        &mut self,
        first: u64,
        count: usize,
        out: &mut Vec<OwnedRecord>,
    ) -> io::Result<()> {
        read_lines_by_visit(self, first, count, out)
    }

    fn visit_lines(
        &mut self,
        first: u64,
        visit: &mut dyn FnMut(u64, Record<'_>) -> ControlFlow<()>,
    ) -> io::Result<()> {
        check_first_line(first)?;
        // Index up to the line before `first`, so its checkpoint is known.
        self.index_until(first - 1)?;
        let checkpoint = ((first - 1) / CHECKPOINT_LINES).min(self.lines / CHECKPOINT_LINES);
        let Some(&start) = self.checkpoints.get(checkpoint as usize) else {
            return Ok(());
        };
        if first > self.lines + 1 {
            return Ok(());
        }
        self.input.seek(SeekFrom::Start(start))?;
        let mut line = checkpoint * CHECKPOINT_LINES + 1;
        let mut offset = start;
        let mut line_buf = std::mem::take(&mut self.line_buf);
        let mut input = BufReader::with_capacity(64 * 1024, &mut self.input);
        let result = loop {
            line_buf.clear();
            let read = match input.read_until(b'\n', &mut line_buf) {
                Ok(read) => read,
                Err(e) => break Err(e),
            };
            if read == 0 || !line_buf.ends_with(b"\n") {
                // End of the log, or its unfinished last record.
                break Ok(());
            }
            offset += read as u64;
            let past_index = line > self.lines;
            if past_index {
                // Reading beyond what was indexed (the log grew): extend the index as we go.
                self.lines += 1;
                self.indexed_to = offset;
                if self.lines.is_multiple_of(CHECKPOINT_LINES) {
                    self.checkpoints.push(offset);
                }
            }
            if line >= first {
                let Some(record) = parse_record(&line_buf) else {
                    break Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "malformed log record at line {line} (byte {})",
                            offset - read as u64
                        ),
                    ));
                };
                if visit(line, record).is_break() {
                    break Ok(());
                }
            }
            line += 1;
        };
        drop(input);
        self.line_buf = line_buf;
        result
    }
}
