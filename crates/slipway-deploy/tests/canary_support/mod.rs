//! What the canary tests add to `support`: releases that fail on purpose, Prometheus scraping
//! the environment's targets under their names, a load generator that tells which version
//! answered each request (and whether it failed), a log with times, HAProxy's weights, and a
//! scripted [`Approver`].
//!
//! Prometheus (Debian `prometheus`) runs on a free 127.0.0.1 port with a temporary TSDB and a 1 s
//! scrape interval, as in slipway-verify's tests. Each target is scraped at its port with the
//! label `instance` set to the target's name, so a query's `instance=~"{{target}}"` selects the
//! canary's or the baseline's targets by name, as `Scope` gives them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_deploy::{Artifact, DeployLog, Digest};
use slipway_engine::ports::{
    ApprovalDecision, ApprovalRequest, ApprovalVote, Approver, BoxFuture, CancelSignal, DeployLine,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

use crate::support::{World, demo_binary, free_port};

/// A release of the demo service at `version` with extra flags (`--error-every 20`…): a script
/// of its own (so its own digest) that execs the demo binary on `$PORT`.
pub fn release_with(world: &World, version: &str, flags: &str) -> Artifact {
    let script = format!(
        "#!/bin/sh\n# release {version} {flags}\nexec {demo} --listen 127.0.0.1:$PORT --version {version} --state-file {dir}/health-$TARGET-{version} {flags}\n",
        demo = demo_binary().display(),
        dir = world.dir.path().display(),
    );
    let path = world.dir.path().join(format!("release-{version}.sh"));
    fs::write(&path, &script).expect("write release script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    Artifact::File {
        name: "demo".to_owned(),
        path,
        digest: Digest::of(script.as_bytes()),
    }
}

/// HAProxy's current weight of each server of backend `app`.
pub async fn weights(world: &World) -> BTreeMap<String, u16> {
    let client = slipway_lb::HaproxyClient::new(slipway_lb::Endpoint::Unix(
        world.haproxy.admin_sock.clone(),
    ));
    client
        .servers("app")
        .await
        .expect("show servers state")
        .into_iter()
        .map(|s| (s.name, s.weight))
        .collect()
}

/// Log lines with the moment each was written (printed too, visible with --nocapture).
#[derive(Clone, Default)]
pub struct TimedLog(pub Arc<Mutex<Vec<(Instant, String)>>>);

impl DeployLog for TimedLog {
    fn line(&mut self, text: &str) {
        println!("deploy: {text}");
        if let Ok(mut lines) = self.0.lock() {
            lines.push((Instant::now(), text.to_owned()));
        }
    }
}

impl TimedLog {
    pub fn lines(&self) -> Vec<(Instant, String)> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// When the first line containing `text` was written.
    pub fn when(&self, text: &str) -> Instant {
        let lines = self.lines();
        lines
            .iter()
            .find(|(_, line)| line.contains(text))
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("no log line contains {text:?}"))
    }

    /// The time between the line containing `text` and the next line.
    pub fn span(&self, text: &str) -> (Instant, Instant) {
        let lines = self.lines();
        let index = lines
            .iter()
            .position(|(_, line)| line.contains(text))
            .unwrap_or_else(|| panic!("no log line contains {text:?}"));
        let start = lines[index].0;
        let end = lines
            .get(index + 1)
            .map(|(at, _)| *at)
            .expect("a next line");
        (start, end)
    }

    pub fn contains(&self, text: &str) -> bool {
        self.lines().iter().any(|(_, line)| line.contains(text))
    }
}

/// Prometheus scraping each target (name, port) every second, `instance` = the name.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    log: PathBuf,
    /// Removed when dropped, after the process is gone.
    _tsdb: tempfile::TempDir,
}

impl Prometheus {
    pub async fn start(dir: &Path, targets: &BTreeMap<String, u16>) -> Prometheus {
        let binary = Path::new("/usr/bin/prometheus");
        assert!(
            binary.is_file(),
            "Prometheus is not installed (no /usr/bin/prometheus, Debian package `prometheus`): run scripts/test, which installs it"
        );
        let port = free_port();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n",
        );
        for (name, target_port) in targets {
            config.push_str(&format!(
                "      - {{targets: ['127.0.0.1:{target_port}'], labels: {{instance: '{name}'}}}}\n"
            ));
        }
        // Throwaway TSDB: in /dev/shm when there is one (its chunk writer preallocates).
        let shm = Path::new("/dev/shm");
        let tsdb = if shm.is_dir() {
            tempfile::Builder::new()
                .prefix("slipway-canary-")
                .tempdir_in(shm)
        } else {
            tempfile::tempdir_in(dir)
        }
        .expect("tsdb dir");
        let config_path = dir.join("prometheus.yml");
        fs::write(&config_path, config).expect("write prometheus.yml");
        let log = dir.join("prometheus.log");
        let out = fs::File::create(&log).expect("log file");
        let mut command = Command::new(binary);
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start prometheus");
        let mut prometheus = Prometheus {
            child,
            port,
            log,
            _tsdb: tsdb,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = prometheus.child.try_wait() {
                panic!("prometheus exited with {status}: {}", prometheus.log());
            }
            if http_get(port, "/-/ready")
                .await
                .is_ok_and(|(s, _)| s == 200)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready: {}",
                prometheus.log()
            );
            sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until every one of `targets` was scraped successfully at least once.
    pub async fn wait_for_targets(&self, targets: usize) {
        let path = "/api/v1/query?query=count(up%3D%3D1)";
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, body)) = http_get(self.port, path).await
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&body)
                && json["data"]["result"][0]["value"][1].as_str() == Some(&targets.to_string())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus never scraped {targets} targets: {}",
                self.log()
            );
            sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// One `GET /` through HAProxy.
#[derive(Clone, Debug)]
pub struct Hit {
    pub sent: Instant,
    /// The status, or what went wrong before one came.
    pub status: Result<u16, String>,
    /// `X-Demo-Version`: which release answered (also on 500s).
    pub version: Option<String>,
}

impl Hit {
    pub fn ok(&self) -> bool {
        matches!(self.status, Ok(s) if (200..300).contains(&s))
    }
}

/// Tasks sending `GET /` (the path `--error-every` fails) through HAProxy, one connection each.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Hit>>>,
}

impl Traffic {
    pub fn start(frontend: SocketAddr, tasks: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..tasks)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut hits = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let hit = match timeout(Duration::from_secs(10), get_root(frontend)).await {
                            Ok(Ok((status, version))) => Hit {
                                sent,
                                status: Ok(status),
                                version,
                            },
                            Ok(Err(error)) => Hit {
                                sent,
                                status: Err(error),
                                version: None,
                            },
                            Err(_) => Hit {
                                sent,
                                status: Err("no answer within 10 s".to_owned()),
                                version: None,
                            },
                        };
                        hits.push(hit);
                        sleep(Duration::from_millis(5)).await;
                    }
                    hits
                })
            })
            .collect();
        Traffic { stop, tasks }
    }

    /// Stops and returns every hit, in sending order.
    pub async fn finish(self) -> Vec<Hit> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.expect("traffic task"));
        }
        all.sort_by_key(|h| h.sent);
        println!(
            "traffic: {} requests, {} failed",
            all.len(),
            all.iter().filter(|h| !h.ok()).count()
        );
        all
    }
}

async fn get_root(frontend: SocketAddr) -> Result<(u16, Option<String>), String> {
    let mut stream = TcpStream::connect(frontend)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, _) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no head: {answer:?}"))?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status: {head:?}"))?;
    let version = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("x-demo-version")
            .then(|| value.trim().to_owned())
    });
    Ok((status, version))
}

/// Responses by version among the hits sent in `[from, to)`.
pub fn versions_between(hits: &[Hit], from: Instant, to: Instant) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for hit in hits.iter().filter(|h| h.sent >= from && h.sent < to) {
        let version = hit.version.clone().unwrap_or_else(|| "none".to_owned());
        *seen.entry(version).or_insert(0) += 1;
    }
    seen
}

/// What the scripted approver was asked: the run, the job and the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    pub run: String,
    pub job_key: String,
    pub gate: String,
    pub message: Option<String>,
}

/// An [`Approver`] test double: reports each request on `asked`, then answers with the next
/// value from `answers` (`true` approves).
pub struct ScriptedApprover {
    pub asked: mpsc::UnboundedSender<Asked>,
    pub answers: tokio::sync::Mutex<mpsc::UnboundedReceiver<bool>>,
}

impl ScriptedApprover {
    /// The approver, the receiver of what it is asked, the sender of its answers.
    pub fn start() -> (
        slipway_engine::ports::ApproverHandle,
        mpsc::UnboundedReceiver<Asked>,
        mpsc::UnboundedSender<bool>,
    ) {
        let (asked, asked_rx) = mpsc::unbounded_channel();
        let (answers_tx, answers) = mpsc::unbounded_channel();
        let approver = ScriptedApprover {
            asked,
            answers: tokio::sync::Mutex::new(answers),
        };
        (
            slipway_engine::ports::ApproverHandle(Arc::new(approver)),
            asked_rx,
            answers_tx,
        )
    }
}

impl Approver for ScriptedApprover {
    fn approve<'a>(
        &'a self,
        request: ApprovalRequest<'a>,
        log: &'a mut dyn DeployLine,
        _cancel: &'a CancelSignal,
    ) -> BoxFuture<'a, Result<ApprovalDecision, String>> {
        Box::pin(async move {
            let _ = self.asked.send(Asked {
                run: request.run.to_owned(),
                job_key: request.job_key.to_owned(),
                gate: request.gate.to_owned(),
                message: request.message.clone(),
            });
            log.line(&format!("approver: asked about {}", request.gate));
            let approved = self
                .answers
                .lock()
                .await
                .recv()
                .await
                .ok_or("the test gave no answer")?;
            let user = if approved { "alice" } else { "carol" };
            let at_ms = slipway_deploy::state::now_ms();
            Ok(ApprovalDecision {
                job_key: request.job_key.to_owned(),
                gate: request.gate.to_owned(),
                approved,
                reason: if approved {
                    "approved by alice".to_owned()
                } else {
                    "rejected by carol: not today".to_owned()
                },
                votes: vec![ApprovalVote {
                    user: user.to_owned(),
                    approved,
                    comment: (!approved).then(|| "not today".to_owned()),
                    at_ms,
                }],
                inputs: Default::default(),
                at_ms,
            })
        })
    }
}
