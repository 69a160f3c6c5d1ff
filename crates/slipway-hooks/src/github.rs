//! GitHub deliveries, by `X-GitHub-Event`.

use crate::hub;
use crate::model::{ParseError, Parsed, PullRequestAction};
use crate::normalise::{Ctx, ignored};

pub(crate) fn parse(ctx: Ctx<'_>, body: &[u8]) -> Result<Parsed, ParseError> {
    match ctx.event {
        "push" => hub::push(ctx, body),
        "pull_request" => hub::pull_request(ctx, body, action),
        // GitHub sends a `push` for every created or deleted branch and tag as well; acting on
        // both would start two runs.
        "create" | "delete" => Ok(ignored(format!(
            "GitHub `{}` events are ignored: the `push` event for the same ref is used",
            ctx.event
        ))),
        "ping" => Ok(ignored(
            "GitHub `ping` event: the webhook is set up".to_owned(),
        )),
        _ => Ok(ctx.ignored_event()),
    }
}

/// The pull request actions that start runs (GitHub Actions' defaults for `pull_request`).
fn action(name: &str) -> Option<PullRequestAction> {
    match name {
        "opened" => Some(PullRequestAction::Opened),
        "synchronize" => Some(PullRequestAction::Synchronize),
        "reopened" => Some(PullRequestAction::Reopened),
        _ => None,
    }
}
