//! Fresh working trees of one commit, for an agent's workspace.

use std::ffi::OsString;
use std::path::Path;

use crate::command::{self, Context, GitOptions, io_error};
use crate::mirror::Mirror;
use crate::redact::{redact, url_secret};
use crate::{GitError, validate};

/// Where [`checkout`] takes the commit from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A local mirror: cloned with `--shared`, so no object is copied. The workspace borrows
    /// the mirror's objects, so the mirror must outlive it (and must not be pruned of the
    /// commit meanwhile, which only an aggressive `git gc --prune=now` after a force push does).
    Mirror(&'a Mirror),
    /// A repository URL or path (a remote agent has no mirror): the commit is fetched alone
    /// (`--depth 1`), or with every branch and tag when the server does not serve commits by id.
    Url(&'a str),
}

const SMALL_OUTPUT: usize = 64 << 10;

/// Makes a working tree of commit `sha` (full id) in `dest`, detached at that commit.
///
/// `dest` must not exist or be empty: a workspace never inherits files or uncommitted changes
/// from an earlier job. On failure, a `dest` this call created is removed again. The URL of a
/// [`Source::Url`] (and its credentials) is not stored in the new repository's configuration.
pub async fn checkout(
    source: Source<'_>,
    sha: &str,
    dest: &Path,
    options: &GitOptions,
) -> Result<(), GitError> {
    validate::sha(sha)?;
    let (shown, secret) = match source {
        Source::Mirror(mirror) => (mirror.shown_url().to_owned(), None),
        Source::Url(url) => {
            validate::url(url)?;
            (redact(url).into_owned(), url_secret(url))
        }
    };
    let repo = Repo {
        shown: &shown,
        secret,
    };
    let io_error = |operation, path: &Path| io_error(operation, &shown, path);
    let dest = std::path::absolute(dest).map_err(io_error("locating the checkout", dest))?;
    let existed = match std::fs::read_dir(&dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GitError::DestinationNotEmpty { dest });
            }
            true
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
        Err(err) => return Err(io_error("reading the checkout destination", &dest)(err)),
    };
    if let Source::Mirror(mirror) = source
        && !mirror.has_commit(sha).await?
    {
        return Err(GitError::CommitNotFound {
            repo: shown.clone(),
            sha: sha.to_owned(),
        });
    }

    let made = make_worktree(source, sha, &dest, options, repo).await;
    if made.is_err() {
        // Leave no half-made workspace behind; an empty directory the caller gave stays.
        let _ = tokio::fs::remove_dir_all(&dest).await;
        if existed {
            let _ = tokio::fs::create_dir(&dest).await;
        }
    }
    made
}

async fn make_worktree(
    source: Source<'_>,
    sha: &str,
    dest: &Path,
    options: &GitOptions,
    repo: Repo<'_>,
) -> Result<(), GitError> {
    let ctx = |operation| repo.context(operation);
    let in_dest = |args: &[&str]| {
        let mut all = vec![OsString::from("-C"), dest.into()];
        all.extend(args.iter().map(OsString::from));
        all
    };
    let network = options.network_timeout;
    match source {
        Source::Mirror(mirror) => {
            let args = [
                OsString::from("clone"),
                "--shared".into(),
                "--no-checkout".into(),
                "--quiet".into(),
                "--".into(),
                mirror.dir().into(),
                dest.into(),
            ];
            command::run_ok(options, network, &ctx("clone --shared"), args, SMALL_OUTPUT).await?;
        }
        Source::Url(url) => {
            let init = [
                OsString::from("init"),
                "--quiet".into(),
                "--".into(),
                dest.into(),
            ];
            command::run_ok(
                options,
                options.local_timeout,
                &ctx("init"),
                init,
                SMALL_OUTPUT,
            )
            .await?;
            let fetch = |extra: &[&str]| {
                let mut args = in_dest(&[
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--no-recurse-submodules",
                ]);
                args.extend(extra.iter().map(OsString::from));
                args.extend([OsString::from("--end-of-options"), url.into()]);
                args
            };
            let mut by_id = fetch(&["--depth=1"]);
            by_id.push(format!("+{sha}:refs/slipway/checkout").into());
            let fetched =
                command::run(options, network, &ctx("fetch"), by_id, SMALL_OUTPUT).await?;
            if !fetched.status.success() {
                // Servers that refuse a commit by id: fetch every branch and tag instead.
                let mut all = fetch(&[]);
                all.extend(
                    [
                        "+refs/heads/*:refs/remotes/origin/*",
                        "+refs/tags/*:refs/tags/*",
                    ]
                    .map(OsString::from),
                );
                command::run_ok(options, network, &ctx("fetch"), all, SMALL_OUTPUT).await?;
            }
        }
    }
    let checkout = in_dest(&["checkout", "--quiet", "--detach", sha, "--"]);
    let out = command::run(options, network, &ctx("checkout"), checkout, SMALL_OUTPUT).await?;
    if !out.status.success() {
        if out.stderr.contains("reference is not a tree") || out.stderr.contains("unable to read") {
            return Err(GitError::CommitNotFound {
                repo: repo.shown.to_owned(),
                sha: sha.to_owned(),
            });
        }
        return Err(out.failure(&ctx("checkout")));
    }
    let head_ctx = ctx("rev-parse HEAD");
    let head = command::run_ok(
        options,
        options.local_timeout,
        &head_ctx,
        in_dest(&["rev-parse", "HEAD"]),
        SMALL_OUTPUT,
    )
    .await?;
    if !head.trim_ascii().eq_ignore_ascii_case(sha.as_bytes()) {
        return Err(command::unexpected(
            &head_ctx,
            format!(
                "the workspace is at {} instead of {sha}",
                String::from_utf8_lossy(head.trim_ascii())
            ),
        ));
    }
    Ok(())
}

/// The repository a checkout comes from, as messages name it.
#[derive(Clone, Copy)]
struct Repo<'a> {
    shown: &'a str,
    secret: Option<&'a str>,
}

impl<'a> Repo<'a> {
    fn context(self, operation: &'static str) -> Context<'a> {
        Context {
            operation,
            repo: self.shown,
            secret: self.secret,
        }
    }
}
