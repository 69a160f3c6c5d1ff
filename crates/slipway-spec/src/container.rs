//! Reads where a job runs: `runs-on`, and the keys of a `runs-on: docker` job (`image`,
//! `services`, `resources`, `pull`) and of its steps (`image`).
//!
//! The container keys make sense only in a container job. Given to a job that runs locally
//! they are errors that say to add `runs-on: docker`; given to a job whose `runs-on` is itself
//! wrong they are not checked against it, so one typo gives one error.

use std::time::Duration;

use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::fields::Field;
use crate::model::{DockerJob, HealthCheck, PullPolicy, Resources, RunsOn, Service};
use crate::pipeline::env;
use crate::schema::{HEALTH_KEYS, RESOURCE_KEYS, SERVICE_KEYS};
use crate::suggest::closest;
use crate::yaml::{Key, Node, NodeKind};

/// Fewest CPUs a container may be given (Docker's own minimum).
pub(crate) const MIN_CPUS: f64 = 0.01;
/// Most CPUs a container may be given; keeps the nano-CPU count Docker takes far from overflow.
pub(crate) const MAX_CPUS: f64 = 1024.0;
/// Smallest memory limit Docker accepts: 6 MiB.
pub(crate) const MIN_MEMORY: u64 = 6 * 1024 * 1024;
/// Largest memory limit: Docker counts bytes in a signed 64-bit integer.
const MAX_MEMORY: u64 = i64::MAX.unsigned_abs();
/// Service names are DNS labels, since the job reaches a service by its name.
pub(crate) const SERVICE_NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys of a job that only a `runs-on: docker` job may have.
const DOCKER_ONLY_KEYS: [&str; 4] = ["image", "services", "resources", "pull"];
const PULL_POLICIES: [&str; 3] = ["if-missing", "always", "never"];

/// What a job's `runs-on` asks for, read before its steps so that a step's `image` can be
/// checked against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// No `runs-on`: local.
    Unset,
    /// `runs-on: local`.
    Local,
    /// `runs-on: docker`.
    Docker,
    /// A `runs-on` value that is wrong (already reported).
    Invalid,
}

/// Reads `runs-on` of a job, reporting an unknown value.
pub(crate) fn placement(c: &mut Checker<'_>, entries: &[(Key, Node)]) -> Placement {
    let Some((_, node)) = entries.iter().find(|(k, _)| k.name == "runs-on") else {
        return Placement::Unset;
    };
    let Some(text) = c.text(node, "`runs-on`") else {
        return Placement::Invalid;
    };
    match text.as_str() {
        "local" => Placement::Local,
        "docker" => Placement::Docker,
        other => {
            let help = match closest(other, ["local", "docker"]) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use `local` (the default) or `docker`".to_string(),
            };
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("unknown `runs-on` value `{other}`"),
                )
                .help(help),
            );
            Placement::Invalid
        }
    }
}

/// Reads the container keys of a job into its [`RunsOn`]. `Local` when the job runs
/// locally or when its container settings have errors (which are then in the checker).
pub(crate) fn runs_on(
    c: &mut Checker<'_>,
    entries: &[(Key, Node)],
    placement: Placement,
) -> RunsOn {
    match placement {
        Placement::Docker => docker_job(c, entries).map_or(RunsOn::Local, RunsOn::Docker),
        Placement::Unset | Placement::Local => {
            for (key, _) in entries {
                if DOCKER_ONLY_KEYS.contains(&key.name.as_str()) {
                    not_in_container(c, key, placement, false);
                }
            }
            RunsOn::Local
        }
        Placement::Invalid => RunsOn::Local,
    }
}

/// Reads a step's `image`, which only a step of a `runs-on: docker` job may have.
pub(crate) fn step_image(
    c: &mut Checker<'_>,
    key: &Key,
    node: &Node,
    placement: Placement,
) -> Option<String> {
    match placement {
        Placement::Docker => image(c, node, "a step's `image`"),
        Placement::Unset | Placement::Local => {
            not_in_container(c, key, placement, true);
            None
        }
        Placement::Invalid => None,
    }
}

/// Reports a container key in a job that does not run in a container. `in_step` for a
/// step's `image`.
fn not_in_container(c: &mut Checker<'_>, key: &Key, placement: Placement, in_step: bool) {
    let (what, remove) = if in_step {
        (
            "a step's `image`".to_string(),
            "the step's `image`".to_string(),
        )
    } else {
        (format!("`{}`", key.name), format!("`{}`", key.name))
    };
    // Every container key but the job's `image` itself is no use without that `image`.
    let with_image = if !in_step && key.name == "image" {
        ""
    } else {
        " (with an `image:`)"
    };
    let (message, help) = if placement == Placement::Local {
        (
            format!("{what} does not apply to a `runs-on: local` job"),
            format!("change the job to `runs-on: docker`{with_image}, or remove {remove}"),
        )
    } else {
        (
            format!("{what} applies only to a `runs-on: docker` job"),
            format!("add `runs-on: docker` to the job{with_image}, or remove {remove}"),
        )
    };
    c.push(Diagnostic::new(key.span, key.name.chars().count(), message).help(help));
}

fn docker_job(c: &mut Checker<'_>, entries: &[(Key, Node)]) -> Option<DockerJob> {
    let (runs_on_key, runs_on_node) = entries.iter().find(|(k, _)| k.name == "runs-on")?;
    let mut image_ref = None;
    let mut has_image = false;
    let mut job = DockerJob {
        image: String::new(),
        services: Vec::new(),
        resources: Resources::default(),
        pull: PullPolicy::IfMissing,
        span: runs_on_key.span,
    };
    for (key, value) in entries {
        match key.name.as_str() {
            "image" => {
                has_image = true;
                image_ref = image(c, value, "`image`");
            }
            "services" => job.services = services(c, value),
            "resources" => job.resources = resources(c, value),
            "pull" => job.pull = pull(c, value).unwrap_or_default(),
            _ => {}
        }
    }
    if !has_image {
        c.push(
            Diagnostic::new(
                runs_on_node.span,
                runs_on_node.width(),
                "a `runs-on: docker` job is missing the required key `image`",
            )
            .help("add `image:` naming the image its steps run in, e.g. `image: rust:1.95`"),
        );
    }
    job.image = image_ref?;
    Some(job)
}

/// An image reference: checked for the mistakes Docker would only report when the job runs.
pub(crate) fn image(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<String> {
    let text = c.text(node, what)?;
    let problem = if text.is_empty() {
        Some((
            format!("{what} is empty"),
            "name an image, e.g. `alpine:3.20`",
        ))
    } else if text.contains("${{") {
        Some((
            format!("image `{text}` contains an expression"),
            "write the image name as it is; expressions are not evaluated in `image`",
        ))
    } else if text.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        Some((
            format!("image `{text}` contains whitespace"),
            "an image reference is one word: `name`, `name:tag` or `registry/name:tag`",
        ))
    } else if repository_has_uppercase(&text) {
        Some((
            format!("image `{text}` has upper-case letters in its repository name"),
            "Docker repository names are lower-case: write the name (not the tag) in lower case",
        ))
    } else {
        None
    };
    match problem {
        None => Some(text),
        Some((message, help)) => {
            c.push(Diagnostic::new(node.span, node.width(), message).help(help));
            None
        }
    }
}

/// Whether the repository path of an image reference (not its registry host, tag or digest,
/// which may use upper case) has an upper-case letter.
fn repository_has_uppercase(reference: &str) -> bool {
    let name = reference.split('@').next().unwrap_or(reference);
    let mut components: Vec<&str> = name.split('/').collect();
    if let Some(last) = components.last_mut() {
        *last = last.split(':').next().unwrap_or(last);
    }
    let host = components.len() > 1
        && components
            .first()
            .is_some_and(|first| first.contains(['.', ':']) || *first == "localhost");
    components
        .iter()
        .skip(usize::from(host))
        .any(|part| part.chars().any(|ch| ch.is_ascii_uppercase()))
}

/// `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 63 characters: a DNS label.
fn is_service_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=63).contains(&bytes.len())
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

fn services(c: &mut Checker<'_>, node: &Node) -> Vec<Service> {
    // Names are unique already: the YAML reader refuses a key written twice in one map.
    let entries = c.optional_map(node, "`services`");
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if !is_service_name(&key.name) {
            c.push(
                Diagnostic::new(
                    key.span,
                    key.name.chars().count(),
                    format!("invalid service name `{}`", key.name),
                )
                .help("the job reaches a service by its name, so it must be a host name: 1 to 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
            );
        }
        if let Some(service) = service(c, key, value) {
            out.push(service);
        }
    }
    out
}

fn service(c: &mut Checker<'_>, name: &Key, node: &Node) -> Option<Service> {
    let what = format!("service `{}`", name.name);
    let NodeKind::Map(entries) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("expected a map for {what}, found {}", node.describe()),
            )
            .help(format!(
                "write the service as a map with its image, e.g. `{}: {{image: postgres:16}}`",
                name.name
            )),
        );
        return None;
    };
    c.check_keys(entries, SERVICE_KEYS, "a service");
    let mut image_ref = None;
    let mut has_image = false;
    let mut service = Service {
        name: name.name.clone(),
        image: String::new(),
        env: Vec::new(),
        command: None,
        health: None,
        span: name.span,
    };
    for (key, value) in entries {
        match key.name.as_str() {
            "image" => {
                has_image = true;
                image_ref = image(c, value, "`image`");
            }
            "env" => service.env = env(c, value, Field::ServiceEnv),
            "command" => service.command = command(c, value),
            "health" => service.health = health(c, key, value),
            _ => {}
        }
    }
    if !has_image {
        c.push(
            Diagnostic::new(
                name.span,
                name.name.chars().count(),
                format!("{what} is missing the required key `image`"),
            )
            .help("add `image:` naming the service's image, e.g. `image: postgres:16`"),
        );
    }
    service.image = image_ref?;
    Some(service)
}

/// `command:`: a string is a shell command, run as `sh -c <string>`; a list is the program
/// and its arguments, taken as they are.
fn command(c: &mut Checker<'_>, node: &Node) -> Option<Vec<String>> {
    let words = match &node.kind {
        NodeKind::Seq(items) => {
            if items.is_empty() {
                c.push(
                    Diagnostic::new(node.span, node.width(), "`command` is an empty list")
                        .help("list the program and its arguments, e.g. `[redis-server, --port, \"6380\"]`, or remove `command` to keep the image's own"),
                );
                return None;
            }
            let words: Vec<String> = c
                .string_list(node, "`command`")
                .into_iter()
                .map(|(word, _, _)| word)
                .collect();
            // An item of the wrong type was reported and left out.
            (words.len() == items.len()).then_some(words)?
        }
        NodeKind::Str(_) | NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => {
            let script = c.text(node, "`command`")?;
            if script.trim().is_empty() {
                c.push(
                    Diagnostic::new(node.span, node.width(), "`command` is empty")
                        .help("write the command the service runs, or remove `command` to keep the image's own"),
                );
                return None;
            }
            vec!["sh".to_string(), "-c".to_string(), script]
        }
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a string or a list of strings for `command`, found {}",
                        node.describe()
                    ),
                )
                .help("write `command: redis-server --port 6380` (run by `sh -c`) or `command: [redis-server, --port, \"6380\"]`"),
            );
            return None;
        }
    };
    Some(words)
}

fn health(c: &mut Checker<'_>, key: &Key, node: &Node) -> Option<HealthCheck> {
    let NodeKind::Map(entries) = &node.kind else {
        let example = match &node.kind {
            NodeKind::Str(cmd) => format!("`health: {{cmd: {cmd}}}`"),
            _ => "`health: {cmd: pg_isready}`".to_string(),
        };
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("expected a map for `health`, found {}", node.describe()),
            )
            .help(format!(
                "write the check as a map with its command: {example}"
            )),
        );
        return None;
    };
    c.check_keys(entries, HEALTH_KEYS, "`health`");
    // Each key is read even after an error in another, so that all errors are reported.
    let mut cmd = None;
    let mut interval = Some(DEFAULT_HEALTH_INTERVAL);
    let mut timeout = Some(DEFAULT_HEALTH_TIMEOUT);
    for (k, value) in entries {
        match k.name.as_str() {
            "cmd" => cmd = Some(health_cmd(c, value)),
            "interval" => interval = positive_duration(c, value, "`health.interval`"),
            "timeout" => timeout = positive_duration(c, value, "`health.timeout`"),
            _ => {}
        }
    }
    let Some(cmd) = cmd else {
        c.push(
            Diagnostic::new(key.span, key.name.chars().count(), "`health` is missing the required key `cmd`")
                .help("add `cmd:` with a command that exits 0 once the service is ready, e.g. `cmd: pg_isready`"),
        );
        return None;
    };
    Some(HealthCheck {
        cmd: cmd?,
        interval: interval?,
        timeout: timeout?,
    })
}

fn health_cmd(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let cmd = c.text(node, "`health.cmd`")?;
    if cmd.trim().is_empty() {
        c.push(
            Diagnostic::new(node.span, node.width(), "`health.cmd` is empty").help(
                "write a command that exits 0 once the service is ready, e.g. `cmd: pg_isready`",
            ),
        );
        return None;
    }
    Some(cmd)
}

fn positive_duration(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<Duration> {
    let duration = c.duration(node, what)?;
    if duration.is_zero() {
        c.push(
            Diagnostic::new(node.span, node.width(), format!("{what} cannot be zero"))
                .help("use at least one second, e.g. `1s`"),
        );
        return None;
    }
    Some(duration)
}

fn resources(c: &mut Checker<'_>, node: &Node) -> Resources {
    let entries = c.optional_map(node, "`resources`");
    c.check_keys(entries, RESOURCE_KEYS, "`resources`");
    let mut resources = Resources::default();
    for (key, value) in entries {
        match key.name.as_str() {
            "cpus" => resources.cpus = cpus(c, value),
            "memory" => resources.memory = memory(c, value),
            _ => {}
        }
    }
    resources
}

fn cpus(c: &mut Checker<'_>, node: &Node) -> Option<f64> {
    let count = match node.kind {
        NodeKind::Int(n) => n as f64,
        NodeKind::Float(f) => f,
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("expected a number for `cpus`, found {}", node.describe()),
                )
                .help("write the number of CPUs without quotes, e.g. `cpus: 1.5`"),
            );
            return None;
        }
    };
    if (MIN_CPUS..=MAX_CPUS).contains(&count) {
        return Some(count);
    }
    let shown = c.source.raw(node).unwrap_or("this value").to_string();
    c.push(
        Diagnostic::new(
            node.span,
            node.width(),
            format!("`cpus: {shown}` is out of range"),
        )
        .help(format!(
            "use a number of CPUs from {MIN_CPUS} to {MAX_CPUS}, e.g. `cpus: 1.5`"
        )),
    );
    None
}

fn memory(c: &mut Checker<'_>, node: &Node) -> Option<u64> {
    let bytes = match &node.kind {
        NodeKind::Int(n) => u128::try_from(*n).ok(),
        NodeKind::Str(s) => parse_memory(s),
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a number of bytes or a size such as `512m` for `memory`, found {}",
                        node.describe()
                    ),
                )
                .help("write e.g. `memory: 512m` or `memory: 2g`"),
            );
            return None;
        }
    };
    let shown = c.source.raw(node).unwrap_or("this value").to_string();
    match bytes {
        Some(bytes) if (u128::from(MIN_MEMORY)..=u128::from(MAX_MEMORY)).contains(&bytes) => {
            u64::try_from(bytes).ok()
        }
        Some(bytes) if bytes < u128::from(MIN_MEMORY) => {
            let help = if bytes > 0 && matches!(node.kind, NodeKind::Int(_)) {
                format!("a plain number is bytes; for megabytes write `{shown}m`")
            } else {
                "Docker refuses smaller limits; give at least `6m`".to_string()
            };
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("memory limit `{shown}` is below Docker's minimum of 6 MiB"),
                )
                .help(help),
            );
            None
        }
        Some(_) => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("memory limit `{shown}` is too large"),
                )
                .help(
                    "Docker counts memory in a signed 64-bit number of bytes; give a smaller limit",
                ),
            );
            None
        }
        None => {
            c.push(
                Diagnostic::new(node.span, node.width(), format!("invalid memory size `{shown}`"))
                    .help("write a number of bytes, or a number with the unit k, m, g or t (powers of 1024): `512m`, `2g`, `1.5g`"),
            );
            None
        }
    }
}

/// `1024`, `512k`, `512m`, `2g`, `1.5g`, `1t`; the unit case-insensitive and optionally
/// followed by `i` and `b` (`512MiB`, `512mb`), one space allowed before it, as Docker reads
/// memory sizes. Units are powers of 1024. `None` if malformed (or beyond even `u128`).
pub(crate) fn parse_memory(text: &str) -> Option<u128> {
    let text = text.trim();
    let digits_end = text
        .find(|ch: char| !ch.is_ascii_digit() && ch != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" | "ki" => 10,
        "m" | "mi" => 20,
        "g" | "gi" => 30,
        "t" | "ti" => 40,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.len() > 9 {
        return None;
    }
    let unit_bytes = 1u128 << shift;
    let whole: u128 = whole.parse().ok()?;
    let mut bytes = whole.checked_mul(unit_bytes)?;
    if !fraction.is_empty() {
        let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
        let parts: u128 = fraction.parse().ok()?;
        bytes = bytes.checked_add(parts * unit_bytes / scale)?;
    }
    Some(bytes)
}

fn pull(c: &mut Checker<'_>, node: &Node) -> Option<PullPolicy> {
    let text = c.text(node, "`pull`")?;
    match text.as_str() {
        "if-missing" => Some(PullPolicy::IfMissing),
        "always" => Some(PullPolicy::Always),
        "never" => Some(PullPolicy::Never),
        other => {
            let help = match closest(other, PULL_POLICIES) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use `if-missing` (the default), `always` or `never`".to_string(),
            };
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("unknown `pull` policy `{other}`"),
                )
                .help(help),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("1024"), Some(1024));
        assert_eq!(parse_memory("1024k"), Some(1024 * 1024));
        assert_eq!(parse_memory("512m"), Some(512 << 20));
        assert_eq!(parse_memory("512M"), Some(512 << 20));
        assert_eq!(parse_memory("512MiB"), Some(512 << 20));
        assert_eq!(parse_memory("512 mb"), Some(512 << 20));
        assert_eq!(parse_memory("2g"), Some(2 << 30));
        assert_eq!(parse_memory("1.5g"), Some(3 << 29));
        assert_eq!(parse_memory("1t"), Some(1 << 40));
        assert_eq!(parse_memory("10b"), Some(10));
        assert_eq!(parse_memory("99999999t"), Some(99_999_999 << 40));
        for bad in [
            "",
            "m",
            "1.m",
            ".5g",
            "1..5g",
            "1.2.3g",
            "2x",
            "2gg",
            "-1m",
            "1 1m",
            "2  g",
            "99999999999999999999999999999999999999999g",
            "999999999999999999999999999999999t",
            "1ib",
            "1.0000000001g",
        ] {
            assert_eq!(parse_memory(bad), None, "{bad}");
        }
    }

    #[test]
    fn service_names_are_dns_labels() {
        for good in ["db", "web", "redis-6", "a", "0", &"a".repeat(63)] {
            assert!(is_service_name(good), "{good}");
        }
        for bad in [
            "",
            "-db",
            "db-",
            "Db",
            "my_db",
            "db.local",
            "dé",
            &"a".repeat(64),
        ] {
            assert!(!is_service_name(bad), "{bad}");
        }
    }

    #[test]
    fn upper_case_only_counts_in_the_repository_path() {
        assert!(repository_has_uppercase("MyApp"));
        assert!(repository_has_uppercase("library/MyApp:1"));
        assert!(repository_has_uppercase("registry.example:5000/Team/app"));
        assert!(!repository_has_uppercase("Registry.Example/team/app:V1"));
        assert!(!repository_has_uppercase("app:Latest"));
        assert!(!repository_has_uppercase("localhost:5000/app@sha256:ABC"));
        assert!(!repository_has_uppercase("localhost/app"));
    }
}
