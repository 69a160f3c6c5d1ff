//! The docker target driver against the real Docker engine: each operation with an image of
//! the demo service, and a missing image.

mod docker_support;

use std::time::Duration;

use docker_support::demo::{Lines, closed, free_port, version_at};
use docker_support::{
    containers_of, demo_image, demo_service, driver, env_dir, label, release, remove_containers_of,
    target,
};
use slipway_deploy::Artifact;
use slipway_spec::deploy::{Action, HealthProbe};

/// Removes the environment's containers even when the test fails.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_containers_of(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_activate_deactivate_uninstall_the_demo_image() {
    let root = tempfile::tempdir().expect("tempdir");
    let env = env_dir(root.path(), "life");
    let env_name = env
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let _cleanup = Cleanup(env_name.clone());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let t = target("web-1", port);
    let service = demo_service();
    let d = driver(&t, &service, &env);
    let image = demo_image("v1");
    let rel = release(&t, &service, image.clone(), "v1");
    let mut log = Lines::default();

    d.install(&rel, &mut log).await.expect("install");
    assert!(log.has("is on the Docker host"), "{:?}", log.0);

    d.activate(&rel, &mut log).await.expect("activate");
    assert_eq!(version_at(&addr).await.as_deref(), Some("v1"));
    let name = d.container_name(image.digest());
    assert!(
        name.starts_with(&format!("slipway-{env_name}-web-1-")),
        "{name}"
    );
    assert_eq!(containers_of(&env_name), vec![name.clone()]);
    assert_eq!(label(&name, "slipway.target"), "web-1");
    assert_eq!(label(&name, "slipway.digest"), image.digest());
    let http = HealthProbe::Http {
        path: "/healthz".to_owned(),
    };
    d.probe(&http, Duration::from_secs(2), &rel)
        .await
        .expect("healthy");
    // A command probe runs here, with DOCKER_HOST set for the docker CLI.
    let cmd = HealthProbe::Command(format!(
        "[ \"$DOCKER_HOST\" = unix:///var/run/docker.sock ] && docker inspect {name} >/dev/null"
    ));
    d.probe(&cmd, Duration::from_secs(10), &rel)
        .await
        .expect("command probe");
    let failing = HealthProbe::Command("echo not yet; exit 1".to_owned());
    let err = d
        .probe(&failing, Duration::from_secs(10), &rel)
        .await
        .unwrap_err();
    assert!(
        err.contains("exited with 1") && err.contains("not yet"),
        "{err}"
    );

    d.deactivate(&rel, &mut log).await.expect("deactivate");
    assert!(closed(&addr).await, "the container still answers");
    assert_eq!(containers_of(&env_name), Vec::<String>::new());
    assert!(d.probe(&http, Duration::from_secs(2), &rel).await.is_err());
    d.deactivate(&rel, &mut log)
        .await
        .expect("deactivate again is not an error");

    d.uninstall(&rel, &mut log).await.expect("uninstall");
    assert!(log.has("image stays"), "{:?}", log.0);
    // Still installable: uninstall leaves the image.
    d.install(&rel, &mut log)
        .await
        .expect("install after uninstall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_replaces_the_old_on_the_same_port() {
    let root = tempfile::tempdir().expect("tempdir");
    let env = env_dir(root.path(), "swap");
    let env_name = env
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let _cleanup = Cleanup(env_name.clone());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let t = target("web-2", port);
    let service = demo_service();
    let d = driver(&t, &service, &env);
    let v1 = release(&t, &service, demo_image("v1"), "v1");
    let v2 = release(&t, &service, demo_image("v2"), "v2");
    assert_ne!(v1.artifact.digest(), v2.artifact.digest());
    let mut log = Lines::default();
    d.install(&v1, &mut log).await.expect("install v1");
    d.activate(&v1, &mut log).await.expect("activate v1");
    assert_eq!(version_at(&addr).await.as_deref(), Some("v1"));
    d.deactivate(&v1, &mut log).await.expect("deactivate v1");
    d.uninstall(&v1, &mut log).await.expect("uninstall v1");
    d.install(&v2, &mut log).await.expect("install v2");
    d.activate(&v2, &mut log).await.expect("activate v2");
    assert_eq!(version_at(&addr).await.as_deref(), Some("v2"));
    d.deactivate(&v2, &mut log).await.expect("deactivate v2");
    assert!(closed(&addr).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_and_wrong_actions_are_errors_that_say_so() {
    let root = tempfile::tempdir().expect("tempdir");
    let env = env_dir(root.path(), "missing");
    let t = target("web-3", free_port());
    let service = demo_service();
    let d = driver(&t, &service, &env);
    docker_support::require_docker();
    let absent = Artifact::Image {
        reference: "slipway-test/absent:1".to_owned(),
        digest: format!("sha256:{}", "0".repeat(64)),
    };
    let rel = release(&t, &service, absent, "v1");
    let err = d
        .install(&rel, &mut Lines::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("web-3"), "{err}");
    assert!(err.contains("slipway-test/absent:1"), "{err}");
    assert!(err.contains("is not on the Docker host"), "{err}");
    assert!(err.contains("docker load"), "{err}");

    let slipway_spec::deploy::TargetKind::Docker(docker) = &t.kind else {
        panic!("docker target")
    };
    let mut copy = demo_service();
    copy.install = Some(Action::Copy {
        to: "bin/app".to_owned(),
    });
    let err = slipway_deploy::targets::docker::DockerDriver::new(&t, docker, &copy, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("web-3") && err.contains("install: copy"),
        "{err}"
    );

    let mut no_port = t.clone();
    no_port.port = None;
    let err = slipway_deploy::targets::docker::DockerDriver::new(&no_port, docker, &service, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("port"), "{err}");
}
