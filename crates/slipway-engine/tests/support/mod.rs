//! Fakes of the engine's ports for tests that run whole pipelines without
//! processes: steps "run" by being remembered, logs and records kept in
//! memory, artifacts restored from blobs given by the test.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use slipway_engine::ports::{
    CancelSignal, ExecError, Executor, LineSink, SecretMasker, StepCommand, StepExit, StepLog,
    Store, StoreError, Stream, Workspace, WorkspaceRequest,
};
use slipway_engine::records::{
    ArtifactRecord, CacheEntry, Digest, KeyManifest, Record, RunMeta, RunSummary,
};

/// A step as run: job key, script, environment.
pub type StepRun = (String, String, Vec<(String, String)>);

/// What the fakes saw, shared by the executor, its workspaces and the store.
#[derive(Default)]
pub struct Seen {
    /// Job keys whose workspace was prepared.
    pub prepared: Mutex<Vec<String>>,
    pub steps: Mutex<Vec<StepRun>>,
    pub records: Mutex<Vec<Record>>,
    /// Each log line: job key, step, text.
    pub logs: Mutex<Vec<(String, usize, String)>>,
    /// Stored blobs by digest.
    pub blobs: Mutex<HashMap<String, Vec<u8>>>,
}

impl Seen {
    /// The env of the first step of `job`.
    pub fn step_env(&self, job: &str) -> Option<Vec<(String, String)>> {
        let steps = self.steps.lock().ok()?;
        steps
            .iter()
            .find(|(key, _, _)| key == job)
            .map(|(_, _, env)| env.clone())
    }

    /// The stored log of `job`, all steps, one line each.
    pub fn log(&self, job: &str) -> String {
        let logs = self.logs.lock().expect("logs");
        let lines: Vec<&str> = logs
            .iter()
            .filter(|(key, _, _)| key == job)
            .map(|(_, _, line)| line.as_str())
            .collect();
        lines.join("\n")
    }
}

pub struct FakeExecutor {
    pub seen: Arc<Seen>,
    pub dir: PathBuf,
}

impl Executor for FakeExecutor {
    type Workspace = FakeWorkspace;

    async fn prepare(&self, req: &WorkspaceRequest) -> Result<FakeWorkspace, ExecError> {
        if let Ok(mut prepared) = self.seen.prepared.lock() {
            prepared.push(req.job_key.clone());
        }
        Ok(FakeWorkspace {
            seen: self.seen.clone(),
            root: self.dir.clone(),
            job: req.job_key.clone(),
        })
    }
}

pub struct FakeWorkspace {
    seen: Arc<Seen>,
    root: PathBuf,
    job: String,
}

impl Workspace for FakeWorkspace {
    fn root(&self) -> &Path {
        &self.root
    }

    async fn run_step(
        &mut self,
        cmd: StepCommand<'_>,
        _: &SecretMasker,
        _: &mut dyn LineSink,
        _: &CancelSignal,
    ) -> StepExit {
        if let Ok(mut steps) = self.seen.steps.lock() {
            steps.push((self.job.clone(), cmd.script.to_string(), cmd.env.to_vec()));
        }
        StepExit::Exited(0)
    }

    fn hash_inputs(&self, _: &[String]) -> Result<Vec<(String, Digest)>, ExecError> {
        Ok(Vec::new())
    }

    fn glob(&self, _: &[String]) -> Result<Vec<String>, ExecError> {
        Ok(Vec::new())
    }

    fn read_file(&self, rel: &str, _: u64) -> Result<Vec<u8>, ExecError> {
        Err(ExecError(format!("{rel}: no files here")))
    }

    fn output_file(&mut self, step: usize) -> Result<PathBuf, ExecError> {
        Ok(self.root.join(format!("output-{step}")))
    }

    fn read_output_file(&mut self, _: usize) -> Result<Vec<u8>, ExecError> {
        Ok(Vec::new())
    }

    async fn release(self) {}
}

pub struct FakeStore {
    pub seen: Arc<Seen>,
}

pub struct FakeLog {
    seen: Arc<Seen>,
    job: String,
    step: usize,
}

impl StepLog for FakeLog {
    fn write_line(&mut self, _: Stream, _: u64, line: &[u8]) -> Result<(), StoreError> {
        let text = String::from_utf8_lossy(line).into_owned();
        if let Ok(mut logs) = self.seen.logs.lock() {
            logs.push((self.job.clone(), self.step, text));
        }
        Ok(())
    }

    fn finish(self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Store for FakeStore {
    type StepLog = FakeLog;

    fn begin_run(&self, _: &RunMeta) -> Result<String, StoreError> {
        Ok("1".to_string())
    }

    fn record(&self, _: &str, record: &Record) -> Result<(), StoreError> {
        if let Ok(mut records) = self.seen.records.lock() {
            records.push(record.clone());
        }
        Ok(())
    }

    fn open_step_log(&self, _: &str, job_key: &str, step: usize) -> Result<FakeLog, StoreError> {
        Ok(FakeLog {
            seen: self.seen.clone(),
            job: job_key.to_string(),
            step,
        })
    }

    fn finish_run(&self, _: &str, _: &RunSummary) -> Result<(), StoreError> {
        Ok(())
    }

    fn store_artifact(&self, _: &Path, name: &str, _: &str) -> Result<ArtifactRecord, StoreError> {
        Err(StoreError(format!("artifact `{name}`: not in these tests")))
    }

    fn restore_artifact(&self, record: &ArtifactRecord, root: &Path) -> Result<(), StoreError> {
        let blobs = self
            .seen
            .blobs
            .lock()
            .map_err(|_| StoreError("poisoned".into()))?;
        let Some(bytes) = blobs.get(&record.digest.0) else {
            return Err(StoreError(format!("no blob {}", record.digest)));
        };
        let path = root.join(&record.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError(e.to_string()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| StoreError(e.to_string()))
    }

    fn cache_get(&self, _: &Digest) -> Result<Option<CacheEntry>, StoreError> {
        Ok(None)
    }

    fn cache_put(&self, _: &Digest, _: &CacheEntry) -> Result<(), StoreError> {
        Ok(())
    }

    fn last_manifest(&self, _: &str) -> Result<Option<KeyManifest>, StoreError> {
        Ok(None)
    }

    fn save_manifest(&self, _: &str, _: &KeyManifest) -> Result<(), StoreError> {
        Ok(())
    }

    fn dir_cache_restore(&self, _: &str, _: &[String], _: &Path) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn dir_cache_save(&self, _: &str, _: &[String], _: &Path) -> Result<(), StoreError> {
        Ok(())
    }
}
