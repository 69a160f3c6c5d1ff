//! `slipway.yml` and environment files (`.slipway/environments/NAME.yml`): parsing with source
//! spans, validation into a typed [`model`] and [`deploy`] model, diagnostics, and the JSON
//! Schemas of the formats.
//!
//! Pure: no I/O besides the source text the caller passes in, and no panic on any input.
//! Bad input is bounded: files over [`MAX_FILE_BYTES`] are refused before parsing, YAML nesting
//! and alias expansion are capped (see [`yaml`]), expressions are capped by `slipway-expr`.
//!
//! ```
//! let pipeline = slipway_spec::parse_pipeline("jobs:\n  build:\n    steps:\n      - run: make\n", "slipway.yml")
//!     .expect("valid");
//! assert_eq!(pipeline.jobs[0].id, "build");
//! ```

pub mod approval;
mod approval_job;
mod canary;
mod check;
mod concurrency;
mod container;
mod cron;
pub mod deploy;
mod deploy_job;
mod diagnostic;
mod environment;
mod expr;
mod fields;
mod freeze;
mod graph;
mod job;
mod matrix;
pub mod model;
mod pattern;
mod pipeline;
mod position;
mod refs;
mod schema;
mod schema_delivery;
mod schema_deploy;
mod service;
mod suggest;
mod trigger;
pub mod yaml;

pub use check::MAX_RETRY;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use matrix::{ExpandError, MAX_COMBINATIONS};
pub use model::*;
pub use schema::json_schema;
pub use schema_deploy::environment_schema;
pub use trigger::{Match, TriggerEvent};

/// Largest pipeline file accepted (4 MiB); larger input is refused without being parsed.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Parses and validates a pipeline file. `file_name` is only used in diagnostics.
///
/// Returns every error of the file at once, sorted by position.
pub fn parse_pipeline(source: &str, file_name: &str) -> Result<Pipeline, Diagnostics> {
    parse_bytes(source.as_bytes(), file_name)
}

/// Like [`parse_pipeline`], for raw file contents: refuses oversized input before looking at
/// it, and reports invalid UTF-8 and binary data with their position.
pub fn parse_bytes(bytes: &[u8], file_name: &str) -> Result<Pipeline, Diagnostics> {
    parse_document(bytes, file_name, FileKind::Pipeline, pipeline::read)
}

/// Whether `name` may name an environment (`[A-Za-z0-9][A-Za-z0-9._-]*`,
/// the stem of `.slipway/environments/NAME.yml`): callers that build a path
/// from a name check it with this first.
pub fn is_environment_name(name: &str) -> bool {
    environment::is_name(name)
}

/// Parses and validates an environment file, `.slipway/environments/NAME.yml` (see
/// [`deploy`] and docs/deploy.md). `file_name` is used in diagnostics and kept in the
/// result; `name` is the environment's name, the file's stem.
///
/// Returns every error of the file at once, sorted by position. The same limits as for
/// pipelines apply (size, nesting, alias expansion).
///
/// ```
/// let env = slipway_spec::parse_environment(
///     "targets:\n  - {name: web-1, kind: local, port: 9101}\n",
///     ".slipway/environments/dev.yml",
///     "dev",
/// )
/// .expect("valid");
/// assert_eq!(env.targets[0].lb_server, "web-1");
/// ```
pub fn parse_environment(
    source: &str,
    file_name: &str,
    name: &str,
) -> Result<deploy::Environment, Diagnostics> {
    parse_document(
        source.as_bytes(),
        file_name,
        FileKind::Environment,
        |checker, root| environment::read(checker, root, name, file_name),
    )
}

/// Which format a file is in, for the messages about the file as a whole.
#[derive(Clone, Copy)]
enum FileKind {
    Pipeline,
    Environment,
}

impl FileKind {
    fn noun(self) -> &'static str {
        match self {
            FileKind::Pipeline => "pipeline file",
            FileKind::Environment => "environment file",
        }
    }

    /// The noun with its article.
    fn a_noun(self) -> &'static str {
        match self {
            FileKind::Pipeline => "a pipeline file",
            FileKind::Environment => "an environment file",
        }
    }

    fn empty_help(self) -> &'static str {
        match self {
            FileKind::Pipeline => "add a `jobs:` map with at least one job, see docs/pipeline.md",
            FileKind::Environment => "add `targets:` with at least one target, see docs/deploy.md",
        }
    }
}

/// Checks the input, builds the YAML tree and hands it to `read`; every error at once.
fn parse_document<T>(
    bytes: &[u8],
    file_name: &str,
    kind: FileKind,
    read: impl FnOnce(&mut check::Checker<'_>, &yaml::Node) -> T,
) -> Result<T, Diagnostics> {
    let finish = |mut list: Vec<Diagnostic>| {
        list.sort_by_key(|d| (d.line, d.col));
        for d in &mut list {
            d.file = file_name.to_string();
        }
        Diagnostics(list)
    };
    let source = check_input(bytes, kind).map_err(|d| finish(vec![d]))?;
    let (root, mut errors) = yaml::parse(source);
    let Some(root) = root else {
        if errors.is_empty() {
            errors.push(empty_file(kind));
        }
        return Err(finish(errors));
    };
    if root.kind == yaml::NodeKind::Null {
        errors.push(empty_file(kind));
        return Err(finish(errors));
    }
    let mut checker = check::Checker::new(source);
    checker.errors = errors;
    let document = read(&mut checker, &root);
    if checker.errors.is_empty() {
        Ok(document)
    } else {
        Err(finish(checker.errors))
    }
}

fn empty_file(kind: FileKind) -> Diagnostic {
    Diagnostic::new(
        Span { line: 1, col: 1 },
        0,
        format!("the {} is empty", kind.noun()),
    )
    .help(kind.empty_help())
}

/// Size, UTF-8 and binary checks, cheapest first.
fn check_input(bytes: &[u8], kind: FileKind) -> Result<&str, Diagnostic> {
    let noun = kind.a_noun();
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            Span { line: 1, col: 1 },
            0,
            format!(
                "the file is {} bytes; {noun} may be at most {} bytes (4 MiB)",
                bytes.len(),
                MAX_FILE_BYTES
            ),
        )
        .help(format!(
            "this is not {noun}, or it was generated by mistake; split it or check the path"
        )));
    }
    let source = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(err) => {
            let valid = bytes.get(..err.valid_up_to()).unwrap_or_default();
            let at = position_after(std::str::from_utf8(valid).unwrap_or_default());
            return Err(
                Diagnostic::new(at, 1, "the file is not valid UTF-8").help(format!(
                    "save the file as UTF-8 text; if it is binary, this is not {noun}"
                )),
            );
        }
    };
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if let Some(index) = source.find(|c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        let at = position_after(source.get(..index).unwrap_or_default());
        return Err(
            Diagnostic::new(at, 1, "the file contains binary data (a control character)")
                .help(format!("{noun} is text; check that this is the right file")),
        );
    }
    Ok(source)
}

/// The position just after `text`.
fn position_after(text: &str) -> Span {
    let line = text.bytes().filter(|b| *b == b'\n').count() + 1;
    let col = text.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    Span {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(col).unwrap_or(u32::MAX),
    }
}
