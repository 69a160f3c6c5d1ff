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
