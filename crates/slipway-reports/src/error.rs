//! What can be wrong with a report file.

/// Why a file could not be read as a JUnit report. Positions are 1-based; the byte offset is
/// into the decoded text, which is the file itself for UTF-8 input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(
        "report is {size} bytes, more than the {limit}-byte limit; split it or raise the limit"
    )]
    TooLarge { size: usize, limit: usize },

    #[error("report is empty")]
    Empty,

    #[error("not well-formed XML at line {line}, column {column} (byte {offset}): {message}")]
    Xml {
        message: String,
        offset: u64,
        line: u64,
        column: u64,
    },

    #[error(
        "not a JUnit report: the root element is <{root}> at line {line}, expected <testsuites> or <testsuite>"
    )]
    NotJunit { root: String, line: u64 },

    #[error("no root element: the file holds no XML elements")]
    NoRootElement,

    #[error("elements nested more than {limit} deep at line {line}")]
    TooDeep { limit: usize, line: u64 },

    #[error("file ends inside <{element}>: the report is truncated")]
    Truncated { element: String },
}
