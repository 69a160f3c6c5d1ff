//! Step logs in the stored format of `slipway-logs` ([`LogWriter`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use slipway_engine::ports::{StepLog, StoreError, Stream};
use slipway_logs::LogWriter;

use crate::blobs::poisoned;
use crate::fsutil::io_error;

/// Writes one record, splitting a line that (against the contract of the
/// line splitter) still holds `\n` into several records rather than losing it.
fn write_record<W: io::Write>(
    writer: &mut LogWriter<W>,
    stream: Stream,
    ts_ms: u64,
    line: &[u8],
) -> io::Result<()> {
    match writer.write_line(ts_ms, stream, line) {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            for piece in line.split(|&b| b == b'\n') {
                writer.write_line(ts_ms, stream, piece)?;
            }
            Ok(())
        }
        other => other,
    }
}

/// A step log file, created on the first line: a step that prints nothing
/// costs no file, and reading a missing log gives an empty one. Lines go
/// through the writer's 64 KiB buffer, so a long log streams to disk in
/// constant memory. Opened in append mode, so a retried step keeps the
/// output of every attempt.
pub struct FileStepLog {
    path: PathBuf,
    writer: Option<LogWriter<File>>,
}

impl FileStepLog {
    pub(crate) fn new(path: PathBuf) -> FileStepLog {
        FileStepLog { path, writer: None }
    }

    fn open(&mut self) -> Result<&mut LogWriter<File>, StoreError> {
        if self.writer.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| io_error("open step log", &self.path, e))?;
            self.writer = Some(LogWriter::new(file));
        }
        self.writer
            .as_mut()
            .ok_or_else(|| StoreError("step log is not open".to_string()))
    }
}

impl StepLog for FileStepLog {
    fn write_line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]) -> Result<(), StoreError> {
        let writer = self.open()?;
        write_record(writer, stream, ts_ms, line)
            .map_err(|e| io_error("write step log", &self.path, e))
    }

    fn finish(mut self) -> Result<(), StoreError> {
        match self.writer.take() {
            Some(writer) => writer
                .into_inner()
                .map(drop)
                .map_err(|e| io_error("write step log", &self.path, e)),
            None => Ok(()),
        }
    }
}

/// Key of a step log in memory: run number, job key, step index.
pub(crate) type LogKey = (u64, String, usize);
/// Step logs of a [`crate::MemoryStore`], shared with its open logs.
pub(crate) type LogMap = Arc<Mutex<HashMap<LogKey, Vec<u8>>>>;

/// Most bytes of one step's log a [`crate::MemoryStore`] keeps: `--no-store`
/// must not turn a 1 GiB log into 1 GiB of memory. The terminal showed every
/// line; the stored copy ends with a note of how many were dropped.
pub const MEMORY_LOG_LIMIT: usize = 16 << 20;

/// A step log held in memory; its records are published to the store when
/// it is finished or dropped.
pub struct MemoryStepLog {
    key: Option<LogKey>,
    logs: LogMap,
    writer: LogWriter<Vec<u8>>,
    /// Lines not kept because the log reached [`MEMORY_LOG_LIMIT`], and the
    /// time of the last one.
    dropped: u64,
    last_ts_ms: u64,
}

impl MemoryStepLog {
    pub(crate) fn new(key: LogKey, logs: LogMap) -> MemoryStepLog {
        MemoryStepLog {
            key: Some(key),
            logs,
            writer: LogWriter::new(Vec::new()),
            dropped: 0,
            last_ts_ms: 0,
        }
    }

    fn publish(&mut self) -> Result<(), StoreError> {
        let Some(key) = self.key.take() else {
            return Ok(());
        };
        if self.dropped > 0 {
            let note = format!(
                "slipway: {} more lines were not kept (a run with --no-store keeps {} MiB of each step's log)",
                self.dropped,
                MEMORY_LOG_LIMIT >> 20
            );
            write_record(
                &mut self.writer,
                Stream::Stderr,
                self.last_ts_ms,
                note.as_bytes(),
            )
            .map_err(|e| StoreError(format!("cannot write step log: {e}")))?;
        }
        self.writer
            .flush()
            .map_err(|e| StoreError(format!("cannot write step log: {e}")))?;
        let bytes = std::mem::replace(&mut self.writer, LogWriter::new(Vec::new()))
            .into_inner()
            .map_err(|e| StoreError(format!("cannot write step log: {e}")))?;
        let mut logs = self.logs.lock().map_err(|_| poisoned())?;
        logs.entry(key).or_default().extend_from_slice(&bytes);
        Ok(())
    }
}

impl StepLog for MemoryStepLog {
    fn write_line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]) -> Result<(), StoreError> {
        if self.writer.get_ref().len() >= MEMORY_LOG_LIMIT {
            self.dropped += 1;
            self.last_ts_ms = ts_ms;
            return Ok(());
        }
        write_record(&mut self.writer, stream, ts_ms, line)
            .map_err(|e| StoreError(format!("cannot write step log: {e}")))
    }

    fn finish(mut self) -> Result<(), StoreError> {
        self.publish()
    }
}

impl Drop for MemoryStepLog {
    fn drop(&mut self) {
        // An abandoned log (a cancelled step) still keeps what it received.
        let _ = self.publish();
    }
}
