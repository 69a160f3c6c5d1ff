//! The commands over the API: `project`, `secret`, `trigger`, `runs`,
//! `cancel`, `retry`, `token` (`logs` is in [`crate::logs`]).

use reqwest::Method;
use serde_json::{Map, Value};
use slipway_api::{
    NewProjectRequest, ProjectCreated, ProjectView, RetryRequest, RunView, SecretRequest,
    TriggerRequest,
};

use crate::Exit;
use crate::args::{
    ApiArgs, CancelArgs, ProjectAddArgs, RetryArgs, RunsArgs, SecretSetArgs, TokenCreateArgs,
    TriggerArgs,
};
use crate::client::{ApiError, Client, Connection, segment};
use crate::output::{self, duration, now_ms};
use crate::stdin_value;

/// Resolves the connection and makes a client, or says why not.
pub fn connect(args: &ApiArgs) -> Result<Client, Exit> {
    let connection = Connection::from_args(args).map_err(|message| {
        eprintln!("error: {message}");
        Exit::Usage
    })?;
    Client::new(&connection).map_err(|error| fail(&error))
}

/// Prints an API error and gives its exit.
pub fn fail(error: &ApiError) -> Exit {
    eprintln!("error: {error}");
    error.exit()
}

pub async fn project_add(args: ProjectAddArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let request = NewProjectRequest {
        name: args.name,
        repo_url: repository_url(&args.url),
        default_branch: args.branch,
        webhook_secret: args.webhook_secret,
        settings: None,
    };
    match client
        .call::<_, ProjectCreated>(Method::POST, "/api/v1/projects", &request)
        .await
    {
        Ok(created) => {
            print_created(&client, &created);
            Exit::Success
        }
        Err(error) => fail(&error),
    }
}

/// A local path as the absolute path the server can open (it does not
/// share our working directory); URLs and `host:path` as they are.
fn repository_url(text: &str) -> String {
    let path = std::path::Path::new(text);
    if text.contains("://") || !path.exists() {
        return text.to_string();
    }
    path.canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| text.to_string())
}

/// What `project add` and `up` print about a new project.
pub fn print_created(client: &Client, created: &ProjectCreated) {
    let project = &created.project;
    output::line(format_args!(
        "project {} registered: {} (branch {})",
        project.name, project.repo_url, project.default_branch
    ));
    if let Some(secret) = &created.generated_webhook_secret {
        output::line(format_args!(
            "  webhook secret (shown this once; keep it for your forge's webhook settings): {secret}"
        ));
    }
    let name = segment(&project.name);
    for forge in ["github", "gitlab", "gitea"] {
        output::line(format_args!(
            "  {forge:<6} webhook: {}/hooks/{forge}/{name}",
            client.server()
        ));
    }
}

pub async fn project_list(args: ApiArgs) -> Exit {
    let client = match connect(&args) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let projects: Vec<ProjectView> = match client.get("/api/v1/projects").await {
        Ok(projects) => projects,
        Err(error) => return fail(&error),
    };
    if projects.is_empty() {
        output::line("no projects yet: add one with `slipway project add URL`");
        return Exit::Success;
    }
    let width = projects
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    output::line(format_args!(
        "{:<width$}  {:<10}  REPOSITORY",
        "NAME", "BRANCH"
    ));
    for project in &projects {
        if !output::line(format_args!(
            "{:<width$}  {:<10}  {}",
            project.name, project.default_branch, project.repo_url
        )) {
            break;
        }
    }
    Exit::Success
}

pub async fn secret_set(args: SecretSetArgs) -> Exit {
    if args.name.is_empty() {
        eprintln!("error: a secret needs a name");
        return Exit::Usage;
    }
    let example = format!(
        "printf %s \"$VALUE\" | slipway secret set PROJECT {}",
        args.name
    );
    let value = match stdin_value::read(&format!("value of {}", args.name), &example) {
        Ok(value) => value,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let path = format!(
        "/api/v1/projects/{}/secrets/{}",
        segment(&args.project),
        segment(&args.name)
    );
    match client
        .call_no_answer(Method::PUT, &path, &SecretRequest { value })
        .await
    {
        Ok(()) => {
            output::line(format_args!(
                "secret {} of project {} set",
                args.name, args.project
            ));
            Exit::Success
        }
        Err(error) => fail(&error),
    }
}

/// `--input NAME=VALUE` pairs as the API's inputs. Values are sent as
/// strings; the server types them by the pipeline's `inputs:`.
pub fn parse_inputs(pairs: &[String]) -> Result<Map<String, Value>, String> {
    let mut inputs = Map::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("--input {pair}: write NAME=VALUE"));
        };
        if name.is_empty() {
            return Err(format!(
                "--input {pair}: the name is empty; write NAME=VALUE"
            ));
        }
        if inputs
            .insert(name.to_string(), Value::String(value.to_string()))
            .is_some()
        {
            return Err(format!("--input {name} is given twice"));
        }
    }
    Ok(inputs)
}

pub async fn trigger(args: TriggerArgs) -> Exit {
    let inputs = match parse_inputs(&args.inputs) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let request = TriggerRequest {
        git_ref: args.git_ref,
        inputs,
    };
    let path = format!("/api/v1/projects/{}/runs", segment(&args.project));
    let run: RunView = match client.call(Method::POST, &path, &request).await {
        Ok(run) => run,
        Err(error) => return fail(&error),
    };
    output::line(format_args!(
        "run {} ({}#{}) {}{}",
        run.id,
        run.project,
        run.number,
        run.status,
        git_ref(&run)
            .map(|r| format!(" on {r}"))
            .unwrap_or_default()
    ));
    if !args.follow {
        output::line(format_args!("follow it: slipway logs {} --follow", run.id));
        return Exit::Success;
    }
    crate::logs::follow(&client, run.id, None).await
}

fn git_ref(run: &RunView) -> Option<&str> {
    run.tag.as_deref().or(run.branch.as_deref())
}

pub async fn runs(args: RunsArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let mut query: Vec<(&str, String)> = vec![("limit", args.limit.to_string())];
    if let Some(project) = args.project {
        query.push(("project", project));
    }
    if let Some(status) = args.status {
        query.push(("status", status));
    }
    let request = client
        .request(Method::GET, "/api/v1/runs")
        .query(&query)
        .timeout(std::time::Duration::from_secs(30));
    let response = match client.send(request).await {
        Ok(response) => response,
        Err(error) => return fail(&error),
    };
    let runs: Vec<RunView> = match response.json().await {
        Ok(runs) => runs,
        Err(error) => return fail(&ApiError::Answer(error.to_string())),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&runs).unwrap_or_default();
        output::line(text);
        return Exit::Success;
    }
    if runs.is_empty() {
        output::line("no runs");
        return Exit::Success;
    }
    for line in runs_table(&runs, now_ms()) {
        if !output::line(line) {
            break;
        }
    }
    Exit::Success
}

/// The table of `slipway runs`: a header and one line per run.
pub fn runs_table(runs: &[RunView], now_ms: i64) -> Vec<String> {
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|run| {
            let took = match (run.started_ms, run.finished_ms) {
                (Some(start), Some(end)) => duration(end - start),
                (Some(start), None) => format!("{}…", duration(now_ms - start)),
                _ => "-".to_string(),
            };
            [
                run.id.to_string(),
                format!("{}#{}", run.project, run.number),
                run.status.clone(),
                run.trigger.clone(),
                git_ref(run).unwrap_or("-").to_string(),
                run.commit
                    .as_deref()
                    .map(|c| c.chars().take(8).collect())
                    .unwrap_or_else(|| "-".to_string()),
                format!("{} ago, {took}", duration(now_ms - run.created_ms)),
                run.reason
                    .as_deref()
                    .map(|r| one_line(r, 60))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "ID",
        "RUN",
        "STATUS",
        "TRIGGER",
        "REF",
        "COMMIT",
        "AGE, TOOK",
        "REASON",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &[&str]| -> String {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let pad = width.saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        line.trim_end().to_string()
    };
    let mut lines = vec![render(&header)];
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        lines.push(render(&cells));
    }
    lines
}

/// The first line of `text`, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() > max {
        let mut cut: String = first.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        first.to_string()
    }
}

pub async fn cancel(args: CancelArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let path = format!("/api/v1/runs/{}/cancel", args.run);
    let request = client
        .request(Method::POST, &path)
        .timeout(std::time::Duration::from_secs(30));
    let run: RunView = match client.send(request).await {
        Ok(response) => match response.json().await {
            Ok(run) => run,
            Err(error) => return fail(&ApiError::Answer(error.to_string())),
        },
        Err(error) => return fail(&error),
    };
    if run.status != "cancelled" && crate::logs::is_final(&run.status) {
        output::line(format_args!(
            "run {} ({}#{}) had already ended: {}",
            run.id, run.project, run.number, run.status
        ));
        return Exit::Success;
    }
    let run = wait_until_final(&client, run).await;
    if crate::logs::is_final(&run.status) {
        output::line(format_args!(
            "run {} ({}#{}): {}",
            run.id, run.project, run.number, run.status
        ));
    } else {
        output::line(format_args!(
            "run {} ({}#{}): cancel requested; still {} while its steps stop",
            run.id, run.project, run.number, run.status
        ));
    }
    Exit::Success
}

/// The server cancels asynchronously (running steps are stopped first):
/// waits a little for the run to end, to report what happened.
async fn wait_until_final(client: &Client, mut run: RunView) -> RunView {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !crate::logs::is_final(&run.status) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        match client
            .get::<slipway_api::RunDetail>(&format!("/api/v1/runs/{}", run.id))
            .await
        {
            Ok(detail) => run = detail.run,
            Err(_) => break,
        }
    }
    run
}

pub async fn retry(args: RetryArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let path = format!("/api/v1/runs/{}/retry", args.run);
    let request = RetryRequest { jobs: args.jobs };
    match client
        .call::<_, RunView>(Method::POST, &path, &request)
        .await
    {
        Ok(run) => {
            if run.id == args.run {
                output::line(format_args!(
                    "run {} ({}#{}) retried: {}",
                    run.id, run.project, run.number, run.status
                ));
            } else {
                output::line(format_args!(
                    "run {} retried as run {} ({}#{}): {}",
                    args.run, run.id, run.project, run.number, run.status
                ));
            }
            output::line(format_args!("follow it: slipway logs {} --follow", run.id));
            Exit::Success
        }
        Err(error) => fail(&error),
    }
}

pub async fn token_create(args: TokenCreateArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let kind = if args.agent { "agent" } else { "personal" };
    let body = serde_json::json!({ "name": args.name, "kind": kind });
    let answer: Value = match client.call(Method::POST, "/api/v1/tokens", &body).await {
        Ok(answer) => answer,
        Err(error) => return fail(&error),
    };
    let Some(token) = answer.get("token").and_then(Value::as_str) else {
        return fail(&ApiError::Answer("no token in the answer".into()));
    };
    eprintln!(
        "{kind} token {} (shown this once; the server keeps only its hash):",
        args.name
    );
    output::line(token);
    Exit::Success
}

/// `slipway audit verify`.
pub async fn audit_verify(args: crate::args::AuditVerifyArgs) -> Exit {
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let verdict: Value = match client.get("/api/v1/audit/verify").await {
        Ok(verdict) => verdict,
        Err(error) => return fail(&error),
    };
    if verdict.get("intact").and_then(Value::as_bool) == Some(true) {
        let entries = verdict.get("entries").and_then(Value::as_u64).unwrap_or(0);
        output::line(format!(
            "the audit log is intact: {entries} entries, every hash links"
        ));
        Exit::Success
    } else {
        let at = verdict
            .get("broken_at")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let reason = verdict
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        output::line(format!("the audit log was altered at entry {at}: {reason}"));
        Exit::Failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_name_value_pairs() {
        let inputs =
            parse_inputs(&["greeting=Ahoy".into(), "empty=".into(), "eq=a=b".into()]).unwrap();
        assert_eq!(inputs["greeting"], "Ahoy");
        assert_eq!(inputs["empty"], "");
        assert_eq!(inputs["eq"], "a=b");
        for bad in ["novalue", "=x"] {
            assert!(parse_inputs(&[bad.into()]).is_err(), "{bad}");
        }
        let error = parse_inputs(&["a=1".into(), "a=2".into()]).unwrap_err();
        assert!(error.contains("twice"), "{error}");
    }

    fn run(id: i64, status: &str) -> RunView {
        RunView {
            id,
            project: "hello".into(),
            number: id,
            status: status.into(),
            reason: None,
            trigger: "manual".into(),
            branch: Some("main".into()),
            tag: None,
            commit: Some("0123456789abcdef".into()),
            created_ms: 1_000,
            started_ms: Some(2_000),
            finished_ms: None,
        }
    }

    #[test]
    fn the_runs_table_has_aligned_columns() {
        let mut failed = run(12, "failed");
        failed.finished_ms = Some(6_500);
        failed.reason = Some("job test failed\nmore".into());
        failed.tag = Some("v1".into());
        let lines = runs_table(&[run(3, "running"), failed], 61_000);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("ID  RUN       STATUS   TRIGGER"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("3   hello#3   running  manual   main"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("01234567"), "{}", lines[1]);
        assert!(lines[1].contains("1m00s ago, 59.0s…"), "{}", lines[1]);
        assert!(lines[2].contains("v1"), "{}", lines[2]);
        assert!(lines[2].contains("1m00s ago, 4.5s"), "{}", lines[2]);
        assert!(lines[2].ends_with("job test failed"), "{}", lines[2]);
    }

    #[test]
    fn local_paths_become_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("repo");
        std::fs::create_dir(&inner).unwrap();
        let relative = format!("{}/../repo", inner.display());
        assert_eq!(
            repository_url(&relative),
            inner.canonicalize().unwrap().display().to_string()
        );
        for url in [
            "https://example.com/r.git",
            "git@host:r.git",
            "file:///srv/r",
        ] {
            assert_eq!(repository_url(url), url);
        }
    }

    #[test]
    fn long_reasons_are_cut() {
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("ab\ncd", 4), "ab");
    }
}
