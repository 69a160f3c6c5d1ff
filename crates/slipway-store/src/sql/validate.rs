//! Checks on names and free text before they reach the database. Values are
//! always bound as parameters; these checks are about clear errors and
//! portable data (PostgreSQL text cannot hold NUL), not about quoting.

use super::SqlError;

/// A name used in URLs and on the command line: project and user names.
/// 1 to 100 characters from `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
pub(crate) fn slug(what: &'static str, name: &str) -> Result<(), SqlError> {
    if name.is_empty() || name.len() > 100 {
        return Err(SqlError::invalid(what, "must be 1 to 100 characters long"));
    }
    if name.starts_with(['.', '-']) {
        return Err(SqlError::invalid(what, "must not start with `.` or `-`"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(SqlError::invalid(
            what,
            format!(
                "{} is not allowed; use letters, digits, `.`, `_` and `-`",
                describe(bad)
            ),
        ));
    }
    Ok(())
}

/// A secret's name, as it appears in `${{ secrets.NAME }}`: a letter or `_`,
/// then letters, digits and `_`, at most 128 characters.
pub(crate) fn secret_name(name: &str) -> Result<(), SqlError> {
    const WHAT: &str = "secret name";
    if name.is_empty() || name.len() > 128 {
        return Err(SqlError::invalid(WHAT, "must be 1 to 128 characters long"));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(SqlError::invalid(WHAT, "must not start with a digit"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(SqlError::invalid(
            WHAT,
            format!(
                "{} is not allowed; use letters, digits and `_`",
                describe(bad)
            ),
        ));
    }
    Ok(())
}

/// Free text (job keys, branch names, reasons, messages): any Unicode but NUL,
/// at most `max` bytes; `min_one` refuses the empty string.
pub(crate) fn text(
    what: &'static str,
    value: &str,
    max: usize,
    min_one: bool,
) -> Result<(), SqlError> {
    if min_one && value.is_empty() {
        return Err(SqlError::invalid(what, "must not be empty"));
    }
    if value.len() > max {
        return Err(SqlError::invalid(
            what,
            format!("is {} bytes long; at most {max} are accepted", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(SqlError::invalid(what, "must not contain a NUL character"));
    }
    Ok(())
}

/// [`text`] for an optional value.
pub(crate) fn opt_text(
    what: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), SqlError> {
    value.map_or(Ok(()), |v| text(what, v, max, false))
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("the control character U+{:04X}", u32::from(c))
    } else {
        format!("`{c}`")
    }
}

/// Converts an unsigned count or size for a BIGINT column.
pub(crate) fn to_i64(what: &'static str, value: u64) -> Result<i64, SqlError> {
    i64::try_from(value).map_err(|_| SqlError::invalid(what, "is too large"))
}
