//! Printing to standard output where the reader may go away
//! (`slipway logs 3 --follow | head`): a closed pipe is not an error, it
//! means stop.

use std::fmt::Display;
use std::io::Write;

/// Prints one line; `false` when standard output is closed.
pub fn line(text: impl Display) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
}

/// Formats milliseconds as a short duration: `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1_000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1_000)
    } else if ms < 48 * 3_600_000 {
        format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000)
    } else {
        format!("{}d", ms / 86_400_000)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(-5), "0ms");
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(duration(7_380_000), "2h03m");
        assert_eq!(duration(3 * 86_400_000), "3d");
    }
}
