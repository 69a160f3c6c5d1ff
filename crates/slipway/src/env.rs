//! `slipway env show` and `slipway env list`, and what every environment
//! command shares: the repository root (found as `slipway run` finds it:
//! the directory of the pipeline file), the state directory beside the
//! local store, and loading an environment file with its diagnostics.

use std::path::{Path, PathBuf};

use serde::Serialize;
use slipway_deploy::deployer::{LbServer, TopologyTarget};
use slipway_deploy::{Deployer, Topology};
use slipway_spec::deploy::Environment;

use crate::Exit;
use crate::args::{EnvShowArgs, RepoArgs};
use crate::output;

/// Where deployments keep their state under the repository root, as
/// `slipway run` sets it up.
pub const STATE_DIR: &str = ".slipway/local/environments";

/// The repository root: the directory of `--file` (or `--file` itself when
/// it is a directory), as `slipway run` decides it.
pub fn root(repo: &RepoArgs) -> PathBuf {
    let dir = if repo.file.is_dir() {
        repo.file.as_path()
    } else {
        repo.file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// The deployer over the repository's state directory.
pub fn deployer(root: &Path) -> Deployer {
    Deployer::new(root.join(STATE_DIR))
}

/// Loads `ROOT/.slipway/environments/NAME.yml`; on error prints every
/// problem (file:line:column, or the known environments) and returns the
/// exit for bad input.
pub fn load(root: &Path, name: &str) -> Result<Environment, Exit> {
    slipway_deploy::port::load_environment(root, name).map_err(|message| {
        let message = message.trim_end();
        if message.starts_with("error") {
            eprintln!("{message}");
        } else {
            eprintln!("error: {message}");
        }
        Exit::Usage
    })
}

/// A current-thread runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("error: could not start the runtime: {error}");
            Exit::Failure
        })
}

/// `slipway env list`.
pub fn list(repo: RepoArgs) -> Exit {
    let root = root(&repo);
    let names = slipway_deploy::port::environment_names(&root);
    if names.is_empty() {
        eprintln!(
            "no environments: {} holds no NAME.yml (see docs/deploy.md)",
            root.join(slipway_deploy::port::ENVIRONMENTS_DIR).display()
        );
        return Exit::Success;
    }
    for name in names {
        if !output::line(name) {
            break;
        }
    }
    Exit::Success
}

/// `slipway env show ENV [--json]`.
pub fn show(args: EnvShowArgs) -> Exit {
    let root = root(&args.repo);
    let environment = match load(&root, &args.environment) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    // HAProxy being unreachable is not an error here: each target's HAProxy
    // column says why.
    let topology = match runtime.block_on(deployer(&root).topology(&environment, &root)) {
        Ok(topology) => topology,
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::Failure;
        }
    };
    if args.json {
        output::line(serde_json::to_string_pretty(&topology).unwrap_or_default());
        return Exit::Success;
    }
    for line in render(&environment, &topology) {
        if !output::line(line) {
            break;
        }
    }
    Exit::Success
}

/// The topology as a table, with the long messages (why a target failed or
/// is unhealthy) below it.
fn render(environment: &Environment, topology: &Topology) -> Vec<String> {
    let mut lines = Vec::new();
    let mut head = format!(
        "environment {} ({}, {} target(s))",
        topology.environment,
        environment.file,
        topology.targets.len()
    );
    if let Some(lb) = &environment.load_balancer {
        head.push_str(&format!(", HAProxy backend {}", lb.backend));
    }
    if let Some(live) = topology.live_group {
        head.push_str(&format!(", live set {}", word(&live)));
    }
    lines.push(head);
    let mut rows = vec![
        [
            "TARGET", "KIND", "VERSION", "DIGEST", "PHASE", "HEALTH", "HAPROXY",
        ]
        .map(str::to_owned),
    ];
    let mut notes = Vec::new();
    for target in &topology.targets {
        let name = match &target.group {
            Some(group) => format!("{} ({group})", target.name),
            None => target.name.clone(),
        };
        rows.push([
            name,
            target.kind.clone(),
            target.version.clone().unwrap_or_else(|| "-".to_owned()),
            target
                .digest
                .as_deref()
                .map(slipway_deploy::short)
                .unwrap_or("-")
                .to_owned(),
            word(&target.phase),
            health(target, &mut notes),
            haproxy(target),
        ]);
        if let Some(message) = &target.message {
            notes.push(format!("{}: {message}", target.name));
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[column]));
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    // One HAProxy error shared by every target (HAProxy unreachable) is said once.
    let mut lb_errors: Vec<(&str, Vec<&str>)> = Vec::new();
    for target in &topology.targets {
        if let Some(Err(why)) = &target.lb {
            match lb_errors.iter_mut().find(|(error, _)| error == why) {
                Some((_, names)) => names.push(&target.name),
                None => lb_errors.push((why, vec![&target.name])),
            }
        }
    }
    for (why, names) in lb_errors {
        let whose = if names.len() == topology.targets.len() && names.len() > 1 {
            "every target".to_owned()
        } else {
            names.join(", ")
        };
        notes.push(format!("HAProxy ({whose}): {why}"));
    }
    lines.extend(notes);
    lines
}

fn health(target: &TopologyTarget, notes: &mut Vec<String>) -> String {
    match &target.health {
        None => "-".to_owned(),
        Some(Ok(())) => "healthy".to_owned(),
        Some(Err(why)) => {
            notes.push(format!("{}: unhealthy: {why}", target.name));
            "unhealthy".to_owned()
        }
    }
}

/// The HAProxy cell; why it is `unknown` goes below the table (see `render`).
fn haproxy(target: &TopologyTarget) -> String {
    match &target.lb {
        None => "-".to_owned(),
        Some(Err(_)) => "unknown".to_owned(),
        Some(Ok(server)) => lb_cell(server),
    }
}

/// `ready UP 3 sessions`, plus what Slipway intends when HAProxy differs
/// (after a reload, until the next deployment or reconcile).
fn lb_cell(server: &LbServer) -> String {
    let mut cell = format!(
        "{} {} {} session{}",
        server.admin,
        server.operational.to_uppercase(),
        server.sessions,
        if server.sessions == 1 { "" } else { "s" }
    );
    if let Some(intended) = server.intended {
        let intended = word(&intended);
        if intended != server.admin {
            cell.push_str(&format!(" (intended: {intended})"));
        }
    }
    cell
}

/// A unit enum's serde name (`serving`, `rolled_back`, `blue`).
pub fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => "?".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_deploy::state::LbIntent;

    fn server(admin: &str, sessions: u64, intended: Option<LbIntent>) -> LbServer {
        LbServer {
            server: "web-1".to_owned(),
            admin: admin.to_owned(),
            operational: "Running".to_owned(),
            sessions,
            intended,
        }
    }

    #[test]
    fn the_haproxy_cell_says_when_haproxy_differs_from_the_intent() {
        assert_eq!(
            lb_cell(&server("ready", 1, Some(LbIntent::Ready))),
            "ready RUNNING 1 session"
        );
        assert_eq!(
            lb_cell(&server("ready", 3, Some(LbIntent::Drain))),
            "ready RUNNING 3 sessions (intended: drain)"
        );
        assert_eq!(
            lb_cell(&server("maint", 0, None)),
            "maint RUNNING 0 sessions"
        );
    }

    #[test]
    fn the_root_is_the_pipeline_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("slipway.yml");
        let canonical = dir.path().canonicalize().unwrap();
        assert_eq!(root(&RepoArgs { file: file.clone() }), canonical);
        assert_eq!(
            root(&RepoArgs {
                file: dir.path().to_path_buf()
            }),
            canonical
        );
        assert_eq!(
            root(&RepoArgs {
                file: "slipway.yml".into()
            }),
            Path::new(".").canonicalize().unwrap()
        );
    }
}
