//! Checks five-field cron expressions (minute hour day-of-month month day-of-week).

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

/// `Ok` if `cron` has five valid fields, else what is wrong.
pub(crate) fn check(cron: &str) -> Result<(), String> {
    let parts: Vec<&str> = cron.split_whitespace().collect();
    if parts.len() != FIELDS.len() {
        return Err(format!(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), found {}",
            parts.len()
        ));
    }
    for (part, (name, min, max, names)) in parts.iter().zip(FIELDS) {
        for item in part.split(',') {
            check_item(item, min, max, names)
                .map_err(|why| format!("invalid {name} field `{part}`: {why}"))?;
        }
    }
    Ok(())
}

fn check_item(item: &str, min: u32, max: u32, names: &[&str]) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("`{step}` is not a positive step")),
        }
    }
    if range == "*" {
        return Ok(());
    }
    let (low, high) = match range.split_once('-') {
        Some((low, high)) => (
            value(low, min, max, names)?,
            Some(value(high, min, max, names)?),
        ),
        None => (value(range, min, max, names)?, None),
    };
    if let Some(high) = high
        && high < low
    {
        return Err(format!("range `{range}` runs backwards"));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::check;

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
