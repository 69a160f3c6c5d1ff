//! The HTML of the environment and release pages, from what the handlers
//! read: pure functions, so every page is unit-tested without a server.

use std::fmt::Write as _;

use slipway_deploy::deployer::Topology;
use slipway_deploy::dora::{Dora, DoraClass, human};
use slipway_deploy::state::LbIntent;
use slipway_deploy::{DeploymentRecord, EnvState, Phase, StrategyRecord};
use slipway_store::sql::Release;

use super::charts::{self, Bar};
use super::evidence;
use crate::ui::layout::escape;

const DAY_MS: u64 = 86_400_000;

/// A stored release with its record read back (`None`: a record this
/// server cannot read; the row's own columns are shown then).
pub struct Shown<'a> {
    pub release: &'a Release,
    pub record: Option<DeploymentRecord>,
    /// Who started the run that released it, when known.
    pub who: Option<String>,
}

impl<'a> Shown<'a> {
    pub fn of(release: &'a Release) -> Shown<'a> {
        Shown {
            release,
            record: serde_json::from_value(release.record.clone()).ok(),
            who: None,
        }
    }
}

/// `/projects/P/environments/E/…` and friends, with the parts escaped for a URL path.
pub fn project_href(project: &str, rest: &str) -> String {
    format!("/projects/{}/{rest}", path_segment(project))
}

/// A path segment percent-encoded (names are checked elsewhere; this keeps
/// any value safe in a URL and an attribute).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS UTC`, in a `<time>` element.
pub fn time_html(ms: u64) -> String {
    let text = slipway_deploy::gates::utc(ms / 1000);
    format!(
        "<time datetime=\"{}Z\">{text} UTC</time>",
        text.replace(' ', "T")
    )
}

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Whether a target is in the middle of a deployment.
pub fn busy(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Draining
            | Phase::Deactivating
            | Phase::Installing
            | Phase::Activating
            | Phase::Checking
    )
}

fn phase_word(phase: Phase) -> &'static str {
    match phase {
        Phase::New => "new",
        Phase::Serving => "serving",
        Phase::Standby => "standby",
        Phase::Draining => "draining",
        Phase::Deactivating => "deactivating",
        Phase::Installing => "installing",
        Phase::Activating => "activating",
        Phase::Checking => "checking",
        Phase::Failed => "failed",
    }
}

fn phase_class(phase: Phase) -> &'static str {
    match phase {
        Phase::Serving => "s-ok",
        Phase::Failed => "s-bad",
        Phase::New | Phase::Standby => "s-other",
        _ => "s-run",
    }
}

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "succeeded" => "s-ok",
        "failed" | "rolled_back" => "s-bad",
        _ => "s-cancel",
    }
}

/// Whether the environment is changing now: a target in a deployment's
/// phase, or canary weights set (a canary between its steps).
pub fn in_progress(state: &EnvState) -> bool {
    state
        .targets
        .values()
        .any(|t| busy(t.phase) || t.weight.is_some())
}

/// The share of requests each weighted target gets: its weight over the sum
/// of the weights of the targets in the pool (HAProxy's weighted round
/// robin); `None` for a target without a recorded weight or out of the pool.
fn shares(state: &EnvState) -> std::collections::BTreeMap<&str, f64> {
    let in_pool = |t: &slipway_deploy::TargetState| matches!(t.lb, Some(LbIntent::Ready) | None);
    let total: u64 = state
        .targets
        .values()
        .filter(|t| in_pool(t))
        .filter_map(|t| t.weight)
        .map(u64::from)
        .sum();
    state
        .targets
        .iter()
        .filter(|(_, t)| in_pool(t))
        .filter_map(|(name, t)| {
            let weight = t.weight?;
            let share = if total == 0 {
                0.0
            } else {
                100.0 * f64::from(weight) / total as f64
            };
            Some((name.as_str(), share))
        })
        .collect()
}

/// The topology table: each target's kind, release, phase, health and
/// load-balancer state with its canary weight and share of requests.
pub fn topology_html(out: &mut String, topology: &Topology, state: &EnvState) {
    let shares = shares(state);
    if let Some(live) = topology.live_group {
        let _ = write!(
            out,
            "<p>Blue-green: the <strong>{}</strong> set serves.</p>",
            if matches!(live, slipway_deploy::state::GroupName::Blue) {
                "blue"
            } else {
                "green"
            }
        );
    }
    out.push_str("<div class=\"scroll\"><table class=\"topology\"><caption>Targets</caption><thead><tr><th scope=\"col\">Target</th><th scope=\"col\">Kind</th><th scope=\"col\">Version</th><th scope=\"col\">Digest</th><th scope=\"col\">Phase</th><th scope=\"col\">Health</th><th scope=\"col\">Load balancer</th><th scope=\"col\">Weight</th><th scope=\"col\">Share of requests</th></tr></thead><tbody>");
    if topology.targets.is_empty() {
        out.push_str("<tr><td colspan=\"9\">No targets.</td></tr>");
    }
    for target in &topology.targets {
        let recorded = state.targets.get(&target.name);
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}{}</th><td>{}</td><td>{}</td><td><code class=\"digest\">{}</code></td><td><span class=\"badge {}\">{}</span>{}</td>",
            escape(&target.name),
            target
                .group
                .as_deref()
                .map(|g| format!(" <small>({})</small>", escape(g)))
                .unwrap_or_default(),
            escape(&target.kind),
            escape(target.version.as_deref().unwrap_or("-")),
            escape(target.digest.as_deref().unwrap_or("-")),
            phase_class(target.phase),
            phase_word(target.phase),
            target
                .message
                .as_deref()
                .map(|m| format!("<br><small>{}</small>", escape(m)))
                .unwrap_or_default(),
        );
        let _ = match &target.health {
            None => write!(out, "<td>-</td>"),
            Some(Ok(())) => write!(out, "<td><span class=\"badge s-ok\">healthy</span></td>"),
            Some(Err(why)) => write!(
                out,
                "<td><span class=\"badge s-bad\">unhealthy</span> <small>{}</small></td>",
                escape(why)
            ),
        };
        let _ = match &target.lb {
            None => write!(out, "<td>no load balancer</td>"),
            Some(Ok(server)) => write!(
                out,
                "<td>{} ({}), {} sessions{}</td>",
                escape(&server.admin),
                escape(&server.operational),
                server.sessions,
                server
                    .intended
                    .map(|i| format!(
                        "; intended {}",
                        match i {
                            LbIntent::Ready => "ready",
                            LbIntent::Drain => "drain",
                            LbIntent::Maint => "maint",
                        }
                    ))
                    .unwrap_or_default()
            ),
            Some(Err(why)) => write!(
                out,
                "<td><span class=\"badge s-bad\">unreadable</span> <small>{}</small></td>",
                escape(why)
            ),
        };
        let weight = recorded.and_then(|t| t.weight);
        let _ = write!(
            out,
            "<td>{}</td><td>{}</td></tr>",
            weight.map_or_else(|| "as configured".to_owned(), |w| w.to_string()),
            shares
                .get(target.name.as_str())
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}%"))
        );
    }
    out.push_str("</tbody></table></div>");
}

/// The deployment in progress: the targets by phase, in the order a
/// rollout takes them (the batch being changed, then the rest).
pub fn progress_html(out: &mut String, state: &EnvState) {
    if !in_progress(state) {
        return;
    }
    out.push_str("<section aria-labelledby=\"progress-h\" class=\"progress\"><h2 id=\"progress-h\">Deployment in progress</h2><p role=\"status\">This page refreshes itself every 2 seconds while the deployment goes on.</p>");
    if let Some(rollout) = &state.rollout {
        let mut step = escape(&rollout.step);
        if let Some(first) = step.get(..1) {
            step = format!("{}{}", first.to_uppercase(), &step[1..]);
        }
        let _ = write!(
            out,
            "<p class=\"rollout\"><strong>{step}</strong>: {} → {}</p>",
            escape(&rollout.targets.join(", ")),
            escape(&rollout.version)
        );
    }
    out.push_str("<ul>");
    let order = [
        Phase::Draining,
        Phase::Deactivating,
        Phase::Installing,
        Phase::Activating,
        Phase::Checking,
        Phase::Failed,
        Phase::Serving,
        Phase::Standby,
        Phase::New,
    ];
    for phase in order {
        let names: Vec<String> = state
            .targets
            .iter()
            .filter(|(_, t)| t.phase == phase)
            .map(|(name, t)| {
                let mut shown = escape(name);
                if let Some(version) = &t.version {
                    let _ = write!(shown, " ({})", escape(version));
                }
                shown
            })
            .collect();
        if !names.is_empty() {
            let _ = write!(
                out,
                "<li><span class=\"badge {}\">{}</span> {}</li>",
                phase_class(phase),
                phase_word(phase),
                names.join(", ")
            );
        }
    }
    out.push_str("</ul>");
    if state.targets.values().any(|t| t.weight.is_some()) {
        out.push_str("<p>A canary is running: its weights and shares are in the table above.</p>");
    }
    out.push_str("</section>");
}

fn strategy_words(strategy: &StrategyRecord) -> String {
    match strategy {
        StrategyRecord::Rolling { .. } => "rolling".to_owned(),
        StrategyRecord::BlueGreen { .. } => "blue-green".to_owned(),
        StrategyRecord::Canary { steps, .. } => {
            let steps: Vec<String> = steps
                .iter()
                .map(|s| match s {
                    slipway_deploy::state::CanaryStepRecord::Weight(w) => format!("{w}%"),
                    slipway_deploy::state::CanaryStepRecord::PauseMs(ms) => {
                        format!("pause {}", human(*ms))
                    }
                    slipway_deploy::state::CanaryStepRecord::PauseUntilApproved => {
                        "pause until approved".to_owned()
                    }
                    slipway_deploy::state::CanaryStepRecord::Verify(_) => "verify".to_owned(),
                })
                .collect();
            format!("canary ({})", steps.join(" → "))
        }
    }
}

/// Who approved, when and what they said, of a record's gates.
fn approvals_html(out: &mut String, record: &DeploymentRecord) {
    if record.approvals.is_empty() {
        return;
    }
    out.push_str("<ul class=\"approvals\">");
    for decision in &record.approvals {
        let gate = if decision.gate.is_empty() {
            decision.job_key.clone()
        } else {
            format!("{} ({})", decision.job_key, decision.gate)
        };
        let _ = write!(
            out,
            "<li>{} <strong>{}</strong>: {}",
            if decision.approved {
                "✔ approved"
            } else {
                "✘ rejected"
            },
            escape(&gate),
            escape(&decision.reason)
        );
        if !decision.votes.is_empty() {
            out.push_str("<ul>");
            for vote in &decision.votes {
                let _ = write!(
                    out,
                    "<li>{} {} at {}{}</li>",
                    escape(&vote.user),
                    if vote.approved {
                        "approved"
                    } else {
                        "rejected"
                    },
                    time_html(vote.at_ms),
                    vote.comment
                        .as_deref()
                        .map(|c| format!(": “{}”", escape(c)))
                        .unwrap_or_default()
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

/// One environment's releases, newest first (as given).
pub fn timeline_html(out: &mut String, project: &str, releases: &[Shown<'_>]) {
    if releases.is_empty() {
        out.push_str("<p>No releases yet.</p>");
        return;
    }
    out.push_str("<ol class=\"timeline\" reversed>");
    for shown in releases {
        let r = shown.release;
        let outcome = r.outcome.as_str();
        let _ = write!(
            out,
            "<li class=\"release\" id=\"release-{id}\"><p><a href=\"{href}\"><strong>Release {id}</strong></a> <span class=\"badge {}\">{}</span> {} of <code class=\"digest\">{}</code>",
            outcome_class(outcome),
            escape(outcome),
            escape(r.kind.as_str()),
            escape(&r.digest),
            id = r.id,
            href = project_href(project, &format!("releases/{}", r.id)),
        );
        if let Some(record) = &shown.record
            && !record.version.is_empty()
        {
            let _ = write!(out, " (version {})", escape(&record.version));
        }
        let _ = write!(
            out,
            "</p><p>Finished {} after {}",
            time_html(ms(r.finished_ms)),
            human(ms(r.finished_ms).saturating_sub(ms(r.started_ms)))
        );
        if let Some(run) = r.run_id {
            let _ = write!(
                out,
                "; <a href=\"/runs/{run}\">run {run}</a>, job {}",
                escape(&r.job_key)
            );
        }
        if let Some(commit) = &r.commit_sha {
            let _ = write!(out, "; commit <code>{}</code>", escape(clip(commit, 12)));
        }
        out.push_str("</p>");
        if let Some(who) = &shown.who {
            let _ = write!(out, "<p>Started by {}</p>", escape(who));
        }
        if let Some(record) = &shown.record {
            if let Some(reason) = &record.freeze_override {
                let _ = write!(
                    out,
                    "<p class=\"override\">⚠ Freeze window overridden: {}</p>",
                    escape(reason)
                );
            }
            if let Some(message) = &record.message {
                let _ = write!(out, "<p>{}</p>", escape(message));
            }
            approvals_html(out, record);
            if !record.verifications.is_empty() {
                let phases: Vec<&str> = record
                    .verifications
                    .iter()
                    .map(|v| v.phase.as_str())
                    .collect();
                let _ = write!(
                    out,
                    "<p>Verifications: {} (charts in the release)</p>",
                    phases.join(", ")
                );
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
}

fn clip(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(at, _)| &text[..at])
}

/// One release with its whole record: facts, targets, approvals and every
/// verification's evidence with its charts.
pub fn release_html(out: &mut String, project: &str, shown: &Shown<'_>) {
    let r = shown.release;
    let _ = write!(
        out,
        "<h1>Release {} to {}</h1><p><a href=\"{}\">All releases of {}</a></p><dl class=\"facts\"><dt>Outcome</dt><dd><span class=\"badge {}\">{}</span></dd><dt>Kind</dt><dd>{}</dd><dt>Digest</dt><dd><code class=\"digest\">{}</code></dd><dt>Artifact</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd><dt>Finished</dt><dd>{}</dd>",
        r.id,
        escape(&r.environment),
        project_href(
            project,
            &format!("releases?env={}", path_segment(&r.environment))
        ),
        escape(&r.environment),
        outcome_class(r.outcome.as_str()),
        escape(r.outcome.as_str()),
        escape(r.kind.as_str()),
        escape(&r.digest),
        escape(&r.artifact_name),
        time_html(ms(r.started_ms)),
        time_html(ms(r.finished_ms)),
    );
    if let Some(run) = r.run_id {
        let _ = write!(
            out,
            "<dt>Run</dt><dd><a href=\"/runs/{run}\">run {run}</a>, job {}</dd>",
            escape(&r.job_key)
        );
    }
    if let Some(who) = &shown.who {
        let _ = write!(out, "<dt>Started by</dt><dd>{}</dd>", escape(who));
    }
    if let Some(commit) = &r.commit_sha {
        let _ = write!(out, "<dt>Commit</dt><dd><code>{}</code>", escape(commit));
        if let Some(at) = r.commit_time_ms {
            let _ = write!(out, " committed {}", time_html(ms(at)));
        }
        out.push_str("</dd>");
    }
    let Some(record) = &shown.record else {
        out.push_str("</dl><p role=\"alert\">The release record could not be read by this server version.</p>");
        return;
    };
    let _ = write!(
        out,
        "<dt>Version</dt><dd>{}</dd><dt>Strategy</dt><dd>{}</dd><dt>Record</dt><dd>{}</dd>",
        escape(&record.version),
        escape(&strategy_words(&record.strategy)),
        escape(&record.id)
    );
    if let Some(reason) = &record.freeze_override {
        let _ = write!(out, "<dt>Freeze override</dt><dd>⚠ {}</dd>", escape(reason));
    }
    out.push_str("</dl>");
    if let Some(message) = &record.message {
        let _ = write!(out, "<p>{}</p>", escape(message));
    }
    out.push_str("<h2>Targets</h2><table class=\"targets\"><thead><tr><th scope=\"col\">Target</th><th scope=\"col\">From</th><th scope=\"col\">To</th><th scope=\"col\">Result</th><th scope=\"col\">Took</th></tr></thead><tbody>");
    for target in &record.targets {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&target.target),
            escape(target.from_digest.as_deref().unwrap_or("-")),
            escape(&target.to_digest),
            escape(&target.result),
            human(target.finished_ms.saturating_sub(target.started_ms))
        );
    }
    out.push_str("</tbody></table><h2>Approvals</h2>");
    if record.approvals.is_empty() {
        out.push_str("<p>No approval gates.</p>");
    }
    approvals_html(out, record);
    out.push_str("<h2>Verification evidence</h2>");
    if record.verifications.is_empty() {
        out.push_str("<p>No verification steps.</p>");
    }
    for (i, verification) in record.verifications.iter().enumerate() {
        evidence::verification_html(out, &format!("v{i}"), i + 1, verification);
    }
}

fn class_html(class: Option<DoraClass>) -> String {
    class.map_or_else(
        || "<span class=\"badge s-other\">no class</span>".to_owned(),
        |c| {
            let css = match c {
                DoraClass::Elite | DoraClass::High => "s-ok",
                DoraClass::Medium => "s-wait",
                DoraClass::Low => "s-bad",
            };
            format!("<span class=\"badge {css}\">{c}</span>")
        },
    )
}

/// The four DORA metrics with their classes, and a chart of the period's
/// releases per day by outcome (from `releases`, any order).
pub fn dora_html(out: &mut String, dora: &Dora, releases: &[&Release]) {
    let f = &dora.deployment_frequency;
    let l = &dora.lead_time;
    let c = &dora.change_failure_rate;
    let t = &dora.time_to_restore;
    let optional = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), human);
    let days = (dora.to_ms.saturating_sub(dora.from_ms)).div_ceil(DAY_MS);
    let _ = write!(
        out,
        "<table class=\"dora\"><caption>DORA metrics, the last {days} days ({} to {})</caption><thead><tr><th scope=\"col\">Metric</th><th scope=\"col\">Value</th><th scope=\"col\">Class</th></tr></thead><tbody>\
         <tr><th scope=\"row\">Deployment frequency</th><td>{} successful releases, {:.2} a day</td><td>{}</td></tr>\
         <tr><th scope=\"row\">Lead time for changes</th><td>median {}, 90th percentile {} ({} measured, {} without commit time)</td><td>{}</td></tr>\
         <tr><th scope=\"row\">Change failure rate</th><td>{} of {} changes ({} failed, {} rolled back, {} replaced by a rollback)</td><td>{}</td></tr>\
         <tr><th scope=\"row\">Time to restore</th><td>median {} ({} incidents, {} restored)</td><td>{}</td></tr></tbody></table>",
        time_html(dora.from_ms),
        time_html(dora.to_ms),
        f.releases,
        if f.per_day.is_finite() {
            f.per_day
        } else {
            0.0
        },
        class_html(f.class),
        optional(l.median_ms),
        optional(l.p90_ms),
        l.measured,
        l.without_commit_time,
        class_html(l.class),
        c.rate
            .filter(|r| r.is_finite())
            .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0)),
        c.releases,
        c.failed,
        c.rolled_back,
        c.replaced_by_rollback,
        class_html(c.class),
        optional(t.median_ms),
        t.incidents,
        t.restored,
        class_html(t.class),
    );
    out.push_str(&charts::bar_chart(
        &format!("dora-{}", dora.environment),
        &format!("{}: releases per day by outcome", dora.environment),
        &OUTCOMES,
        &per_day(dora.from_ms, dora.to_ms, releases),
    ));
}

const OUTCOMES: [&str; 4] = ["succeeded", "failed", "rolled_back", "cancelled"];
/// The most days drawn as bars (a longer period is cut to its last days).
const MAX_DAYS: u64 = 366;

/// One bar per UTC day of `[from_ms, to_ms]` (at most [`MAX_DAYS`], the
/// last ones), counting releases finished that day by outcome.
pub fn per_day(from_ms: u64, to_ms: u64, releases: &[&Release]) -> Vec<Bar> {
    let last_day = to_ms / DAY_MS;
    let first_day = (from_ms / DAY_MS).max(last_day.saturating_sub(MAX_DAYS - 1));
    let mut bars: Vec<Bar> = (first_day..=last_day)
        .map(|day| Bar {
            label: slipway_deploy::gates::utc(day * 86_400)
                .get(5..10)
                .unwrap_or("?")
                .to_owned(),
            counts: vec![0; OUTCOMES.len()],
        })
        .collect();
    for release in releases {
        let finished = ms(release.finished_ms);
        let Some(day) = (finished / DAY_MS).checked_sub(first_day) else {
            continue;
        };
        let outcome = OUTCOMES
            .iter()
            .position(|o| *o == release.outcome.as_str())
            .unwrap_or(OUTCOMES.len() - 1);
        if finished < from_ms || finished > to_ms {
            continue;
        }
        if let Some(count) = usize::try_from(day)
            .ok()
            .and_then(|d| bars.get_mut(d))
            .and_then(|b| b.counts.get_mut(outcome))
        {
            *count += 1;
        }
    }
    bars
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use slipway_deploy::TargetState;
    use slipway_deploy::deployer::{LbServer, TopologyTarget};
    use slipway_engine::ports::{ApprovalDecision, ApprovalVote};
    use slipway_store::sql::{ReleaseKind, ReleaseOutcome};
    use slipway_verify::{
        AnalysisRun, ComparedEvidence, ComparisonReport, Measurement, MetricRun, MetricValue,
        Query, Scope, Verification, Window,
    };

    use super::*;

    const HOSTILE: &str = "<script>alert('x')</script>&\"";

    fn record(verifications: Vec<Verification>) -> DeploymentRecord {
        DeploymentRecord {
            id: "production-3".into(),
            run: format!("run 7 by {HOSTILE}"),
            environment: "production".into(),
            digest: "abc123".into(),
            artifact_name: "app".into(),
            version: format!("v2{HOSTILE}"),
            kind: "deploy".into(),
            strategy: StrategyRecord::BlueGreen { keep_old_ms: 0 },
            started_ms: 1_000,
            finished_ms: 61_000,
            outcome: slipway_deploy::Outcome::RolledBack,
            message: Some(format!("canary failed: {HOSTILE}")),
            targets: vec![slipway_deploy::state::TargetRecord {
                target: format!("t{HOSTILE}"),
                from_digest: None,
                to_digest: "abc123".into(),
                result: "rolled_back".into(),
                started_ms: 1_000,
                finished_ms: 2_000,
            }],
            commit: Some("0123456789abcdef".into()),
            commit_time: Some(1),
            approvals: vec![ApprovalDecision {
                job_key: "sign-off".into(),
                gate: String::new(),
                approved: true,
                reason: "approved by alice".into(),
                votes: vec![ApprovalVote {
                    user: format!("alice{HOSTILE}"),
                    approved: true,
                    comment: Some(format!("ship it {HOSTILE}")),
                    at_ms: 30_000,
                }],
                inputs: Default::default(),
                at_ms: 30_000,
            }],
            verifications,
            freeze_override: Some(format!("hotfix {HOSTILE}")),
        }
    }

    fn release(record: &DeploymentRecord) -> Release {
        Release {
            id: 42,
            project_id: 1,
            run_id: Some(7),
            job_key: format!("deploy{HOSTILE}"),
            environment: "production".into(),
            digest: record.digest.clone(),
            artifact_name: "app".into(),
            kind: ReleaseKind::Deploy,
            outcome: ReleaseOutcome::RolledBack,
            commit_sha: record.commit.clone(),
            commit_time_ms: Some(1_000),
            started_ms: 1_000,
            finished_ms: 61_000,
            record: serde_json::to_value(record).expect("json"),
            recorded_ms: 61_000,
        }
    }

    fn verification() -> Verification {
        let query = |text: &str| Query {
            provider: "prometheus".into(),
            text: text.into(),
            path: None,
        };
        Verification {
            phase: slipway_verify::Phase::Failed,
            reason: format!("baseline comparison Failed: errors {HOSTILE}"),
            cancelled: false,
            scope: Scope::default(),
            started_unix_ms: 0,
            finished_unix_ms: 10_000,
            thresholds: Some(AnalysisRun {
                phase: slipway_verify::Phase::Successful,
                reason: "all good".into(),
                cancelled: false,
                started_unix_ms: 0,
                finished_unix_ms: 10_000,
                metrics: vec![MetricRun {
                    name: format!("errors{HOSTILE}"),
                    query: query("rate(x[1m])"),
                    success_condition: Some("result < 0.01".into()),
                    failure_condition: None,
                    interval: Duration::from_secs(5),
                    count: 2,
                    phase: slipway_verify::Phase::Successful,
                    message: String::new(),
                    successful: 2,
                    failed: 0,
                    inconclusive: 0,
                    errors: 0,
                    consecutive_errors: 0,
                    measurements: vec![
                        Measurement {
                            phase: slipway_verify::Phase::Successful,
                            value: Some(MetricValue::Scalar(0.001)),
                            started_unix_ms: 1_000,
                            finished_unix_ms: 1_100,
                            message: "success".into(),
                        },
                        Measurement {
                            phase: slipway_verify::Phase::Successful,
                            value: Some(MetricValue::Vector(vec![0.002, f64::NAN])),
                            started_unix_ms: 6_000,
                            finished_unix_ms: 6_100,
                            message: "success".into(),
                        },
                    ],
                }],
            }),
            comparison: Some(ComparisonReport {
                phase: slipway_verify::Phase::Failed,
                reason: "canary worse".into(),
                cancelled: false,
                window: Window {
                    start_unix_ms: 0,
                    end_unix_ms: 60_000,
                    step: Duration::from_secs(5),
                },
                evidence: vec![ComparedEvidence {
                    name: "error_rate".into(),
                    canary_query: query("canary{role=\"canary\"}"),
                    baseline_query: query("baseline{role=\"baseline\"}"),
                    canary_samples: vec![0.05, 0.06, 0.05],
                    baseline_samples: vec![0.0, 0.001, f64::NAN],
                    error: None,
                }],
                verdict: None,
            }),
        }
    }

    #[test]
    fn a_release_shows_its_whole_evidence_escaped() {
        let record = record(vec![verification()]);
        let row = release(&record);
        let mut out = String::new();
        release_html(&mut out, "shop", &Shown::of(&row));
        assert!(!out.contains("<script>"), "{out}");
        for expected in [
            "Release 42 to production",
            "<code class=\"digest\">abc123</code>",
            "rolled_back",
            "href=\"/runs/7\"",
            "alice&lt;script&gt;",
            "ship it &lt;script&gt;",
            "hotfix &lt;script&gt;",
            "Verification 1: <span class=\"badge s-bad\">Failed</span>",
            "error_rate: baseline against canary",
            // NaN samples are stored as null and read back as NaN: counted, not drawn.
            "baseline: 3 values, smallest 0, median 5.000e-4, largest 0.001, 1 not numbers (left out); canary: 3 values",
            "<td>0.002, NaN</td>",
            "canary{role=&quot;canary&quot;}",
            "measurements over time",
            "result &lt; 0.01",
            "<pre class=\"explanation\">verification: Failed",
            "href=\"/projects/shop/releases?env=production\"",
        ] {
            assert!(out.contains(expected), "{expected}\n{out}");
        }
        assert_eq!(
            out.matches("<svg").count(),
            2,
            "one comparison, one threshold chart"
        );
    }

    #[test]
    fn an_unreadable_record_still_shows_the_row() {
        let mut row = release(&record(Vec::new()));
        row.record = json!({ "what": "not a record" });
        let mut out = String::new();
        release_html(&mut out, "a b/c", &Shown::of(&row));
        assert!(out.contains("could not be read"), "{out}");
        assert!(
            out.contains("/projects/a%20b%2Fc/releases?env=production"),
            "{out}"
        );
    }

    #[test]
    fn the_timeline_lists_approvals_overrides_and_runs() {
        let record = record(Vec::new());
        let row = release(&record);
        let mut plain = release(&record);
        plain.id = 41;
        plain.outcome = ReleaseOutcome::Succeeded;
        plain.record = json!(null);
        let mut out = String::new();
        let newest = Shown {
            who: Some("carol<b>".into()),
            ..Shown::of(&row)
        };
        timeline_html(&mut out, "shop", &[newest, Shown::of(&plain)]);
        assert!(!out.contains("<script>"), "{out}");
        let newest = out.find("release-42").expect("42");
        let older = out.find("release-41").expect("41");
        assert!(newest < older, "in the order given (newest first)");
        for expected in [
            "✔ approved <strong>sign-off</strong>",
            "ship it &lt;script&gt;",
            "Freeze window overridden: hotfix &lt;script&gt;",
            "<a href=\"/runs/7\">run 7</a>",
            "(version v2&lt;script&gt;",
            "Started by carol&lt;b&gt;",
            "<time datetime=\"1970-01-01T00:01:01Z\">",
        ] {
            assert!(out.contains(expected), "{expected}\n{out}");
        }
        let mut empty = String::new();
        timeline_html(&mut empty, "shop", &[]);
        assert!(empty.contains("No releases yet"));
    }

    fn target(name: &str, phase: Phase) -> TopologyTarget {
        TopologyTarget {
            name: name.into(),
            kind: "local".into(),
            group: None,
            digest: Some("d1".into()),
            version: Some("v1".into()),
            phase,
            message: None,
            health: Some(Ok(())),
            lb: Some(Ok(LbServer {
                server: name.into(),
                admin: "ready".into(),
                operational: "Running".into(),
                sessions: 3,
                intended: Some(LbIntent::Ready),
            })),
        }
    }

    #[test]
    fn a_canary_shows_weights_shares_and_progress() {
        let topology = Topology {
            environment: "production".into(),
            live_group: None,
            targets: vec![
                target("canary-1", Phase::Serving),
                target("stable-1", Phase::Serving),
                target("stable-2", Phase::Installing),
                TopologyTarget {
                    health: Some(Err(format!("refused {HOSTILE}"))),
                    lb: Some(Err("no socket".into())),
                    ..target(HOSTILE, Phase::Failed)
                },
            ],
        };
        let mut state = EnvState::default();
        for (name, weight, phase) in [
            ("canary-1", Some(2), Phase::Serving),
            ("stable-1", Some(9), Phase::Serving),
            ("stable-2", Some(9), Phase::Installing),
        ] {
            state.targets.insert(
                name.into(),
                TargetState {
                    weight,
                    phase,
                    lb: Some(LbIntent::Ready),
                    version: Some("v2".into()),
                    ..TargetState::default()
                },
            );
        }
        assert!(in_progress(&state));
        let mut out = String::new();
        topology_html(&mut out, &topology, &state);
        progress_html(&mut out, &state);
        assert!(!out.contains("<script>"), "{out}");
        for expected in [
            "<td>2</td><td>10.0%</td>",
            "<td>9</td><td>45.0%</td>",
            "ready (Running), 3 sessions; intended ready",
            "unhealthy</span> <small>refused &lt;script&gt;",
            "unreadable</span> <small>no socket",
            "Deployment in progress",
            "<span class=\"badge s-run\">installing</span> stable-2 (v2)",
            "A canary is running",
        ] {
            assert!(out.contains(expected), "{expected}\n{out}");
        }
        // Settled: no weights, every target serving: nothing in progress.
        for target in state.targets.values_mut() {
            target.weight = None;
            target.phase = Phase::Serving;
        }
        assert!(!in_progress(&state));
        let mut out = String::new();
        progress_html(&mut out, &state);
        assert!(out.is_empty());
    }

    #[test]
    fn releases_per_day_count_by_outcome_within_the_period() {
        let record = record(Vec::new());
        let day = |d: i64, outcome| Release {
            finished_ms: d * 86_400_000 + 5,
            outcome,
            ..release(&record)
        };
        let rows = [
            day(10, ReleaseOutcome::Succeeded),
            day(10, ReleaseOutcome::Failed),
            day(12, ReleaseOutcome::Cancelled),
            day(3, ReleaseOutcome::Succeeded),
            day(-1, ReleaseOutcome::Succeeded),
        ];
        let refs: Vec<&Release> = rows.iter().collect();
        let bars = per_day(10 * 86_400_000, 12 * 86_400_000 + 10, &refs);
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].counts, [1, 1, 0, 0]);
        assert_eq!(bars[1].counts, [0, 0, 0, 0]);
        assert_eq!(bars[2].counts, [0, 0, 0, 1]);
        assert_eq!(bars[0].label, "01-11");
        // A period of centuries draws its last MAX_DAYS days.
        assert_eq!(per_day(0, u64::MAX / 2, &refs).len(), MAX_DAYS as usize);
        assert_eq!(per_day(5, 0, &refs).len(), 1);
    }

    #[test]
    fn dora_names_each_metric_and_its_class() {
        let records = [record(Vec::new())];
        let dora = slipway_deploy::dora::dora(
            "production",
            &records,
            10 * 86_400_000,
            Duration::from_secs(30 * 86_400),
        );
        let rows = [release(&records[0])];
        let refs: Vec<&Release> = rows.iter().collect();
        let mut out = String::new();
        dora_html(&mut out, &dora, &refs);
        for expected in [
            "Deployment frequency",
            "Lead time for changes",
            "Change failure rate",
            "Time to restore",
            "production: releases per day by outcome",
            "1 rolled_back",
        ] {
            assert!(out.contains(expected), "{expected}\n{out}");
        }
    }
}
