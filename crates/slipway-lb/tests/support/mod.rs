//! Real HAProxy for the tests: a temp dir, free 127.0.0.1 ports, three small HTTP servers
//! behind `backend app`, and a guard that stops HAProxy even when a test fails.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use slipway_lb::{Endpoint, HaproxyClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, sleep};

/// Server names in `backend app`, in configuration order.
pub const SERVERS: [&str; 3] = ["a", "b", "c"];

/// Where HAProxy is, or a failure that says how to install it.
pub fn haproxy_binary() -> PathBuf {
    let debian = Path::new("/usr/sbin/haproxy");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("haproxy"))
            .find(|candidate| candidate.is_file())
    });
    match on_path {
        Some(path) => path,
        None => panic!(
            "HAProxy is not installed (no /usr/sbin/haproxy, none on PATH): run scripts/test, which installs it"
        ),
    }
}

fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A running HAProxy (master-worker mode, foreground) and its backend servers.
pub struct Haproxy {
    child: Child,
    pub dir: tempfile::TempDir,
    pub frontend: SocketAddr,
    pub admin_sock: PathBuf,
    pub admin_tcp: SocketAddr,
    /// Set to `true` to let held `/slow` requests answer.
    pub release_slow: watch::Sender<bool>,
}

impl Haproxy {
    /// Starts three HTTP servers and HAProxy in front of them; returns once both the runtime
    /// API and the frontend accept connections.
    pub async fn start() -> Haproxy {
        let binary = haproxy_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let (release_slow, slow_gate) = watch::channel(false);
        let mut server_lines = String::new();
        for name in SERVERS {
            let addr = spawn_http_server(name, slow_gate.clone()).await;
            server_lines.push_str(&format!("    server {name} {addr} weight 100\n"));
        }
        let other_addr = spawn_http_server("z", slow_gate.clone()).await;
        let frontend: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let admin_tcp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let admin_sock = dir.path().join("admin.sock");
        let config = format!(
            "global\n\
             \x20   stats socket {sock} level admin\n\
             \x20   stats socket ipv4@{admin_tcp} level admin\n\
             defaults\n\
             \x20   mode http\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 30s\n\
             \x20   timeout server 30s\n\
             frontend fe\n\
             \x20   bind {frontend}\n\
             \x20   default_backend app\n\
             backend app\n\
             \x20   balance roundrobin\n\
             {server_lines}\
             backend other\n\
             \x20   balance source\n\
             \x20   server z {other_addr}\n",
            sock = admin_sock.display(),
        );
        let config_path = dir.path().join("haproxy.cfg");
        fs::write(&config_path, config).expect("write haproxy.cfg");
        let log = fs::File::create(dir.path().join("haproxy.log")).expect("log file");
        let mut command = Command::new(&binary);
        // If the test process dies without unwinding (SIGKILL, abort), the kernel sends the
        // master SIGTERM; the workers exit when their master does. The spawning thread is the
        // test's own (current-thread runtime), which outlives the guard below.
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .arg("-W")
            .arg("-db")
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut haproxy = Haproxy {
            child,
            dir,
            frontend,
            admin_sock,
            admin_tcp,
            release_slow,
        };
        haproxy.wait_ready().await;
        haproxy
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("haproxy exited with {status}:\n{}", self.log());
            }
            let api = self.client().backends().await.is_ok();
            let front = TcpStream::connect(self.frontend).await.is_ok();
            if api && front {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not become ready within 15 s:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// HAProxy's output so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// A client on the UNIX socket.
    pub fn client(&self) -> HaproxyClient {
        HaproxyClient::new(Endpoint::Unix(self.admin_sock.clone()))
            .with_timeout(Duration::from_secs(5))
    }

    /// Reloads HAProxy the way an operator does in master-worker mode: SIGUSR2 to the master.
    pub fn reload(&self) {
        signal(self.child.id(), libc::SIGUSR2);
    }

    /// Sends `count` requests through the frontend, one connection each, and counts which
    /// server answered.
    pub async fn tally(&self, count: usize) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for _ in 0..count {
            let name = get(self.frontend, "/").await;
            *seen.entry(name).or_insert(0) += 1;
        }
        seen
    }
}

impl Drop for Haproxy {
    /// SIGTERM to the master (it stops its workers), a grace period, then SIGKILL.
    fn drop(&mut self) {
        signal(self.child.id(), libc::SIGTERM);
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

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// One `GET path` through `addr`; returns the body (the answering server's name).
pub async fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect to frontend");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    match answer.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => body.to_owned(),
        _ => panic!("unexpected answer from the frontend: {answer:?}"),
    }
}

/// A tiny HTTP server answering every request with `name`; `/slow` waits until `gate` is true.
async fn spawn_http_server(name: &'static str, gate: watch::Receiver<bool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind server");
    let addr = listener.local_addr().expect("server addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut gate = gate.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if request.starts_with(b"GET /slow") {
                    let _ = gate.wait_for(|open| *open).await;
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}
