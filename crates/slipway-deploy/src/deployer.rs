//! The entry points: [`Deployer::deploy`], [`Deployer::rollback`],
//! [`Deployer::topology`], [`Deployer::deployments`].
//!
//! A deployment first checks everything it can without touching anything
//! (each target's driver, the HAProxy socket, the backend, every target's
//! server), then takes the environment's lock, keeps the artifact under
//! `artifacts/`, runs the strategy and appends its record.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use slipway_engine::ports::CancelSignal;
use slipway_lb::{Endpoint, HaproxyClient};
use slipway_spec::deploy::{Environment, HaproxyAddress, HealthProbe, Strategy, TargetKind};

use crate::state::{
    DeploymentRecord, EnvFiles, Outcome, Phase, StrategyRecord, TargetRecord, now_ms,
};
use crate::strategy::{Ctx, Lb, Planned, StrategyResult, blue_green, canary, rolling};
use crate::targets::TargetDriver;
use crate::{Artifact, DeployError, DeployLog};

/// The record of a finished deployment (also appended to `deployments.jsonl`).
pub type DeployReport = DeploymentRecord;
/// What happened to one target.
pub type TargetReport = TargetRecord;

/// What to deploy where.
#[derive(Debug)]
pub struct DeployRequest<'a> {
    pub environment: &'a Environment,
    /// The repository root: relative HAProxy socket paths start here.
    pub root: &'a Path,
    pub artifact: Artifact,
    pub strategy: &'a Strategy,
    /// The run that deploys (a number, or `local` for `slipway run`).
    pub run: String,
    /// A short human version, e.g. the run number.
    pub version: String,
    /// What the release record keeps beside the rollout (commit, approvals,
    /// a freeze override).
    pub release: ReleaseInfo,
    /// Answers a canary's `pause: until-approved` (and an inconclusive
    /// verification); `None` fails such a step, which rolls the canary back.
    pub approver: Option<canary::PauseApprover>,
}

/// What a release record keeps beside the rollout itself.
#[derive(Clone, Debug, Default)]
pub struct ReleaseInfo {
    /// The commit deployed and its committer time (Unix seconds), for lead time.
    pub commit: Option<String>,
    pub commit_time: Option<u64>,
    /// The approval gates passed before this deployment.
    pub approvals: Vec<slipway_engine::ports::ApprovalDecision>,
    /// Deploy inside a freeze window for this reason (kept in the record).
    /// Who may is the caller's check (the server's: admins); `None` refuses
    /// a deployment inside a window ([`crate::gates`]).
    pub freeze_override: Option<String>,
}

impl<'a> DeployRequest<'a> {
    /// A request with nothing beside the rollout: no release details, no
    /// approver (set those with `DeployRequest { approver, ..DeployRequest::new(…) }`).
    pub fn new(
        environment: &'a Environment,
        root: &'a Path,
        artifact: Artifact,
        strategy: &'a Strategy,
        run: String,
        version: String,
    ) -> DeployRequest<'a> {
        DeployRequest {
            environment,
            root,
            artifact,
            strategy,
            run,
            version,
            release: ReleaseInfo::default(),
            approver: None,
        }
    }
}

/// An environment as it stands: `slipway env show ENV`.
#[derive(Clone, Debug, Serialize)]
pub struct Topology {
    pub environment: String,
    /// `blue` or `green` when blue-green deployed.
    pub live_group: Option<crate::state::GroupName>,
    pub targets: Vec<TopologyTarget>,
}

/// One target of a [`Topology`].
#[derive(Clone, Debug, Serialize)]
pub struct TopologyTarget {
    pub name: String,
    /// `local`, `ssh` or `docker`.
    pub kind: String,
    pub group: Option<String>,
    pub digest: Option<String>,
    pub version: Option<String>,
    pub phase: Phase,
    pub message: Option<String>,
    /// `Some(Ok)` healthy now, `Some(Err(why))` not, `None` no health check or nothing deployed.
    pub health: Option<Result<(), String>>,
    /// The HAProxy server: admin state, operational state, sessions; or why it could not be read.
    pub lb: Option<Result<LbServer, String>>,
}

/// HAProxy's view of one target's server.
#[derive(Clone, Debug, Serialize)]
pub struct LbServer {
    pub server: String,
    /// `ready`, `drain` or `maint`.
    pub admin: String,
    /// `Running`, `Stopped`…
    pub operational: String,
    pub sessions: u64,
    /// What Slipway intends (`state.json`).
    pub intended: Option<crate::state::LbIntent>,
}

/// Deploys into environments whose state lives under one directory.
#[derive(Clone, Debug)]
pub struct Deployer {
    state_dir: PathBuf,
}

impl Deployer {
    /// `state_dir` holds one directory per environment.
    pub fn new(state_dir: impl Into<PathBuf>) -> Deployer {
        Deployer {
            state_dir: state_dir.into(),
        }
    }

    /// The directory holding one directory per environment.
    pub(crate) fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Installs `request.artifact` on every target by the strategy. `Err`
    /// when a gate refuses it or the environment is unusable (nothing
    /// touched), when the rollout failed (after rolling back; the record says
    /// so) or was cancelled.
    pub async fn deploy(
        &self,
        request: DeployRequest<'_>,
        log: &mut dyn DeployLog,
        cancel: CancelSignal,
    ) -> Result<DeployReport, DeployError> {
        self.deploy_recorded(request, log, cancel)
            .await
            .and_then(verdict)
    }

    /// As [`Deployer::deploy`], but `Ok` with the release record whenever one
    /// was written, whatever the rollout's outcome (the record says it; see
    /// [`verdict`]). `Err` only when nothing was recorded: a gate refused
    /// (promotion, freeze window), the environment is unusable (nothing
    /// touched), or the state could not be read or written.
    pub async fn deploy_recorded(
        &self,
        request: DeployRequest<'_>,
        log: &mut dyn DeployLog,
        cancel: CancelSignal,
    ) -> Result<DeploymentRecord, DeployError> {
        let version = request.version.clone();
        self.run_deployment(
            request.environment,
            request.root,
            Planned {
                artifact: request.artifact,
                version,
            },
            request.strategy,
            request.run,
            "deploy",
            request.release,
            request.approver,
            log,
            cancel,
        )
        .await
    }

    /// Redeploys the previous release (the last succeeded deployment's
    /// digest before the current one) with the environment's last strategy.
    /// Blue-green within `keep_old` switches back to the standby set at once.
    pub async fn rollback(
        &self,
        environment: &Environment,
        root: &Path,
        log: &mut dyn DeployLog,
        cancel: CancelSignal,
    ) -> Result<DeployReport, DeployError> {
        let files = EnvFiles::new(&self.state_dir, &environment.name);
        let records = files.records()?;
        let succeeded: Vec<&DeploymentRecord> = records
            .iter()
            .filter(|r| r.outcome == Outcome::Succeeded)
            .collect();
        let Some(current) = succeeded.last() else {
            return Err(DeployError::Config(format!(
                "environment {}: nothing was deployed successfully yet, so there is nothing to roll back to",
                environment.name
            )));
        };
        let Some(previous) = succeeded.iter().rev().find(|r| r.digest != current.digest) else {
            return Err(DeployError::Config(format!(
                "environment {}: no earlier release than {} ({}) was deployed",
                environment.name,
                current.version,
                crate::short(&current.digest)
            )));
        };
        let strategy = files
            .load_state()?
            .last_strategy
            .unwrap_or_else(|| current.strategy.clone())
            .to_strategy();
        let artifact = {
            let kept = files.artifact_path(&previous.digest);
            if kept.is_file() {
                Artifact::File {
                    name: previous.artifact_name.clone(),
                    path: kept,
                    digest: crate::Digest(previous.digest.clone()),
                }
            } else if previous.digest.starts_with("sha256:") {
                Artifact::Image {
                    reference: previous.artifact_name.clone(),
                    digest: previous.digest.clone(),
                }
            } else {
                return Err(DeployError::State(format!(
                    "the artifact of {} ({}) is no longer kept at {}",
                    previous.version,
                    crate::short(&previous.digest),
                    kept.display()
                )));
            }
        };
        log.line(&format!(
            "rolling {} back to {} ({})",
            environment.name,
            previous.version,
            crate::short(&previous.digest)
        ));
        self.run_deployment(
            environment,
            root,
            Planned {
                artifact,
                version: previous.version.clone(),
            },
            &strategy,
            previous.run.clone(),
            "rollback",
            ReleaseInfo {
                commit: previous.commit.clone(),
                commit_time: previous.commit_time,
                ..ReleaseInfo::default()
            },
            None,
            log,
            cancel,
        )
        .await
        .and_then(verdict)
    }

    /// Makes HAProxy match the intended state recorded in `state.json`
    /// again (after an HAProxy reload reset it), without deploying.
    /// Returns the changes made, one line each. The server calls this
    /// periodically; deployments do it before each batch and at the end.
    pub async fn reconcile(
        &self,
        environment: &Environment,
        root: &Path,
    ) -> Result<Vec<String>, DeployError> {
        let Some(config) = &environment.load_balancer else {
            return Ok(Vec::new());
        };
        let files = EnvFiles::new(&self.state_dir, &environment.name);
        let state = files.load_state()?;
        let client = client_for(&config.haproxy, root)?;
        let desired = slipway_lb::DesiredState {
            backend: config.backend.clone(),
            servers: environment
                .targets
                .iter()
                .filter_map(|t| {
                    let target = state.targets.get(&t.name)?;
                    Some(slipway_lb::DesiredServer {
                        name: t.lb_server.clone(),
                        state: target.lb?.to_lb(),
                        // A canary's weight; `None` leaves HAProxy's.
                        weight: target.weight.map(slipway_lb::Weight::Absolute),
                    })
                })
                .collect(),
        };
        if desired.servers.is_empty() {
            return Ok(Vec::new());
        }
        let changes = client
            .apply(&desired)
            .await
            .map_err(|e| DeployError::Config(format!("environment {}: {e}", environment.name)))?;
        Ok(changes.iter().map(|c| format!("{c:?}")).collect())
    }

    /// Every deployment of `environment`, oldest first.
    pub fn deployments(&self, environment: &str) -> Result<Vec<DeploymentRecord>, DeployError> {
        EnvFiles::new(&self.state_dir, environment).records()
    }

    /// The environment as it stands, with a live health probe of each target
    /// and HAProxy's state of its server. HAProxy being unreachable (a missing
    /// socket…) is not an error: each target's `lb` then holds why.
    pub async fn topology(
        &self,
        environment: &Environment,
        root: &Path,
    ) -> Result<Topology, DeployError> {
        let files = EnvFiles::new(&self.state_dir, &environment.name);
        let state = files.load_state()?;
        // HAProxy unreachable (e.g. its socket is missing): every target says why in its `lb`.
        let lb = environment.load_balancer.as_ref().map(|config| {
            client_for(&config.haproxy, root)
                .map(|client| (client, config.backend.clone()))
                .map_err(|e| e.to_string())
        });
        let mut targets = Vec::with_capacity(environment.targets.len());
        for target in &environment.targets {
            let current = state.targets.get(&target.name).cloned().unwrap_or_default();
            let health = match (&environment.service.health, &current.digest) {
                (Some(health), Some(digest)) => {
                    let driver = TargetDriver::new(target, &environment.service, &files.dir);
                    Some(match driver {
                        Ok(driver) => {
                            let artifact = files.kept_artifact(
                                digest,
                                current.artifact_name.as_deref().unwrap_or("artifact"),
                            );
                            match crate::targets::Release::new(
                                target,
                                &environment.service,
                                artifact,
                                current.version.clone().unwrap_or_default(),
                                &files.dir,
                            ) {
                                Ok(release) => {
                                    driver.probe(&health.check, health.timeout, &release).await
                                }
                                Err(e) => Err(e.0),
                            }
                        }
                        Err(e) => Err(e.0),
                    })
                }
                _ => None,
            };
            let lb_state = match &lb {
                Some(Err(error)) => Some(Err(error.clone())),
                Some(Ok((client, backend))) => Some(
                    client
                        .server(backend, &target.lb_server)
                        .await
                        .map(|s| LbServer {
                            server: s.name,
                            admin: s.admin.to_string(),
                            operational: format!("{:?}", s.operational),
                            sessions: s.sessions,
                            intended: current.lb,
                        })
                        .map_err(|e| e.to_string()),
                ),
                None => None,
            };
            targets.push(TopologyTarget {
                name: target.name.clone(),
                kind: match target.kind {
                    TargetKind::Local => "local",
                    TargetKind::Ssh(_) => "ssh",
                    TargetKind::Docker(_) => "docker",
                }
                .to_owned(),
                group: target.group.map(|g| format!("{g:?}").to_lowercase()),
                digest: current.digest,
                version: current.version,
                phase: current.phase,
                message: current.message,
                health,
                lb: lb_state,
            });
        }
        Ok(Topology {
            environment: environment.name.clone(),
            live_group: state.blue_green.map(|b| b.live),
            targets,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_deployment(
        &self,
        environment: &Environment,
        root: &Path,
        planned: Planned,
        strategy: &Strategy,
        run: String,
        kind: &str,
        release: ReleaseInfo,
        approver: Option<canary::PauseApprover>,
        log: &mut dyn DeployLog,
        cancel: CancelSignal,
    ) -> Result<DeploymentRecord, DeployError> {
        let files = EnvFiles::new(&self.state_dir, &environment.name);
        // The release gates, before anything is touched. Rollbacks are exempt:
        // they put back a release that was live here before (see crate::gates).
        let overridden = if kind == "rollback" {
            None
        } else {
            crate::gates::check_promotion(environment, &self.state_dir, planned.artifact.digest())?;
            crate::gates::check_freeze(
                environment,
                now_ms() / 1000,
                release.freeze_override.as_deref(),
            )?
        };
        if let Some(overridden) = &overridden {
            log.line(&overridden.line());
        }
        let ctx = prepare(environment, root, &files, &planned.artifact, strategy).await?;
        let _lock = crate::lock::acquire(
            &files.dir,
            &format!("run {run} (pid {})", std::process::id()),
            log,
            &cancel,
        )
        .await?;
        let state = files.load_state()?;
        let ctx = Arc::new(Ctx {
            state: Mutex::new(state),
            ..ctx
        });
        let mut planned = planned;
        if let Artifact::File { name, path, digest } = &planned.artifact {
            let kept = files.keep_artifact(path, &digest.0)?;
            planned.artifact = Artifact::File {
                name: name.clone(),
                path: kept,
                digest: digest.clone(),
            };
        }
        let started_ms = now_ms();
        log.line(&format!(
            "deploying {} ({}) to {} ({} target(s))",
            planned.version,
            planned.artifact.short_digest(),
            environment.name,
            environment.targets.len()
        ));
        let result: StrategyResult = match strategy {
            Strategy::Rolling(r) => {
                rolling::run(ctx.clone(), r, planned.clone(), log, cancel).await
            }
            Strategy::BlueGreen(b) => {
                let instant = kind == "rollback"
                    && blue_green::standby_available(&ctx).is_some_and(|standby| {
                        // Only when the standby set runs exactly the release asked for.
                        blue_green::members(&ctx, standby).iter().all(|&i| {
                            ctx.target_state(i).digest.as_deref() == Some(planned.artifact.digest())
                        })
                    });
                if instant {
                    let to = blue_green::live_group(&ctx).other();
                    log.line(&format!(
                        "the previous release still runs on {to:?}: switching back"
                    ));
                    match blue_green::switch(&ctx, to, b.keep_old, log).await {
                        Ok(()) => StrategyResult::new(
                            Outcome::Succeeded,
                            Some(format!("switched back to {to:?}")),
                            Vec::new(),
                        ),
                        Err(e) => StrategyResult::new(Outcome::Failed, Some(e), Vec::new()),
                    }
                } else {
                    blue_green::run(ctx.clone(), b.keep_old, planned.clone(), log, cancel).await
                }
            }
            // A rollback is urgent and puts back what ran before: no steps, the promote path.
            Strategy::Canary(c) if kind == "rollback" => {
                rolling::run(ctx.clone(), &c.promote, planned.clone(), log, cancel).await
            }
            Strategy::Canary(c) => {
                let gates = canary::Gates {
                    run: &run,
                    approver: approver.as_ref(),
                };
                canary::run(ctx.clone(), c, planned.clone(), gates, log, cancel).await
            }
        };
        let strategy_record = StrategyRecord::of(strategy);
        ctx.update_env(|s| {
            s.last_strategy = Some(strategy_record.clone());
            s.rollout = None;
        })?;
        let id = format!("{}-{}", environment.name, files.records()?.len() + 1);
        let record = DeploymentRecord {
            id,
            run,
            environment: environment.name.clone(),
            digest: planned.artifact.digest().to_owned(),
            artifact_name: planned.artifact.name().to_owned(),
            version: planned.version.clone(),
            kind: kind.to_owned(),
            strategy: strategy_record,
            started_ms,
            finished_ms: now_ms(),
            outcome: result.outcome,
            message: result.message.clone(),
            targets: result.targets,
            commit: release.commit,
            commit_time: release.commit_time,
            approvals: release
                .approvals
                .into_iter()
                .chain(result.approvals)
                .collect(),
            verifications: result.verifications,
            freeze_override: overridden.map(|o| o.reason),
        };
        files.append_record(&record)?;
        match record.outcome {
            Outcome::Succeeded => {
                log.line(&format!("{} {}: succeeded", environment.name, record.id));
            }
            Outcome::Cancelled => {}
            Outcome::Failed | Outcome::RolledBack => {
                let message = record.message.as_deref().unwrap_or_default();
                log.line(&format!("{} {}: {message}", environment.name, record.id));
            }
        }
        Ok(record)
    }
}

/// A written release record as [`Deployer::deploy`]'s result: `Ok` when the
/// rollout succeeded, else why not.
pub fn verdict(record: DeploymentRecord) -> Result<DeployReport, DeployError> {
    match record.outcome {
        Outcome::Succeeded => Ok(record),
        Outcome::Cancelled => Err(DeployError::Cancelled),
        Outcome::Failed | Outcome::RolledBack => Err(DeployError::Failed(format!(
            "deployment {} of {} to {} failed: {}",
            record.id,
            record.version,
            record.environment,
            record.message.as_deref().unwrap_or_default()
        ))),
    }
}

/// The HAProxy client of an environment; a missing socket is a configuration error.
pub(crate) fn client_for(
    address: &HaproxyAddress,
    root: &Path,
) -> Result<HaproxyClient, DeployError> {
    let endpoint = match address {
        HaproxyAddress::Socket(path) => {
            let path = root.join(path);
            if !path.exists() {
                return Err(DeployError::Config(format!(
                    "the HAProxy runtime socket {} does not exist (is HAProxy running with `stats socket {} level admin`?)",
                    path.display(),
                    path.display()
                )));
            }
            Endpoint::Unix(path)
        }
        HaproxyAddress::Tcp(address) => {
            Endpoint::Tcp(address.parse::<SocketAddr>().map_err(|_| {
                DeployError::Config(format!(
                    "HAProxy runtime API address `{address}` is not IP:PORT"
                ))
            })?)
        }
    };
    Ok(HaproxyClient::new(endpoint))
}

/// Everything checked before anything is touched: drivers, the artifact
/// kind, blue-green groups, HAProxy's socket, backend and every server.
async fn prepare(
    environment: &Environment,
    root: &Path,
    files: &EnvFiles,
    artifact: &Artifact,
    strategy: &Strategy,
) -> Result<Ctx, DeployError> {
    let config = |message: String| {
        DeployError::Config(format!("environment {}: {message}", environment.name))
    };
    if environment.targets.is_empty() {
        return Err(config("no targets".to_owned()));
    }
    let mut drivers = Vec::with_capacity(environment.targets.len());
    for target in &environment.targets {
        if matches!(target.kind, TargetKind::Local) && matches!(artifact, Artifact::Image { .. }) {
            return Err(config(format!(
                "target {} is local, but the artifact {} is an image",
                target.name,
                artifact.name()
            )));
        }
        if let Some(health) = &environment.service.health
            && matches!(health.check, HealthProbe::Http { .. })
            && target.port.is_none()
        {
            return Err(config(format!(
                "target {} has no `port:`, which the http health check needs",
                target.name
            )));
        }
        drivers.push(Arc::new(
            TargetDriver::new(target, &environment.service, &files.dir).map_err(|e| config(e.0))?,
        ));
    }
    if let Strategy::BlueGreen(_) = strategy {
        if let Some(target) = environment.targets.iter().find(|t| t.group.is_none()) {
            return Err(config(format!(
                "the blue-green strategy needs `group: blue|green` on every target; {} has none",
                target.name
            )));
        }
        let state = files.load_state()?;
        let live = state
            .blue_green
            .map(|b| b.live)
            .unwrap_or(crate::state::GroupName::Blue);
        let idle = live.other();
        if !environment.targets.iter().any(|t| idle.matches(t.group)) {
            return Err(config(format!("the idle set {idle:?} has no targets")));
        }
    }
    if let Strategy::Canary(c) = strategy {
        canary::check(
            c,
            environment.targets.len(),
            environment.load_balancer.is_some(),
        )
        .map_err(config)?;
    }
    // HAProxy is checked while every target's connection opens (ssh: its master connection,
    // ~0.1 s of key exchange, which no batch should wait for); an unreachable host is
    // reported here, before anything is touched.
    let to_connect: Vec<_> = drivers.iter().cloned().map(Some).collect();
    let (lb, connected) = tokio::join!(
        check_lb(environment, root, &config),
        crate::targets::connect_all(&to_connect)
    );
    let lb = lb?;
    let unreachable: Vec<String> = connected
        .into_iter()
        .filter_map(|result| result.err().map(|e| e.0))
        .collect();
    if !unreachable.is_empty() {
        return Err(config(unreachable.join("; ")));
    }
    Ok(Ctx {
        env_name: environment.name.clone(),
        files: files.clone(),
        targets: environment.targets.clone(),
        drivers,
        service: environment.service.clone(),
        health: environment.service.health.clone(),
        lb,
        parallelism: environment.parallelism.max(1),
        state: Mutex::new(Default::default()),
    })
}

/// The environment's HAProxy, once its socket, backend and every target's server are known.
async fn check_lb(
    environment: &Environment,
    root: &Path,
    config: &impl Fn(String) -> DeployError,
) -> Result<Option<Lb>, DeployError> {
    Ok(match &environment.load_balancer {
        None => None,
        Some(config_lb) => {
            let client = client_for(&config_lb.haproxy, root)?;
            let servers = client
                .servers(&config_lb.backend)
                .await
                .map_err(|e| config(e.to_string()))?;
            let known: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
            for target in &environment.targets {
                if !known.contains(&target.lb_server.as_str()) {
                    return Err(config(format!(
                        "target {}: HAProxy backend `{}` has no server `{}`; its servers are: {}",
                        target.name,
                        config_lb.backend,
                        target.lb_server,
                        known.join(", ")
                    )));
                }
            }
            Some(Lb {
                client,
                backend: config_lb.backend.clone(),
                drain_timeout: config_lb.drain_timeout,
            })
        }
    })
}
