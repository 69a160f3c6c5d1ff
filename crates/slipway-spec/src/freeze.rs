//! Reads the delivery policies of an environment file: `requires:` (promotion) and `freeze:`
//! (windows in which deployments are refused).
//!
//! ```yaml
//! requires: [staging]            # or `requires: staging`; environment names, not this one
//! freeze:
//!   - name: weekend              # unique in the file; shown in the refusal
//!     cron: "0 18 * * 5"         # opens at each firing (five fields, UTC) …
//!     duration: 62h              # … for this long (`30s`, `10m`, `1h30m`, whole seconds)
//!   - name: year-end
//!     from: 2026-12-20T00:00:00Z # a fixed range: RFC 3339 in UTC (`Z`), whole seconds,
//!     until: 2027-01-04T00:00:00Z # `from` inclusive, `until` exclusive, from < until
//! ```

use std::time::Duration;

use crate::check::Checker;
use crate::cron;
use crate::deploy::{FreezeWhen, FreezeWindow};
use crate::diagnostic::Diagnostic;
use crate::environment::is_name;
use crate::model::Schedule;
use crate::schema_delivery::FREEZE_KEYS;
use crate::yaml::{Key, Node, NodeKind};

/// `requires:`: environment names, each once, never the environment itself (`own`).
pub(crate) fn requires(c: &mut Checker<'_>, node: &Node, own: &str) -> Vec<String> {
    let names = c.string_list(node, "`requires`");
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (name, span, width) in names {
        let problem = if !is_name(&name) {
            Some((
                format!("invalid environment name `{name}` in `requires`"),
                "an environment name starts with a letter or digit and contains only letters, digits, `.`, `_` and `-`".to_string(),
            ))
        } else if name == own {
            Some((
                format!("environment `{own}` requires itself"),
                "list the environments a digest must pass before this one, e.g. `requires: [staging]`".to_string(),
            ))
        } else if out.contains(&name) {
            Some((
                format!("`{name}` is listed twice in `requires`"),
                "list each environment once".to_string(),
            ))
        } else {
            None
        };
        match problem {
            Some((message, help)) => c.push(Diagnostic::new(span, width, message).help(help)),
            None => out.push(name),
        }
    }
    out
}

/// `freeze:`: a list of windows, names unique.
pub(crate) fn windows(c: &mut Checker<'_>, node: &Node) -> Vec<FreezeWindow> {
    let NodeKind::Seq(items) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("expected a list of windows for `freeze`, found {}", node.describe()),
            )
            .help("write each window as a list item: `- {name: weekend, cron: \"0 18 * * 5\", duration: 62h}`"),
        );
        return Vec::new();
    };
    let mut out: Vec<FreezeWindow> = Vec::with_capacity(items.len());
    for item in items {
        let Some((window, name_node)) = window(c, item) else {
            continue;
        };
        if let Some(first) = out.iter().find(|w| w.name == window.name) {
            c.push(
                Diagnostic::new(
                    name_node.span,
                    name_node.width(),
                    format!("duplicate freeze window name `{}`", window.name),
                )
                .help("give each window its own `name`: a refusal names the window")
                .note(format!(
                    "`{}` is first used at line {}",
                    window.name, first.span.line
                )),
            );
            continue;
        }
        out.push(window);
    }
    out
}

/// One window, with the node of its name (for duplicate errors).
fn window<'n>(c: &mut Checker<'_>, node: &'n Node) -> Option<(FreezeWindow, &'n Node)> {
    let entries = c.map(node, "a `freeze` window")?;
    c.check_keys(entries, FREEZE_KEYS, "a `freeze` window");
    let span = entries.first().map_or(node.span, |(k, _)| k.span);
    let find = |name: &str| entries.iter().find(|(k, _)| k.name == name);
    let name_node = find("name").map(|(_, v)| v);
    let name = match name_node {
        Some(value) => window_name(c, value),
        None => {
            c.missing(
                node,
                "name",
                "a `freeze` window",
                "add `name:`, shown when a deployment is refused, e.g. `name: weekend`",
            );
            None
        }
    };
    let (cron_key, duration_key) = (find("cron"), find("duration"));
    let (from_key, until_key) = (find("from"), find("until"));
    let by_cron = cron_key.is_some() || duration_key.is_some();
    let by_range = from_key.is_some() || until_key.is_some();
    let when = match (by_cron, by_range) {
        (true, true) => {
            let (key, _) = from_key.or(until_key)?;
            c.push(
                Diagnostic::new(
                    key.span,
                    key.name.chars().count(),
                    "a freeze window is either `cron` and `duration` or `from` and `until`, and this one mixes them",
                )
                .help("split it into two windows, one repeating (`cron`, `duration`) and one fixed (`from`, `until`)"),
            );
            None
        }
        (false, false) => {
            c.missing(
                node,
                "cron",
                "a `freeze` window",
                "add `cron:` and `duration:` for a repeating window, or `from:` and `until:` for a fixed one",
            );
            None
        }
        (true, false) => by_schedule(c, node, cron_key, duration_key),
        (false, true) => by_dates(c, node, from_key, until_key),
    };
    Some((
        FreezeWindow {
            name: name?,
            when: when?,
            span,
        },
        name_node?,
    ))
}

fn window_name(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let name = c.text(node, "`name`")?;
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        c.push(
            Diagnostic::new(node.span, node.width(), "a freeze window's `name` is empty")
                .help("name the window, e.g. `name: weekend`; a refusal shows it"),
        );
        return None;
    }
    Some(name)
}

type Entry<'n> = Option<&'n (Key, Node)>;

fn by_schedule(
    c: &mut Checker<'_>,
    node: &Node,
    cron_key: Entry<'_>,
    duration_key: Entry<'_>,
) -> Option<FreezeWhen> {
    let schedule = match cron_key {
        Some((_, value)) => schedule(c, value),
        None => {
            c.missing(
                node,
                "cron",
                "a `freeze` window with `duration`",
                "add `cron:`, when the window opens, e.g. `cron: \"0 18 * * 5\"` (Fridays 18:00 UTC)",
            );
            None
        }
    };
    let duration = match duration_key {
        Some((_, value)) => positive_duration(c, value),
        None => {
            c.missing(
                node,
                "duration",
                "a `freeze` window with `cron`",
                "add `duration:`, how long each opening lasts, e.g. `duration: 62h`",
            );
            None
        }
    };
    Some(FreezeWhen::Cron {
        schedule: schedule?,
        duration: duration?,
    })
}

fn schedule(c: &mut Checker<'_>, node: &Node) -> Option<Schedule> {
    let text = c.text(node, "`cron`")?;
    match cron::check(&text) {
        Ok(()) => Some(Schedule {
            cron: text,
            span: node.span,
        }),
        Err(why) => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("invalid cron expression: {why}"),
                )
                .help("write five fields, e.g. `\"0 18 * * 5\"` for Fridays at 18:00 UTC"),
            );
            None
        }
    }
}

fn positive_duration(c: &mut Checker<'_>, node: &Node) -> Option<Duration> {
    let duration = c.duration(node, "`duration`")?;
    if duration.is_zero() {
        c.push(
            Diagnostic::new(node.span, node.width(), "a freeze window's `duration` is 0")
                .help("give how long each opening lasts, e.g. `duration: 62h`"),
        );
        return None;
    }
    Some(duration)
}

fn by_dates(
    c: &mut Checker<'_>,
    node: &Node,
    from_key: Entry<'_>,
    until_key: Entry<'_>,
) -> Option<FreezeWhen> {
    let mut read = |entry: Entry<'_>, key: &str, help: &str| match entry {
        Some((_, value)) => timestamp(c, value, key),
        None => {
            c.missing(node, key, "a fixed `freeze` window", help);
            None
        }
    };
    let from = read(
        from_key,
        "from",
        "add `from:`, when the window starts, e.g. `from: 2026-12-20T00:00:00Z`",
    );
    let until = read(
        until_key,
        "until",
        "add `until:`, when the window ends, e.g. `until: 2027-01-04T00:00:00Z`",
    );
    let (from, until) = (from?, until?);
    if from >= until {
        let (_, value) = until_key?;
        c.push(
            Diagnostic::new(
                value.span,
                value.width(),
                "a freeze window's `until` is not after its `from`",
            )
            .help("`until` is when the window ends (exclusive): make it later than `from`"),
        );
        return None;
    }
    Some(FreezeWhen::Range { from, until })
}

/// An RFC 3339 UTC time as Unix seconds, or an error naming `key`.
fn timestamp(c: &mut Checker<'_>, node: &Node, key: &str) -> Option<u64> {
    let text = c.text(node, &format!("`{key}`"))?;
    let parsed = parse_utc(&text);
    if let Err(why) = &parsed {
        c.push(
            Diagnostic::new(node.span, node.width(), format!("invalid `{key}` `{text}`: {why}"))
                .help("write an RFC 3339 time in UTC, `YYYY-MM-DDTHH:MM:SSZ`, e.g. `2026-12-20T00:00:00Z`"),
        );
    }
    parsed.ok()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds, year 1970 or later) as Unix seconds.
/// Strict: no other offset, no fractional seconds, no leap second, no lowercase `t`/`z`.
pub(crate) fn parse_utc(text: &str) -> Result<u64, &'static str> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 20
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err("not of the form YYYY-MM-DDTHH:MM:SSZ");
    }
    // Every byte of each field is an ASCII digit, so the slices and parses succeed.
    let field = |from: usize, to: usize| -> u32 {
        text.get(from..to)
            .and_then(|s| s.parse().ok())
            .unwrap_or(u32::MAX)
    };
    let (year, month, day) = (field(0, 4), field(5, 7), field(8, 10));
    let (hour, minute, second) = (field(11, 13), field(14, 16), field(17, 19));
    if year < 1970 {
        return Err("the year is before 1970");
    }
    if !(1..=12).contains(&month) {
        return Err("the month is not 01 to 12");
    }
    if day == 0 || day > cron::days_in_month(i64::from(year), month) {
        return Err("the month has no such day");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("the time of day is out of range");
    }
    let days = cron::days_from_civil(i64::from(year), month, day);
    let days = u64::try_from(days).map_err(|_| "the year is before 1970")?;
    Ok(days * 86_400 + u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second))
}

#[cfg(test)]
mod tests {
    use super::parse_utc;

    #[test]
    fn utc_times() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_utc("2026-12-20T00:00:00Z"), Ok(1_797_724_800));
        assert_eq!(parse_utc("2024-02-29T23:59:59Z"), Ok(1_709_251_199));
        for bad in [
            "",
            "2026-12-20",
            "2026-12-20T00:00:00",
            "2026-12-20t00:00:00z",
            "2026-12-20T00:00:00+00:00",
            "2026-12-20T00:00:00.5Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-12-20T24:00:00Z",
            "2026-12-20T00:60:00Z",
            "2026-12-20T00:00:60Z",
            "1969-12-31T23:59:59Z",
            "2026-12-20T00:00:0٠Z",
            "+026-12-20T00:00:00Z",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }
}
