//! `slipway audit verify` against a real `slipway server`: intact after
//! audited actions, then an edited entry and a deleted entry are found (the
//! database altered behind the server's back, its append-only triggers
//! dropped first, as someone with the database file could).

use std::net::TcpListener;
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

fn run(command: &mut Command) -> Output {
    command.output().expect("run slipway")
}

async fn raw(db: &std::path::Path, sql: &str) {
    let url = format!("sqlite://{}", db.display());
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the database");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut connection)
        .await
        .expect("alter the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_an_edited_and_a_deleted_entry() {
    let data = tempfile::tempdir().expect("data");
    let work = tempfile::tempdir().expect("work");
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
    let client = |args: &[&str]| {
        let mut command = slipway();
        command
            .args(args)
            .env("SLIPWAY_SERVER", &url)
            .env("SLIPWAY_TOKEN", &token);
        command
    };
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    // Three audited actions: a project, two secrets.
    let out = run(client(&["project", "add"]).arg(&repo).args(["--name", "p"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["A", "B"] {
        let mut command = client(&["secret", "set", "p", name]);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("secret set");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(b"value\n").expect("stdin");
        }
        assert!(child.wait_with_output().expect("wait").status.success());
    }
    let out = run(&mut client(&["audit", "verify"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("intact: 3 entries"), "{text}");

    let db = data.path().join("slipway.db");
    raw(
        &db,
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
    )
    .await;
    raw(&db, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").await;
    let out = run(&mut client(&["audit", "verify"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("altered at entry 2"), "{text}");

    raw(&db, "UPDATE audit_log SET actor = 'admin' WHERE seq = 2").await;
    assert!(
        run(&mut client(&["audit", "verify"])).status.success(),
        "restored"
    );
    raw(&db, "DELETE FROM audit_log WHERE seq = 3").await;
    let out = run(&mut client(&["audit", "verify"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("altered at entry 3"), "{text}");
}
