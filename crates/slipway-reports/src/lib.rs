//! Parsing of JUnit XML test reports, so Slipway can show a job's totals, its failures with
//! their messages, and its flaky tests.
//!
//! This crate only parses bytes; the caller reads the files and turns a [`ReportError`] into a
//! warning naming the file. Input is capped at [`MAX_INPUT_BYTES`] and [`MAX_DEPTH`] levels of
//! nesting, kept text (messages, stack traces, captured output) is truncated, and no input
//! makes it panic.
//!
//! # Dialects
//!
//! "JUnit XML" has no single schema; every runner writes its own variant. One tolerant reader
//! handles them all instead of sniffing the producer:
//!
//! - **Root**: `<testsuites>` (pytest, jest-junit, nextest) or a bare `<testsuite>` (Maven
//!   Surefire, mocha, scalatest). Suites may nest to any depth; each case belongs to its
//!   innermost suite. Any other root is [`ReportError::NotJunit`].
//! - **Outcome** of a `<testcase>`: `<error>` beats `<failure>` beats a flaky pass beats
//!   `<skipped>`; a case may hold several result elements (publish-unit-test-result's
//!   `multiresult` file). `status="disabled"`/`notrun` (tst, GoogleTest) means skipped.
//! - **Retries** (Surefire and cargo-nextest share the element names): `<flakyFailure>` /
//!   `<flakyError>` are failed attempts of a test that then passed, so the case is
//!   [`Outcome::Flaky`]; `<rerunFailure>` / `<rerunError>` are failed reruns of a test that
//!   stayed failed. nextest's `fail-on-flaky` writes a `<failure>` next to `<flakyFailure>`:
//!   that case is failed, and also listed by [`Report::flaky`].
//! - **Messages**: the `message` attribute (pytest puts the whole assertion there, jest-junit
//!   none); details are the element's text, followed by its `<stackTrace>` child (Surefire
//!   and nextest retries).
//! - **Times**: seconds, including Surefire's grouping (`1,234.5`), decimal commas (`0,003`)
//!   and a trailing `s`.
//! - **Encodings**: UTF-8 (BOM or not), UTF-16 with BOM, declared Latin-1; invalid bytes become
//!   U+FFFD rather than an error.
//! - **Entities**: the five predefined ones and character references are expanded; nothing
//!   declared in a DOCTYPE is, so external entities (XXE) are never fetched: `&xxe;` stays
//!   literally `&xxe;`.
//!
//! Totals follow publish-unit-test-result's definitions so they can be checked against its
//! test data; see [`Totals`].

mod case;
mod error;
mod model;
mod parse;
mod text;
mod totals;

pub use error::ReportError;
pub use model::{DeclaredCounts, Outcome, Report, ResultElements, Suite, TestCase, merge};
pub use parse::{MAX_DEPTH, MAX_INPUT_BYTES, parse_junit};
pub use totals::Totals;
