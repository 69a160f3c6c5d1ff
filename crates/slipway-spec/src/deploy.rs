//! The deployment model: environments (`.slipway/environments/NAME.yml`)
//! and the `deploy:` job kind of `slipway.yml`, typed and validated.
//!
//! ```yaml
//! # .slipway/environments/staging.yml
//! targets:
//!   - name: web-1                 # unique; also the HAProxy server name unless `lb_server:`
//!     kind: local                 # local | ssh | docker
//!     port: 9101                  # the port the service listens on (`$PORT`)
//!     group: blue                 # blue | green: the sets of a blue-green strategy (every target or none)
//!   - name: web-2
//!     kind: ssh
//!     host: 127.0.0.1
//!     ssh_port: 2222
//!     user: deploy
//!     key: ~/.ssh/deploy_ed25519
//!     known_hosts: accept-new     # strict (default) | accept-new
//!     port: 9102
//!     group: blue
//!   - name: web-3
//!     kind: docker
//!     port: 9103                  # published on 127.0.0.1:9103
//!     container_port: 8080        # the port inside the container (default: `port`)
//!     group: green
//! service:
//!   install: { copy: "bin/app" }  # or a command; built-in: copy the artifact to this path (relative to the target's release directory)
//!   activate: { start: "$ARTIFACT --listen 127.0.0.1:$PORT" }   # or a command; built-in: start detached, tracked
//!   deactivate: stop              # or a command; built-in: stop what `start` started
//!   uninstall: remove             # or a command; built-in: remove the release directory
//!   env: { GREETING: hello }
//!   health:
//!     http: /healthz              # GET http://127.0.0.1:$PORT/healthz expecting 2xx; or `command: "..."`
//!     interval: 200ms
//!     timeout: 1s
//!     successes: 2                # consecutive
//!     max_wait: 30s               # unhealthy after this long
//! load_balancer:
//!   haproxy:
//!     socket: /run/haproxy/admin.sock   # or `address: 127.0.0.1:9999`
//!     backend: web
//!   drain_timeout: 30s
//! parallelism: 2                  # targets of one batch deployed at once
//! ```
//!
//! ```yaml
//! # slipway.yml
//! jobs:
//!   deploy:
//!     needs: [package]
//!     deploy:
//!       environment: staging
//!       artifact: package.app     # JOB.ARTIFACT of this run, or `image: NAME@sha256:…`
//!       strategy:
//!         rolling: { batch: 2, max_unavailable: 1, max_fail_percentage: 0 }
//!         # batch: 2 | "25%" | [1, 2, 3]
//!         # or: blue_green: { keep_old: 5m }
//! ```

use std::time::Duration;

use crate::model::Span;

/// An environment file, validated.
#[derive(Clone, Debug)]
pub struct Environment {
    /// The file's stem: `staging` for `.slipway/environments/staging.yml`.
    pub name: String,
    /// The file as shown to people (diagnostics, records).
    pub file: String,
    /// At least one; names unique.
    pub targets: Vec<Target>,
    pub service: ServiceDef,
    pub load_balancer: Option<LoadBalancer>,
    /// Targets of one batch deployed at once (default 1).
    pub parallelism: usize,
    /// `requires: [staging]`: environments a digest must have been released
    /// to successfully before this one accepts it (promotion).
    pub requires: Vec<String>,
    /// `freeze:`: windows in which deployments are refused (an admin may
    /// override with a recorded reason).
    pub freeze: Vec<FreezeWindow>,
}

/// One entry of `freeze:`.
///
/// ```yaml
/// freeze:
///   - name: weekend
///     cron: "0 18 * * 5"          # when the window opens (UTC)
///     duration: 62h
///   - name: year-end
///     from: 2026-12-20T00:00:00Z  # RFC 3339, UTC
///     until: 2027-01-04T00:00:00Z
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreezeWindow {
    /// Shown in the refusal (unique in the environment).
    pub name: String,
    pub when: FreezeWhen,
    pub span: Span,
}

/// When a freeze window is in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreezeWhen {
    /// Opens at each time `schedule` fires, for `duration`.
    Cron {
        schedule: crate::model::Schedule,
        duration: Duration,
    },
    /// From `from` (inclusive) to `until` (exclusive), Unix seconds.
    Range { from: u64, until: u64 },
}

impl FreezeWindow {
    /// When the window that holds `now` (Unix seconds) ends, or `None` when
    /// `now` is outside every opening of this window.
    pub fn active_until(&self, now: u64) -> Option<u64> {
        match &self.when {
            FreezeWhen::Range { from, until } => (*from <= now && now < *until).then_some(*until),
            FreezeWhen::Cron { schedule, duration } => {
                let length = duration.as_secs();
                // The openings in [now - length, now]: the window holds `now` if any does; the
                // last one ends latest. It is found by bisection, so a long window over a
                // frequent schedule costs a few dozen steps, not one per opening: with
                // `fires(t)` = "the first opening after t is at or before now", which is true at
                // `low` and false at `high` = now, the last opening is the first after the
                // largest `t` for which `fires(t)` holds.
                let fires = |after: u64| schedule.next_after(after).filter(|at| *at <= now);
                let mut low = now.saturating_sub(length).saturating_sub(1);
                let mut opened = fires(low)?;
                let mut high = now;
                while high - low > 1 {
                    let middle = low + (high - low) / 2;
                    match fires(middle) {
                        Some(at) => {
                            low = middle;
                            opened = at;
                        }
                        None => high = middle,
                    }
                }
                let end = opened.saturating_add(length);
                (now < end).then_some(end)
            }
        }
    }
}

/// One target of an environment.
#[derive(Clone, Debug)]
pub struct Target {
    /// Unique in the environment: `[A-Za-z0-9][A-Za-z0-9._-]*`.
    pub name: String,
    pub kind: TargetKind,
    /// The port the service listens on: `$PORT` of its commands, the health
    /// check's port. Required for `local` and `docker`.
    pub port: Option<u16>,
    /// The HAProxy server name of this target (default: `name`).
    pub lb_server: String,
    /// `blue` or `green` for blue-green; `None` otherwise.
    pub group: Option<Group>,
    pub span: Span,
}

/// The two sets of a blue-green environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Blue,
    Green,
}

/// How a target is reached.
#[derive(Clone, Debug)]
pub enum TargetKind {
    /// A process on this machine, started detached and tracked by pid.
    Local,
    /// A host over OpenSSH.
    Ssh(SshTarget),
    /// A container on a Docker host; the artifact is an image.
    Docker(DockerTarget),
}

/// `kind: ssh`.
#[derive(Clone, Debug)]
pub struct SshTarget {
    pub host: String,
    /// `ssh_port:` (default 22).
    pub ssh_port: u16,
    pub user: String,
    /// `key:`, a private key file (`~/` expanded by the deployer).
    pub key: Option<String>,
    /// `known_hosts:` policy.
    pub known_hosts: KnownHosts,
    /// `known_hosts_file:` (default: the user's).
    pub known_hosts_file: Option<String>,
    /// `dir:`, where releases live on the host (default `.slipway/deploy` in the user's home).
    pub dir: String,
}

/// Host key checking of an ssh target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KnownHosts {
    /// The host must be known (default).
    #[default]
    Strict,
    /// An unknown host is added on first contact; a changed key is refused.
    AcceptNew,
}

/// `kind: docker`.
#[derive(Clone, Debug)]
pub struct DockerTarget {
    /// `docker_host:`, e.g. `unix:///var/run/docker.sock` (default: the local engine).
    pub docker_host: Option<String>,
    /// `container_port:` (default: the target's `port`).
    pub container_port: Option<u16>,
}

/// `service:`: what installing, activating, deactivating, uninstalling and
/// checking the service means. `None` actions use the built-in of the
/// target kind (see [`Action`]).
#[derive(Clone, Debug, Default)]
pub struct ServiceDef {
    pub install: Option<Action>,
    pub activate: Option<Action>,
    pub deactivate: Option<Action>,
    pub uninstall: Option<Action>,
    pub health: Option<Health>,
    /// `env:` for every command (rendered, no expressions).
    pub env: Vec<(String, String)>,
}

/// One lifecycle action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A shell command run on the target (local: here; ssh: on the host;
    /// docker: on this machine with `DOCKER_HOST` set) with `$ARTIFACT`,
    /// `$DIGEST`, `$VERSION`, `$TARGET`, `$PORT`, `$RELEASE_DIR` and the
    /// service's `env:`.
    Command(String),
    /// `install: {copy: PATH}`: the artifact copied to PATH under the
    /// target's release directory (`$ARTIFACT` then names it).
    Copy { to: String },
    /// `activate: {start: COMMAND}`: COMMAND started detached and tracked
    /// (docker: the image's container, COMMAND as its command if not empty).
    Start { command: String },
    /// `deactivate: stop`: what `start` started is stopped (SIGTERM, a
    /// grace period, SIGKILL; docker: stop and remove the container).
    Stop,
    /// `uninstall: remove`: the release directory is removed.
    Remove,
}

/// `health:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub check: HealthProbe,
    /// Between probes (default 500 ms).
    pub interval: Duration,
    /// Of one probe (default 2 s).
    pub timeout: Duration,
    /// Consecutive successes needed (default 1).
    pub successes: u32,
    /// Unhealthy if not healthy within this (default 60 s).
    pub max_wait: Duration,
}

/// What a health probe does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthProbe {
    /// `http: PATH`: GET `http://127.0.0.1:$PORT{PATH}` (ssh: the host's
    /// address), 2xx is healthy.
    Http { path: String },
    /// `command: TEXT`: exit 0 is healthy (run like an [`Action::Command`]).
    Command(String),
}

/// `load_balancer:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    pub haproxy: HaproxyAddress,
    /// The backend holding every target's server.
    pub backend: String,
    /// How long draining waits for sessions to reach 0 (default 30 s).
    pub drain_timeout: Duration,
}

/// Where HAProxy's runtime API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HaproxyAddress {
    /// `socket: PATH` (a UNIX socket; relative to the repository root).
    Socket(String),
    /// `address: HOST:PORT`.
    Tcp(String),
}

/// The `deploy:` of a job in `slipway.yml` (such a job has no `steps:`).
#[derive(Clone, Debug)]
pub struct DeployJob {
    /// `environment:`, the name of `.slipway/environments/NAME.yml`.
    pub environment: String,
    pub artifact: ArtifactRef,
    pub strategy: Strategy,
    pub span: Span,
}

/// What is deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactRef {
    /// `artifact: JOB.NAME`: an artifact a job of the same run published;
    /// the job must be among `needs:` (checked).
    Job { job: String, artifact: String },
    /// `image: REF`: a container image (docker targets).
    Image(String),
    /// `artifact: {name: NAME, digest: DIGEST}`: an artifact some earlier run
    /// published, by digest (the release runs of `slipway release`).
    Digest { name: String, digest: String },
}

/// `strategy:`.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    Rolling(Rolling),
    BlueGreen(BlueGreen),
    Canary(Canary),
}

/// `canary:`.
///
/// ```yaml
/// strategy:
///   canary:
///     canary_targets: 1          # the first N targets (or "25%") run the new version first
///     steps:
///       - weight: 10             # 10% of requests to the canary targets
///       - verify: { … }          # slipway-verify's `verify:` block
///       - weight: 50
///       - pause: 30s             # or `pause: until-approved`
///     promote: { batch: 2 }      # then the stable targets, by the rolling path
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Canary {
    /// `canary_targets:` (default 1): the first targets in file order.
    pub canary_targets: TargetCount,
    /// `steps:`, in order; at least one.
    pub steps: Vec<CanaryStep>,
    /// `promote:`: how the stable targets are upgraded once every step passed
    /// (default: rolling, batch 1).
    pub promote: Rolling,
}

/// How many targets, as a count or a share of the environment's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetCount {
    Count(usize),
    /// Rounded up, at least 1.
    Percent(u32),
}

impl TargetCount {
    /// The number of targets out of `total`: at least 1, at most `total`.
    pub fn of(self, total: usize) -> usize {
        match self {
            TargetCount::Count(n) => n,
            TargetCount::Percent(p) => (total * p as usize).div_ceil(100),
        }
        .clamp(1, total.max(1))
    }
}

/// One step of a canary.
#[derive(Clone, Debug, PartialEq)]
pub enum CanaryStep {
    /// `weight: N`: N% (0..=100) of requests go to the canary targets.
    Weight(u32),
    /// `pause: 30s`.
    Pause(Duration),
    /// `pause: until-approved`: waits for a person (as an `approval:` job with defaults).
    PauseUntilApproved,
    /// `verify: {…}`: validated when the file is read.
    Verify(Box<slipway_verify::VerifyConfig>),
}

impl Default for Strategy {
    fn default() -> Strategy {
        Strategy::Rolling(Rolling::default())
    }
}

/// `rolling:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rolling {
    /// `batch:` (default 1).
    pub batch: BatchSize,
    /// `max_unavailable:`: targets out of the pool at once (default: the batch size).
    pub max_unavailable: Option<usize>,
    /// `max_fail_percentage:` of targets that may fail before the rollout
    /// stops and rolls back (default 0: the first failure).
    pub max_fail_percentage: u32,
}

impl Default for Rolling {
    fn default() -> Rolling {
        Rolling {
            batch: BatchSize::Count(1),
            max_unavailable: None,
            max_fail_percentage: 0,
        }
    }
}

/// `batch:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchSize {
    /// `batch: 2`.
    Count(usize),
    /// `batch: "25%"` of the targets, rounded up, at least 1.
    Percent(u32),
    /// `batch: [1, 2, 5]`: successive batch sizes; the last repeats.
    List(Vec<usize>),
}

/// `blue_green:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlueGreen {
    /// `keep_old:`: how long the old set stays installed (drained) for an
    /// instant switch back (default 5 minutes).
    pub keep_old: Duration,
}
