//! `slipway run` and `slipway validate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use slipway_deploy::port::EnginePort;
use slipway_engine::ports::{DeployerHandle, Store};
use slipway_engine::records::JobResult;
use slipway_engine::{Engine, Plan, RunOptions};
use slipway_exec::{AnyExecutor, DockerConfig, LocalConfig};
use slipway_spec::model::{InputKind, ManualInput, Pipeline};
use slipway_store::{FileStore, MemoryStore};

use crate::Exit;
use crate::args::{RunArgs, ValidateArgs};
use crate::git;
use crate::terminal::Terminal;

/// A pipeline file read and validated, or the exit that says why not.
struct Loaded {
    path: PathBuf,
    root: PathBuf,
    pipeline: Pipeline,
}

fn load(file: &Path) -> Result<Loaded, Exit> {
    let path = if file.is_dir() {
        file.join("slipway.yml")
    } else {
        file.to_path_buf()
    };
    let shown = path.display().to_string();
    let source = match read_limited(&path) {
        Ok(source) => source,
        Err(message) => {
            eprintln!("error: {shown}: {message}");
            return Err(Exit::Usage);
        }
    };
    match slipway_spec::parse_pipeline(&source, &shown) {
        Ok(pipeline) => {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let root = parent
                .canonicalize()
                .unwrap_or_else(|_| parent.to_path_buf());
            Ok(Loaded {
                path,
                root,
                pipeline,
            })
        }
        Err(diagnostics) => {
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
            eprint!("{}", diagnostics.render(&source, colour));
            Err(Exit::Usage)
        }
    }
}

/// Reads a pipeline file, refusing what cannot be one before reading it all.
fn read_limited(path: &Path) -> Result<String, String> {
    const LIMIT: u64 = 4 << 20;
    let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file (a pipeline is a slipway.yml at the repository's root; pass another with --file)".to_string(),
        _ => e.to_string(),
    })?;
    if metadata.len() > LIMIT {
        return Err(format!(
            "the file is {} bytes; a pipeline file may have at most {LIMIT} bytes",
            metadata.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 text (invalid byte at offset {}); is it really a pipeline file?",
            e.utf8_error().valid_up_to()
        )
    })
}

pub fn validate(args: ValidateArgs) -> Exit {
    match load(&args.file) {
        Ok(loaded) => {
            println!(
                "{}: valid, {} jobs",
                loaded.path.display(),
                loaded.pipeline.jobs.len()
            );
            Exit::Success
        }
        Err(exit) => exit,
    }
}

pub fn run(args: RunArgs) -> Exit {
    let loaded = match load(&args.file) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let options = match run_options(&args, &loaded) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let mut plan = Plan::new(&loaded.pipeline);
    let unknown = plan.select(&loaded.pipeline, &args.jobs);
    if !unknown.is_empty() {
        let known: Vec<&str> = loaded.pipeline.jobs.iter().map(|j| j.id.as_str()).collect();
        eprintln!(
            "error: no job named {} (jobs: {})",
            unknown.join(", "),
            known.join(", ")
        );
        return Exit::Usage;
    }
    let mut config = LocalConfig::in_place(&loaded.root);
    if args.clean {
        let Some(commit) = git::head_commit(&loaded.root) else {
            eprintln!(
                "error: --clean needs a git repository with a commit at {}",
                loaded.root.display()
            );
            return Exit::Usage;
        };
        config = LocalConfig::clean(
            &loaded.root,
            commit,
            loaded.root.join(".slipway/local/work"),
        );
    }
    // Docker is connected only when a job runs on it (and leftovers of dead
    // runs are swept then).
    let executor = Arc::new(AnyExecutor::new(config, DockerConfig::default()));
    let keys: Vec<String> = plan.jobs.iter().map(|j| j.key.clone()).collect();
    let terminal = Arc::new(Terminal::new(args.json, &args.color, args.explain, &keys));
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
    let pipeline = Arc::new(loaded.pipeline);
    let result = if args.no_store {
        runtime.block_on(execute(
            Arc::new(MemoryStore::new()),
            executor,
            terminal,
            pipeline,
            plan,
            options,
        ))
    } else {
        match FileStore::open(&loaded.root.join(".slipway/local")) {
            Ok(store) => runtime.block_on(execute(
                Arc::new(store),
                executor,
                terminal,
                pipeline,
                plan,
                options,
            )),
            Err(error) => {
                eprintln!("error: {error}");
                return Exit::Failure;
            }
        }
    };
    // Job tasks are done; don't wait for idle blocking threads.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

async fn execute<S: Store>(
    store: Arc<S>,
    executor: Arc<AnyExecutor>,
    terminal: Arc<Terminal>,
    pipeline: Arc<Pipeline>,
    plan: Plan,
    options: RunOptions,
) -> Exit {
    let engine = Engine {
        executor,
        store,
        events: terminal.clone(),
    };
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::wait_for_signal().await;
        eprintln!(
            "slipway: cancelling: stopping every step (Ctrl-C again does not skip the clean-up)"
        );
        let _ = cancel_tx.send(true);
        // Keep the sender alive so the engine sees no spurious close.
        std::future::pending::<()>().await;
    });
    match engine.run(pipeline, plan, options, cancel_rx).await {
        Ok(summary) => {
            terminal.summary(&summary);
            if summary.result == JobResult::Success {
                Exit::Success
            } else {
                Exit::Failure
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            Exit::Failure
        }
    }
}

fn run_options(args: &RunArgs, loaded: &Loaded) -> Result<RunOptions, String> {
    let mut secrets = Vec::new();
    if let Some(file) = &args.secrets_file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Never echo the line: it holds a secret.
            let pair = split_pair(line)
                .ok_or_else(|| format!("{}:{}: expected NAME=VALUE", file.display(), number + 1))?;
            secrets.push(pair);
        }
    }
    for secret in &args.secrets {
        secrets.push(split_pair(secret).ok_or("--secret expects NAME=VALUE")?);
    }
    let inputs = manual_inputs(&loaded.pipeline, &args.inputs)?;
    let parallelism = args.parallel.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    Ok(RunOptions {
        file: loaded.path.display().to_string(),
        parallelism,
        fail_fast: args.fail_fast,
        secrets,
        inputs,
        git: git::local_info(&loaded.root),
        restore_artifacts: args.clean,
        // Deployments' state (targets' releases, records) stays with the
        // repository, beside the local store.
        deployer: Some(DeployerHandle(Arc::new(EnginePort::new(
            loaded.root.join(".slipway/local/environments"),
        )))),
        // The same approver answers canary pauses of deploy jobs.
        approver: Some(crate::approve_terminal::approver(args.approve.as_deref())?),
        // Freeze windows are overridden by an admin through the server only.
        freeze_override: None,
        job_groups: Default::default(),
    })
}

fn split_pair(text: &str) -> Option<(String, String)> {
    let (name, value) = text.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some((name.to_string(), value.to_string()))
}

/// `--input NAME=VALUE`, typed by the pipeline's `manual:` inputs, with
/// their defaults.
fn manual_inputs(
    pipeline: &Pipeline,
    given: &[String],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let declared = pipeline
        .on
        .manual
        .as_ref()
        .map(|m| m.inputs.as_slice())
        .unwrap_or(&[]);
    let mut inputs = input_defaults(declared);
    for pair in given {
        let (name, text) = split_pair(pair).ok_or("--input expects NAME=VALUE")?;
        let Some(input) = declared.iter().find(|i| i.name == name) else {
            let names: Vec<&str> = declared.iter().map(|i| i.name.as_str()).collect();
            return Err(format!(
                "the pipeline declares no input `{name}` (inputs: {})",
                names.join(", ")
            ));
        };
        inputs.insert(name, typed_value(input, text)?);
    }
    for input in declared {
        if input.required && !inputs.contains_key(&input.name) {
            return Err(format!(
                "input `{}` is required: pass --input {}=VALUE",
                input.name, input.name
            ));
        }
    }
    Ok(inputs)
}

/// The declared inputs that have a default, with it.
pub(crate) fn input_defaults(
    declared: &[ManualInput],
) -> serde_json::Map<String, serde_json::Value> {
    declared
        .iter()
        .filter_map(|input| Some((input.name.clone(), input.default.clone()?)))
        .collect()
}

/// One typed input's value from its text: what a manual run's `--input`
/// and an approver's answer are both checked by.
pub(crate) fn typed_value(input: &ManualInput, text: String) -> Result<serde_json::Value, String> {
    let name = &input.name;
    Ok(match &input.kind {
        InputKind::String => serde_json::Value::String(text),
        InputKind::Boolean => match text.as_str() {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            _ => return Err(format!("input `{name}` is a boolean: give true or false")),
        },
        InputKind::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number)
            .ok_or(format!("input `{name}` is a number, not `{text}`"))?,
        InputKind::Choice(options) => {
            if !options.contains(&text) {
                return Err(format!(
                    "input `{name}` must be one of {}",
                    options.join(", ")
                ));
            }
            serde_json::Value::String(text)
        }
    })
}
