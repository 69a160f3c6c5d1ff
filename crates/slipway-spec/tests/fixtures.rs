//! Fixture-driven snapshots: every `tests/fixtures/valid/*.yml` renders its model, every
//! `tests/fixtures/invalid/*.yml` renders its diagnostics. Adding a case is adding a file.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use slipway_spec::model::*;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn read(path: &Path) -> (String, String) {
    let source =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (name, source)
}

fn settings(kind: &str, source: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("fixtures/snapshots/{kind}"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(source);
    settings.set_omit_expression(true);
    settings
}

#[test]
fn valid_fixtures_parse() {
    for path in fixtures("valid") {
        let (name, source) = read(&path);
        let file = format!("{name}.yml");
        let pipeline = match slipway_spec::parse_pipeline(&source, &file) {
            Ok(pipeline) => pipeline,
            Err(diagnostics) => panic!(
                "{file} should be valid:\n{}",
                diagnostics.render(&source, false)
            ),
        };
        settings("valid", &source).bind(|| insta::assert_snapshot!(name, render(&pipeline)));
    }
}

#[test]
fn invalid_fixtures_report() {
    for path in fixtures("invalid") {
        let (name, source) = read(&path);
        let file = format!("{name}.yml");
        let diagnostics = match slipway_spec::parse_pipeline(&source, &file) {
            Ok(_) => panic!("{file} should be invalid"),
            Err(diagnostics) => diagnostics,
        };
        settings("invalid", &source)
            .bind(|| insta::assert_snapshot!(name, diagnostics.render(&source, false)));
    }
}

/// The model as JSON, expressions shown by their source, so that snapshots do not depend on
/// the expression crate's internal tree.
fn render(p: &Pipeline) -> String {
    let value = json!({
        "name": p.name,
        "on": {
            "push": p.on.push.as_ref().map(filter),
            "pull_request": p.on.pull_request.as_ref().map(filter),
            "tag": p.on.tag.as_ref().map(filter),
            "schedule": p.on.schedule.iter().map(|s| json!({"cron": s.cron, "at": at(s.span)})).collect::<Vec<_>>(),
            "manual": p.on.manual.as_ref().map(|m| m.inputs.iter().map(|i| json!({
                "name": i.name, "kind": format!("{:?}", i.kind), "required": i.required,
                "default": i.default, "description": i.description, "at": at(i.span),
            })).collect::<Vec<_>>()),
        },
        "env": env(&p.env),
        "concurrency": p.concurrency.as_ref().map(concurrency),
        "jobs": p.jobs.iter().map(job).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

fn at(span: Span) -> String {
    format!("{}:{}", span.line, span.col)
}

fn filter(f: &RefFilter) -> Value {
    json!({
        "branches": f.branches, "branches_ignore": f.branches_ignore, "tags": f.tags,
        "tags_ignore": f.tags_ignore, "paths": f.paths, "paths_ignore": f.paths_ignore,
    })
}

fn concurrency(c: &Concurrency) -> Value {
    json!({"group": c.group.source(), "cancel_in_progress": c.cancel_in_progress, "at": at(c.span)})
}

fn env(env: &Env) -> Value {
    env.iter()
        .map(|v| json!([v.name, v.value.source(), at(v.span)]))
        .collect()
}

fn job(j: &Job) -> Value {
    let mut value = steps_job(j);
    // Only deploy jobs show the key, so that the other snapshots stay as they were.
    if let (Some(deploy), Some(map)) = (&j.deploy, value.as_object_mut()) {
        map.insert(
            "deploy".into(),
            json!({
                "environment": deploy.environment,
                "artifact": format!("{:?}", deploy.artifact),
                "strategy": strategy(&deploy.strategy),
                "at": at(deploy.span),
            }),
        );
    }
    // Likewise only approval jobs show `approval`.
    if let (Some(approval), Some(map)) = (&j.approval, value.as_object_mut()) {
        map.insert("approval".into(), self::approval(approval));
    }
    value
}

/// Rolling and blue-green as before; a canary as JSON, its `verify` blocks as slipway-verify
/// serialises them.
fn strategy(s: &slipway_spec::deploy::Strategy) -> Value {
    use slipway_spec::deploy::{CanaryStep, Strategy};
    let Strategy::Canary(canary) = s else {
        return json!(format!("{s:?}"));
    };
    let steps: Vec<Value> = canary
        .steps
        .iter()
        .map(|step| match step {
            CanaryStep::Weight(w) => json!({"weight": w}),
            CanaryStep::Pause(d) => json!({"pause_ms": d.as_millis() as u64}),
            CanaryStep::PauseUntilApproved => json!({"pause": "until-approved"}),
            CanaryStep::Verify(config) => json!({"verify": config}),
        })
        .collect();
    json!({"canary": {
        "canary_targets": format!("{:?}", canary.canary_targets),
        "steps": steps,
        "promote": format!("{:?}", canary.promote),
    }})
}

fn approval(a: &slipway_spec::approval::ApprovalJob) -> Value {
    json!({
        "approvals": a.approvals,
        "approvers": a.approvers.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
        "timeout": a.timeout.as_secs(),
        "on_timeout": format!("{:?}", a.on_timeout),
        "self_approval": a.self_approval,
        "message": a.message,
        "inputs": a.inputs.iter().map(|i| json!({
            "name": i.name, "kind": format!("{:?}", i.kind), "required": i.required,
            "default": i.default, "description": i.description, "at": at(i.span),
        })).collect::<Vec<_>>(),
        "at": at(a.span),
    })
}

fn steps_job(j: &Job) -> Value {
    json!({
        "id": j.id, "at": at(j.span),
        "name": j.name.as_ref().map(|t| t.source()),
        "needs": j.needs.iter().map(|n| json!([n.job, at(n.span)])).collect::<Vec<_>>(),
        "matrix": j.matrix.as_ref().map(|m| json!({
            "axes": m.axes, "include": m.include, "exclude": m.exclude, "at": at(m.span),
            "expanded": m.expand(),
        })),
        "if": j.condition.as_ref().map(|c| c.source()),
        "env": env(&j.env),
        "shell": j.shell,
        "timeout": j.timeout.map(|d| d.as_secs()),
        "retry": j.retry,
        "continue_on_error": j.continue_on_error,
        "outputs": j.outputs.iter().map(|o| json!([o.name, o.value.source(), at(o.span)])).collect::<Vec<_>>(),
        "artifacts": j.artifacts.iter().map(|a| json!([a.name, a.path, at(a.span)])).collect::<Vec<_>>(),
        "inputs": j.inputs,
        "cache": j.cache.as_ref().map(|c| json!({"key": c.key.source(), "paths": c.paths, "at": at(c.span)})),
        "reports": {"junit": j.reports.junit},
        "steps": j.steps.iter().map(step).collect::<Vec<_>>(),
        "runs_on": runs_on(&j.runs_on),
        "concurrency": j.concurrency.as_ref().map(concurrency),
    })
}

fn runs_on(r: &RunsOn) -> Value {
    let RunsOn::Docker(d) = r else {
        return json!("local");
    };
    json!({
        "docker": {
            "image": d.image, "at": at(d.span),
            "pull": format!("{:?}", d.pull),
            "resources": {"cpus": d.resources.cpus, "memory": d.resources.memory},
            "services": d.services.iter().map(|s| json!({
                "name": s.name, "image": s.image, "at": at(s.span),
                "env": env(&s.env),
                "command": s.command,
                "health": s.health.as_ref().map(|h| json!({
                    "cmd": h.cmd, "interval": h.interval.as_secs(), "timeout": h.timeout.as_secs(),
                })),
            })).collect::<Vec<_>>(),
        }
    })
}

fn step(s: &Step) -> Value {
    json!({
        "at": at(s.span), "id": s.id,
        "name": s.name.as_ref().map(|t| t.source()),
        "run": s.run.source(),
        "env": env(&s.env),
        "workdir": s.workdir.as_ref().map(|t| t.source()),
        "timeout": s.timeout.map(|d| d.as_secs()),
        "retry": s.retry,
        "continue_on_error": s.continue_on_error,
        "if": s.condition.as_ref().map(|c| c.source()),
        "shell": s.shell,
        "image": s.image,
    })
}

/// The repository's example pipelines must stay valid.
#[test]
fn repository_examples_are_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let Ok(dirs) = std::fs::read_dir(&examples) else {
        println!("skipped: no examples directory at {}", examples.display());
        return;
    };
    for dir in dirs.filter_map(Result::ok) {
        let path = dir.path().join("slipway.yml");
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Err(diagnostics) = slipway_spec::parse_pipeline(&source, &path.display().to_string())
        {
            panic!("{}", diagnostics.render(&source, false));
        }
    }
}

/// Every complete pipeline in the format reference (a ```yaml block with a top-level `jobs:`)
/// must be valid, so the documentation cannot drift from the parser.
#[test]
fn reference_examples_are_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/pipeline.md");
    let Ok(reference) = std::fs::read_to_string(&path) else {
        println!("skipped: no format reference at {}", path.display());
        return;
    };
    let mut checked = 0;
    for block in reference.split("```yaml\n").skip(1) {
        let source = block.split("```").next().unwrap_or_default();
        if !source.lines().any(|line| line == "jobs:") {
            continue;
        }
        if let Err(diagnostics) = slipway_spec::parse_pipeline(source, "docs/pipeline.md") {
            panic!(
                "an example of docs/pipeline.md is invalid:\n{source}\n{}",
                diagnostics.render(source, false)
            );
        }
        checked += 1;
    }
    assert!(
        checked > 0,
        "no complete pipeline found in {}",
        path.display()
    );
}
