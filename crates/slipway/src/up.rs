//! `slipway up` (server, built-in agent, the example project and its first
//! run) and `slipway server` (the server alone).

use std::path::{Path, PathBuf};

use reqwest::Method;
use slipway_api::{NewProjectRequest, ProjectCreated, ProjectView, RunView, TriggerRequest};
use slipway_server::{Server, ServerConfig};
use tokio::sync::watch;

use crate::Exit;
use crate::args::{ServerArgs, UpArgs};
use crate::client::{Client, Connection};
use crate::example;
use crate::output;
use crate::server_config::{self, ServerFlags};

/// The name the example project is registered under.
const EXAMPLE_PROJECT: &str = "hello";

fn flags(args: &UpArgs, config: Option<PathBuf>) -> ServerFlags {
    ServerFlags {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
        database: args.database.clone(),
        config,
    }
}

pub fn up(args: UpArgs) -> Exit {
    match server_config::load(&flags(&args, None), true) {
        Ok(config) => serve(config, true),
        Err(message) => {
            eprintln!("error: {message}");
            Exit::Usage
        }
    }
}

pub fn server(args: ServerArgs) -> Exit {
    match server_config::load(&flags(&args.common, args.config), false) {
        Ok(config) => serve(config, false),
        Err(message) => {
            eprintln!("error: {message}");
            Exit::Usage
        }
    }
}

fn serve(config: ServerConfig, example: bool) -> Exit {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the runtime: {error}");
            return Exit::Failure;
        }
    };
    let exit = runtime.block_on(serve_async(config, example));
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    exit
}

async fn serve_async(config: ServerConfig, example: bool) -> Exit {
    let data_dir = config.data_dir.clone();
    let database = config
        .database
        .clone()
        .map(|_| "the configured database".to_string())
        .unwrap_or_else(|| format!("SQLite in {}", data_dir.display()));
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: the server could not start: {error}");
            return Exit::Failure;
        }
    };
    let url = server.url();
    let token = server.admin_token().to_string();
    let password = server.admin_password().map(str::to_string);
    let (stop, mut stopped) = watch::channel(false);
    let stop = std::sync::Arc::new(stop);
    let signals = {
        let stop = stop.clone();
        tokio::spawn(async move {
            crate::wait_for_signal().await;
            eprintln!("stopping: no new jobs; running steps may finish (Ctrl-C again stops now)");
            let _ = stop.send(true);
            crate::force_on_second_signal().await;
        })
    };
    let mut serving = {
        let mut stopped = stopped.clone();
        tokio::spawn(server.run_until(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }))
    };

    output::line(format_args!("Slipway is serving at {url} ({database})"));
    output::line(format_args!(
        "admin token: {token}\n  (stored in {}, readable by you only; slipway's commands read it from there)",
        data_dir.join("admin-token").display()
    ));
    if let Some(password) = &password {
        output::line(format_args!(
            "web UI: {url}/ — sign in as admin with password {password}\n  (stored in {}; change it with `slipway user password admin`)",
            data_dir.join("admin-password").display()
        ));
    }

    // The server's end, when it came while `up` was still greeting.
    let mut ended = None;
    if example {
        let connection = Connection {
            server: url.clone(),
            token,
        };
        let greeted = tokio::select! {
            exit = example_project(&connection, &data_dir) => Some(exit),
            _ = stopped.wait_for(|stop| *stop) => None,
            result = &mut serving => {
                ended = Some(result);
                None
            }
        };
        if let Some(Err(exit)) = greeted {
            // Stop as on Ctrl-C, and say it failed.
            let _ = stop.send(true);
            signals.abort();
            let _ = serving.await;
            return exit;
        }
    }
    let result = match ended {
        Some(result) => result,
        None => {
            if !*stopped.borrow() && !serving.is_finished() {
                output::line(format_args!("serving until Ctrl-C (or SIGTERM)"));
            }
            serving.await
        }
    };
    match result {
        Ok(Ok(())) => {
            signals.abort();
            eprintln!("stopped");
            Exit::Success
        }
        Ok(Err(error)) => {
            eprintln!("error: the server stopped: {error}");
            Exit::Failure
        }
        Err(error) => {
            eprintln!("error: the server stopped: {error}");
            Exit::Failure
        }
    }
}

/// Registers the example project (when missing), starts its run and
/// follows it. `Err` when a step failed in a way `up` cannot go on from.
async fn example_project(connection: &Connection, data_dir: &Path) -> Result<(), Exit> {
    let client = Client::new(connection).map_err(|e| crate::commands::fail(&e))?;
    let path = format!("/api/v1/projects/{EXAMPLE_PROJECT}");
    let run = match client.get::<ProjectView>(&path).await {
        Ok(project) => {
            output::line(format_args!(
                "project {} ({}) is registered already",
                project.name, project.repo_url
            ));
            None
        }
        Err(error) if error.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
            Some(register_example(&client, data_dir).await?)
        }
        Err(error) => return Err(crate::commands::fail(&error)),
    };
    let repo = data_dir.join("examples").join(EXAMPLE_PROJECT);
    output::line(format_args!(
        "\nnext:\n  push a commit to {} and it runs (polling)",
        repo.display()
    ));
    if let Some(export) = client_environment(&connection.server, data_dir) {
        output::line(format_args!(
            "  export {export}   # in another terminal, first"
        ));
    }
    output::line(
        "  slipway runs                  # the runs, newest first\n  slipway logs RUN --follow     # a run's live logs",
    );
    if let Some(run) = run {
        output::line(format_args!(
            "\nrun {} ({}#{}) of the example:",
            run.id, run.project, run.number
        ));
        // The run's result is shown; `up` goes on serving either way.
        let _ = crate::logs::follow(&client, run.id, None).await;
    }
    Ok(())
}

/// What the client commands need in their environment to find this server
/// and its token, when they would not by default.
fn client_environment(server: &str, data_dir: &Path) -> Option<String> {
    let mut settings = Vec::new();
    if server != crate::client::DEFAULT_SERVER {
        settings.push(format!("SLIPWAY_SERVER={server}"));
    }
    if data_dir != slipway_server::default_data_dir() {
        let shown = data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf());
        settings.push(format!("SLIPWAY_HOME={}", shown.display()));
    }
    (!settings.is_empty()).then(|| settings.join(" "))
}

async fn register_example(client: &Client, data_dir: &Path) -> Result<RunView, Exit> {
    let repo = data_dir.join("examples").join(EXAMPLE_PROJECT);
    let repo = example::create_repository(&repo).map_err(|message| {
        eprintln!("error: could not create the example repository: {message}");
        Exit::Failure
    })?;
    let request = NewProjectRequest {
        name: Some(EXAMPLE_PROJECT.to_string()),
        repo_url: repo.display().to_string(),
        default_branch: Some("main".to_string()),
        webhook_secret: None,
        settings: None,
    };
    let created: ProjectCreated = client
        .call(Method::POST, "/api/v1/projects", &request)
        .await
        .map_err(|e| crate::commands::fail(&e))?;
    crate::commands::print_created(client, &created);
    let path = format!("/api/v1/projects/{EXAMPLE_PROJECT}/runs");
    client
        .call(Method::POST, &path, &TriggerRequest::default())
        .await
        .map_err(|e| crate::commands::fail(&e))
}
