//! Paged access to a step's log by line number, whatever its storage: [`LogSource`], with
//! [`crate::PlainLogReader`] for a plain (possibly still growing) log and
//! [`crate::ArchiveReader`] for a finished, archived one; and [`search`] over either.

use std::io;
use std::ops::ControlFlow;

use memchr::memmem;

use crate::format::{Record, Stream};

/// One record of a log with its line number, owning its bytes: what a page hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    /// The line's number in its log, from 1.
    pub line: u64,
    /// Unix time in milliseconds when the line was read.
    pub ts_ms: u64,
    /// The stream the line came from.
    pub stream: Stream,
    /// The line, masked, without its line ending; not necessarily UTF-8.
    pub text: Vec<u8>,
}

impl OwnedRecord {
    /// Copies a borrowed record, giving it its line number.
    pub fn new(line: u64, record: Record<'_>) -> OwnedRecord {
        OwnedRecord {
            line,
            ts_ms: record.ts_ms,
            stream: record.stream,
            text: record.line.to_vec(),
        }
    }
}

/// A log that can be read by line number. Lines are numbered from 1.
///
/// Only complete records count: the unfinished last record of a log still being written is not a
/// line until its `\n` arrives.
pub trait LogSource {
    /// How many lines the log holds now.
    fn line_count(&mut self) -> io::Result<u64>;

    /// Appends to `out` up to `count` lines from line `first` on (fewer at the end of the log,
    /// none when `first` is past it). `first` is 1-based: 0 is an
    /// [`io::ErrorKind::InvalidInput`] error.
    fn read_lines(
        &mut self,
        first: u64,
        count: usize,
        out: &mut Vec<OwnedRecord>,
    ) -> io::Result<()>;

    /// Calls `visit` with each line from `first` on, with its number, until `visit` breaks or the
    /// log ends. The record borrows from the reader's buffer, so a caller that only looks at lines
    /// (search) copies nothing. The default reads pages through [`LogSource::read_lines`];
    /// implementations override it to avoid the copies.
    fn visit_lines(
        &mut self,
        first: u64,
        visit: &mut dyn FnMut(u64, Record<'_>) -> ControlFlow<()>,
    ) -> io::Result<()> {
        const PAGE: usize = 1024;
        let mut page = Vec::with_capacity(PAGE);
        let mut next = first;
        loop {
            page.clear();
            self.read_lines(next, PAGE, &mut page)?;
            for record in &page {
                let borrowed = Record {
                    ts_ms: record.ts_ms,
                    stream: record.stream,
                    line: &record.text,
                };
                if visit(record.line, borrowed).is_break() {
                    return Ok(());
                }
            }
            if page.len() < PAGE {
                return Ok(());
            }
            next = next.saturating_add(PAGE as u64);
        }
    }
}

/// The error for line number 0.
pub(crate) fn check_first_line(first: u64) -> io::Result<()> {
    if first == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "log lines are numbered from 1; line 0 does not exist",
        ));
    }
    Ok(())
}

/// [`LogSource::read_lines`] in terms of [`LogSource::visit_lines`], for implementations whose
/// visit is the efficient primitive.
pub(crate) fn read_lines_by_visit(
    source: &mut impl LogSource,
    first: u64,
    count: usize,
    out: &mut Vec<OwnedRecord>,
) -> io::Result<()> {
    check_first_line(first)?;
    if count == 0 {
        return Ok(());
    }
    let mut left = count;
    source.visit_lines(first, &mut |line, record| {
        out.push(OwnedRecord::new(line, record));
        left -= 1;
        if left == 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
}

/// Line numbers, in order, of the lines from `from_line` on whose text contains `needle`
/// (case-sensitive bytes; the timestamp and stream are not searched), at most `max_hits` of them.
/// An empty needle matches every line. To page through hits, search again from the line after
/// the last hit.
pub fn search(
    source: &mut (impl LogSource + ?Sized),
    needle: &[u8],
    from_line: u64,
    max_hits: usize,
) -> io::Result<Vec<u64>> {
    check_first_line(from_line)?;
    let mut hits = Vec::new();
    if max_hits == 0 {
        return Ok(hits);
    }
    let finder = memmem::Finder::new(needle);
    source.visit_lines(from_line, &mut |line, record| {
        if finder.find(record.line).is_some() {
            hits.push(line);
            if hits.len() >= max_hits {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(hits)
}
