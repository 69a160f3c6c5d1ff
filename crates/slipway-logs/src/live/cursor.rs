//! [`Cursor`]: how far a follower has read, per job, as a short string for an SSE `id:`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::LiveLine;

/// How far a reader has got: for each job, the last `(step, line)` already delivered.
///
/// Lines of one job are always delivered in `(step, line)` order (the store refuses a step
/// appended after a later one), so one position per job says exactly what was read. A job absent
/// from the cursor has had nothing delivered.
///
/// Encoded as `job:step:line` entries in ascending job order, separated by commas, e.g.
/// `12:0:41,13:2:7`; the empty string is the cursor at the start. The encoding is ASCII without
/// spaces or newlines, so it can be an SSE `id:` and come back as `Last-Event-ID`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    jobs: BTreeMap<i64, (u32, u64)>,
}

/// Why a cursor string was refused by [`Cursor::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorError {
    message: String,
}

impl fmt::Display for CursorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad log cursor: {} (expected `job:step:line` entries separated by commas, \
             as sent in the event id)",
            self.message
        )
    }
}

impl std::error::Error for CursorError {}

impl Cursor {
    /// The cursor at the start: nothing delivered.
    pub fn new() -> Cursor {
        Cursor::default()
    }

    /// Records `line` as delivered. A position is never moved backwards.
    pub fn advance(&mut self, line: &LiveLine) {
        self.advance_to(line.job, line.step, line.line);
    }

    pub(super) fn advance_to(&mut self, job: i64, step: u32, line: u64) {
        let position = self.jobs.entry(job).or_insert((step, line));
        if (step, line) > *position {
            *position = (step, line);
        }
    }

    /// The last `(step, line)` delivered of `job`, if any.
    pub fn position(&self, job: i64) -> Option<(u32, u64)> {
        self.jobs.get(&job).copied()
    }

    /// Whether line `line` of step `step` of `job` was already delivered.
    pub fn is_delivered(&self, job: i64, step: u32, line: u64) -> bool {
        self.position(job)
            .is_some_and(|position| (step, line) <= position)
    }

    /// The cursor as a string for an SSE `id:`; [`Cursor::parse`] reads it back.
    pub fn encode(&self) -> String {
        self.to_string()
    }

    /// Reads a cursor written by [`Cursor::encode`]. Anything else (signs, spaces, missing or
    /// extra fields, numbers out of range, a job twice) is an error, never a panic.
    pub fn parse(text: &str) -> Result<Cursor, CursorError> {
        let mut cursor = Cursor::new();
        if text.is_empty() {
            return Ok(cursor);
        }
        for entry in text.split(',') {
            let mut fields = entry.split(':');
            let (Some(job), Some(step), Some(line), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(error(format!("entry `{entry}` does not have three fields")));
            };
            let job: i64 = number(job, "job")?;
            let step: u32 = number(step, "step")?;
            let line: u64 = number(line, "line")?;
            if cursor.jobs.insert(job, (step, line)).is_some() {
                return Err(error(format!("job {job} appears twice")));
            }
        }
        Ok(cursor)
    }
}

fn error(message: String) -> CursorError {
    CursorError { message }
}

/// Parses a field of ASCII digits only: `FromStr` alone would accept a sign.
fn number<T: FromStr>(field: &str, what: &str) -> Result<T, CursorError> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(format!("{what} `{field}` is not a number")));
    }
    field
        .parse()
        .map_err(|_| error(format!("{what} `{field}` is out of range")))
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (job, (step, line))) in self.jobs.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{job}:{step}:{line}")?;
        }
        Ok(())
    }
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(text: &str) -> Result<Cursor, CursorError> {
        Cursor::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses_back() {
        let mut cursor = Cursor::new();
        cursor.advance_to(13, 2, 7);
        cursor.advance_to(12, 0, 41);
        cursor.advance_to(12, 0, 3); // never backwards
        assert_eq!(cursor.encode(), "12:0:41,13:2:7");
        assert_eq!(Cursor::parse("12:0:41,13:2:7"), Ok(cursor.clone()));
        assert!(cursor.is_delivered(12, 0, 41));
        assert!(!cursor.is_delivered(12, 0, 42));
        assert!(cursor.is_delivered(13, 1, 900));
        assert!(!cursor.is_delivered(14, 0, 0));
        assert_eq!(Cursor::parse(""), Ok(Cursor::new()));
        assert_eq!(Cursor::new().encode(), "");
    }

    #[test]
    fn refuses_bad_strings() {
        for bad in [
            ",",
            "1:2",
            "1:2:3:4",
            "1:2:3,",
            ",1:2:3",
            "1:2:3,1:0:0",
            "-1:2:3",
            "+1:2:3",
            " 1:2:3",
            "1:2:3\n",
            "a:b:c",
            "1:4294967296:0",
            "1:0:18446744073709551616",
            "9223372036854775808:0:0",
            "1::3",
            "١:2:3",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
