//! Which expression contexts and functions each field of the file may use.
//!
//! Follows GitHub Actions' context availability: what a field can see depends on when it is
//! evaluated. A job's `if` runs before the job starts (no `steps`, no `job` status); the
//! pipeline's `env` is evaluated once per run (only `inputs`, `git`, `secrets`). `secrets`
//! appears only in `env:` values, so a secret reaches a step only through a variable the file
//! names, and the masker knows where each secret can show up.

/// A field holding an expression or template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    PipelineEnv,
    JobName,
    JobIf,
    JobEnv,
    JobOutput,
    CacheKey,
    StepName,
    StepIf,
    StepRun,
    StepEnv,
    StepWorkdir,
    /// A service's `env`, rendered once per job before the services start.
    ServiceEnv,
    /// The pipeline's `concurrency.group`, rendered when the run is created.
    PipelineConcurrency,
    /// A job's `concurrency.group`, rendered per job instance before it is queued.
    JobConcurrency,
    /// An approval job's `message`, rendered when the gate opens.
    ApprovalMessage,
}

impl Field {
    /// How the field is named in messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Field::PipelineEnv => "the pipeline's `env`",
            Field::JobName => "a job's `name`",
            Field::JobIf => "a job's `if`",
            Field::JobEnv => "a job's `env`",
            Field::JobOutput => "a job's `outputs`",
            Field::CacheKey => "`cache.key`",
            Field::StepName => "a step's `name`",
            Field::StepIf => "a step's `if`",
            Field::StepRun => "a step's `run`",
            Field::StepEnv => "a step's `env`",
            Field::StepWorkdir => "a step's `workdir`",
            Field::ServiceEnv => "a service's `env`",
            Field::PipelineConcurrency => "the pipeline's `concurrency`",
            Field::JobConcurrency => "a job's `concurrency`",
            Field::ApprovalMessage => "an approval's `message`",
        }
    }

    /// The contexts the field may use.
    pub(crate) fn contexts(self) -> &'static [&'static str] {
        match self {
            Field::PipelineEnv => &["inputs", "git", "secrets"],
            Field::JobName => &["env", "matrix", "needs", "inputs", "git"],
            Field::JobIf => &["env", "matrix", "needs", "inputs", "git"],
            Field::JobEnv => &["env", "matrix", "needs", "inputs", "git", "secrets"],
            Field::CacheKey => &["env", "matrix", "needs", "inputs", "git"],
            Field::JobOutput
            | Field::StepName
            | Field::StepIf
            | Field::StepRun
            | Field::StepWorkdir => &["env", "matrix", "steps", "needs", "inputs", "git", "job"],
            Field::StepEnv => &[
                "env", "matrix", "steps", "needs", "inputs", "git", "job", "secrets",
            ],
            // Services start before the job, from the run's values alone: `env` here is the
            // pipeline's env.
            Field::ServiceEnv => &["env", "inputs", "git", "secrets"],
            // Groups are shown in the UI and logs, so never `secrets`; at pipeline level `env`
            // is the pipeline's.
            Field::PipelineConcurrency => &["env", "inputs", "git"],
            Field::JobConcurrency => &["env", "matrix", "inputs", "git"],
            // Rendered when the gate opens, like a job's `name`; an approval job has no matrix.
            Field::ApprovalMessage => &["env", "needs", "inputs", "git"],
        }
    }

    /// Whether `success()`, `failure()`, `always()`, `cancelled()` may be called.
    pub(crate) fn status_functions(self) -> bool {
        matches!(self, Field::JobIf | Field::StepIf)
    }

    /// Whether `hashFiles()` may be called (it reads the workspace, so only inside a job).
    pub(crate) fn hash_files(self) -> bool {
        matches!(
            self,
            Field::CacheKey
                | Field::StepName
                | Field::StepIf
                | Field::StepRun
                | Field::StepEnv
                | Field::StepWorkdir
                | Field::JobOutput
        )
    }

    /// The help for a context the field may not use.
    pub(crate) fn context_help(self, context: &str) -> String {
        if context == "secrets"
            && matches!(self, Field::PipelineConcurrency | Field::JobConcurrency)
        {
            return "a concurrency group is shown in the UI and in logs, so it cannot hold a secret; use a name that is not secret".to_string();
        }
        if context == "secrets" {
            return "map the secret into an environment variable with `env:` (e.g. `TOKEN: ${{ secrets.TOKEN }}`) and use `$TOKEN` instead".to_string();
        }
        let allowed = self.contexts().join(", ");
        format!("{} may use only these contexts: {allowed}", self.describe())
    }
}
