//! Persistence for the engine: implementations of
//! [`slipway_engine::ports::Store`].
//!
//! - [`FileStore`]: a directory, `<workspace>/.slipway/local/` for
//!   `slipway run`.
//! - [`MemoryStore`]: everything in memory, for `slipway run --no-store`.
//! - [`sql`]: the server's database (SQLite or PostgreSQL): projects, runs,
//!   jobs, records, results, users, tokens, roles, secrets, audit log. A
//!   different trait ([`sql::ServerStore`]) from the engine's `Store`.
//!
//! Both pass one conformance suite (`tests/conformance/mod.rs`), which later
//! backends (SQLite, PostgreSQL) will join: a backend's test file includes
//! that module (`#[path = …] mod conformance;`) and calls
//! `conformance_suite!(make_fixture)`. [`StoreRead`] reads back what a
//! store holds, for the command line and for tests.
//!
//! # Directory layout of a [`FileStore`]
//!
//! ```text
//! .gitignore                      `*`: git ignores the whole store
//! runs/<n>/                       one per run, n = 1, 2, 3, …
//!   meta.json                     RunMeta
//!   events.jsonl                  one Record (JSON) per line, appended
//!   logs/<job>/<step>.log         step logs in the slipway-logs format;
//!                                 <job> is the job key made file-name safe
//!   summary.json                  RunSummary, once the run has finished
//! objects/<2 hex>/<62 hex>        blobs named by the BLAKE3 of their bytes
//! objects/<2 hex>/<62 hex>.x      empty: this content was an executable file artifact
//! cache/entries/<key>.json        CacheEntry of a job cache key
//! cache/manifests/<h>.json        KeyManifest, h = BLAKE3 of the job identity
//! cache/dirs/<h>.json             directory cache, h = BLAKE3 of its key
//! tmp/                            temporaries, renamed into place
//! ```
//!
//! A file artifact is one blob. A directory (an artifact or a cached
//! directory) is a manifest blob listing every entry, sorted, with the digest
//! of each file; the manifest's digest is the directory's digest (format in
//! `src/tree.rs`). Identical content gives identical digests in every backend.
//!
//! # Invariants
//!
//! - **Never a half-written object**: blobs, metadata, summaries and cache
//!   files are written to `tmp/` and renamed into place; an object that exists
//!   is complete, matches its name, and is never rewritten. Restoring checks
//!   each blob against its digest.
//! - **Records are appended before the engine acts**: [`Store::record`]
//!   returns once the record is in the run's event buffer; the buffer is
//!   flushed to the file at every record that ends a job or the run, so a
//!   crash loses at most the records of unfinished jobs. A line cut short by
//!   a crash is skipped when reading.
//! - **Run numbers are never shared**: a number is claimed by creating its
//!   directory, which fails if another process got there first.
//! - **Artifacts stay inside the workspace**: absolute paths, `..`, and
//!   symlinks resolving outside the workspace are refused when storing;
//!   restoring never writes through a symlink that leaves it.
//! - **Cheap per-job calls**: `record`, `open_step_log` and `cache_get` do no
//!   fsync and no directory scan; a step log file is created only when its
//!   step prints a line (a missing log reads as empty).
//!
//! [`Store::record`]: slipway_engine::ports::Store::record

mod artifacts;
mod blobs;
mod dir_cache;
mod file_store;
mod fsutil;
mod memory_store;
mod objects;
mod paths;
pub mod sql;
mod step_log;
mod tree;

pub use file_store::FileStore;
pub use memory_store::MemoryStore;
pub use objects::executable_marker;
pub use step_log::{FileStepLog, MEMORY_LOG_LIMIT, MemoryStepLog};

use slipway_engine::ports::StoreError;
use slipway_engine::records::{Record, RunMeta, RunSummary};

/// Reading back what a store holds: for the command line (`slipway logs`,
/// summaries) and the conformance tests.
pub trait StoreRead {
    /// Run numbers, oldest first.
    fn list_runs(&self) -> Result<Vec<String>, StoreError>;
    /// The metadata recorded by `begin_run`.
    fn read_meta(&self, run: &str) -> Result<RunMeta, StoreError>;
    /// Every record of the run, in the order it was recorded.
    fn read_records(&self, run: &str) -> Result<Vec<Record>, StoreError>;
    /// The stored bytes of a step's log (the slipway-logs record format);
    /// empty when the step printed nothing.
    fn read_step_log(&self, run: &str, job_key: &str, step: usize) -> Result<Vec<u8>, StoreError>;
    /// The summary, once the run has finished.
    fn read_summary(&self, run: &str) -> Result<Option<RunSummary>, StoreError>;
}

/// A run number as the store hands it out: decimal digits only, so it can
/// name a directory safely.
fn parse_run(run: &str) -> Result<u64, StoreError> {
    let digits_only = !run.is_empty() && run.len() <= 19 && run.bytes().all(|b| b.is_ascii_digit());
    match run.parse::<u64>() {
        Ok(n) if digits_only && n > 0 => Ok(n),
        _ => Err(StoreError(format!("`{run}` is not a run number"))),
    }
}
