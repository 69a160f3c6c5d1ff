//! What a run leaves behind: transitions, summaries, artifacts and cache
//! entries. These are plain data, serialised by the store as JSON.

use serde::{Deserialize, Serialize};

use crate::ports::StepExit;

/// A BLAKE3 digest, as 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Digest(pub String);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(blake3::hash(bytes).to_hex().to_string())
    }
    pub fn from_hash(hash: blake3::Hash) -> Digest {
        Digest(hash.to_hex().to_string())
    }
    /// The first 12 hex characters, for display.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Facts about a run known before it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub pipeline: String,
    pub file: String,
    pub started_ms: u64,
    pub git: GitInfo,
    pub jobs: Vec<String>,
}

/// The `git` context of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GitInfo {
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub sha: Option<String>,
    /// push, pull_request, tag, schedule, manual, local.
    pub event: String,
    pub changed_paths: Vec<String>,
}

/// How a job ended; the strings are those of `needs.<job>.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobResult {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl JobResult {
    pub fn as_str(self) -> &'static str {
        match self {
            JobResult::Success => "success",
            JobResult::Failure => "failure",
            JobResult::Cancelled => "cancelled",
            JobResult::Skipped => "skipped",
        }
    }
}

/// Whether a job's cache was used, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum CacheStatus {
    /// The job declares no `inputs:`.
    Uncached,
    Hit {
        key: Digest,
    },
    Miss {
        key: Digest,
        reasons: Vec<String>,
    },
}

/// One persisted transition of a run. The scheduler records each before
/// acting on it; replaying them restores its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Record {
    JobStarted {
        job: usize,
        at_ms: u64,
    },
    JobSkipped {
        job: usize,
        at_ms: u64,
        reason: String,
    },
    StepStarted {
        job: usize,
        step: usize,
        name: String,
        at_ms: u64,
    },
    StepFinished {
        job: usize,
        step: usize,
        exit: StepExit,
        attempt: u32,
        at_ms: u64,
    },
    JobFinished {
        job: usize,
        result: JobResult,
        at_ms: u64,
        cache: CacheStatus,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        outputs: Vec<(String, String)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// What the job stored, so a resumed run can hand them to the jobs
        /// that need it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        artifacts: Vec<ArtifactRecord>,
    },
    CancelRequested {
        at_ms: u64,
    },
    RunFinished {
        result: JobResult,
        at_ms: u64,
    },
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub name: String,
    /// Path relative to the workspace root.
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    pub kind: ArtifactKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    File,
    Directory,
}

/// What a cache hit restores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    pub job_key: String,
    pub outputs: Vec<(String, String)>,
    pub artifacts: Vec<ArtifactRecord>,
    pub created_ms: u64,
    #[serde(default)]
    pub tests: Option<slipway_reports::Totals>,
}

/// The parts a cache key was hashed from, kept to explain the next miss.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyManifest {
    /// `(component, digest)` sorted by component, e.g.
    /// `("file:src/main.rs", …)`, `("env:RUST_LOG", …)`, `("definition", …)`,
    /// `("artifact:build/app", …)`.
    pub parts: Vec<(String, String)>,
}

/// The summary of a finished run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: String,
    pub result: JobResult,
    pub duration_ms: u64,
    pub jobs: Vec<JobSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSummary {
    pub key: String,
    pub result: JobResult,
    pub duration_ms: u64,
    pub cache: CacheStatus,
    pub artifacts: Vec<ArtifactRecord>,
    #[serde(default)]
    pub tests: Option<TestSummary>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Test results of one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestSummary {
    pub totals: slipway_reports::Totals,
    /// `(test name, message)` of each failure.
    pub failures: Vec<(String, String)>,
    pub flaky: Vec<String>,
    /// Report files that could not be parsed, with the reason.
    pub warnings: Vec<String>,
}
