//! Which events start a pipeline: [`Triggers::matches`], with the reason either way, so that
//! a delivery that starts nothing can say why.
//!
//! The filters follow GitHub Actions' `on.push` / `on.pull_request`: patterns as in
//! [`crate::pattern`], lists evaluated in order (a later `!pattern` overrides an earlier
//! match), and the ref filter and the path filter must both pass. Slipway splits GitHub's
//! `push` in two: `push` is for branch pushes and `tag` for tag pushes (the parser refuses tag
//! filters under `push` and branch or path filters under `tag`).

use std::fmt;

use crate::model::{RefFilter, Triggers};
use crate::pattern::PatternList;

/// An event that may start a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerEvent<'a> {
    /// Commits pushed to a branch.
    Push {
        /// The branch name, without `refs/heads/`.
        branch: &'a str,
        /// Paths changed by the push, relative to the repository root. `None` when unknown
        /// (a new branch, a forced push whose base is gone): path filters then pass, as on
        /// GitHub.
        changed_paths: Option<&'a [String]>,
    },
    /// A tag pushed.
    Tag {
        /// The tag name, without `refs/tags/`.
        tag: &'a str,
    },
    /// A pull request opened, updated or reopened.
    PullRequest {
        /// The branch the pull request would merge into; `branches` filters apply to it.
        target_branch: &'a str,
        /// Paths the pull request changes; `None` when unknown (path filters then pass).
        changed_paths: Option<&'a [String]>,
    },
    /// A `schedule` entry fired; `cron` is its expression as written in the file.
    Schedule {
        /// The cron expression.
        cron: &'a str,
    },
    /// A run asked for from the UI, CLI or API.
    Manual,
}

/// Whether an event starts the pipeline, and why (or why not), in words fit for a user:
/// "branch `dev` is not in branches [main, release/*]".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// True if the pipeline runs for the event.
    pub matched: bool,
    /// The reason, one sentence without a final period.
    pub reason: String,
}

impl Match {
    fn yes(reason: impl Into<String>) -> Match {
        Match {
            matched: true,
            reason: reason.into(),
        }
    }

    fn no(reason: impl Into<String>) -> Match {
        Match {
            matched: false,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.matched { "runs" } else { "does not run" };
        write!(f, "{verdict}: {}", self.reason)
    }
}

impl Triggers {
    /// Whether `event` starts a run of this pipeline, and why.
    ///
    /// - `Push`: `on.push` must be present; `branches` / `branches-ignore` decide on the branch,
    ///   then `paths` / `paths-ignore` on the changed paths (both must pass).
    /// - `Tag`: `on.tag` must be present; `tags` / `tags-ignore` decide.
    /// - `PullRequest`: `on.pull_request` must be present; the branch filters apply to the
    ///   target branch, the path filters to the changed paths.
    /// - `Schedule`: a `schedule` entry with this cron expression must exist (fields compared
    ///   after splitting on white space).
    /// - `Manual`: `on.manual` must be present.
    pub fn matches(&self, event: &TriggerEvent<'_>) -> Match {
        match *event {
            TriggerEvent::Push {
                branch,
                changed_paths,
            } => match &self.push {
                None => Match::no("the pipeline has no `push` trigger"),
                Some(filter) => branch_and_paths(filter, "branch", branch, changed_paths),
            },
            TriggerEvent::PullRequest {
                target_branch,
                changed_paths,
            } => match &self.pull_request {
                None => Match::no("the pipeline has no `pull_request` trigger"),
                Some(filter) => {
                    branch_and_paths(filter, "target branch", target_branch, changed_paths)
                }
            },
            TriggerEvent::Tag { tag } => match &self.tag {
                None => Match::no("the pipeline has no `tag` trigger"),
                Some(filter) => {
                    let verdict = names("tag", tag, &filter.tags, &filter.tags_ignore, "tags");
                    Match {
                        matched: verdict.matched,
                        reason: verdict.reason,
                    }
                }
            },
            TriggerEvent::Schedule { cron } => {
                if self.schedule.is_empty() {
                    return Match::no("the pipeline has no `schedule` trigger");
                }
                let fired = self
                    .schedule
                    .iter()
                    .any(|s| s.cron.split_whitespace().eq(cron.split_whitespace()));
                if fired {
                    Match::yes(format!("schedule `{cron}`"))
                } else {
                    Match::no(format!(
                        "the pipeline has no schedule `{cron}` (it has {})",
                        list(self.schedule.iter().map(|s| s.cron.as_str()))
                    ))
                }
            }
            TriggerEvent::Manual => match &self.manual {
                Some(_) => Match::yes("manual run"),
                None => Match::no("the pipeline has no `manual` trigger"),
            },
        }
    }

    /// The earliest time strictly after `after` (Unix seconds) at which a `schedule` entry
    /// fires, with that entry. `None` without schedules (or if none fires again).
    pub fn next_schedule(&self, after: u64) -> Option<(u64, &crate::model::Schedule)> {
        self.schedule
            .iter()
            .filter_map(|s| Some((s.next_after(after)?, s)))
            .min_by_key(|(at, _)| *at)
    }
}

/// Branch filters, then path filters.
fn branch_and_paths(
    filter: &RefFilter,
    kind: &str,
    branch: &str,
    changed: Option<&[String]>,
) -> Match {
    let by_name = names(
        kind,
        branch,
        &filter.branches,
        &filter.branches_ignore,
        "branches",
    );
    if !by_name.matched {
        return Match::no(by_name.reason);
    }
    let by_paths = paths(filter, changed);
    Match {
        matched: by_paths.matched,
        reason: match (by_name.constrained, by_paths.matched) {
            // Say what let the branch through only when the paths let the run through too.
            (true, true) => format!("{}; {}", by_name.reason, by_paths.reason),
            _ => by_paths.reason,
        },
    }
}

struct NameVerdict {
    matched: bool,
    /// Whether a filter was set at all.
    constrained: bool,
    reason: String,
}

/// A branch or tag name against `include` (e.g. `branches`) or `ignore` (`branches-ignore`);
/// the parser allows at most one of the two to be set.
fn names(kind: &str, name: &str, include: &[String], ignore: &[String], key: &str) -> NameVerdict {
    if !include.is_empty() {
        let verdict = PatternList::new(include).verdict(name);
        let patterns = list(include.iter().map(String::as_str));
        let reason = match (verdict.selected, verdict.by) {
            (true, Some(by)) => format!("{kind} `{name}` matches `{by}` in {key} {patterns}"),
            (false, Some(by)) => {
                format!("{kind} `{name}` is excluded by `{by}` in {key} {patterns}")
            }
            (_, None) => format!("{kind} `{name}` is not in {key} {patterns}"),
        };
        return NameVerdict {
            matched: verdict.selected,
            constrained: true,
            reason,
        };
    }
    if !ignore.is_empty() {
        let verdict = PatternList::new(ignore).verdict(name);
        let patterns = list(ignore.iter().map(String::as_str));
        let reason = match (verdict.selected, verdict.by) {
            (true, Some(by)) => {
                format!("{kind} `{name}` is ignored by `{by}` in {key}-ignore {patterns}")
            }
            _ => format!("{kind} `{name}` is not in {key}-ignore {patterns}"),
        };
        return NameVerdict {
            matched: !verdict.selected,
            constrained: true,
            reason,
        };
    }
    NameVerdict {
        matched: true,
        constrained: false,
        reason: format!("{kind} `{name}` (no {key} filter)"),
    }
}

/// `paths`: runs if some changed path is selected. `paths-ignore`: runs if some changed path
/// is not ignored. No changed paths at all fails either filter; unknown paths pass.
fn paths(filter: &RefFilter, changed: Option<&[String]>) -> Match {
    let (patterns, key, ignoring) = if !filter.paths.is_empty() {
        (&filter.paths, "paths", false)
    } else if !filter.paths_ignore.is_empty() {
        (&filter.paths_ignore, "paths-ignore", true)
    } else {
        return Match::yes("no path filter");
    };
    let shown = list(patterns.iter().map(String::as_str));
    let Some(changed) = changed else {
        return Match::yes(format!(
            "the changed paths are unknown, so {key} {shown} is not applied"
        ));
    };
    if changed.is_empty() {
        return Match::no(format!("no path changed, so {key} {shown} cannot pass"));
    }
    let compiled = PatternList::new(patterns);
    for path in changed {
        let verdict = compiled.verdict(path);
        if verdict.selected != ignoring {
            return Match::yes(match verdict.by {
                Some(by) if !ignoring => {
                    format!("changed path `{path}` matches `{by}` in {key} {shown}")
                }
                _ => format!("changed path `{path}` is not ignored by {key} {shown}"),
            });
        }
    }
    Match::no(match (ignoring, changed) {
        (true, [only]) => format!("the changed path `{only}` matches {key} {shown}"),
        (true, _) => format!("all {} changed paths match {key} {shown}", changed.len()),
        (false, [only]) => format!("the changed path `{only}` does not match {key} {shown}"),
        (false, _) => format!(
            "no changed path matches {key} {shown} ({} paths changed)",
            changed.len()
        ),
    })
}

/// `[a, b, c]`.
fn list<'s>(items: impl Iterator<Item = &'s str>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
    }
    out.push(']');
    out
}
