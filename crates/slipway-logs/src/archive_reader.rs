//! Reading an archive (format in [`mod@crate::archive`]) by line number.

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;

use memchr::memchr_iter;

use crate::archive::{
    BlockInfo, ENTRY_LEN, FOOTER_LEN, FOOTER_MAGIC, SKIPPABLE_HEADER_LEN, SKIPPABLE_MAGIC, VERSION,
    fnv1a64, le_u32, le_u64,
};
use crate::format::{Record, records};
use crate::source::{LogSource, OwnedRecord, check_first_line, read_lines_by_visit};

/// Reads an archived log a page at a time, decompressing only the blocks a page needs.
///
/// It keeps the index (56 bytes per block) and the last block it decoded (about 128 KiB), so
/// paging forward or back within a block decodes it once. Any damage to the archive, found when
/// opening or when reading a block, is an [`io::ErrorKind::InvalidData`] error.
#[derive(Debug)]
pub struct ArchiveReader<R: Read + Seek> {
    input: R,
    blocks: Vec<BlockInfo>,
    total_lines: u64,
    compressed: Vec<u8>,
    /// The block last decoded: its position in `blocks` and its plain records.
    cached: Option<(usize, Vec<u8>)>,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl<R: Read + Seek> ArchiveReader<R> {
    /// Opens an archive: reads its footer, then its index, and checks them.
    pub fn open(mut input: R) -> io::Result<ArchiveReader<R>> {
        let file_len = input.seek(SeekFrom::End(0))?;
        let min_len = (SKIPPABLE_HEADER_LEN + FOOTER_LEN) as u64;
        if file_len < min_len {
            return Err(invalid(format!(
                "not a log archive: {file_len} bytes is shorter than its footer"
            )));
        }
        let mut footer = [0u8; FOOTER_LEN];
        input.seek(SeekFrom::Start(file_len - FOOTER_LEN as u64))?;
        input.read_exact(&mut footer)?;
        let footer = Footer::parse(&footer)?;

        let index_len = footer
            .block_count
            .checked_mul(ENTRY_LEN as u64)
            .filter(|&len| {
                footer.index_offset.checked_add(len) == Some(file_len - FOOTER_LEN as u64)
            })
            .ok_or_else(|| invalid("damaged log archive: its footer does not fit the file"))?;
        let trailer_start = footer
            .index_offset
            .checked_sub(SKIPPABLE_HEADER_LEN as u64)
            .ok_or_else(|| invalid("damaged log archive: index offset before its frame"))?;
        // Bounded by the file's length, checked above.
        let mut trailer = vec![0u8; SKIPPABLE_HEADER_LEN + index_len as usize];
        input.seek(SeekFrom::Start(trailer_start))?;
        input.read_exact(&mut trailer)?;
        let (header, index) = trailer.split_at(SKIPPABLE_HEADER_LEN);
        let frame_len = index_len + FOOTER_LEN as u64;
        if le_u32(header.get(..4).unwrap_or_default()) != Some(SKIPPABLE_MAGIC)
            || le_u32(header.get(4..).unwrap_or_default()).map(u64::from) != Some(frame_len)
        {
            return Err(invalid("damaged log archive: bad index frame header"));
        }
        if fnv1a64(index) != footer.index_checksum {
            return Err(invalid("damaged log archive: index checksum mismatch"));
        }
        let blocks = check_index(index, trailer_start, footer.total_lines)?;
        Ok(ArchiveReader {
            input,
            blocks,
            total_lines: footer.total_lines,
            compressed: Vec::new(),
            cached: None,
        })
    }

    /// The index: one entry per block, in line order. Its timestamps let a caller find the
    /// lines around a moment without reading blocks.
    pub fn blocks(&self) -> &[BlockInfo] {
        &self.blocks
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// The position in `blocks` of the block holding `line`, if any.
    fn block_of(&self, line: u64) -> Option<usize> {
        let after = self
            .blocks
            .partition_point(|block| block.first_line <= line);
        let index = after.checked_sub(1)?;
        let block = self.blocks.get(index)?;
        (line < block.first_line + block.line_count).then_some(index)
    }

    /// Decodes block `index` into the cache (unless it is there) and checks it against its entry.
    fn load(&mut self, index: usize) -> io::Result<()> {
        if matches!(&self.cached, Some((cached, _)) if *cached == index) {
            return Ok(());
        }
        let Some(&block) = self.blocks.get(index) else {
            return Err(invalid("log archive block out of range"));
        };
        let damaged =
            |what: &str| invalid(format!("damaged log archive: block {} {what}", index + 1));
        self.compressed.clear();
        self.input.seek(SeekFrom::Start(block.offset))?;
        (&mut self.input)
            .take(block.compressed_len)
            .read_to_end(&mut self.compressed)?;
        if self.compressed.len() as u64 != block.compressed_len {
            return Err(damaged("is cut short"));
        }
        let mut plain = match self.cached.take() {
            Some((_, mut buf)) => {
                buf.clear();
                buf
            }
            None => Vec::new(),
        };
        // Decode at most one byte more than announced: a lying entry cannot make us allocate
        // more than the data really expands to, and a longer block is caught below.
        let decoder = zstd::stream::read::Decoder::with_buffer(&self.compressed[..])
            .map_err(|e| damaged(&format!("cannot be decoded: {e}")))?;
        decoder
            .single_frame()
            .take(block.plain_len.saturating_add(1))
            .read_to_end(&mut plain)
            .map_err(|e| damaged(&format!("cannot be decoded: {e}")))?;
        if plain.len() as u64 != block.plain_len || !plain.ends_with(b"\n") {
            return Err(damaged("does not hold what its index says"));
        }
        // Records are parsed when visited; counting newlines here is enough to trust the numbering.
        if memchr_iter(b'\n', &plain).count() as u64 != block.line_count {
            return Err(damaged(
                "holds a different number of lines than its index says",
            ));
        }
        self.cached = Some((index, plain));
        Ok(())
    }
}

impl<R: Read + Seek> LogSource for ArchiveReader<R> {
    fn line_count(&mut self) -> io::Result<u64> {
        Ok(self.total_lines)
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
        let Some(mut index) = self.block_of(first) else {
            return Ok(());
        };
        let mut skip = first - self.blocks.get(index).map_or(first, |b| b.first_line);
        let mut line = first;
        while index < self.blocks.len() {
            self.load(index)?;
            let Some((_, plain)) = &self.cached else {
                return Ok(());
            };
            // `load` checked the block holds `line_count` newline-terminated records.
            let start = match skip.checked_sub(1) {
                None => 0,
                Some(last_skipped) => memchr_iter(b'\n', plain)
                    .nth(last_skipped as usize)
                    .map_or(plain.len(), |newline| newline + 1),
            };
            for record in records(plain.get(start..).unwrap_or_default()) {
                let Ok(record) = record else {
                    return Err(invalid(format!(
                        "damaged log archive: malformed record at line {line}"
                    )));
                };
                if visit(line, record).is_break() {
                    return Ok(());
                }
                line += 1;
            }
            skip = 0;
            index += 1;
        }
        Ok(())
    }
}

/// The fixed-size footer at the end of an archive.
struct Footer {
    block_count: u64,
    total_lines: u64,
    index_offset: u64,
    index_checksum: u64,
}

impl Footer {
    fn parse(bytes: &[u8; FOOTER_LEN]) -> io::Result<Footer> {
        let field = |at: usize| le_u64(bytes.get(at..at + 8).unwrap_or_default());
        let word = |at: usize| le_u32(bytes.get(at..at + 4).unwrap_or_default());
        if bytes.get(..8) != Some(&FOOTER_MAGIC[..]) {
            return Err(invalid("not a log archive: no archive footer at its end"));
        }
        let version = word(8);
        if version != Some(VERSION) {
            return Err(invalid(format!(
                "unsupported log archive version {} (this build reads version {VERSION})",
                version.unwrap_or_default()
            )));
        }
        if word(12) != Some(ENTRY_LEN as u32) {
            return Err(invalid("damaged log archive: unexpected index entry size"));
        }
        match (field(16), field(24), field(32), field(40)) {
            (Some(block_count), Some(total_lines), Some(index_offset), Some(index_checksum)) => {
                Ok(Footer {
                    block_count,
                    total_lines,
                    index_offset,
                    index_checksum,
                })
            }
            _ => Err(invalid("damaged log archive: short footer")),
        }
    }
}

/// Decodes the index and checks that its blocks tile the file and the line numbers.
fn check_index(index: &[u8], blocks_end: u64, total_lines: u64) -> io::Result<Vec<BlockInfo>> {
    let mut blocks = Vec::with_capacity(index.len() / ENTRY_LEN);
    let mut next_offset = 0u64;
    let mut next_line = 1u64;
    for (number, entry) in index.chunks_exact(ENTRY_LEN).enumerate() {
        let bad = || {
            invalid(format!(
                "damaged log archive: bad index entry {}",
                number + 1
            ))
        };
        let block = BlockInfo::decode(entry).ok_or_else(bad)?;
        if block.offset != next_offset
            || block.first_line != next_line
            || block.line_count == 0
            || block.compressed_len == 0
            || block.plain_len < block.line_count
        {
            return Err(bad());
        }
        next_offset = block
            .offset
            .checked_add(block.compressed_len)
            .ok_or_else(bad)?;
        next_line = block
            .first_line
            .checked_add(block.line_count)
            .ok_or_else(bad)?;
        blocks.push(block);
    }
    if next_offset != blocks_end || next_line - 1 != total_lines {
        return Err(invalid(
            "damaged log archive: index does not cover the blocks and lines it claims",
        ));
    }
    Ok(blocks)
}
