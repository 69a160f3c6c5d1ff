//! A real sshd on a free 127.0.0.1 port (as slipway-ssh's tests start it: a temporary
//! directory, generated keys, the dedicated user `slipway-test` whose shell is /bin/sh), and
//! ssh targets of the demo service. Fails with a message naming scripts/test when sshd or
//! ssh is missing.
#![allow(dead_code)]

pub mod demo;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slipway_deploy::Artifact;
use slipway_deploy::targets::Release;
use slipway_deploy::targets::ssh::SshDriver;
use slipway_spec::deploy::{Action, KnownHosts, ServiceDef, SshTarget, Target, TargetKind};

pub const USER: &str = "slipway-test";
const SSHD: &str = "/usr/sbin/sshd";

/// How the demo service is started on a host.
pub const START: &str = "\"$ARTIFACT\" --listen 127.0.0.1:$PORT --version \"$VERSION\"";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

fn run(cmd: &mut Command) {
    match cmd.output() {
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

/// The test user, created once; useradd/usermod are retried while another test holds the
/// lock on /etc/passwd.
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
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        keygen(&d.join("other_key"));
        run(Command::new("cp")
            .arg(d.join("client_key.pub"))
            .arg(d.join("authorized_keys")));
        let port = demo::free_port();
        let cfg = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
             StrictModes no\nAllowUsers {USER}\nMaxSessions 100\nMaxStartups 100\n\
             LogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), cfg).expect("sshd_config");
        let key = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {key}"))
            .expect("known_hosts");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {SSHD}: {e}"));
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

    /// `kind: ssh` settings for this server, releases under `dir`.
    pub fn ssh_target(&self, dir: &str) -> SshTarget {
        SshTarget {
            host: "127.0.0.1".to_owned(),
            ssh_port: self.port,
            user: USER.to_owned(),
            key: Some(self.path("client_key").display().to_string()),
            known_hosts: KnownHosts::Strict,
            known_hosts_file: Some(self.path("known_hosts").display().to_string()),
            dir: dir.to_owned(),
        }
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

/// A directory for releases on the "host" (this machine), owned by the test user: its home
/// may belong to an earlier incarnation of the user, so tests do not rely on it. Removed on drop.
pub struct HostDir(tempfile::TempDir);

impl HostDir {
    pub fn new() -> HostDir {
        let dir = tempfile::Builder::new()
            .prefix("slipway-deploy-ssh-")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        run(Command::new("chown").arg(USER).arg(dir.path()));
        HostDir(dir)
    }

    pub fn path(&self) -> String {
        self.0.path().display().to_string()
    }
}

/// The service of the demo: copy to `bin/slipway-demo`, start it, the built-in stop and remove.
pub fn demo_service() -> ServiceDef {
    ServiceDef {
        install: Some(Action::Copy {
            to: "bin/slipway-demo".to_owned(),
        }),
        activate: Some(Action::Start {
            command: START.to_owned(),
        }),
        deactivate: Some(Action::Stop),
        uninstall: Some(Action::Remove),
        health: None,
        env: vec![("GREETING".to_owned(), "it's $(not) expanded".to_owned())],
    }
}

pub fn target(name: &str, port: u16, ssh: &SshTarget) -> Target {
    Target {
        name: name.to_owned(),
        kind: TargetKind::Ssh(ssh.clone()),
        port: Some(port),
        lb_server: name.to_owned(),
        group: None,
        span: Default::default(),
    }
}

/// A driver with a short stop grace period.
pub fn driver(target: &Target, service: &ServiceDef, env_dir: &Path) -> SshDriver {
    let TargetKind::Ssh(ssh) = &target.kind else {
        panic!("not an ssh target")
    };
    SshDriver::new(target, ssh, service, env_dir)
        .expect("driver")
        .with_stop_grace(Duration::from_secs(3))
}

/// The release of `artifact` on `target` with the layout the deployer uses:
/// `DIR/releases/TARGET/DIGEST`.
pub fn release(
    target: &Target,
    service: &ServiceDef,
    artifact: Artifact,
    version: &str,
) -> Release {
    let TargetKind::Ssh(ssh) = &target.kind else {
        panic!("not an ssh target")
    };
    let dir = PathBuf::from(&ssh.dir)
        .join("releases")
        .join(&target.name)
        .join(artifact.digest().replace(':', "-"));
    let mut env = service.env.clone();
    env.extend([
        ("DIGEST".to_owned(), artifact.digest().to_owned()),
        ("VERSION".to_owned(), version.to_owned()),
        ("TARGET".to_owned(), target.name.clone()),
        (
            "PORT".to_owned(),
            target.port.map(|p| p.to_string()).unwrap_or_default(),
        ),
    ]);
    Release {
        target: target.name.clone(),
        artifact,
        version: version.to_owned(),
        dir,
        port: target.port,
        env,
    }
}
