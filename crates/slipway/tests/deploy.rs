//! The deploy example (examples/deploy, README "Deploy") end to end with the
//! real binary, a real HAProxy started by the example's `haproxy.sh`, and the
//! real demo service: run → v1 everywhere; run again → v2 with 0 failed
//! requests under load; `env show`, `deployments`, `rollback` → v1
//! everywhere; `env stop` leaves nothing running. Plus bad input.
//!
//! The example is copied to a temporary directory as `examples/deploy/`, its
//! fixed ports (9100-9103) replaced by free ones, and driven with the
//! README's commands. HAProxy and the demo binary come from `scripts/test`
//! (which installs haproxy and builds the workspace first).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Project, Run, copy_tree};

const FILE: &str = "examples/deploy/slipway.yml";

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `target/debug/slipway-demo`, beside the test binary's directory.
fn demo_binary() -> PathBuf {
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

fn require_haproxy() {
    assert!(
        Path::new("/usr/sbin/haproxy").is_file(),
        "HAProxy is not installed (no /usr/sbin/haproxy): run scripts/test, which installs it"
    );
}

/// The example copied under `DIR/examples/deploy`, on free ports. Dropping
/// it stops the targets (`slipway env stop`, then SIGKILL to any recorded
/// process group left) and HAProxy.
struct Example {
    project: Project,
    frontend: SocketAddr,
    ports: [u16; 3],
}

impl Example {
    fn new() -> Example {
        let project = Project::new("");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/deploy");
        let dir = project.path().join("examples/deploy");
        std::fs::create_dir_all(dir.join(".slipway/environments")).expect("mkdir");
        copy_tree(&source, &dir);
        let frontend_port = free_port();
        let ports = [free_port(), free_port(), free_port()];
        let replace = |text: String| {
            let mut text = text.replace("9100", &frontend_port.to_string());
            for (old, new) in ["9101", "9102", "9103"].iter().zip(ports) {
                text = text.replace(old, &new.to_string());
            }
            text
        };
        let env = std::fs::read_to_string(source.join(".slipway/environments/local.yml"))
            .expect("read local.yml");
        std::fs::write(dir.join(".slipway/environments/local.yml"), replace(env))
            .expect("write local.yml");
        let cfg = std::fs::read_to_string(dir.join("haproxy.cfg")).expect("read haproxy.cfg");
        std::fs::write(dir.join("haproxy.cfg"), replace(cfg)).expect("write haproxy.cfg");
        Example {
            project,
            frontend: SocketAddr::from(([127, 0, 0, 1], frontend_port)),
            ports,
        }
    }

    fn dir(&self) -> PathBuf {
        self.project.path().join("examples/deploy")
    }

    fn haproxy(&self, action: &str) -> Run {
        let output = std::process::Command::new(self.dir().join("haproxy.sh"))
            .arg(action)
            .output()
            .expect("run haproxy.sh");
        Run::from(output)
    }

    fn slipway(&self, args: &[&str]) -> Run {
        let output = self
            .project
            .command(args)
            .env("SLIPWAY_DEMO_BIN", demo_binary())
            .output()
            .expect("run slipway");
        Run::from(output)
    }

    fn deploy(&self, version: &str) -> Run {
        let input = format!("version={version}");
        self.slipway(&["run", "--file", FILE, "--input", &input])
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.slipway(&["env", "stop", "local", "--file", FILE]);
        let processes = self
            .dir()
            .join(".slipway/local/environments/local/processes");
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
        let _ = self.haproxy("stop");
    }
}

/// `GET /version` → its first line (the version), or why not.
fn version_at(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no head: {answer:?}"))?;
    if head.get(9..10) != Some("2") {
        return Err(head.lines().next().unwrap_or_default().to_owned());
    }
    Ok(body.lines().next().unwrap_or_default().to_owned())
}

/// When a request was sent, and the version that answered or why none did.
type Sample = (Instant, Result<String, String>);

/// Threads sending `GET /version` through the frontend back to back.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<Vec<Sample>>>,
    started: Instant,
}

impl Load {
    fn start(frontend: SocketAddr, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        samples.push((Instant::now(), version_at(frontend)));
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

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<_> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().expect("load thread"))
            .collect();
        all.sort_by_key(|(sent, _)| *sent);
        let seconds = self.started.elapsed().as_secs_f64();
        println!(
            "load: {} requests in {seconds:.2} s ({:.0}/s), {} failed",
            all.len(),
            all.len() as f64 / seconds,
            all.iter().filter(|(_, r)| r.is_err()).count()
        );
        all
    }
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.all()))
}

fn assert_everywhere(example: &Example, version: &str) {
    for port in example.ports {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(
            version_at(addr).as_deref(),
            Ok(version),
            "target on port {port}"
        );
    }
    for _ in 0..6 {
        assert_eq!(version_at(example.frontend).as_deref(), Ok(version));
    }
}

#[test]
fn the_readme_deploy_flow_works_end_to_end() {
    require_haproxy();
    let example = Example::new();
    let started = example.haproxy("start");
    assert_eq!(started.code, Some(0), "haproxy.sh start: {}", started.all());

    // First run: v1 on the three targets.
    let first = example.deploy("v1");
    assert_eq!(first.code, Some(0), "{}", first.all());
    assert_everywhere(&example, "v1");

    // Second run under load: v2, rolling, no request fails.
    let load = Load::start(example.frontend, 4);
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        thread::sleep(Duration::from_millis(10));
    }
    let second = example.deploy("v2");
    let deployed = Instant::now();
    // Keep the load on a little after the deploy so that "after" is not empty.
    thread::sleep(Duration::from_millis(300));
    let samples = load.finish();
    assert_eq!(second.code, Some(0), "{}", second.all());
    assert!(
        samples.len() >= 100,
        "the load generator sent only {} requests",
        samples.len()
    );
    let failed: Vec<&String> = samples
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the rolling deploy: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(10)]
    );
    let late: Vec<&str> = samples
        .iter()
        .filter(|(sent, _)| *sent >= deployed)
        .filter_map(|(_, r)| r.as_deref().ok())
        .collect();
    assert!(!late.is_empty(), "no request after the deploy");
    assert!(
        late.iter().all(|v| *v == "v2"),
        "after the deploy: {late:?}"
    );
    assert_everywhere(&example, "v2");

    // `deployments`: two records, the second one's digest is v2's.
    let records = example.slipway(&["deployments", "local", "--file", FILE, "--json"]);
    assert_eq!(records.code, Some(0), "{}", records.all());
    let records = json(&records);
    let records = records.as_array().expect("an array of records");
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r["outcome"] == "succeeded"));
    let v1_digest = records[0]["digest"].as_str().expect("digest").to_owned();
    let v2_digest = records[1]["digest"].as_str().expect("digest").to_owned();
    assert_ne!(v1_digest, v2_digest);
    assert_eq!(records[1]["targets"].as_array().map(Vec::len), Some(3));
    let table = example.slipway(&["deployments", "local", "--file", FILE]);
    assert_eq!(table.code, Some(0), "{}", table.all());
    assert!(table.stdout.contains("local-1") && table.stdout.contains("local-2"));
    let last = example.slipway(&[
        "deployments",
        "local",
        "--file",
        FILE,
        "--json",
        "--limit",
        "1",
    ]);
    assert_eq!(json(&last).as_array().map(Vec::len), Some(1));

    // `env show`: three targets, v2's digest, serving, healthy, ready in HAProxy.
    let shown = example.slipway(&["env", "show", "local", "--file", FILE, "--json"]);
    assert_eq!(shown.code, Some(0), "{}", shown.all());
    let shown = json(&shown);
    let targets = shown["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 3, "{shown}");
    for target in targets {
        assert_eq!(target["digest"], v2_digest.as_str(), "{target}");
        assert_eq!(target["phase"], "serving", "{target}");
        assert!(target["health"].get("Ok").is_some(), "{target}");
        assert_eq!(target["lb"]["Ok"]["admin"], "ready", "{target}");
    }
    let table = example.slipway(&["env", "show", "local", "--file", FILE]);
    assert_eq!(table.code, Some(0), "{}", table.all());
    for name in ["web-1", "web-2", "web-3"] {
        let row = table
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {}", table.stdout));
        assert!(
            row.contains(&v2_digest[..12]) && row.contains("healthy") && row.contains("ready"),
            "{row}"
        );
    }

    // `rollback`: v1 again everywhere, recorded as a rollback.
    let rollback = example.slipway(&["rollback", "local", "--file", FILE]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.all());
    assert!(
        rollback.stdout.contains("web-3: ready"),
        "{}",
        rollback.stdout
    );
    assert_everywhere(&example, "v1");
    let records = json(&example.slipway(&["deployments", "local", "--file", FILE, "--json"]));
    let last = &records[2];
    assert_eq!(
        (last["kind"].as_str(), last["digest"].as_str()),
        (Some("rollback"), Some(v1_digest.as_str()))
    );

    // `env stop`: nothing of the environment keeps running.
    let stopped = example.slipway(&["env", "stop", "local", "--file", FILE]);
    assert_eq!(stopped.code, Some(0), "{}", stopped.all());
    for port in example.ports {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers after env stop"
        );
    }
    let shown = json(&example.slipway(&["env", "show", "local", "--file", FILE, "--json"]));
    for target in shown["targets"].as_array().expect("targets") {
        assert_eq!(target["digest"], serde_json::Value::Null, "{target}");
        assert_eq!(target["lb"]["Ok"]["admin"], "maint", "{target}");
    }
}

#[test]
fn bad_input_is_refused_with_exit_2() {
    let example = Example::new();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // An unknown environment lists the known ones.
    for command in [
        args(&["env", "show", "nope", "--file", FILE]),
        args(&["deployments", "nope", "--file", FILE]),
        args(&["rollback", "nope", "--file", FILE]),
        args(&["env", "stop", "nope", "--file", FILE]),
    ] {
        let refs: Vec<&str> = command.iter().map(String::as_str).collect();
        let run = example.slipway(&refs);
        assert_eq!(run.code, Some(2), "{command:?}: {}", run.all());
        assert!(
            run.stderr.contains("no environment `nope`")
                && run.stderr.contains("environments: local"),
            "{command:?}: {}",
            run.stderr
        );
    }

    // An invalid environment file: file:line:column.
    std::fs::write(
        example.dir().join(".slipway/environments/broken.yml"),
        "targets:\n  - name: web-1\n    kind: lokal\n    port: 1\n",
    )
    .expect("write broken.yml");
    let run = example.slipway(&["env", "show", "broken", "--file", FILE]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains(".slipway/environments/broken.yml:3:11")
            && run.stderr.contains("lokal"),
        "{}",
        run.stderr
    );
    let listed = example.slipway(&["env", "list", "--file", FILE]);
    assert_eq!(listed.stdout, "broken\nlocal\n");

    // Nothing deployed yet: nothing to roll back to.
    let run = example.slipway(&["rollback", "local", "--file", FILE]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("nothing to roll back to"),
        "{}",
        run.stderr
    );

    // `artifact:` naming an artifact that `build` does not declare.
    let pipeline = std::fs::read_to_string(example.dir().join("slipway.yml")).expect("read");
    std::fs::write(
        example.dir().join("slipway.yml"),
        pipeline.replace("artifact: build.service", "artifact: build.nothing"),
    )
    .expect("write");
    let run = example.slipway(&["run", "--file", FILE]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("nothing") && run.stderr.contains("slipway.yml:"),
        "{}",
        run.stderr
    );
    assert!(
        !example
            .dir()
            .join(".slipway/local/environments/local/state.json")
            .exists()
    );
}
