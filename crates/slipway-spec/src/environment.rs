//! Reads an environment file (`.slipway/environments/NAME.yml`): its top level and its
//! targets. `service:` and `load_balancer:` are read by [`crate::service`], `requires:` and
//! `freeze:` by [`crate::freeze`].
//!
//! Every problem is reported and reading goes on, as for pipelines. Keys that belong to
//! another target kind are errors that name the kind they belong to; when the `kind` itself
//! is wrong they are not checked against it, so one typo gives one error.

use crate::check::Checker;
use crate::deploy::{
    DockerTarget, Environment, Group, KnownHosts, ServiceDef, SshTarget, Target, TargetKind,
};
use crate::diagnostic::Diagnostic;
use crate::model::Span;
use crate::schema_deploy::{
    DOCKER_ONLY_KEYS, ENVIRONMENT_KEYS, SSH_ONLY_KEYS, TARGET_KEYS, TARGET_KINDS,
};
use crate::suggest::closest;
use crate::yaml::{Key, Node, NodeKind};
use crate::{freeze, service};

/// Default directory of releases on an ssh host, relative to the user's home.
const DEFAULT_SSH_DIR: &str = ".slipway/deploy";
const NAME_HELP: &str =
    "a name starts with a letter or digit and contains only letters, digits, `.`, `_` and `-`";

/// Reads the whole document. Errors are left in the checker.
pub(crate) fn read(c: &mut Checker<'_>, root: &Node, name: &str, file: &str) -> Environment {
    let mut environment = Environment {
        name: name.to_string(),
        file: file.to_string(),
        targets: Vec::new(),
        service: ServiceDef::default(),
        load_balancer: None,
        parallelism: 1,
        requires: Vec::new(),
        freeze: Vec::new(),
    };
    if !is_name(name) {
        c.push(
            Diagnostic::new(
                Span { line: 1, col: 1 },
                0,
                format!("invalid environment name `{name}`"),
            )
            .help(format!(
                "rename the file: the name is the file's stem, and {NAME_HELP}"
            )),
        );
    }
    let Some(entries) = c.map(root, "the environment file") else {
        return environment;
    };
    c.check_keys(entries, ENVIRONMENT_KEYS, "the environment file");
    let mut targets_node = None;
    let mut service_node = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "targets" => targets_node = Some(value),
            "service" => service_node = Some(value),
            "load_balancer" => environment.load_balancer = service::load_balancer(c, value),
            "parallelism" => {
                environment.parallelism = positive(c, value, "`parallelism`").unwrap_or(1)
            }
            "requires" => environment.requires = freeze::requires(c, value, name),
            "freeze" => environment.freeze = freeze::windows(c, value),
            _ => {}
        }
    }
    match targets_node {
        Some(node) => environment.targets = targets(c, node),
        None => c.missing(
            root,
            "targets",
            "the environment file",
            "add `targets:` with at least one `- {name: web-1, kind: local, port: 9101}`",
        ),
    }
    if let Some(node) = service_node {
        environment.service = service::read(c, node, &environment.targets);
    }
    environment
}

/// `[A-Za-z0-9][A-Za-z0-9._-]*`: environment and target names.
pub(crate) fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A name as [`is_name`] wants it, or an error naming `what`.
pub(crate) fn name(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<String> {
    let text = c.text(node, what)?;
    if is_name(&text) {
        return Some(text);
    }
    c.push(
        Diagnostic::new(node.span, node.width(), format!("invalid {what} `{text}`"))
            .help(NAME_HELP),
    );
    None
}

/// A whole number of at least 1.
pub(crate) fn positive(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<usize> {
    in_range(c, node, what, 1, i64::from(u32::MAX)).and_then(|n| usize::try_from(n).ok())
}

/// A whole number from `min` to `max`, or an error saying which range.
pub(crate) fn in_range(
    c: &mut Checker<'_>,
    node: &Node,
    what: &str,
    min: i64,
    max: i64,
) -> Option<i64> {
    match node.kind {
        NodeKind::Int(n) if (min..=max).contains(&n) => Some(n),
        NodeKind::Int(n) => {
            let range = if max == i64::from(u32::MAX) {
                format!("at least {min}")
            } else {
                format!("from {min} to {max}")
            };
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("{what} must be {range}, found {n}"),
                )
                .help(format!("write a whole number {range}")),
            );
            None
        }
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a whole number for {what}, found {}",
                        node.describe()
                    ),
                )
                .help(format!("write {what} as a number without quotes")),
            );
            None
        }
    }
}

/// A TCP port, 1 to 65535.
pub(crate) fn port(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<u16> {
    in_range(c, node, what, 1, 65535).and_then(|n| u16::try_from(n).ok())
}

/// A string that is one word: not empty, no whitespace.
pub(crate) fn word(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<String> {
    let text = c.text(node, what)?;
    let problem = if text.is_empty() {
        format!("{what} is empty")
    } else if text.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        format!("{what} `{text}` contains whitespace")
    } else {
        return Some(text);
    };
    c.push(
        Diagnostic::new(node.span, node.width(), problem).help(format!("write {what} as one word")),
    );
    None
}

fn targets(c: &mut Checker<'_>, node: &Node) -> Vec<Target> {
    let NodeKind::Seq(items) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!(
                    "expected a list of targets for `targets`, found {}",
                    node.describe()
                ),
            )
            .help("write each target as a list item: `- {name: web-1, kind: local, port: 9101}`"),
        );
        return Vec::new();
    };
    if items.is_empty() {
        c.push(
            Diagnostic::new(node.span, node.width(), "`targets` is empty")
                .help("add at least one target, e.g. `- {name: web-1, kind: local, port: 9101}`"),
        );
    }
    let mut out: Vec<Target> = Vec::with_capacity(items.len());
    for item in items {
        let Some((target, name_node)) = target(c, item) else {
            continue;
        };
        if let Some(first) = out.iter().find(|t| t.name == target.name) {
            c.push(
                Diagnostic::new(
                    name_node.span,
                    name_node.width(),
                    format!("duplicate target name `{}`", target.name),
                )
                .help("give each target of the environment its own `name`")
                .note(format!(
                    "`{}` is first used at line {}",
                    target.name, first.span.line
                )),
            );
            continue;
        }
        if let Some(first) = out.iter().find(|t| t.lb_server == target.lb_server) {
            c.push(
                Diagnostic::new(
                    target.span,
                    0,
                    format!(
                        "targets `{}` and `{}` have the same HAProxy server name `{}`",
                        first.name, target.name, target.lb_server
                    ),
                )
                .help("each target is one server of the backend: give it its own `lb_server`")
                .note(format!("`{}` is at line {}", first.name, first.span.line)),
            );
            continue;
        }
        out.push(target);
    }
    check_groups(c, &out);
    out
}

/// Either every target has a `group` or none has: a blue-green switch moves all traffic.
fn check_groups(c: &mut Checker<'_>, targets: &[Target]) {
    if targets.iter().all(|t| t.group.is_none()) {
        return;
    }
    for target in targets.iter().filter(|t| t.group.is_none()) {
        c.push(
            Diagnostic::new(
                target.span,
                0,
                format!("target `{}` has no `group`, but other targets do", target.name),
            )
            .help("add `group: blue` or `group: green`: a blue-green switch moves every target's traffic, so every target belongs to one of the two sets"),
        );
    }
}

/// One target, with the node of its name (for duplicate errors).
fn target<'n>(c: &mut Checker<'_>, node: &'n Node) -> Option<(Target, &'n Node)> {
    let entries = c.map(node, "a target")?;
    c.check_keys(entries, TARGET_KEYS, "a target");
    let span = entries.first().map_or(node.span, |(k, _)| k.span);
    let find = |name: &str| entries.iter().find(|(k, _)| k.name == name);
    let name_node = find("name").map(|(_, v)| v);
    let name = match name_node {
        Some(value) => self::name(c, value, "target name"),
        None => {
            c.missing(
                node,
                "name",
                "a target",
                "add `name:`, unique in the environment, e.g. `name: web-1`",
            );
            None
        }
    };
    let shown = name.clone().unwrap_or_else(|| "?".to_string());
    let what = format!("target `{shown}`");
    let kind = find("kind").map(|(_, value)| kind(c, value));
    if kind.is_none() {
        c.missing(
            node,
            "kind",
            &what,
            "add `kind:` with `local`, `ssh` or `docker`",
        );
    }
    let kind = kind.flatten();
    if let Some(kind) = kind {
        for (key, _) in entries {
            misplaced_key(c, key, kind);
        }
    }

    let mut port = None;
    let mut lb_server = None;
    let mut group = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "port" => port = self::port(c, value, "`port`"),
            "lb_server" => lb_server = word(c, value, "`lb_server`"),
            "group" => group = self::group(c, value),
            _ => {}
        }
    }
    let kind = match kind? {
        "local" => Some(TargetKind::Local),
        "ssh" => ssh(c, node, entries, &what).map(TargetKind::Ssh),
        _ => Some(TargetKind::Docker(docker(c, entries))),
    };
    let needs_port = matches!(kind, Some(TargetKind::Local | TargetKind::Docker(_)));
    if needs_port && find("port").is_none() {
        c.missing(
            node,
            "port",
            &what,
            "add `port:`, the port the service listens on (`$PORT` of its commands)",
        );
    }
    let name = name?;
    Some((
        Target {
            lb_server: lb_server.unwrap_or_else(|| name.clone()),
            name,
            kind: kind?,
            port,
            group,
            span,
        },
        name_node?,
    ))
}

fn kind(c: &mut Checker<'_>, node: &Node) -> Option<&'static str> {
    let text = c.text(node, "`kind`")?;
    if let Some(kind) = TARGET_KINDS.iter().find(|k| **k == text) {
        return Some(kind);
    }
    let help = match closest(&text, TARGET_KINDS) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "the target kinds are `local`, `ssh` and `docker`".to_string(),
    };
    c.push(
        Diagnostic::new(
            node.span,
            node.width(),
            format!("unknown target kind `{text}`"),
        )
        .help(help),
    );
    None
}

/// Reports a key that belongs to another kind of target.
fn misplaced_key(c: &mut Checker<'_>, key: &Key, kind: &str) {
    let owner = if SSH_ONLY_KEYS.contains(&key.name.as_str()) {
        "ssh"
    } else if DOCKER_ONLY_KEYS.contains(&key.name.as_str()) {
        "docker"
    } else {
        return;
    };
    if owner == kind {
        return;
    }
    c.push(
        Diagnostic::new(
            key.span,
            key.name.chars().count(),
            format!(
                "`{}` applies only to `kind: {owner}` targets, and this one is `kind: {kind}`",
                key.name
            ),
        )
        .help(format!(
            "remove `{}`, or change the target to `kind: {owner}`",
            key.name
        )),
    );
}

fn group(c: &mut Checker<'_>, node: &Node) -> Option<Group> {
    match c.text(node, "`group`")?.as_str() {
        "blue" => Some(Group::Blue),
        "green" => Some(Group::Green),
        other => {
            c.push(
                Diagnostic::new(node.span, node.width(), format!("unknown group `{other}`"))
                    .help("use `blue` or `green`, the two sets of a blue-green strategy"),
            );
            None
        }
    }
}

fn ssh(c: &mut Checker<'_>, node: &Node, entries: &[(Key, Node)], what: &str) -> Option<SshTarget> {
    let mut host = None;
    let mut user = None;
    let mut target = SshTarget {
        host: String::new(),
        ssh_port: 22,
        user: String::new(),
        key: None,
        known_hosts: KnownHosts::Strict,
        known_hosts_file: None,
        dir: DEFAULT_SSH_DIR.to_string(),
    };
    let mut ok = true;
    for (key, value) in entries {
        match key.name.as_str() {
            "host" => host = Some(word(c, value, "`host`")),
            "user" => user = Some(word(c, value, "`user`")),
            "ssh_port" => match port(c, value, "`ssh_port`") {
                Some(p) => target.ssh_port = p,
                None => ok = false,
            },
            "key" => target.key = non_empty(c, value, "`key`"),
            "known_hosts_file" => {
                target.known_hosts_file = non_empty(c, value, "`known_hosts_file`")
            }
            "dir" => match non_empty(c, value, "`dir`") {
                Some(dir) => target.dir = dir,
                None => ok = false,
            },
            "known_hosts" => {
                match c.text(value, "`known_hosts`").as_deref() {
                    Some("strict") => target.known_hosts = KnownHosts::Strict,
                    Some("accept-new") => target.known_hosts = KnownHosts::AcceptNew,
                    Some(other) => {
                        c.push(
                        Diagnostic::new(value.span, value.width(), format!("unknown `known_hosts` policy `{other}`"))
                            .help("use `strict` (the default: the host must be known) or `accept-new`"),
                    );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            _ => {}
        }
    }
    for (present, key, help) in [
        (
            host.is_some(),
            "host",
            "add `host:`, the host name or address to reach over SSH",
        ),
        (user.is_some(), "user", "add `user:`, the user to log in as"),
    ] {
        if !present {
            c.missing(node, key, what, help);
        }
    }
    target.host = host??;
    target.user = user??;
    ok.then_some(target)
}

fn docker(c: &mut Checker<'_>, entries: &[(Key, Node)]) -> DockerTarget {
    let mut target = DockerTarget {
        docker_host: None,
        container_port: None,
    };
    for (key, value) in entries {
        match key.name.as_str() {
            "docker_host" => target.docker_host = word(c, value, "`docker_host`"),
            "container_port" => target.container_port = port(c, value, "`container_port`"),
            _ => {}
        }
    }
    target
}

/// A string that is not blank.
pub(crate) fn non_empty(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<String> {
    let text = c.text(node, what)?;
    if text.trim().is_empty() {
        c.push(
            Diagnostic::new(node.span, node.width(), format!("{what} is empty"))
                .help(format!("write {what}, or remove it")),
        );
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::is_name;

    #[test]
    fn names() {
        for good in ["web-1", "a", "0", "eu-west.1", "Web_2", "x.y.z"] {
            assert!(is_name(good), "{good}");
        }
        for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", "a:b"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
