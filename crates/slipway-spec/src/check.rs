//! The checker: typed readers over YAML nodes that record a diagnostic for every problem and
//! carry on, so that all errors of a file are reported at once.

use std::time::Duration;

use crate::diagnostic::Diagnostic;
use crate::expr::{self, Condition, Template};
use crate::fields::Field;
use crate::model::Span;
use crate::pattern::Pattern;
use crate::position::SourceMap;
use crate::refs;
use crate::schema::{KeyDef, names};
use crate::suggest::closest;
use crate::yaml::{Key, Node, NodeKind};

/// Most retries a job or step may ask for.
pub const MAX_RETRY: u32 = 10;

/// Accumulates diagnostics while the tree is read into the model.
pub(crate) struct Checker<'s> {
    pub source: SourceMap<'s>,
    pub errors: Vec<Diagnostic>,
    /// The names `matrix.<name>` may use in the job being read; `None` outside jobs.
    pub matrix_names: Option<Vec<String>>,
    /// The jobs `needs.<job>` may name in the job being read; `None` outside jobs.
    pub needs_names: Option<Vec<String>>,
    /// The step ids `steps.<id>` may name here (earlier steps); `None` outside jobs.
    pub step_ids: Option<Vec<String>>,
    /// `artifact: JOB.NAME` of deploy jobs, checked once every job is read.
    pub artifact_uses: Vec<crate::deploy_job::ArtifactUse>,
}

impl<'s> Checker<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Checker {
            source: SourceMap::new(source),
            errors: Vec::new(),
            matrix_names: None,
            needs_names: None,
            step_ids: None,
            artifact_uses: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }

    fn wrong_type(&mut self, node: &Node, expected: &str, what: &str) {
        self.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("expected {expected} for {what}, found {}", node.describe()),
            )
            .help(format!("write {what} as {expected}")),
        );
    }

    /// The entries of a map, or an error.
    pub(crate) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Key, Node)]> {
        match &node.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => {
                self.wrong_type(node, "a map", what);
                None
            }
        }
    }

    /// A map, where nothing (`key:` with no value) counts as an empty map.
    pub(crate) fn optional_map<'n>(&mut self, node: &'n Node, what: &str) -> &'n [(Key, Node)] {
        if node.kind == NodeKind::Null {
            return &[];
        }
        self.map(node, what).unwrap_or(&[])
    }

    /// Reports every key not in `allowed`, with a suggestion.
    pub(crate) fn check_keys(&mut self, entries: &[(Key, Node)], allowed: &[KeyDef], what: &str) {
        for (key, _) in entries {
            if allowed.iter().any(|k| k.name == key.name) {
                continue;
            }
            self.unknown_key(key, names(allowed), what);
        }
    }

    pub(crate) fn unknown_key<'a>(
        &mut self,
        key: &Key,
        allowed: impl Iterator<Item = &'a str> + Clone,
        what: &str,
    ) {
        let help = match closest(&key.name, allowed.clone()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => {
                let list: Vec<String> = allowed.map(|k| format!("`{k}`")).collect();
                format!("the keys of {what} are {}", list.join(", "))
            }
        };
        self.push(
            Diagnostic::new(
                key.span,
                key.name.chars().count(),
                format!("unknown key `{}` in {what}", key.name),
            )
            .help(help),
        );
    }

    /// Reports a missing required key at the map's position.
    pub(crate) fn missing(&mut self, at: &Node, key: &str, what: &str, help: &str) {
        self.push(
            Diagnostic::new(
                at.span,
                0,
                format!("{what} is missing the required key `{key}`"),
            )
            .help(help.to_string()),
        );
    }

    /// A scalar as text: strings as they are, numbers and booleans as written.
    pub(crate) fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => self
                .source
                .raw(node)
                .map(str::to_string)
                .or_else(|| match &node.kind {
                    NodeKind::Int(i) => Some(i.to_string()),
                    NodeKind::Float(f) => Some(f.to_string()),
                    NodeKind::Bool(b) => Some(b.to_string()),
                    _ => None,
                }),
            _ => {
                self.wrong_type(node, "a string", what);
                None
            }
        }
    }

    /// A list of strings; a single string counts as a list of one.
    pub(crate) fn string_list(&mut self, node: &Node, what: &str) -> Vec<(String, Span, usize)> {
        match &node.kind {
            NodeKind::Null => Vec::new(),
            NodeKind::Str(s) => vec![(s.clone(), node.span, node.width())],
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match &item.kind {
                        NodeKind::Str(_)
                        | NodeKind::Int(_)
                        | NodeKind::Float(_)
                        | NodeKind::Bool(_) => {
                            if let Some(text) = self.text(item, what) {
                                out.push((text, item.span, item.width()));
                            }
                        }
                        _ => self.wrong_type(item, "a string", &format!("each item of {what}")),
                    }
                }
                out
            }
            _ => {
                self.wrong_type(node, "a list of strings", what);
                Vec::new()
            }
        }
    }

    /// A list of glob patterns, each checked to compile.
    pub(crate) fn globs(&mut self, node: &Node, what: &str) -> Vec<String> {
        let patterns = self.string_list(node, what);
        let mut out = Vec::with_capacity(patterns.len());
        for (pattern, span, width) in patterns {
            match globset::Glob::new(&pattern) {
                Ok(_) => out.push(pattern),
                Err(err) => self.push(
                    Diagnostic::new(
                        span,
                        width,
                        format!("invalid glob pattern `{pattern}`: {}", err.kind()),
                    )
                    .help(
                        "fix the pattern; `*` matches within a path segment, `**` across segments",
                    ),
                ),
            }
        }
        out
    }

    /// A list of trigger filter patterns (`branches`, `paths`, …), each checked to compile. A
    /// list of only `!` patterns selects nothing, so it is an error too.
    pub(crate) fn filter_patterns(&mut self, node: &Node, what: &str) -> Vec<String> {
        let patterns = self.string_list(node, what);
        let mut out = Vec::with_capacity(patterns.len());
        for (pattern, span, width) in patterns {
            match Pattern::new(&pattern) {
                Ok(_) => out.push(pattern),
                Err(why) => self.push(
                    Diagnostic::new(span, width, format!("invalid pattern `{pattern}` in {what}: {why}"))
                        .help("`*` matches within a path segment, `**` across segments, `?` makes the previous character optional, `+` repeats it, `[a-z0-9]` is one character, `\\` escapes; see docs/pipeline.md"),
                ),
            }
        }
        if !out.is_empty() && out.iter().all(|p| p.starts_with('!')) {
            self.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("{what} has only `!` patterns, so it selects nothing"),
                )
                .help("`!pattern` only removes what an earlier pattern selected: start the list with `'**'`, or use the `-ignore` filter"),
            );
        }
        out
    }

    pub(crate) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            NodeKind::Str(ref s)
                if ["yes", "no", "on", "off", "y", "n"]
                    .contains(&s.to_ascii_lowercase().as_str()) =>
            {
                self.push(
                    Diagnostic::new(node.span, node.width(), format!("expected `true` or `false` for {what}, found the string `{s}`"))
                        .help("YAML 1.2 reads `yes`, `no`, `on` and `off` as strings; write `true` or `false`"),
                );
                None
            }
            _ => {
                self.wrong_type(node, "`true` or `false`", what);
                None
            }
        }
    }

    /// A retry count, 0 to [`MAX_RETRY`].
    pub(crate) fn retry(&mut self, node: &Node) -> u32 {
        match node.kind {
            NodeKind::Int(n) if (0..=i64::from(MAX_RETRY)).contains(&n) => {
                u32::try_from(n).unwrap_or(0)
            }
            NodeKind::Int(n) => {
                self.push(
                    Diagnostic::new(
                        node.span,
                        node.width(),
                        format!("`retry: {n}` is out of range"),
                    )
                    .help(format!(
                        "use a number of extra attempts from 0 to {MAX_RETRY}"
                    )),
                );
                0
            }
            _ => {
                self.wrong_type(node, "a whole number", "`retry`");
                0
            }
        }
    }

    /// A duration: whole seconds, or a string like `30s`, `10m`, `1h30m`.
    pub(crate) fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        self.read_duration(node, what, false)
    }

    /// A duration of the deployment formats, which also take milliseconds: `200ms`, `1s`,
    /// `5m`, `1m30s`, or whole seconds.
    pub(crate) fn precise_duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        self.read_duration(node, what, true)
    }

    fn read_duration(&mut self, node: &Node, what: &str, allow_ms: bool) -> Option<Duration> {
        let parsed = match &node.kind {
            NodeKind::Int(n) => u64::try_from(*n).ok().map(Duration::from_secs),
            NodeKind::Str(s) => parse_duration_units(s, allow_ms),
            _ => None,
        };
        if parsed.is_none() {
            let shown = self.source.raw(node).unwrap_or("this value").to_string();
            let help = if allow_ms {
                "write whole seconds (`90`) or a string of numbers with units h, m, s, ms (`\"200ms\"`, `\"30s\"`, `\"5m\"`, `\"1m30s\"`)"
            } else {
                "write whole seconds (`90`) or a string of numbers with units h, m, s (`\"30s\"`, `\"10m\"`, `\"1h30m\"`)"
            };
            self.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!("invalid duration `{shown}` for {what}"),
                )
                .help(help),
            );
        }
        parsed
    }

    /// A template in `field`, checked for syntax, contexts and matrix axes.
    pub(crate) fn template(&mut self, node: &Node, field: Field, what: &str) -> Option<Template> {
        let text = self.text(node, what)?;
        let context_ok = self.check_contexts(node, &text, field, false);
        match expr::parse_template(&text, field) {
            Ok(template) => context_ok.then_some(template),
            Err(issue) => {
                self.expression_error(node, issue, field);
                None
            }
        }
    }

    /// An `if:` condition in `field`; a boolean is taken as written.
    pub(crate) fn condition(&mut self, node: &Node, field: Field) -> Option<Condition> {
        let text = match &node.kind {
            NodeKind::Bool(b) => b.to_string(),
            _ => self.text(node, "`if`")?,
        };
        let context_ok = self.check_contexts(node, &text, field, true);
        match expr::parse_condition(&text, field) {
            Ok(condition) => context_ok.then_some(condition),
            Err(issue) => {
                self.expression_error(node, issue, field);
                None
            }
        }
    }

    fn expression_error(&mut self, node: &Node, issue: expr::ExprIssue, field: Field) {
        let at = match issue.position.checked_sub(1) {
            Some(offset) => self.source.locate(node, offset),
            None => node.span,
        };
        self.push(
            Diagnostic::new(
                at,
                issue.length,
                format!(
                    "invalid expression in {}: {}",
                    field.describe(),
                    issue.message
                ),
            )
            .help(issue.help.unwrap_or_else(|| {
                "fix the expression; see the expression reference in docs/pipeline.md".to_string()
            })),
        );
    }

    /// Reports contexts the field may not use and undefined matrix axes. True if none.
    fn check_contexts(
        &mut self,
        node: &Node,
        text: &str,
        field: Field,
        is_condition: bool,
    ) -> bool {
        let mut ok = true;
        for reference in refs::scan(text, is_condition) {
            if !field.contexts().contains(&reference.context.as_str()) {
                let at = self.source.locate(node, reference.offset);
                let message = if reference.context == "secrets" {
                    format!("`secrets` cannot be used in {}", field.describe())
                } else {
                    format!(
                        "the `{}` context is not available in {}",
                        reference.context,
                        field.describe()
                    )
                };
                self.push(
                    Diagnostic::new(at, reference.context.len(), message)
                        .help(field.context_help(&reference.context)),
                );
                ok = false;
                continue;
            }
            let Some((name, offset)) = reference.property else {
                continue;
            };
            let problem = match reference.context.as_str() {
                "matrix" => self.undefined_axis(&name),
                "needs" => self.needs_names.as_deref().and_then(|needs| {
                    (!needs.iter().any(|n| n == &name)).then(|| {
                        (
                            format!("`needs.{name}` refers to a job this job does not need"),
                            format!("add `{name}` to this job's `needs`"),
                        )
                    })
                }),
                "steps" => self.step_ids.as_deref().and_then(|ids| {
                    (!ids.iter().any(|id| id == &name)).then(|| {
                        let help = match closest(&name, ids.iter().map(String::as_str)) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("give an earlier step `id: {name}`; a step sees only the steps before it"),
                        };
                        (format!("`steps.{name}` does not name an earlier step of this job"), help)
                    })
                }),
                _ => None,
            };
            if let Some((message, help)) = problem {
                let at = self.source.locate(node, offset);
                self.push(Diagnostic::new(at, name.chars().count(), message).help(help));
                ok = false;
            }
        }
        ok
    }

    /// The message and help for `matrix.<axis>` when the job's matrix lacks that axis.
    fn undefined_axis(&self, axis: &str) -> Option<(String, String)> {
        let defined = self.matrix_names.as_deref()?;
        if defined.iter().any(|name| name.eq_ignore_ascii_case(axis)) {
            return None;
        }
        let help = if defined.is_empty() {
            "this job has no `matrix`; add one with this axis, or remove the reference".to_string()
        } else {
            match closest(axis, defined.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the matrix defines: {}", defined.join(", ")),
            }
        };
        Some((format!("undefined matrix axis `{axis}`"), help))
    }
}

/// `90`, `"90"`, `"30s"`, `"10m"`, `"1h30m"`, `"1h30m15s"`.
#[cfg(test)]
fn parse_duration(text: &str) -> Option<Duration> {
    parse_duration_units(text, false)
}

/// Like [`parse_duration`]; with `allow_ms` the unit `ms` is accepted too (`"200ms"`,
/// `"1s500ms"`).
pub(crate) fn parse_duration_units(text: &str, allow_ms: bool) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_ms = match rest.get(..letters)? {
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" if allow_ms => 1,
            _ => return None,
        };
        rest = rest.get(letters..)?;
        total_ms = total_ms.checked_add(number.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(total_ms))
}

/// `[A-Za-z_][A-Za-z0-9_-]*`: job ids, step ids.
pub(crate) fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[A-Za-z_][A-Za-z0-9_]*`: environment variable names.
pub(crate) fn is_env_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10m5s"), Some(Duration::from_secs(605)));
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        for bad in [
            "",
            "m",
            "10x",
            "1h30",
            "99999999999999999999h",
            "200ms",
            "1 s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn precise_durations() {
        let ms = |text| parse_duration_units(text, true).map(|d| d.as_millis());
        assert_eq!(ms("200ms"), Some(200));
        assert_eq!(ms("1s"), Some(1000));
        assert_eq!(ms("5m"), Some(300_000));
        assert_eq!(ms("1s500ms"), Some(1500));
        assert_eq!(ms("1m30s"), Some(90_000));
        assert_eq!(ms("7"), Some(7000));
        for bad in [
            "",
            "ms",
            "5mss",
            "5 ms",
            "-5s",
            "1.5s",
            "5sm",
            "99999999999999999999ms",
        ] {
            assert_eq!(ms(bad), None, "{bad}");
        }
    }
}
