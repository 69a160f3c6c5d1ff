//! Project secrets, encrypted at rest.

use super::{Id, SecretValue, SqlError, SqlStore, validate};

/// The associated data binding a ciphertext to its row.
fn context(project_id: Id, name: &str) -> Vec<u8> {
    format!("secret:{project_id}:{name}").into_bytes()
}

/// At most 1 MiB per value.
const MAX_VALUE: usize = 1 << 20;

pub(crate) async fn set(
    store: &SqlStore,
    project_id: Id,
    name: &str,
    value: &SecretValue,
) -> Result<(), SqlError> {
    validate::secret_name(name)?;
    if value.expose().len() > MAX_VALUE {
        return Err(SqlError::invalid("secret value", "is larger than 1 MiB"));
    }
    let (nonce, sealed) = store.key.seal(&context(project_id, name), value.expose())?;
    let now = store.now();
    on_pool!(store, |pool| {
        sqlx::query(
            "INSERT INTO secrets (project_id, name, nonce, ciphertext, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (project_id, name) DO UPDATE SET \
             nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_ms = excluded.updated_ms",
        )
        .bind(project_id)
        .bind(name)
        .bind(nonce)
        .bind(sealed)
        .bind(now)
        .execute(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => SqlError::not_found("project", project_id),
            _ => SqlError::Database(e),
        })?;
    });
    Ok(())
}

pub(crate) async fn get(
    store: &SqlStore,
    project_id: Id,
    name: &str,
) -> Result<Option<SecretValue>, SqlError> {
    validate::secret_name(name)?;
    let row: Option<(Vec<u8>, Vec<u8>)> = on_pool!(store, |pool| {
        sqlx::query_as("SELECT nonce, ciphertext FROM secrets WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .fetch_optional(pool)
            .await?
    });
    row.map(|(nonce, sealed)| {
        store.key.open(
            &format!("secret `{name}`"),
            &context(project_id, name),
            &nonce,
            &sealed,
        )
    })
    .transpose()
}

pub(crate) async fn all(
    store: &SqlStore,
    project_id: Id,
) -> Result<Vec<(String, SecretValue)>, SqlError> {
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> = on_pool!(store, |pool| {
        sqlx::query_as(
            "SELECT name, nonce, ciphertext FROM secrets WHERE project_id = $1 ORDER BY name",
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(name, nonce, sealed)| {
            let value = store.key.open(
                &format!("secret `{name}`"),
                &context(project_id, &name),
                &nonce,
                &sealed,
            )?;
            Ok((name, value))
        })
        .collect()
}

pub(crate) async fn names(store: &SqlStore, project_id: Id) -> Result<Vec<String>, SqlError> {
    Ok(on_pool!(store, |pool| {
        sqlx::query_scalar("SELECT name FROM secrets WHERE project_id = $1 ORDER BY name")
            .bind(project_id)
            .fetch_all(pool)
            .await?
    }))
}

pub(crate) async fn delete(store: &SqlStore, project_id: Id, name: &str) -> Result<bool, SqlError> {
    validate::secret_name(name)?;
    let changed = on_pool!(store, |pool| {
        sqlx::query("DELETE FROM secrets WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(changed > 0)
}
