//! What an environment looks like on disk, under `STATE/ENV/`:
//!
//! - `state.json`: each target's digest, version, phase and intended
//!   load-balancer state, and the blue-green set that serves. Rewritten
//!   atomically (temporary file, then rename) at every transition, so a crash
//!   leaves either the old or the new state, and a target drained or
//!   half-installed always says so here.
//! - `deployments.jsonl`: one [`DeploymentRecord`] per line, appended when a
//!   deployment ends; never rewritten.
//! - `artifacts/DIGEST`: every deployed file artifact, so a rollback can
//!   reinstall the exact bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use slipway_spec::deploy::{
    BatchSize, BlueGreen, Canary, CanaryStep, Group, Rolling, Strategy, TargetCount,
};

use crate::DeployError;
use crate::targets::local::ProcessRecord;

/// Where a target stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Never deployed by Slipway.
    New,
    Serving,
    /// Installed and healthy but out of the pool (the old set of blue-green).
    Standby,
    Draining,
    Deactivating,
    Installing,
    Activating,
    Checking,
    /// The last operation failed; `message` says why. Out of the pool.
    Failed,
}

/// The intended HAProxy admin state of a target's server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LbIntent {
    Ready,
    Drain,
    Maint,
}

impl LbIntent {
    pub fn to_lb(self) -> slipway_lb::State {
        match self {
            LbIntent::Ready => slipway_lb::State::Ready,
            LbIntent::Drain => slipway_lb::State::Drain,
            LbIntent::Maint => slipway_lb::State::Maint,
        }
    }
}

/// One target in `state.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// The digest installed (or being installed; see `phase`).
    pub digest: Option<String>,
    pub version: Option<String>,
    pub artifact_name: Option<String>,
    pub phase: Phase,
    /// Why the phase is `failed`, or what is happening.
    pub message: Option<String>,
    /// The process a local target's `start` left running.
    pub process: Option<ProcessRecord>,
    /// What Slipway wants HAProxy to say for this target (re-applied after reloads).
    pub lb: Option<LbIntent>,
    /// The HAProxy weight (0–256) a canary gave this target's server, re-applied after
    /// reloads like `lb`; `None`: the weight of HAProxy's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    pub updated_ms: u64,
}

impl Default for TargetState {
    fn default() -> TargetState {
        TargetState {
            digest: None,
            version: None,
            artifact_name: None,
            phase: Phase::New,
            message: None,
            process: None,
            lb: None,
            weight: None,
            updated_ms: 0,
        }
    }
}

/// Blue-green bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreenState {
    /// The set that serves.
    pub live: GroupName,
    /// Until when the previous set stays installed for an instant switch back.
    pub standby_until_ms: Option<u64>,
}

/// `blue` or `green`, serialisable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupName {
    Blue,
    Green,
}

impl GroupName {
    pub fn other(self) -> GroupName {
        match self {
            GroupName::Blue => GroupName::Green,
            GroupName::Green => GroupName::Blue,
        }
    }
    pub fn matches(self, group: Option<Group>) -> bool {
        matches!(
            (self, group),
            (GroupName::Blue, Some(Group::Blue)) | (GroupName::Green, Some(Group::Green))
        )
    }
}

/// `state.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvState {
    pub targets: BTreeMap<String, TargetState>,
    pub blue_green: Option<BlueGreenState>,
    /// The strategy of the last deployment, used by `rollback`.
    pub last_strategy: Option<StrategyRecord>,
    /// Where a rolling deployment in progress stands; `None` between
    /// deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutProgress>,
}

/// The step of a rolling deployment in progress, for people watching.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutProgress {
    /// `batch 2 of 3`, or `rolling back`.
    pub step: String,
    /// The targets of that step, in order.
    pub targets: Vec<String>,
    /// The version being deployed.
    pub version: String,
}

/// A strategy as recorded (the spec's types are not serialisable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StrategyRecord {
    Rolling {
        batch: BatchRecord,
        max_unavailable: Option<usize>,
        max_fail_percentage: u32,
    },
    BlueGreen {
        keep_old_ms: u64,
    },
    Canary {
        canary_targets: BatchRecord,
        steps: Vec<CanaryStepRecord>,
        /// Always `Rolling`.
        promote: Box<StrategyRecord>,
    },
}

/// A canary step as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryStepRecord {
    Weight(u32),
    PauseMs(u64),
    PauseUntilApproved,
    Verify(Box<slipway_verify::VerifyConfig>),
}

/// `batch:` as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchRecord {
    Count(usize),
    Percent(u32),
    List(Vec<usize>),
}

impl StrategyRecord {
    pub fn of(strategy: &Strategy) -> StrategyRecord {
        match strategy {
            Strategy::Rolling(r) => StrategyRecord::Rolling {
                batch: match &r.batch {
                    BatchSize::Count(n) => BatchRecord::Count(*n),
                    BatchSize::Percent(p) => BatchRecord::Percent(*p),
                    BatchSize::List(l) => BatchRecord::List(l.clone()),
                },
                max_unavailable: r.max_unavailable,
                max_fail_percentage: r.max_fail_percentage,
            },
            Strategy::BlueGreen(b) => StrategyRecord::BlueGreen {
                keep_old_ms: u64::try_from(b.keep_old.as_millis()).unwrap_or(u64::MAX),
            },
            Strategy::Canary(c) => StrategyRecord::Canary {
                canary_targets: match c.canary_targets {
                    TargetCount::Count(n) => BatchRecord::Count(n),
                    TargetCount::Percent(p) => BatchRecord::Percent(p),
                },
                steps: c
                    .steps
                    .iter()
                    .map(|step| match step {
                        CanaryStep::Weight(w) => CanaryStepRecord::Weight(*w),
                        CanaryStep::Pause(d) => CanaryStepRecord::PauseMs(
                            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                        ),
                        CanaryStep::PauseUntilApproved => CanaryStepRecord::PauseUntilApproved,
                        CanaryStep::Verify(v) => CanaryStepRecord::Verify(v.clone()),
                    })
                    .collect(),
                promote: Box::new(StrategyRecord::of(&Strategy::Rolling(c.promote.clone()))),
            },
        }
    }

    pub fn to_strategy(&self) -> Strategy {
        match self {
            StrategyRecord::Rolling {
                batch,
                max_unavailable,
                max_fail_percentage,
            } => Strategy::Rolling(Rolling {
                batch: match batch {
                    BatchRecord::Count(n) => BatchSize::Count(*n),
                    BatchRecord::Percent(p) => BatchSize::Percent(*p),
                    BatchRecord::List(l) => BatchSize::List(l.clone()),
                },
                max_unavailable: *max_unavailable,
                max_fail_percentage: *max_fail_percentage,
            }),
            StrategyRecord::BlueGreen { keep_old_ms } => Strategy::BlueGreen(BlueGreen {
                keep_old: Duration::from_millis(*keep_old_ms),
            }),
            StrategyRecord::Canary {
                canary_targets,
                steps,
                promote,
            } => Strategy::Canary(Canary {
                canary_targets: match canary_targets {
                    BatchRecord::Percent(p) => TargetCount::Percent(*p),
                    BatchRecord::Count(n) => TargetCount::Count(*n),
                    BatchRecord::List(l) => TargetCount::Count(l.first().copied().unwrap_or(1)),
                },
                steps: steps
                    .iter()
                    .map(|step| match step {
                        CanaryStepRecord::Weight(w) => CanaryStep::Weight(*w),
                        CanaryStepRecord::PauseMs(ms) => {
                            CanaryStep::Pause(Duration::from_millis(*ms))
                        }
                        CanaryStepRecord::PauseUntilApproved => CanaryStep::PauseUntilApproved,
                        CanaryStepRecord::Verify(v) => CanaryStep::Verify(v.clone()),
                    })
                    .collect(),
                promote: match promote.to_strategy() {
                    Strategy::Rolling(r) => r,
                    _ => Rolling::default(),
                },
            }),
        }
    }
}

/// How a deployment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Failed, and the updated targets were put back on their previous release.
    RolledBack,
    Cancelled,
}

/// What happened to one target in a deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub target: String,
    pub from_digest: Option<String>,
    pub to_digest: String,
    /// `succeeded`, `failed: …`, `rolled_back`, `untouched`…
    pub result: String,
    pub started_ms: u64,
    pub finished_ms: u64,
}

/// One line of `deployments.jsonl`: the release record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// `ENV-N`, N counting from 1 in this environment.
    pub id: String,
    pub run: String,
    pub environment: String,
    pub digest: String,
    pub artifact_name: String,
    pub version: String,
    /// `rollback` for a `slipway rollback`, `deploy` otherwise.
    pub kind: String,
    pub strategy: StrategyRecord,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub outcome: Outcome,
    pub message: Option<String>,
    pub targets: Vec<TargetRecord>,
    /// The commit deployed and its committer time (Unix seconds): lead time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<u64>,
    /// The approval gates passed on the way (approval jobs before the
    /// deployment, a canary's pauses), who said what and when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<slipway_engine::ports::ApprovalDecision>,
    /// Every verification step of a canary, with all its evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<slipway_verify::Verification>,
    /// An admin's reason to deploy inside a freeze window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_override: Option<String>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers see the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".tmp{}", std::process::id()));
    let temp = PathBuf::from(temp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// The files of one environment.
#[derive(Clone, Debug)]
pub struct EnvFiles {
    pub dir: PathBuf,
}

impl EnvFiles {
    pub fn new(state_dir: &Path, environment: &str) -> EnvFiles {
        EnvFiles {
            dir: state_dir.join(environment),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn records_path(&self) -> PathBuf {
        self.dir.join("deployments.jsonl")
    }

    /// Where the file artifact of `digest` is kept.
    pub fn artifact_path(&self, digest: &str) -> PathBuf {
        self.dir.join("artifacts").join(digest.replace(':', "-"))
    }

    /// The artifact of `digest` as kept under `artifacts/` (an image when no file was kept:
    /// image ids are `sha256:…`), for reaching what a target runs.
    pub fn kept_artifact(&self, digest: &str, name: &str) -> crate::Artifact {
        let path = self.artifact_path(digest);
        if digest.starts_with("sha256:") && !path.is_file() {
            crate::Artifact::Image {
                reference: name.to_owned(),
                digest: digest.to_owned(),
            }
        } else {
            crate::Artifact::File {
                name: name.to_owned(),
                path,
                digest: crate::Digest(digest.to_owned()),
            }
        }
    }

    /// `state.json`, or an empty state when there is none yet.
    pub fn load_state(&self) -> Result<EnvState, DeployError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| DeployError::State(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EnvState::default()),
            Err(e) => Err(DeployError::State(format!("{}: {e}", path.display()))),
        }
    }

    pub fn save_state(&self, state: &EnvState) -> Result<(), DeployError> {
        let json =
            serde_json::to_vec_pretty(state).map_err(|e| DeployError::State(e.to_string()))?;
        write_atomically(&self.state_path(), &json).map_err(DeployError::State)
    }

    /// Every record, oldest first. A torn last line (a crash while
    /// appending) is skipped; any other bad line is an error.
    pub fn records(&self) -> Result<Vec<DeploymentRecord>, DeployError> {
        let path = self.records_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(DeployError::State(format!("{}: {e}", path.display()))),
        };
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut records = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(record) => records.push(record),
                Err(_) if !complete && index + 1 == lines.len() => {}
                Err(e) => {
                    return Err(DeployError::State(format!(
                        "{}:{}: {e}",
                        path.display(),
                        index + 1
                    )));
                }
            }
        }
        Ok(records)
    }

    pub fn append_record(&self, record: &DeploymentRecord) -> Result<(), DeployError> {
        let path = self.records_path();
        let mut line = serde_json::to_vec(record).map_err(|e| DeployError::State(e.to_string()))?;
        line.push(b'\n');
        let append = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(&line)?;
            file.sync_data()
        };
        append().map_err(|e| DeployError::State(format!("{}: {e}", path.display())))
    }

    /// Keeps a copy of a file artifact under `artifacts/DIGEST` (once).
    pub fn keep_artifact(&self, source: &Path, digest: &str) -> Result<PathBuf, DeployError> {
        let kept = self.artifact_path(digest);
        if kept.is_file() {
            return Ok(kept);
        }
        let dir = self.dir.join("artifacts");
        std::fs::create_dir_all(&dir)
            .map_err(|e| DeployError::State(format!("{}: {e}", dir.display())))?;
        let partial = kept.with_extension("partial");
        std::fs::copy(source, &partial)
            .and_then(|_| std::fs::rename(&partial, &kept))
            .map_err(|e| {
                DeployError::State(format!(
                    "cannot keep {} as {}: {e}",
                    source.display(),
                    kept.display()
                ))
            })?;
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_survive_the_record() {
        for strategy in [
            Strategy::Rolling(Rolling {
                batch: BatchSize::List(vec![1, 2]),
                max_unavailable: Some(1),
                max_fail_percentage: 20,
            }),
            Strategy::BlueGreen(BlueGreen {
                keep_old: Duration::from_secs(300),
            }),
        ] {
            let json = serde_json::to_string(&StrategyRecord::of(&strategy)).unwrap();
            let back: StrategyRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(back.to_strategy(), strategy);
        }
    }

    #[test]
    fn a_torn_last_record_is_skipped_but_a_bad_middle_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let files = EnvFiles::new(dir.path(), "env");
        let record = DeploymentRecord {
            id: "env-1".into(),
            run: "1".into(),
            environment: "env".into(),
            digest: "d".into(),
            artifact_name: "a".into(),
            version: "v".into(),
            kind: "deploy".into(),
            strategy: StrategyRecord::BlueGreen { keep_old_ms: 1 },
            started_ms: 1,
            finished_ms: 2,
            outcome: Outcome::Succeeded,
            message: None,
            targets: vec![],
            commit: None,
            commit_time: None,
            approvals: vec![],
            verifications: vec![],
            freeze_override: None,
        };
        files.append_record(&record).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(files.records_path())
            .unwrap();
        file.write_all(b"{\"id\":\"env-2\"").unwrap();
        assert_eq!(files.records().unwrap(), vec![record.clone()]);
        file.write_all(b"\n").unwrap();
        files.append_record(&record).unwrap();
        assert!(files.records().is_err());
    }

    #[test]
    fn state_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let files = EnvFiles::new(dir.path(), "env");
        assert_eq!(files.load_state().unwrap(), EnvState::default());
        let mut state = EnvState::default();
        state.targets.insert(
            "web-1".into(),
            TargetState {
                phase: Phase::Failed,
                message: Some("boom".into()),
                ..TargetState::default()
            },
        );
        files.save_state(&state).unwrap();
        assert_eq!(files.load_state().unwrap(), state);
    }
}
