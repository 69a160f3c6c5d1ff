//! A real sshd on a free 127.0.0.1 port, in a temporary directory, stopped on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slipway_ssh::{KnownHosts, SshTarget};

pub const USER: &str = "slipway-test";
const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

fn run(cmd: &mut Command) {
    let out = cmd.output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{cmd:?} could not start: {e}"),
    }
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "slipway-test", "-f"])
        .arg(path));
}

/// The dedicated test user, whose shell is `/bin/sh` (no login scripts), created once. Test
/// processes run in parallel and `useradd`/`usermod` fail while another holds /etc/passwd's
/// lock, so both are retried.
fn ensure_user() {
    let quiet = |cmd: &mut Command| matches!(cmd.stdout(Stdio::null()).stderr(Stdio::null()).status(), Ok(s) if s.success());
    for _ in 0..100 {
        if !quiet(Command::new("id").arg(USER)) {
            quiet(Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]));
            continue;
        }
        if quiet(Command::new("usermod").args(["-p", "*", USER])) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("could not create and unlock the test user {USER} (useradd/usermod)");
}

pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

impl Sshd {
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run scripts/test, which installs openssh-server"
        );
        assert!(
            Command::new("ssh")
                .arg("-V")
                .stderr(Stdio::null())
                .status()
                .is_ok(),
            "the ssh client is missing: run scripts/test, which installs openssh-client"
        );
        ensure_user();
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        keygen(&d.join("other_key"));
        run(Command::new("cp")
            .arg(d.join("client_key.pub"))
            .arg(d.join("authorized_keys")));
        let port = free_port();
        let cfg = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
             StrictModes no\nAllowUsers {USER}\nMaxSessions 50\nLogLevel ERROR\n",
            d = d.display()
        );
        if let Err(e) = std::fs::write(d.join("sshd_config"), cfg) {
            panic!("writing sshd_config: {e}");
        }
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!("starting {SSHD}: {e}"),
        };
        let sshd = Sshd { dir, port, child };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known-hosts file holding this server's real host key.
    pub fn known_hosts(&self) -> PathBuf {
        let key = match std::fs::read_to_string(self.path("host_key.pub")) {
            Ok(k) => k,
            Err(e) => panic!("host key: {e}"),
        };
        let path = self.path("known_hosts");
        if let Err(e) = std::fs::write(&path, format!("[127.0.0.1]:{} {key}", self.port)) {
            panic!("known_hosts: {e}");
        }
        path
    }

    pub fn target(&self) -> SshTarget {
        SshTarget {
            host: "127.0.0.1".into(),
            port: self.port,
            user: USER.into(),
            key_path: self.path("client_key"),
            known_hosts: KnownHosts::Strict(self.known_hosts()),
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub fn control_dir(&self) -> PathBuf {
        self.path("ctl")
    }

    /// Established TCP connections whose local end is sshd's port (from /proc/net/tcp).
    pub fn established_connections(&self) -> usize {
        let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let port = format!(":{:04X}", self.port);
        text.lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1).is_some_and(|local| local.ends_with(&port)) && f.get(3) == Some(&"01")
            })
            .count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling a child we started and have not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let _ = self.child.wait();
    }
}

/// True when some process's command line contains `marker`.
pub fn process_with(marker: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        cmdline
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
    })
}
