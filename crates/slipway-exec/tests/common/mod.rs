//! Helpers shared by the integration tests: a sink that keeps lines, and running one script.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use slipway_engine::ports::{
    Executor, LineSink, SecretMasker, Shell, StepCommand, StepExit, Stream, Workspace,
    WorkspaceRequest,
};
use slipway_exec::{LocalConfig, LocalExecutor, LocalWorkspace};

/// Keeps every line with its stream and timestamp, and counts flushes.
#[derive(Default, Debug)]
pub struct VecSink {
    pub lines: Vec<(Stream, u64, String)>,
    pub flushes: usize,
}

impl LineSink for VecSink {
    fn line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]) {
        self.lines
            .push((stream, ts_ms, String::from_utf8_lossy(line).into_owned()));
    }
    fn flush(&mut self) {
        self.flushes += 1;
    }
}

impl VecSink {
    pub fn of(&self, stream: Stream) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|(s, _, _)| *s == stream)
            .map(|(_, _, l)| l.as_str())
            .collect()
    }
}

/// What a step did.
pub struct Outcome {
    pub exit: StepExit,
    pub sink: VecSink,
}

/// Options of one step run.
pub struct Step<'a> {
    pub script: &'a str,
    pub shell: Shell,
    pub env: Vec<(String, String)>,
    pub workdir: Option<&'a str>,
    pub timeout: Option<Duration>,
    /// A container image of its own (docker workspaces only).
    pub image: Option<&'a str>,
    pub secrets: Vec<&'a str>,
}

impl<'a> Step<'a> {
    pub fn new(script: &'a str) -> Step<'a> {
        Step {
            script,
            shell: Shell::Bash,
            env: Vec::new(),
            workdir: None,
            timeout: None,
            image: None,
            secrets: Vec::new(),
        }
    }
}

pub fn config(root: &Path) -> LocalConfig {
    LocalConfig::in_place(root).grace(Duration::from_millis(500))
}

pub async fn workspace(config: LocalConfig) -> LocalWorkspace {
    let executor = LocalExecutor::new(config);
    let request = WorkspaceRequest {
        run: "1".to_owned(),
        job_key: "job".to_owned(),
        container: None,
    };
    match executor.prepare(&request).await {
        Ok(ws) => ws,
        Err(e) => panic!("prepare failed: {e}"),
    }
}

pub async fn run_in(ws: &mut LocalWorkspace, step: &Step<'_>) -> Outcome {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    run_with_cancel(ws, step, &rx).await
}

/// Runs one step in any workspace, collecting its lines.
pub async fn run_with_cancel<W: Workspace>(
    ws: &mut W,
    step: &Step<'_>,
    cancel: &tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    let masker = SecretMasker::new(step.secrets.iter());
    let mut sink = VecSink::default();
    let cmd = StepCommand {
        script: step.script,
        shell: step.shell,
        env: &step.env,
        workdir: step.workdir,
        timeout: step.timeout,
        image: step.image,
    };
    let exit = ws.run_step(cmd, &masker, &mut sink, cancel).await;
    Outcome { exit, sink }
}

/// Runs one step in a fresh temporary directory.
pub async fn run(step: &Step<'_>) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ws = workspace(config(dir.path())).await;
    run_in(&mut ws, step).await
}

/// Live (not zombie) processes whose command line contains `marker`.
pub fn live_processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(marker) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if !matches!(state, Some('Z') | Some('X') | None) {
            found.push(format!("{}: {cmdline}", path.display()));
        }
    }
    found
}
