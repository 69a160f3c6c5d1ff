//! The release gates an environment's file sets, checked before anything is
//! touched (before the environment's lock, nothing written): promotion
//! (`requires:`) and freeze windows (`freeze:`).
//!
//! - **Promotion.** An environment with `requires: [staging]` accepts a
//!   digest only when each required environment has a `succeeded` release
//!   record of exactly that digest (`deployments.jsonl` of the same state
//!   directory). Rollbacks are exempt: they put back a digest that was live
//!   in this environment before, so it passed the gate then.
//! - **Freeze windows.** A deployment while a window is in force is refused
//!   with the window's name and end (UTC), unless the request carries an
//!   override reason: the deployment then goes on, its log says so and the
//!   record keeps the reason. Who may override (admins) is the server's
//!   check, not this crate's; `slipway run` offers no override. Rollbacks
//!   are not refused by a freeze: they restore a release that ran here
//!   before, and stopping a repair because of a freeze would prolong the
//!   outage the freeze is meant to avoid.
//!
//! Both refusals are [`DeployError::Config`]: the request cannot go on as
//! it stands, and nothing was touched.

use std::path::Path;

use slipway_spec::deploy::Environment;

use crate::DeployError;
use crate::state::{EnvFiles, Outcome};

/// Refuses `digest` for `environment` unless every environment it
/// `requires:` has a successful release record of that digest under
/// `state_dir`.
pub fn check_promotion(
    environment: &Environment,
    state_dir: &Path,
    digest: &str,
) -> Result<(), DeployError> {
    for required in &environment.requires {
        if !slipway_spec::is_environment_name(required) {
            return Err(DeployError::Config(format!(
                "environment {}: `requires:` names `{}`, which is not an environment name",
                environment.name,
                required.escape_debug()
            )));
        }
        let records = EnvFiles::new(state_dir, required).records()?;
        let passed = records
            .iter()
            .any(|r| r.digest == digest && r.outcome == Outcome::Succeeded);
        if passed {
            continue;
        }
        let last = match records.last() {
            Some(r) => format!(
                "{}'s last: {} of {} ({}), {}",
                required,
                r.id,
                crate::short(&r.digest),
                r.version,
                outcome_word(r.outcome)
            ),
            None => format!("{required} has no releases yet"),
        };
        return Err(DeployError::Config(format!(
            "{} requires a successful release to {required} first; digest {} was never released there successfully ({last})",
            environment.name,
            crate::short(digest),
        )));
    }
    Ok(())
}

/// A freeze window in force that an override let a deployment through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overridden {
    /// The window's `name:`.
    pub window: String,
    /// When it ends, Unix seconds.
    pub until: u64,
    /// The reason given.
    pub reason: String,
}

impl Overridden {
    /// The log line of a deployment let through a freeze.
    pub fn line(&self) -> String {
        format!(
            "freeze window \"{}\" (until {} UTC) overridden: {}",
            self.window,
            utc(self.until),
            self.reason
        )
    }
}

/// Refuses a deployment at `now` (Unix seconds) while one of the
/// environment's freeze windows is in force, unless `override_reason` gives
/// a (non-blank) reason. `Ok(None)`: no window in force; `Ok(Some(_))`: in
/// force and overridden. With several windows in force, the one ending last
/// is named (deploying is possible again only then).
pub fn check_freeze(
    environment: &Environment,
    now: u64,
    override_reason: Option<&str>,
) -> Result<Option<Overridden>, DeployError> {
    let Some((window, until)) = environment
        .freeze
        .iter()
        .filter_map(|w| Some((w, w.active_until(now)?)))
        .max_by_key(|(_, until)| *until)
    else {
        return Ok(None);
    };
    match override_reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => Ok(Some(Overridden {
            window: window.name.clone(),
            until,
            reason: reason.to_owned(),
        })),
        None => Err(DeployError::Config(format!(
            "environment {} is frozen by \"{}\" until {} UTC{}",
            environment.name,
            window.name,
            utc(until),
            if override_reason.is_some() {
                "; an override needs a reason, and the one given is blank"
            } else {
                "; an admin may override the freeze with a reason, which the release record keeps"
            }
        ))),
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "failed",
        Outcome::RolledBack => "rolled_back",
        Outcome::Cancelled => "cancelled",
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn utc(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), for days >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_spec::deploy::{FreezeWhen, FreezeWindow, ServiceDef};
    use slipway_spec::model::{Schedule, Span};

    fn environment(freeze: Vec<FreezeWindow>) -> Environment {
        Environment {
            name: "production".to_owned(),
            file: ".slipway/environments/production.yml".to_owned(),
            targets: Vec::new(),
            service: ServiceDef::default(),
            load_balancer: None,
            parallelism: 1,
            requires: Vec::new(),
            freeze,
        }
    }

    fn window(name: &str, when: FreezeWhen) -> FreezeWindow {
        FreezeWindow {
            name: name.to_owned(),
            when,
            span: Span { line: 1, col: 1 },
        }
    }

    // 2026-12-20T00:00:00Z and 2027-01-04T00:00:00Z.
    const FROM: u64 = 1_797_724_800;
    const UNTIL: u64 = 1_799_020_800;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(UNTIL), "2027-01-04 00:00:00");
        assert_eq!(utc(FROM + 3_661), "2026-12-20 01:01:01");
    }

    #[test]
    fn a_deploy_inside_a_range_is_refused_with_its_name_and_end() {
        let env = environment(vec![window(
            "year-end",
            FreezeWhen::Range {
                from: FROM,
                until: UNTIL,
            },
        )]);
        let error = check_freeze(&env, FROM + 10, None).unwrap_err();
        assert!(matches!(error, DeployError::Config(_)));
        assert!(
            error.to_string().starts_with(
                "environment production is frozen by \"year-end\" until 2027-01-04 00:00:00 UTC"
            ),
            "{error}"
        );
        assert_eq!(check_freeze(&env, FROM - 1, None).unwrap(), None);
        assert_eq!(check_freeze(&env, UNTIL, None).unwrap(), None);
        let blank = check_freeze(&env, FROM, Some("  ")).unwrap_err();
        assert!(blank.to_string().contains("blank"), "{blank}");
        let overridden = check_freeze(&env, FROM, Some(" hotfix INC-7 ")).unwrap();
        assert_eq!(
            overridden,
            Some(Overridden {
                window: "year-end".to_owned(),
                until: UNTIL,
                reason: "hotfix INC-7".to_owned(),
            })
        );
    }

    #[test]
    fn of_overlapping_windows_the_one_ending_last_is_named() {
        // Fridays 18:00 for 62 h; 2026-11-27 is a Friday.
        let friday_18 = 1_795_802_400;
        let env = environment(vec![
            window(
                "weekend",
                FreezeWhen::Cron {
                    schedule: Schedule {
                        cron: "0 18 * * 5".to_owned(),
                        span: Span { line: 1, col: 1 },
                    },
                    duration: std::time::Duration::from_secs(62 * 3600),
                },
            ),
            window(
                "short",
                FreezeWhen::Range {
                    from: friday_18,
                    until: friday_18 + 3600,
                },
            ),
        ]);
        let error = check_freeze(&env, friday_18 + 60, None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"weekend\" until 2026-11-30 08:00:00 UTC"),
            "{error}"
        );
        assert_eq!(check_freeze(&env, friday_18 - 60, None).unwrap(), None);
    }
}
