//! The command-line front end: parses arguments, wires the engine to an
//! executor, a store and the terminal, and maps outcomes to exit codes.
//!
//! Exit codes: 0 the pipeline succeeded, 1 it failed (or was cancelled),
//! 2 the file or the command line is invalid. `slipway judge`: 0 Pass,
//! 1 Fail or Marginal, 2 unreadable or malformed samples.

mod args;
mod git;
mod judge;
mod run;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command};

/// The outcome of a command, as the process reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
        }
    };
    let exit = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => run::validate(args),
        Command::Judge(args) => judge::judge(args),
        Command::Schema => {
            let schema = slipway_spec::json_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            Exit::Success
        }
    };
    exit.into()
}
