//! Delivery authentication: HMAC-SHA256 signatures (GitHub, Gitea/Forgejo) and GitLab's shared
//! token.
//!
//! Security decisions:
//! - Every comparison with secret-derived bytes is constant-time: HMAC tags through
//!   `Mac::verify_slice`, GitLab tokens through [`constant_time_eq`], which compares SHA-256
//!   digests so that not even the secret's length leaks through timing.
//! - An empty secret is refused ([`SignatureError::NoSecret`]): anyone can sign with it, so
//!   accepting it would make verification a no-op. The server must fail closed.
//! - Errors name only the header (a constant); never the secret, the received value or the
//!   expected signature, neither in `Display` nor in `Debug`.
//! - GitHub's legacy SHA-1 `X-Hub-Signature` is not accepted: a hook that sends only that header
//!   gets [`SignatureError::Missing`] for `X-Hub-Signature-256`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::Forge;

/// GitHub's signature header: `sha256=<64 hex digits>`.
pub const GITHUB_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// Forgejo's signature header (bare hex), consulted before Gitea's.
pub const FORGEJO_SIGNATURE_HEADER: &str = "X-Forgejo-Signature";
/// Gitea's signature header (bare hex); Forgejo sends it too.
pub const GITEA_SIGNATURE_HEADER: &str = "X-Gitea-Signature";
/// GitLab's shared-token header.
pub const GITLAB_TOKEN_HEADER: &str = "X-Gitlab-Token";

/// Length in bytes of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// Why a delivery was not authenticated. Every variant means "answer 401 and create nothing".
/// The variants carry only constant header names, so logging them is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The project has no webhook secret, so no delivery can be authenticated.
    #[error(
        "no webhook secret is configured for this project; set one and configure it on the forge"
    )]
    NoSecret,
    /// The signature or token header is absent or empty.
    #[error("the {header} header is missing; configure the webhook's secret on the forge")]
    Missing {
        /// The header that was expected.
        header: &'static str,
    },
    /// The header is present but not in the expected form (prefix, hex, length).
    #[error("the {header} header is malformed")]
    Malformed {
        /// The header that was malformed.
        header: &'static str,
    },
    /// The signature or token does not match the project's secret (or the body was altered).
    #[error("the {header} header does not match the webhook secret")]
    Mismatch {
        /// The header that did not match.
        header: &'static str,
    },
}

/// Checks that a delivery was sent by someone who knows `secret`.
///
/// `headers` looks a header up by name, case-insensitively, and returns its value. `body` must
/// be the exact bytes received: the HMAC covers them, not a re-serialisation.
pub fn verify(
    forge: Forge,
    headers: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    secret: &[u8],
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    match forge {
        Forge::GitHub => {
            let header = GITHUB_SIGNATURE_HEADER;
            let value = header_value(headers, header).ok_or(SignatureError::Missing { header })?;
            let hex = value
                .strip_prefix("sha256=")
                .ok_or(SignatureError::Malformed { header })?;
            verify_hmac(header, hex, body, secret)
        }
        Forge::Gitea => {
            let (header, value) = [FORGEJO_SIGNATURE_HEADER, GITEA_SIGNATURE_HEADER]
                .into_iter()
                .find_map(|name| header_value(headers, name).map(|value| (name, value)))
                .ok_or(SignatureError::Missing {
                    header: GITEA_SIGNATURE_HEADER,
                })?;
            verify_hmac(header, &value, body, secret)
        }
        Forge::GitLab => {
            let header = GITLAB_TOKEN_HEADER;
            let token = header_value(headers, header).ok_or(SignatureError::Missing { header })?;
            if constant_time_eq(token.as_bytes(), secret) {
                Ok(())
            } else {
                Err(SignatureError::Mismatch { header })
            }
        }
    }
}

/// Compares two byte strings in time that depends on neither their contents nor where they
/// differ. Both are hashed with SHA-256 first and the digests compared with `subtle`, so unequal
/// lengths take the same path as unequal contents and the secret's length does not leak.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let a = Sha256::digest(a);
    let b = Sha256::digest(b);
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// The trimmed, non-empty value of a header. HTTP allows surrounding whitespace; an empty value
/// counts as absent.
fn header_value(headers: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let value = headers(name)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == value.len() {
        Some(value)
    } else {
        Some(trimmed.to_owned())
    }
}

/// Verifies a hex HMAC-SHA256 tag of `body` under `secret`, in constant time.
fn verify_hmac(
    header: &'static str,
    hex: &str,
    body: &[u8],
    secret: &[u8],
) -> Result<(), SignatureError> {
    let tag = decode_hex_tag(hex).ok_or(SignatureError::Malformed { header })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch { header })
}

/// Decodes exactly 64 hex digits (either case) into a 32-byte tag.
fn decode_hex_tag(hex: &str) -> Option<[u8; TAG_LEN]> {
    let digits = hex.as_bytes();
    if digits.len() != TAG_LEN * 2 {
        return None;
    }
    let mut tag = [0u8; TAG_LEN];
    for (byte, pair) in tag.iter_mut().zip(digits.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *byte = (hex_digit(*high)? << 4) | hex_digit(*low)?;
    }
    Some(tag)
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_tags_decode_in_either_case_and_reject_bad_input() {
        let lower = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let tag = decode_hex_tag(lower);
        assert_eq!(tag, decode_hex_tag(&lower.to_uppercase()));
        assert_eq!(tag.map(|t| t[0]), Some(0x75));
        assert_eq!(decode_hex_tag(&lower[..62]), None);
        assert_eq!(decode_hex_tag(&format!("{lower}00")), None);
        assert_eq!(decode_hex_tag(&lower.replace('7', "g")), None);
        // Multi-byte characters must not be split or accepted.
        assert_eq!(decode_hex_tag(&"é".repeat(32)), None);
    }

    #[test]
    fn header_values_are_trimmed_and_empty_means_absent() {
        let lookup = |name: &str| match name {
            "A" => Some("  v \t".to_owned()),
            "B" => Some("   ".to_owned()),
            _ => None,
        };
        assert_eq!(header_value(&lookup, "A").as_deref(), Some("v"));
        assert_eq!(header_value(&lookup, "B"), None);
        assert_eq!(header_value(&lookup, "C"), None);
    }
}
