//! Push and pull request payloads in the shape GitHub introduced and Gitea/Forgejo copied:
//! `ref`/`before`/`after`/`commits` for pushes; `action`/`number`/`pull_request.{head,base}` for
//! pull requests. The forges differ in action names only, which the caller maps.

use serde::Deserialize;

use crate::model::{Event, ParseError, Parsed, PullRequest, PullRequestAction};
use crate::normalise::{
    CommitPaths, Ctx, HubRepository, HubUser, PushParts, non_empty, push_event,
};

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    ref_name: Option<String>,
    before: Option<String>,
    after: Option<String>,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default)]
    commits: Option<Vec<CommitPaths>>,
    /// Gitea/Forgejo: how many commits were pushed when more than were listed.
    #[serde(default)]
    total_commits: Option<u64>,
    repository: Option<HubRepository>,
    sender: Option<HubUser>,
    pusher: Option<HubUser>,
}

/// A push payload (GitHub `push`, Gitea/Forgejo `push`).
pub(crate) fn push(ctx: Ctx<'_>, body: &[u8]) -> Result<Parsed, ParseError> {
    let payload: PushPayload = ctx.json(body)?;
    let repository = ctx.require_repo(payload.repository)?.normalise(ctx)?;
    let sender = ctx.require(
        payload
            .sender
            .and_then(HubUser::login)
            .or_else(|| payload.pusher.and_then(HubUser::login)),
        "sender.login",
    )?;
    let commits = payload.commits.unwrap_or_default();
    let commits_truncated = payload
        .total_commits
        .is_some_and(|total| total > commits.len() as u64);
    Ok(push_event(
        ctx,
        PushParts {
            repository,
            ref_name: ctx.require(payload.ref_name, "ref")?,
            before: ctx.require(payload.before, "before")?,
            after: ctx.require(payload.after, "after")?,
            commits,
            commits_truncated,
            sender,
            deleted_flag: payload.deleted.unwrap_or(false),
        },
    ))
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: Option<String>,
    number: Option<u64>,
    pull_request: Option<PullRequestBody>,
    repository: Option<HubRepository>,
    sender: Option<HubUser>,
}

#[derive(Deserialize)]
struct PullRequestBody {
    number: Option<u64>,
    title: Option<String>,
    html_url: Option<String>,
    head: Option<BranchTip>,
    base: Option<BranchTip>,
}

#[derive(Deserialize)]
struct BranchTip {
    #[serde(rename = "ref")]
    ref_name: Option<String>,
    sha: Option<String>,
}

/// A pull request payload (GitHub `pull_request`, Gitea/Forgejo `pull_request`). `action_of`
/// maps the forge's action name to the actions Slipway acts on; `None` means ignore.
pub(crate) fn pull_request(
    ctx: Ctx<'_>,
    body: &[u8],
    action_of: fn(&str) -> Option<PullRequestAction>,
) -> Result<Parsed, ParseError> {
    let payload: PullRequestPayload = ctx.json(body)?;
    let action_name = ctx.require(payload.action, "action")?;
    let Some(action) = action_of(&action_name) else {
        return Ok(ctx.ignored_action(&action_name));
    };
    let repository = ctx.require_repo(payload.repository)?.normalise(ctx)?;
    let sender = ctx.require(payload.sender.and_then(HubUser::login), "sender.login")?;
    let Some(pr) = payload.pull_request else {
        return Err(ctx.missing("pull_request"));
    };
    let number = pr
        .number
        .or(payload.number)
        .ok_or_else(|| ctx.missing("pull_request.number"))?;
    let (head_ref, head_sha) = pr.head.map_or((None, None), |h| (h.ref_name, h.sha));
    let target = pr.base.and_then(|b| b.ref_name);
    Ok(Parsed::Event(Event::PullRequest(PullRequest {
        repository,
        number,
        action,
        head_sha: ctx.require(head_sha, "pull_request.head.sha")?,
        head_ref: format!("refs/pull/{number}/head"),
        source_branch: ctx.require(head_ref, "pull_request.head.ref")?,
        target_branch: ctx.require(target, "pull_request.base.ref")?,
        sender,
        title: pr.title.unwrap_or_default(),
        url: non_empty(pr.html_url),
    })))
}

impl Ctx<'_> {
    fn require_repo(self, repo: Option<HubRepository>) -> Result<HubRepository, ParseError> {
        repo.ok_or_else(|| self.missing("repository"))
    }
}
