//! `slipway release PROJECT --env ENV [--digest D] [--override-freeze REASON] [--follow]`:
//! a push-button release on the server (`POST /api/v1/projects/{p}/releases`).
//!
//! The server picks the digest when none is given (the newest released
//! successfully to an environment this one requires, else to any), refuses
//! one that never passed a required environment (the reason is printed,
//! exit 2), and starts a run that deploys it; `--follow` prints that run's
//! log and exits with its result.

use reqwest::Method;
use slipway_api::{ReleaseRequest, ReleaseStarted};

use crate::Exit;
use crate::args::ReleaseArgs;
use crate::client::segment;
use crate::commands::{connect, fail};
use crate::output;

pub async fn release(args: ReleaseArgs) -> Exit {
    if args
        .override_freeze
        .as_deref()
        .is_some_and(|r| r.trim().is_empty())
    {
        eprintln!("error: --override-freeze needs the reason, which is recorded");
        return Exit::Usage;
    }
    let client = match connect(&args.api) {
        Ok(client) => client,
        Err(exit) => return exit,
    };
    let request = ReleaseRequest {
        environment: args.environment,
        digest: args.digest,
        override_freeze: args.override_freeze,
    };
    let path = format!("/api/v1/projects/{}/releases", segment(&args.project));
    let started: ReleaseStarted = match client.call(Method::POST, &path, &request).await {
        Ok(started) => started,
        Err(error) => return fail(&error),
    };
    output::line(format_args!(
        "releasing {} ({}) to {}: run {} ({}#{}) at commit {}",
        short(&started.digest),
        started.artifact,
        started.environment,
        started.run.id,
        started.run.project,
        started.run.number,
        short(&started.commit),
    ));
    if !args.follow {
        output::line(format_args!(
            "follow it: slipway logs {} --follow",
            started.run.id
        ));
        return Exit::Success;
    }
    crate::logs::follow(&client, started.run.id, None).await
}

/// The first 12 characters of a digest or commit, as people read them.
fn short(text: &str) -> &str {
    text.char_indices()
        .nth(12)
        .map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_keeps_twelve_characters_and_never_splits_one() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short("ééééééééééééé"), "éééééééééééé");
    }
}
