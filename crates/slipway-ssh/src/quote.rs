//! Quoting for the remote POSIX shell.
//!
//! OpenSSH joins its command arguments with spaces and hands the result to the remote user's
//! shell, so every piece of a remote command line must be quoted by us, not by `ssh`.

/// Quotes `s` as one word for a POSIX shell: single quotes, with each `'` written as `'\''`.
///
/// Inside single quotes nothing is special (no `$`, backquote, backslash or glob), so the word
/// arrives byte for byte. The empty string becomes `''`.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// True when `name` can be exported by a POSIX shell: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Appends `export K='v'; ` for each variable. Names must have passed [`is_env_name`].
pub(crate) fn push_exports(out: &mut String, env: &[(String, String)]) {
    for (name, value) in env {
        out.push_str("export ");
        out.push_str(name);
        out.push('=');
        out.push_str(&shell_quote(value));
        out.push_str("; ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_plain_and_empty_words() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn quotes_single_quotes() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("A_1"));
        assert!(is_env_name("_x"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("1A"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name("A;rm"));
    }

    #[test]
    fn hostile_strings_round_trip_through_sh() {
        let hostile = [
            "$(touch /tmp/slipway-pwned)",
            "`id`",
            "a'b\"c\\d",
            "'; rm -rf / #",
            "line1\nline2",
            "*",
            "$HOME ${PATH}",
            "-n",
            "tab\there",
            "ünïcödé ✓",
        ];
        for s in hostile {
            let script = format!("printf '%s' {}", shell_quote(s));
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .output()
                .map_err(|e| e.to_string());
            let out = match out {
                Ok(out) => out,
                Err(e) => panic!("running /bin/sh: {e}"),
            };
            assert_eq!(String::from_utf8_lossy(&out.stdout), s, "script {script}");
        }
    }
}
