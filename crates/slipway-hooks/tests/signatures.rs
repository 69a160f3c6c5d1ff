//! Signature and token checks: the README's literal vector, tampering, wrong secrets, header
//! forms, and that no error output reveals a secret or an expected signature.

use slipway_hooks::signature::{
    FORGEJO_SIGNATURE_HEADER, GITEA_SIGNATURE_HEADER, GITHUB_SIGNATURE_HEADER, GITLAB_TOKEN_HEADER,
};
use slipway_hooks::{Forge, SignatureError, constant_time_eq, verify};

/// README vector: HMAC-SHA256 of `Hello, World!` under `It's a Secret to Everybody`.
const SECRET: &[u8] = b"It's a Secret to Everybody";
const BODY: &[u8] = b"Hello, World!";
const TAG: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// A case-insensitive header map, as HTTP servers provide.
fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

fn github(value: &str, body: &[u8], secret: &[u8]) -> Result<(), SignatureError> {
    verify(
        Forge::GitHub,
        &headers(&[("x-hub-signature-256", value)]),
        body,
        secret,
    )
}

#[test]
fn github_readme_vector_verifies() {
    assert_eq!(github(&format!("sha256={TAG}"), BODY, SECRET), Ok(()));
    // Hex case and surrounding whitespace do not matter.
    let upper = format!(" sha256={} ", TAG.to_uppercase());
    assert_eq!(github(&upper, BODY, SECRET), Ok(()));
}

#[test]
fn github_tampered_body_or_wrong_secret_is_a_mismatch() {
    let header = format!("sha256={TAG}");
    let mismatch = Err(SignatureError::Mismatch {
        header: GITHUB_SIGNATURE_HEADER,
    });
    assert_eq!(github(&header, b"Hello, World?", SECRET), mismatch);
    assert_eq!(github(&header, b"Hello, World! ", SECRET), mismatch);
    assert_eq!(github(&header, b"", SECRET), mismatch);
    assert_eq!(
        github(&header, BODY, b"It's a secret to everybody"),
        mismatch
    );
    let mut flipped = TAG.as_bytes().to_vec();
    flipped[63] = if flipped[63] == b'7' { b'8' } else { b'7' };
    let flipped = String::from_utf8(flipped).unwrap_or_default();
    assert_eq!(github(&format!("sha256={flipped}"), BODY, SECRET), mismatch);
}

#[test]
fn github_missing_and_malformed_headers() {
    let missing = Err(SignatureError::Missing {
        header: GITHUB_SIGNATURE_HEADER,
    });
    assert_eq!(verify(Forge::GitHub, &headers(&[]), BODY, SECRET), missing);
    assert_eq!(github("", BODY, SECRET), missing);
    // The legacy SHA-1 header alone is not accepted.
    let sha1_only = headers(&[(
        "X-Hub-Signature",
        "sha1=0000000000000000000000000000000000000000",
    )]);
    assert_eq!(verify(Forge::GitHub, &sha1_only, BODY, SECRET), missing);

    let malformed = Err(SignatureError::Malformed {
        header: GITHUB_SIGNATURE_HEADER,
    });
    for value in [
        TAG.to_owned(),                              // no prefix
        format!("sha1={TAG}"),                       // wrong algorithm
        format!("sha256={}", &TAG[..63]),            // odd length
        format!("sha256={}", &TAG[..62]),            // too short
        format!("sha256={TAG}00"),                   // too long
        format!("sha256={}", TAG.replace('7', "z")), // not hex
        format!("SHA256={TAG}"),                     // GitHub sends the prefix in lower case
    ] {
        assert_eq!(github(&value, BODY, SECRET), malformed, "{value}");
    }
}

#[test]
fn gitea_and_forgejo_use_bare_hex() {
    let gitea = headers(&[("X-Gitea-Signature", TAG)]);
    assert_eq!(verify(Forge::Gitea, &gitea, BODY, SECRET), Ok(()));
    let forgejo = headers(&[("x-forgejo-signature", TAG)]);
    assert_eq!(verify(Forge::Gitea, &forgejo, BODY, SECRET), Ok(()));
    assert_eq!(
        verify(Forge::Gitea, &gitea, b"Hello, World?", SECRET),
        Err(SignatureError::Mismatch {
            header: GITEA_SIGNATURE_HEADER
        })
    );
    assert_eq!(
        verify(Forge::Gitea, &forgejo, BODY, b"other"),
        Err(SignatureError::Mismatch {
            header: FORGEJO_SIGNATURE_HEADER
        })
    );
    // GitHub's prefixed form is not Gitea's.
    let prefixed = headers(&[("X-Gitea-Signature", &format!("sha256={TAG}"))]);
    assert_eq!(
        verify(Forge::Gitea, &prefixed, BODY, SECRET),
        Err(SignatureError::Malformed {
            header: GITEA_SIGNATURE_HEADER
        })
    );
    assert_eq!(
        verify(Forge::Gitea, &headers(&[]), BODY, SECRET),
        Err(SignatureError::Missing {
            header: GITEA_SIGNATURE_HEADER
        })
    );
}

#[test]
fn forgejo_header_is_consulted_before_gitea_header() {
    // Forgejo sends both with the same value; when they differ, the Forgejo one decides, so a
    // correct Gitea header cannot rescue a wrong Forgejo one.
    let both = headers(&[
        ("X-Forgejo-Signature", &"0".repeat(64)),
        ("X-Gitea-Signature", TAG),
    ]);
    assert_eq!(
        verify(Forge::Gitea, &both, BODY, SECRET),
        Err(SignatureError::Mismatch {
            header: FORGEJO_SIGNATURE_HEADER
        })
    );
}

#[test]
fn gitlab_token_is_compared_with_the_secret() {
    let check = |token: &str| {
        verify(
            Forge::GitLab,
            &headers(&[("X-Gitlab-Token", token)]),
            b"{}",
            b"topsecret",
        )
    };
    let mismatch = Err(SignatureError::Mismatch {
        header: GITLAB_TOKEN_HEADER,
    });
    assert_eq!(check("topsecret"), Ok(()));
    assert_eq!(check("topsecreT"), mismatch);
    assert_eq!(check("topsecret2"), mismatch);
    assert_eq!(check("top"), mismatch);
    assert_eq!(
        check(""),
        Err(SignatureError::Missing {
            header: GITLAB_TOKEN_HEADER
        })
    );
    // The token does not depend on the body.
    assert_eq!(
        verify(
            Forge::GitLab,
            &headers(&[("x-gitlab-token", "topsecret")]),
            b"anything",
            b"topsecret"
        ),
        Ok(())
    );
}

#[test]
fn an_empty_secret_authenticates_nothing() {
    for forge in [Forge::GitHub, Forge::GitLab, Forge::Gitea] {
        let all = headers(&[
            (
                "X-Hub-Signature-256",
                "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
            ),
            (
                "X-Gitea-Signature",
                "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
            ),
            ("X-Gitlab-Token", ""),
        ]);
        assert_eq!(
            verify(forge, &all, b"", b""),
            Err(SignatureError::NoSecret),
            "{forge}"
        );
    }
}

#[test]
fn errors_never_show_the_secret_or_the_signature() {
    let secret = b"s3cr3t-value-xyz";
    let outputs: Vec<SignatureError> = [
        github(&format!("sha256={TAG}"), BODY, secret),
        github("sha256=nothex", BODY, secret),
        verify(
            Forge::GitLab,
            &headers(&[("X-Gitlab-Token", "guess-xyz")]),
            BODY,
            secret,
        ),
        verify(Forge::Gitea, &headers(&[]), BODY, secret),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert_eq!(outputs.len(), 4);
    for error in outputs {
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(!text.contains("xyz"), "{text}");
            assert!(!text.contains(TAG), "{text}");
            assert!(!text.contains("nothex"), "{text}");
            assert!(text.contains("X-"), "names the header: {text}");
        }
    }
}

#[test]
fn constant_time_eq_compares_contents_and_lengths() {
    assert!(constant_time_eq(b"", b""));
    assert!(constant_time_eq(b"token", b"token"));
    assert!(!constant_time_eq(b"token", b"tokem"));
    assert!(!constant_time_eq(b"token", b"token "));
    assert!(!constant_time_eq(b"", b"x"));
    assert!(!constant_time_eq(b"\0", b""));
}
