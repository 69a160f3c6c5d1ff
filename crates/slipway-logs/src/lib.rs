//! The pure core of Slipway's log pipeline: from the bytes a step writes to stored records.
//!
//! ```text
//! pipe chunks ─► LineSplitter (lines, masked by SecretMasker) ─► LogWriter ─► step log file
//!                                                                  LogReader / records ◄─┘
//! ```
//!
//! - [`SecretMasker`] finds every secret, raw or in its base64, URL or JSON form, in one
//!   Aho-Corasick pass, and replaces it with `***`.
//! - [`LineSplitter`] cuts arbitrary chunks into lines and masks each whole line, so a secret
//!   split between two reads is still masked. Lines too long for memory are cut where no secret
//!   can straddle the cut.
//! - [`LogWriter`], [`parse_record`], [`records`] and [`LogReader`] write and read the stored
//!   format described in [`mod@format`].
//! - A finished log is turned into an archive by [`archive_file`]: zstd blocks with an index,
//!   format in [`mod@archive`]. [`ArchiveReader`] and [`PlainLogReader`] read either form a page
//!   at a time by line number through [`LogSource`]; [`search`] finds lines in either.
//! - [`apply_retention`] deletes the oldest logs beyond an age or a total size.
//! - [`live::LiveLogs`] is the server's store built from these parts: batches of lines from
//!   agents appended to per-step files, archived when their job ends, streamed to followers
//!   (backlog, then live lines) with a resumable [`live::Cursor`]. It is the one module here that
//!   does its own I/O, takes locks and needs tokio.
//!
//! This is the hottest path of the product (every byte every step prints), so the design avoids
//! per-line costs: lines are handed to callbacks as slices borrowed from the chunk or from one
//! reused buffer, nothing is allocated per line in steady state, newlines are found with memchr,
//! a line with no match is never copied, and with no secrets at all masking is skipped. The line
//! path does no I/O of its own and takes no locks: the caller owns the pipe, the clock and the
//! file. Archiving, paging and retention work over `std::io` readers and files the caller names.

pub mod archive;
pub mod format;
pub mod live;

mod archive_reader;
mod encode;
mod masker;
mod plain_reader;
mod retention;
mod source;
mod splitter;

#[cfg(test)]
mod paging_tests;
#[cfg(test)]
mod proptests;

pub use archive::{
    ArchiveOptions, ArchiveStats, BlockInfo, DEFAULT_BLOCK_BYTES, archive, archive_file,
    archive_with,
};
pub use archive_reader::ArchiveReader;
pub use format::{
    LogReader, LogWriter, MalformedRecord, Record, Records, Stream, append_record, parse_record,
    records,
};
pub use masker::{MASK, MIN_DERIVED_LEN, SecretMasker};
pub use plain_reader::{CHECKPOINT_LINES, PlainLogReader};
pub use retention::{
    ARCHIVED_LOG_SUFFIX, PLAIN_LOG_SUFFIX, Retention, RetentionReport, apply_retention,
    is_log_file_name,
};
pub use source::{LogSource, OwnedRecord, search};
pub use splitter::{DEFAULT_MAX_LINE_LEN, LineSplitter};
