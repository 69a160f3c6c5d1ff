//! A real PostgreSQL server for tests: one per test process, in a temporary
//! directory, on a free 127.0.0.1 port, and a fresh database per caller.
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the
//! `postgres` user. It is stopped (fast shutdown, then its directory
//! removed) when the process exits, by an `atexit` hook; should the process
//! die without running it (a signal), the server gets SIGINT from the kernel
//! (`PR_SET_PDEATHSIG`) when the thread that started it, which never exits,
//! dies with the process. Missing PostgreSQL is an error naming
//! `scripts/test`, which installs it.

use std::ffi::CString;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection};

const BIN: &str = "/usr/lib/postgresql/15/bin";

struct Server {
    port: u16,
}

/// What the exit hook needs: the postmaster's pid and the directory.
static RUNNING: OnceLock<(libc::pid_t, PathBuf)> = OnceLock::new();
static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

extern "C" fn stop_server() {
    if let Some((pid, dir)) = RUNNING.get() {
        // SIGINT: fast shutdown (disconnect clients, checkpoint, exit).
        unsafe { libc::kill(*pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        while Instant::now() < deadline {
            let done = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
            if done == *pid || done < 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if Instant::now() >= deadline {
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The uid and gid to run PostgreSQL as: `postgres` when we are root.
fn run_as() -> Result<Option<(libc::uid_t, libc::gid_t)>, String> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").map_err(|e| e.to_string())?;
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(
            "there is no `postgres` user; run scripts/test, which installs postgresql".into(),
        );
    }
    Ok(Some(unsafe { ((*entry).pw_uid, (*entry).pw_gid) }))
}

fn command(
    program: &str,
    user: Option<(libc::uid_t, libc::gid_t)>,
    die_with_parent: bool,
) -> Command {
    let mut cmd = Command::new(Path::new(BIN).join(program));
    cmd.env_clear()
        .env("LC_ALL", "C")
        .env("PATH", "/usr/bin:/bin");
    unsafe {
        cmd.pre_exec(move || {
            if let Some((uid, gid)) = user
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // After setuid, which would clear it.
            if die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn start() -> Result<Server, String> {
    if !Path::new(BIN).join("initdb").exists() {
        return Err(format!(
            "{BIN}/initdb is missing: PostgreSQL 15 is not installed; run scripts/test, which installs it"
        ));
    }
    let user = run_as()?;
    let dir = tempfile::Builder::new()
        .prefix("slipway-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    if let Some((uid, gid)) = user {
        let c = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        if unsafe { libc::chown(c.as_ptr(), uid, gid) } != 0 {
            return Err(format!(
                "chown {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    let data = dir.join("data");
    let out = command("initdb", user, false)
        .args([
            "-A",
            "trust",
            "-U",
            "slipway",
            "-E",
            "UTF8",
            "--no-locale",
            "-D",
        ])
        .arg(&data)
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    let dir_for_thread = dir.clone();
    // The starting thread never ends: PR_SET_PDEATHSIG fires when it does,
    // which is when the process dies.
    std::thread::spawn(move || {
        let child = command("postgres", user, true)
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir_for_thread)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
                "-p",
            ])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_or(Stdio::null(), Stdio::from))
            .stderr(Stdio::from(log))
            .spawn();
        let _ = tx.send(child);
        loop {
            std::thread::park();
        }
    });
    let child = rx
        .recv()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("postgres: {e}"))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    // The Child handle is dropped without waiting; the exit hook reaps it.
    std::mem::forget(child);
    let _ = RUNNING.set((pid, dir.clone()));
    unsafe { libc::atexit(stop_server) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Server { port });
        }
        let mut status = 0;
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid
            || Instant::now() > deadline
        {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            return Err(format!(
                "postgres did not start on 127.0.0.1:{port}:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The test server's port, starting it on first use.
pub fn port() -> Result<u16, String> {
    match SERVER.get_or_init(start) {
        Ok(server) => Ok(server.port),
        Err(e) => Err(e.clone()),
    }
}

/// The URL of a new, empty database on the test server.
pub async fn fresh_database() -> Result<String, String> {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let port = port()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let admin_url = format!("postgres://slipway@127.0.0.1:{port}/postgres");
    // The server accepts TCP connections before it accepts sessions: retry
    // while it answers "the database system is starting up" (57P03).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut admin = loop {
        match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => break connection,
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("57P03") && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(format!("connect to postgres: {e}")),
        }
    };
    // The name is made here of digits and letters only.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("create database: {e}"))?;
    admin.close().await.map_err(|e| e.to_string())?;
    Ok(format!("postgres://slipway@127.0.0.1:{port}/{name}"))
}
