//! An example of `examples/` run as the README runs it, with the real
//! binary, HAProxy (and Prometheus) started by the example's own scripts and
//! the real demo service: copied to a temporary directory as
//! `examples/NAME/` with its fixed ports replaced by free ones. Dropping it
//! stops the environment's targets (`slipway env stop`, then SIGKILL to any
//! recorded process group left) and the example's services.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::{Project, Run, copy_tree};

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `target/debug/slipway-demo`, beside the test binary's directory.
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

pub fn require(program: &str) {
    assert!(
        Path::new(program).is_file(),
        "{program} is not installed: run scripts/test, which installs it"
    );
}

pub struct Example {
    pub project: Project,
    pub name: &'static str,
    pub environment: &'static str,
    /// The free ports that replaced the example's fixed ones, in the order given.
    pub ports: Vec<u16>,
    /// The scripts (`haproxy.sh`, `prometheus.sh`) to `stop` when dropped.
    services: Vec<&'static str>,
}

impl Example {
    /// `examples/NAME` (and `examples/ALSO…`, which its scripts use) copied,
    /// every file's `fixed` ports replaced by free ones. `services` are the
    /// scripts stopped on drop.
    pub fn new(
        name: &'static str,
        environment: &'static str,
        also: &[&str],
        fixed: &[u16],
        services: &[&'static str],
    ) -> Example {
        let project = Project::new("");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let ports: Vec<u16> = fixed.iter().map(|_| free_port()).collect();
        for example in std::iter::once(&name).chain(also) {
            let source = examples.join(example);
            let dir = project.path().join("examples").join(example);
            std::fs::create_dir_all(&dir).expect("mkdir");
            copy_tree(&source, &dir);
            let environments = source.join(".slipway/environments");
            if environments.is_dir() {
                std::fs::create_dir_all(dir.join(".slipway/environments")).expect("mkdir");
                copy_tree(&environments, &dir.join(".slipway/environments"));
            }
            replace_ports(&dir, fixed, &ports);
        }
        Example {
            project,
            name,
            environment,
            ports,
            services: services.to_vec(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.project.path().join("examples").join(self.name)
    }

    /// `examples/NAME/slipway.yml`, as the README passes it to `--file`.
    pub fn file(&self) -> String {
        format!("examples/{}/slipway.yml", self.name)
    }

    /// The free port that replaced `fixed` (the `index`th of those given).
    pub fn port(&self, index: usize) -> u16 {
        self.ports[index]
    }

    pub fn addr(&self, index: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port(index)))
    }

    /// Runs one of the example's scripts (`haproxy.sh start`).
    pub fn script(&self, script: &str, action: &str) -> Run {
        let output = std::process::Command::new(self.dir().join(script))
            .arg(action)
            .output()
            .unwrap_or_else(|e| panic!("run {script}: {e}"));
        Run::from(output)
    }

    pub fn slipway(&self, args: &[&str]) -> Run {
        let output = self
            .project
            .command(args)
            .env("SLIPWAY_DEMO_BIN", demo_binary())
            .output()
            .expect("run slipway");
        Run::from(output)
    }

    /// `slipway run --file examples/NAME/slipway.yml --input version=V` (+ `inputs`).
    pub fn deploy(&self, version: &str, inputs: &[&str]) -> Run {
        let file = self.file();
        let version = format!("version={version}");
        let mut args = vec!["run", "--file", &file, "--input", &version];
        for input in inputs {
            args.extend(["--input", input]);
        }
        self.slipway(&args)
    }
}

/// Replaces each fixed port by its free one in every file under `dir`.
fn replace_ports(dir: &Path, fixed: &[u16], ports: &[u16]) {
    for entry in std::fs::read_dir(dir).expect("read example copy").flatten() {
        let path = entry.path();
        if path.is_dir() {
            replace_ports(&path, fixed, ports);
            continue;
        }
        let Ok(mut text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let before = text.clone();
        for (old, new) in fixed.iter().zip(ports) {
            text = text.replace(&old.to_string(), &new.to_string());
        }
        if text != before {
            std::fs::write(&path, text).expect("write example copy");
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let file = self.file();
        let _ = self.slipway(&["env", "stop", self.environment, "--file", &file]);
        let processes = self
            .dir()
            .join(".slipway/local/environments")
            .join(self.environment)
            .join("processes");
        for entry in std::fs::read_dir(processes).into_iter().flatten().flatten() {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap_or_default())
                    .unwrap_or_default();
            if let Some(pid) = record["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
                && pid > 1
            {
                // SAFETY: kill(2) on a process group this test's deployments started.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
        for service in &self.services {
            let _ = self.script(service, "stop");
        }
    }
}

/// What answered a request: its status and `X-Demo-Version`, the body's
/// first line; or why there was no answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub version: String,
    pub body: String,
}

/// `GET path` → the answer, or why none came.
pub fn get(addr: SocketAddr, path: &str) -> Result<Answer, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no head: {answer:?}"))?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status: {head:?}"))?;
    let version = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-demo-version")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    Ok(Answer {
        status,
        version,
        body: body.lines().next().unwrap_or_default().to_owned(),
    })
}

/// `GET /version` → the version, or why not (a non-2xx status included).
pub fn version_at(addr: SocketAddr) -> Result<String, String> {
    let answer = get(addr, "/version")?;
    if !(200..300).contains(&answer.status) {
        return Err(format!("status {}", answer.status));
    }
    Ok(answer.body)
}

/// When a request was sent, and what answered.
pub type Sample = (Instant, Result<Answer, String>);

/// Threads sending `GET path` through the frontend back to back.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<Vec<Sample>>>,
    started: Instant,
}

impl Load {
    pub fn start(frontend: SocketAddr, path: &'static str, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        samples.push((Instant::now(), get(frontend, path)));
                        thread::sleep(Duration::from_millis(2));
                    }
                    samples
                })
            })
            .collect();
        Load {
            stop,
            threads,
            started: Instant::now(),
        }
    }

    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<_> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().expect("load thread"))
            .collect();
        all.sort_by_key(|(sent, _)| *sent);
        let seconds = self.started.elapsed().as_secs_f64();
        println!(
            "load: {} requests in {seconds:.2} s ({:.0}/s), {} without an answer",
            all.len(),
            all.len() as f64 / seconds,
            all.iter().filter(|(_, r)| r.is_err()).count()
        );
        all
    }
}

pub fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.all()))
}
