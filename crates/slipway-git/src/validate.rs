//! Arguments checked before they reach git's command line.
//!
//! Git reads any argument that starts with `-` as an option (`--upload-pack=…` runs a program),
//! so URLs, revisions and paths are validated here in addition to `--end-of-options` and `--`
//! on the command lines themselves.

use crate::GitError;
use crate::redact::redact;

/// Longest value quoted back in an [`GitError::InvalidArgument`].
const MAX_QUOTED: usize = 200;

fn refuse(what: &'static str, value: &str, reason: &'static str) -> GitError {
    let redacted = redact(value);
    let mut value: String = redacted.chars().take(MAX_QUOTED).collect();
    if redacted.chars().nth(MAX_QUOTED).is_some() {
        value.push('…');
    }
    GitError::InvalidArgument {
        what,
        value,
        reason,
    }
}

/// A repository location: a path, a `file://` URL, or any URL git can fetch.
pub(crate) fn url(url: &str) -> Result<(), GitError> {
    const WHAT: &str = "repository URL";
    if url.is_empty() {
        return Err(refuse(WHAT, url, "it is empty"));
    }
    if url.starts_with('-') {
        return Err(refuse(
            WHAT,
            url,
            "it starts with '-' and would be read as an option",
        ));
    }
    if url.chars().any(char::is_control) {
        return Err(refuse(WHAT, url, "it contains control characters"));
    }
    // `ext::` runs an arbitrary command; git refuses it by default, and so does Slipway, even
    // if the user's git configuration allows it.
    if url.to_ascii_lowercase().starts_with("ext::") {
        return Err(refuse(WHAT, url, "the ext:: transport runs commands"));
    }
    Ok(())
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits.
pub(crate) fn sha(sha: &str) -> Result<(), GitError> {
    if is_full_sha(sha) {
        Ok(())
    } else {
        Err(refuse(
            "commit",
            sha,
            "a commit is named by its full id of 40 or 64 hexadecimal digits",
        ))
    }
}

pub(crate) fn is_full_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// True for the all-zero id forges send as `before` of a new ref (and `after` of a deleted one).
pub fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A revision for `rev-parse`: a ref name, a sha, or an expression such as `main~2`.
pub(crate) fn rev(rev: &str) -> Result<(), GitError> {
    const WHAT: &str = "revision";
    if rev.is_empty() {
        return Err(refuse(WHAT, rev, "it is empty"));
    }
    if rev.starts_with('-') {
        return Err(refuse(
            WHAT,
            rev,
            "it starts with '-' and would be read as an option",
        ));
    }
    if rev.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refuse(
            WHAT,
            rev,
            "it contains whitespace or control characters",
        ));
    }
    Ok(())
}

/// A full ref name to fetch, such as `refs/pull/12/head` or `refs/merge-requests/3/head`:
/// `git check-ref-format`'s rules, checked here without running git.
pub(crate) fn ref_name(name: &str) -> Result<(), GitError> {
    const WHAT: &str = "ref";
    if !name.starts_with("refs/") {
        return Err(refuse(
            WHAT,
            name,
            "a ref to fetch is a full name starting with refs/",
        ));
    }
    let bad_char = |c: char| {
        c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    };
    if name.chars().any(bad_char)
        || name.contains("..")
        || name.contains("@{")
        || name.ends_with('/')
        || name.ends_with('.')
        || name.ends_with(".lock")
        || name
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.') || part.ends_with(".lock"))
    {
        return Err(refuse(WHAT, name, "it is not a valid ref name"));
    }
    Ok(())
}

/// A path inside a commit: relative, `/`-separated, no `.` or `..` components.
pub(crate) fn repo_path(path: &str) -> Result<(), GitError> {
    const WHAT: &str = "path";
    if path.is_empty() {
        return Err(refuse(WHAT, path, "it is empty"));
    }
    if path.starts_with('/') {
        return Err(refuse(
            WHAT,
            path,
            "it must be relative to the repository root",
        ));
    }
    if path.contains('\0') || path.contains('\n') {
        return Err(refuse(WHAT, path, "it contains NUL or newline"));
    }
    if path.split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Err(refuse(WHAT, path, "it has an empty, '.' or '..' component"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "/srv/repo.git",
            "file:///srv/repo.git",
            "https://h/r.git",
            "git@h:r.git",
            "./r",
        ] {
            assert!(url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-u",
            "--upload-pack=touch /tmp/x",
            "ext::sh -c touch% /tmp/x",
            "EXT::x",
            "a\nb",
        ] {
            assert!(
                matches!(url(bad), Err(GitError::InvalidArgument { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn shas() {
        assert!(sha(&"a".repeat(40)).is_ok());
        assert!(sha(&"0".repeat(64)).is_ok());
        for bad in ["", "abc", "--all", &"g".repeat(40), &"a".repeat(41)] {
            assert!(sha(bad).is_err(), "{bad}");
        }
        assert!(is_zero_sha(&"0".repeat(40)));
        assert!(!is_zero_sha(""));
        assert!(!is_zero_sha(&"a".repeat(40)));
    }

    #[test]
    fn ref_names() {
        for ok in [
            "refs/pull/12/head",
            "refs/merge-requests/3/head",
            "refs/heads/a-b",
        ] {
            assert!(ref_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "main",
            "-refs/x",
            "refs/",
            "refs/a/../b",
            "refs/a b",
            "refs/a:b",
            "refs/a*",
            "refs/a.lock",
            "refs/.hidden",
            "refs/a//b",
            "refs/a@{1}",
        ] {
            assert!(ref_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revs_and_paths() {
        assert!(rev("main~2").is_ok());
        assert!(rev("refs/tags/v1").is_ok());
        for bad in ["", "-n", "--output=/tmp/x", "a b"] {
            assert!(rev(bad).is_err(), "{bad}");
        }
        assert!(repo_path("slipway.yml").is_ok());
        assert!(
            repo_path("-dir/f").is_ok(),
            "a path is never an argument of its own"
        );
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a\0b",
        ] {
            assert!(repo_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refused_values_are_redacted_and_short() {
        let Err(err) = url(&format!("-https://u:secret@h/{}", "x".repeat(500))) else {
            panic!("accepted")
        };
        let text = err.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.len() < 400, "{text}");
    }
}
