//! Helpers of the Docker tests: the test image, an executor, requests with labels unique to a
//! test, and looking for what a test left behind. Every check that cannot run fails with a
//! message naming `scripts/test`, which installs and starts what is missing.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use slipway_engine::ports::{
    ContainerRequest, Executor, PullPolicy, SecretMasker, Shell, StepCommand, StepExit, Workspace,
    WorkspaceRequest,
};
use slipway_exec::{DockerConfig, DockerExecutor, DockerWorkspace, LocalConfig};

#[path = "../common/mod.rs"]
mod common;
pub use common::{VecSink, live_processes_with};

/// The image every test runs in: busybox-static with its applets, imported from a root file
/// system (no registry is reachable).
pub const IMAGE: &str = "slipway-test/busybox:latest";

/// Applets linked in the test image.
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "sleep", "true", "false", "mkdir", "rm", "cp", "env", "wget", "nc",
    "httpd", "ps", "kill", "grep", "sed", "printf", "test", "base64", "head", "tail", "wc", "seq",
];

fn docker_cli(args: &[&str]) -> std::process::Output {
    match Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!(
            "the docker command is missing ({e}); run scripts/test, which installs docker.io \
             and starts dockerd"
        ),
    }
}

/// Builds [`IMAGE`] from `/usr/bin/busybox` when the Docker host does not have it.
pub fn ensure_test_image() {
    if docker_cli(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "busybox is missing (needed to build the test image {IMAGE}); run scripts/test, \
                 which installs busybox-static"
            )
        });
    let bytes = std::fs::read(busybox).expect("read busybox");
    assert!(
        !has_interpreter(&bytes),
        "{} is dynamically linked and cannot run in an empty image; run scripts/test, which \
         installs busybox-static",
        busybox.display()
    );
    let root = tempfile::tempdir().expect("temp dir");
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    std::fs::create_dir_all(root.path().join("etc")).expect("mkdir etc");
    std::fs::create_dir_all(root.path().join("tmp")).expect("mkdir tmp");
    std::fs::write(bin.join("busybox"), &bytes).expect("copy busybox");
    std::fs::set_permissions(
        bin.join("busybox"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink applet");
    }
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("write passwd");
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tar");
    let archive = tar.stdout.take().expect("tar output");
    let imported = Command::new("docker")
        .args(["import", "-", IMAGE])
        .stdin(archive)
        .output()
        .expect("run docker import");
    assert!(
        tar.wait().expect("wait for tar").success(),
        "tar of the test image failed"
    );
    assert!(
        imported.status.success(),
        "docker import of the test image failed: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
}

/// Whether an ELF64 file names a program interpreter (`PT_INTERP`), i.e. is dynamically
/// linked and cannot run in an image without the C library.
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return true;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return true;
    };
    (0..usize::from(count)).any(|i| {
        let at = phoff + i * usize::from(size);
        elf.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    })
}

/// An executor on the Docker daemon for jobs working in `root`, with a short grace period.
pub async fn executor(root: &Path) -> DockerExecutor {
    let config = DockerConfig::default().grace(Duration::from_millis(500));
    match DockerExecutor::connect(LocalConfig::in_place(root), config).await {
        Ok(executor) => {
            ensure_test_image();
            executor
        }
        Err(e) => panic!(
            "these tests need a Docker daemon: {e}; run scripts/test, which installs docker.io \
             and starts dockerd"
        ),
    }
}

/// A run name unique to this test process and `test`, found again through the labels.
pub fn run_name(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// A request for a job in [`IMAGE`] without services.
pub fn request(run: &str) -> WorkspaceRequest {
    WorkspaceRequest {
        run: run.to_owned(),
        job_key: "job (docker)".to_owned(),
        container: Some(ContainerRequest {
            image: IMAGE.to_owned(),
            services: Vec::new(),
            cpus: Some(1.0),
            memory: Some(256 * 1024 * 1024),
            pull: PullPolicy::Never,
        }),
    }
}

pub async fn prepare(executor: &DockerExecutor, request: &WorkspaceRequest) -> DockerWorkspace {
    match executor.prepare(request).await {
        Ok(ws) => ws,
        Err(e) => panic!("prepare failed: {e}"),
    }
}

/// Names of containers (any state) labelled with `run`.
pub fn containers_of(run: &str) -> Vec<String> {
    listed(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=slipway.run={run}"),
        "--format",
        "{{.Names}}",
    ])
}

/// Names of networks labelled with `run`.
pub fn networks_of(run: &str) -> Vec<String> {
    listed(&[
        "network",
        "ls",
        "--filter",
        &format!("label=slipway.run={run}"),
        "--format",
        "{{.Name}}",
    ])
}

fn listed(args: &[&str]) -> Vec<String> {
    let output = docker_cli(args);
    assert!(output.status.success(), "docker {args:?} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Releases the workspace and checks that nothing labelled with `run` is left.
pub async fn release_and_check(ws: DockerWorkspace, run: &str) {
    ws.release().await;
    assert_eq!(containers_of(run), Vec::<String>::new(), "containers left");
    assert_eq!(networks_of(run), Vec::<String>::new(), "networks left");
}

/// Options of one step.
pub struct Step<'a> {
    pub script: &'a str,
    pub shell: Shell,
    pub env: Vec<(String, String)>,
    pub workdir: Option<&'a str>,
    pub timeout: Option<Duration>,
    pub image: Option<&'a str>,
    pub secrets: Vec<&'a str>,
}

impl<'a> Step<'a> {
    pub fn new(script: &'a str) -> Step<'a> {
        Step {
            script,
            shell: Shell::Bash,
            env: Vec::new(),
            workdir: None,
            timeout: None,
            image: None,
            secrets: Vec::new(),
        }
    }
}

pub struct Outcome {
    pub exit: StepExit,
    pub sink: VecSink,
}

pub async fn run(ws: &mut DockerWorkspace, step: &Step<'_>) -> Outcome {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    run_with_cancel(ws, step, &rx).await
}

pub async fn run_with_cancel(
    ws: &mut DockerWorkspace,
    step: &Step<'_>,
    cancel: &tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    let masker = SecretMasker::new(step.secrets.iter());
    let mut sink = VecSink::default();
    let cmd = StepCommand {
        script: step.script,
        shell: step.shell,
        env: &step.env,
        workdir: step.workdir,
        timeout: step.timeout,
        image: step.image,
    };
    let exit = ws.run_step(cmd, &masker, &mut sink, cancel).await;
    Outcome { exit, sink }
}
