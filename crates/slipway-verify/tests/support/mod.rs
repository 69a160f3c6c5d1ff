//! Real components for the verification tests: Prometheus (Debian `prometheus`) on a free
//! 127.0.0.1 port with a temporary TSDB and a 1 s scrape interval, `slipway-demo` services it
//! scrapes, and a load generator sending `GET /` to each service directly.
//!
//! The demo binary comes from the workspace build (`target/debug/slipway-demo`): cargo does not
//! build another package's binaries for these tests. `scripts/test` builds the whole workspace
//! first; run `cargo build -p slipway-demo` when running these alone.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener as StdListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

/// A temporary directory for a test's Prometheus: in /dev/shm when there is one, since a TSDB
/// is throwaway and its chunk writer preallocates 512 MiB segments (promtool's blocks too).
pub fn tsdb_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let made = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("slipway-verify-")
            .tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    made.expect("temp dir")
}

pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn require(path: &str, package: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_file() {
        return path.to_path_buf();
    }
    panic!(
        "{} is missing (Debian package `{package}`): run scripts/test, which installs it",
        path.display()
    )
}

/// `target/debug/slipway-demo`, or a failure naming scripts/test.
pub fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("slipway-demo"));
    match candidate {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "the slipway-demo binary is missing next to {}: run scripts/test (it builds the whole \
             workspace first), or `cargo build -p slipway-demo`",
            exe.display()
        ),
    }
}

/// A child process killed (SIGKILL) when dropped, and told to die with the test (PDEATHSIG).
pub struct Process {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Process {
    fn spawn(mut command: Command, what: &str, log: PathBuf) -> Process {
        let out = fs::File::create(&log).expect("log file");
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Process {
            child,
            what: what.to_owned(),
            log,
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}:\n{}", self.what, self.log());
        }
    }

    /// Kills it now and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One demo service.
pub struct Demo {
    pub process: Process,
    pub port: u16,
    pub version: String,
}

impl Demo {
    /// Starts `slipway-demo --version VERSION` with `extra` flags and waits until it answers.
    pub async fn start(dir: &Path, version: &str, extra: &[&str]) -> Demo {
        let port = free_port();
        let mut command = Command::new(demo_binary());
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--version")
            .arg(version)
            .args(extra);
        let what = format!("slipway-demo {version} on {port}");
        let mut process = Process::spawn(command, &what, dir.join(format!("demo-{port}.log")));
        wait_for_port(port, &mut process).await;
        Demo {
            process,
            port,
            version: version.to_owned(),
        }
    }

    /// The `instance` label Prometheus gives it.
    pub fn instance(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

async fn wait_for_port(port: u16, process: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        process.check_running();
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{} never listened", process.what);
        sleep(Duration::from_millis(20)).await;
    }
}

/// A Prometheus server scraping `targets` every second (or nothing, over an existing TSDB).
pub struct Prometheus {
    pub process: Process,
    pub port: u16,
}

impl Prometheus {
    /// Starts Prometheus with its TSDB in `dir/tsdb`, scraping `targets` (job `demo`).
    pub async fn start(dir: &Path, targets: &[String]) -> Prometheus {
        let binary = require("/usr/bin/prometheus", "prometheus");
        let port = free_port();
        let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [{}]\n",
            quoted.join(", ")
        );
        let config_path = dir.join("prometheus.yml");
        fs::write(&config_path, config).expect("write prometheus.yml");
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Blocks loaded by promtool may lie hours in the past.
            .arg("--storage.tsdb.retention.time=30d")
            .arg("--log.level=warn");
        let mut process = Process::spawn(
            command,
            &format!("prometheus on {port}"),
            dir.join("prometheus.log"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            process.check_running();
            if http_get(port, "/-/ready")
                .await
                .is_ok_and(|(s, _)| s == 200)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready:\n{}",
                process.log()
            );
            sleep(Duration::from_millis(100)).await;
        }
        Prometheus { process, port }
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until every target was scraped successfully for `seconds` (at 1 s each).
    pub async fn wait_for_samples(&self, targets: usize, seconds: u32) {
        let query = format!("count(count_over_time(up[60s]) >= {seconds})");
        let path = format!("/api/v1/query?query={}", urlencode(&query));
        let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 30);
        loop {
            if let Ok((200, body)) = http_get(self.port, &path).await
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&body)
                && json["data"]["result"][0]["value"][1].as_str() == Some(&targets.to_string())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not collect {seconds} s of samples from {targets} targets"
            );
            sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `promtool tsdb create-blocks-from openmetrics FILE DIR/tsdb`.
pub fn load_openmetrics(dir: &Path, text: &str) {
    let promtool = require("/usr/bin/promtool", "prometheus");
    let file = dir.join("data.om");
    fs::write(&file, text).expect("write openmetrics");
    let tsdb = dir.join("tsdb");
    fs::create_dir_all(&tsdb).expect("tsdb dir");
    let output = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&tsdb)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One HTTP/1.1 GET to 127.0.0.1:PORT: the status and the body.
pub async fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no head")?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_owned()))
}

/// Tasks sending `GET /` to each port in turn, about 100 requests a second per port.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub sent: Arc<AtomicU64>,
}

impl Load {
    pub fn start(ports: &[u16]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let tasks = ports
            .iter()
            .map(|&port| {
                let stop = stop.clone();
                let sent = sent.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = http_get(port, "/").await;
                        sent.fetch_add(1, Ordering::Relaxed);
                        sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        Load { stop, tasks, sent }
    }

    pub async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        println!("load: {} requests", self.sent.load(Ordering::Relaxed));
    }
}
