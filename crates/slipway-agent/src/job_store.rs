//! The store a job sees on an agent: blobs, artifacts and caches in the
//! agent's own [`FileStore`]; step records and log lines to the server,
//! through the job's uploader.

use std::path::Path;
use std::sync::Arc;

use slipway_api::AgentLine;
use slipway_engine::ports::{StepLog, Store, StoreError, Stream};
use slipway_engine::records::{
    ArtifactRecord, CacheEntry, Digest, KeyManifest, Record, RunMeta, RunSummary,
};
use slipway_store::FileStore;
use tokio::sync::mpsc::UnboundedSender;

/// What a job hands to its uploader, in the order it happened.
#[derive(Debug)]
pub(crate) enum Upload {
    Record(Record),
    Line(AgentLine),
}

/// The engine's [`Store`] for one job on an agent.
pub(crate) struct JobStore {
    pub(crate) files: Arc<FileStore>,
    pub(crate) uploads: UnboundedSender<Upload>,
}

fn uploader_gone() -> StoreError {
    StoreError("the job's connection to the server has stopped".to_string())
}

impl Store for JobStore {
    type StepLog = UploadLog;

    fn begin_run(&self, _: &RunMeta) -> Result<String, StoreError> {
        Err(StoreError(
            "an agent runs single jobs; runs are begun by the server".to_string(),
        ))
    }

    fn record(&self, _run: &str, record: &Record) -> Result<(), StoreError> {
        self.uploads
            .send(Upload::Record(record.clone()))
            .map_err(|_| uploader_gone())
    }

    fn open_step_log(&self, _run: &str, _job: &str, step: usize) -> Result<UploadLog, StoreError> {
        let step = u32::try_from(step)
            .map_err(|_| StoreError(format!("step number {step} is too large")))?;
        Ok(UploadLog {
            step,
            uploads: self.uploads.clone(),
        })
    }

    fn finish_run(&self, _: &str, _: &RunSummary) -> Result<(), StoreError> {
        Ok(())
    }

    fn store_artifact(
        &self,
        root: &Path,
        name: &str,
        rel_path: &str,
    ) -> Result<ArtifactRecord, StoreError> {
        self.files.store_artifact(root, name, rel_path)
    }

    fn restore_artifact(&self, record: &ArtifactRecord, root: &Path) -> Result<(), StoreError> {
        self.files.restore_artifact(record, root)
    }

    fn cache_get(&self, key: &Digest) -> Result<Option<CacheEntry>, StoreError> {
        self.files.cache_get(key)
    }

    fn cache_put(&self, key: &Digest, entry: &CacheEntry) -> Result<(), StoreError> {
        self.files.cache_put(key, entry)
    }

    fn last_manifest(&self, job_identity: &str) -> Result<Option<KeyManifest>, StoreError> {
        self.files.last_manifest(job_identity)
    }

    fn save_manifest(&self, job_identity: &str, manifest: &KeyManifest) -> Result<(), StoreError> {
        self.files.save_manifest(job_identity, manifest)
    }

    fn dir_cache_restore(
        &self,
        key: &str,
        paths: &[String],
        root: &Path,
    ) -> Result<bool, StoreError> {
        self.files.dir_cache_restore(key, paths, root)
    }

    fn dir_cache_save(&self, key: &str, paths: &[String], root: &Path) -> Result<(), StoreError> {
        self.files.dir_cache_save(key, paths, root)
    }
}

/// A step's log: each line (already masked by the engine) goes to the
/// uploader.
pub(crate) struct UploadLog {
    step: u32,
    uploads: UnboundedSender<Upload>,
}

impl StepLog for UploadLog {
    fn write_line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]) -> Result<(), StoreError> {
        let line = AgentLine {
            step: self.step,
            stream: char::from(stream.code()),
            ts_ms,
            text: String::from_utf8_lossy(line).into_owned(),
        };
        self.uploads
            .send(Upload::Line(line))
            .map_err(|_| uploader_gone())
    }

    fn finish(self) -> Result<(), StoreError> {
        Ok(())
    }
}
