//! Gitea and Forgejo deliveries, by `X-Forgejo-Event` / `X-Gitea-Event`.
//!
//! Those headers carry the coarse event (`push`, `pull_request`…); label, assignee, milestone
//! and review changes arrive as `pull_request` with their own `action`, and are ignored by it.

use crate::hub;
use crate::model::{ParseError, Parsed, PullRequestAction};
use crate::normalise::{Ctx, ignored};

pub(crate) fn parse(ctx: Ctx<'_>, body: &[u8]) -> Result<Parsed, ParseError> {
    match ctx.event {
        "push" => hub::push(ctx, body),
        "pull_request" => hub::pull_request(ctx, body, action),
        // Gitea/Forgejo send a `push` for every created or deleted branch and tag as well
        // (`refs/tags/…` with no commits for a tag); acting on both would start two runs.
        "create" | "delete" => Ok(ignored(format!(
            "Gitea/Forgejo `{}` events are ignored: the `push` event for the same ref is used",
            ctx.event
        ))),
        _ => Ok(ctx.ignored_event()),
    }
}

fn action(name: &str) -> Option<PullRequestAction> {
    match name {
        "opened" => Some(PullRequestAction::Opened),
        "synchronized" => Some(PullRequestAction::Synchronize),
        "reopened" => Some(PullRequestAction::Reopened),
        _ => None,
    }
}
