//! The typed model of a validated `slipway.yml`.
//!
//! Everything here has passed validation: job ids are well formed, `needs` name existing jobs and
//! form no cycle, expressions parsed, globs compile, cron strings have five valid fields. Maps of
//! the file are kept as `Vec`s in file order so that plans, logs and snapshots are deterministic.
//! Items an error may later need to point at carry a [`Span`].

use std::time::Duration;

pub use crate::expr::{Condition, Template};

/// A position in the pipeline file: 1-based line and 1-based column counted in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters (not bytes).
    pub col: u32,
}

/// A whole pipeline file.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// `name:`, shown in run listings.
    pub name: Option<String>,
    /// `on:`, the events that start a run.
    pub on: Triggers,
    /// `env:` at the top level, seen by every job and step.
    pub env: Env,
    /// `concurrency:` of the whole run: at most one run of the group at a time.
    pub concurrency: Option<Concurrency>,
    /// `jobs:`, in file order.
    pub jobs: Vec<Job>,
}

/// `concurrency:`, as in GitHub Actions: runs (or jobs) whose rendered `group` is equal run one
/// at a time. With `cancel-in-progress: true` a newcomer cancels the one in progress; without
/// it, newcomers queue in commit order (docs/pipeline.md, "Concurrency").
#[derive(Clone, Debug)]
pub struct Concurrency {
    /// `group:` (or the whole value in the string form). A template that may use `git`,
    /// `inputs` and `env`, and at job level `matrix`; never blank.
    pub group: Template,
    /// `cancel-in-progress:` (default false).
    pub cancel_in_progress: bool,
    /// Where `concurrency` is written.
    pub span: Span,
}

impl Pipeline {
    /// The job with this id, if any.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|job| job.id == id)
    }
}

/// Environment variables in file order.
pub type Env = Vec<EnvVar>;

/// One `NAME: value` entry of an `env:` map.
#[derive(Clone, Debug)]
pub struct EnvVar {
    /// The variable name.
    pub name: String,
    /// The value, which may contain `${{ }}` expressions.
    pub value: Template,
    /// Where the name is written.
    pub span: Span,
}

/// `on:`. A short form (`on: push`, `on: [push, tag]`) yields filters with no patterns.
#[derive(Clone, Debug, Default)]
pub struct Triggers {
    /// `push:` (branch pushes).
    pub push: Option<RefFilter>,
    /// `pull_request:`.
    pub pull_request: Option<RefFilter>,
    /// `tag:` (tag pushes).
    pub tag: Option<RefFilter>,
    /// `schedule:`, a list of cron entries.
    pub schedule: Vec<Schedule>,
    /// `manual:`, runs started from the UI, CLI or API.
    pub manual: Option<Manual>,
}

/// Ref and path filters of a push, pull request or tag trigger. Each list holds patterns (see
/// [`Triggers::matches`] and docs/pipeline.md) that have been checked to compile; an empty list
/// means "no constraint". `push` and `pull_request` use only `branches*` and `paths*`, `tag`
/// only `tags*`; a list and its `-ignore` twin are never both set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefFilter {
    /// `branches:`.
    pub branches: Vec<String>,
    /// `branches-ignore:`.
    pub branches_ignore: Vec<String>,
    /// `tags:`.
    pub tags: Vec<String>,
    /// `tags-ignore:`.
    pub tags_ignore: Vec<String>,
    /// `paths:`.
    pub paths: Vec<String>,
    /// `paths-ignore:`.
    pub paths_ignore: Vec<String>,
}

/// One `- cron: "…"` entry of `schedule:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Five-field cron expression (minute hour day-of-month month day-of-week), in UTC.
    pub cron: String,
    /// Where the cron string is written.
    pub span: Span,
}

/// `manual:`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manual {
    /// `inputs:`, in file order.
    pub inputs: Vec<ManualInput>,
}

/// One typed input of a manual run, visible to expressions as `inputs.<name>`.
#[derive(Clone, Debug, PartialEq)]
pub struct ManualInput {
    /// The input name.
    pub name: String,
    /// `type:`.
    pub kind: InputKind,
    /// `required:` (default false).
    pub required: bool,
    /// `default:`, already checked against `kind`.
    pub default: Option<serde_json::Value>,
    /// `description:`.
    pub description: Option<String>,
    /// Where the input name is written.
    pub span: Span,
}

/// The type of a manual input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// `type: string` (the default).
    String,
    /// `type: boolean`.
    Boolean,
    /// `type: number`.
    Number,
    /// `type: choice` with its `options:`.
    Choice(Vec<String>),
}

/// One entry of `jobs:`.
#[derive(Clone, Debug)]
pub struct Job {
    /// The key under `jobs:`; matches `[A-Za-z_][A-Za-z0-9_-]*`.
    pub id: String,
    /// Where the id is written.
    pub span: Span,
    /// `name:`, a display name that may use `matrix`.
    pub name: Option<Template>,
    /// `needs:`, jobs that must finish first.
    pub needs: Vec<Need>,
    /// `matrix:`.
    pub matrix: Option<Matrix>,
    /// `if:`, evaluated when the job becomes ready.
    pub condition: Option<Condition>,
    /// `env:`.
    pub env: Env,
    /// `shell:` for every step that does not set its own (default bash).
    pub shell: Shell,
    /// `steps:`, in order. Never empty for a steps job; always empty for a deploy job
    /// (one with [`Job::deploy`]).
    pub steps: Vec<Step>,
    /// `deploy:`: this job rolls an artifact out to an environment instead of running steps
    /// (docs/deploy.md). A job has either `steps` or `deploy`, never both.
    pub deploy: Option<crate::deploy::DeployJob>,
    /// `approval:`: this job waits for people instead of running steps
    /// (docs/delivery.md). A job has one of `steps`, `deploy` or `approval`.
    pub approval: Option<crate::approval::ApprovalJob>,
    /// `timeout:` of the whole job.
    pub timeout: Option<Duration>,
    /// `retry:`, extra attempts of the whole job after a failure.
    pub retry: u32,
    /// `continue-on-error:`: a failure of this job does not fail the run.
    pub continue_on_error: bool,
    /// `outputs:`, published as `needs.<job>.outputs.<name>`.
    pub outputs: Vec<Output>,
    /// `artifacts:`.
    pub artifacts: Vec<ArtifactDecl>,
    /// `inputs:`, globs of files whose contents key the job cache.
    pub inputs: Vec<String>,
    /// `cache:`, a directory cache restored before and saved after the job.
    pub cache: Option<DirCache>,
    /// `reports:`.
    pub reports: Reports,
    /// `runs-on:` with `image:`, `services:`, `resources:` and `pull:`: where the steps run.
    pub runs_on: RunsOn,
    /// `concurrency:` of this job (each matrix instance renders its own group).
    pub concurrency: Option<Concurrency>,
}

/// `runs-on:`: where a job's steps run.
#[derive(Clone, Debug, Default)]
pub enum RunsOn {
    /// `runs-on: local` (the default): processes on the agent's machine.
    #[default]
    Local,
    /// `runs-on: docker`: one container of `image:` for the whole job, each step an exec in it.
    Docker(DockerJob),
}

/// The container settings of a `runs-on: docker` job.
#[derive(Clone, Debug)]
pub struct DockerJob {
    /// `image:`, required with `runs-on: docker`. Checked to be one word, without expressions,
    /// with a lower-case repository path.
    pub image: String,
    /// `services:`, started before the job on a network of their own, reachable by name.
    pub services: Vec<Service>,
    /// `resources:`, limits of the job's container.
    pub resources: Resources,
    /// `pull:` (default `if-missing`).
    pub pull: PullPolicy,
    /// Where `runs-on` is written.
    pub span: Span,
}

/// One entry of `services:`.
#[derive(Clone, Debug)]
pub struct Service {
    /// The key under `services:`: the host name the job reaches it by; a DNS label
    /// (`[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 63 characters), unique in the job.
    pub name: String,
    /// `image:`.
    pub image: String,
    /// `env:`; may use `secrets`, `inputs`, `git`, `env`.
    pub env: Env,
    /// `command:`, replacing the image's command. Already in exec form: a string in the file
    /// becomes `["sh", "-c", string]`; a list is taken as written. Never empty.
    pub command: Option<Vec<String>>,
    /// `health:`: the job starts once this command succeeds in the service's container.
    pub health: Option<HealthCheck>,
    /// Where the service's name is written.
    pub span: Span,
}

/// `health: {cmd, interval, timeout}` of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheck {
    /// A command run by `sh -c` inside the service's container; exit 0 means healthy.
    pub cmd: String,
    /// Time between checks (default 1s); never zero.
    pub interval: Duration,
    /// How long the service may take to become healthy (default 60s); never zero.
    pub timeout: Duration,
}

/// `resources: {cpus, memory}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// CPUs, e.g. `1.5`; from 0.01 to 1024.
    pub cpus: Option<f64>,
    /// Bytes; written `512m`, `2g`, `1024k` (powers of 1024) or a plain number of bytes. At
    /// least 6 MiB (Docker's minimum) and at most `i64::MAX`.
    pub memory: Option<u64>,
}

/// `pull:`: when an image is fetched from its registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull only when the image is not on the Docker host (default).
    #[default]
    IfMissing,
    /// Pull before every job.
    Always,
    /// Never pull: the image must be on the Docker host.
    Never,
}

/// One entry of `needs:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    /// The id of the job needed.
    pub job: String,
    /// Where the name is written.
    pub span: Span,
}

/// The shell that runs `run:` scripts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    /// `bash -e` (default).
    #[default]
    Bash,
    /// `sh -e`.
    Sh,
}

/// One step of a job.
#[derive(Clone, Debug)]
pub struct Step {
    /// Where the step (its first key) begins.
    pub span: Span,
    /// `id:`, unique in the job; exposes `steps.<id>.outputs`.
    pub id: Option<String>,
    /// `name:`.
    pub name: Option<Template>,
    /// `run:`, the script.
    pub run: Template,
    /// `env:`.
    pub env: Env,
    /// `workdir:`, relative to the workspace.
    pub workdir: Option<Template>,
    /// `timeout:`.
    pub timeout: Option<Duration>,
    /// `retry:`, extra attempts after a failure.
    pub retry: u32,
    /// `continue-on-error:`.
    pub continue_on_error: bool,
    /// `if:`.
    pub condition: Option<Condition>,
    /// `shell:`, overriding the job's.
    pub shell: Option<Shell>,
    /// `image:` of a step of a `runs-on: docker` job: this step runs in its own container.
    pub image: Option<String>,
}

/// One `outputs:` entry of a job.
#[derive(Clone, Debug)]
pub struct Output {
    /// The output name.
    pub name: String,
    /// Its value, usually `${{ steps.<id>.outputs.<name> }}`.
    pub value: Template,
    /// Where the name is written.
    pub span: Span,
}

/// One artifact a job produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactDecl {
    /// The artifact name (the path itself for the list form).
    pub name: String,
    /// Path relative to the workspace; checked to be relative and free of `..`.
    pub path: String,
    /// Where the entry is written.
    pub span: Span,
}

/// `cache: {key, paths}`.
#[derive(Clone, Debug)]
pub struct DirCache {
    /// The cache key; usually uses `hashFiles(…)`.
    pub key: Template,
    /// Directories to restore and save.
    pub paths: Vec<String>,
    /// Where `cache:` is written.
    pub span: Span,
}

/// `reports:`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reports {
    /// `junit:`, globs of JUnit XML files.
    pub junit: Vec<String>,
}

/// A matrix entry: axis name and value, in declaration order.
pub type MatrixEntry = Vec<(String, serde_json::Value)>;

/// `matrix:`. See [`Matrix::expand`] for the semantics.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// The axes, in file order, each with its values.
    pub axes: Vec<(String, Vec<serde_json::Value>)>,
    /// `include:` entries.
    pub include: Vec<MatrixEntry>,
    /// `exclude:` entries.
    pub exclude: Vec<MatrixEntry>,
    /// Where `matrix:` is written.
    pub span: Span,
}
