//! What identifies a job's work for its cache key: its definition, and
//! the files `hashFiles(…)` names.

use slipway_spec::model::{Job, Shell};

use crate::cachekey::DefinitionHasher;
use crate::ports::Workspace;
use crate::records::Digest;

/// The digest of everything in a job's definition that can change what it
/// does: a change here is a cache miss "the job's definition changed".
pub(crate) fn definition_digest(job: &Job, matrix: &[(String, serde_json::Value)]) -> Digest {
    let mut h = DefinitionHasher::default();
    h.field("id", &job.id).field("shell", shell_name(job.shell));
    for (name, value) in matrix {
        h.field("matrix", name).field("value", &value.to_string());
    }
    for var in &job.env {
        h.field("env", &var.name).field("value", var.value.source());
    }
    for step in &job.steps {
        h.field("step", step.id.as_deref().unwrap_or(""))
            .field("run", step.run.source());
        h.field("shell", step.shell.map_or("", shell_name));
        if let Some(dir) = &step.workdir {
            h.field("workdir", dir.source());
        }
        if let Some(condition) = &step.condition {
            h.field("if", condition.source());
        }
        h.field(
            "continue-on-error",
            if step.continue_on_error { "1" } else { "0" },
        );
        for var in &step.env {
            h.field("env", &var.name).field("value", var.value.source());
        }
    }
    for output in &job.outputs {
        h.field("output", &output.name)
            .field("value", output.value.source());
    }
    for artifact in &job.artifacts {
        h.field("artifact", &artifact.name)
            .field("path", &artifact.path);
    }
    for glob in &job.inputs {
        h.field("input", glob);
    }
    for glob in &job.reports.junit {
        h.field("junit", glob);
    }
    h.finish()
}

fn shell_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "bash",
        Shell::Sh => "sh",
    }
}

/// `hashFiles(…)`: one digest over the matched files' paths and contents;
/// empty when nothing matches, as in GitHub Actions.
pub(crate) fn hash_files<W: Workspace>(ws: &W, patterns: &[String]) -> Result<String, String> {
    let files = ws.hash_inputs(patterns).map_err(|e| e.to_string())?;
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut hasher = blake3::Hasher::new();
    for (path, digest) in &files {
        hasher.update(path.as_bytes());
        hasher.update(b"\0");
        hasher.update(digest.0.as_bytes());
    }
    Ok(hasher.finalize().to_hex().to_string())
}
