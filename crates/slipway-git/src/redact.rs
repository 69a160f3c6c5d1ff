//! Credentials embedded in URLs (`https://user:token@host/…`) never reach a message.
//!
//! Everything that names a repository in an error goes through [`redact`] first, and git's own
//! stderr is scanned the same way, because git echoes the URL it was given.

use std::borrow::Cow;

/// What replaces the `user:password` part of a URL.
const MASK: &str = "***";

/// Replaces the userinfo (`user:password@`) of every `scheme://` URL in `text` with `***@`.
///
/// The authority of a URL ends at `/`, `?`, `#`, whitespace or a quote; the last `@` inside it
/// separates the userinfo from the host (a password may itself contain an unescaped `@`).
/// Text without any userinfo is returned borrowed.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find("://") {
        let authority_start = search_from + found + 3;
        let rest = &text[authority_start..];
        let authority_len = rest
            .find(|c: char| matches!(c, '/' | '?' | '#' | '\'' | '"' | '`') || c.is_whitespace())
            .unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if let Some(at) = authority.rfind('@') {
            out.push_str(&text[copied..authority_start]);
            out.push_str(MASK);
            copied = authority_start + at;
        }
        search_from = authority_start + authority_len;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The password (or token) of a URL's userinfo, if it has one, so that messages which echo it
/// outside of a URL (percent-decoded, or quoted alone) can be masked too.
pub(crate) fn url_secret(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let userinfo = &authority[..authority.rfind('@')?];
    let secret = match userinfo.split_once(':') {
        Some((_, password)) => password,
        // A lone token (`https://TOKEN@host/`) is a secret as well.
        None => userinfo,
    };
    (!secret.is_empty()).then_some(secret)
}

/// [`redact`], then every occurrence of `secret` (when there is one) masked as well.
pub(crate) fn redact_with(text: &str, secret: Option<&str>) -> String {
    let redacted = redact(text);
    match secret {
        // Very short secrets would mask innocent words; the URL scan above still applies.
        Some(secret) if secret.len() >= 4 && redacted.contains(secret) => {
            redacted.replace(secret, MASK)
        }
        _ => redacted.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_userinfo_of_every_url() {
        assert_eq!(
            redact("fatal: unable to access 'https://user:secret@127.0.0.1:9/repo.git/': refused"),
            "fatal: unable to access 'https://***@127.0.0.1:9/repo.git/': refused"
        );
        assert_eq!(
            redact("a http://t@h/x and ssh://me:p%40ss@host:22/r b"),
            "a http://***@h/x and ssh://***@host:22/r b"
        );
        assert_eq!(redact("https://u:p@ss@host"), "https://***@host");
    }

    #[test]
    fn leaves_text_without_credentials_alone() {
        for text in [
            "",
            "/srv/repo.git",
            "file:///tmp/x",
            "git@github.com:o/r.git",
            "https://host/a@b",
            "https://host?q=a@b",
            "://",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn finds_the_secret_of_a_url() {
        assert_eq!(url_secret("https://user:secret@h/r"), Some("secret"));
        assert_eq!(url_secret("https://token@h/r"), Some("token"));
        assert_eq!(url_secret("https://h/a@b"), None);
        assert_eq!(url_secret("/srv/r.git"), None);
        assert_eq!(
            redact_with("could not use secret-token here", Some("secret-token")),
            "could not use *** here"
        );
    }
}
