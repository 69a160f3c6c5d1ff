//! The command-line front end: parses arguments, wires the engine to an
//! executor, a store and the terminal, and maps outcomes to exit codes.
//!
//! Exit codes: 0 the pipeline succeeded, 1 it failed (or was cancelled),
//! 2 the file or the command line is invalid. `slipway judge`: 0 Pass,
//! 1 Fail or Marginal, 2 unreadable or malformed samples. Commands over
//! the API: 0 done, 1 the server failed or could not be reached (or the
//! followed run did not succeed), 2 the server refused the request (4xx).
//!
//! Modules: `run` (local runs), `up` (`up`, `server`) with
//! `server_config` and `example`, `agent`, `commands` and `logs` (the
//! commands over the API) with `client` and `sse`, `env`, `env_stop` and
//! `deployments` (environments in the current repository: topology,
//! records, rollback, stop). Environment commands: 0 done, 1 the
//! deployment or a target failed, 2 bad input (unknown environment,
//! invalid file, nothing to roll back to).

mod agent;
mod approve;
mod approve_terminal;
mod args;
mod client;
mod commands;
mod deployments;
mod dora;
mod env;
mod env_stop;
mod example;
mod git;
mod judge;
mod logging;
mod logs;
mod output;
mod release;
mod run;
pub mod server_config;
pub mod sse;
mod stdin_value;
mod terminal;
mod up;
mod users;

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
        Command::Up(args) => {
            logging::init("warn");
            up::up(args)
        }
        Command::Server(args) => {
            logging::init("info");
            up::server(args)
        }
        Command::Agent(args) => {
            logging::init("info");
            agent::agent(args)
        }
        Command::Project(args::ProjectCommand::Add(args)) => block_on(commands::project_add(args)),
        Command::Project(args::ProjectCommand::List(args)) => {
            block_on(commands::project_list(args))
        }
        Command::Secret(args::SecretCommand::Set(args)) => block_on(commands::secret_set(args)),
        Command::Trigger(args) => block_on(commands::trigger(args)),
        Command::Runs(args) => block_on(commands::runs(args)),
        Command::Logs(args) => block_on(logs::logs(args)),
        Command::Cancel(args) => block_on(commands::cancel(args)),
        Command::Retry(args) => block_on(commands::retry(args)),
        Command::Token(args::TokenCommand::Create(args)) => block_on(commands::token_create(args)),
        Command::User(args::UserCommand::Add(args)) => block_on(users::add(args)),
        Command::User(args::UserCommand::Password(args)) => block_on(users::password(args)),
        Command::Audit(args::AuditCommand::Verify(args)) => block_on(commands::audit_verify(args)),
        Command::Env(args::EnvCommand::Show(args)) => env::show(args),
        Command::Env(args::EnvCommand::List(args)) => env::list(args),
        Command::Env(args::EnvCommand::Stop(args)) => env_stop::stop(args),
        Command::Deployments(args) => deployments::deployments(args),
        Command::Rollback(args) => deployments::rollback(args),
        Command::Approve(args) => block_on(approve::approve(args)),
        Command::Release(args) => block_on(release::release(args)),
        Command::Dora(args) => dora::dora(args),
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

/// Runs a command over the API on a small runtime of its own. Ctrl-C
/// stops it quietly (a follower interrupted is not a failure of the run).
fn block_on(command: impl std::future::Future<Output = Exit>) -> Exit {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the runtime: {error}");
            return Exit::Failure;
        }
    };
    let exit = runtime.block_on(async {
        tokio::select! {
            exit = command => exit,
            () = wait_for_signal() => Exit::Failure,
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    exit
}

/// After a first signal started a graceful stop, a second one ends the
/// process at once: running steps are not waited for (their processes may
/// outlive it), and the server's lease expiry requeues or fails their jobs.
async fn force_on_second_signal() {
    wait_for_signal().await;
    eprintln!("stopped at once");
    std::process::exit(Exit::Failure as i32);
}

/// SIGTERM or Ctrl-C.
async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
