//! Docker targets of the demo service against the real Docker engine. No registry is
//! reachable, so the images are made here: `docker import` of a root file system holding
//! Debian's busybox-static (a shell for `sh -c`), the `slipway-demo` binary and the C
//! libraries it links (`ldd`; the workspace builds for glibc, and the musl target is not
//! installed), plus `/release` naming the version, so that each version is an image with an
//! id of its own. Fails with a message naming scripts/test when docker or busybox is missing.
#![allow(dead_code)]

#[path = "../ssh_support/demo.rs"]
pub mod demo;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use slipway_deploy::Artifact;
use slipway_deploy::targets::Release;
use slipway_deploy::targets::docker::DockerDriver;
use slipway_spec::deploy::{Action, DockerTarget, ServiceDef, Target, TargetKind};

/// The port the demo listens on inside its container.
pub const CONTAINER_PORT: u16 = 8080;

/// How the demo starts in its container (`PORT` there is the container's port).
pub const START: &str = "/bin/slipway-demo --listen 0.0.0.0:$PORT --version \"$VERSION\"";

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("the docker command is missing ({e}); run scripts/test, which installs docker.io and starts dockerd")
        })
}

/// Fails the test unless the engine answers.
pub fn require_docker() {
    let out = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        out.status.success(),
        "no Docker engine answers ({}); run scripts/test, which installs docker.io and starts dockerd",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The demo image of `version` (built once per binary and version), as an artifact:
/// reference `slipway-test/demo:VERSION-HASH`, digest its image id.
pub fn demo_image(version: &str) -> Artifact {
    require_docker();
    let binary = demo::demo_binary();
    let bytes = std::fs::read(&binary).expect("read slipway-demo");
    let hash = slipway_deploy::Digest::of(&bytes);
    let reference = format!("slipway-test/demo:{version}-{}", hash.short());
    if let Some(id) = image_id(&reference) {
        return Artifact::Image {
            reference,
            digest: id,
        };
    }
    let busybox = which("busybox").unwrap_or_else(|| {
        panic!("busybox is missing: run scripts/test, which installs busybox-static")
    });
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    for d in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(r.join(d)).expect("mkdir");
    }
    std::fs::copy(&busybox, r.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", r.join("bin/sh")).expect("symlink sh");
    std::fs::copy(&binary, r.join("bin/slipway-demo")).expect("copy slipway-demo");
    for lib in linked_libraries(&binary) {
        let dest = r.join(lib.strip_prefix("/").unwrap_or(&lib));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).expect("mkdir lib");
        }
        std::fs::copy(&lib, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", lib.display()));
    }
    std::fs::write(r.join("release"), version).expect("release file");
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").expect("passwd");
    let script = format!(
        "tar -C {} -c . | docker import --change 'ENV PATH=/bin' - {reference} >/dev/null",
        r.display()
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .expect("run docker import");
    assert!(
        out.status.success(),
        "docker import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = image_id(&reference).expect("the imported image");
    Artifact::Image {
        reference,
        digest: id,
    }
}

fn image_id(reference: &str) -> Option<String> {
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", reference]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The shared libraries (and the loader) a binary needs, from `ldd`.
fn linked_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

pub fn demo_service() -> ServiceDef {
    ServiceDef {
        install: None,
        activate: Some(Action::Start {
            command: START.to_owned(),
        }),
        deactivate: Some(Action::Stop),
        uninstall: Some(Action::Remove),
        health: None,
        env: vec![("GREETING".to_owned(), "hello".to_owned())],
    }
}

pub fn target(name: &str, port: u16) -> Target {
    Target {
        name: name.to_owned(),
        kind: TargetKind::Docker(DockerTarget {
            docker_host: None,
            container_port: Some(CONTAINER_PORT),
        }),
        port: Some(port),
        lb_server: name.to_owned(),
        group: None,
        span: Default::default(),
    }
}

/// A driver with a short stop grace period; `env_dir`'s last component names the environment.
pub fn driver(target: &Target, service: &ServiceDef, env_dir: &Path) -> DockerDriver {
    let TargetKind::Docker(docker) = &target.kind else {
        panic!("not a docker target")
    };
    DockerDriver::new(target, docker, service, env_dir)
        .expect("driver")
        .with_stop_grace(Duration::from_secs(2))
}

pub fn release(
    target: &Target,
    service: &ServiceDef,
    artifact: Artifact,
    version: &str,
) -> Release {
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
        dir: PathBuf::new(),
        port: target.port,
        env,
    }
}

/// Names of containers (any state) of environment `env`.
pub fn containers_of(env: &str) -> Vec<String> {
    let filter = format!("label=slipway.environment={env}");
    let out = docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A label value of a container.
pub fn label(container: &str, key: &str) -> String {
    let format = format!("{{{{index .Config.Labels \"{key}\"}}}}");
    let out = docker(&["inspect", "--format", &format, container]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes every container of environment `env` (after a failed test).
pub fn remove_containers_of(env: &str) {
    for name in containers_of(env) {
        let _ = docker(&["rm", "-f", &name]);
    }
}

/// An environment directory whose name is unique to this process and `test`.
pub fn env_dir(root: &Path, test: &str) -> PathBuf {
    root.join(format!("t{}-{test}", std::process::id()))
}
