//! Forge webhook deliveries: authentication and normalisation, with no I/O.
//!
//! The server's `/hooks/{github,gitlab,gitea}/PROJECT` endpoints call, in this order:
//! 1. [`verify`] with the request headers, the exact body bytes and the project's webhook
//!    secret. Any error means 401 and nothing created.
//! 2. [`event_type`] to read the event header, then [`parse`]. [`Parsed::Event`] starts runs;
//!    [`Parsed::Ignored`] means 202 and a log line with its reason; a [`ParseError`] means 400
//!    (or 413 for [`ParseError::TooLarge`]).
//!
//! # Normalisation
//!
//! Every forge's payload becomes one [`Event`]:
//! - [`Event::Push`]: a push to `refs/heads/…`; [`Event::Tag`]: a push to `refs/tags/…`. Both
//!   carry a [`Push`] with the full ref, the branch or tag name, `before`/`after`, the changed
//!   paths of the listed commits, the sender, and `deleted` (the forge's flag, or an all-zero
//!   `after`). Creating a ref is a push whose `before` is all zeros. Pushes to other refs are
//!   ignored.
//! - [`Event::PullRequest`] for opened, reopened, and new commits (GitHub `synchronize`, Gitea
//!   `synchronized`, GitLab `update` with `oldrev`). It names the commit to build (`head_sha`)
//!   and a ref in the *base* repository that holds it (`head_ref`), so fork pull requests are
//!   fetched from the repository the project already trusts.
//!
//! Ignored, by design: GitHub and Gitea `create`/`delete` events (the same change also arrives
//! as a `push`, and acting on both would start two runs); pull request actions other than the
//! three above (closed, merged, edited, labelled, assigned, review…); issues, comments,
//! releases, pings, pipelines, deployments, and any event type not known here. Event types that
//! are ignored are not read, so their bodies need not be JSON.
//!
//! # Security
//!
//! - Signatures are checked over the raw bytes before anything is parsed, in constant time; an
//!   empty project secret is refused rather than treated as "no check" (see [`signature`]).
//! - No error, reason or `Debug` output contains the secret or an expected signature. Values
//!   copied from a request into messages (event and action names, refs) are truncated and have
//!   control characters escaped. Gitea's legacy `secret` body field is never read.
//! - Bodies over [`MAX_BODY_BYTES`] are refused before parsing; JSON nesting is bounded by
//!   serde_json's recursion limit. Nothing here panics on any input.

mod gitea;
mod github;
mod gitlab;
mod hub;
mod model;
mod normalise;
pub mod signature;

pub use model::{
    Event, Forge, ParseError, Parsed, PullRequest, PullRequestAction, Push, Repository,
};
pub use signature::{SignatureError, constant_time_eq, verify};

use normalise::Ctx;

/// The largest body [`parse`] accepts: 25 MiB, GitHub's own cap on payloads it sends.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// The event type named by the request's headers: `X-GitHub-Event`, `X-Gitlab-Event`, or
/// `X-Forgejo-Event` then `X-Gitea-Event`. `headers` looks a header up case-insensitively.
pub fn event_type(forge: Forge, headers: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    forge
        .event_headers()
        .iter()
        .find_map(|name| headers(name).filter(|value| !value.trim().is_empty()))
}

/// Turns a delivery into a normalised [`Event`], or says why it is ignored.
///
/// `event_header` is the value of the forge's event header (see [`event_type`]); `body` is the
/// request body. Call [`verify`] first: this function trusts the content.
pub fn parse(forge: Forge, event_header: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ParseError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let event = event_header.trim();
    if event.is_empty() {
        return Err(ParseError::MissingEvent {
            forge,
            header: forge.event_headers().first().copied().unwrap_or("event"),
        });
    }
    let ctx = Ctx { forge, event };
    match forge {
        Forge::GitHub => github::parse(ctx, body),
        Forge::GitLab => gitlab::parse(ctx, body),
        Forge::Gitea => gitea::parse(ctx, body),
    }
}
