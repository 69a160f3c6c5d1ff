//! The in-memory store behind `slipway run --no-store`: the same semantics
//! as [`crate::FileStore`], gone when the process ends.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use slipway_engine::ports::{Store, StoreError};
use slipway_engine::records::{
    ArtifactRecord, CacheEntry, Digest, KeyManifest, Record, RunMeta, RunSummary,
};

use crate::blobs::{MemoryBlobs, poisoned};
use crate::step_log::{LogMap, MemoryStepLog};
use crate::{StoreRead, artifacts, dir_cache, parse_run};

/// Everything in memory: runs, records, logs, blobs and caches. Caches
/// work within the process only.
#[derive(Default)]
pub struct MemoryStore {
    /// Run `n` is at index `n - 1`.
    runs: Mutex<Vec<MemoryRun>>,
    logs: LogMap,
    blobs: MemoryBlobs,
    cache: Mutex<HashMap<Digest, CacheEntry>>,
    manifests: Mutex<HashMap<String, KeyManifest>>,
    dir_caches: Mutex<HashMap<String, Vec<u8>>>,
}

struct MemoryRun {
    meta: RunMeta,
    records: Vec<Record>,
    summary: Option<RunSummary>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Runs `f` on run `run`, which must exist.
    fn with_run<T>(&self, run: &str, f: impl FnOnce(&mut MemoryRun) -> T) -> Result<T, StoreError> {
        let n = parse_run(run)?;
        let mut runs = self.runs.lock().map_err(|_| poisoned())?;
        let index = usize::try_from(n).ok().and_then(|n| n.checked_sub(1));
        match index.and_then(|i| runs.get_mut(i)) {
            Some(entry) => Ok(f(entry)),
            None => Err(StoreError(format!(
                "run {run} not found in the in-memory store"
            ))),
        }
    }
}

impl Store for MemoryStore {
    type StepLog = MemoryStepLog;

    fn begin_run(&self, meta: &RunMeta) -> Result<String, StoreError> {
        let mut runs = self.runs.lock().map_err(|_| poisoned())?;
        runs.push(MemoryRun {
            meta: meta.clone(),
            records: Vec::new(),
            summary: None,
        });
        Ok(runs.len().to_string())
    }

    fn record(&self, run: &str, record: &Record) -> Result<(), StoreError> {
        self.with_run(run, |r| r.records.push(record.clone()))
    }

    fn open_step_log(
        &self,
        run: &str,
        job_key: &str,
        step: usize,
    ) -> Result<MemoryStepLog, StoreError> {
        let n = parse_run(run)?;
        Ok(MemoryStepLog::new(
            (n, job_key.to_string(), step),
            Arc::clone(&self.logs),
        ))
    }

    fn finish_run(&self, run: &str, summary: &RunSummary) -> Result<(), StoreError> {
        self.with_run(run, |r| r.summary = Some(summary.clone()))
    }

    fn store_artifact(
        &self,
        root: &Path,
        name: &str,
        rel_path: &str,
    ) -> Result<ArtifactRecord, StoreError> {
        artifacts::store(&self.blobs, root, name, rel_path)
    }

    fn restore_artifact(&self, record: &ArtifactRecord, root: &Path) -> Result<(), StoreError> {
        artifacts::restore(&self.blobs, record, root)
    }

    fn cache_get(&self, key: &Digest) -> Result<Option<CacheEntry>, StoreError> {
        Ok(self.cache.lock().map_err(|_| poisoned())?.get(key).cloned())
    }

    fn cache_put(&self, key: &Digest, entry: &CacheEntry) -> Result<(), StoreError> {
        self.cache
            .lock()
            .map_err(|_| poisoned())?
            .insert(key.clone(), entry.clone());
        Ok(())
    }

    fn last_manifest(&self, job_identity: &str) -> Result<Option<KeyManifest>, StoreError> {
        Ok(self
            .manifests
            .lock()
            .map_err(|_| poisoned())?
            .get(job_identity)
            .cloned())
    }

    fn save_manifest(&self, job_identity: &str, manifest: &KeyManifest) -> Result<(), StoreError> {
        self.manifests
            .lock()
            .map_err(|_| poisoned())?
            .insert(job_identity.to_string(), manifest.clone());
        Ok(())
    }

    fn dir_cache_restore(
        &self,
        key: &str,
        paths: &[String],
        root: &Path,
    ) -> Result<bool, StoreError> {
        let record = self
            .dir_caches
            .lock()
            .map_err(|_| poisoned())?
            .get(key)
            .cloned();
        match record {
            Some(record) => {
                dir_cache::restore(&self.blobs, &record, key, paths, root).map(|()| true)
            }
            None => Ok(false),
        }
    }

    fn dir_cache_save(&self, key: &str, paths: &[String], root: &Path) -> Result<(), StoreError> {
        if self
            .dir_caches
            .lock()
            .map_err(|_| poisoned())?
            .contains_key(key)
        {
            return Ok(());
        }
        // Snapshot without holding the lock; the first writer still wins.
        let Some(record) = dir_cache::snapshot(&self.blobs, key, paths, root)? else {
            return Ok(());
        };
        self.dir_caches
            .lock()
            .map_err(|_| poisoned())?
            .entry(key.to_string())
            .or_insert(record);
        Ok(())
    }
}

impl StoreRead for MemoryStore {
    fn list_runs(&self) -> Result<Vec<String>, StoreError> {
        let runs = self.runs.lock().map_err(|_| poisoned())?;
        Ok((1..=runs.len()).map(|n| n.to_string()).collect())
    }

    fn read_meta(&self, run: &str) -> Result<RunMeta, StoreError> {
        self.with_run(run, |r| r.meta.clone())
    }

    fn read_records(&self, run: &str) -> Result<Vec<Record>, StoreError> {
        self.with_run(run, |r| r.records.clone())
    }

    fn read_step_log(&self, run: &str, job_key: &str, step: usize) -> Result<Vec<u8>, StoreError> {
        self.with_run(run, |_| ())?;
        let key = (parse_run(run)?, job_key.to_string(), step);
        Ok(self
            .logs
            .lock()
            .map_err(|_| poisoned())?
            .get(&key)
            .cloned()
            .unwrap_or_default())
    }

    fn read_summary(&self, run: &str) -> Result<Option<RunSummary>, StoreError> {
        self.with_run(run, |r| r.summary.clone())
    }
}
