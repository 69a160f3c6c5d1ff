//! The keys of the deployment formats: environment files and the `deploy:` of a job, and the
//! JSON Schema built from them. As in [`crate::schema`], the validator takes its allowed keys
//! from these tables, so the schema cannot drift from the parser.

use serde_json::{Value, json};

use crate::schema::{KeyDef, image, key, object, string};
use crate::schema_delivery::NOT_FOR_APPROVAL;

/// Pattern of environment and target names.
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]*$";
/// The target kinds, in the order they are listed to people.
pub(crate) const TARGET_KINDS: [&str; 3] = ["local", "ssh", "docker"];
/// Keys only a `kind: ssh` target may have.
pub(crate) const SSH_ONLY_KEYS: [&str; 7] = [
    "host",
    "ssh_port",
    "user",
    "key",
    "known_hosts",
    "known_hosts_file",
    "dir",
];
/// Keys only a `kind: docker` target may have.
pub(crate) const DOCKER_ONLY_KEYS: [&str; 2] = ["docker_host", "container_port"];

pub(crate) const ENVIRONMENT_KEYS: &[KeyDef] = &[
    key(
        "targets",
        "The nodes deployed to, at least one; names unique.",
        targets,
    ),
    key(
        "service",
        "What installing, activating, deactivating, uninstalling and checking the service means.",
        service,
    ),
    key(
        "load_balancer",
        "HAProxy, driven through its runtime API.",
        load_balancer,
    ),
    key(
        "parallelism",
        "Targets of one batch deployed at once (default 1).",
        positive,
    ),
    key(
        "requires",
        "Environments a digest must have been released to successfully first (promotion).",
        crate::schema_delivery::requires,
    ),
    key(
        "freeze",
        "Windows in which deployments are refused: `{name, cron, duration}` or `{name, from, until}`.",
        crate::schema_delivery::freeze,
    ),
];

pub(crate) const TARGET_KEYS: &[KeyDef] = &[
    key(
        "name",
        "Unique in the environment; also the HAProxy server name unless `lb_server`.",
        name,
    ),
    key("kind", "local, ssh or docker.", target_kind),
    key(
        "port",
        "The port the service listens on (`$PORT`); required for local and docker.",
        port,
    ),
    key(
        "lb_server",
        "The HAProxy server name of this target (default: `name`).",
        word,
    ),
    key(
        "group",
        "blue or green: the sets of a blue-green strategy.",
        group,
    ),
    key("host", "Host name or address (ssh).", word),
    key("ssh_port", "SSH port (ssh; default 22).", port),
    key("user", "Login user (ssh).", word),
    key(
        "key",
        "Private key file (ssh; `~/` is the deploying user's home).",
        string,
    ),
    key(
        "known_hosts",
        "Host key checking (ssh): strict (default) or accept-new.",
        known_hosts,
    ),
    key(
        "known_hosts_file",
        "Known hosts file (ssh; default: the user's).",
        string,
    ),
    key(
        "dir",
        "Where releases live on the host (ssh; default `.slipway/deploy` in the user's home).",
        string,
    ),
    key(
        "docker_host",
        "Docker Engine address (docker; default: the local engine).",
        string,
    ),
    key(
        "container_port",
        "The port inside the container (docker; default: `port`).",
        port,
    ),
];

pub(crate) const SERVICE_KEYS: &[KeyDef] = &[
    key(
        "install",
        "A command, or `{copy: PATH}`: the artifact copied into the release directory.",
        install,
    ),
    key(
        "activate",
        "A command, or `{start: COMMAND}`: started detached and tracked.",
        activate,
    ),
    key(
        "deactivate",
        "A command, or `stop`: what `start` started is stopped.",
        deactivate,
    ),
    key(
        "uninstall",
        "A command, or `remove`: the release directory is removed.",
        uninstall,
    ),
    key("health", "When a target counts as healthy.", health),
    key(
        "env",
        "Environment of every command (plain values, no expressions).",
        plain_env,
    ),
];

pub(crate) const HEALTH_KEYS: &[KeyDef] = &[
    key(
        "http",
        "A path: GET http://HOST:$PORT/PATH expecting 2xx.",
        http_path,
    ),
    key(
        "command",
        "A command run like an action; exit 0 is healthy.",
        command,
    ),
    key("interval", "Time between probes (default 500ms).", duration),
    key("timeout", "Time limit of one probe (default 2s).", duration),
    key(
        "successes",
        "Consecutive successes needed (default 1).",
        positive,
    ),
    key(
        "max_wait",
        "Unhealthy if not healthy within this (default 60s).",
        duration,
    ),
];

pub(crate) const LOAD_BALANCER_KEYS: &[KeyDef] = &[
    key("haproxy", "Where HAProxy's runtime API listens.", haproxy),
    key(
        "drain_timeout",
        "How long draining waits for sessions to reach 0 (default 30s).",
        duration,
    ),
];

pub(crate) const HAPROXY_KEYS: &[KeyDef] = &[
    key(
        "socket",
        "A UNIX socket (`stats socket … level admin`), relative to the repository root.",
        string,
    ),
    key("address", "A TCP address HOST:PORT.", word),
    key(
        "backend",
        "The backend holding every target's server.",
        word,
    ),
];

pub(crate) const DEPLOY_KEYS: &[KeyDef] = &[
    key(
        "environment",
        "The environment: `.slipway/environments/NAME.yml`.",
        name,
    ),
    key(
        "artifact",
        "JOB.NAME, an artifact that a job of `needs` declares; or `{name, digest}`, one published earlier.",
        artifact_ref,
    ),
    key("image", "A container image (docker targets).", image),
    key(
        "strategy",
        "rolling (default, batch 1), blue_green or canary.",
        strategy,
    ),
];

pub(crate) const ROLLING_KEYS: &[KeyDef] = &[
    key(
        "batch",
        "Targets per batch: a count, a percentage (\"25%\") or a list of sizes (the last repeats).",
        batch,
    ),
    key(
        "max_unavailable",
        "Targets out of the pool at once (default: the batch size).",
        positive,
    ),
    key(
        "max_fail_percentage",
        "Percentage of targets that may fail before the rollout stops and rolls back (default 0).",
        percentage,
    ),
];

pub(crate) const BLUE_GREEN_KEYS: &[KeyDef] = &[key(
    "keep_old",
    "How long the old set stays installed for an instant switch back (default 5m).",
    duration,
)];

pub(crate) const STRATEGY_KEYS: &[KeyDef] = &[
    key("rolling", "Batches of targets, one after another.", rolling),
    key(
        "blue_green",
        "Deploy to the idle group, then switch traffic at once.",
        blue_green,
    ),
    key(
        "canary",
        "A few targets first, with traffic weights, pauses and verification between steps.",
        crate::schema_delivery::canary,
    ),
];

/// Keys of a job that a deploy job may not have, each with the reason shown to people.
pub(crate) const NOT_FOR_DEPLOY: &[(&str, &str)] = &[
    ("steps", "a job has either `steps` or `deploy`"),
    (
        "shell",
        "a deploy job runs no scripts; the environment's `service` defines its commands",
    ),
    (
        "env",
        "the environment's `service.env` is the environment of its commands",
    ),
    (
        "matrix",
        "an environment is named as it is, so every instance would do the same deployment",
    ),
    (
        "retry",
        "a failed rollout has been rolled back and needs a look, not a blind second try",
    ),
    ("outputs", "a deploy job has no steps to produce outputs"),
    (
        "artifacts",
        "a deploy job installs an artifact; it produces none",
    ),
    ("inputs", "a deploy job is never skipped from the job cache"),
    ("cache", "a deploy job has no workspace to cache"),
    ("reports", "a deploy job runs no tests"),
    (
        "runs-on",
        "a deploy job runs where its environment's targets are",
    ),
    (
        "image",
        "a deploy job has no container of its own; to deploy an image write `deploy.image`",
    ),
    ("services", "a deploy job has no container of its own"),
    ("resources", "a deploy job has no container of its own"),
    ("pull", "a deploy job has no container of its own"),
];

/// The JSON Schema (draft 2020-12) of an environment file, `.slipway/environments/NAME.yml`.
pub fn environment_schema() -> Value {
    let mut schema = object(ENVIRONMENT_KEYS, &["targets"]);
    if let Some(map) = schema.as_object_mut() {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        map.insert(
            "$id".into(),
            json!("https://slipway.dev/environment.schema.json"),
        );
        map.insert("title".into(), json!(".slipway/environments/NAME.yml"));
        map.insert(
            "description".into(),
            json!("A Slipway environment. See docs/deploy.md."),
        );
    }
    schema
}

/// The schema of a job's `deploy:`.
pub(crate) fn deploy() -> Value {
    let mut value = object(DEPLOY_KEYS, &["environment"]);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "oneOf".into(),
            json!([{"required": ["artifact"]}, {"required": ["image"]}]),
        );
    }
    value
}

/// A job has exactly one of `steps`, `deploy` (and none of [`NOT_FOR_DEPLOY`]) or `approval`
/// (and none of [`NOT_FOR_APPROVAL`]).
pub(crate) fn job_kinds() -> Value {
    let excluded = |table: &[(&str, &str)], other: &str| {
        let mut map: serde_json::Map<String, Value> = table
            .iter()
            .map(|(name, _)| ((*name).to_string(), json!(false)))
            .collect();
        map.insert(other.to_string(), json!(false));
        map
    };
    json!([
        {"required": ["steps"], "properties": {"deploy": false, "approval": false}},
        {"required": ["deploy"], "properties": excluded(NOT_FOR_DEPLOY, "approval")},
        {"required": ["approval"], "properties": excluded(NOT_FOR_APPROVAL, "deploy")},
    ])
}

fn name() -> Value {
    json!({"type": "string", "pattern": NAME_PATTERN})
}
fn word() -> Value {
    json!({"type": "string", "pattern": "^[^\\s]+$"})
}
fn positive() -> Value {
    json!({"type": "integer", "minimum": 1})
}
fn percentage() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": 100})
}
fn port() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 65535})
}
fn duration() -> Value {
    json!({"oneOf": [
        {"type": "integer", "minimum": 0, "description": "Seconds."},
        {"type": "string", "pattern": "^([0-9]+(ms|h|m|s))+$|^[0-9]+$"}
    ]})
}
fn target_kind() -> Value {
    json!({"enum": TARGET_KINDS})
}
fn group() -> Value {
    json!({"enum": ["blue", "green"]})
}
fn known_hosts() -> Value {
    json!({"enum": ["strict", "accept-new"]})
}
fn targets() -> Value {
    let mut target = object(TARGET_KEYS, &["name", "kind"]);
    let not = |keys: &[&str]| -> Value {
        let props: serde_json::Map<String, Value> = keys
            .iter()
            .map(|k| ((*k).to_string(), json!(false)))
            .collect();
        json!({"properties": props})
    };
    if let Some(map) = target.as_object_mut() {
        map.insert(
            "allOf".into(),
            json!([
                {
                    "if": {"properties": {"kind": {"const": "ssh"}}},
                    "then": {"required": ["host", "user"]},
                    "else": not(&SSH_ONLY_KEYS),
                },
                {
                    "if": {"properties": {"kind": {"const": "docker"}}},
                    "then": {"required": ["port"]},
                    "else": not(&DOCKER_ONLY_KEYS),
                },
                {
                    "if": {"properties": {"kind": {"const": "local"}}},
                    "then": {"required": ["port"]},
                },
            ]),
        );
    }
    json!({"type": "array", "minItems": 1, "items": target})
}
fn service() -> Value {
    object(SERVICE_KEYS, &[])
}
fn command() -> Value {
    json!({"type": "string", "minLength": 1})
}
fn builtin(name: &str, value: Value) -> Value {
    json!({"type": "object", "properties": {name: value}, "required": [name], "additionalProperties": false})
}
fn install() -> Value {
    json!({"oneOf": [command(), builtin("copy", json!({"type": "string", "minLength": 1}))]})
}
fn activate() -> Value {
    json!({"oneOf": [command(), builtin("start", json!({"type": ["string", "null"]}))]})
}
fn deactivate() -> Value {
    command()
}
fn uninstall() -> Value {
    command()
}
fn plain_env() -> Value {
    json!({
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {"type": ["string", "number", "boolean"]}
    })
}
fn http_path() -> Value {
    json!({"type": "string", "pattern": "^/[^\\s]*$"})
}
fn health() -> Value {
    let mut value = object(HEALTH_KEYS, &[]);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "oneOf".into(),
            json!([{"required": ["http"]}, {"required": ["command"]}]),
        );
    }
    value
}
fn load_balancer() -> Value {
    object(LOAD_BALANCER_KEYS, &["haproxy"])
}
fn haproxy() -> Value {
    let mut value = object(HAPROXY_KEYS, &["backend"]);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "oneOf".into(),
            json!([{"required": ["socket"]}, {"required": ["address"]}]),
        );
    }
    value
}
fn artifact_ref() -> Value {
    json!({"oneOf": [
        {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*\\..+$"},
        crate::schema_delivery::artifact_digest(),
    ]})
}
fn strategy() -> Value {
    let mut map = object(STRATEGY_KEYS, &[]);
    if let Some(m) = map.as_object_mut() {
        m.insert("minProperties".into(), json!(1));
        m.insert("maxProperties".into(), json!(1));
    }
    json!({"oneOf": [{"enum": ["rolling", "blue_green"]}, map]})
}
pub(crate) fn rolling() -> Value {
    json!({"oneOf": [{"type": "null"}, object(ROLLING_KEYS, &[])]})
}
fn blue_green() -> Value {
    json!({"oneOf": [{"type": "null"}, object(BLUE_GREEN_KEYS, &[])]})
}
fn batch() -> Value {
    json!({"oneOf": [
        positive(),
        {"type": "string", "pattern": "^(100|[1-9][0-9]?)%$"},
        {"type": "array", "minItems": 1, "items": positive()}
    ]})
}
