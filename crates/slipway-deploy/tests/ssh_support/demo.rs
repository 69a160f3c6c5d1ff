//! The demo service (`crates/slipway-demo`) as a deployable artifact, and plain HTTP to it.
//! Shared by the ssh and docker tests (`#[path]`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_deploy::{Artifact, DeployLog, Digest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `target/debug/slipway-demo`, built with the workspace (`scripts/test` builds every binary
/// before the tests run), or a failure naming scripts/test.
pub fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/TEST -> target/debug/slipway-demo
    match exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("slipway-demo"))
    {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "the slipway-demo binary is missing next to {}: run scripts/test (it builds the whole \
             workspace first), or `cargo build -p slipway-demo`",
            exe.display()
        ),
    }
}

/// A file artifact of the demo service whose digest differs per `version`: the binary with
/// the version appended (an ELF file runs with trailing bytes), mode 0755.
pub fn demo_artifact(dir: &Path, version: &str) -> Artifact {
    let mut bytes = std::fs::read(demo_binary()).expect("read slipway-demo");
    bytes.extend_from_slice(format!("\nslipway-test-release {version}\n").as_bytes());
    let path = dir.join(format!("slipway-demo-{version}"));
    std::fs::write(&path, &bytes).expect("write the artifact");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    Artifact::File {
        name: "slipway-demo".to_owned(),
        path,
        digest: Digest::of(&bytes),
    }
}

/// Status and body of `GET path` on a new connection; `None` when nothing answers.
pub async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.get(9..12)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .ok()
        .flatten()
}

/// The first line of `/version`, waiting up to 10 s for the service to answer.
pub async fn version_at(addr: &str) -> Option<String> {
    for _ in 0..200 {
        if let Some((200, body)) = get(addr, "/version").await {
            return body.lines().next().map(str::to_owned);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// True once nothing accepts connections on `addr` (waits up to 10 s).
pub async fn closed(addr: &str) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A log that keeps lines and echoes them (shown when a test fails).
#[derive(Default)]
pub struct Lines(pub Vec<String>);

impl DeployLog for Lines {
    fn line(&mut self, text: &str) {
        println!("log: {text}");
        self.0.push(text.to_owned());
    }
}

impl Lines {
    pub fn has(&self, needle: &str) -> bool {
        self.0.iter().any(|l| l.contains(needle))
    }
}
