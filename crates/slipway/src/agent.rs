//! `slipway agent`: a remote agent, until SIGTERM or Ctrl-C.

use std::time::Duration;

use slipway_agent::AgentConfig;
use tokio::sync::watch;

use crate::Exit;
use crate::args::AgentArgs;
use crate::client::Connection;

/// How long running jobs may go on after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub fn agent(args: AgentArgs) -> Exit {
    let has_token =
        args.api.token.is_some() || std::env::var("SLIPWAY_TOKEN").is_ok_and(|t| !t.is_empty());
    if !has_token {
        eprintln!(
            "error: an agent needs a token: pass --token or set SLIPWAY_TOKEN (create one with `slipway token create NAME --agent`)"
        );
        return Exit::Usage;
    }
    let connection = match Connection::from_args(&args.api) {
        Ok(connection) => connection,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let labels: Vec<String> = args
        .labels
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let name = args.name.unwrap_or_else(host_name);
    let work_dir = args
        .work_dir
        .unwrap_or_else(|| slipway_server::default_data_dir().join("agent"));
    let config = AgentConfig {
        server: connection.server,
        token: connection.token,
        name,
        labels,
        work_dir,
        capacity: usize::try_from(args.capacity).unwrap_or(1),
        shutdown_grace: SHUTDOWN_GRACE,
    };
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
    eprintln!(
        "agent {} ({}) serving {} with {} job(s) at once, working in {}",
        config.name,
        config.labels.join(","),
        config.server,
        config.capacity,
        config.work_dir.display()
    );
    let exit = runtime.block_on(async move {
        let (stop, stopped) = watch::channel(false);
        let signals = tokio::spawn(async move {
            crate::wait_for_signal().await;
            eprintln!(
                "stopping: no new jobs; running jobs get {}s to end (Ctrl-C again stops now)",
                SHUTDOWN_GRACE.as_secs()
            );
            let _ = stop.send(true);
            crate::force_on_second_signal().await;
        });
        let result = slipway_agent::run(config, stopped).await;
        signals.abort();
        match result {
            Ok(()) => Exit::Success,
            Err(error) => {
                eprintln!("error: {error}");
                match error {
                    slipway_agent::AgentError::Unauthorized { .. }
                    | slipway_agent::AgentError::Config(_) => Exit::Usage,
                    _ => Exit::Failure,
                }
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    exit
}

/// The machine's host name, the default agent name.
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status == 0 {
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        if let Ok(name) = std::str::from_utf8(buffer.get(..end).unwrap_or_default())
            && !name.is_empty()
        {
            return name.to_string();
        }
    }
    "agent".to_string()
}
