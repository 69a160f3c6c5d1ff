//! Reads `service:` (the lifecycle actions, `env`, `health`) and `load_balancer:` of an
//! environment file.
//!
//! Each built-in action belongs to one slot: `copy` to `install`, `start` to `activate`,
//! `stop` to `deactivate`, `remove` to `uninstall`. In its slot a built-in is written as a
//! one-key map (`{copy: PATH}`, `{start: COMMAND}`) or as its word (`stop`, `remove`); any
//! other string is a shell command.

use std::time::Duration;

use crate::check::{Checker, is_env_name};
use crate::deploy::{
    Action, HaproxyAddress, Health, HealthProbe, LoadBalancer, ServiceDef, Target, TargetKind,
};
use crate::diagnostic::Diagnostic;
use crate::environment::{in_range, non_empty, word};
use crate::job::unsafe_path;
use crate::schema_deploy::{HAPROXY_KEYS, HEALTH_KEYS, LOAD_BALANCER_KEYS, SERVICE_KEYS};
use crate::suggest::closest;
use crate::yaml::{Key, Node, NodeKind};

const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most consecutive successes a health check may ask for.
const MAX_SUCCESSES: i64 = 1000;

/// One lifecycle slot of `service:` and the built-in that belongs to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Install,
    Activate,
    Deactivate,
    Uninstall,
}

const SLOTS: [Slot; 4] = [
    Slot::Install,
    Slot::Activate,
    Slot::Deactivate,
    Slot::Uninstall,
];

impl Slot {
    fn key(self) -> &'static str {
        match self {
            Slot::Install => "install",
            Slot::Activate => "activate",
            Slot::Deactivate => "deactivate",
            Slot::Uninstall => "uninstall",
        }
    }

    /// The built-in of this slot.
    fn builtin(self) -> &'static str {
        match self {
            Slot::Install => "copy",
            Slot::Activate => "start",
            Slot::Deactivate => "stop",
            Slot::Uninstall => "remove",
        }
    }

    /// How the built-in is written in this slot.
    fn example(self) -> &'static str {
        match self {
            Slot::Install => "install: {copy: bin/app}",
            Slot::Activate => "activate: {start: \"$ARTIFACT --port $PORT\"}",
            Slot::Deactivate => "deactivate: stop",
            Slot::Uninstall => "uninstall: remove",
        }
    }

    /// Whether the built-in is a bare word (`stop`, `remove`) rather than a one-key map.
    fn builtin_is_word(self) -> bool {
        matches!(self, Slot::Deactivate | Slot::Uninstall)
    }
}

/// Reads `service:`. `targets` are those read without error, to check what the service
/// needs of them (a port for HTTP health checks, a command for `start`).
pub(crate) fn read(c: &mut Checker<'_>, node: &Node, targets: &[Target]) -> ServiceDef {
    let mut service = ServiceDef::default();
    let entries = c.optional_map(node, "`service`");
    c.check_keys(entries, SERVICE_KEYS, "`service`");
    for (key, value) in entries {
        let slot = SLOTS.iter().find(|s| s.key() == key.name).copied();
        if let Some(slot) = slot {
            let action = action(c, value, slot, targets);
            match slot {
                Slot::Install => service.install = action,
                Slot::Activate => service.activate = action,
                Slot::Deactivate => service.deactivate = action,
                Slot::Uninstall => service.uninstall = action,
            }
            continue;
        }
        match key.name.as_str() {
            "health" => service.health = health(c, key, value, targets),
            "env" => service.env = env(c, value),
            _ => {}
        }
    }
    service
}

fn action(c: &mut Checker<'_>, node: &Node, slot: Slot, targets: &[Target]) -> Option<Action> {
    let what = format!("`{}`", slot.key());
    match &node.kind {
        NodeKind::Str(_) | NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => {
            let text = c.text(node, &what)?;
            if slot.builtin_is_word() && text == slot.builtin() {
                return Some(if slot == Slot::Deactivate {
                    Action::Stop
                } else {
                    Action::Remove
                });
            }
            if text.trim().is_empty() {
                c.push(
                    Diagnostic::new(node.span, node.width(), format!("{what} is empty"))
                        .help(format!("write a command, or the built-in: `{}`; or remove {what} to use the target kind's default", slot.example())),
                );
                return None;
            }
            Some(Action::Command(text))
        }
        NodeKind::Map(entries) => builtin(c, node, entries, slot, targets),
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a command or a built-in for {what}, found {}",
                        node.describe()
                    ),
                )
                .help(format!(
                    "write a shell command, or the built-in: `{}`",
                    slot.example()
                )),
            );
            None
        }
    }
}

/// A built-in written as a map: `{copy: PATH}` or `{start: COMMAND}`.
fn builtin(
    c: &mut Checker<'_>,
    node: &Node,
    entries: &[(Key, Node)],
    slot: Slot,
    targets: &[Target],
) -> Option<Action> {
    let [(key, value)] = entries else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!(
                    "`{}` holds one action, and this map has {} keys",
                    slot.key(),
                    entries.len()
                ),
            )
            .help(format!(
                "write a shell command, or the built-in: `{}`",
                slot.example()
            )),
        );
        return None;
    };
    let owner = SLOTS.iter().find(|s| s.builtin() == key.name).copied();
    match owner {
        Some(owner) if owner == slot && !slot.builtin_is_word() => {}
        Some(owner) if owner == slot => {
            c.push(
                Diagnostic::new(
                    key.span,
                    key.name.chars().count(),
                    format!("`{}` takes no value", key.name),
                )
                .help(format!("write `{}`", slot.example())),
            );
            return None;
        }
        Some(owner) => {
            c.push(
                Diagnostic::new(
                    key.span,
                    key.name.chars().count(),
                    format!(
                        "the built-in `{}` belongs in `{}`, not in `{}`",
                        key.name,
                        owner.key(),
                        slot.key()
                    ),
                )
                .help(format!(
                    "the built-in of `{}` is `{}`; otherwise write a shell command",
                    slot.key(),
                    slot.example()
                )),
            );
            return None;
        }
        None => {
            let help = match closest(&key.name, SLOTS.iter().map(|s| s.builtin())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the built-in of `{}` is `{}`; otherwise write a shell command as a string",
                    slot.key(),
                    slot.example()
                ),
            };
            c.push(
                Diagnostic::new(
                    key.span,
                    key.name.chars().count(),
                    format!("unknown built-in action `{}`", key.name),
                )
                .help(help),
            );
            return None;
        }
    }
    if slot == Slot::Install {
        let path = c.text(value, "`copy`")?;
        if let Some(why) = unsafe_path(&path) {
            c.push(
                Diagnostic::new(value.span, value.width(), format!(
                    "`copy` path `{path}` {}",
                    why.replace("the workspace", "the release directory")
                ))
                    .help("write a path relative to the target's release directory, without `..`, e.g. `bin/app`"),
            );
            return None;
        }
        return Some(Action::Copy { to: path });
    }
    let command = match value.kind {
        NodeKind::Null => String::new(),
        _ => c.text(value, "`start`")?,
    };
    let only_docker = targets
        .iter()
        .all(|t| matches!(t.kind, TargetKind::Docker(_)));
    if command.trim().is_empty() && !only_docker {
        c.push(
            Diagnostic::new(value.span, value.width(), "`start` has no command")
                .help("write the command that runs the service, e.g. `start: \"$ARTIFACT --listen 127.0.0.1:$PORT\"`; only docker targets may leave it empty (the image's own command)"),
        );
        return None;
    }
    Some(Action::Start { command })
}

fn env(c: &mut Checker<'_>, node: &Node) -> Vec<(String, String)> {
    let entries = c.optional_map(node, "`service.env`");
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if !is_env_name(&key.name) {
            c.push(
                Diagnostic::new(
                    key.span,
                    key.name.chars().count(),
                    format!("invalid environment variable name `{}`", key.name),
                )
                .help("use letters, digits and `_`, not starting with a digit"),
            );
            continue;
        }
        let Some(text) = c.text(value, &format!("`env.{}`", key.name)) else {
            continue;
        };
        if text.contains("${{") {
            c.push(
                Diagnostic::new(value.span, value.width(), format!("`env.{}` contains an expression", key.name))
                    .help("values of an environment file are taken as written; expressions are not evaluated here"),
            );
            continue;
        }
        out.push((key.name.clone(), text));
    }
    out
}

fn health(c: &mut Checker<'_>, key: &Key, node: &Node, targets: &[Target]) -> Option<Health> {
    let entries = c.map(node, "`health`")?;
    c.check_keys(entries, HEALTH_KEYS, "`health`");
    let mut probe: Option<Option<HealthProbe>> = None;
    let mut interval = Some(DEFAULT_INTERVAL);
    let mut timeout = Some(DEFAULT_TIMEOUT);
    let mut max_wait = Some(DEFAULT_MAX_WAIT);
    let mut successes = Some(1);
    let both = entries.iter().any(|(k, _)| k.name == "http")
        && entries.iter().any(|(k, _)| k.name == "command");
    for (k, value) in entries {
        match k.name.as_str() {
            "http" => {
                let path = http_path(c, value);
                if path.is_some() {
                    require_ports(c, targets);
                }
                probe = Some(path.map(|path| HealthProbe::Http { path }));
            }
            "command" if both => c.push(
                Diagnostic::new(
                    k.span,
                    k.name.chars().count(),
                    "`health` has both `http` and `command`",
                )
                .help(
                    "a health check is one probe: keep `http: /PATH` or `command: ...`, not both",
                ),
            ),
            "command" => {
                probe = Some(non_empty(c, value, "`health.command`").map(HealthProbe::Command))
            }
            "interval" => interval = nonzero(c, value, "`health.interval`"),
            "timeout" => timeout = nonzero(c, value, "`health.timeout`"),
            "max_wait" => max_wait = nonzero(c, value, "`health.max_wait`"),
            "successes" => {
                successes = in_range(c, value, "`health.successes`", 1, MAX_SUCCESSES)
                    .and_then(|n| u32::try_from(n).ok());
            }
            _ => {}
        }
    }
    let Some(probe) = probe else {
        c.push(
            Diagnostic::new(key.span, key.name.chars().count(), "`health` has neither `http` nor `command`")
                .help("add `http: /healthz` (a GET expecting 2xx) or `command: \"...\"` (exit 0 is healthy)"),
        );
        return None;
    };
    if both {
        return None;
    }
    Some(Health {
        check: probe?,
        interval: interval?,
        timeout: timeout?,
        successes: successes?,
        max_wait: max_wait?,
    })
}

fn http_path(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let path = c.text(node, "`health.http`")?;
    let problem = if !path.starts_with('/') {
        format!("`health.http` path `{path}` does not start with `/`")
    } else if path.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        format!("`health.http` path `{path}` contains whitespace")
    } else {
        return Some(path);
    };
    c.push(Diagnostic::new(node.span, node.width(), problem).help(
        "write the path of the URL only, e.g. `http: /healthz`; the host and port are the target's",
    ));
    None
}

/// An HTTP probe goes to each target's `port`: a target without one cannot be checked.
fn require_ports(c: &mut Checker<'_>, targets: &[Target]) {
    for target in targets.iter().filter(|t| t.port.is_none()) {
        c.push(
            Diagnostic::new(
                target.span,
                0,
                format!(
                    "target `{}` has no `port`, which the `health.http` check needs",
                    target.name
                ),
            )
            .help("add `port:`, the port the service listens on, or check health with `command:`"),
        );
    }
}

fn nonzero(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<Duration> {
    let duration = c.precise_duration(node, what)?;
    if duration.is_zero() {
        c.push(
            Diagnostic::new(node.span, node.width(), format!("{what} cannot be zero"))
                .help("use a positive duration, e.g. `200ms` or `1s`"),
        );
        return None;
    }
    Some(duration)
}

/// `load_balancer:`.
pub(crate) fn load_balancer(c: &mut Checker<'_>, node: &Node) -> Option<LoadBalancer> {
    let entries = c.map(node, "`load_balancer`")?;
    c.check_keys(entries, LOAD_BALANCER_KEYS, "`load_balancer`");
    let mut haproxy = None;
    let mut drain_timeout = Some(DEFAULT_DRAIN_TIMEOUT);
    for (key, value) in entries {
        match key.name.as_str() {
            "haproxy" => haproxy = Some(self::haproxy(c, key, value)),
            "drain_timeout" => {
                drain_timeout = c.precise_duration(value, "`load_balancer.drain_timeout`")
            }
            _ => {}
        }
    }
    let Some(haproxy) = haproxy else {
        c.missing(
            node,
            "haproxy",
            "`load_balancer`",
            "add `haproxy: {socket: PATH, backend: NAME}`",
        );
        return None;
    };
    let (address, backend) = haproxy?;
    Some(LoadBalancer {
        haproxy: address,
        backend,
        drain_timeout: drain_timeout?,
    })
}

fn haproxy(c: &mut Checker<'_>, key: &Key, node: &Node) -> Option<(HaproxyAddress, String)> {
    let entries = c.map(node, "`haproxy`")?;
    c.check_keys(entries, HAPROXY_KEYS, "`haproxy`");
    let mut addresses: Vec<(&Key, Option<HaproxyAddress>)> = Vec::new();
    let mut backend = None;
    for (k, value) in entries {
        match k.name.as_str() {
            "socket" => addresses.push((
                k,
                non_empty(c, value, "`haproxy.socket`").map(HaproxyAddress::Socket),
            )),
            "address" => addresses.push((k, tcp_address(c, value).map(HaproxyAddress::Tcp))),
            "backend" => backend = Some(word(c, value, "`haproxy.backend`")),
            _ => {}
        }
    }
    let address = match addresses.as_slice() {
        [(_, address)] => address.clone(),
        [] => {
            c.push(
                Diagnostic::new(key.span, key.name.chars().count(), "`haproxy` has neither `socket` nor `address`")
                    .help("add `socket: PATH` (the `stats socket ... level admin` of HAProxy's configuration) or `address: 127.0.0.1:PORT`"),
            );
            None
        }
        [_, (second, _), ..] => {
            c.push(
                Diagnostic::new(
                    second.span,
                    second.name.chars().count(),
                    "`haproxy` has both `socket` and `address`",
                )
                .help("HAProxy is reached one way: keep `socket` or `address`"),
            );
            None
        }
    };
    if backend.is_none() {
        c.missing(
            node,
            "backend",
            "`haproxy`",
            "add `backend:`, the HAProxy backend holding the targets' servers",
        );
    }
    Some((address?, backend??))
}

/// `HOST:PORT`, the port 1 to 65535.
fn tcp_address(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let text = word(c, node, "`haproxy.address`")?;
    let valid = text
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if valid {
        return Some(text);
    }
    c.push(
        Diagnostic::new(
            node.span,
            node.width(),
            format!("`haproxy.address` `{text}` is not HOST:PORT"),
        )
        .help("write e.g. `address: 127.0.0.1:9999` (the port from 1 to 65535)"),
    );
    None
}
