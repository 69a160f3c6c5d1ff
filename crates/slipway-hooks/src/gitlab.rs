//! GitLab deliveries, by `X-Gitlab-Event`.
//!
//! `Push Hook` and `Tag Push Hook` share one payload shape; the ref decides branch or tag (a
//! deletion is a push whose `after` is all zeros). In `Merge Request Hook`, `update` starts a
//! run only when it carries `oldrev`, which GitLab sets when the update added commits; updates
//! of the title, description, labels or draft state do not.

use serde::Deserialize;

use crate::model::{Event, ParseError, Parsed, PullRequest, PullRequestAction, Repository};
use crate::normalise::{CommitPaths, Ctx, PushParts, ignored, non_empty, push_event};

pub(crate) fn parse(ctx: Ctx<'_>, body: &[u8]) -> Result<Parsed, ParseError> {
    match ctx.event {
        "Push Hook" | "Tag Push Hook" => push(ctx, body),
        "Merge Request Hook" => merge_request(ctx, body),
        "System Hook" => Ok(ignored(
            "GitLab system hooks are not project webhooks; configure a project webhook".to_owned(),
        )),
        _ => Ok(ctx.ignored_event()),
    }
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: Option<String>,
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
    web_url: Option<String>,
    default_branch: Option<String>,
}

impl Project {
    fn normalise(self, ctx: Ctx<'_>) -> Result<Repository, ParseError> {
        Ok(Repository {
            full_name: ctx.require(self.path_with_namespace, "project.path_with_namespace")?,
            clone_url: ctx.require(self.git_http_url, "project.git_http_url")?,
            ssh_url: non_empty(self.git_ssh_url),
            web_url: non_empty(self.web_url),
            default_branch: non_empty(self.default_branch),
        })
    }
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    ref_name: Option<String>,
    before: Option<String>,
    after: Option<String>,
    user_username: Option<String>,
    project: Option<Project>,
    #[serde(default)]
    commits: Option<Vec<CommitPaths>>,
    /// GitLab lists at most 20 commits; this is how many were pushed.
    #[serde(default)]
    total_commits_count: Option<u64>,
}

fn push(ctx: Ctx<'_>, body: &[u8]) -> Result<Parsed, ParseError> {
    let payload: PushPayload = ctx.json(body)?;
    let repository = payload
        .project
        .ok_or_else(|| ctx.missing("project"))?
        .normalise(ctx)?;
    let commits = payload.commits.unwrap_or_default();
    let commits_truncated = payload
        .total_commits_count
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
            sender: ctx.require(payload.user_username, "user_username")?,
            deleted_flag: false,
        },
    ))
}

#[derive(Deserialize)]
struct MergeRequestPayload {
    user: Option<User>,
    project: Option<Project>,
    object_attributes: Option<Attributes>,
}

#[derive(Deserialize)]
struct User {
    username: Option<String>,
}

#[derive(Deserialize)]
struct Attributes {
    iid: Option<u64>,
    title: Option<String>,
    action: Option<String>,
    source_branch: Option<String>,
    target_branch: Option<String>,
    last_commit: Option<LastCommit>,
    oldrev: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct LastCommit {
    id: Option<String>,
}

fn merge_request(ctx: Ctx<'_>, body: &[u8]) -> Result<Parsed, ParseError> {
    let payload: MergeRequestPayload = ctx.json(body)?;
    let attributes = payload
        .object_attributes
        .ok_or_else(|| ctx.missing("object_attributes"))?;
    let action_name = ctx.require(attributes.action, "object_attributes.action")?;
    let action = match action_name.as_str() {
        "open" => PullRequestAction::Opened,
        "reopen" => PullRequestAction::Reopened,
        "update" if non_empty(attributes.oldrev).is_some() => PullRequestAction::Synchronize,
        "update" => {
            return Ok(ignored(
                "GitLab merge request updated without new commits (no `oldrev`)".to_owned(),
            ));
        }
        _ => return Ok(ctx.ignored_action(&action_name)),
    };
    let repository = payload
        .project
        .ok_or_else(|| ctx.missing("project"))?
        .normalise(ctx)?;
    let number = attributes
        .iid
        .ok_or_else(|| ctx.missing("object_attributes.iid"))?;
    let sender = ctx.require(payload.user.and_then(|u| u.username), "user.username")?;
    let head_sha = ctx.require(
        attributes.last_commit.and_then(|c| c.id),
        "object_attributes.last_commit.id",
    )?;
    Ok(Parsed::Event(Event::PullRequest(PullRequest {
        repository,
        number,
        action,
        head_sha,
        head_ref: format!("refs/merge-requests/{number}/head"),
        source_branch: ctx.require(attributes.source_branch, "object_attributes.source_branch")?,
        target_branch: ctx.require(attributes.target_branch, "object_attributes.target_branch")?,
        sender,
        title: attributes.title.unwrap_or_default(),
        url: non_empty(attributes.url),
    })))
}
