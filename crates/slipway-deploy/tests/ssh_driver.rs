//! The ssh target driver against a real sshd on 127.0.0.1: each operation with the demo
//! service, commands, and the errors a user sees.

mod ssh_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use slipway_deploy::targets::ssh::SshDriver;
use slipway_spec::deploy::{Action, HealthProbe, ServiceDef};
use ssh_support::demo::{Lines, closed, demo_artifact, free_port, version_at};
use ssh_support::{HostDir, Sshd, demo_service, driver, release, target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_activate_deactivate_uninstall_the_demo_service() {
    let sshd = Sshd::start();
    let local = tempfile::tempdir().expect("tempdir");
    let host = HostDir::new();
    let ssh = sshd.ssh_target(&host.path());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let t = target("web-1", port, &ssh);
    let service = demo_service();
    let d = driver(&t, &service, local.path());
    let rel = release(&t, &service, demo_artifact(local.path(), "v1"), "v1");
    let on_host = rel.dir.clone();
    let mut log = Lines::default();

    d.install(&rel, &mut log).await.expect("install");
    let binary = on_host.join("bin/slipway-demo");
    let mode = std::fs::metadata(&binary)
        .expect("copied")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "the mode is kept");
    assert!(log.has("web-1: copied slipway-demo"), "{:?}", log.0);

    d.activate(&rel, &mut log).await.expect("activate");
    assert!(log.has("web-1: started pid"), "{:?}", log.0);
    assert_eq!(version_at(&addr).await.as_deref(), Some("v1"));
    let http = HealthProbe::Http {
        path: "/healthz".to_owned(),
    };
    d.probe(&http, Duration::from_secs(2), &rel)
        .await
        .expect("healthy over HTTP");
    let cmd = HealthProbe::Command(
        "test -s service.pid && [ \"$GREETING\" = \"it's \\$(not) expanded\" ]".to_owned(),
    );
    d.probe(&cmd, Duration::from_secs(5), &rel)
        .await
        .expect("healthy by command, in the release directory, with the service's env");
    // Activating a running release again starts nothing new.
    d.activate(&rel, &mut log).await.expect("activate again");
    assert!(log.has("already running"), "{:?}", log.0);

    d.deactivate(&rel, &mut log).await.expect("deactivate");
    assert!(log.has("stopped"), "{:?}", log.0);
    assert!(closed(&addr).await, "the service still answers after stop");
    let err = d
        .probe(&http, Duration::from_secs(2), &rel)
        .await
        .unwrap_err();
    assert!(err.contains(&addr), "{err}");
    // Stopping twice is not an error.
    d.deactivate(&rel, &mut log)
        .await
        .expect("deactivate again");

    d.uninstall(&rel, &mut log).await.expect("uninstall");
    assert!(!on_host.exists(), "{} was not removed", on_host.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_leaves_a_process_that_is_not_the_one_started() {
    let sshd = Sshd::start();
    let local = tempfile::tempdir().expect("tempdir");
    let host = HostDir::new();
    let ssh = sshd.ssh_target(&host.path());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let t = target("web-1", port, &ssh);
    let service = demo_service();
    let d = driver(&t, &service, local.path());
    let rel = release(&t, &service, demo_artifact(local.path(), "v1"), "v1");
    let pid_file = rel.dir.clone().join("service.pid");
    let mut log = Lines::default();
    d.install(&rel, &mut log).await.expect("install");
    d.activate(&rel, &mut log).await.expect("activate");
    assert_eq!(version_at(&addr).await.as_deref(), Some("v1"));

    // The pid now looks reused: same number, another start time.
    let real = std::fs::read_to_string(&pid_file).expect("pid file");
    let pid = real.split_whitespace().next().expect("pid").to_owned();
    std::fs::write(&pid_file, format!("{pid} 1\n")).expect("rewrite");
    d.deactivate(&rel, &mut log).await.expect("deactivate");
    assert!(log.has("has exited already"), "{:?}", log.0);
    assert_eq!(
        version_at(&addr).await.as_deref(),
        Some("v1"),
        "signalled anyway"
    );

    std::fs::write(&pid_file, real).expect("restore");
    d.deactivate(&rel, &mut log).await.expect("deactivate");
    assert!(closed(&addr).await);
    d.uninstall(&rel, &mut log).await.expect("uninstall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_see_the_release_env_and_failures_name_target_and_command() {
    let sshd = Sshd::start();
    let local = tempfile::tempdir().expect("tempdir");
    let host = HostDir::new();
    let ssh = sshd.ssh_target(&host.path());
    let t = target("web-2", free_port(), &ssh);
    let service = ServiceDef {
        install: Some(Action::Command(
            "printf '%s' \"$GREETING\" > greeting && echo \"installed $VERSION in $RELEASE_DIR\""
                .to_owned(),
        )),
        activate: Some(Action::Command("echo on stderr >&2; exit 3".to_owned())),
        deactivate: None,
        uninstall: None,
        health: None,
        env: vec![("GREETING".to_owned(), "it's $(id) `id`".to_owned())],
    };
    let d = driver(&t, &service, local.path());
    let rel = release(&t, &service, demo_artifact(local.path(), "v7"), "v7");
    let on_host = rel.dir.clone();
    let mut log = Lines::default();

    d.install(&rel, &mut log).await.expect("install");
    let greeting = std::fs::read_to_string(on_host.join("greeting")).expect("greeting");
    assert_eq!(greeting, "it's $(id) `id`");
    let expected = format!("web-2: installed v7 in {}", on_host.display());
    assert!(log.has(&expected), "{expected:?} not in {:?}", log.0);

    let err = d.activate(&rel, &mut log).await.unwrap_err().to_string();
    assert!(err.contains("web-2"), "{err}");
    assert!(err.contains("exited with 3"), "{err}");
    assert!(err.contains("on stderr"), "{err}");
    assert!(log.has("web-2: on stderr"), "{:?}", log.0);

    d.uninstall(&rel, &mut log).await.expect("uninstall");
    assert!(!on_host.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hosts_and_refused_keys_name_host_and_cause() {
    let sshd = Sshd::start();
    let local = tempfile::tempdir().expect("tempdir");
    let service = demo_service();
    let artifact = demo_artifact(local.path(), "v1");
    let host = HostDir::new();

    // Nothing listens.
    let mut ssh = sshd.ssh_target(&host.path());
    ssh.ssh_port = free_port();
    let t = target("web-3", free_port(), &ssh);
    let d = driver(&t, &service, local.path());
    let rel = release(&t, &service, artifact.clone(), "v1");
    let err = d
        .install(&rel, &mut Lines::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("web-3"), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{}", ssh.ssh_port)),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");

    // Something accepts but never speaks SSH: the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    ssh.ssh_port = silent.local_addr().expect("addr").port();
    let t = target("web-3", free_port(), &ssh);
    let d = SshDriver::new(&t, &ssh, &service, local.path())
        .expect("driver")
        .with_connect_timeout(Duration::from_secs(1));
    let err = d
        .install(&rel, &mut Lines::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{}", ssh.ssh_port)),
        "{err}"
    );
    assert!(err.contains("timed out"), "{err}");

    // A key the server does not accept.
    let mut ssh = sshd.ssh_target(&host.path());
    ssh.key = Some(sshd.path("other_key").display().to_string());
    let t = target("web-3", free_port(), &ssh);
    let d = driver(&t, &service, local.path());
    let err = d
        .install(&rel, &mut Lines::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("authentication failed"), "{err}");

    // An unknown host key under strict checking.
    let mut ssh = sshd.ssh_target(&host.path());
    let empty = local.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    ssh.known_hosts_file = Some(empty.display().to_string());
    let t = target("web-3", free_port(), &ssh);
    let d = driver(&t, &service, local.path());
    let err = d
        .install(&rel, &mut Lines::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("host key unknown"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_before_connecting() {
    let sshd = Sshd::start();
    let local = tempfile::tempdir().expect("tempdir");
    let host = HostDir::new();
    let ssh = sshd.ssh_target(&host.path());
    let t = target("web-4", free_port(), &ssh);
    let mut service = demo_service();
    service.install = Some(Action::Stop);
    let err = SshDriver::new(&t, &ssh, &service, local.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("web-4") && err.contains("install: stop"),
        "{err}"
    );
    service.install = Some(Action::Copy {
        to: "../../escape".to_owned(),
    });
    let err = SshDriver::new(&t, &ssh, &service, local.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no `..`"), "{err}");

    // A release directory outside DIR/releases is never touched (remove would reach it).
    let service = demo_service();
    let d = driver(&t, &service, local.path());
    let mut rel = release(&t, &service, demo_artifact(local.path(), "v1"), "v1");
    rel.dir = format!("{}/../..", ssh.dir).into();
    let err = d
        .uninstall(&rel, &mut Lines::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not under"), "{err}");
}
