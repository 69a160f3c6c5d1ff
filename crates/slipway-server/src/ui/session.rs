//! Browser sessions: the cookie, CSRF tokens derived from it, passwords.
//!
//! A session is a store token of kind `Session` with an expiry; the browser
//! holds it in an HttpOnly cookie. The CSRF token is derived from the
//! session token (BLAKE3 in key-derivation mode), so it needs no storage,
//! differs per session, and tells nothing about the session token itself.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "slipway_session";
/// How long a login lasts.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// The header a script sends its CSRF token in (for non-GET API calls).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token in the request's `Cookie` headers, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that stores a new session. HttpOnly (scripts
/// cannot read it), SameSite=Lax (not sent on cross-site POSTs; links from
/// elsewhere still land logged in), Path=/, Max-Age. No `Secure` flag: the
/// server speaks plain HTTP on 127.0.0.1; behind a TLS proxy the proxy
/// should add it.
pub fn set_cookie(token: &str) -> String {
    format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        SESSION_TTL_MS / 1000
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}

/// The CSRF token of a session (64 hex digits).
pub fn csrf_token(session_token: &str) -> String {
    let key = blake3::derive_key(
        "slipway 2026-11 web session CSRF token",
        session_token.as_bytes(),
    );
    let mut out = String::with_capacity(64);
    for byte in key {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    out
}

/// Whether `a == b`, in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An argon2id PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness from the system: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string. With `None` (no such user,
/// or no password) a dummy hash is checked anyway, so the answer takes as
/// long as for a real user and does not reveal which names exist.
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let (phc, real) = match phc {
        Some(phc) => (phc, true),
        None => (
            DUMMY
                .get_or_init(|| hash_password("not a password").unwrap_or_default())
                .as_str(),
            false,
        ),
    };
    let matches = PasswordHash::new(phc)
        .and_then(|hash| Argon2::default().verify_password(password.as_bytes(), &hash))
        .is_ok();
    matches && real
}

/// Percent-encodes `text` for a query value (unreserved characters and `/`
/// stay as they are).
pub fn encode_query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 15)]));
        }
    }
    out
}

/// `next` if it is a path on this server, else `/`: a login never
/// redirects to another site (`//host`, `/\host`, schemes, control bytes).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.bytes().any(|b| b.is_ascii_control()) =>
        {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=b; slipway_session=slw_x ;c=d"),
        );
        assert_eq!(cookie_token(&headers), Some("slw_x"));
        headers.insert(COOKIE, HeaderValue::from_static("slipway_session=; x"));
        assert_eq!(cookie_token(&headers), None);
        headers.insert(COOKIE, HeaderValue::from_static("xslipway_session=y"));
        assert_eq!(cookie_token(&headers), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare() {
        let a = csrf_token("slw_a");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_token("slw_b"));
        assert!(!a.contains("slw_a"));
        assert!(constant_time_eq(
            a.as_bytes(),
            csrf_token("slw_a").as_bytes()
        ));
        assert!(!constant_time_eq(a.as_bytes(), &a.as_bytes()[1..]));
        assert!(!constant_time_eq(b"", a.as_bytes()));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse", Some(&hash)));
        assert!(!verify_password("correct hors", Some(&hash)));
        assert!(!verify_password("not a password", None));
        assert!(!verify_password("x", Some("garbage")));
    }

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/projects/a?x=1")), "/projects/a?x=1");
        for bad in ["//evil.example", "/\\evil", "https://evil", "", "/a\nb"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(encode_query_value("/p?a=b&c"), "/p%3Fa%3Db%26c");
    }
}
