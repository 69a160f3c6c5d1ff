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
//!
//! This is the hottest path of the product (every byte every step prints), so the design avoids
//! per-line costs: lines are handed to callbacks as slices borrowed from the chunk or from one
//! reused buffer, nothing is allocated per line in steady state, newlines are found with memchr,
//! a line with no match is never copied, and with no secrets at all masking is skipped. Nothing
//! here does I/O of its own or locks: the caller owns the pipe, the clock and the file.

pub mod format;

mod encode;
mod masker;
mod splitter;

#[cfg(test)]
mod proptests;

pub use format::{
    LogReader, LogWriter, MalformedRecord, Record, Records, Stream, parse_record, records,
};
pub use masker::{MASK, MIN_DERIVED_LEN, SecretMasker};
pub use splitter::{DEFAULT_MAX_LINE_LEN, LineSplitter};
