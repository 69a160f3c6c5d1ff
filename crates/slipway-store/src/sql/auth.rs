//! Users, tokens and roles.

use super::error::unique_as_exists;
use super::{
    Action, ClearToken, Id, Role, SqlError, SqlStore, TokenInfo, TokenKind, User, validate,
};

type UserRow = (i64, String, bool, i64);

fn user_from_row((id, name, is_admin, created_ms): UserRow) -> User {
    User {
        id,
        name,
        is_admin,
        created_ms,
    }
}

pub(crate) async fn create_user(
    store: &SqlStore,
    name: &str,
    is_admin: bool,
) -> Result<User, SqlError> {
    validate::slug("user name", name)?;
    let now = store.now();
    let row: UserRow = on_pool!(store, |pool| {
        sqlx::query_as(
            "INSERT INTO users (name, is_admin, created_ms) VALUES ($1, $2, $3) \
             RETURNING id, name, is_admin, created_ms",
        )
        .bind(name)
        .bind(is_admin)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(|e| unique_as_exists(e, || format!("a user named `{name}`")))?
    });
    Ok(user_from_row(row))
}

pub(crate) async fn user_by_name(store: &SqlStore, name: &str) -> Result<User, SqlError> {
    validate::slug("user name", name)?;
    let row: Option<UserRow> = on_pool!(store, |pool| {
        sqlx::query_as("SELECT id, name, is_admin, created_ms FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?
    });
    row.map(user_from_row)
        .ok_or_else(|| SqlError::not_found("user", format!("`{name}`")))
}

pub(crate) async fn list_users(store: &SqlStore) -> Result<Vec<User>, SqlError> {
    let rows: Vec<UserRow> = on_pool!(store, |pool| {
        sqlx::query_as("SELECT id, name, is_admin, created_ms FROM users ORDER BY name")
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().map(user_from_row).collect())
}

macro_rules! token_columns {
    () => {
        "t.id, t.user_id, u.name, u.is_admin, t.name, t.kind, t.created_ms, t.last_used_ms, t.revoked_ms \
         FROM tokens t JOIN users u ON u.id = t.user_id"
    };
}

type TokenRow = (
    i64,
    i64,
    String,
    bool,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn token_from_row(row: TokenRow) -> Result<TokenInfo, SqlError> {
    let (id, user_id, user_name, user_is_admin, name, kind, created_ms, last_used_ms, revoked_ms) =
        row;
    Ok(TokenInfo {
        id,
        user_id,
        user_name,
        user_is_admin,
        name,
        kind: TokenKind::parse(&kind).map_err(|e| SqlError::Corrupt(e.to_string()))?,
        created_ms,
        last_used_ms,
        revoked_ms,
    })
}

pub(crate) async fn create_token(
    store: &SqlStore,
    user_id: Id,
    name: &str,
    kind: TokenKind,
) -> Result<(TokenInfo, ClearToken), SqlError> {
    insert_token(store, user_id, name, kind, None).await
}

pub(crate) async fn create_session(
    store: &SqlStore,
    user_id: Id,
    expires_ms: i64,
) -> Result<(TokenInfo, ClearToken), SqlError> {
    insert_token(
        store,
        user_id,
        "web session",
        TokenKind::Session,
        Some(expires_ms),
    )
    .await
}

async fn insert_token(
    store: &SqlStore,
    user_id: Id,
    name: &str,
    kind: TokenKind,
    expires_ms: Option<i64>,
) -> Result<(TokenInfo, ClearToken), SqlError> {
    validate::text("token name", name, 200, true)?;
    let token = ClearToken::generate()?;
    let hash = token.hash();
    let now = store.now();
    let id: i64 = on_pool!(store, |pool| {
        sqlx::query_scalar(
            "INSERT INTO tokens (user_id, name, kind, hash, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(kind.as_str())
        .bind(&hash[..])
        .bind(now)
        .bind(expires_ms)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                SqlError::not_found("user", user_id)
            }
            _ => SqlError::Database(e),
        })?
    });
    let info = token_by_id(store, id).await?;
    Ok((info, token))
}

async fn token_by_id(store: &SqlStore, id: Id) -> Result<TokenInfo, SqlError> {
    let row: Option<TokenRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!("SELECT ", token_columns!(), " WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    row.map_or_else(|| Err(SqlError::not_found("token", id)), token_from_row)
}

pub(crate) async fn authenticate(
    store: &SqlStore,
    token: &ClearToken,
) -> Result<Option<TokenInfo>, SqlError> {
    // The lookup is by the SHA-256 of what the client sent, through the
    // unique index: no clear token is ever compared, so timing tells an
    // attacker nothing about stored tokens.
    let hash = token.hash();
    let now = store.now();
    let id: Option<i64> = on_pool!(store, |pool| {
        sqlx::query_scalar(
            "UPDATE tokens SET last_used_ms = $1 WHERE hash = $2 AND revoked_ms IS NULL \
             AND (expires_ms IS NULL OR expires_ms > $1) RETURNING id",
        )
        .bind(now)
        .bind(&hash[..])
        .fetch_optional(pool)
        .await?
    });
    match id {
        Some(id) => token_by_id(store, id).await.map(Some),
        None => Ok(None),
    }
}

pub(crate) async fn set_password_hash(
    store: &SqlStore,
    user_id: Id,
    hash: Option<&str>,
) -> Result<(), SqlError> {
    let changed = on_pool!(store, |pool| {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if changed == 0 {
        return Err(SqlError::not_found("user", user_id));
    }
    Ok(())
}

pub(crate) async fn user_with_password_hash(
    store: &SqlStore,
    name: &str,
) -> Result<(User, Option<String>), SqlError> {
    validate::slug("user name", name)?;
    let row: Option<(i64, String, bool, i64, Option<String>)> = on_pool!(store, |pool| {
        sqlx::query_as(
            "SELECT id, name, is_admin, created_ms, password_hash FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(pool)
        .await?
    });
    row.map(|(id, name, is_admin, created_ms, hash)| {
        (user_from_row((id, name, is_admin, created_ms)), hash)
    })
    .ok_or_else(|| SqlError::not_found("user", format!("`{name}`")))
}

pub(crate) async fn revoke_token(store: &SqlStore, token_id: Id) -> Result<(), SqlError> {
    let now = store.now();
    let changed = on_pool!(store, |pool| {
        sqlx::query("UPDATE tokens SET revoked_ms = COALESCE(revoked_ms, $1) WHERE id = $2")
            .bind(now)
            .bind(token_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if changed == 0 {
        return Err(SqlError::not_found("token", token_id));
    }
    Ok(())
}

/// Deletes web sessions that can never authenticate again: past their
/// expiry or revoked at logout. Personal and agent tokens are kept
/// (revoked ones too: they are the record of what was revoked).
pub(crate) async fn delete_dead_sessions(store: &SqlStore) -> Result<u64, SqlError> {
    let now = store.now();
    let deleted = on_pool!(store, |pool| {
        sqlx::query(
            "DELETE FROM tokens WHERE kind = $1 \
             AND (revoked_ms IS NOT NULL OR expires_ms <= $2)",
        )
        .bind(TokenKind::Session.as_str())
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(deleted)
}

pub(crate) async fn list_tokens(store: &SqlStore, user_id: Id) -> Result<Vec<TokenInfo>, SqlError> {
    let rows: Vec<TokenRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " WHERE t.user_id = $1 ORDER BY t.id"
        ))
        .bind(user_id)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(token_from_row).collect()
}

pub(crate) async fn set_role(
    store: &SqlStore,
    project_id: Id,
    user_id: Id,
    role: Option<Role>,
) -> Result<(), SqlError> {
    on_pool!(store, |pool| {
        let result = match role {
            Some(role) => {
                sqlx::query(
                    "INSERT INTO project_roles (project_id, user_id, role) VALUES ($1, $2, $3) \
                     ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(project_id)
                .bind(user_id)
                .bind(role.as_str())
                .execute(pool)
                .await
            }
            None => {
                sqlx::query("DELETE FROM project_roles WHERE project_id = $1 AND user_id = $2")
                    .bind(project_id)
                    .bind(user_id)
                    .execute(pool)
                    .await
            }
        };
        result.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => SqlError::NotFound {
                what: "project or user",
                name: format!("{project_id} / {user_id}"),
            },
            _ => SqlError::Database(e),
        })?;
        Ok(())
    })
}

pub(crate) async fn role(
    store: &SqlStore,
    project_id: Id,
    user_id: Id,
) -> Result<Option<Role>, SqlError> {
    let role: Option<String> = on_pool!(store, |pool| {
        sqlx::query_scalar("SELECT role FROM project_roles WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?
    });
    role.map(|r| Role::parse(&r).map_err(|e| SqlError::Corrupt(e.to_string())))
        .transpose()
}

pub(crate) async fn authorize(
    store: &SqlStore,
    token: &TokenInfo,
    project_id: Id,
    action: Action,
) -> Result<bool, SqlError> {
    if token.revoked_ms.is_some() || token.kind == TokenKind::Agent {
        // Agent tokens claim jobs; they never act on projects.
        return Ok(false);
    }
    if token.user_is_admin {
        return Ok(true);
    }
    let role = role(store, project_id, token.user_id).await?;
    Ok(role.is_some_and(|role| role.includes(action.required_role())))
}
