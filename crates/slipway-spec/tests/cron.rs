//! `Schedule::next_after` at fixed instants (UTC). Expected values were worked out by hand
//! from the calendar and are written both as Unix seconds and as dates.

use slipway_spec::{Schedule, Span};

fn next(cron: &str, after: u64) -> Option<u64> {
    Schedule {
        cron: cron.to_string(),
        span: Span::default(),
    }
    .next_after(after)
}

/// Unix seconds of a UTC date and time (proleptic Gregorian), for readable expectations.
fn at(year: i64, month: u32, day: u32, hour: u64, minute: u64) -> u64 {
    // Days from 1970-01-01 by counting whole years and months: plain, and independent of the
    // code under test.
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let mut days: i64 = 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += lengths.iter().take(month as usize - 1).sum::<i64>();
    days += i64::from(day) - 1;
    u64::try_from(days).expect("after 1970") * 86_400 + hour * 3600 + minute * 60
}

#[test]
fn the_helper_agrees_with_known_instants() {
    assert_eq!(at(1970, 1, 1, 0, 0), 0);
    assert_eq!(at(2024, 1, 1, 0, 0), 1_704_067_200);
    assert_eq!(at(2000, 3, 1, 0, 0), 951_868_800);
}

#[test]
fn every_minute_is_strictly_after() {
    let t = at(2024, 5, 17, 10, 30);
    assert_eq!(next("* * * * *", t), Some(t + 60));
    // From the middle of a minute: the next whole minute.
    assert_eq!(next("* * * * *", t + 59), Some(t + 60));
    assert_eq!(next("* * * * *", t - 1), Some(t));
}

#[test]
fn daily_and_steps() {
    let t = at(2024, 5, 17, 10, 30);
    assert_eq!(next("0 4 * * *", t), Some(at(2024, 5, 18, 4, 0)));
    assert_eq!(next("*/15 * * * *", t), Some(at(2024, 5, 17, 10, 45)));
    assert_eq!(
        next("*/15 * * * *", t + 60 * 15),
        Some(at(2024, 5, 17, 11, 0))
    );
    assert_eq!(next("5/20 * * * *", t), Some(at(2024, 5, 17, 10, 45)));
    assert_eq!(next("10-20/5 3 * * *", t), Some(at(2024, 5, 18, 3, 10)));
    assert_eq!(next("0,30 10,12 * * *", t), Some(at(2024, 5, 17, 12, 0)));
    // The last minute of the day rolls into the next day.
    assert_eq!(
        next("59 23 * * *", at(2024, 12, 31, 23, 59)),
        Some(at(2025, 1, 1, 23, 59))
    );
}

#[test]
fn month_ends_and_leap_years() {
    // The 31st skips months that have 30 days.
    assert_eq!(
        next("0 0 31 * *", at(2024, 4, 1, 0, 0)),
        Some(at(2024, 5, 31, 0, 0))
    );
    // February 29th: 2024 is a leap year, 2100 is not, 2000 was.
    assert_eq!(
        next("0 12 29 2 *", at(2023, 3, 1, 0, 0)),
        Some(at(2024, 2, 29, 12, 0))
    );
    assert_eq!(
        next("0 12 29 2 *", at(2096, 3, 1, 0, 0)),
        Some(at(2104, 2, 29, 12, 0))
    );
    assert_eq!(
        next("0 0 29 FEB *", at(1999, 1, 1, 0, 0)),
        Some(at(2000, 2, 29, 0, 0))
    );
    // Last day of February in a common year, then the turn of the year.
    assert_eq!(
        next("0 0 * 3 *", at(2023, 2, 28, 23, 59)),
        Some(at(2023, 3, 1, 0, 0))
    );
    assert_eq!(
        next("0 0 1 1 *", at(2024, 6, 1, 0, 0)),
        Some(at(2025, 1, 1, 0, 0))
    );
    // A date that never comes.
    assert_eq!(next("0 0 30 2 *", at(2024, 1, 1, 0, 0)), None);
    assert_eq!(next("0 0 31 4,6,9,11 *", at(2024, 1, 1, 0, 0)), None);
}

#[test]
fn sunday_is_0_and_7() {
    // 2024-06-01 is a Saturday; the next Sunday is 2024-06-02.
    let saturday = at(2024, 6, 1, 12, 0);
    // "6-7" is Saturday and Sunday; Saturday 09:00 has passed.
    for cron in [
        "0 9 * * 0",
        "0 9 * * 7",
        "0 9 * * SUN",
        "0 9 * * sun",
        "0 9 * * 6-7",
    ] {
        assert_eq!(next(cron, saturday), Some(at(2024, 6, 2, 9, 0)), "{cron}");
    }
    // Weekdays only: from Friday evening to Monday morning.
    assert_eq!(
        next("30 8 * * MON-FRI", at(2024, 5, 31, 18, 0)),
        Some(at(2024, 6, 3, 8, 30))
    );
    assert_eq!(next("0 0 * * 1-7/2", saturday), Some(at(2024, 6, 2, 0, 0)));
}

#[test]
fn day_of_month_or_day_of_week_when_both_are_restricted() {
    // Vixie cron: "on the 13th, or on a Friday".
    let start = at(2024, 9, 1, 0, 0); // a Sunday
    assert_eq!(next("0 0 13 * 5", start), Some(at(2024, 9, 6, 0, 0))); // Friday the 6th
    assert_eq!(
        next("0 0 13 * 5", at(2024, 9, 12, 1, 0)),
        Some(at(2024, 9, 13, 0, 0))
    );
    assert_eq!(
        next("0 0 1 * MON", at(2024, 9, 2, 1, 0)),
        Some(at(2024, 9, 9, 0, 0))
    );
    // With one of them `*` (even `*/2`), both must hold: Fridays that are odd days.
    assert_eq!(next("0 0 */2 * 5", start), Some(at(2024, 9, 13, 0, 0)));
    assert_eq!(next("0 0 13 * *", start), Some(at(2024, 9, 13, 0, 0)));
    assert_eq!(next("0 0 * * 5", start), Some(at(2024, 9, 6, 0, 0)));
}

#[test]
fn names_and_lists_of_months() {
    assert_eq!(
        next("0 6 1 JAN,jul *", at(2024, 2, 1, 0, 0)),
        Some(at(2024, 7, 1, 6, 0))
    );
    assert_eq!(
        next("0 6 1 oct-DEC *", at(2024, 2, 1, 0, 0)),
        Some(at(2024, 10, 1, 6, 0))
    );
}

#[test]
fn far_future_and_invalid_expressions_give_none() {
    assert_eq!(next("* * * * *", u64::MAX), None);
    let late = u64::MAX - 120;
    assert!(next("* * * * *", late).is_some_and(|t| t > late));
    assert_eq!(next("not cron", 0), None);
    assert_eq!(next("61 * * * *", 0), None);
}
