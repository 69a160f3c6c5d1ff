//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    about = "CI/CD in one binary: run pipelines, deploy, release"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline on this machine, with the engine the server uses.
    Run(RunArgs),
    /// Check a pipeline file and print every error in it.
    Validate(ValidateArgs),
    /// Print the JSON Schema of slipway.yml.
    Schema,
    /// Compare saved canary samples with baseline samples (Mann-Whitney U) and print the verdict.
    Judge(JudgeArgs),
    /// Start the server with a built-in agent and run the example project: the first command to try.
    Up(UpArgs),
    /// Start the server alone (no built-in agent, no example), for a team's installation.
    Server(ServerArgs),
    /// Run a remote agent: claim jobs from a server and run them on this machine.
    Agent(AgentArgs),
    /// Register and list projects (git repositories the server builds).
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Set a project's secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Start a run of a project by hand.
    Trigger(TriggerArgs),
    /// List runs, newest first.
    Runs(RunsArgs),
    /// Print a run's logs, or follow them live.
    Logs(LogsArgs),
    /// Cancel a run.
    Cancel(CancelArgs),
    /// Run a run's failed jobs again (or the jobs named), keeping the results of the others.
    Retry(RetryArgs),
    /// Create API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Users of the server: add them, set their web UI passwords.
    #[command(subcommand)]
    User(UserCommand),
    /// The server's audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Environments of this repository: their targets, what runs there, and stopping them.
    #[command(subcommand)]
    Env(EnvCommand),
    /// List an environment's deployments, oldest first.
    Deployments(DeploymentsArgs),
    /// Redeploy the previous release of an environment with its strategy.
    Rollback(RollbackArgs),
    /// Approve (or reject) a job waiting for approval on the server.
    Approve(ApproveArgs),
    /// Release a digest to an environment on the server, on demand.
    Release(ReleaseArgs),
    /// DORA metrics of an environment from its release records.
    Dora(DoraArgs),
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The run's id.
    pub run: i64,
    /// The job waiting (its id, or instance key for a matrix job).
    pub job: String,
    /// Reject instead of approving.
    #[arg(long)]
    pub reject: bool,
    /// Why; kept with the decision and the release.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// A typed input the approval asks for, NAME=VALUE. Repeatable.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// The gate of the job: a canary's `pause: until-approved` (`canary step N`);
    /// default: the job's own approval.
    #[arg(long, value_name = "GATE")]
    pub gate: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The project's name.
    pub project: String,
    /// The environment to release to.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// The artifact's digest [default: the newest digest released
    /// successfully to the environment this one requires, else to any].
    #[arg(long, value_name = "DIGEST")]
    pub digest: Option<String>,
    /// Deploy inside a freeze window (admins only); the reason is recorded.
    #[arg(long, value_name = "REASON")]
    pub override_freeze: Option<String>,
    /// Follow the release run's log until it ends; exit with its result.
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct DoraArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    /// The environment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// The period, ending now: `30d`, `12h`, `2w`.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// Ask the server about this project instead of reading this repository's local records.
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which repository: the directory of the pipeline file, as for `slipway run`.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// The pipeline file (or its directory) whose directory is the repository root, as for
    /// `slipway run --file`: environments are ROOT/.slipway/environments/NAME.yml, their state
    /// ROOT/.slipway/local/environments/NAME/.
    #[arg(short, long, default_value = "slipway.yml")]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Print an environment's topology: targets, digest and version, phase, health, HAProxy state.
    Show(EnvShowArgs),
    /// List the environments defined in .slipway/environments/.
    List(RepoArgs),
    /// Take every target out of the pool, stop its service and remove its release.
    Stop(EnvStopArgs),
}

#[derive(Debug, Args)]
pub struct EnvShowArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The environment's name.
    pub environment: String,
    /// Print the topology as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnvStopArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The environment's name.
    pub environment: String,
}

#[derive(Debug, Args)]
pub struct DeploymentsArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The environment's name.
    pub environment: String,
    /// Print the records as JSON, with each target's details.
    #[arg(long)]
    pub json: bool,
    /// Only the last N deployments.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The environment's name.
    pub environment: String,
}

/// Where the server is and who is asking. Each falls back to the
/// environment, then to the local `slipway up`.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// The server's URL [env: SLIPWAY_SERVER; default: http://127.0.0.1:8080].
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// An API token [env: SLIPWAY_TOKEN; default: the admin token in the data directory].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct UpArgs {
    /// Where the server listens [env: SLIPWAY_LISTEN; default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Database, logs, admin token [env: SLIPWAY_HOME; default: ~/.local/share/slipway].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` or `sqlite://…` [env: SLIPWAY_DATABASE; default: SQLite in the data directory].
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub common: UpArgs,
    /// A TOML file of settings (flags and environment win over it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// What this agent offers; a job runs only on an agent having all its labels.
    #[arg(long, value_delimiter = ',', default_value = "linux")]
    pub labels: Vec<String>,
    /// The agent's name, unique among connected agents [default: the host name].
    #[arg(long)]
    pub name: Option<String>,
    /// Mirrors, checkouts and caches [default: `agent` in the data directory, e.g. ~/.local/share/slipway/agent].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Jobs run at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub capacity: u32,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Register a git repository as a project.
    Add(ProjectAddArgs),
    /// List the projects.
    List(ApiArgs),
}

#[derive(Debug, Args)]
pub struct ProjectAddArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// A local path, file:// URL or any URL git can fetch.
    pub url: String,
    /// The project's name [default: the repository's last path component].
    #[arg(long)]
    pub name: Option<String>,
    /// The webhooks' shared secret [default: generated and printed once].
    #[arg(long, value_name = "SECRET")]
    pub webhook_secret: Option<String>,
    /// The default branch [default: the remote's HEAD, else main].
    #[arg(long)]
    pub branch: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set a secret; its value is read from standard input.
    Set(SecretSetArgs),
}

#[derive(Debug, Args)]
pub struct SecretSetArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    pub project: String,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    pub project: String,
    /// A branch, tag or commit [default: the project's default branch].
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// An input of the pipeline's manual trigger, NAME=VALUE. Repeatable.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Follow the run's logs until it ends; exit with its result.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Only this project's runs.
    #[arg(long)]
    pub project: Option<String>,
    /// Only runs with this status (queued, running, succeeded, failed, cancelled).
    #[arg(long)]
    pub status: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Print the runs as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The run's id (first column of `slipway runs`).
    pub run: i64,
    /// Only this job's logs (its key, e.g. `test` or `lint (sh)`).
    #[arg(long)]
    pub job: Option<String>,
    /// Keep printing lines as they come until the run ends; exit with its result.
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The run's id.
    pub run: i64,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The run's id.
    pub run: i64,
    /// Run this job (and the jobs after it) again; repeatable [default: every job that did not succeed].
    #[arg(long = "job", value_name = "JOB")]
    pub jobs: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; exit 1 naming the first entry
    /// changed, inserted or removed.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: the server keeps only its hash).
    Create(TokenCreateArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (server administrators); prints their first API token.
    Add(UserAddArgs),
    /// Set a user's web UI password, read from standard input (typed
    /// without echo at a terminal). Administrators set anyone's.
    Password(UserPasswordArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    pub name: String,
    /// A server administrator, who may do everything.
    #[arg(long)]
    pub admin: bool,
}

#[derive(Debug, Args)]
pub struct UserPasswordArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// What the token is for, e.g. `ci-laptop` or `agent-7`.
    pub name: String,
    /// A token for `slipway agent` instead of a personal one.
    #[arg(long)]
    pub agent: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file, or a directory holding slipway.yml.
    #[arg(short, long, default_value = "slipway.yml")]
    pub file: PathBuf,
    /// Run only these jobs (by id or instance key) and the jobs they need.
    pub jobs: Vec<String>,
    /// Give each job a fresh checkout of HEAD instead of the directory as it is.
    #[arg(long)]
    pub clean: bool,
    /// Keep the run's records in memory instead of .slipway/local/.
    #[arg(long)]
    pub no_store: bool,
    /// Show for each job why its cache hit or missed.
    #[arg(long)]
    pub explain: bool,
    /// Print events as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Jobs that may run at once (default: the number of cores).
    #[arg(short = 'j', long)]
    pub parallel: Option<usize>,
    /// Stop the run at the first failed job.
    #[arg(long)]
    pub fail_fast: bool,
    /// A secret, NAME=VALUE; masked in every log. Repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// A file of NAME=VALUE lines of secrets.
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
    /// An input of a manual run, NAME=VALUE. Repeatable.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Answer approval gates without asking: `all` approves every one.
    /// Without it, the terminal asks (and a run without a terminal fails the gate).
    #[arg(long, value_name = "all")]
    pub approve: Option<String>,
    /// Colour: auto, always or never.
    #[arg(long, default_value = "auto")]
    pub color: String,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline file (default: slipway.yml).
    #[arg(default_value = "slipway.yml")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Baseline samples: a JSON array of numbers, or an object of metric name → array.
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// Canary samples, shaped like the baseline's.
    #[arg(long, value_name = "FILE")]
    pub canary: PathBuf,
    /// Which change is bad: increase, decrease or either.
    #[arg(long, value_enum, default_value = "either")]
    pub direction: JudgeDirection,
    /// Confidence level of the shift's interval.
    #[arg(long, default_value_t = 0.98)]
    pub confidence: f64,
    /// Print the verdict and its evidence as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--direction` of `slipway judge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JudgeDirection {
    Increase,
    Decrease,
    Either,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, clap::Error> {
        let words = std::iter::once("slipway").chain(line.split_whitespace());
        Cli::try_parse_from(words).map(|cli| cli.command)
    }

    #[test]
    fn the_verifier_of_clap_accepts_the_command_line() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn server_commands() {
        let Ok(Command::Up(up)) = parse("up --listen 127.0.0.1:9 --data-dir /d") else {
            panic!("up");
        };
        assert_eq!(up.listen.as_deref(), Some("127.0.0.1:9"));
        assert_eq!(up.data_dir, Some(PathBuf::from("/d")));
        let Ok(Command::Server(server)) = parse("server --config c.toml --database postgres://x")
        else {
            panic!("server");
        };
        assert_eq!(server.config, Some(PathBuf::from("c.toml")));
        assert_eq!(server.common.database.as_deref(), Some("postgres://x"));
        let Ok(Command::Agent(agent)) =
            parse("agent --server http://h:1 --token t --labels linux,docker --capacity 3")
        else {
            panic!("agent");
        };
        assert_eq!(agent.labels, vec!["linux", "docker"]);
        assert_eq!(agent.capacity, 3);
        assert_eq!(agent.api.token.as_deref(), Some("t"));
        let Ok(Command::Agent(agent)) = parse("agent") else {
            panic!("agent defaults");
        };
        assert_eq!(
            (agent.labels, agent.capacity),
            (vec!["linux".to_string()], 1)
        );
        assert!(parse("agent --capacity 0").is_err());
        assert!(parse("up --config c.toml").is_err(), "up takes no file");
    }

    #[test]
    fn api_commands() {
        let Ok(Command::Project(ProjectCommand::Add(add))) =
            parse("project add /repo --name n --branch dev --webhook-secret s")
        else {
            panic!("project add");
        };
        assert_eq!(
            (add.url.as_str(), add.name.as_deref(), add.branch.as_deref()),
            ("/repo", Some("n"), Some("dev"))
        );
        let Ok(Command::Trigger(trigger)) =
            parse("trigger p --ref v1 --input a=1 --input b=2 --follow --server http://x:1")
        else {
            panic!("trigger");
        };
        assert_eq!(trigger.git_ref.as_deref(), Some("v1"));
        assert_eq!(trigger.inputs, vec!["a=1", "b=2"]);
        assert!(trigger.follow);
        assert_eq!(trigger.api.server.as_deref(), Some("http://x:1"));
        let Ok(Command::Logs(logs)) = parse("logs 12 --job test -f") else {
            panic!("logs");
        };
        assert_eq!(
            (logs.run, logs.job.as_deref(), logs.follow),
            (12, Some("test"), true)
        );
        let Ok(Command::Retry(retry)) = parse("retry 3 --job a --job b") else {
            panic!("retry");
        };
        assert_eq!(retry.jobs, vec!["a", "b"]);
        let Ok(Command::Runs(runs)) = parse("runs --project p --status failed --json") else {
            panic!("runs");
        };
        assert_eq!((runs.limit, runs.json), (20, true));
        let Ok(Command::Token(TokenCommand::Create(token))) = parse("token create ci --agent")
        else {
            panic!("token");
        };
        assert!(token.agent);
        assert!(matches!(
            parse("secret set p NAME"),
            Ok(Command::Secret(SecretCommand::Set(_)))
        ));
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        for line in [
            "logs abc",
            "logs",
            "cancel",
            "runs --limit 0",
            "project add",
            "secret set p",
            "token create",
            "trigger",
        ] {
            let error = parse(line).err().unwrap_or_else(|| panic!("{line} parsed"));
            assert!(error.use_stderr(), "{line}");
        }
    }
}
