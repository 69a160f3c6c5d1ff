//! DORA metrics of one environment from its release records
//! (`deployments.jsonl`): pure functions of the records, the time now and a
//! period ending now. `slipway dora` and the server's `/api/v1/dora` print
//! the same [`Dora`].
//!
//! Exact definitions (a record is *in the period* when it finished within
//! `[now - period, now]`; records finished after `now` and records of other
//! environments are ignored; `kind: rollback` records are *rollbacks*, every
//! other kind a *change*; cancelled records are neither successes nor
//! failures and count nowhere):
//!
//! - **Deployment frequency**: the changes in the period that succeeded,
//!   and that count per day of the period. Rollbacks restore, they deliver
//!   nothing new, so they do not count.
//! - **Lead time for changes**: for each successful change in the period
//!   whose record has a commit time, from the commit's committer time to the
//!   record's `finished_ms`; the median and the 90th percentile (nearest
//!   rank). Changes without a commit time (no git) are left out and counted.
//! - **Change failure rate**: of the changes in the period that succeeded,
//!   failed or were rolled back by their own rollout, the share that failed,
//!   were rolled back by their rollout, or succeeded and were later replaced
//!   by a rollback (the release live when a rollback record starts is the
//!   one it replaces; any rollback record counts, whatever its outcome, as
//!   it says someone judged the live release bad).
//! - **Time to restore**: an incident opens at the first failure while none
//!   is open: a failed or rolled-back record (its `finished_ms`), or a
//!   successful change later replaced by a rollback (its `finished_ms`: from
//!   when the bad release went live). The next successful record of the
//!   environment (a fix, or the rollback itself) closes it; consecutive
//!   failures belong to one incident. The median over the incidents opened in
//!   the period; the ones still open are counted.
//!
//! Each metric also gets a DORA performance class, with the thresholds of the
//! 2023 Accelerate State of DevOps report (see [`DoraClass`]).

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::state::{DeploymentRecord, Outcome};

/// The `kind` of a rollback's record.
pub const ROLLBACK: &str = "rollback";

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The four DORA metrics of one environment over a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dora {
    pub environment: String,
    /// The period: `[from_ms, to_ms]`, Unix milliseconds.
    pub from_ms: u64,
    pub to_ms: u64,
    pub deployment_frequency: DeploymentFrequency,
    pub lead_time: LeadTime,
    pub change_failure_rate: ChangeFailureRate,
    pub time_to_restore: TimeToRestore,
}

/// Successful changes in the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFrequency {
    pub releases: u64,
    pub per_day: f64,
    pub class: Option<DoraClass>,
}

/// Commit to successful release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// Successful changes with a commit time.
    pub measured: u64,
    /// Successful changes without one (left out).
    pub without_commit_time: u64,
    pub median_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    /// By the median.
    pub class: Option<DoraClass>,
}

/// Changes that failed, over all changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeFailureRate {
    /// Changes that succeeded, failed or were rolled back by their rollout.
    pub releases: u64,
    /// Ended `failed`.
    pub failed: u64,
    /// Ended `rolled_back` (their rollout put the previous release back).
    pub rolled_back: u64,
    /// Succeeded, then a rollback replaced them.
    pub replaced_by_rollback: u64,
    /// `(failed + rolled_back + replaced_by_rollback) / releases`, 0 to 1;
    /// `None` without releases.
    pub rate: Option<f64>,
    pub class: Option<DoraClass>,
}

impl ChangeFailureRate {
    /// The changes counted as failures.
    pub fn failures(&self) -> u64 {
        self.failed + self.rolled_back + self.replaced_by_rollback
    }
}

/// From a failure to the next successful release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeToRestore {
    /// Incidents opened in the period.
    pub incidents: u64,
    /// Of those, the ones a successful release closed.
    pub restored: u64,
    pub median_ms: Option<u64>,
    /// By the median.
    pub class: Option<DoraClass>,
}

/// DORA's performance classes, by the 2023 Accelerate State of DevOps
/// report, each band's bound taken as exclusive upper limit:
///
/// | metric | elite | high | medium | low |
/// |---|---|---|---|---|
/// | deployment frequency | ≥ 1 a day (on demand) | ≥ 1 a week | ≥ 1 a month (30 days) | less |
/// | lead time (median) | < 1 day | < 1 week | < 1 month (30 days) | more |
/// | change failure rate | ≤ 5% | ≤ 10% | ≤ 15% | more |
/// | time to restore (median) | < 1 hour | < 1 day | < 1 week | more |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoraClass {
    Elite,
    High,
    Medium,
    Low,
}

impl fmt::Display for DoraClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DoraClass::Elite => "elite",
            DoraClass::High => "high",
            DoraClass::Medium => "medium",
            DoraClass::Low => "low",
        })
    }
}

/// The metrics of `environment` over the `period` ending at `now_ms`, from
/// its records (any order).
pub fn dora(
    environment: &str,
    records: &[DeploymentRecord],
    now_ms: u64,
    period: Duration,
) -> Dora {
    let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
    let from_ms = now_ms.saturating_sub(period_ms);
    let mut history: Vec<&DeploymentRecord> = records
        .iter()
        .filter(|r| r.environment == environment && r.finished_ms <= now_ms)
        .collect();
    history.sort_by_key(|r| r.finished_ms);
    let in_period = |ms: u64| from_ms <= ms && ms <= now_ms;
    let replaced = replaced_by_rollback(&history);
    let changes: Vec<&DeploymentRecord> = history
        .iter()
        .copied()
        .filter(|r| r.kind != ROLLBACK && in_period(r.finished_ms))
        .collect();
    let successes: Vec<&DeploymentRecord> = changes
        .iter()
        .copied()
        .filter(|r| r.outcome == Outcome::Succeeded)
        .collect();
    Dora {
        environment: environment.to_owned(),
        from_ms,
        to_ms: now_ms,
        deployment_frequency: deployment_frequency(successes.len(), now_ms - from_ms),
        lead_time: lead_time(&successes),
        change_failure_rate: change_failure_rate(&changes, &replaced),
        time_to_restore: time_to_restore(&history, &replaced, in_period),
    }
}

/// The ids of successful changes a later rollback replaced.
fn replaced_by_rollback<'r>(history: &[&'r DeploymentRecord]) -> HashSet<&'r str> {
    let mut replaced = HashSet::new();
    let mut live: Option<&DeploymentRecord> = None;
    for record in history {
        if record.kind == ROLLBACK
            && let Some(bad) = live.filter(|l| l.kind != ROLLBACK)
        {
            replaced.insert(bad.id.as_str());
        }
        if record.outcome == Outcome::Succeeded {
            live = Some(record);
        }
    }
    replaced
}

fn deployment_frequency(releases: usize, period_ms: u64) -> DeploymentFrequency {
    let releases = releases as u64;
    let period_ms = period_ms.max(1);
    let per_day = releases as f64 * DAY_MS as f64 / period_ms as f64;
    // At least one release per 1, 7, 30 days, in integers (1/7 is not exact in floating point).
    let at_least_one_per = |days: u64| {
        u128::from(releases) * u128::from(days) * u128::from(DAY_MS) >= u128::from(period_ms)
    };
    let class = if at_least_one_per(1) {
        DoraClass::Elite
    } else if at_least_one_per(7) {
        DoraClass::High
    } else if at_least_one_per(30) {
        DoraClass::Medium
    } else {
        DoraClass::Low
    };
    DeploymentFrequency {
        releases,
        per_day,
        class: Some(class),
    }
}

fn lead_time(successes: &[&DeploymentRecord]) -> LeadTime {
    let mut times: Vec<u64> = successes
        .iter()
        .filter_map(|r| {
            let committed_ms = r.commit_time?.saturating_mul(1000);
            Some(r.finished_ms.saturating_sub(committed_ms))
        })
        .collect();
    times.sort_unstable();
    let median_ms = median(&times);
    LeadTime {
        measured: times.len() as u64,
        without_commit_time: (successes.len() - times.len()) as u64,
        median_ms,
        p90_ms: percentile_90(&times),
        class: median_ms.map(|ms| band(ms, [DAY_MS, 7 * DAY_MS, 30 * DAY_MS])),
    }
}

fn change_failure_rate(
    changes: &[&DeploymentRecord],
    replaced: &HashSet<&str>,
) -> ChangeFailureRate {
    let mut rate = ChangeFailureRate {
        releases: 0,
        failed: 0,
        rolled_back: 0,
        replaced_by_rollback: 0,
        rate: None,
        class: None,
    };
    for change in changes {
        match change.outcome {
            Outcome::Cancelled => continue,
            Outcome::Failed => rate.failed += 1,
            Outcome::RolledBack => rate.rolled_back += 1,
            Outcome::Succeeded if replaced.contains(change.id.as_str()) => {
                rate.replaced_by_rollback += 1;
            }
            Outcome::Succeeded => {}
        }
        rate.releases += 1;
    }
    if rate.releases > 0 {
        let share = rate.failures() as f64 / rate.releases as f64;
        rate.rate = Some(share);
        rate.class = Some(if share <= 0.05 {
            DoraClass::Elite
        } else if share <= 0.10 {
            DoraClass::High
        } else if share <= 0.15 {
            DoraClass::Medium
        } else {
            DoraClass::Low
        });
    }
    rate
}

fn time_to_restore(
    history: &[&DeploymentRecord],
    replaced: &HashSet<&str>,
    in_period: impl Fn(u64) -> bool,
) -> TimeToRestore {
    let mut open: Option<u64> = None;
    let mut live: Option<&DeploymentRecord> = None;
    let mut restored: Vec<u64> = Vec::new();
    let mut incidents = 0u64;
    for record in history {
        if record.kind == ROLLBACK
            && open.is_none()
            && let Some(bad) = live.filter(|l| replaced.contains(l.id.as_str()))
        {
            open = Some(bad.finished_ms);
        }
        match record.outcome {
            Outcome::Failed | Outcome::RolledBack => {
                open.get_or_insert(record.finished_ms);
            }
            Outcome::Succeeded => {
                if let Some(start) = open.take()
                    && in_period(start)
                {
                    incidents += 1;
                    restored.push(record.finished_ms.saturating_sub(start));
                }
                live = Some(record);
            }
            Outcome::Cancelled => {}
        }
    }
    if open.is_some_and(&in_period) {
        incidents += 1;
    }
    restored.sort_unstable();
    let median_ms = median(&restored);
    TimeToRestore {
        incidents,
        restored: restored.len() as u64,
        median_ms,
        class: median_ms.map(|ms| band(ms, [HOUR_MS, DAY_MS, 7 * DAY_MS])),
    }
}

/// Elite below the first limit, high below the second, medium below the
/// third, low from there.
fn band(value: u64, limits: [u64; 3]) -> DoraClass {
    match limits {
        [elite, _, _] if value < elite => DoraClass::Elite,
        [_, high, _] if value < high => DoraClass::High,
        [_, _, medium] if value < medium => DoraClass::Medium,
        _ => DoraClass::Low,
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[u64]) -> Option<u64> {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted.get(n / 2).copied()
    } else {
        let (a, b) = (sorted.get((n / 2).checked_sub(1)?)?, sorted.get(n / 2)?);
        Some(a / 2 + b / 2 + (a % 2 + b % 2) / 2)
    }
}

/// The 90th percentile of sorted values, nearest rank: the value at rank
/// ⌈0.9·n⌉.
fn percentile_90(sorted: &[u64]) -> Option<u64> {
    let rank = (sorted.len() * 9).div_ceil(10);
    sorted.get(rank.checked_sub(1)?).copied()
}

/// Milliseconds for people: `850ms`, `12s`, `4m05s`, `3h12m`, `2d04h`.
pub fn human(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}s", ms / 1_000)
    } else if ms < HOUR_MS {
        format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1_000)
    } else if ms < DAY_MS {
        format!("{}h{:02}m", ms / HOUR_MS, ms % HOUR_MS / 60_000)
    } else {
        format!("{}d{:02}h", ms / DAY_MS, ms % DAY_MS / HOUR_MS)
    }
}

fn class(class: Option<DoraClass>) -> String {
    class.map_or_else(|| "-".to_owned(), |c| c.to_string())
}

fn period(ms: u64) -> String {
    if ms.is_multiple_of(DAY_MS) {
        let days = ms / DAY_MS;
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    } else {
        human(ms)
    }
}

impl fmt::Display for Dora {
    /// A few lines for people: each metric, its DORA class, its numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "DORA metrics of {} over {} up to {} UTC",
            self.environment,
            period(self.to_ms.saturating_sub(self.from_ms)),
            crate::gates::utc(self.to_ms / 1000)
        )?;
        let frequency = &self.deployment_frequency;
        writeln!(
            f,
            "  deployment frequency   {:<6}  {} successful release{}, {:.2} a day",
            class(frequency.class),
            frequency.releases,
            if frequency.releases == 1 { "" } else { "s" },
            frequency.per_day
        )?;
        let lead = &self.lead_time;
        let measured = match (lead.median_ms, lead.p90_ms) {
            (Some(median), Some(p90)) => format!(
                "median {}, p90 {} over {} release{}",
                human(median),
                human(p90),
                lead.measured,
                if lead.measured == 1 { "" } else { "s" }
            ),
            _ => "no successful release with a commit time".to_owned(),
        };
        let without = match lead.without_commit_time {
            0 => String::new(),
            n => format!(" ({n} without a commit time left out)"),
        };
        writeln!(
            f,
            "  lead time for changes  {:<6}  {measured}{without}",
            class(lead.class)
        )?;
        let failures = &self.change_failure_rate;
        let rate = match failures.rate {
            Some(rate) => format!(
                "{:.1}% ({} of {}: {} failed, {} rolled back, {} replaced by a rollback)",
                rate * 100.0,
                failures.failures(),
                failures.releases,
                failures.failed,
                failures.rolled_back,
                failures.replaced_by_rollback
            ),
            None => "no releases".to_owned(),
        };
        writeln!(
            f,
            "  change failure rate    {:<6}  {rate}",
            class(failures.class)
        )?;
        let restore = &self.time_to_restore;
        let open = restore.incidents - restore.restored.min(restore.incidents);
        let restored = match restore.median_ms {
            Some(median) => format!(
                "median {} over {} restored incident{}",
                human(median),
                restore.restored,
                if restore.restored == 1 { "" } else { "s" }
            ),
            None if restore.incidents == 0 => "no incidents".to_owned(),
            None => "nothing restored yet".to_owned(),
        };
        let open = match open {
            0 => String::new(),
            n => format!(" ({n} still open)"),
        };
        write!(
            f,
            "  time to restore        {:<6}  {restored}{open}",
            class(restore.class)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StrategyRecord;

    const NOW: u64 = 1_795_800_000_000;
    const MINUTE: u64 = 60_000;

    /// A record finished `ago_ms` before NOW, committed `lead_ms` before that.
    fn record(
        n: usize,
        kind: &str,
        outcome: Outcome,
        ago_ms: u64,
        lead_ms: Option<u64>,
    ) -> DeploymentRecord {
        let finished_ms = NOW - ago_ms;
        DeploymentRecord {
            id: format!("production-{n}"),
            run: n.to_string(),
            environment: "production".to_owned(),
            digest: format!("digest-{n}"),
            artifact_name: "demo".to_owned(),
            version: format!("run {n}"),
            kind: kind.to_owned(),
            strategy: StrategyRecord::BlueGreen { keep_old_ms: 0 },
            started_ms: finished_ms - MINUTE,
            finished_ms,
            outcome,
            message: None,
            targets: Vec::new(),
            commit: lead_ms.map(|_| "abc".to_owned()),
            commit_time: lead_ms.map(|lead| (finished_ms - lead) / 1000),
            approvals: Vec::new(),
            verifications: Vec::new(),
            freeze_override: None,
        }
    }

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * 86_400)
    }

    #[test]
    fn known_numbers_over_ten_days() {
        use Outcome::*;
        let records = vec![
            // Before the period: a success, then a failure that opens an incident before it.
            record(1, "deploy", Succeeded, 12 * DAY_MS, Some(HOUR_MS)),
            // In the period (10 days):
            record(2, "deploy", Succeeded, 9 * DAY_MS, Some(2 * HOUR_MS)),
            record(3, "deploy", Failed, 8 * DAY_MS, Some(HOUR_MS)),
            record(4, "deploy", RolledBack, 8 * DAY_MS - 10 * MINUTE, None),
            // Closes the incident opened by 3: 30 minutes after it.
            record(
                5,
                "deploy",
                Succeeded,
                8 * DAY_MS - 30 * MINUTE,
                Some(4 * HOUR_MS),
            ),
            record(6, "deploy", Succeeded, 5 * DAY_MS, None),
            // 6 judged bad: the rollback 2 hours after 6 went live restores 5.
            record(
                7,
                "rollback",
                Succeeded,
                5 * DAY_MS - 2 * HOUR_MS,
                Some(HOUR_MS),
            ),
            record(8, "deploy", Cancelled, 4 * DAY_MS, Some(HOUR_MS)),
            record(9, "deploy", Succeeded, 2 * DAY_MS, Some(10 * HOUR_MS)),
            // Still failing at the end: an open incident.
            record(10, "deploy", Failed, DAY_MS, Some(HOUR_MS)),
            // Another environment and the future are ignored.
            DeploymentRecord {
                environment: "staging".to_owned(),
                ..record(11, "deploy", Failed, DAY_MS, None)
            },
            record(12, "deploy", Failed, 0, None),
        ];
        let future = DeploymentRecord {
            finished_ms: NOW + 1,
            ..record(13, "deploy", Failed, 0, None)
        };
        let mut all = records.clone();
        all.push(future);
        let dora = dora("production", &all, NOW, days(10));
        assert_eq!(dora.from_ms, NOW - 10 * DAY_MS);
        // Successful changes in the period: 2, 5, 6, 9 (7 is a rollback).
        assert_eq!(dora.deployment_frequency.releases, 4);
        assert!((dora.deployment_frequency.per_day - 0.4).abs() < 1e-9);
        assert_eq!(dora.deployment_frequency.class, Some(DoraClass::High));
        // Lead times of 2, 5, 9: 2h, 4h, 10h; 6 has no commit time.
        assert_eq!(dora.lead_time.measured, 3);
        assert_eq!(dora.lead_time.without_commit_time, 1);
        assert_eq!(dora.lead_time.median_ms, Some(4 * HOUR_MS));
        assert_eq!(dora.lead_time.p90_ms, Some(10 * HOUR_MS));
        assert_eq!(dora.lead_time.class, Some(DoraClass::Elite));
        // Changes: 2, 3, 4, 5, 6, 9, 10, 12 (8 cancelled): 3, 10, 12 failed, 4 rolled back,
        // 6 replaced by a rollback: 5 of 8.
        let cfr = &dora.change_failure_rate;
        assert_eq!(
            (
                cfr.releases,
                cfr.failed,
                cfr.rolled_back,
                cfr.replaced_by_rollback
            ),
            (8, 3, 1, 1)
        );
        assert_eq!(cfr.rate, Some(5.0 / 8.0));
        assert_eq!(cfr.class, Some(DoraClass::Low));
        // Incidents: 3 → 5 (30 min, 4 in between is the same incident), 6 → 7 (2 h),
        // 10 (with 12) still open.
        let restore = &dora.time_to_restore;
        assert_eq!((restore.incidents, restore.restored), (3, 2));
        assert_eq!(restore.median_ms, Some((30 * MINUTE + 2 * HOUR_MS) / 2));
        assert_eq!(restore.class, Some(DoraClass::High));
        let shown = dora.to_string();
        for part in [
            "DORA metrics of production over 10 days up to 2026-11-27 17:20:00 UTC",
            "deployment frequency   high    4 successful releases, 0.40 a day",
            "lead time for changes  elite   median 4h00m, p90 10h00m over 3 releases (1 without a commit time left out)",
            "change failure rate    low     62.5% (5 of 8: 3 failed, 1 rolled back, 1 replaced by a rollback)",
            "time to restore        high    median 1h15m over 2 restored incidents (1 still open)",
        ] {
            assert!(shown.contains(part), "{part:?} missing in:\n{shown}");
        }
        let json = serde_json::to_string(&dora).unwrap();
        assert_eq!(serde_json::from_str::<Dora>(&json).unwrap(), dora);
    }

    #[test]
    fn an_incident_opened_before_the_period_is_not_counted() {
        use Outcome::*;
        let records = vec![
            record(1, "deploy", Failed, 12 * DAY_MS, None),
            record(2, "deploy", Succeeded, 5 * DAY_MS, None),
        ];
        let dora = dora("production", &records, NOW, days(10));
        assert_eq!(dora.time_to_restore.incidents, 0);
        assert_eq!(dora.time_to_restore.median_ms, None);
        assert_eq!(dora.change_failure_rate.rate, Some(0.0));
        assert_eq!(dora.change_failure_rate.class, Some(DoraClass::Elite));
    }

    #[test]
    fn no_records_give_no_numbers_but_a_low_frequency() {
        let dora = dora("production", &[], NOW, days(30));
        assert_eq!(dora.deployment_frequency.releases, 0);
        assert_eq!(dora.deployment_frequency.per_day, 0.0);
        assert_eq!(dora.deployment_frequency.class, Some(DoraClass::Low));
        assert_eq!(dora.lead_time.median_ms, None);
        assert_eq!(dora.lead_time.class, None);
        assert_eq!(dora.change_failure_rate.rate, None);
        assert_eq!(dora.time_to_restore.class, None);
        let shown = dora.to_string();
        assert!(shown.contains("no successful release with a commit time"));
        assert!(shown.contains("change failure rate    -       no releases"));
        assert!(shown.contains("time to restore        -       no incidents"));
        // A zero period does not divide by zero.
        let empty = super::dora("production", &[], NOW, Duration::ZERO);
        assert_eq!(empty.deployment_frequency.per_day, 0.0);
    }

    #[test]
    fn medians_percentiles_and_bands() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5]), Some(5));
        assert_eq!(median(&[1, 2]), Some(1));
        assert_eq!(median(&[1, 3]), Some(2));
        assert_eq!(median(&[u64::MAX, u64::MAX]), Some(u64::MAX));
        assert_eq!(median(&[1, 2, 9]), Some(2));
        assert_eq!(percentile_90(&[]), None);
        assert_eq!(percentile_90(&[7]), Some(7));
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile_90(&ten), Some(9));
        let eleven: Vec<u64> = (1..=11).collect();
        assert_eq!(percentile_90(&eleven), Some(10));
        assert_eq!(band(0, [1, 2, 3]), DoraClass::Elite);
        assert_eq!(band(1, [1, 2, 3]), DoraClass::High);
        assert_eq!(band(2, [1, 2, 3]), DoraClass::Medium);
        assert_eq!(band(3, [1, 2, 3]), DoraClass::Low);
        assert_eq!(human(850), "850ms");
        assert_eq!(human(12_300), "12s");
        assert_eq!(human(245_000), "4m05s");
        assert_eq!(human(3 * HOUR_MS + 12 * MINUTE), "3h12m");
        assert_eq!(human(2 * DAY_MS + 4 * HOUR_MS), "2d04h");
    }

    #[test]
    fn frequency_classes() {
        let class = |n: usize, days: u64| deployment_frequency(n, days * DAY_MS).class;
        assert_eq!(class(30, 30), Some(DoraClass::Elite));
        assert_eq!(class(29, 30), Some(DoraClass::High));
        assert_eq!(class(1, 7), Some(DoraClass::High));
        assert_eq!(class(1, 8), Some(DoraClass::Medium));
        assert_eq!(class(1, 30), Some(DoraClass::Medium));
        assert_eq!(class(1, 31), Some(DoraClass::Low));
    }
}
