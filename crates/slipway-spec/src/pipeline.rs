//! Reads the top level of the file: `name`, `on`, `env`, and hands `jobs` to [`crate::job`].

use crate::check::{Checker, is_env_name};
use crate::cron;
use crate::diagnostic::Diagnostic;
use crate::fields::Field;
use crate::model::{
    Env, EnvVar, InputKind, Manual, ManualInput, Pipeline, RefFilter, Schedule, Triggers,
};
use crate::schema::{
    BRANCH_FILTER_KEYS, INPUT_KEYS, KeyDef, MANUAL_KEYS, PIPELINE_KEYS, SCHEDULE_KEYS,
    TAG_FILTER_KEYS, TRIGGER_KEYS, names,
};
use crate::yaml::{Node, NodeKind};
use crate::{concurrency, deploy_job, graph, job};

/// Reads the whole document. Errors are left in the checker.
pub(crate) fn read(c: &mut Checker<'_>, root: &Node) -> Pipeline {
    let mut pipeline = Pipeline {
        name: None,
        on: Triggers::default(),
        env: Vec::new(),
        concurrency: None,
        jobs: Vec::new(),
    };
    let Some(entries) = c.map(root, "the pipeline file") else {
        return pipeline;
    };
    c.check_keys(entries, PIPELINE_KEYS, "the pipeline file");
    let mut has_jobs = false;
    for (key, value) in entries {
        match key.name.as_str() {
            "name" => pipeline.name = c.text(value, "`name`"),
            "on" => pipeline.on = triggers(c, value),
            "env" => pipeline.env = env(c, value, Field::PipelineEnv),
            "concurrency" => {
                pipeline.concurrency = concurrency::read(c, key, value, Field::PipelineConcurrency)
            }
            "jobs" => {
                has_jobs = true;
                pipeline.jobs = job::read_all(c, value);
            }
            _ => {}
        }
    }
    if !has_jobs {
        c.missing(
            root,
            "jobs",
            "the pipeline file",
            "add a `jobs:` map with at least one job that has `steps` (or `deploy`)",
        );
    }
    graph::check(c, &pipeline.jobs);
    deploy_job::check_artifacts(c, &pipeline.jobs);
    pipeline
}

/// An `env:` map in `field`.
pub(crate) fn env(c: &mut Checker<'_>, node: &Node, field: Field) -> Env {
    let entries = c.optional_map(node, "`env`");
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
        let what = format!("`env.{}`", key.name);
        if let Some(template) = c.template(value, field, &what) {
            out.push(EnvVar {
                name: key.name.clone(),
                value: template,
                span: key.span,
            });
        }
    }
    out
}

fn triggers(c: &mut Checker<'_>, node: &Node) -> Triggers {
    let mut triggers = Triggers::default();
    match &node.kind {
        NodeKind::Str(_) | NodeKind::Seq(_) => {
            for (name, span, width) in c.string_list(node, "`on`") {
                match name.as_str() {
                    "push" => triggers.push = Some(RefFilter::default()),
                    "pull_request" => triggers.pull_request = Some(RefFilter::default()),
                    "tag" => triggers.tag = Some(RefFilter::default()),
                    "manual" => triggers.manual = Some(Manual::default()),
                    "schedule" => c.push(
                        Diagnostic::new(span, width, "`schedule` needs cron entries")
                            .help("write `on: {schedule: [{cron: \"0 4 * * *\"}]}`"),
                    ),
                    _ => {
                        let suggestion = crate::suggest::closest(&name, names(TRIGGER_KEYS));
                        c.push(
                            Diagnostic::new(span, width, format!("unknown trigger `{name}`")).help(match suggestion {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => "the triggers are `push`, `pull_request`, `tag`, `schedule`, `manual`".into(),
                            }),
                        );
                    }
                }
            }
        }
        NodeKind::Map(entries) => {
            c.check_keys(entries, TRIGGER_KEYS, "`on`");
            for (key, value) in entries {
                match key.name.as_str() {
                    "push" => triggers.push = Some(ref_filter(c, value, "push")),
                    "pull_request" => {
                        triggers.pull_request = Some(ref_filter(c, value, "pull_request"))
                    }
                    "tag" => triggers.tag = Some(ref_filter(c, value, "tag")),
                    "schedule" => triggers.schedule = schedule(c, value),
                    "manual" => triggers.manual = Some(manual(c, value)),
                    _ => {}
                }
            }
        }
        NodeKind::Null => {}
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a trigger name, a list or a map for `on`, found {}",
                        node.describe()
                    ),
                )
                .help(
                    "write e.g. `on: push`, `on: [push, tag]` or `on: {push: {branches: [main]}}`",
                ),
            );
        }
    }
    triggers
}

/// The filters of trigger `name` (`push`, `pull_request` or `tag`).
fn ref_filter(c: &mut Checker<'_>, node: &Node, name: &str) -> RefFilter {
    let what = format!("`on.{name}`");
    let allowed: &[KeyDef] = if name == "tag" {
        TAG_FILTER_KEYS
    } else {
        BRANCH_FILTER_KEYS
    };
    let mut filter = RefFilter::default();
    let entries = c.optional_map(node, &what);
    for (key, value) in entries {
        if !allowed.iter().any(|k| k.name == key.name) {
            misplaced_filter(c, key, allowed, &what);
            continue;
        }
        let list_what = format!("`{}`", key.name);
        let target = match key.name.as_str() {
            "branches" => &mut filter.branches,
            "branches-ignore" => &mut filter.branches_ignore,
            "tags" => &mut filter.tags,
            "tags-ignore" => &mut filter.tags_ignore,
            "paths" => &mut filter.paths,
            "paths-ignore" => &mut filter.paths_ignore,
            _ => continue,
        };
        *target = c.filter_patterns(value, &list_what);
    }
    for (include, ignore) in [
        ("branches", "branches-ignore"),
        ("tags", "tags-ignore"),
        ("paths", "paths-ignore"),
    ] {
        if !allowed.iter().any(|k| k.name == include) {
            continue;
        }
        let both = entries.iter().any(|(k, _)| k.name == include)
            && entries.iter().any(|(k, _)| k.name == ignore);
        if let Some((key, _)) = entries.iter().find(|(k, _)| both && k.name == ignore) {
            c.push(
                Diagnostic::new(
                    key.span,
                    ignore.len(),
                    format!("`{include}` and `{ignore}` cannot both be set in {what}"),
                )
                .help(format!(
                    "use `{include}` with `!pattern` entries to exclude"
                )),
            );
        }
    }
    filter
}

/// A filter key that exists, but not for this trigger, gets a message saying where it belongs.
fn misplaced_filter(c: &mut Checker<'_>, key: &crate::yaml::Key, allowed: &[KeyDef], what: &str) {
    let width = key.name.chars().count();
    let (message, help) = match key.name.as_str() {
        "tags" | "tags-ignore" => (
            format!(
                "`{}` does not apply to {what}: tag pushes are the `tag` trigger",
                key.name
            ),
            format!(
                "move it to `on.tag`, e.g. `on: {{tag: {{{}: [\"v*\"]}}}}`",
                key.name
            ),
        ),
        "branches" | "branches-ignore" => (
            format!(
                "`{}` does not apply to {what}: a tag push has no branch",
                key.name
            ),
            "filter tags with `tags` / `tags-ignore`; branch pushes are the `push` trigger"
                .to_string(),
        ),
        "paths" | "paths-ignore" => (
            format!(
                "`{}` does not apply to {what}: a tag push has no changed paths",
                key.name
            ),
            "remove it (GitHub Actions ignores path filters for tags too), or filter by `tags`"
                .to_string(),
        ),
        _ => {
            c.unknown_key(key, names(allowed), what);
            return;
        }
    };
    c.push(Diagnostic::new(key.span, width, message).help(help));
}

fn schedule(c: &mut Checker<'_>, node: &Node) -> Vec<crate::model::Schedule> {
    let NodeKind::Seq(items) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("expected a list for `schedule`, found {}", node.describe()),
            )
            .help("write `schedule: [{cron: \"0 4 * * *\"}]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(entries) = c.map(item, "a `schedule` entry") else {
            continue;
        };
        c.check_keys(entries, SCHEDULE_KEYS, "a `schedule` entry");
        let Some((_, value)) = entries.iter().find(|(k, _)| k.name == "cron") else {
            c.missing(
                item,
                "cron",
                "a `schedule` entry",
                "add `cron: \"minute hour day month weekday\"`",
            );
            continue;
        };
        let Some(cron) = c.text(value, "`cron`") else {
            continue;
        };
        match cron::check(&cron) {
            Ok(()) => out.push(Schedule {
                cron,
                span: value.span,
            }),
            Err(why) => c.push(
                Diagnostic::new(
                    value.span,
                    value.width(),
                    format!("invalid cron expression: {why}"),
                )
                .help("write five fields, e.g. `\"30 4 * * 1-5\"` for 04:30 UTC on weekdays"),
            ),
        }
    }
    out
}

fn manual(c: &mut Checker<'_>, node: &Node) -> Manual {
    let mut manual = Manual::default();
    let entries = c.optional_map(node, "`on.manual`");
    c.check_keys(entries, MANUAL_KEYS, "`on.manual`");
    for (key, value) in entries {
        if key.name == "inputs" {
            manual.inputs = inputs(c, value);
        }
    }
    manual
}

/// Typed inputs by name: `on.manual.inputs`, and the `inputs` of an approval job.
pub(crate) fn inputs(c: &mut Checker<'_>, node: &Node) -> Vec<ManualInput> {
    let entries = c.optional_map(node, "`inputs`");
    let mut out = Vec::with_capacity(entries.len());
    for (name, spec) in entries {
        if let Some(input) = manual_input(c, name.name.clone(), name.span, spec) {
            out.push(input);
        }
    }
    out
}

fn manual_input(
    c: &mut Checker<'_>,
    name: String,
    span: crate::model::Span,
    node: &Node,
) -> Option<ManualInput> {
    let what = format!("input `{name}`");
    let entries = c.optional_map(node, &what);
    c.check_keys(entries, INPUT_KEYS, &what);
    let mut input = ManualInput {
        name,
        kind: InputKind::String,
        required: false,
        default: None,
        description: None,
        span,
    };
    let mut type_node = None;
    let mut options = None;
    let mut default_node = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "required" => input.required = c.boolean(value, "`required`").unwrap_or(false),
            "description" => input.description = c.text(value, "`description`"),
            "type" => type_node = Some(value),
            "options" => options = Some((key, c.string_list(value, "`options`"))),
            "default" => default_node = Some(value),
            _ => {}
        }
    }
    if let Some(value) = type_node {
        input.kind = match c.text(value, "`type`").as_deref() {
            Some("string") | None => InputKind::String,
            Some("boolean") => InputKind::Boolean,
            Some("number") => InputKind::Number,
            Some("choice") => InputKind::Choice(Vec::new()),
            Some(other) => {
                c.push(
                    Diagnostic::new(
                        value.span,
                        value.width(),
                        format!("unknown input type `{other}`"),
                    )
                    .help("use `string`, `boolean`, `number` or `choice`"),
                );
                InputKind::String
            }
        };
    }
    match (&mut input.kind, options) {
        (InputKind::Choice(choices), Some((_, list))) if !list.is_empty() => {
            *choices = list.into_iter().map(|(text, _, _)| text).collect();
        }
        (InputKind::Choice(_), _) => c.push(
            Diagnostic::new(
                span,
                input.name.chars().count(),
                format!("choice {what} has no `options`"),
            )
            .help("list the allowed values under `options:`"),
        ),
        (_, Some((key, _))) => c.push(
            Diagnostic::new(key.span, 7, "`options` applies only to `type: choice`")
                .help("add `type: choice` or remove `options`"),
        ),
        (_, None) => {}
    }
    if let Some(value) = default_node {
        input.default = default_value(c, &input.kind, value, &what);
    }
    Some(input)
}

fn default_value(
    c: &mut Checker<'_>,
    kind: &InputKind,
    node: &Node,
    what: &str,
) -> Option<serde_json::Value> {
    let value = match (kind, &node.kind) {
        (InputKind::Boolean, NodeKind::Bool(b)) => serde_json::Value::Bool(*b),
        (InputKind::Number, NodeKind::Int(i)) => serde_json::Value::from(*i),
        (InputKind::Number, NodeKind::Float(f)) => {
            serde_json::Number::from_f64(*f).map(serde_json::Value::Number)?
        }
        (
            InputKind::String,
            NodeKind::Str(_) | NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_),
        ) => serde_json::Value::String(c.text(node, "`default`")?),
        (InputKind::Choice(options), _) => {
            let text = c.text(node, "`default`")?;
            if !options.is_empty() && !options.contains(&text) {
                c.push(
                    Diagnostic::new(
                        node.span,
                        node.width(),
                        format!("default `{text}` of {what} is not one of its options"),
                    )
                    .help(format!("use one of: {}", options.join(", "))),
                );
                return None;
            }
            serde_json::Value::String(text)
        }
        _ => {
            let expected = match kind {
                InputKind::Boolean => "`true` or `false`",
                InputKind::Number => "a number",
                _ => "a string",
            };
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected {expected} as the default of {what}, found {}",
                        node.describe()
                    ),
                )
                .help("make the default match the input's `type`"),
            );
            return None;
        }
    };
    Some(value)
}
