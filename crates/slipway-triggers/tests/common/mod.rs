//! Test set-up: a real git origin, a real SQLite store, and a run starter that records the
//! requests it is given (the seam the server plugs into).

#![allow(dead_code)] // Each test file uses its own part of these helpers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use slipway_store::sql::{NewProject, Project, SecretKey, SecretValue, ServerStore, SqlStore};
use slipway_triggers::{RunRequest, RunStarter, Triggers};

/// The webhook secret of every test project.
pub const SECRET: &str = "It's a Secret to Everybody";

/// Runs git in `dir` with a fixed identity and no user configuration; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The repository a project follows; commits are made in it directly, as pushes would.
pub struct Origin {
    pub dir: PathBuf,
}

impl Origin {
    pub fn new(root: &Path, branch: &str) -> Origin {
        let dir = root.join("origin");
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(
            &dir,
            &["init", "--quiet", &format!("--initial-branch={branch}")],
        );
        Origin { dir }
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// Writes (`Some`) or deletes (`None`) files, commits, returns the commit id.
    pub fn commit(&self, files: &[(&str, Option<&str>)]) -> String {
        for (path, content) in files {
            let full = self.dir.join(path);
            match content {
                Some(content) => {
                    if let Some(parent) = full.parent() {
                        std::fs::create_dir_all(parent).expect("mkdir");
                    }
                    std::fs::write(&full, content).expect("write");
                }
                None => std::fs::remove_file(&full).expect("remove"),
            }
        }
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", "change"]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// Records every request and answers with ids 1, 2, 3, …
#[derive(Default)]
pub struct Recorder {
    pub requests: Mutex<Vec<RunRequest>>,
    next: AtomicI64,
}

impl Recorder {
    pub fn taken(&self) -> Vec<RunRequest> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl RunStarter for Recorder {
    async fn start(&self, request: RunRequest) -> Result<i64, String> {
        self.requests.lock().unwrap().push(request);
        Ok(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// Everything a test needs; dropped at its end.
pub struct Fixture {
    pub origin: Origin,
    pub store: Arc<SqlStore>,
    pub recorder: Arc<Recorder>,
    pub triggers: Triggers<Recorder, SqlStore>,
    pub project: Project,
    pub mirrors: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// An origin on `branch` with a first commit holding `pipeline` as slipway.yml, and a
    /// project following it.
    pub async fn new(branch: &str, pipeline: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let origin = Origin::new(dir.path(), branch);
        origin.commit(&[
            ("slipway.yml", Some(pipeline)),
            ("README.md", Some("hello\n")),
        ]);
        let url = format!("sqlite://{}", dir.path().join("slipway.db").display());
        let store = SqlStore::connect(&url, SecretKey::from_bytes([7u8; 32]))
            .await
            .expect("store");
        let project = store
            .create_project(NewProject {
                name: "demo".into(),
                repo_url: origin.url(),
                default_branch: branch.into(),
                settings: json!({}),
                webhook_secret: Some(SecretValue::new(SECRET)),
            })
            .await
            .expect("project");
        let store = Arc::new(store);
        let recorder = Arc::new(Recorder::default());
        let mirrors = dir.path().join("mirrors");
        let triggers = Triggers::new(Arc::clone(&store), Arc::clone(&recorder), mirrors.clone());
        Fixture {
            origin,
            store,
            recorder,
            triggers,
            project,
            mirrors,
            dir,
        }
    }

    /// A second `Triggers` over the same store and mirrors, as after a restart.
    pub fn restarted(&self) -> Triggers<Recorder, SqlStore> {
        Triggers::new(
            Arc::clone(&self.store),
            Arc::clone(&self.recorder),
            self.mirrors.clone(),
        )
    }
}

/// A valid pipeline with the given `on:` block (indented by two spaces under `on:`).
pub fn pipeline(on: &str) -> String {
    let text = format!("on:\n{on}\njobs:\n  build:\n    steps:\n      - run: make\n");
    if let Err(err) = slipway_spec::parse_pipeline(&text, "slipway.yml") {
        panic!("test pipeline is invalid: {err}\n{text}");
    }
    text
}
