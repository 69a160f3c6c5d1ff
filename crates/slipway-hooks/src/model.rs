//! The normalised events every forge's payload is turned into, and the parse errors.

use std::fmt;

/// The forge a delivery comes from. It selects the signature scheme, the event header and the
/// payload shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forge {
    /// github.com and GitHub Enterprise Server.
    GitHub,
    /// gitlab.com and self-managed GitLab.
    GitLab,
    /// Gitea and its fork Forgejo, which send the same payloads (Forgejo adds `X-Forgejo-*`
    /// headers beside the `X-Gitea-*` ones).
    Gitea,
}

impl Forge {
    /// The forge's name for messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
            Forge::Gitea => "Gitea/Forgejo",
        }
    }

    /// The request headers naming the event type, in the order they are consulted.
    pub fn event_headers(self) -> &'static [&'static str] {
        match self {
            Forge::GitHub => &["X-GitHub-Event"],
            Forge::GitLab => &["X-Gitlab-Event"],
            Forge::Gitea => &["X-Forgejo-Event", "X-Gitea-Event"],
        }
    }
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a delivery means to Slipway.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per delivery, moved once; boxing would only add an allocation"
)]
pub enum Parsed {
    /// An event that may start (or, for deletions, cancel) runs.
    Event(Event),
    /// A well-formed delivery Slipway does not act on. The server answers 202 and logs `reason`.
    Ignored {
        /// Why, in words fit for a log line (names the event and, when relevant, its action).
        reason: String,
    },
}

/// A normalised event.
///
/// Tag pushes are their own variant, [`Event::Tag`], because a pipeline's `on:` has separate
/// `push:` (branches) and `tag:` triggers; both variants carry a [`Push`], with `branch` set for
/// [`Event::Push`] and `tag` set for [`Event::Tag`] (never both). Pushes to other refs (notes,
/// merge-request refs…) are [`Parsed::Ignored`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Commits pushed to a branch, or a branch created or deleted.
    Push(Push),
    /// A tag pushed (created, moved) or deleted.
    Tag(Push),
    /// A pull request (GitLab: merge request) opened, reopened, or given new commits.
    PullRequest(PullRequest),
}

impl Event {
    /// The repository the event happened in.
    pub fn repository(&self) -> &Repository {
        match self {
            Event::Push(push) | Event::Tag(push) => &push.repository,
            Event::PullRequest(pr) => &pr.repository,
        }
    }
}

/// A ref update: a branch push ([`Event::Push`]) or a tag push ([`Event::Tag`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    /// Where it happened.
    pub repository: Repository,
    /// The full ref, e.g. `refs/heads/main` or `refs/tags/v1.0.0`.
    pub ref_name: String,
    /// The branch name (`main`) when `ref_name` is under `refs/heads/`.
    pub branch: Option<String>,
    /// The tag name (`v1.0.0`) when `ref_name` is under `refs/tags/`.
    pub tag: Option<String>,
    /// The commit the ref pointed at before; all zeros when the ref was created.
    pub before: String,
    /// The commit the ref points at now; all zeros when the ref was deleted.
    pub after: String,
    /// Paths added, modified or removed by the commits the forge listed, deduplicated and
    /// sorted. Forges list a bounded number of commits (see `commits_truncated`) and none for a
    /// tag push, so this is a hint: the server should prefer `git diff before..after`.
    pub commits_changed_paths: Vec<String>,
    /// True when the forge says it listed fewer commits than were pushed (GitLab's
    /// `total_commits_count`, Gitea's `total_commits`), so `commits_changed_paths` is partial.
    pub commits_truncated: bool,
    /// Who pushed (the forge's login name).
    pub sender: String,
    /// The ref was deleted: there is nothing to build, but runs of that ref may be cancelled.
    pub deleted: bool,
}

/// A pull request event Slipway acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// The base (target) repository, where the pipeline runs.
    pub repository: Repository,
    /// The pull request's number (GitLab: the merge request's `iid`).
    pub number: u64,
    /// What happened.
    pub action: PullRequestAction,
    /// The commit to build: the head of the source branch.
    pub head_sha: String,
    /// The ref in the base repository that points at the head commit, even for forks:
    /// `refs/pull/N/head` (GitHub, Gitea) or `refs/merge-requests/N/head` (GitLab).
    pub head_ref: String,
    /// The source (head) branch name.
    pub source_branch: String,
    /// The target (base) branch name.
    pub target_branch: String,
    /// Who caused the event (the forge's login name).
    pub sender: String,
    /// The pull request's title.
    pub title: String,
    /// The pull request's web page, when the forge sends it.
    pub url: Option<String>,
}

/// The pull request actions that start runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PullRequestAction {
    /// Opened (GitLab `open`).
    Opened,
    /// New commits on the source branch (GitHub `synchronize`, Gitea `synchronized`, GitLab
    /// `update` with `oldrev`).
    Synchronize,
    /// Reopened (GitLab `reopen`).
    Reopened,
}

/// The repository an event belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// `owner/name`; on GitLab the whole namespace path, e.g. `group/subgroup/name`.
    pub full_name: String,
    /// The HTTP(S) clone URL.
    pub clone_url: String,
    /// The SSH clone URL, when sent.
    pub ssh_url: Option<String>,
    /// The repository's web page, when sent.
    pub web_url: Option<String>,
    /// The default branch, when sent.
    pub default_branch: Option<String>,
}

/// Why a delivery body could not be turned into a [`Parsed`].
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body exceeds [`crate::MAX_BODY_BYTES`]; the server should answer 413.
    #[error("the webhook body is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No event type was given.
    #[error("the {forge} event header ({header}) is missing or empty")]
    MissingEvent {
        /// The forge.
        forge: Forge,
        /// The header that should name the event.
        header: &'static str,
    },
    /// The body is not JSON, or not the JSON this event should carry.
    #[error("the {forge} `{event}` body is not a valid payload: {source}")]
    Json {
        /// The forge.
        forge: Forge,
        /// The event type from the header.
        event: String,
        /// What serde_json found, with line and column.
        source: serde_json::Error,
    },
    /// A field every payload of this kind carries is absent or empty.
    #[error("the {forge} `{event}` body has no `{field}`")]
    MissingField {
        /// The forge.
        forge: Forge,
        /// The event type from the header.
        event: String,
        /// The JSON path of the field, e.g. `repository.clone_url`.
        field: &'static str,
    },
}
