//! The connection to the Docker Engine, names and labels of the objects Slipway creates, and
//! removing them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptions;
use slipway_engine::ports::ExecError;

/// Label on every object Slipway creates.
pub(crate) const LABEL_MANAGED: &str = "slipway.managed";
/// The run an object belongs to.
pub(crate) const LABEL_RUN: &str = "slipway.run";
/// The job instance key an object belongs to.
pub(crate) const LABEL_JOB: &str = "slipway.job";
/// `<pid>:<start time>` of the process that created the object, so that a sweep can tell
/// whether its owner still lives.
pub(crate) const LABEL_OWNER: &str = "slipway.owner";

/// Seconds a single API request may take before it fails (an exec's output stream is not
/// bounded by it: only the wait for the response headers is).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Connects to the daemon at `socket` (a path or `unix://` URL; `None`: `$DOCKER_HOST` if it
/// names a Unix socket, else `/var/run/docker.sock`) and agrees on an API version both sides
/// speak: Debian's docker.io 20.10 stops at 1.41.
pub(crate) async fn connect(socket: Option<&str>) -> Result<Docker, ExecError> {
    let docker = match socket {
        Some(socket) => {
            Docker::connect_with_unix(socket, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        }
        None => Docker::connect_with_unix_defaults(),
    }
    .map_err(|e| ExecError(format!("cannot reach the Docker daemon: {e}")))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| ExecError(format!("cannot reach the Docker daemon: {e}")))
}

/// True when the daemon answered 404: the object is gone already.
pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// This process as `<pid>:<start time>`, the value of [`LABEL_OWNER`].
pub(crate) fn owner_identity() -> String {
    let pid = std::process::id();
    let start = i32::try_from(pid)
        .ok()
        .and_then(crate::process::proc_stat)
        .map_or(0, |stat| stat.start_time);
    format!("{pid}:{start}")
}

/// Whether the process named by an owner label still runs: the pid exists and started at the
/// recorded time. A label that cannot be read counts as alive: nothing is removed on a guess.
pub(crate) fn owner_alive(owner: &str) -> bool {
    let Some((pid, start)) = owner.split_once(':') else {
        return true;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    crate::process::proc_stat(pid).is_some_and(|stat| stat.start_time == start && stat.is_live())
}

/// The labels of every object of one job.
pub(crate) fn job_labels(run: &str, job_key: &str, owner: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_MANAGED.to_owned(), "true".to_owned()),
        (LABEL_RUN.to_owned(), run.to_owned()),
        (LABEL_JOB.to_owned(), job_key.to_owned()),
        (LABEL_OWNER.to_owned(), owner.to_owned()),
    ])
}

/// `slipway-<run>-<job>-<8 hex>`: readable in `docker ps`, unique across agents and runs.
pub(crate) fn job_prefix(run: &str, job_key: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = blake3::Hasher::new();
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&NEXT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let random = hasher.finalize().to_hex();
    format!(
        "slipway-{}-{}-{}",
        crate::checkout::sanitise(run),
        crate::checkout::sanitise(job_key),
        random.get(..8).unwrap_or_default()
    )
}

/// Removes a container with its anonymous volumes, killing it if it runs. Gone already is fine;
/// another failure is returned for the caller to report.
pub(crate) async fn remove_container(docker: &Docker, id: &str) -> Result<(), String> {
    let options = RemoveContainerOptions {
        v: true,
        force: true,
        link: false,
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // A removal already under way (e.g. a concurrent sweep) finishes by itself.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(format!("cannot remove container {id}: {e}")),
    }
}

/// Removes a network. Gone already is fine.
pub(crate) async fn remove_network(docker: &Docker, id: &str) -> Result<(), String> {
    match docker.remove_network(id).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(format!("cannot remove network {id}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_labels_name_live_and_dead_processes() {
        assert!(owner_alive(&owner_identity()));
        // Same pid, another start time: the pid was reused.
        let pid = std::process::id();
        assert!(!owner_alive(&format!("{pid}:1")));
        // Above the kernel's pid limit, so never a live process.
        assert!(!owner_alive("2147483646:5"));
        // Unreadable labels are left alone.
        assert!(owner_alive("garbage"));
        assert!(owner_alive("-1:5"));
    }

    #[test]
    fn job_prefixes_are_valid_names_and_unique() {
        let a = job_prefix("12", "test (linux, 1)");
        let b = job_prefix("12", "test (linux, 1)");
        assert_ne!(a, b);
        assert!(a.starts_with("slipway-12-test__linux__1_-"));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        );
    }
}
