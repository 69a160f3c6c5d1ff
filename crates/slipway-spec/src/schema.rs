//! The keys of every object in the file format, and the JSON Schema built from them.
//!
//! The validator takes its list of allowed keys from the same tables, so the schema cannot
//! drift from what the parser accepts.

use serde_json::{Value, json};

/// One key of an object in the file format.
pub(crate) struct KeyDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub schema: fn() -> Value,
}

pub(crate) const fn key(name: &'static str, doc: &'static str, schema: fn() -> Value) -> KeyDef {
    KeyDef { name, doc, schema }
}

pub(crate) const PIPELINE_KEYS: &[KeyDef] = &[
    key("name", "Display name of the pipeline.", string),
    key("on", "Events that start a run.", triggers),
    key(
        "env",
        "Environment for every job; may use `inputs`, `git`, `secrets`.",
        env,
    ),
    key(
        "concurrency",
        "Runs of the same group run one at a time; may use `git`, `inputs`, `env`.",
        concurrency,
    ),
    key("jobs", "The jobs, by id.", jobs),
];

pub(crate) const CONCURRENCY_KEYS: &[KeyDef] = &[
    key(
        "group",
        "The group name, a template; equal names run one at a time.",
        string,
    ),
    key(
        "cancel-in-progress",
        "Cancel the run or job in progress instead of waiting for it (default false).",
        boolean,
    ),
];

pub(crate) const TRIGGER_KEYS: &[KeyDef] = &[
    key("push", "Branch pushes.", branch_filter_or_null),
    key(
        "pull_request",
        "Pull requests; `branches` filters the target branch.",
        branch_filter_or_null,
    ),
    key("tag", "Tag pushes.", tag_filter_or_null),
    key("schedule", "Cron schedules (UTC).", schedule),
    key("manual", "Runs started by hand, with typed inputs.", manual),
];

pub(crate) const BRANCH_FILTER_KEYS: &[KeyDef] = &[
    key(
        "branches",
        "Branch patterns, in order; `!pattern` excludes again.",
        string_list,
    ),
    key(
        "branches-ignore",
        "Branch patterns that do not start a run.",
        string_list,
    ),
    key(
        "paths",
        "Changed-path patterns; the run starts only if a changed path is selected.",
        string_list,
    ),
    key(
        "paths-ignore",
        "Changed-path patterns; the run starts only if a changed path is not ignored.",
        string_list,
    ),
];

pub(crate) const TAG_FILTER_KEYS: &[KeyDef] = &[
    key(
        "tags",
        "Tag patterns, in order; `!pattern` excludes again.",
        string_list,
    ),
    key(
        "tags-ignore",
        "Tag patterns that do not start a run.",
        string_list,
    ),
];

pub(crate) const MANUAL_KEYS: &[KeyDef] = &[key("inputs", "Typed inputs, by name.", manual_inputs)];

pub(crate) const INPUT_KEYS: &[KeyDef] = &[
    key(
        "type",
        "string (default), boolean, number or choice.",
        input_type,
    ),
    key("required", "Whether the input must be given.", boolean),
    key("default", "Value when not given.", scalar),
    key("description", "Shown in the UI and CLI.", string),
    key("options", "Allowed values of a choice input.", string_list),
];

pub(crate) const SCHEDULE_KEYS: &[KeyDef] = &[key(
    "cron",
    "Five fields: minute hour day-of-month month day-of-week.",
    string,
)];

pub(crate) const JOB_KEYS: &[KeyDef] = &[
    key("name", "Display name; may use `matrix`.", string),
    key("needs", "Jobs that must succeed first.", string_or_list),
    key(
        "matrix",
        "Axes expanding the job into several instances.",
        matrix,
    ),
    key(
        "if",
        "Condition evaluated when the job becomes ready.",
        condition,
    ),
    key("env", "Environment of every step.", env),
    key("shell", "Shell for `run:` scripts.", shell),
    key("steps", "Commands run in order in one workspace.", steps),
    key(
        "deploy",
        "Rolls an artifact out to an environment instead of running steps (docs/deploy.md).",
        crate::schema_deploy::deploy,
    ),
    key(
        "approval",
        "Waits for people to approve instead of running steps (docs/delivery.md).",
        crate::schema_delivery::approval,
    ),
    key("timeout", "Time limit of the whole job.", duration),
    key("retry", "Extra attempts after a failure.", count),
    key(
        "continue-on-error",
        "A failure does not fail the run.",
        boolean,
    ),
    key(
        "outputs",
        "Values published as `needs.<job>.outputs.<name>`.",
        string_map,
    ),
    key(
        "artifacts",
        "Files kept after the job: a list of paths or a map of name to path.",
        artifacts,
    ),
    key(
        "inputs",
        "Globs of files whose contents key the job cache.",
        string_list,
    ),
    key(
        "cache",
        "A directory cache restored before and saved after the job.",
        cache,
    ),
    key("reports", "Test reports parsed after the job.", reports),
    key(
        "runs-on",
        "Where the steps run: `local` (default) or `docker`.",
        runs_on,
    ),
    key(
        "image",
        "Image of the job's container; required with `runs-on: docker`.",
        image,
    ),
    key(
        "services",
        "Containers started before the job, reachable by name (`runs-on: docker`).",
        services,
    ),
    key(
        "resources",
        "Limits of the job's container (`runs-on: docker`).",
        resources,
    ),
    key(
        "pull",
        "When images are pulled: `if-missing` (default), `always`, `never` (`runs-on: docker`).",
        pull,
    ),
    key(
        "concurrency",
        "Instances of the same group run one at a time; may use `git`, `inputs`, `env`, `matrix`.",
        concurrency,
    ),
];

pub(crate) const STEP_KEYS: &[KeyDef] = &[
    key(
        "id",
        "Identifier exposing `steps.<id>.outputs`.",
        identifier,
    ),
    key("name", "Display name.", string),
    key("run", "The script.", string),
    key(
        "env",
        "Environment of this step; the only place `secrets` may be used.",
        env,
    ),
    key(
        "workdir",
        "Working directory, relative to the workspace.",
        string,
    ),
    key("timeout", "Time limit of this step.", duration),
    key("retry", "Extra attempts after a failure.", count),
    key(
        "continue-on-error",
        "A failure does not fail the job.",
        boolean,
    ),
    key(
        "if",
        "Condition; by default a step runs only while the job succeeds.",
        condition,
    ),
    key("shell", "Shell for this step.", shell),
    key(
        "image",
        "Runs this step in a container of its own image (`runs-on: docker` jobs).",
        image,
    ),
];

pub(crate) const SERVICE_KEYS: &[KeyDef] = &[
    key("image", "The service's image.", image),
    key(
        "env",
        "Environment of the service; may use `env`, `inputs`, `git`, `secrets`.",
        env,
    ),
    key(
        "command",
        "Replaces the image's command: a string run by `sh -c`, or a list of words.",
        command,
    ),
    key(
        "health",
        "A check the job waits for before its first step.",
        health,
    ),
];

pub(crate) const HEALTH_KEYS: &[KeyDef] = &[
    key(
        "cmd",
        "Run by `sh -c` in the service's container; exit 0 means healthy.",
        string,
    ),
    key("interval", "Time between checks (default 1s).", duration),
    key(
        "timeout",
        "How long the service may take to become healthy (default 60s).",
        duration,
    ),
];

pub(crate) const RESOURCE_KEYS: &[KeyDef] = &[
    key("cpus", "CPUs the container may use, e.g. 1.5.", cpus),
    key(
        "memory",
        "Memory limit: bytes, or a number with k, m, g or t (powers of 1024), e.g. `512m`.",
        memory,
    ),
];

pub(crate) const CACHE_KEYS: &[KeyDef] = &[
    key("key", "Cache key; usually uses `hashFiles(…)`.", string),
    key("paths", "Directories to restore and save.", string_list),
];

pub(crate) const REPORT_KEYS: &[KeyDef] = &[key("junit", "Globs of JUnit XML files.", string_list)];

pub(crate) fn names(keys: &[KeyDef]) -> impl Iterator<Item = &'static str> + Clone + '_ {
    keys.iter().map(|k| k.name)
}

/// The JSON Schema (draft 2020-12) of `slipway.yml`.
pub fn json_schema() -> Value {
    let mut schema = object(PIPELINE_KEYS, &["jobs"]);
    if let Some(map) = schema.as_object_mut() {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        map.insert(
            "$id".into(),
            json!("https://slipway.dev/slipway.schema.json"),
        );
        map.insert("title".into(), json!("slipway.yml"));
        map.insert(
            "description".into(),
            json!("A Slipway pipeline. See docs/pipeline.md."),
        );
    }
    schema
}

pub(crate) fn object(keys: &[KeyDef], required: &[&str]) -> Value {
    let properties: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| {
            let mut schema = (k.schema)();
            if let Some(map) = schema.as_object_mut() {
                map.insert("description".into(), json!(k.doc));
            }
            (k.name.to_string(), schema)
        })
        .collect();
    let mut value = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty()
        && let Some(map) = value.as_object_mut()
    {
        map.insert("required".into(), json!(required));
    }
    value
}

pub(crate) fn string() -> Value {
    json!({"type": "string"})
}
pub(crate) fn boolean() -> Value {
    json!({"type": "boolean"})
}
fn scalar() -> Value {
    json!({"type": ["string", "number", "boolean"]})
}
fn count() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": crate::check::MAX_RETRY})
}
fn identifier() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"})
}
fn string_list() -> Value {
    json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
}
fn string_or_list() -> Value {
    string_list()
}
fn condition() -> Value {
    json!({"type": ["string", "boolean", "number"]})
}
fn shell() -> Value {
    json!({"enum": ["bash", "sh"]})
}
fn duration() -> Value {
    json!({"oneOf": [
        {"type": "integer", "minimum": 0, "description": "Seconds."},
        {"type": "string", "pattern": "^([0-9]+[hms])+$|^[0-9]+$"}
    ]})
}
pub(crate) fn env() -> Value {
    json!({
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {"type": ["string", "number", "boolean"]}
    })
}
fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}})
}
fn triggers() -> Value {
    let names: Vec<&str> = names(TRIGGER_KEYS).filter(|n| *n != "schedule").collect();
    json!({"oneOf": [
        {"enum": names},
        {"type": "array", "items": {"enum": names}},
        object(TRIGGER_KEYS, &[]),
    ]})
}
fn branch_filter_or_null() -> Value {
    json!({"oneOf": [{"type": "null"}, object(BRANCH_FILTER_KEYS, &[])]})
}
fn tag_filter_or_null() -> Value {
    json!({"oneOf": [{"type": "null"}, object(TAG_FILTER_KEYS, &[])]})
}
fn concurrency() -> Value {
    json!({"oneOf": [
        {"type": "string", "minLength": 1},
        object(CONCURRENCY_KEYS, &["group"]),
    ]})
}
fn schedule() -> Value {
    json!({"type": "array", "items": object(SCHEDULE_KEYS, &["cron"])})
}
fn manual() -> Value {
    json!({"oneOf": [{"type": "null"}, object(MANUAL_KEYS, &[])]})
}
pub(crate) fn manual_inputs() -> Value {
    json!({"type": "object", "additionalProperties": object(INPUT_KEYS, &[])})
}
fn input_type() -> Value {
    json!({"enum": ["string", "boolean", "number", "choice"]})
}
fn jobs() -> Value {
    let mut job = object(JOB_KEYS, &[]);
    if let Some(map) = job.as_object_mut() {
        // One of `steps`, `deploy` or `approval`; the other two kinds have none of the keys
        // about steps.
        map.insert("oneOf".into(), crate::schema_deploy::job_kinds());
        // `image` is required with `runs-on: docker`; the container keys need it.
        map.insert(
            "if".into(),
            json!({"properties": {"runs-on": {"const": "docker"}}, "required": ["runs-on"]}),
        );
        map.insert("then".into(), json!({"required": ["image"]}));
        map.insert(
            "else".into(),
            json!({"properties": {
                "image": false, "services": false, "resources": false, "pull": false,
                "steps": {"items": {"properties": {"image": false}}}
            }}),
        );
    }
    json!({
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
        "additionalProperties": job,
        "minProperties": 1
    })
}
fn steps() -> Value {
    json!({"type": "array", "minItems": 1, "items": object(STEP_KEYS, &["run"])})
}
fn matrix() -> Value {
    let entries = json!({"type": "array", "items": {"type": "object"}});
    json!({
        "type": "object",
        "properties": {"include": entries.clone(), "exclude": entries},
        "additionalProperties": {"type": "array", "minItems": 1}
    })
}
fn artifacts() -> Value {
    json!({"oneOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "additionalProperties": {"type": "string"}}
    ]})
}
fn cache() -> Value {
    object(CACHE_KEYS, &["key", "paths"])
}
fn reports() -> Value {
    object(REPORT_KEYS, &[])
}
fn runs_on() -> Value {
    json!({"enum": ["local", "docker"]})
}
pub(crate) fn image() -> Value {
    json!({"type": "string", "pattern": "^[^\\s]+$"})
}
fn services() -> Value {
    json!({
        "type": "object",
        "propertyNames": {"pattern": crate::container::SERVICE_NAME_PATTERN},
        "additionalProperties": object(SERVICE_KEYS, &["image"])
    })
}
fn command() -> Value {
    json!({"oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "minItems": 1, "items": {"type": "string"}}
    ]})
}
fn health() -> Value {
    object(HEALTH_KEYS, &["cmd"])
}
fn resources() -> Value {
    object(RESOURCE_KEYS, &[])
}
fn cpus() -> Value {
    json!({
        "type": "number",
        "minimum": crate::container::MIN_CPUS,
        "maximum": crate::container::MAX_CPUS
    })
}
fn memory() -> Value {
    json!({"oneOf": [
        {"type": "integer", "minimum": crate::container::MIN_MEMORY, "description": "Bytes."},
        {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)? ?([kKmMgGtT][iI]?)?[bB]?$"}
    ]})
}
fn pull() -> Value {
    json!({"enum": ["if-missing", "always", "never"]})
}
