//! `{{target}}`, `{{version}}`, `{{role}}` and `{{interval}}` in queries, escaped for where the
//! text goes: a PromQL string, a URL, or a shell command line. Values come from the deployment
//! (target names, versions), so they are escaped, never pasted raw.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::format_duration;

/// Which side of the comparison a query is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The new version.
    #[default]
    Canary,
    /// The stable version the canary is compared with.
    Baseline,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Canary => "canary",
            Role::Baseline => "baseline",
        }
    }
}

/// One side of a canary: its version and the targets running it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Side {
    pub version: String,
    /// As the metrics name them (for Prometheus: the `instance` label, e.g. `127.0.0.1:8081`).
    pub targets: Vec<String>,
}

/// How substituted values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Inside a PromQL double-quoted string (write the variables between `"`; single quotes
    /// and backticks are not escaped for). `{{target}}` becomes a regular expression matching
    /// exactly the side's targets (`a\\.b|c\\.d`): write `instance=~"{{target}}"`.
    PromQl,
    /// Percent-encoded for a URL; several targets are joined by `,`.
    Url,
    /// One shell word in single quotes; several targets are joined by `,`.
    Shell,
}

/// The names a query may use.
pub const VARIABLES: [&str; 4] = ["target", "version", "role", "interval"];

/// What the variables stand for in one rendering.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub role: Role,
    pub side: &'a Side,
    pub interval: Duration,
}

/// Checks that every `{{…}}` is closed and names a known variable.
pub fn check(template: &str) -> Result<(), String> {
    walk(template, |part| match part {
        Part::Variable(name) if !VARIABLES.contains(&name) => Err(format!(
            "unknown variable {{{{{name}}}}}: a query may use {{{{target}}}}, {{{{version}}}}, {{{{role}}}} and {{{{interval}}}}"
        )),
        _ => Ok(()),
    })
}

/// Renders `template` with `vars`, escaping values for `escape`.
pub fn render(template: &str, vars: &Vars<'_>, escape: Escape) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    walk(template, |part| {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Variable("target") => push_targets(&mut out, &vars.side.targets, escape),
            Part::Variable("version") => push_value(&mut out, &vars.side.version, escape),
            Part::Variable("role") => push_value(&mut out, vars.role.as_str(), escape),
            Part::Variable("interval") => {
                push_value(&mut out, &format_duration(vars.interval), escape)
            }
            Part::Variable(other) => return Err(format!("unknown variable {{{{{other}}}}}")),
        }
        Ok(())
    })?;
    Ok(out)
}

/// A piece of a template.
enum Part<'a> {
    Text(&'a str),
    /// The name inside `{{ }}`, trimmed.
    Variable(&'a str),
}

/// Calls `visit` for each literal part and each `{{ name }}`, in order.
fn walk<'a>(
    template: &'a str,
    mut visit: impl FnMut(Part<'a>) -> Result<(), String>,
) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let (before, after) = rest.split_at(open);
        visit(Part::Text(before))?;
        let inner = after.get(2..).unwrap_or_default();
        let Some(close) = inner.find("}}") else {
            return Err(format!(
                "`{{{{` at byte {} is never closed by `}}}}`",
                template.len() - rest.len() + open + 1
            ));
        };
        visit(Part::Variable(
            inner.get(..close).unwrap_or_default().trim(),
        ))?;
        rest = inner.get(close + 2..).unwrap_or_default();
    }
    visit(Part::Text(rest))
}

fn push_targets(out: &mut String, targets: &[String], escape: Escape) {
    match escape {
        Escape::PromQl => {
            if targets.is_empty() {
                // Matches no instance label value: an empty side yields no data, not everything.
                out.push_str("$^");
            }
            for (index, target) in targets.iter().enumerate() {
                if index > 0 {
                    out.push('|');
                }
                let mut regex = String::with_capacity(target.len() + 4);
                for c in target.chars() {
                    if "\\.+*?()|[]{}^$".contains(c) {
                        regex.push('\\');
                    }
                    regex.push(c);
                }
                push_value(out, &regex, escape);
            }
        }
        Escape::Url | Escape::Shell => push_value(out, &targets.join(","), escape),
    }
}

fn push_value(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::PromQl => {
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
        }
        Escape::Url => {
            for byte in value.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    out.push(char::from(byte));
                } else {
                    let _ = write!(out, "%{byte:02X}");
                }
            }
        }
        Escape::Shell => {
            out.push('\'');
            out.push_str(&value.replace('\'', "'\\''"));
            out.push('\'');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side() -> Side {
        Side {
            version: "v2\"x".to_owned(),
            targets: vec!["127.0.0.1:81".to_owned(), "b's".to_owned()],
        }
    }

    fn vars(side: &Side) -> Vars<'_> {
        Vars {
            role: Role::Canary,
            side,
            interval: Duration::from_secs(5),
        }
    }

    #[test]
    fn promql_targets_are_an_escaped_alternation() {
        let side = side();
        let text = render(
            r#"x{instance=~"{{target}}",version="{{ version }}",role="{{role}}"}[{{interval}}]"#,
            &vars(&side),
            Escape::PromQl,
        );
        assert_eq!(
            text.as_deref(),
            Ok(r#"x{instance=~"127\\.0\\.0\\.1:81|b's",version="v2\"x",role="canary"}[5s]"#)
        );
    }

    #[test]
    fn url_and_shell_escaping() {
        let side = side();
        let url = render("http://h/m?t={{target}}", &vars(&side), Escape::Url);
        assert_eq!(url.as_deref(), Ok("http://h/m?t=127.0.0.1%3A81%2Cb%27s"));
        let shell = render("echo {{target}}", &vars(&side), Escape::Shell);
        assert_eq!(shell.as_deref(), Ok("echo '127.0.0.1:81,b'\\''s'"));
    }

    #[test]
    fn an_empty_side_matches_nothing() {
        let side = Side::default();
        let text = render(
            r#"up{instance=~"{{target}}"}"#,
            &vars(&side),
            Escape::PromQl,
        );
        assert_eq!(text.as_deref(), Ok(r#"up{instance=~"$^"}"#));
    }

    #[test]
    fn unknown_and_unclosed_variables_are_errors() {
        assert!(check("a {{target}} {{interval}}").is_ok());
        assert!(
            check("a {{host}}")
                .unwrap_err()
                .contains("unknown variable {{host}}")
        );
        assert!(check("a {{target").unwrap_err().contains("never closed"));
    }
}
