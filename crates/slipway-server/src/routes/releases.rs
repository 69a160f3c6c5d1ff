//! Releases: the record of every deployment to an environment, push-button
//! releases, and DORA metrics.
//!
//! # Where releases come from
//!
//! A `deploy:` job's outcome carries its release record (slipway-deploy's
//! `DeploymentRecord` as JSON, failed or not). When an agent finishes such a
//! job ([`super::agent::finish`]), [`record`] appends it to the store's
//! append-only `releases` table, with the decided approval gates of the run
//! attached when the record has none (the server, not the agent, knows who
//! approved), and appends `release.<outcome>` to the hash-chained audit log.
//!
//! # Push-button release
//!
//! `POST /api/v1/projects/{p}/releases {environment, digest?, override_freeze?}`
//! (maintainers and above; `override_freeze` needs the project's admin role):
//!
//! 1. The environment file is read from the project's repository at the head
//!    of its default branch, for its `requires:`.
//! 2. The digest is the one asked for, or the newest released successfully to
//!    an environment this one requires, else to any environment.
//! 3. A digest never released successfully to every required environment is
//!    refused (409, naming the environment); the agent's deploy port checks
//!    again before touching a target.
//! 4. The release that carried the digest gives the artifact's name and the
//!    commit. The pipeline file at that commit gives the strategy of its
//!    deploy job for the environment (default: rolling).
//! 5. A new run (trigger `release`) is created at that commit with a
//!    synthesized pipeline of one job, `release`:
//!    `deploy: {environment: E, artifact: {name: N, digest: D}, strategy: S}`,
//!    stored as the run's pipeline. The engine resolves the digest from the
//!    artifact store; the run is driven like any other, and its deploy job
//!    leaves a release of kind `release`. A freeze override's reason travels
//!    in the run's inputs as `freeze_override`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use slipway_api::{ReleaseDetail, ReleaseRequest, ReleaseStarted, ReleaseView};
use slipway_deploy::DeploymentRecord;
use slipway_spec::yaml::{Node, NodeKind};
use slipway_store::sql::{
    Action, Id, NewAuditEntry, NewRelease, NewRun, Project, Release, ReleaseFilter, ReleaseKind,
    ReleaseOutcome, ServerStore,
};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::routes::projects::{audit, project_for};
use crate::routes::runs::run_view;
use crate::state::AppState;

/// The job of a release run's synthesized pipeline.
pub const RELEASE_JOB: &str = "release";
/// The file name a release run's pipeline is shown under.
const RELEASE_FILE: &str = "slipway.yml (release)";
/// The largest pipeline file read for a deploy job's strategy.
const MAX_PIPELINE: u64 = 4 * 1024 * 1024;

/// Stores the release record a `deploy:` job reported and audits it. A
/// failure is logged: the job's result stands either way.
pub async fn record(state: &AppState, run_id: Id, job_key: &str, agent: &str, record: &Value) {
    if let Err(error) = try_record(state, run_id, job_key, agent, record).await {
        tracing::error!(run = run_id, job = job_key, %error, "could not store the release");
    }
}

async fn try_record(
    state: &AppState,
    run_id: Id,
    job_key: &str,
    agent: &str,
    record: &Value,
) -> Result<(), String> {
    let parsed: DeploymentRecord = serde_json::from_value(record.clone())
        .map_err(|e| format!("the release record is not a deployment record: {e}"))?;
    let run = state.store.run(run_id).await.map_err(|e| e.to_string())?;
    let project = state
        .store
        .project(run.project_id)
        .await
        .map_err(|e| e.to_string())?;
    let mut record = record.clone();
    if parsed.approvals.is_empty() {
        attach_approvals(state, run_id, &mut record).await;
    }
    let kind = if parsed.kind == "rollback" {
        ReleaseKind::Rollback
    } else if run.trigger == "release" {
        ReleaseKind::Release
    } else {
        ReleaseKind::Deploy
    };
    let outcome = match parsed.outcome {
        slipway_deploy::Outcome::Succeeded => ReleaseOutcome::Succeeded,
        slipway_deploy::Outcome::Failed => ReleaseOutcome::Failed,
        slipway_deploy::Outcome::RolledBack => ReleaseOutcome::RolledBack,
        slipway_deploy::Outcome::Cancelled => ReleaseOutcome::Cancelled,
    };
    let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let release = state
        .store
        .append_release(NewRelease {
            project_id: project.id,
            run_id: Some(run.id),
            job_key: job_key.to_string(),
            environment: parsed.environment.clone(),
            digest: parsed.digest.clone(),
            artifact_name: parsed.artifact_name.clone(),
            kind,
            outcome,
            commit_sha: parsed.commit.clone().or_else(|| run.commit_sha.clone()),
            commit_time_ms: parsed.commit_time.map(|s| ms(s.saturating_mul(1000))),
            started_ms: ms(parsed.started_ms),
            finished_ms: ms(parsed.finished_ms),
            record,
        })
        .await
        .map_err(|e| e.to_string())?;
    let entry = NewAuditEntry {
        actor: run
            .triggered_by
            .clone()
            .unwrap_or_else(|| format!("agent:{agent}")),
        action: format!("release.{}", outcome.as_str()),
        target: format!(
            "{} {} {}",
            project.name, release.environment, release.digest
        ),
        details: json!({
            "release": release.id,
            "run": run.id,
            "run_number": run.number,
            "job": job_key,
            "digest": release.digest,
            "outcome": outcome.as_str(),
            "kind": kind.as_str(),
            "freeze_override": parsed.freeze_override,
        }),
    };
    state
        .store
        .append_audit(entry)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        release = release.id,
        run = run.id,
        outcome = outcome.as_str(),
        "release recorded"
    );
    Ok(())
}

/// Puts the run's decided approval gates (their decisions, in the order
/// opened) into the record's `approvals`.
async fn attach_approvals(state: &AppState, run_id: Id, record: &mut Value) {
    let gates = match state.store.run_gates(run_id).await {
        Ok(gates) => gates,
        Err(error) => {
            tracing::warn!(run = run_id, %error, "the run's approvals could not be read for its release");
            return;
        }
    };
    let decisions: Vec<Value> = gates.into_iter().filter_map(|g| g.decision).collect();
    if let (false, Some(object)) = (decisions.is_empty(), record.as_object_mut()) {
        object.insert("approvals".to_string(), Value::Array(decisions));
    }
}

fn release_view(project: &str, release: Release) -> (ReleaseView, Value) {
    let view = ReleaseView {
        id: release.id,
        project: project.to_string(),
        run_id: release.run_id,
        job: release.job_key,
        environment: release.environment,
        digest: release.digest,
        artifact: release.artifact_name,
        kind: release.kind.as_str().to_string(),
        outcome: release.outcome.as_str().to_string(),
        commit: release.commit_sha,
        commit_time_ms: release.commit_time_ms,
        started_ms: release.started_ms,
        finished_ms: release.finished_ms,
    };
    (view, release.record)
}

fn check_environment(name: &str) -> ApiResult<()> {
    if slipway_spec::is_environment_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{}` is not an environment name",
            name.escape_debug()
        )))
    }
}

/// `GET /api/v1/projects/{project}/releases` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this environment's releases.
    pub env: Option<String>,
    /// At most this many, the newest (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /api/v1/projects/{project}/releases`: releases, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/releases",
    params(("project" = String, Path), ListQuery),
    responses((status = 200, body = Vec<ReleaseView>)),
    security(("token" = [])), tag = "releases")]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<ReleaseView>>> {
    let project = project_for(&state, &caller, &project, Action::View).await?;
    if let Some(env) = &query.env {
        check_environment(env)?;
    }
    let filter = ReleaseFilter {
        environment: query.env,
        since_ms: None,
        limit: query.limit.unwrap_or(50).clamp(1, 1000),
        newest_first: true,
    };
    let releases = state.store.list_releases(project.id, &filter).await?;
    Ok(Json(
        releases
            .into_iter()
            .map(|r| release_view(&project.name, r).0)
            .collect(),
    ))
}

/// `GET /api/v1/projects/{project}/releases/{id}`: one release with its
/// whole record (approvals and verification evidence included).
#[utoipa::path(get, path = "/api/v1/projects/{project}/releases/{id}",
    params(("project" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = ReleaseDetail)),
    security(("token" = [])), tag = "releases")]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, id)): Path<(String, Id)>,
) -> ApiResult<Json<ReleaseDetail>> {
    let project = project_for(&state, &caller, &project, Action::View).await?;
    let release = state.store.release(id).await?;
    if release.project_id != project.id {
        return Err(ApiError::not_found(format!(
            "project `{}` has no release {id}",
            project.name
        )));
    }
    let (release, record) = release_view(&project.name, release);
    Ok(Json(ReleaseDetail { release, record }))
}

/// `POST /api/v1/projects/{project}/releases`: releases a digest to an
/// environment now, as a new run (see the module documentation).
#[utoipa::path(post, path = "/api/v1/projects/{project}/releases",
    params(("project" = String, Path)), request_body = ReleaseRequest,
    responses((status = 201, body = ReleaseStarted),
              (status = 403, description = "not a maintainer; or a freeze override without the admin role"),
              (status = 409, description = "the digest was never released to a required environment")),
    security(("token" = [])), tag = "releases")]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiJson(request): ApiJson<ReleaseRequest>,
) -> ApiResult<(StatusCode, Json<ReleaseStarted>)> {
    let project = project_for(&state, &caller, &project, Action::View).await?;
    if !state
        .store
        .authorize(&caller.0, project.id, Action::Configure)
        .await?
    {
        return Err(ApiError::forbidden(
            "releasing needs the maintainer role on the project",
        ));
    }
    let env = request.environment.as_str();
    check_environment(env)?;
    let freeze_override = match request.override_freeze.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            return Err(ApiError::bad_request("a freeze override needs its reason"));
        }
        Some(reason) => {
            if !state
                .store
                .authorize(&caller.0, project.id, Action::Administer)
                .await?
            {
                return Err(ApiError::forbidden(
                    "overriding a freeze window needs the admin role on the project",
                ));
            }
            Some(reason.to_string())
        }
    };
    if let Some(digest) = &request.digest
        && (digest.is_empty() || digest.len() > 1024 || digest.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request("the digest is not valid"));
    }
    let environment = crate::routes::environments::environment(&state, &project, env).await?;
    let digest = match request.digest {
        Some(digest) => digest,
        None => default_digest(&state, project.id, &environment.requires)
            .await?
            .ok_or_else(|| {
                ApiError::conflict(format!(
                    "no digest to release to `{env}`: nothing was released successfully yet; name one with `digest`"
                ))
            })?,
    };
    check_requires(&state, project.id, env, &environment.requires, &digest).await?;
    let source = state
        .store
        .last_successful_release(project.id, None, Some(&digest))
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "digest {digest} was never released successfully: a release redeploys what a run built and released"
            ))
        })?;
    let commit = match &source.commit_sha {
        Some(commit) => commit.clone(),
        None => head_commit(&state, &project).await?,
    };
    let strategy = deploy_strategy(&state, &project, &commit, env).await;
    let pipeline = release_pipeline(env, &source.artifact_name, &digest, strategy.as_ref());
    let mut inputs = Map::new();
    if let Some(reason) = &freeze_override {
        inputs.insert("freeze_override".to_string(), Value::String(reason.clone()));
    }
    let run = state
        .runs
        .create(
            NewRun {
                project_id: project.id,
                trigger: "release".to_string(),
                branch: None,
                tag: None,
                commit_sha: Some(commit.clone()),
                inputs: Value::Object(inputs),
                triggered_by: Some(caller.0.user_name.clone()),
            },
            Ok((RELEASE_FILE.to_string(), pipeline)),
        )
        .await?;
    audit(
        &state,
        &caller,
        "release.start",
        format!("{} {env} {digest}", project.name),
        json!({
            "run": run.id,
            "run_number": run.number,
            "digest": digest,
            "commit": commit,
            "from_release": source.id,
            "freeze_override": freeze_override,
        }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(ReleaseStarted {
            run: run_view(&project.name, run),
            environment: env.to_string(),
            digest,
            artifact: source.artifact_name,
            commit,
        }),
    ))
}

/// The newest digest released successfully to one of `requires`, else to
/// any environment.
async fn default_digest(
    state: &AppState,
    project_id: Id,
    requires: &[String],
) -> ApiResult<Option<String>> {
    let mut newest: Option<Release> = None;
    for required in requires {
        if let Some(release) = state
            .store
            .last_successful_release(project_id, Some(required), None)
            .await?
            && newest.as_ref().is_none_or(|n| n.id < release.id)
        {
            newest = Some(release);
        }
    }
    if newest.is_none() {
        newest = state
            .store
            .last_successful_release(project_id, None, None)
            .await?;
    }
    Ok(newest.map(|r| r.digest))
}

/// 409 unless `digest` was released successfully to every environment in
/// `requires`.
async fn check_requires(
    state: &AppState,
    project_id: Id,
    env: &str,
    requires: &[String],
    digest: &str,
) -> ApiResult<()> {
    for required in requires {
        if state
            .store
            .last_successful_release(project_id, Some(required), Some(digest))
            .await?
            .is_none()
        {
            return Err(ApiError::conflict(format!(
                "digest {digest} was never released successfully to `{required}`, which `{env}` requires (requires: [{}]); release it to `{required}` first",
                requires.join(", ")
            )));
        }
    }
    Ok(())
}

async fn mirror(state: &AppState, project: &Project) -> ApiResult<slipway_git::Mirror> {
    slipway_git::Mirror::open_or_clone(
        &project.repo_url,
        &state
            .config
            .data_dir
            .join("mirrors")
            .join(project.id.to_string()),
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the repository: {e}")))
}

async fn head_commit(state: &AppState, project: &Project) -> ApiResult<String> {
    let mirror = mirror(state, project).await?;
    mirror
        .resolve(&format!("refs/heads/{}", project.default_branch))
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the repository: {e}")))?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "the repository has no branch `{}`",
                project.default_branch
            ))
        })
}

/// The `strategy:` of the pipeline's deploy job for `env` at `commit`, as
/// JSON (which is YAML); `None` (the default, rolling) when the pipeline,
/// the job or its strategy cannot be found.
async fn deploy_strategy(
    state: &AppState,
    project: &Project,
    commit: &str,
    env: &str,
) -> Option<Value> {
    let mirror = mirror(state, project).await.ok()?;
    let bytes = mirror
        .read_file(commit, slipway_triggers::PIPELINE_FILE, MAX_PIPELINE)
        .await
        .ok()??;
    let source = String::from_utf8(bytes).ok()?;
    strategy_of(&source, env)
}

/// [`deploy_strategy`] of a pipeline's text.
fn strategy_of(source: &str, env: &str) -> Option<Value> {
    let pipeline = slipway_spec::parse_pipeline(source, slipway_triggers::PIPELINE_FILE).ok()?;
    let job = pipeline
        .jobs
        .iter()
        .find(|j| j.deploy.as_ref().is_some_and(|d| d.environment == env))?;
    let root = slipway_spec::yaml::parse(source).0?;
    let deploy = child(child(child(&root, "jobs")?, &job.id)?, "deploy")?;
    let strategy = child(deploy, "strategy")?;
    Some(to_json(strategy))
}

fn child<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
        _ => None,
    }
}

/// A YAML node as JSON: the same values, written in YAML's JSON subset.
fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::from(*i),
        NodeKind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        NodeKind::Str(s) => Value::String(s.clone()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// The pipeline of a release run: one `deploy:` job. Values are written as
/// JSON strings and objects, which YAML reads as they are.
pub fn release_pipeline(
    env: &str,
    artifact: &str,
    digest: &str,
    strategy: Option<&Value>,
) -> String {
    let quoted = |s: &str| Value::String(s.to_string()).to_string();
    let mut text = format!(
        "# Synthesized by the server for a push-button release.\n\
         name: {}\n\
         jobs:\n  {RELEASE_JOB}:\n    deploy:\n      environment: {}\n      artifact: {{ name: {}, digest: {} }}\n",
        quoted(&format!("release {digest} to {env}")),
        quoted(env),
        quoted(artifact),
        quoted(digest),
    );
    if let Some(strategy) = strategy {
        text.push_str(&format!("      strategy: {strategy}\n"));
    }
    text
}

/// `GET /api/v1/dora` query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DoraQuery {
    pub project: String,
    pub env: String,
    /// The period ending now, in seconds (default 30 days).
    pub since: Option<u64>,
}

/// The most releases read for one DORA computation (the newest).
const DORA_RELEASES: u32 = 10_000;

/// `GET /api/v1/dora?project=P&env=E&since=SECONDS`: DORA metrics of an
/// environment from its stored releases (slipway-deploy's computation).
#[utoipa::path(get, path = "/api/v1/dora", params(DoraQuery),
    responses((status = 200, description = "slipway-deploy's Dora", body = Object)),
    security(("token" = [])), tag = "releases")]
pub async fn dora(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DoraQuery>,
) -> ApiResult<Json<slipway_deploy::dora::Dora>> {
    let project = project_for(&state, &caller, &query.project, Action::View).await?;
    check_environment(&query.env)?;
    let period = Duration::from_secs(query.since.unwrap_or(30 * 86_400));
    let now_ms = slipway_deploy::state::now_ms();
    // Not only the period's: what was live before it decides which release a
    // rollback replaced and when an incident opened.
    let filter = ReleaseFilter {
        environment: Some(query.env.clone()),
        since_ms: None,
        limit: DORA_RELEASES,
        newest_first: true,
    };
    let releases = state.store.list_releases(project.id, &filter).await?;
    let records: Vec<DeploymentRecord> = releases
        .into_iter()
        .filter_map(|r| serde_json::from_value(r.record).ok())
        .collect();
    Ok(Json(slipway_deploy::dora::dora(
        &query.env, &records, now_ms, period,
    )))
}

#[cfg(test)]
mod tests {
    use slipway_spec::deploy::ArtifactRef;

    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    const PIPELINE: &str = r#"on: { manual: {} }
jobs:
  build:
    steps:
      - run: make
    artifacts:
      app: dist/app
  staging:
    needs: [build]
    deploy:
      environment: staging
      artifact: build.app
      strategy:
        rolling: { batch: "50%", max_unavailable: 1, max_fail_percentage: 10 }
  production:
    needs: [build, staging]
    deploy:
      environment: production
      artifact: build.app
      strategy:
        canary:
          canary_targets: 1
          steps:
            - weight: 10
            - pause: 30s
            - weight: 50
          promote: { batch: 2 }
  qa:
    needs: [build]
    deploy:
      environment: qa
      artifact: build.app
      strategy: { blue_green: { keep_old: 1m } }
  docs:
    needs: [build]
    deploy:
      environment: docs
      artifact: build.app
"#;

    fn deploy_job(source: &str, job: &str) -> slipway_spec::deploy::DeployJob {
        let pipeline = slipway_spec::parse_pipeline(source, "slipway.yml")
            .unwrap_or_else(|d| panic!("{}", d.render(source, false)));
        pipeline
            .jobs
            .into_iter()
            .find(|j| j.id == job)
            .and_then(|j| j.deploy)
            .expect("the deploy job")
    }

    #[test]
    fn a_release_pipeline_keeps_the_deploy_jobs_strategy() {
        for env in ["staging", "production", "qa", "docs", "nowhere"] {
            let strategy = strategy_of(PIPELINE, env);
            assert_eq!(
                strategy.is_some(),
                env != "docs" && env != "nowhere",
                "{env}"
            );
            let text = release_pipeline(env, "app", DIGEST, strategy.as_ref());
            let released = deploy_job(&text, RELEASE_JOB);
            assert_eq!(released.environment, env);
            assert_eq!(
                released.artifact,
                ArtifactRef::Digest {
                    name: "app".into(),
                    digest: DIGEST.into()
                }
            );
            let expected = match env {
                "nowhere" => slipway_spec::deploy::Strategy::default(),
                _ => deploy_job(PIPELINE, env).strategy,
            };
            assert_eq!(released.strategy, expected, "{env}:\n{text}");
        }
    }

    #[test]
    fn release_pipeline_values_are_data() {
        // Quotes, a newline and a comment sign stay inside their strings: the
        // file has the one job, and the spec refuses the name as a name.
        let text = release_pipeline("prod", "a \"b\"\n# c: d\njobs: {}", "x: {y}", None);
        let root = slipway_spec::yaml::parse(&text).0.expect("YAML");
        let jobs = child(&root, "jobs").expect("jobs");
        let NodeKind::Map(entries) = &jobs.kind else {
            panic!("jobs is a map");
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(keys, [RELEASE_JOB]);
        let artifact = child(
            child(child(jobs, RELEASE_JOB).expect("job"), "deploy").expect("deploy"),
            "artifact",
        )
        .expect("artifact");
        assert_eq!(
            to_json(artifact),
            json!({ "name": "a \"b\"\n# c: d\njobs: {}", "digest": "x: {y}" })
        );
        let refused = slipway_spec::parse_pipeline(&text, "slipway.yml")
            .map(drop)
            .map_err(|d| d.to_string());
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("invalid artifact name")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_pipeline_that_does_not_parse_has_no_strategy() {
        assert_eq!(strategy_of("jobs: [", "staging"), None);
        assert_eq!(strategy_of("", "staging"), None);
    }
}
