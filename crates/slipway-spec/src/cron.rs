//! Five-field cron expressions (minute hour day-of-month month day-of-week), in UTC: checked
//! when the file is read, and asked for their next time by the server's scheduler.

const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    (
        "day of week",
        0,
        7,
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    ),
];

/// The minutes, hours, days, months and weekdays a cron expression selects, as bit sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CronSpec {
    minutes: u64,
    hours: u64,
    /// Bits 1..=31.
    days: u64,
    /// Bits 1..=12.
    months: u64,
    /// Bits 0..=6, Sunday 0 (a 7 in the file is stored as 0).
    weekdays: u64,
    /// The day-of-month field starts with `*` (Vixie cron's rule for combining the day fields).
    days_star: bool,
    /// The day-of-week field starts with `*`.
    weekdays_star: bool,
}

/// `Ok` if `cron` has five valid fields, else what is wrong.
pub(crate) fn check(cron: &str) -> Result<(), String> {
    parse(cron).map(|_| ())
}

/// Parses five cron fields (minute hour day-of-month month day-of-week).
pub(crate) fn parse(cron: &str) -> Result<CronSpec, String> {
    let parts: Vec<&str> = cron.split_whitespace().collect();
    let [minute, hour, day, month, weekday] = parts.as_slice() else {
        return Err(format!(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), found {}",
            parts.len()
        ));
    };
    let mut bits = [0u64; 5];
    for ((part, (name, min, max, names)), out) in [minute, hour, day, month, weekday]
        .into_iter()
        .zip(FIELDS)
        .zip(&mut bits)
    {
        for item in part.split(',') {
            *out |= item_bits(item, min, max, names)
                .map_err(|why| format!("invalid {name} field `{part}`: {why}"))?;
        }
    }
    let [minutes, hours, days, months, mut weekdays] = bits;
    // Sunday is both 0 and 7.
    if weekdays & (1 << 7) != 0 {
        weekdays = (weekdays | 1) & !(1 << 7);
    }
    Ok(CronSpec {
        minutes,
        hours,
        days,
        months,
        weekdays,
        days_star: day.starts_with('*'),
        weekdays_star: weekday.starts_with('*'),
    })
}

/// The values one comma-separated item selects: `*`, `n`, `a-b`, each with an optional
/// `/step`; `n/step` means `n-max/step` (as cronie and most crons read it).
fn item_bits(item: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    let increment = match step {
        None => 1,
        Some(step) => match step.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("`{step}` is not a positive step")),
        },
    };
    let (low, high) = if range == "*" {
        (min, max)
    } else {
        match range.split_once('-') {
            Some((low, high)) => (value(low, min, max, names)?, value(high, min, max, names)?),
            None => {
                let low = value(range, min, max, names)?;
                (low, if step.is_some() { max } else { low })
            }
        }
    };
    if high < low {
        return Err(format!("range `{range}` runs backwards"));
    }
    let mut bits = 0u64;
    // The values are at most 59 and `increment` at least 1, so this ends.
    let mut v = low;
    while v <= high {
        bits |= 1 << v;
        v = v.saturating_add(increment);
    }
    Ok(bits)
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(index) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        // Month names count from 1, weekday names from 0.
        let base = if names.len() == 12 { 1 } else { 0 };
        return Ok(base + u32::try_from(index).unwrap_or(0));
    }
    match text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is outside {min}-{max}")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

impl crate::model::Schedule {
    /// The first minute strictly after `after` (Unix seconds) at which this schedule fires, in
    /// UTC. `None` if it never fires again within 400 years (`0 0 30 2 *`: February 30th) or
    /// its expression is invalid (never the case after validation).
    pub fn next_after(&self, after: u64) -> Option<u64> {
        parse(&self.cron).ok()?.next_after(after)
    }
}

const SECONDS_PER_DAY: u64 = 86_400;
/// How far ahead to look: 400 years is a whole Gregorian cycle, so a date that has not come by
/// then (`0 0 30 2 *`) never will.
const SEARCH_DAYS: u64 = 146_097;

impl CronSpec {
    /// The first minute strictly after `after` (Unix seconds, UTC) that the expression
    /// selects, or `None` if there is none within 400 years (or the time overflows).
    pub(crate) fn next_after(&self, after: u64) -> Option<u64> {
        let start = (after / 60).checked_add(1)?.checked_mul(60)?;
        let mut day = start / SECONDS_PER_DAY;
        let mut first_minute = (start % SECONDS_PER_DAY) / 60;
        let last_day = day.checked_add(SEARCH_DAYS)?;
        while day <= last_day {
            let (year, month, day_of_month) = civil_from_days(i64::try_from(day).ok()?);
            if self.months & (1 << month) == 0 {
                // Jump to the first day of the next month.
                day += u64::from(days_in_month(year, month) - day_of_month + 1);
                first_minute = 0;
                continue;
            }
            if self.day_matches(day_of_month, (day + 4) % 7)
                && let Some(minute) = self.first_minute(first_minute)
            {
                return day
                    .checked_mul(SECONDS_PER_DAY)?
                    .checked_add(minute.checked_mul(60)?);
            }
            day += 1;
            first_minute = 0;
        }
        None
    }

    /// Vixie cron: when both day fields are restricted (neither starts with `*`), a day
    /// matches if either does; otherwise both must.
    fn day_matches(&self, day_of_month: u32, weekday: u64) -> bool {
        let by_day = self.days & (1 << day_of_month) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            by_day && by_weekday
        } else {
            by_day || by_weekday
        }
    }

    /// The first selected minute of the day at or after `from` (minutes since midnight).
    fn first_minute(&self, from: u64) -> Option<u64> {
        for hour in from / 60..24 {
            if self.hours & (1 << hour) == 0 {
                continue;
            }
            let lowest = if hour == from / 60 { from % 60 } else { 0 };
            let minutes = (self.minutes >> lowest) << lowest;
            if minutes != 0 {
                return Some(hour * 60 + u64::from(minutes.trailing_zeros()));
            }
        }
        None
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // `day` is 1..=31 and `month` 1..=12 by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Days since 1970-01-01 of (year, month 1-12, day 1-31): the inverse of [`civil_from_days`]
/// (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in [-1, 0, 1, 59, 365, 10_957, 20_000, 20_807, 100_000] {
            let (year, month, day) = super::civil_from_days(days);
            assert_eq!(super::days_from_civil(year, month, day), days, "{days}");
        }
        assert_eq!(super::days_from_civil(2026, 12, 20), 20_807);
    }

    #[test]
    fn accepts_common_forms() {
        for ok in [
            "0 4 * * *",
            "*/15 * * * 1-5",
            "30 2 1,15 JAN-jun SUN",
            "0 0 * * 7",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_fields() {
        assert!(check("0 4 * *").is_err());
        assert!(check("60 * * * *").is_err());
        assert!(check("*/0 * * * *").is_err());
        assert!(check("5-1 * * * *").is_err());
        assert!(check("0 0 0 * *").is_err());
    }
}
