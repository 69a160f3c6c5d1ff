//! The keys of the delivery formats (approval jobs, the canary strategy, an environment's
//! `requires` and `freeze`), and their JSON Schemas. As in [`crate::schema`], the readers take
//! their allowed keys from these tables, so the schema cannot drift from the parser.

use serde_json::{Value, json};

use crate::schema::{KeyDef, boolean, key, object, string};

/// The roles `approvers: [role:NAME]` may name, weakest first.
pub(crate) const ROLES: [&str; 4] = ["viewer", "developer", "maintainer", "admin"];
/// Most approvals an approval job may require.
pub(crate) const MAX_APPROVALS: i64 = 20;
/// Pattern of an artifact digest: BLAKE3 as the engine writes it, or `sha256:` and hex.
pub(crate) const DIGEST_PATTERN: &str = "^(sha256:)?[0-9a-f]{64}$";

pub(crate) const APPROVAL_KEYS: &[KeyDef] = &[
    key(
        "approvals",
        "Distinct people who must approve (1 to 20, default 1).",
        approvals,
    ),
    key(
        "approvers",
        "Who may approve: user names, or `role:NAME` (that role or a stronger one); default: developer or above.",
        approvers,
    ),
    key(
        "timeout",
        "How long the gate waits (default 24h).",
        duration,
    ),
    key(
        "on_timeout",
        "What a timed-out gate becomes: reject (default) or approve.",
        on_timeout,
    ),
    key(
        "self_approval",
        "Whether whoever started the run may approve it (default true).",
        boolean,
    ),
    key(
        "message",
        "Shown to approvers; may use `env`, `matrix`, `needs`, `inputs`, `git`.",
        string,
    ),
    key(
        "inputs",
        "Typed values an approver gives, as `on.manual.inputs`.",
        crate::schema::manual_inputs,
    ),
];

pub(crate) const CANARY_KEYS: &[KeyDef] = &[
    key(
        "canary_targets",
        "The first N targets, or a share (\"25%\"), run the new version first (default 1).",
        canary_targets,
    ),
    key(
        "steps",
        "In order: `weight: N`, `pause: DURATION`, `pause: until-approved`, `verify: {…}`.",
        canary_steps,
    ),
    key(
        "promote",
        "How the stable targets are upgraded after the last step: the keys of `rolling`.",
        promote,
    ),
];

/// The keys of one canary step; each step has exactly one.
pub(crate) const CANARY_STEP_KEYS: &[KeyDef] = &[
    key(
        "weight",
        "Percentage of requests sent to the canary targets (0 to 100, never decreasing).",
        percentage,
    ),
    key(
        "pause",
        "Wait for a duration, or `until-approved` by a person.",
        pause,
    ),
    key(
        "verify",
        "Metric verification (threshold analysis, baseline comparison); see docs/delivery.md.",
        verify,
    ),
];

pub(crate) const ARTIFACT_DIGEST_KEYS: &[KeyDef] = &[
    key("name", "The artifact's name.", non_empty),
    key(
        "digest",
        "Its digest: 64 hex digits (BLAKE3), or `sha256:` and 64 hex digits.",
        digest,
    ),
];

pub(crate) const FREEZE_KEYS: &[KeyDef] = &[
    key(
        "name",
        "Shown when a deployment is refused; unique in the environment.",
        non_empty,
    ),
    key(
        "cron",
        "When the window opens (five fields, UTC); with `duration`.",
        string,
    ),
    key("duration", "How long each opening lasts.", duration),
    key(
        "from",
        "Start of a fixed window, RFC 3339 UTC (`2026-12-20T00:00:00Z`); with `until`.",
        timestamp,
    ),
    key("until", "End of a fixed window (exclusive).", timestamp),
];

/// The schema of a job's `approval:`.
pub(crate) fn approval() -> Value {
    object(APPROVAL_KEYS, &[])
}

/// The schema of `canary:` in a deploy job's `strategy`.
pub(crate) fn canary() -> Value {
    object(CANARY_KEYS, &["steps"])
}

/// `artifact: {name, digest}`.
pub(crate) fn artifact_digest() -> Value {
    object(ARTIFACT_DIGEST_KEYS, &["name", "digest"])
}

/// An environment's `requires:`.
pub(crate) fn requires() -> Value {
    let name = json!({"type": "string", "pattern": crate::schema_deploy::NAME_PATTERN});
    json!({"oneOf": [name.clone(), {"type": "array", "items": name, "uniqueItems": true}]})
}

/// An environment's `freeze:`.
pub(crate) fn freeze() -> Value {
    let mut window = object(FREEZE_KEYS, &["name"]);
    if let Some(map) = window.as_object_mut() {
        map.insert(
            "oneOf".into(),
            json!([
                {"required": ["cron", "duration"], "properties": {"from": false, "until": false}},
                {"required": ["from", "until"], "properties": {"cron": false, "duration": false}},
            ]),
        );
    }
    json!({"type": "array", "items": window})
}

fn approvals() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_APPROVALS})
}
fn approvers() -> Value {
    let roles: Vec<String> = ROLES.iter().map(|r| format!("role:{r}")).collect();
    let one = json!({"oneOf": [
        {"enum": roles},
        {"type": "string", "pattern": "^[^\\s:]+$", "description": "A user name."},
    ]});
    json!({"oneOf": [one.clone(), {"type": "array", "items": one}]})
}
fn on_timeout() -> Value {
    json!({"enum": ["reject", "approve"]})
}
fn duration() -> Value {
    json!({"oneOf": [
        {"type": "integer", "minimum": 1, "description": "Seconds."},
        {"type": "string", "pattern": "^([0-9]+[hms])+$|^[0-9]+$"}
    ]})
}
fn precise_duration() -> Value {
    json!({"oneOf": [
        {"type": "integer", "minimum": 0, "description": "Seconds."},
        {"type": "string", "pattern": "^([0-9]+(ms|h|m|s))+$|^[0-9]+$"}
    ]})
}
fn percentage() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": 100})
}
fn non_empty() -> Value {
    json!({"type": "string", "minLength": 1})
}
fn digest() -> Value {
    json!({"type": "string", "pattern": DIGEST_PATTERN})
}
fn timestamp() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"})
}
fn canary_targets() -> Value {
    json!({"oneOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": "^([1-9][0-9]?)%$", "description": "1% to 99% of the targets, rounded up."}
    ]})
}
fn canary_steps() -> Value {
    let step = |name: &str, value: Value| json!({"type": "object", "properties": {name: value}, "required": [name], "additionalProperties": false});
    json!({"type": "array", "minItems": 1, "items": {"oneOf": [
        step("weight", percentage()),
        step("pause", pause()),
        step("verify", verify()),
    ]}})
}
fn pause() -> Value {
    json!({"oneOf": [precise_duration(), {"const": "until-approved"}]})
}
fn verify() -> Value {
    // slipway-verify's `VerifyConfig`; its own validation runs when the file is read.
    json!({"type": "object", "properties": {
        "providers": {"type": "object", "additionalProperties": {"type": "object", "required": ["type"]}},
        "metrics": {"type": "array", "items": {"type": "object"}},
        "comparison": {"type": "object"},
    }, "additionalProperties": false})
}
fn promote() -> Value {
    json!({"oneOf": [{"type": "null"}, object(crate::schema_deploy::ROLLING_KEYS, &[])]})
}

/// Keys of a job that an approval job may not have, each with the reason shown to people.
pub(crate) const NOT_FOR_APPROVAL: &[(&str, &str)] = &[
    ("steps", "a job has one of `steps`, `deploy` or `approval`"),
    ("shell", "an approval job runs no scripts"),
    ("env", "an approval job runs no commands"),
    (
        "matrix",
        "every instance would ask the same people the same question",
    ),
    (
        "retry",
        "a rejection is a decision by people, not a failure to try again",
    ),
    (
        "timeout",
        "an approval's wait is `approval.timeout`, with its `approval.on_timeout` outcome",
    ),
    (
        "outputs",
        "an approval job has no steps; approvers give values through `approval.inputs`",
    ),
    ("artifacts", "an approval job produces no files"),
    (
        "inputs",
        "an approval job is never skipped from the job cache; values from approvers are `approval.inputs`",
    ),
    ("cache", "an approval job has no workspace to cache"),
    ("reports", "an approval job runs no tests"),
    (
        "runs-on",
        "an approval job waits on the server, not on an agent",
    ),
    ("image", "an approval job has no container"),
    ("services", "an approval job has no container"),
    ("resources", "an approval job has no container"),
    ("pull", "an approval job has no container"),
];
