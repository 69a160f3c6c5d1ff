//! Reads `jobs:`: each job, its matrix and its steps.

use crate::check::{Checker, is_identifier};
use crate::concurrency;
use crate::container::{self, Placement};
use crate::diagnostic::Diagnostic;
use crate::fields::Field;
use crate::matrix::{ExpandError, MAX_COMBINATIONS, MAX_PRODUCT};
use crate::model::{
    ArtifactDecl, DirCache, Job, Matrix, MatrixEntry, Need, Output, Reports, RunsOn, Shell, Step,
};
use crate::pipeline::env;
use crate::schema::{CACHE_KEYS, JOB_KEYS, REPORT_KEYS, STEP_KEYS};
use crate::schema_delivery::NOT_FOR_APPROVAL;
use crate::schema_deploy::NOT_FOR_DEPLOY;
use crate::yaml::{Key, Node, NodeKind};
use crate::{approval_job, deploy_job};

const ID_HELP: &str =
    "ids start with a letter or `_` and contain only letters, digits, `-` and `_`";

pub(crate) fn read_all(c: &mut Checker<'_>, node: &Node) -> Vec<Job> {
    let Some(entries) = c.map(node, "`jobs`") else {
        return Vec::new();
    };
    if entries.is_empty() {
        c.push(
            Diagnostic::new(node.span, 0, "`jobs` is empty")
                .help("add at least one job with `steps`"),
        );
    }
    let mut jobs = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if !is_identifier(&key.name) {
            c.push(
                Diagnostic::new(
                    key.span,
                    key.name.chars().count(),
                    format!("invalid job id `{}`", key.name),
                )
                .help(format!("rename the job: {ID_HELP}")),
            );
        }
        if let Some(job) = read_job(c, key, value) {
            jobs.push(job);
        }
    }
    jobs
}

fn read_job(c: &mut Checker<'_>, id: &Key, node: &Node) -> Option<Job> {
    let what = format!("job `{}`", id.name);
    let entries = c.map(node, &what)?;
    c.check_keys(entries, JOB_KEYS, "a job");
    let lookup = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, v)| (k, v))
    };

    // A deploy or approval job runs no steps: the keys about steps and containers do not apply
    // to it. A job has one kind; with both `deploy` and `approval`, `deploy` decides.
    let deploy_entry = lookup("deploy");
    let approval_entry = lookup("approval");
    let kind = match (deploy_entry, approval_entry) {
        (Some(_), _) => Kind::Deploy,
        (None, Some(_)) => Kind::Approval,
        (None, None) => Kind::Steps,
    };
    if kind != Kind::Steps {
        for (key, _) in entries {
            not_for(c, key, kind);
        }
    }
    let applies = |name: &str| kind == Kind::Steps || !kind.excludes(name);

    // The matrix first: every template of the job is checked against its axes.
    let matrix = lookup("matrix")
        .filter(|_| applies("matrix"))
        .and_then(|(_, value)| matrix(c, value));
    c.matrix_names = Some(matrix.as_ref().map(matrix_names).unwrap_or_default());
    let needs: Vec<Need> = lookup("needs").map_or_else(Vec::new, |(_, value)| {
        c.string_list(value, "`needs`")
            .into_iter()
            .map(|(job, span, _)| Need { job, span })
            .collect()
    });
    c.needs_names = Some(needs.iter().map(|n| n.job.clone()).collect());
    let deploy = deploy_entry.and_then(|(key, value)| {
        let needs: Vec<String> = needs.iter().map(|n| n.job.clone()).collect();
        deploy_job::read(c, &id.name, key, value, &needs)
    });
    let approval = approval_entry
        .filter(|_| kind == Kind::Approval)
        .and_then(|(key, value)| approval_job::read(c, key, value));
    // `runs-on` before the steps: it decides whether a step may have an `image`.
    let (placement, runs_on_read) = if kind != Kind::Steps {
        (Placement::Invalid, false)
    } else {
        (container::placement(c, entries), true)
    };
    // Steps before outputs: an output may name any step id of the job.
    let steps = lookup("steps")
        .filter(|_| applies("steps"))
        .map(|(_, value)| steps(c, value, placement));
    c.step_ids = Some(
        steps
            .iter()
            .flatten()
            .filter_map(|s| s.id.clone())
            .collect(),
    );
    let has_steps = lookup("steps").is_some();
    let runs_on = if runs_on_read {
        container::runs_on(c, entries, placement)
    } else {
        RunsOn::Local
    };

    let mut job = Job {
        id: id.name.clone(),
        span: id.span,
        name: None,
        needs,
        matrix,
        condition: None,
        env: Vec::new(),
        shell: Shell::Bash,
        steps: steps.unwrap_or_default(),
        deploy,
        approval,
        timeout: None,
        retry: 0,
        continue_on_error: false,
        outputs: Vec::new(),
        artifacts: Vec::new(),
        inputs: Vec::new(),
        cache: None,
        reports: Reports::default(),
        runs_on,
        concurrency: None,
    };
    for (key, value) in entries.iter().filter(|(key, _)| applies(&key.name)) {
        match key.name.as_str() {
            "name" => job.name = c.template(value, Field::JobName, "`name`"),
            "if" => job.condition = c.condition(value, Field::JobIf),
            "env" => job.env = env(c, value, Field::JobEnv),
            "shell" => job.shell = shell(c, value).unwrap_or_default(),
            "timeout" => job.timeout = c.duration(value, "`timeout`"),
            "retry" => job.retry = c.retry(value),
            "continue-on-error" => {
                job.continue_on_error = c.boolean(value, "`continue-on-error`").unwrap_or(false)
            }
            "outputs" => job.outputs = outputs(c, value),
            "artifacts" => job.artifacts = artifacts(c, value),
            "inputs" => job.inputs = c.globs(value, "`inputs`"),
            "cache" => job.cache = cache(c, key, value),
            "reports" => job.reports = reports(c, value),
            "concurrency" => {
                job.concurrency = concurrency::read(c, key, value, Field::JobConcurrency)
            }
            _ => {}
        }
    }
    c.matrix_names = None;
    c.needs_names = None;
    c.step_ids = None;
    if !has_steps && kind == Kind::Steps {
        c.push(
            Diagnostic::new(
                id.span,
                id.name.chars().count(),
                format!("{what} is missing the required key `steps`"),
            )
            .help("add `steps:` with at least one `- run: <command>`, `deploy:` to roll an artifact out to an environment (docs/deploy.md), or `approval:` to wait for people (docs/delivery.md)"),
        );
    }
    Some(job)
}

/// What a job does: run steps, roll out a deployment, or wait for people.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Steps,
    Deploy,
    Approval,
}

impl Kind {
    /// The keys of a steps job this kind does not have, with the reason for each.
    fn not_for(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Steps => &[],
            Kind::Deploy => NOT_FOR_DEPLOY,
            Kind::Approval => NOT_FOR_APPROVAL,
        }
    }

    /// Whether a job key is about steps or containers, which this kind does not have.
    fn excludes(self, name: &str) -> bool {
        self.not_for().iter().any(|(key, _)| *key == name)
    }

    fn key(self) -> &'static str {
        match self {
            Kind::Steps => "steps",
            Kind::Deploy => "deploy",
            Kind::Approval => "approval",
        }
    }
}

/// Reports a key of a deploy or approval job that applies only to another kind of job.
fn not_for(c: &mut Checker<'_>, key: &Key, kind: Kind) {
    let kind_key = kind.key();
    if kind == Kind::Deploy && key.name == "approval" {
        c.push(
            Diagnostic::new(key.span, key.name.chars().count(), "a job has one of `steps`, `deploy` or `approval`, and this one has both `deploy` and `approval`")
                .help("put the approval in a job of its own and list it in the deploy job's `needs`"),
        );
        return;
    }
    let Some((_, why)) = kind.not_for().iter().find(|(name, _)| *name == key.name) else {
        return;
    };
    let message = if key.name == "steps" {
        format!("a job has either `steps` or `{kind_key}`, not both")
    } else {
        format!(
            "`{}` does not apply to {} {kind_key} job",
            key.name,
            article(kind_key)
        )
    };
    let help = if key.name == "steps" {
        "move the steps into a job of their own and list it in this job's `needs`".to_string()
    } else {
        format!("remove `{}`: {why}", key.name)
    };
    c.push(Diagnostic::new(key.span, key.name.chars().count(), message).help(help));
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn shell(c: &mut Checker<'_>, node: &Node) -> Option<Shell> {
    match c.text(node, "`shell`")?.as_str() {
        "bash" => Some(Shell::Bash),
        "sh" => Some(Shell::Sh),
        other => {
            c.push(
                Diagnostic::new(node.span, node.width(), format!("unknown shell `{other}`"))
                    .help("use `bash` (the default) or `sh`"),
            );
            None
        }
    }
}

fn steps(c: &mut Checker<'_>, node: &Node, placement: Placement) -> Vec<Step> {
    let NodeKind::Seq(items) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!(
                    "expected a list of steps for `steps`, found {}",
                    node.describe()
                ),
            )
            .help("write each step as a list item: `- run: make`"),
        );
        return Vec::new();
    };
    if items.is_empty() {
        c.push(
            Diagnostic::new(node.span, node.width(), "`steps` is empty")
                .help("add at least one `- run: <command>`"),
        );
    }
    let mut out: Vec<Step> = Vec::with_capacity(items.len());
    let mut ids: Vec<(String, u32)> = Vec::new();
    for item in items {
        c.step_ids = Some(ids.iter().map(|(id, _)| id.clone()).collect());
        let Some(step) = step(c, item, placement) else {
            continue;
        };
        if let Some(id) = &step.id {
            if let Some((_, line)) = ids.iter().find(|(seen, _)| seen == id) {
                c.push(
                    Diagnostic::new(step.span, 0, format!("duplicate step id `{id}`"))
                        .help("give each step of a job its own `id`")
                        .note(format!("`{id}` is first used at line {line}")),
                );
            } else {
                ids.push((id.clone(), step.span.line));
            }
        }
        out.push(step);
    }
    out
}

fn step(c: &mut Checker<'_>, node: &Node, placement: Placement) -> Option<Step> {
    let entries = c.map(node, "a step")?;
    c.check_keys(entries, STEP_KEYS, "a step");
    let span = entries.first().map_or(node.span, |(k, _)| k.span);
    // `run` is read into an Option of an Option: absent, or present but invalid.
    let mut run = None;
    let (mut id, mut name, mut env_vars, mut workdir) = (None, None, Vec::new(), None);
    let (mut timeout, mut retry, mut continue_on_error) = (None, 0, false);
    let (mut condition, mut step_shell, mut image) = (None, None, None);
    for (key, value) in entries {
        match key.name.as_str() {
            "id" => id = step_id(c, value),
            "name" => name = c.template(value, Field::StepName, "`name`"),
            "run" => run = Some(c.template(value, Field::StepRun, "`run`")),
            "env" => env_vars = env(c, value, Field::StepEnv),
            "workdir" => workdir = c.template(value, Field::StepWorkdir, "`workdir`"),
            "timeout" => timeout = c.duration(value, "`timeout`"),
            "retry" => retry = c.retry(value),
            "continue-on-error" => {
                continue_on_error = c.boolean(value, "`continue-on-error`").unwrap_or(false);
            }
            "if" => condition = c.condition(value, Field::StepIf),
            "shell" => step_shell = shell(c, value),
            "image" => image = container::step_image(c, key, value, placement),
            _ => {}
        }
    }
    let Some(run) = run else {
        c.push(
            Diagnostic::new(span, 0, "a step is missing the required key `run`")
                .help("add `run: <command>` with the command this step executes"),
        );
        return None;
    };
    Some(Step {
        span,
        id,
        name,
        run: run?,
        env: env_vars,
        workdir,
        timeout,
        retry,
        continue_on_error,
        condition,
        shell: step_shell,
        image,
    })
}

fn step_id(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let id = c.text(node, "`id`")?;
    if is_identifier(&id) {
        return Some(id);
    }
    c.push(
        Diagnostic::new(node.span, node.width(), format!("invalid step id `{id}`"))
            .help(format!("rename the step: {ID_HELP}")),
    );
    None
}

fn outputs(c: &mut Checker<'_>, node: &Node) -> Vec<Output> {
    let entries = c.optional_map(node, "`outputs`");
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let what = format!("output `{}`", key.name);
        if let Some(template) = c.template(value, Field::JobOutput, &what) {
            out.push(Output {
                name: key.name.clone(),
                value: template,
                span: key.span,
            });
        }
    }
    out
}

fn artifacts(c: &mut Checker<'_>, node: &Node) -> Vec<ArtifactDecl> {
    let pairs: Vec<(String, String, crate::model::Span, usize)> = match &node.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .filter_map(|(key, value)| {
                let path = c.text(value, &format!("artifact `{}`", key.name))?;
                Some((key.name.clone(), path, value.span, value.width()))
            })
            .collect(),
        _ => c
            .string_list(node, "`artifacts`")
            .into_iter()
            .map(|(path, span, width)| (path.clone(), path, span, width))
            .collect(),
    };
    let mut out = Vec::with_capacity(pairs.len());
    for (name, path, span, width) in pairs {
        if let Some(why) = unsafe_path(&path) {
            c.push(
                Diagnostic::new(span, width, format!("artifact path `{path}` {why}"))
                    .help("use a path relative to the workspace, without `..`"),
            );
            continue;
        }
        out.push(ArtifactDecl { name, path, span });
    }
    out
}

/// Why a workspace path would escape the workspace, if it would.
pub(crate) fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Some("is absolute");
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Some("leaves the workspace (`..`)");
    }
    None
}

fn cache(c: &mut Checker<'_>, key: &Key, node: &Node) -> Option<DirCache> {
    let entries = c.map(node, "`cache`")?;
    c.check_keys(entries, CACHE_KEYS, "`cache`");
    let mut cache_key = None;
    let mut paths = None;
    for (k, value) in entries {
        match k.name.as_str() {
            "key" => cache_key = Some(c.template(value, Field::CacheKey, "`cache.key`")),
            "paths" => paths = Some(c.string_list(value, "`cache.paths`")),
            _ => {}
        }
    }
    for (present, name, help) in [
        (
            cache_key.is_some(),
            "key",
            "add `key:`, e.g. `deps-${{ hashFiles('Cargo.lock') }}`",
        ),
        (
            paths.is_some(),
            "paths",
            "add `paths:` listing the directories to cache",
        ),
    ] {
        if !present {
            c.missing(node, name, "`cache`", help);
        }
    }
    Some(DirCache {
        key: cache_key??,
        paths: paths?.into_iter().map(|(p, _, _)| p).collect(),
        span: key.span,
    })
}

fn reports(c: &mut Checker<'_>, node: &Node) -> Reports {
    let entries = c.optional_map(node, "`reports`");
    c.check_keys(entries, REPORT_KEYS, "`reports`");
    let mut reports = Reports::default();
    for (key, value) in entries {
        if key.name == "junit" {
            reports.junit = c.globs(value, "`reports.junit`");
        }
    }
    reports
}

fn matrix_names(matrix: &Matrix) -> Vec<String> {
    let mut names: Vec<String> = matrix.axes.iter().map(|(name, _)| name.clone()).collect();
    for entry in &matrix.include {
        for (name, _) in entry {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

fn matrix(c: &mut Checker<'_>, node: &Node) -> Option<Matrix> {
    let entries = c.map(node, "`matrix`")?;
    let mut matrix = Matrix {
        axes: Vec::new(),
        include: Vec::new(),
        exclude: Vec::new(),
        span: node.span,
    };
    for (key, value) in entries {
        match key.name.as_str() {
            "include" => matrix.include = matrix_entries(c, value, "`include`"),
            "exclude" => matrix.exclude = matrix_entries(c, value, "`exclude`"),
            _ => {
                let NodeKind::Seq(items) = &value.kind else {
                    c.push(
                        Diagnostic::new(
                            value.span,
                            value.width(),
                            format!(
                                "expected a list of values for matrix axis `{}`, found {}",
                                key.name,
                                value.describe()
                            ),
                        )
                        .help(format!("write `{}: [a, b]`", key.name)),
                    );
                    continue;
                };
                if items.is_empty() {
                    c.push(
                        Diagnostic::new(
                            key.span,
                            key.name.chars().count(),
                            format!("matrix axis `{}` has no values", key.name),
                        )
                        .help("list at least one value, or remove the axis"),
                    );
                    continue;
                }
                matrix
                    .axes
                    .push((key.name.clone(), items.iter().map(to_json).collect()));
            }
        }
    }
    for entry in &matrix.exclude {
        for (name, _) in entry {
            if !matrix.axes.iter().any(|(axis, _)| axis == name) {
                let at = exclude_key_span(entries, name).unwrap_or(node.span);
                c.push(
                    Diagnostic::new(
                        at,
                        name.chars().count(),
                        format!("`exclude` names `{name}`, which is not a matrix axis"),
                    )
                    .help(format!(
                        "`exclude` entries may use only the axes: {}",
                        axis_list(&matrix)
                    )),
                );
            }
        }
    }
    if matrix.axes.is_empty() && matrix.include.is_empty() {
        c.push(
            Diagnostic::new(node.span, 0, "the matrix defines no axes")
                .help("add an axis such as `os: [linux, macos]` or an `include:` entry"),
        );
        return None;
    }
    match matrix.try_expand() {
        Ok(_) => Some(matrix),
        Err(error) => {
            let count = match error {
                ExpandError::ProductTooLarge(Some(n)) => {
                    format!("{n} combinations before `exclude`")
                }
                ExpandError::ProductTooLarge(None) => {
                    "more combinations than can be counted".to_string()
                }
                ExpandError::TooManyCombinations(n) => format!("{n} combinations"),
            };
            c.push(
                Diagnostic::new(node.span, 0, format!("the matrix expands to {count}"))
                    .help(format!("a matrix may produce at most {MAX_COMBINATIONS} jobs (and {MAX_PRODUCT} before `exclude`); split the job or remove values")),
            );
            None
        }
    }
}

fn axis_list(matrix: &Matrix) -> String {
    let names: Vec<&str> = matrix.axes.iter().map(|(n, _)| n.as_str()).collect();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

fn exclude_key_span(entries: &[(Key, Node)], name: &str) -> Option<crate::model::Span> {
    let (_, exclude) = entries.iter().find(|(k, _)| k.name == "exclude")?;
    let NodeKind::Seq(items) = &exclude.kind else {
        return None;
    };
    items.iter().find_map(|item| match &item.kind {
        NodeKind::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, _)| k.span),
        _ => None,
    })
}

fn matrix_entries(c: &mut Checker<'_>, node: &Node, what: &str) -> Vec<MatrixEntry> {
    let NodeKind::Seq(items) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!(
                    "expected a list of maps for {what}, found {}",
                    node.describe()
                ),
            )
            .help(format!("write {what} as `- {{axis: value, …}}` entries")),
        );
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let pairs = c.map(item, &format!("an entry of {what}"))?;
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.name.clone(), to_json(v)))
                    .collect(),
            )
        })
        .collect()
}

/// A YAML value as JSON (non-finite floats become strings, since JSON cannot hold them).
pub(crate) fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::from(*i),
        NodeKind::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| Value::String(f.to_string()), Value::Number),
        NodeKind::Str(s) => Value::String(s.clone()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}
