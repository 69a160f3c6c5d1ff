//! `slipway release` against a real `slipway server` (no agent: the release
//! run is created, not carried out; the server's own tests run releases end
//! to end): nothing to release yet, a digest that never passed a required
//! environment refused with the reason, then a release of the digest that
//! passed, which starts a run of trigger `release`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

fn slipway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    for name in [
        "SLIPWAY_SERVER",
        "SLIPWAY_TOKEN",
        "SLIPWAY_HOME",
        "SLIPWAY_LISTEN",
        "SLIPWAY_DATABASE",
    ] {
        command.env_remove(name);
    }
    command.env("NO_COLOR", "1");
    command
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A repository with a pipeline that deploys to staging and production,
/// production requiring staging; its commit.
fn repository(dir: &Path) -> String {
    let files = [
        (
            "slipway.yml",
            "on: { manual: {} }\njobs:\n  build:\n    steps:\n      - run: 'true'\n    artifacts:\n      app: app\n  production:\n    needs: [build]\n    deploy:\n      environment: production\n      artifact: build.app\n      strategy: { rolling: { batch: 2 } }\n",
        ),
        (
            ".slipway/environments/staging.yml",
            "targets:\n  - { name: one, kind: local, port: 1 }\nservice:\n  activate: { start: \"$ARTIFACT\" }\n",
        ),
        (
            ".slipway/environments/production.yml",
            "requires: [staging]\ntargets:\n  - { name: one, kind: local, port: 1 }\nservice:\n  activate: { start: \"$ARTIFACT\" }\n",
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@localhost",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    );
    git(dir, &["rev-parse", "HEAD"])
}

/// A successful release to staging, as a deploy job would have left it.
async fn staging_release(db: &Path, digest: &str, commit: &str) {
    let url = format!("sqlite://{}", db.display());
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the database");
    sqlx::query(
        "INSERT INTO releases (project_id, run_id, job_key, environment, digest, artifact_name, \
         kind, outcome, commit_sha, commit_time_ms, started_ms, finished_ms, record, recorded_ms) \
         VALUES ((SELECT id FROM projects WHERE name = 'p'), NULL, 'staging', 'staging', $1, \
         'app', 'deploy', 'succeeded', $2, NULL, 1000, 2000, '{}', 2000)",
    )
    .bind(digest)
    .bind(commit)
    .execute(&mut connection)
    .await
    .expect("insert a release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_refuses_with_the_reason_then_starts_a_release_run() {
    // Checked before any request: no server is needed.
    let out = slipway()
        .args([
            "release",
            "p",
            "--env",
            "production",
            "--override-freeze",
            " ",
        ])
        .output()
        .expect("run slipway");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs the reason"));

    let data = tempfile::tempdir().expect("data");
    let work = tempfile::tempdir().expect("work");
    let commit = repository(work.path());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = Killed(
        slipway()
            .args([
                "server",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server"),
    );
    let token_file = data.path().join("admin-token");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(token_file.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = std::fs::read_to_string(&token_file)
        .expect("token")
        .trim()
        .to_string();
    let client = |args: &[&str]| -> Output {
        slipway()
            .args(args)
            .env("SLIPWAY_SERVER", &url)
            .env("SLIPWAY_TOKEN", &token)
            .output()
            .expect("run slipway")
    };
    let out = slipway()
        .args(["project", "add"])
        .arg(work.path())
        .args(["--name", "p"])
        .env("SLIPWAY_SERVER", &url)
        .env("SLIPWAY_TOKEN", &token)
        .output()
        .expect("project add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = client(&["release", "p", "--env", "production"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing was released successfully yet"),
        "{stderr}"
    );

    let passed = "a".repeat(64);
    staging_release(&data.path().join("slipway.db"), &passed, &commit).await;
    let never = "b".repeat(64);
    let out = client(&["release", "p", "--env", "production", "--digest", &never]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "digest {never} was never released successfully to `staging`, which `production` requires"
        )),
        "{stderr}"
    );

    let out = client(&["release", "p", "--env", "production"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "releasing aaaaaaaaaaaa (app) to production: run 1 (p#1) at commit {}",
            &commit[..12]
        )),
        "{stdout}"
    );
    assert!(stdout.contains("slipway logs 1 --follow"), "{stdout}");
    let out = client(&["runs", "--project", "p", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("runs JSON");
    assert_eq!(runs[0]["trigger"], "release", "{runs}");
    assert_eq!(runs[0]["commit"], commit.as_str(), "{runs}");
}
