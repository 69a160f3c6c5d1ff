//! The expression contexts a job and its steps see: `env`, `matrix`,
//! `steps`, `needs`, `inputs`, `secrets`, `git`, and the status functions.

use slipway_expr::{Context, Object, StatusFunction, Value};

use crate::records::GitInfo;

static NULL: Value = Value::Null;

/// What `success()`, `failure()` and `cancelled()` answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status {
    pub success: bool,
    pub failure: bool,
    pub cancelled: bool,
}

/// `hashFiles(patterns)`: the digest of the matched files, or an error.
pub type HashFiles<'a> = &'a (dyn Fn(&[String]) -> Result<String, String> + Sync);

/// A borrowed view of every context, for one evaluation.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub env: &'a Value,
    pub matrix: &'a Value,
    pub steps: &'a Value,
    pub needs: &'a Value,
    pub inputs: &'a Value,
    pub secrets: &'a Value,
    pub git: &'a Value,
    /// `job.status`: the job so far.
    pub job: &'a Value,
    pub status: Status,
    /// `hashFiles(…)`, where the caller has a workspace.
    pub hash_files: Option<HashFiles<'a>>,
}

impl<'a> Scope<'a> {
    /// A scope where every context is null.
    pub fn empty() -> Scope<'static> {
        Scope {
            env: &NULL,
            matrix: &NULL,
            steps: &NULL,
            needs: &NULL,
            inputs: &NULL,
            secrets: &NULL,
            git: &NULL,
            job: &NULL,
            status: Status {
                success: true,
                failure: false,
                cancelled: false,
            },
            hash_files: None,
        }
    }
}

impl Context for Scope<'_> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        let value = match name.to_ascii_lowercase().as_str() {
            "env" => self.env,
            "matrix" => self.matrix,
            "steps" => self.steps,
            "needs" => self.needs,
            "inputs" => self.inputs,
            "secrets" => self.secrets,
            "git" => self.git,
            "job" => self.job,
            _ => return None,
        };
        Some(value)
    }

    fn status(&self, function: StatusFunction) -> bool {
        match function {
            StatusFunction::Success => self.status.success,
            StatusFunction::Failure => self.status.failure,
            StatusFunction::Cancelled => self.status.cancelled,
            StatusFunction::Always => true,
        }
    }

    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        match self.hash_files {
            Some(hash) => hash(patterns),
            None => Err("hashFiles() is only available inside a job".to_string()),
        }
    }
}

/// The `git` context.
pub fn git_value(git: &GitInfo) -> Value {
    let mut object = Object::new();
    let text = |s: &Option<String>| s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()));
    object.insert("branch", text(&git.branch));
    object.insert("tag", text(&git.tag));
    object.insert("sha", text(&git.sha));
    object.insert("event", Value::String(git.event.clone()));
    object.insert(
        "changed_paths",
        Value::Array(
            git.changed_paths
                .iter()
                .map(|p| Value::String(p.clone()))
                .collect(),
        ),
    );
    Value::Object(object)
}

/// An object of string values, as `env` and `secrets` are.
pub fn string_object<'s>(pairs: impl IntoIterator<Item = (&'s str, &'s str)>) -> Value {
    let mut object = Object::new();
    for (name, value) in pairs {
        object.insert(name, Value::String(value.to_string()));
    }
    Value::Object(object)
}

/// The `matrix` context of one instance.
pub fn matrix_value(matrix: &[(String, serde_json::Value)]) -> Value {
    let mut object = Object::new();
    for (name, value) in matrix {
        object.insert(name.as_str(), Value::from(value.clone()));
    }
    Value::Object(object)
}

/// The `job` context: `job.status` is `success`, `failure` or `cancelled`.
pub fn job_value(status: Status) -> Value {
    let text = if status.cancelled {
        "cancelled"
    } else if status.failure {
        "failure"
    } else {
        "success"
    };
    let mut object = Object::new();
    object.insert("status", Value::String(text.to_string()));
    Value::Object(object)
}
