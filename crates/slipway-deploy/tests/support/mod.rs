//! Real components for the deployment tests: HAProxy on free 127.0.0.1 ports in front of the
//! environment's targets, `slipway-demo` releases wrapped in tiny scripts (so two versions have
//! two digests), a load generator, and guards that stop every process at the end.
//!
//! HAProxy runs WITHOUT health checks, with `retries 0` and no `option redispatch`: nothing in
//! HAProxy hides a server that is down or not yet listening, so 0 failed requests can only come
//! from Slipway's drain ─► install ─► health ─► ready sequencing.
//!
//! The demo binary: cargo does not build a dependency's binaries for another crate's tests, so
//! the tests use `target/debug/slipway-demo` next to the test binary's directory. `scripts/test`
//! builds the whole workspace first; run `cargo build -p slipway-demo` when running these alone.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_deploy::{Artifact, DeployLog, Digest};
use slipway_spec::deploy::{
    Action, Environment, Group, HaproxyAddress, Health, HealthProbe, LoadBalancer, ServiceDef,
    Target, TargetKind,
};
use slipway_spec::model::Span;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `target/debug/slipway-demo`, or a failure naming scripts/test.
pub fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/TEST -> target/debug/slipway-demo
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

pub fn haproxy_binary() -> PathBuf {
    let debian = Path::new("/usr/sbin/haproxy");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    panic!("HAProxy is not installed (no /usr/sbin/haproxy): run scripts/test, which installs it")
}

/// A deployment log that prints (visible with --nocapture) and keeps every line.
#[derive(Clone, Default)]
pub struct TestLog(pub Arc<Mutex<Vec<String>>>);

impl DeployLog for TestLog {
    fn line(&mut self, text: &str) {
        println!("deploy: {text}");
        if let Ok(mut lines) = self.0.lock() {
            lines.push(text.to_owned());
        }
    }
}

/// One test's world: a temp dir, the targets' ports, HAProxy.
pub struct World {
    pub dir: tempfile::TempDir,
    pub state_dir: PathBuf,
    pub haproxy: Haproxy,
    pub env: Environment,
    /// Target name -> port.
    pub ports: BTreeMap<String, u16>,
}

impl World {
    /// `names` with their blue-green groups (`None` for rolling).
    pub async fn start(names: &[(&str, Option<Group>)]) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let state_dir = dir.path().join("state");
        let mut ports = BTreeMap::new();
        let mut targets = Vec::new();
        for (name, group) in names {
            let port = free_port();
            ports.insert((*name).to_owned(), port);
            targets.push(Target {
                name: (*name).to_owned(),
                kind: TargetKind::Local,
                port: Some(port),
                lb_server: (*name).to_owned(),
                group: *group,
                span: Span { line: 1, col: 1 },
            });
        }
        let haproxy = Haproxy::start(dir.path(), &ports).await;
        let env = Environment {
            name: "staging".to_owned(),
            file: ".slipway/environments/staging.yml".to_owned(),
            targets,
            service: ServiceDef {
                install: None,
                activate: Some(Action::Start {
                    command: "\"$ARTIFACT\"".to_owned(),
                }),
                deactivate: Some(Action::Stop),
                uninstall: Some(Action::Remove),
                health: Some(Health {
                    check: HealthProbe::Http {
                        path: "/healthz".to_owned(),
                    },
                    interval: Duration::from_millis(100),
                    timeout: Duration::from_secs(1),
                    successes: 2,
                    max_wait: Duration::from_secs(3),
                }),
                env: vec![("GREETING".to_owned(), "hello".to_owned())],
            },
            load_balancer: Some(LoadBalancer {
                haproxy: HaproxyAddress::Socket(haproxy.admin_sock.display().to_string()),
                backend: "app".to_owned(),
                drain_timeout: Duration::from_secs(5),
            }),
            parallelism: 2,
            requires: Vec::new(),
            freeze: Vec::new(),
        };
        World {
            dir,
            state_dir,
            haproxy,
            env,
            ports,
        }
    }

    /// A release of the demo service at `version`: a script (its own digest) that execs the
    /// demo binary on `$PORT`, reading health from `DIR/health-$TARGET-VERSION`.
    pub fn release(&self, version: &str) -> Artifact {
        let script = format!(
            "#!/bin/sh\n# release {version}\nexec {demo} --listen 127.0.0.1:$PORT --version {version} --state-file {dir}/health-$TARGET-{version}\n",
            demo = demo_binary().display(),
            dir = self.dir.path().display(),
        );
        let path = self.dir.path().join(format!("release-{version}.sh"));
        fs::write(&path, &script).expect("write release script");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        Artifact::File {
            name: "demo".to_owned(),
            path,
            digest: Digest::of(script.as_bytes()),
        }
    }

    /// Makes `/healthz` of `target` fail while it runs `version`.
    pub fn fail_health(&self, target: &str, version: &str) {
        fs::write(
            self.dir.path().join(format!("health-{target}-{version}")),
            "fail-health\n",
        )
        .expect("write health state file");
    }

    pub fn state(&self) -> serde_json::Value {
        let path = self.state_dir.join("staging/state.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("state.json is JSON")
    }

    /// The digest `state.json` records for each target.
    pub fn digests(&self) -> BTreeMap<String, String> {
        let state = self.state();
        self.ports
            .keys()
            .map(|name| {
                let digest = state["targets"][name]["digest"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned();
                (name.clone(), digest)
            })
            .collect()
    }
}

impl Drop for World {
    /// Stops every process the deployments started detached (recorded by `start`).
    fn drop(&mut self) {
        let processes = self.state_dir.join("staging/processes");
        let Ok(entries) = fs::read_dir(&processes) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(text) = fs::read_to_string(entry.path()) else {
                continue;
            };
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(pid) = record["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
                && pid > 1
            {
                // SAFETY: kill(2) on a process group a test deployment started.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// A running HAProxy (master-worker, foreground) with `backend app` holding every target.
pub struct Haproxy {
    child: Child,
    pub frontend: SocketAddr,
    pub admin_sock: PathBuf,
    log: PathBuf,
}

impl Haproxy {
    async fn start(dir: &Path, servers: &BTreeMap<String, u16>) -> Haproxy {
        let binary = haproxy_binary();
        let frontend: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let admin_sock = dir.join("admin.sock");
        let mut lines = String::new();
        for (name, port) in servers {
            lines.push_str(&format!("    server {name} 127.0.0.1:{port}\n"));
        }
        let config = format!(
            "global\n\
             \x20   stats socket {sock} level admin\n\
             defaults\n\
             \x20   mode http\n\
             \x20   retries 0\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 30s\n\
             \x20   timeout server 30s\n\
             frontend fe\n\
             \x20   bind {frontend}\n\
             \x20   default_backend app\n\
             backend app\n\
             \x20   balance roundrobin\n\
             {lines}",
            sock = admin_sock.display(),
        );
        let config_path = dir.join("haproxy.cfg");
        fs::write(&config_path, config).expect("write haproxy.cfg");
        let log = dir.join("haproxy.log");
        let out = fs::File::create(&log).expect("log file");
        let mut command = Command::new(&binary);
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .args(["-W", "-db", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut haproxy = Haproxy {
            child,
            frontend,
            admin_sock,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                panic!("haproxy exited with {status}: {}", haproxy.log());
            }
            if haproxy.admin_sock.exists() && TcpStream::connect(frontend).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy not ready: {}",
                haproxy.log()
            );
            sleep(Duration::from_millis(20)).await;
        }
        haproxy
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Reloads HAProxy as an operator does in master-worker mode (SIGUSR2 to the master): the
    /// runtime state (drain, maint) is reset to the configuration's.
    pub fn reload(&self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child.
            unsafe {
                libc::kill(pid, libc::SIGUSR2);
            }
        }
    }

    /// Sends one runtime API command and returns the answer.
    pub async fn command(&self, command: &str) -> String {
        let mut stream = tokio::net::UnixStream::connect(&self.admin_sock)
            .await
            .expect("admin socket");
        stream
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("answer");
        answer
    }

    /// `stot` (total sessions) of each server of `app`.
    pub async fn total_sessions(&self) -> BTreeMap<String, u64> {
        let csv = self.command("show stat app 4 -1").await;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let sv = header.iter().position(|h| *h == "svname").expect("svname");
        let stot = header.iter().position(|h| *h == "stot").expect("stot");
        lines
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                let name = fields.get(sv)?;
                if *name == "BACKEND" {
                    return None;
                }
                Some(((*name).to_owned(), fields.get(stot)?.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request's outcome.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When the request was sent.
    pub sent: Instant,
    /// `Ok((version, server address))` for a 2xx, `Err(what)` otherwise.
    pub result: Result<(String, String), String>,
}

/// Tokio tasks sending `GET /version` through HAProxy's frontend, one connection each, without
/// pause beyond a few milliseconds: several hundred requests a second here.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
    pub started: Instant,
}

impl Load {
    pub fn start(frontend: SocketAddr, tasks: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..tasks)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let result = match timeout(Duration::from_secs(10), request(frontend)).await
                        {
                            Ok(result) => result,
                            Err(_) => Err("no answer within 10 s".to_owned()),
                        };
                        samples.push(Sample { sent, result });
                        sleep(Duration::from_millis(5)).await;
                    }
                    samples
                })
            })
            .collect();
        Load {
            stop,
            tasks,
            started: Instant::now(),
        }
    }

    /// Stops and returns every sample, in sending order.
    pub async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.expect("load task"));
        }
        all.sort_by_key(|s| s.sent);
        let seconds = self.started.elapsed().as_secs_f64();
        println!(
            "load: {} requests in {seconds:.1} s ({:.0}/s), {} failed",
            all.len(),
            all.len() as f64 / seconds,
            all.iter().filter(|s| s.result.is_err()).count()
        );
        all
    }
}

async fn request(frontend: SocketAddr) -> Result<(String, String), String> {
    let mut stream = TcpStream::connect(frontend)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no head: {answer:?}"))?;
    let status = head.get(9..12).unwrap_or_default();
    if !status.starts_with('2') {
        return Err(format!(
            "status {status}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    let mut lines = body.lines();
    let version = lines.next().unwrap_or_default().to_owned();
    let addr = lines.next().unwrap_or_default().to_owned();
    Ok((version, addr))
}

/// Asserts no request failed, with the failures listed.
pub fn assert_no_failures(samples: &[Sample]) {
    let failed: Vec<&String> = samples
        .iter()
        .filter_map(|s| s.result.as_ref().err())
        .collect();
    assert!(
        samples.len() >= 100,
        "the load generator sent only {} requests",
        samples.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(10)]
    );
}

/// Versions that answered requests sent after `after`.
pub fn versions_after(samples: &[Sample], after: Instant) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for sample in samples.iter().filter(|s| s.sent >= after) {
        if let Ok((version, _)) = &sample.result {
            *seen.entry(version.clone()).or_insert(0) += 1;
        }
    }
    seen
}
