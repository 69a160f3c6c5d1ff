//! `FreezeWindow::active_until` for repeating (cron + duration) and fixed (from, until)
//! windows: inside, outside, at the boundaries, with overlapping openings, and against a
//! plain walk over every opening.

use std::time::Duration;

use proptest::prelude::*;
use slipway_spec::deploy::{FreezeWhen, FreezeWindow};
use slipway_spec::model::{Schedule, Span};

const AT: Span = Span { line: 1, col: 1 };
/// Friday 2026-11-27 18:00:00 UTC.
const FRIDAY_18: u64 = 1_795_802_400;
const HOUR: u64 = 3600;

fn cron(expression: &str, duration: Duration) -> FreezeWindow {
    FreezeWindow {
        name: "w".into(),
        when: FreezeWhen::Cron {
            schedule: Schedule {
                cron: expression.into(),
                span: AT,
            },
            duration,
        },
        span: AT,
    }
}

fn range(from: u64, until: u64) -> FreezeWindow {
    FreezeWindow {
        name: "w".into(),
        when: FreezeWhen::Range { from, until },
        span: AT,
    }
}

#[test]
fn weekend_window_from_friday_evening_to_monday_morning() {
    let weekend = cron("0 18 * * 5", Duration::from_secs(62 * HOUR));
    let monday_8 = FRIDAY_18 + 62 * HOUR;
    assert_eq!(
        weekend.active_until(FRIDAY_18 - 1),
        None,
        "just before it opens"
    );
    assert_eq!(
        weekend.active_until(FRIDAY_18),
        Some(monday_8),
        "the opening minute"
    );
    assert_eq!(
        weekend.active_until(FRIDAY_18 + 18 * HOUR),
        Some(monday_8),
        "Saturday noon"
    );
    assert_eq!(
        weekend.active_until(monday_8 - 1),
        Some(monday_8),
        "the last second"
    );
    assert_eq!(weekend.active_until(monday_8), None, "the end is exclusive");
    assert_eq!(
        weekend.active_until(FRIDAY_18 - 3 * 24 * HOUR - 6 * HOUR),
        None,
        "Tuesday noon"
    );
    assert_eq!(
        weekend.active_until(FRIDAY_18 + 7 * 24 * HOUR + 60),
        Some(monday_8 + 7 * 24 * HOUR),
        "the next week's opening"
    );
}

#[test]
fn overlapping_openings_end_with_the_last() {
    // Every hour, for 90 minutes: from 10:00 to 10:30 the 09:00 and 10:00 openings overlap.
    let window = cron("0 * * * *", Duration::from_secs(90 * 60));
    let ten = FRIDAY_18 - 8 * HOUR;
    assert_eq!(window.active_until(ten), Some(ten + 90 * 60));
    assert_eq!(window.active_until(ten + 15 * 60), Some(ten + 90 * 60));
    assert_eq!(window.active_until(ten + 30 * 60), Some(ten + 90 * 60));
    assert_eq!(
        window.active_until(ten - 1),
        Some(ten + 30 * 60),
        "only the 09:00 opening"
    );
}

#[test]
fn window_shorter_than_the_gap_between_openings() {
    // 10 minutes every day at 04:00.
    let window = cron("0 4 * * *", Duration::from_secs(600));
    let four = FRIDAY_18 - 14 * HOUR;
    assert_eq!(window.active_until(four + 599), Some(four + 600));
    assert_eq!(window.active_until(four + 600), None);
    assert_eq!(window.active_until(four + 12 * HOUR), None);
    assert_eq!(
        window.active_until(0),
        None,
        "the epoch, no opening before it"
    );
}

#[test]
fn fixed_range_is_from_inclusive_until_exclusive() {
    let year_end = range(1_797_724_800, 1_799_020_800);
    assert_eq!(year_end.active_until(1_797_724_799), None);
    assert_eq!(year_end.active_until(1_797_724_800), Some(1_799_020_800));
    assert_eq!(year_end.active_until(1_798_000_000), Some(1_799_020_800));
    assert_eq!(year_end.active_until(1_799_020_799), Some(1_799_020_800));
    assert_eq!(year_end.active_until(1_799_020_800), None);
    assert_eq!(year_end.active_until(0), None);
    assert_eq!(year_end.active_until(u64::MAX), None);
}

#[test]
fn windows_read_from_a_file_hold_their_times() {
    let source = "targets: [{name: a, kind: local, port: 1}]\nfreeze:\n  - {name: weekend, cron: \"0 18 * * FRI\", duration: 62h}\n  - {name: year-end, from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z}\n";
    let environment = match slipway_spec::parse_environment(source, "prod.yml", "prod") {
        Ok(environment) => environment,
        Err(d) => panic!("{}", d.render(source, false)),
    };
    let [weekend, year_end] = environment.freeze.as_slice() else {
        panic!("two windows");
    };
    assert_eq!(
        weekend.active_until(FRIDAY_18 + HOUR),
        Some(FRIDAY_18 + 62 * HOUR)
    );
    // 2026-12-25T12:00:00Z is inside the year-end range, which ends 2027-01-04T00:00:00Z.
    assert_eq!(year_end.active_until(1_798_200_000), Some(1_799_020_800));
}

/// The last opening at or before `now` by walking every opening from `now - length`.
fn walk(window: &FreezeWindow, now: u64) -> Option<u64> {
    let FreezeWhen::Cron { schedule, duration } = &window.when else {
        return None;
    };
    let length = duration.as_secs();
    let mut last = None;
    let mut at = now.saturating_sub(length).saturating_sub(1);
    while let Some(next) = schedule.next_after(at) {
        if next > now {
            break;
        }
        last = Some(next);
        at = next;
    }
    let end = last?.saturating_add(length);
    (now < end).then_some(end)
}

const SCHEDULES: &[&str] = &[
    "* * * * *",
    "*/7 * * * *",
    "0 * * * *",
    "30 4 * * 1-5",
    "0 18 * * 5",
    "0 0 1 * *",
    "0 0 29 2 *",
    "15,45 9-17 * * *",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cron_windows_agree_with_walking_every_opening(
        index in 0..SCHEDULES.len(),
        minutes in 1u64..=3 * 24 * 60,
        extra_seconds in 0u64..60,
        now in 1_700_000_000u64..1_900_000_000,
    ) {
        let window = cron(SCHEDULES[index], Duration::from_secs(minutes * 60 + extra_seconds));
        prop_assert_eq!(window.active_until(now), walk(&window, now));
    }
}
