//! [`Mirror`]: a bare copy of a followed repository in the server's data directory.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::command::{self, Context, GitOptions, io_error, unexpected};
use crate::paths::{ChangedPaths, parse_name_status};
use crate::redact::{redact, url_secret};
use crate::refs::Refs;
use crate::validate::{self, is_zero_sha};
use crate::{GitError, checkout};

/// Output accepted from commands whose output grows with the repository (refs, paths).
const LARGE_OUTPUT: usize = 64 << 20;
/// Output accepted from commands that print one line.
const SMALL_OUTPUT: usize = 64 << 10;
/// Where [`Mirror::fetch_commit`] keeps the commit it fetched by id.
const FETCHED_COMMIT_REF: &str = "refs/slipway/fetched-commit";
/// Fetches after which [`Mirror::maintenance_due`] says that [`Mirror::maintain`] should run.
pub const MAINTENANCE_EVERY: u32 = 50;

/// A bare mirror of one repository: its branches and tags, fetched on demand.
///
/// The URL (which may carry credentials) is kept in memory and passed to each fetch; it is not
/// written into the mirror's configuration, and `Debug` shows it redacted.
pub struct Mirror {
    dir: PathBuf,
    url: String,
    /// `url` with its userinfo masked: what every message shows.
    shown: String,
    options: GitOptions,
    /// Fetches since the mirror was opened or last maintained; see [`Mirror::maintenance_due`].
    fetches: AtomicU32,
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("dir", &self.dir)
            .field("url", &self.shown)
            .field("options", &self.options)
            .finish()
    }
}

impl Mirror {
    /// Opens the mirror in `dir`, or makes it by fetching every branch and tag of `url` (a path,
    /// a `file://` URL or any URL git can fetch) when `dir` does not exist or is empty.
    ///
    /// Opening does not fetch: call [`Mirror::fetch`]. A first clone is made in a sibling
    /// directory and renamed into place once fetched, so a failed clone leaves nothing behind.
    /// A `dir` holding anything but a bare repository is refused and left alone.
    pub async fn open_or_clone(url: &str, dir: &Path) -> Result<Mirror, GitError> {
        Self::open_or_clone_with(url, dir, GitOptions::default()).await
    }

    /// [`Mirror::open_or_clone`] with another git program or other time limits.
    pub async fn open_or_clone_with(
        url: &str,
        dir: &Path,
        options: GitOptions,
    ) -> Result<Mirror, GitError> {
        validate::url(url)?;
        let shown = redact(url).into_owned();
        let io_error = |operation, path: &Path| io_error(operation, &shown, path);
        let dir = std::path::absolute(dir).map_err(io_error("locating the mirror", dir))?;
        let empty = is_empty_or_missing(&dir).map_err(io_error("reading the mirror", &dir))?;
        let mut mirror = Mirror {
            dir,
            url: url.to_owned(),
            shown,
            options,
            fetches: AtomicU32::new(0),
        };
        if !empty {
            mirror.check_is_bare().await?;
            return Ok(mirror);
        }

        let final_dir = mirror.dir.clone();
        let partial = partial_dir(&final_dir);
        if let Some(parent) = final_dir.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(mirror.io_error("creating the mirror's parent", parent))?;
        }
        remove_dir_if_present(&partial)
            .await
            .map_err(mirror.io_error("removing a stale partial clone", &partial))?;
        mirror.dir = partial;
        let cloned = mirror.init_and_fetch().await;
        mirror.dir = final_dir;
        if let Err(err) = cloned {
            let _ = remove_dir_if_present(&partial_dir(&mirror.dir)).await;
            return Err(err);
        }
        let partial = partial_dir(&mirror.dir);
        tokio::fs::rename(&partial, &mirror.dir)
            .await
            .map_err(mirror.io_error("moving the new mirror into place", &mirror.dir))?;
        Ok(mirror)
    }

    /// The mirror's directory (a bare repository).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The repository's URL with credentials masked, as messages show it.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// Fetches every branch and tag, forced, pruning those that are gone from the repository.
    ///
    /// The fetch does not run git's automatic maintenance (`gc --auto`, `maintenance run
    /// --auto`), which would add a process or two to every fetch and now and then a repack
    /// to the one caller that happens to trigger it: call [`Mirror::maintain`] when
    /// [`Mirror::maintenance_due`] says so, off the latency-sensitive path.
    pub async fn fetch(&self) -> Result<(), GitError> {
        let ctx = self.context("fetch");
        let mut args = self.fetch_args();
        args.extend([
            OsString::from("--prune"),
            "--end-of-options".into(),
            self.url.as_str().into(),
            "+refs/heads/*:refs/heads/*".into(),
            "+refs/tags/*:refs/tags/*".into(),
        ]);
        command::run_ok(
            &self.options,
            self.options.network_timeout,
            &ctx,
            args,
            SMALL_OUTPUT,
        )
        .await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Brings commit `sha` (full id) into the mirror: fetched by id alone when the server
    /// allows it (git's protocol v2 does, as do servers with `uploadpack.allowAnySHA1InWant`),
    /// else by a full [`Mirror::fetch`]. `Ok(true)` when the mirror holds the object
    /// afterwards, `Ok(false)` when the repository does not have it as a commit. Call it when
    /// [`Mirror::has_commit`] said no: a fetch by id always talks to the repository.
    ///
    /// A commit fetched by id is kept as `refs/slipway/fetched-commit` until the next one
    /// replaces it (fresh objects are never pruned by git's maintenance, whose `gc` keeps
    /// unreachable ones for two weeks). Branches and tags are left as they were; use
    /// [`Mirror::fetch`] when they must be current.
    pub async fn fetch_commit(&self, sha: &str) -> Result<bool, GitError> {
        validate::sha(sha)?;
        let ctx = self.context("fetch");
        let mut args = self.fetch_args();
        args.extend([
            OsString::from("--end-of-options"),
            self.url.as_str().into(),
            format!("+{sha}:{FETCHED_COMMIT_REF}").into(),
        ]);
        let by_id = command::run(
            &self.options,
            self.options.network_timeout,
            &ctx,
            args,
            SMALL_OUTPUT,
        )
        .await?;
        if by_id.status.success() {
            // `git fetch` wrote the ref, so the object is here (ids are content hashes: it is
            // the object asked for). That it is a commit is not checked again, to spare a
            // process: an id of a tree or blob fails at checkout, naming it.
            self.fetches.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        // A server that refuses objects by id (or does not have this one): fetch every branch
        // and tag, which also tells a missing commit from an unreachable repository.
        self.fetch().await?;
        self.has_commit(sha).await
    }

    /// Whether enough fetches have run since the last [`Mirror::maintain`] (or since the mirror
    /// was opened) that it is worth calling: true once every [`MAINTENANCE_EVERY`] fetches.
    pub fn maintenance_due(&self) -> bool {
        self.fetches.load(Ordering::Relaxed) >= MAINTENANCE_EVERY
    }

    /// `git maintenance run --auto`: packs loose objects and refs once git's own thresholds
    /// are reached (a few milliseconds when there is nothing to do), which fetches no longer
    /// do by themselves. Takes git's locks like a fetch: run it while no fetch of this mirror
    /// runs (working trees made by [`Mirror::add_worktree`] may stay; their commits are kept).
    pub async fn maintain(&self) -> Result<(), GitError> {
        self.fetches.store(0, Ordering::Relaxed);
        let ctx = self.context("maintenance run --auto");
        command::run_ok(
            &self.options,
            self.options.network_timeout,
            &ctx,
            [
                self.git_dir_arg(),
                "-c".into(),
                "gc.autoDetach=false".into(),
                "-c".into(),
                "maintenance.autoDetach=false".into(),
                "maintenance".into(),
                "run".into(),
                "--auto".into(),
                "--quiet".into(),
            ],
            SMALL_OUTPUT,
        )
        .await?;
        Ok(())
    }

    /// `git fetch` with the options every fetch of the mirror uses: quiet, no FETCH_HEAD, no
    /// submodules, no tag following, and no automatic maintenance afterwards.
    fn fetch_args(&self) -> Vec<OsString> {
        [
            self.git_dir_arg(),
            "-c".into(),
            "gc.auto=0".into(),
            "-c".into(),
            "maintenance.auto=false".into(),
            "fetch".into(),
            "--quiet".into(),
            "--no-auto-maintenance".into(),
            "--no-write-fetch-head".into(),
            "--no-recurse-submodules".into(),
            "--no-tags".into(),
        ]
        .into()
    }

    /// Fetches one more ref, such as a pull request's `refs/pull/12/head`, and returns the
    /// commit it names. It is kept as `refs/slipway/fetched/…` (outside branches and tags, so
    /// [`Mirror::refs`] does not list it and [`Mirror::fetch`] does not prune it) and replaced
    /// by the next fetch of the same ref.
    pub async fn fetch_ref(&self, name: &str) -> Result<String, GitError> {
        validate::ref_name(name)?;
        let short = name.strip_prefix("refs/").unwrap_or(name);
        let local = format!("refs/slipway/fetched/{short}");
        let ctx = self.context("fetch");
        let mut args = self.fetch_args();
        args.extend([
            OsString::from("--end-of-options"),
            self.url.as_str().into(),
            format!("+{name}:{local}").into(),
        ]);
        command::run_ok(
            &self.options,
            self.options.network_timeout,
            &ctx,
            args,
            SMALL_OUTPUT,
        )
        .await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.peel(&local).await?.ok_or_else(|| {
            unexpected(
                &ctx,
                format!("{name} was fetched but does not name a commit"),
            )
        })
    }

    /// Every branch and tag with its commit; annotated tags peeled.
    pub async fn refs(&self) -> Result<Refs, GitError> {
        let ctx = self.context("for-each-ref");
        let out = self
            .git_local(
                &ctx,
                [
                    "for-each-ref",
                    "--format=%(objectname)%09%(objecttype)%09%(*objectname)%09%(*objecttype)%09%(refname)",
                    "refs/heads/",
                    "refs/tags/",
                ],
                LARGE_OUTPUT,
            )
            .await?;
        let mut refs = Refs::default();
        let mut deeply_nested = Vec::new();
        // Ref names cannot hold control characters, so lines and tabs split safely. Names
        // that are not UTF-8 are skipped: nothing downstream could match them.
        for line in out
            .split(|&b| b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok())
        {
            let mut fields = line.splitn(5, '\t');
            let (Some(sha), Some(kind), Some(peeled), Some(peeled_kind), Some(name)) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                continue;
            };
            let commit = match (kind, peeled_kind) {
                ("commit", _) => sha,
                ("tag", "commit") => peeled,
                ("tag", "tag") => {
                    deeply_nested.push(name.to_owned());
                    continue;
                }
                // A tag of a tree or a blob: nothing to build.
                _ => continue,
            };
            insert_ref(&mut refs, name, commit.to_owned());
        }
        for name in deeply_nested {
            if let Some(commit) = self.peel(&name).await? {
                insert_ref(&mut refs, &name, commit);
            }
        }
        Ok(refs)
    }

    /// Whether the mirror holds `sha` (a full commit id) as a commit.
    pub async fn has_commit(&self, sha: &str) -> Result<bool, GitError> {
        validate::sha(sha)?;
        Ok(self.peel(sha).await?.is_some())
    }

    /// The commit a revision names (`main`, `refs/tags/v1`, a sha, `main~2`), or `None` when
    /// it names nothing in the mirror or names something that is not a commit.
    pub async fn resolve(&self, rev: &str) -> Result<Option<String>, GitError> {
        validate::rev(rev)?;
        self.peel(rev).await
    }

    /// The paths changed from commit `before` to commit `after`: every path touched by a
    /// commit in `before..after` (merges compared with their first parent), both the old and
    /// new path of a rename, sorted, without duplicates.
    ///
    /// `None` when the range has no meaning: `before` is the zero id (a new branch), is not in
    /// the mirror, or is not an ancestor of `after` (a force push). A caller then treats path
    /// filters as matching. An error when `after` is not in the mirror.
    pub async fn changed_paths(
        &self,
        before: &str,
        after: &str,
    ) -> Result<Option<ChangedPaths>, GitError> {
        validate::sha(after)?;
        if is_zero_sha(before) || before.eq_ignore_ascii_case(after) {
            if !self.has_commit(after).await? {
                return Err(self.commit_not_found(after));
            }
            return Ok((!is_zero_sha(before)).then(ChangedPaths::default));
        }
        validate::sha(before)?;
        // Both commits present is the usual case: `merge-base` answers 0 or 1 then, and only
        // its failure costs the look-ups that tell a missing `after` (an error) from a missing
        // `before` (unknown paths).
        let ctx = self.context("merge-base --is-ancestor");
        let output = command::run(
            &self.options,
            self.options.local_timeout,
            &ctx,
            [
                self.git_dir_arg(),
                "merge-base".into(),
                "--is-ancestor".into(),
                before.into(),
                after.into(),
            ],
            SMALL_OUTPUT,
        )
        .await?;
        match output.status.code() {
            Some(0) => {}
            Some(1) => return Ok(None),
            _ => {
                if !self.has_commit(after).await? {
                    return Err(self.commit_not_found(after));
                }
                if !self.has_commit(before).await? {
                    return Ok(None);
                }
                return Err(output.failure(&ctx));
            }
        }

        let ctx = self.context("log --name-status");
        let range = format!("{before}..{after}");
        let output = command::run(
            &self.options,
            self.options.local_timeout,
            &ctx,
            [
                self.git_dir_arg(),
                "log".into(),
                "-z".into(),
                "--format=".into(),
                "--name-status".into(),
                "-M".into(),
                "--diff-merges=first-parent".into(),
                "--no-ext-diff".into(),
                "--end-of-options".into(),
                range.into(),
                "--".into(),
            ],
            LARGE_OUTPUT,
        )
        .await?;
        if !output.truncated && !output.status.success() {
            return Err(output.failure(&ctx));
        }
        Ok(Some(parse_name_status(&output.stdout, output.truncated)))
    }

    /// The content of `path` at commit `sha`, or `None` when the commit has no such file (it
    /// is absent, a directory, or a submodule). An error when the commit itself is not in the
    /// mirror ([`GitError::CommitNotFound`]) or the file is over `max_bytes`
    /// ([`GitError::FileTooLarge`]). A symbolic link gives its target's path, as git stores it.
    pub async fn read_file(
        &self,
        sha: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, GitError> {
        validate::sha(sha)?;
        validate::repo_path(path)?;
        // The usual case, a file that is there and within the limit, in one process; anything
        // else (no commit, no file, a directory, a submodule, too large) is told apart below.
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let ctx = self.context("cat-file blob");
        let object = format!("{sha}^{{commit}}:{path}");
        let fast = command::run(
            &self.options,
            self.options.local_timeout,
            &ctx,
            [
                self.git_dir_arg(),
                "cat-file".into(),
                "blob".into(),
                "--end-of-options".into(),
                object.into(),
            ],
            limit,
        )
        .await?;
        if fast.status.success() && !fast.truncated {
            return Ok(Some(fast.stdout));
        }
        if !self.has_commit(sha).await? {
            return Err(self.commit_not_found(sha));
        }
        let ctx = self.context("ls-tree");
        let listing = self
            .git_local(
                &ctx,
                ["ls-tree", "-z", "--long", sha, "--", path],
                SMALL_OUTPUT,
            )
            .await?;
        // `<mode> <type> <object> <size>\t<path>\0`, the size right-aligned with spaces.
        let Some(entry) = listing.split(|&b| b == 0).find(|entry| {
            entry
                .iter()
                .position(|&b| b == b'\t')
                .is_some_and(|tab| &entry[tab + 1..] == path.as_bytes())
        }) else {
            return Ok(None);
        };
        let header = String::from_utf8_lossy(entry.split(|&b| b == b'\t').next().unwrap_or(&[]));
        let mut fields = header.split_ascii_whitespace();
        let (Some(_mode), Some(kind), Some(object), Some(size)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(unexpected(&ctx, format!("unreadable entry {header:?}")));
        };
        if kind != "blob" {
            return Ok(None);
        }
        let size: u64 = size
            .parse()
            .map_err(|_| unexpected(&ctx, format!("unreadable size in {header:?}")))?;
        if size > max_bytes {
            return Err(GitError::FileTooLarge {
                repo: self.shown.clone(),
                sha: sha.to_owned(),
                path: path.to_owned(),
                size,
                limit: max_bytes,
            });
        }
        if !validate::is_full_sha(object) {
            return Err(unexpected(
                &ctx,
                format!("unreadable object id in {header:?}"),
            ));
        }
        let ctx = self.context("cat-file blob");
        let limit = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let content = self
            .git_local(&ctx, ["cat-file", "blob", object], limit)
            .await?;
        Ok(Some(content))
    }

    /// A fresh working tree of commit `sha` in `dest`; see [`crate::checkout`].
    pub async fn checkout(&self, sha: &str, dest: &Path) -> Result<(), GitError> {
        checkout::checkout(checkout::Source::Mirror(self), sha, dest, &self.options).await
    }

    /// `rev^{commit}` resolved, or `None` when it does not name a commit.
    async fn peel(&self, rev: &str) -> Result<Option<String>, GitError> {
        let ctx = self.context("rev-parse");
        let output = command::run(
            &self.options,
            self.options.local_timeout,
            &ctx,
            [
                self.git_dir_arg(),
                "rev-parse".into(),
                "--verify".into(),
                "--quiet".into(),
                "--end-of-options".into(),
                format!("{rev}^{{commit}}").into(),
            ],
            SMALL_OUTPUT,
        )
        .await?;
        match output.status.code() {
            Some(0) => {
                let sha = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                if validate::is_full_sha(&sha) {
                    Ok(Some(sha))
                } else {
                    Err(unexpected(&ctx, format!("not a commit id: {sha:?}")))
                }
            }
            Some(1) => Ok(None),
            _ => Err(output.failure(&ctx)),
        }
    }

    async fn init_and_fetch(&self) -> Result<(), GitError> {
        let ctx = self.context("init --bare");
        command::run_ok(
            &self.options,
            self.options.local_timeout,
            &ctx,
            [
                OsString::from("init"),
                "--bare".into(),
                "--quiet".into(),
                "--".into(),
                self.dir.clone().into(),
            ],
            SMALL_OUTPUT,
        )
        .await?;
        self.fetch().await
    }

    async fn check_is_bare(&self) -> Result<(), GitError> {
        let ctx = self.context("rev-parse --is-bare-repository");
        let output = command::run(
            &self.options,
            self.options.local_timeout,
            &ctx,
            [
                self.git_dir_arg(),
                "rev-parse".into(),
                "--is-bare-repository".into(),
            ],
            SMALL_OUTPUT,
        )
        .await?;
        if output.status.success() && output.stdout.trim_ascii() == b"true" {
            Ok(())
        } else {
            Err(GitError::NotAMirror {
                dir: self.dir.clone(),
                repo: self.shown.clone(),
            })
        }
    }

    /// Runs `git --git-dir=DIR ARGS` with the local time limit and requires success.
    async fn git_local<const N: usize>(
        &self,
        ctx: &Context<'_>,
        args: [&str; N],
        limit: usize,
    ) -> Result<Vec<u8>, GitError> {
        let all = std::iter::once(self.git_dir_arg()).chain(args.into_iter().map(OsString::from));
        command::run_ok(&self.options, self.options.local_timeout, ctx, all, limit).await
    }

    pub(crate) fn git_dir_arg(&self) -> OsString {
        let mut arg = OsString::from("--git-dir=");
        arg.push(&self.dir);
        arg
    }

    pub(crate) fn options(&self) -> &GitOptions {
        &self.options
    }

    pub(crate) fn context(&self, operation: &'static str) -> Context<'_> {
        Context {
            operation,
            repo: &self.shown,
            secret: url_secret(&self.url),
        }
    }

    pub(crate) fn io_error(
        &self,
        operation: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> GitError + use<> {
        io_error(operation, &self.shown, path)
    }

    fn commit_not_found(&self, sha: &str) -> GitError {
        GitError::CommitNotFound {
            repo: self.shown.clone(),
            sha: sha.to_owned(),
        }
    }
}

fn insert_ref(refs: &mut Refs, name: &str, commit: String) {
    if let Some(branch) = name.strip_prefix("refs/heads/") {
        refs.branches.insert(branch.to_owned(), commit);
    } else if let Some(tag) = name.strip_prefix("refs/tags/") {
        refs.tags.insert(tag.to_owned(), commit);
    }
}

fn is_empty_or_missing(dir: &Path) -> std::io::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(err) => Err(err),
    }
}

/// `PARENT/.NAME.partial-PID`: where a first clone is made before it is renamed into place.
fn partial_dir(dir: &Path) -> PathBuf {
    let name = dir.file_name().map_or_else(
        || "mirror".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    dir.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

async fn remove_dir_if_present(dir: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}
