//! The archived form of a finished step log: compressed, yet readable by line number.
//!
//! A finished log is turned from the plain format of [`mod@crate::format`] into an archive by
//! [`archive`] (or [`archive_file`]), and read back a page at a time by
//! [`crate::ArchiveReader`].
//!
//! # Format (version 1)
//!
//! ```text
//! archive := block* trailer
//! block   := one zstd frame, with content checksum, whose content is whole plain records
//!            ("<unix ms> <o|e> <bytes>\n", exactly as in the plain log)
//! trailer := one zstd skippable frame:
//!            magic   u32 = 0x184D2A5E
//!            size    u32 = length of what follows (index + footer)
//!            index   := entry * block_count
//!            footer
//! entry   := 7 × u64: first_line, line_count, offset, compressed_len, plain_len,
//!            first_ts_ms, last_ts_ms                                          (56 bytes)
//! footer  := magic "SLWYLOGA", version u32 = 1, entry_len u32 = 56,
//!            block_count u64, total_lines u64, index_offset u64,
//!            index_checksum u64 (FNV-1a 64 of the index bytes)                (48 bytes)
//! ```
//!
//! All integers are little-endian. `offset` is the block's frame position from the start of the
//! file, `first_line` is 1-based, blocks are contiguous (each starts where the previous ended,
//! the first at 0, the trailer right after the last) and hold at least one line each;
//! `index_offset` is where the first entry starts. Timestamps are those of the block's first and
//! last records (records are in arrival order, so they are usually, not necessarily, ordered).
//!
//! Why this shape:
//! - a reader opens an archive with two small reads: the fixed-size footer at the end of the
//!   file, then the index before it (56 bytes per block: about 45 KB for a 100 MB log);
//! - each block is an independent frame of about [`DEFAULT_BLOCK_BYTES`] of records, so reading a
//!   page decompresses one or two blocks, never the whole log;
//! - the file is a valid zstd stream (block frames, then a skippable frame the decoder ignores),
//!   so `zstd -dc step.log.zst` prints the plain log back with standard tools;
//! - zstd over deflate: it compresses build logs about as well or better at several times the
//!   speed in both directions, and its frames carry a checksum, so a damaged block is an error
//!   rather than wrong text. It is C code (zstd-sys), built with the system compiler.
//!
//! Block size: smaller blocks make a page cheaper to decode, larger ones a smaller index. On the
//! generated 1,000,000-line, 96 MB build log of `examples/paging.rs`, the ratio is 8.3x at every
//! size from 64 KiB to 1 MiB (zstd's window already finds the repetition within a block), while
//! opening and reading a middle page takes 0.15 ms at 64–128 KiB and 0.8 ms at 1 MiB; 128 KiB
//! keeps the index at about 45 KB. Archiving runs at about 400 MB/s in about 5 MB of memory.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::format::parse_record;

/// Uncompressed bytes of records per block, by default.
pub const DEFAULT_BLOCK_BYTES: usize = 128 * 1024;
/// zstd compression level used by default: zstd's own default, fast and good on text.
pub const DEFAULT_LEVEL: i32 = 3;

pub(crate) const FOOTER_MAGIC: &[u8; 8] = b"SLWYLOGA";
pub(crate) const VERSION: u32 = 1;
pub(crate) const ENTRY_LEN: usize = 56;
pub(crate) const FOOTER_LEN: usize = 48;
/// zstd skippable frame magic (the range is 0x184D2A50..=0x184D2A5F; the low nibble is free).
pub(crate) const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
pub(crate) const SKIPPABLE_HEADER_LEN: usize = 8;

/// How [`archive_with`] cuts and compresses blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// A block is closed after the record that brings it to at least this many uncompressed
    /// bytes (so a line longer than this is a block of its own). At least 1.
    pub block_bytes: usize,
    /// zstd compression level (1 to 19; 3 is zstd's default).
    pub level: i32,
}

impl Default for ArchiveOptions {
    fn default() -> ArchiveOptions {
        ArchiveOptions {
            block_bytes: DEFAULT_BLOCK_BYTES,
            level: DEFAULT_LEVEL,
        }
    }
}

/// What [`archive`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Lines (records) archived.
    pub lines: u64,
    /// Blocks written.
    pub blocks: u64,
    /// Bytes of plain records read (including a dropped tail).
    pub plain_bytes: u64,
    /// Bytes of the archive written.
    pub archived_bytes: u64,
    /// Bytes of an unfinished last record that were dropped because it was cut inside its header
    /// (a writer that crashed there): it held no line text. An unfinished last record cut inside
    /// its text is kept as a complete line.
    pub dropped_tail_bytes: u64,
}

/// One block's entry in the index, as [`crate::ArchiveReader::blocks`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Number of the block's first line (from 1).
    pub first_line: u64,
    /// Lines in the block (at least 1).
    pub line_count: u64,
    /// Position of the block's compressed frame in the archive.
    pub offset: u64,
    /// Length of the compressed frame.
    pub compressed_len: u64,
    /// Length of the block's plain records.
    pub plain_len: u64,
    /// Timestamp of the block's first record.
    pub first_ts_ms: u64,
    /// Timestamp of the block's last record.
    pub last_ts_ms: u64,
}

impl BlockInfo {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for value in [
            self.first_line,
            self.line_count,
            self.offset,
            self.compressed_len,
            self.plain_len,
            self.first_ts_ms,
            self.last_ts_ms,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// Decodes one entry of exactly [`ENTRY_LEN`] bytes.
    pub(crate) fn decode(entry: &[u8]) -> Option<BlockInfo> {
        let mut fields = entry.chunks_exact(8).map(le_u64);
        let info = BlockInfo {
            first_line: fields.next()??,
            line_count: fields.next()??,
            offset: fields.next()??,
            compressed_len: fields.next()??,
            plain_len: fields.next()??,
            first_ts_ms: fields.next()??,
            last_ts_ms: fields.next()??,
        };
        Some(info)
    }
}

pub(crate) fn le_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

pub(crate) fn le_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// FNV-1a, 64 bits: catches a damaged index (zstd already checks each block).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Archives a plain log read from `input` into `output` with [`ArchiveOptions::default`].
/// See [`archive_with`].
pub fn archive(input: impl Read, output: impl Write) -> io::Result<ArchiveStats> {
    archive_with(input, output, &ArchiveOptions::default())
}

/// Archives a plain log read from `input` into `output`, streaming: memory stays about two
/// blocks plus zstd's context (a few MB at level 3) whatever the log's size; a single line longer
/// than a block is held whole (lines are capped by [`crate::LineSplitter`], 64 KiB by default).
///
/// A malformed record is an [`io::ErrorKind::InvalidData`] error naming its line and byte, and
/// nothing usable is written; the caller keeps the plain log. The output is flushed but not
/// synced.
pub fn archive_with(
    input: impl Read,
    output: impl Write,
    options: &ArchiveOptions,
) -> io::Result<ArchiveStats> {
    let block_bytes = options.block_bytes.max(1);
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let mut writer = BlockWriter::new(output, options.level)?;
    let mut block = Vec::with_capacity(block_bytes.saturating_add(4096));
    let mut block_info = None::<BlockInfo>;
    let mut stats = ArchiveStats::default();
    loop {
        let start = block.len();
        let read = input.read_until(b'\n', &mut block)?;
        if read == 0 {
            break;
        }
        stats.plain_bytes += read as u64;
        let record = block.get(start..).unwrap_or_default();
        let line = stats.lines + 1;
        let Some(parsed) = parse_record(record) else {
            if !record.ends_with(b"\n") {
                // An unfinished last record cut inside its header: no text to keep.
                stats.dropped_tail_bytes = read as u64;
                block.truncate(start);
                break;
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "cannot archive: malformed log record at line {line} (byte {})",
                    stats.plain_bytes - read as u64
                ),
            ));
        };
        let ts_ms = parsed.ts_ms;
        if !record.ends_with(b"\n") {
            block.push(b'\n');
        }
        stats.lines = line;
        let info = block_info.get_or_insert(BlockInfo {
            first_line: line,
            line_count: 0,
            offset: 0,
            compressed_len: 0,
            plain_len: 0,
            first_ts_ms: ts_ms,
            last_ts_ms: ts_ms,
        });
        info.line_count += 1;
        info.last_ts_ms = ts_ms;
        if block.len() >= block_bytes
            && let Some(info) = block_info.take()
        {
            writer.write_block(info, &block)?;
            block.clear();
        }
    }
    if let Some(info) = block_info.take() {
        writer.write_block(info, &block)?;
    }
    stats.blocks = writer.index.len() as u64;
    stats.archived_bytes = writer.finish(stats.lines)?;
    Ok(stats)
}

/// Writes compressed blocks and remembers their index entries.
struct BlockWriter<W: Write> {
    output: BufWriter<W>,
    compressor: zstd::bulk::Compressor<'static>,
    compressed: Vec<u8>,
    written: u64,
    index: Vec<BlockInfo>,
}

impl<W: Write> BlockWriter<W> {
    fn new(output: W, level: i32) -> io::Result<BlockWriter<W>> {
        let mut compressor = zstd::bulk::Compressor::new(level)?;
        compressor.include_checksum(true)?;
        Ok(BlockWriter {
            output: BufWriter::with_capacity(64 * 1024, output),
            compressor,
            compressed: Vec::new(),
            written: 0,
            index: Vec::new(),
        })
    }

    fn write_block(&mut self, mut info: BlockInfo, plain: &[u8]) -> io::Result<()> {
        self.compressed.clear();
        self.compressed
            .reserve(zstd::zstd_safe::compress_bound(plain.len()));
        self.compressor
            .compress_to_buffer(plain, &mut self.compressed)?;
        self.output.write_all(&self.compressed)?;
        info.offset = self.written;
        info.compressed_len = self.compressed.len() as u64;
        info.plain_len = plain.len() as u64;
        self.written += info.compressed_len;
        self.index.push(info);
        Ok(())
    }

    /// Writes the trailer and flushes; returns the archive's total length.
    fn finish(mut self, total_lines: u64) -> io::Result<u64> {
        let mut index = Vec::with_capacity(self.index.len() * ENTRY_LEN);
        for info in &self.index {
            info.encode(&mut index);
        }
        let frame_len = u32::try_from(index.len() + FOOTER_LEN).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "log too large to archive: its index exceeds 4 GiB",
            )
        })?;
        let index_offset = self.written + SKIPPABLE_HEADER_LEN as u64;
        let mut trailer = Vec::with_capacity(SKIPPABLE_HEADER_LEN + index.len() + FOOTER_LEN);
        trailer.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        trailer.extend_from_slice(&frame_len.to_le_bytes());
        trailer.extend_from_slice(&index);
        trailer.extend_from_slice(FOOTER_MAGIC);
        trailer.extend_from_slice(&VERSION.to_le_bytes());
        trailer.extend_from_slice(&(ENTRY_LEN as u32).to_le_bytes());
        trailer.extend_from_slice(&(self.index.len() as u64).to_le_bytes());
        trailer.extend_from_slice(&total_lines.to_le_bytes());
        trailer.extend_from_slice(&index_offset.to_le_bytes());
        trailer.extend_from_slice(&fnv1a64(&index).to_le_bytes());
        self.output.write_all(&trailer)?;
        self.output.flush()?;
        Ok(self.written + trailer.len() as u64)
    }
}

/// Archives the plain log at `plain` into `archived`: writes a temporary file beside `archived`,
/// syncs it, renames it into place, and only then removes `plain`. On any error the plain log is
/// left as it was and the temporary file is removed, so a crash or a bad record never loses the
/// log. An existing `archived` is replaced.
pub fn archive_file(plain: &Path, archived: &Path) -> io::Result<ArchiveStats> {
    if plain == archived {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot archive {} onto itself: choose another name for the archive",
                plain.display()
            ),
        ));
    }
    let temp = temp_path(archived)?;
    let result = write_archive_file(plain, &temp, archived);
    if result.is_err() {
        // The error that matters is the first one; a missing temp file is expected.
        let _ = fs::remove_file(&temp);
        return result;
    }
    fs::remove_file(plain)?;
    result
}

fn write_archive_file(plain: &Path, temp: &Path, archived: &Path) -> io::Result<ArchiveStats> {
    let input = File::open(plain)?;
    let output = File::create(temp)?;
    let stats = archive(input, &output)?;
    output.sync_all()?;
    drop(output);
    fs::rename(temp, archived)?;
    Ok(stats)
}

/// `.<name>.tmp` beside `archived`: hidden, and not matching a log file name, so retention and
/// listings skip it.
fn temp_path(archived: &Path) -> io::Result<PathBuf> {
    let name = archived.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file path", archived.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp");
    Ok(archived.with_file_name(temp_name))
}
