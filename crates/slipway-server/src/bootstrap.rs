//! First start and every start: the data directory, the admin token and
//! web UI password, the built-in agent.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use slipway_store::sql::{ClearToken, ServerStore, SqlError, SqlStore, TokenKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// The file holding the admin token, readable by its owner only.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Creates `dir` (mode 0700) if missing.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// The admin token: read from `DATA_DIR/admin-token` when it still
/// authenticates, else created (with the `admin` user on first start) and
/// written there with mode 0600.
pub async fn admin_token(store: &SqlStore, data_dir: &Path) -> Result<String, String> {
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&file) {
        let token = text.trim().to_string();
        let known = store
            .authenticate(&ClearToken::from_client(token.clone()))
            .await
            .map_err(|e| e.to_string())?;
        if known.is_some_and(|t| t.revoked_ms.is_none() && t.user_is_admin) {
            return Ok(token);
        }
    }
    let user = match store.user_by_name("admin").await {
        Ok(user) => user,
        Err(SqlError::NotFound { .. }) => store
            .create_user("admin", true)
            .await
            .map_err(|e| e.to_string())?,
        Err(error) => return Err(error.to_string()),
    };
    let (_, clear) = store
        .create_token(user.id, "admin", TokenKind::Personal)
        .await
        .map_err(|e| e.to_string())?;
    let token = clear.expose().to_string();
    let tmp = data_dir.join(format!("{ADMIN_TOKEN_FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    out.write_all(format!("{token}\n").as_bytes())
        .and_then(|_| out.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|_| std::fs::rename(&tmp, &file))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(token)
}

/// The file holding the admin's first web UI password, readable by its
/// owner only.
pub const ADMIN_PASSWORD_FILE: &str = "admin-password";

/// The admin's web UI password, when it is still the one created at first
/// start: created (random, argon2id-hashed in the store, written to
/// `DATA_DIR/admin-password` with mode 0600) when the admin has none; read
/// from that file when it still matches; `None` once it was changed.
pub async fn admin_password(store: &SqlStore, data_dir: &Path) -> Result<Option<String>, String> {
    let (user, hash) = store
        .user_with_password_hash("admin")
        .await
        .map_err(|e| e.to_string())?;
    let file = data_dir.join(ADMIN_PASSWORD_FILE);
    match hash {
        Some(hash) => {
            let Ok(text) = std::fs::read_to_string(&file) else {
                return Ok(None);
            };
            let password = text.trim().to_string();
            let still = tokio::task::spawn_blocking(move || {
                crate::ui::session::verify_password(&password, Some(&hash)).then_some(password)
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok(still)
        }
        None => {
            let password = random_password()?;
            let hash = {
                let password = password.clone();
                tokio::task::spawn_blocking(move || crate::ui::session::hash_password(&password))
                    .await
                    .map_err(|e| e.to_string())??
            };
            write_private(data_dir, ADMIN_PASSWORD_FILE, &password)?;
            store
                .set_password_hash(user.id, Some(&hash))
                .await
                .map_err(|e| e.to_string())?;
            Ok(Some(password))
        }
    }
}

/// 20 characters from an alphabet without look-alikes (about 100 bits).
fn random_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the system: {e}"))?;
    // 256 % 49 leaves a slight bias; at 20 characters it does not matter.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// Writes `DATA_DIR/NAME` with mode 0600 through a temporary file.
fn write_private(data_dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let file = data_dir.join(name);
    let tmp = data_dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    out.write_all(format!("{text}\n").as_bytes())
        .and_then(|_| out.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|_| std::fs::rename(&tmp, &file))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// Starts the built-in agent: the same agent code as `slipway agent`,
/// talking HTTP to this server on 127.0.0.1, with a fresh agent token
/// (the previous start's is revoked).
pub async fn builtin_agent(
    state: &AppState,
    addr: SocketAddr,
) -> Result<(watch::Sender<bool>, JoinHandle<()>), String> {
    const NAME: &str = "builtin-agent";
    let store = &state.store;
    let user = match store.user_by_name(NAME).await {
        Ok(user) => user,
        Err(SqlError::NotFound { .. }) => store
            .create_user(NAME, false)
            .await
            .map_err(|e| e.to_string())?,
        Err(error) => return Err(error.to_string()),
    };
    for old in store
        .list_tokens(user.id)
        .await
        .map_err(|e| e.to_string())?
    {
        if old.revoked_ms.is_none() {
            store
                .revoke_token(old.id)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let (_, token) = store
        .create_token(user.id, NAME, TokenKind::Agent)
        .await
        .map_err(|e| e.to_string())?;
    let server = if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    let config = slipway_agent::AgentConfig {
        server,
        token: token.expose().to_string(),
        name: NAME.to_string(),
        labels: state.config.agent_labels.clone(),
        work_dir: state.config.data_dir.join("agent"),
        capacity: std::thread::available_parallelism().map_or(2, |n| n.get()),
        shutdown_grace: state.config.shutdown_grace,
    };
    let (stop, stop_rx) = watch::channel(false);
    let handle = tokio::spawn(async move {
        if let Err(error) = slipway_agent::run(config, stop_rx).await {
            tracing::error!(%error, "the built-in agent stopped");
        }
    });
    Ok((stop, handle))
}
