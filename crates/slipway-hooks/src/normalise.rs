//! Pieces every forge's parser shares: error context, ref classification, changed paths, and
//! the decision between a branch push, a tag push and an ignored ref.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::model::{Event, Forge, ParseError, Parsed, Push, Repository};

/// The forge and event type of the delivery being parsed, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) forge: Forge,
    pub(crate) event: &'a str,
}

impl Ctx<'_> {
    /// Deserialises the body as `T`, reporting failures with the forge and event.
    pub(crate) fn json<T: DeserializeOwned>(self, body: &[u8]) -> Result<T, ParseError> {
        serde_json::from_slice(body).map_err(|source| ParseError::Json {
            forge: self.forge,
            event: printable(self.event),
            source,
        })
    }

    /// Unwraps a field every payload of this kind must carry; an empty string counts as absent.
    pub(crate) fn require(
        self,
        value: Option<String>,
        field: &'static str,
    ) -> Result<String, ParseError> {
        value
            .filter(|value| !value.is_empty())
            .ok_or_else(|| self.missing(field))
    }

    /// The error for a field every payload of this kind must carry.
    pub(crate) fn missing(self, field: &'static str) -> ParseError {
        ParseError::MissingField {
            forge: self.forge,
            event: printable(self.event),
            field,
        }
    }

    /// `Parsed::Ignored` for an event type Slipway does not act on.
    pub(crate) fn ignored_event(self) -> Parsed {
        ignored(format!(
            "{} `{}` events do not start runs",
            self.forge,
            printable(self.event)
        ))
    }

    /// `Parsed::Ignored` for an action of an event type that Slipway acts on for other actions.
    pub(crate) fn ignored_action(self, action: &str) -> Parsed {
        ignored(format!(
            "{} `{}` events with action `{}` do not start runs",
            self.forge,
            printable(self.event),
            printable(action)
        ))
    }
}

pub(crate) fn ignored(reason: String) -> Parsed {
    Parsed::Ignored { reason }
}

/// At most 64 characters of a value taken from the request, with control characters escaped, so
/// that a reason or error can go into a log line as it is.
pub(crate) fn printable(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut out = String::with_capacity(value.len().min(MAX_CHARS + 3));
    for (index, ch) in value.chars().enumerate() {
        if index == MAX_CHARS {
            out.push('…');
            break;
        }
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

/// The paths one listed commit touched. GitHub, Gitea and GitLab all use these three lists.
#[derive(Deserialize)]
pub(crate) struct CommitPaths {
    #[serde(default)]
    added: Option<Vec<String>>,
    #[serde(default)]
    modified: Option<Vec<String>>,
    #[serde(default)]
    removed: Option<Vec<String>>,
}

/// Added, modified and removed paths of all commits, deduplicated and sorted.
pub(crate) fn changed_paths(commits: Vec<CommitPaths>) -> Vec<String> {
    let mut paths = BTreeSet::new();
    for commit in commits {
        for list in [commit.added, commit.modified, commit.removed]
            .into_iter()
            .flatten()
        {
            paths.extend(list);
        }
    }
    paths.into_iter().collect()
}

/// True for a forge's "no commit" object id: all zeros (40 for SHA-1, 64 for SHA-256 repos).
pub(crate) fn is_null_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// Everything a push payload yields, before the ref decides its variant.
pub(crate) struct PushParts {
    pub(crate) repository: Repository,
    pub(crate) ref_name: String,
    pub(crate) before: String,
    pub(crate) after: String,
    pub(crate) commits: Vec<CommitPaths>,
    pub(crate) commits_truncated: bool,
    pub(crate) sender: String,
    /// The forge's own deletion flag, when it sends one (GitHub `deleted`).
    pub(crate) deleted_flag: bool,
}

/// A branch push, a tag push, or an ignored ref, by the ref's namespace.
pub(crate) fn push_event(ctx: Ctx<'_>, parts: PushParts) -> Parsed {
    let (branch, tag) = if let Some(branch) = parts.ref_name.strip_prefix("refs/heads/") {
        (Some(branch.to_owned()), None)
    } else if let Some(tag) = parts.ref_name.strip_prefix("refs/tags/") {
        (None, Some(tag.to_owned()))
    } else {
        return ignored(format!(
            "{} `{}` to `{}`: only branches and tags start runs",
            ctx.forge,
            printable(ctx.event),
            printable(&parts.ref_name)
        ));
    };
    let deleted = parts.deleted_flag || is_null_sha(&parts.after);
    let is_tag = tag.is_some();
    let push = Push {
        repository: parts.repository,
        ref_name: parts.ref_name,
        branch,
        tag,
        before: parts.before,
        after: parts.after,
        commits_changed_paths: changed_paths(parts.commits),
        commits_truncated: parts.commits_truncated,
        sender: parts.sender,
        deleted,
    };
    Parsed::Event(if is_tag {
        Event::Tag(push)
    } else {
        Event::Push(push)
    })
}

/// A repository as GitHub and Gitea/Forgejo send it (`repository` in every payload).
#[derive(Deserialize)]
pub(crate) struct HubRepository {
    full_name: Option<String>,
    clone_url: Option<String>,
    ssh_url: Option<String>,
    html_url: Option<String>,
    default_branch: Option<String>,
}

impl HubRepository {
    /// The normalised repository. When `clone_url` is absent (some GitHub review payloads) it is
    /// derived from `html_url`, which is how both forges form it.
    pub(crate) fn normalise(self, ctx: Ctx<'_>) -> Result<Repository, ParseError> {
        let full_name = ctx.require(self.full_name, "repository.full_name")?;
        let derived = || {
            self.html_url
                .as_deref()
                .filter(|url| !url.is_empty())
                .map(|url| format!("{url}.git"))
        };
        let clone_url = ctx.require(
            self.clone_url
                .filter(|url| !url.is_empty())
                .or_else(derived),
            "repository.clone_url",
        )?;
        Ok(Repository {
            full_name,
            clone_url,
            ssh_url: non_empty(self.ssh_url),
            web_url: non_empty(self.html_url),
            default_branch: non_empty(self.default_branch),
        })
    }
}

/// A user as GitHub and Gitea/Forgejo send it (`sender`, `pusher`).
#[derive(Deserialize)]
pub(crate) struct HubUser {
    login: Option<String>,
    username: Option<String>,
    name: Option<String>,
}

impl HubUser {
    /// The login name: `login`, else Gitea's `username`, else GitHub's pusher `name`.
    pub(crate) fn login(self) -> Option<String> {
        non_empty(self.login)
            .or_else(|| non_empty(self.username))
            .or_else(|| non_empty(self.name))
    }
}

pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(added: &[&str], modified: &[&str], removed: Option<&[&str]>) -> CommitPaths {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        CommitPaths {
            added: Some(owned(added)),
            modified: Some(owned(modified)),
            removed: removed.map(owned),
        }
    }

    #[test]
    fn changed_paths_are_deduplicated_and_sorted() {
        let commits = vec![
            commit(&["b", "a"], &["c"], None),
            commit(&[], &["a"], Some(&["d", "b"])),
        ];
        assert_eq!(changed_paths(commits), ["a", "b", "c", "d"]);
    }

    #[test]
    fn null_shas_are_all_zeros_of_any_length() {
        assert!(is_null_sha(&"0".repeat(40)));
        assert!(is_null_sha(&"0".repeat(64)));
        assert!(!is_null_sha(""));
        assert!(!is_null_sha("000a"));
    }

    #[test]
    fn printable_escapes_control_characters_and_truncates() {
        assert_eq!(printable("a\nb"), "a\\nb");
        let long = "x".repeat(100);
        assert_eq!(printable(&long).chars().count(), 65);
    }
}
