//! Keys, encryption of secrets at rest, token generation and hashing.
//!
//! Secrets are sealed with XChaCha20-Poly1305 under a 32-byte key, with a
//! random 24-byte nonce per value and the row's identity (e.g. project id and
//! secret name) as associated data, so a ciphertext copied onto another row
//! does not decrypt. Tokens are 32 random bytes shown once; only their
//! SHA-256 is stored, and a lookup goes through an index on that hash, so
//! finding a token never compares clear tokens.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};

use super::SqlError;

/// The environment variable that holds the key, base64 (standard alphabet).
pub const SECRET_KEY_ENV: &str = "SLIPWAY_SECRET_KEY";
/// The key file's name inside the data directory.
pub const SECRET_KEY_FILE: &str = "secret.key";

const NONCE_LEN: usize = 24;

/// The 32-byte key that encrypts secrets at rest. `Debug` prints no bytes.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A key from its raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Result<SecretKey, SqlError> {
        let mut bytes = [0u8; 32];
        random(&mut bytes)?;
        Ok(SecretKey(bytes))
    }

    /// A key from its base64 text (standard alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<SecretKey, SqlError> {
        let trimmed = text.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .map_err(|_| SqlError::Key("the key is not valid base64".into()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| {
            SqlError::Key(format!("the key is {} bytes long; it must be 32", v.len()))
        })?;
        Ok(SecretKey(bytes))
    }

    /// The key as base64, to hand to an operator (e.g. for
    /// `SLIPWAY_SECRET_KEY`).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The server's key: from `$SLIPWAY_SECRET_KEY` when set, else from
    /// `DATA_DIR/secret.key` (base64), which is created with mode 0600 on
    /// first use. A key file readable by group or others is refused.
    pub fn from_env_or_dir(data_dir: &Path) -> Result<SecretKey, SqlError> {
        match std::env::var(SECRET_KEY_ENV) {
            Ok(text) => SecretKey::from_base64(&text)
                .map_err(|e| SqlError::Key(format!("${SECRET_KEY_ENV}: {e}"))),
            Err(std::env::VarError::NotUnicode(_)) => Err(SqlError::Key(format!(
                "${SECRET_KEY_ENV} is not valid base64"
            ))),
            Err(std::env::VarError::NotPresent) => SecretKey::from_dir(data_dir),
        }
    }

    /// The key of `DATA_DIR/secret.key`, created (mode 0600) when missing.
    pub fn from_dir(data_dir: &Path) -> Result<SecretKey, SqlError> {
        let path = data_dir.join(SECRET_KEY_FILE);
        let shown = path.display();
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match created {
            Ok(mut file) => {
                let key = SecretKey::generate()?;
                let text = format!("{}\n", key.to_base64());
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| SqlError::Key(format!("cannot write {shown}: {e}")))?;
                Ok(key)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let file = std::fs::File::open(&path)
                    .map_err(|e| SqlError::Key(format!("cannot open {shown}: {e}")))?;
                let mode = file
                    .metadata()
                    .map_err(|e| SqlError::Key(format!("cannot stat {shown}: {e}")))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(SqlError::Key(format!(
                        "{shown} is readable by other users (mode {:o}); run `chmod 600 {shown}`",
                        mode & 0o777
                    )));
                }
                let mut text = String::new();
                file.take(1024)
                    .read_to_string(&mut text)
                    .map_err(|e| SqlError::Key(format!("cannot read {shown}: {e}")))?;
                SecretKey::from_base64(&text).map_err(|e| SqlError::Key(format!("{shown}: {e}")))
            }
            Err(e) => Err(SqlError::Key(format!("cannot create {shown}: {e}"))),
        }
    }

    /// Seals `plain`, bound to `context` (the row's identity). Returns the
    /// random nonce and the ciphertext with its tag.
    pub(crate) fn seal(
        &self,
        context: &[u8],
        plain: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), SqlError> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| SqlError::Key("encryption failed".into()))?;
        Ok((nonce.to_vec(), sealed))
    }

    /// Opens what [`SecretKey::seal`] sealed with the same `context`.
    pub(crate) fn open(
        &self,
        what: &str,
        context: &[u8],
        nonce: &[u8],
        sealed: &[u8],
    ) -> Result<SecretValue, SqlError> {
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| SqlError::Decrypt(what.to_string()))?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .map_err(|_| SqlError::Decrypt(what.to_string()))?;
        Ok(SecretValue(plain))
    }
}

/// A decrypted secret. `Debug` prints its length, never its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Wraps bytes to store.
    pub fn new(bytes: impl Into<Vec<u8>>) -> SecretValue {
        SecretValue(bytes.into())
    }
    /// The clear bytes: pass them to what needs them, never to a log.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// The clear value as text, when it is UTF-8.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(<{} bytes redacted>)", self.0.len())
    }
}

/// A token in clear, as handed to its owner once at creation. `Debug` and
/// `Display` print no part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClearToken(String);

/// The prefix of every token, so secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "slw_";

impl ClearToken {
    pub(crate) fn generate() -> Result<ClearToken, SqlError> {
        let mut bytes = [0u8; 32];
        random(&mut bytes)?;
        Ok(ClearToken(format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }
    /// Wraps a token received from a client, to look it up.
    pub fn from_client(text: impl Into<String>) -> ClearToken {
        ClearToken(text.into())
    }
    /// The token text, to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The SHA-256 stored in place of the token.
    pub(crate) fn hash(&self) -> [u8; 32] {
        sha256(self.0.as_bytes())
    }
}

impl std::fmt::Debug for ClearToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClearToken(<redacted>)")
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn random(buf: &mut [u8]) -> Result<(), SqlError> {
    getrandom::fill(buf).map_err(|e| SqlError::Key(format!("no randomness from the system: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = SecretKey::from_dir(dir.path()).expect("create");
        let path = dir.path().join(SECRET_KEY_FILE);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = SecretKey::from_dir(dir.path()).expect("read");
        assert_eq!(first.0, second.0);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = SecretKey::from_dir(dir.path()).expect_err("group-readable key");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn base64_keys() {
        let key = SecretKey::from_bytes([3u8; 32]);
        let text = key.to_base64();
        assert_eq!(SecretKey::from_base64(&text).expect("round trip").0, key.0);
        assert_eq!(
            SecretKey::from_base64(&format!(" {text}\n"))
                .expect("trimmed")
                .0,
            key.0
        );
        let short = SecretKey::from_base64("AAAA").expect_err("short");
        assert!(short.to_string().contains("must be 32"), "{short}");
        assert!(SecretKey::from_base64("not base64 !!").is_err());
    }

    #[test]
    fn seal_open_and_redaction() {
        let key = SecretKey::from_bytes([5u8; 32]);
        let (nonce, sealed) = key.seal(b"ctx", b"hunter2").expect("seal");
        assert_eq!(nonce.len(), NONCE_LEN);
        assert_eq!(
            key.open("x", b"ctx", &nonce, &sealed)
                .expect("open")
                .expose(),
            b"hunter2"
        );
        assert!(
            key.open("x", b"other", &nonce, &sealed).is_err(),
            "bound to its context"
        );
        assert!(
            key.open("x", b"ctx", &nonce[1..], &sealed).is_err(),
            "short nonce"
        );
        let value = SecretValue::new("hunter2");
        assert!(!format!("{value:?}").contains("hunter2"));
        assert!(!format!("{key:?}").contains('5'));
        let token = ClearToken::generate().expect("token");
        assert!(!format!("{token:?}").contains(&token.expose()[4..]));
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
