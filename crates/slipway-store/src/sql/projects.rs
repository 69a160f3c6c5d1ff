//! Projects and their webhook secret.

use serde_json::Value;

use super::error::unique_as_exists;
use super::macros::BeginWrite;
use super::{Id, NewProject, Project, ProjectUpdate, SecretValue, SqlError, SqlStore, validate};

macro_rules! project_columns {
    () => {
        "id, name, repo_url, default_branch, settings, webhook_nonce IS NOT NULL, created_ms"
    };
}

type ProjectRow = (i64, String, String, String, String, bool, i64);

fn from_row(row: ProjectRow) -> Result<Project, SqlError> {
    let (id, name, repo_url, default_branch, settings, has_webhook_secret, created_ms) = row;
    Ok(Project {
        id,
        name,
        repo_url,
        default_branch,
        settings: parse_json("project settings", &settings)?,
        has_webhook_secret,
        created_ms,
    })
}

pub(crate) fn parse_json(what: &str, text: &str) -> Result<Value, SqlError> {
    serde_json::from_str(text).map_err(|e| SqlError::Corrupt(format!("{what}: {e}")))
}

/// Settings and inputs are JSON objects.
pub(crate) fn object_text(what: &'static str, value: &Value) -> Result<String, SqlError> {
    if !value.is_object() {
        return Err(SqlError::invalid(what, "must be a JSON object"));
    }
    let text = value.to_string();
    validate::text(what, &text, 1 << 20, false)?;
    Ok(text)
}

fn check_repo(url: &str) -> Result<(), SqlError> {
    validate::text("repository URL", url, 4096, true)
}

fn check_branch(branch: &str) -> Result<(), SqlError> {
    validate::text("default branch", branch, 255, true)
}

/// The associated data binding a webhook secret to its project.
fn webhook_context(project_id: Id) -> Vec<u8> {
    format!("webhook:{project_id}").into_bytes()
}

pub(crate) async fn create(store: &SqlStore, new: NewProject) -> Result<Project, SqlError> {
    validate::slug("project name", &new.name)?;
    check_repo(&new.repo_url)?;
    check_branch(&new.default_branch)?;
    let settings = object_text("project settings", &new.settings)?;
    let now = store.now();
    let exists = || format!("a project named `{}`", new.name);
    on_pool!(store, |pool| {
        let mut tx = pool.begin_write().await?;
        let row: ProjectRow = sqlx::query_as(concat!(
            "INSERT INTO projects (name, repo_url, default_branch, settings, created_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            project_columns!()
        ))
        .bind(&new.name)
        .bind(&new.repo_url)
        .bind(&new.default_branch)
        .bind(&settings)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_as_exists(e, exists))?;
        let mut project = from_row(row)?;
        if let Some(secret) = &new.webhook_secret {
            let (nonce, sealed) = store
                .key
                .seal(&webhook_context(project.id), secret.expose())?;
            sqlx::query(
                "UPDATE projects SET webhook_nonce = $1, webhook_ciphertext = $2 WHERE id = $3",
            )
            .bind(nonce)
            .bind(sealed)
            .bind(project.id)
            .execute(&mut *tx)
            .await?;
            project.has_webhook_secret = true;
        }
        tx.commit().await?;
        Ok(project)
    })
}

pub(crate) async fn get(store: &SqlStore, id: Id) -> Result<Project, SqlError> {
    let row: Option<ProjectRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(|| Err(SqlError::not_found("project", id)), from_row)
}

pub(crate) async fn by_name(store: &SqlStore, name: &str) -> Result<Project, SqlError> {
    validate::slug("project name", name)?;
    let row: Option<ProjectRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(
        || Err(SqlError::not_found("project", format!("`{name}`"))),
        from_row,
    )
}

pub(crate) async fn list(store: &SqlStore) -> Result<Vec<Project>, SqlError> {
    let rows: Vec<ProjectRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects ORDER BY name"
        ))
        .fetch_all(pool)
        .await?
    });
    rows.into_iter().map(from_row).collect()
}

pub(crate) async fn update(
    store: &SqlStore,
    id: Id,
    update: ProjectUpdate,
) -> Result<Project, SqlError> {
    if let Some(url) = &update.repo_url {
        check_repo(url)?;
    }
    if let Some(branch) = &update.default_branch {
        check_branch(branch)?;
    }
    let settings = match &update.settings {
        Some(value) => Some(object_text("project settings", value)?),
        None => None,
    };
    let row: Option<ProjectRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "UPDATE projects SET repo_url = COALESCE($1, repo_url), \
             default_branch = COALESCE($2, default_branch), settings = COALESCE($3, settings) \
             WHERE id = $4 RETURNING ",
            project_columns!()
        ))
        .bind(update.repo_url.as_deref())
        .bind(update.default_branch.as_deref())
        .bind(settings.as_deref())
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    row.map_or_else(|| Err(SqlError::not_found("project", id)), from_row)
}

pub(crate) async fn set_webhook_secret(
    store: &SqlStore,
    id: Id,
    secret: Option<&SecretValue>,
) -> Result<(), SqlError> {
    let (nonce, sealed) = match secret {
        Some(secret) => {
            let (nonce, sealed) = store.key.seal(&webhook_context(id), secret.expose())?;
            (Some(nonce), Some(sealed))
        }
        None => (None, None),
    };
    let changed = on_pool!(store, |pool| {
        sqlx::query("UPDATE projects SET webhook_nonce = $1, webhook_ciphertext = $2 WHERE id = $3")
            .bind(nonce)
            .bind(sealed)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if changed == 0 {
        return Err(SqlError::not_found("project", id));
    }
    Ok(())
}

pub(crate) async fn webhook_secret(
    store: &SqlStore,
    id: Id,
) -> Result<Option<SecretValue>, SqlError> {
    type Row = (Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Option<Row> = on_pool!(store, |pool| {
        sqlx::query_as("SELECT webhook_nonce, webhook_ciphertext FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    match row {
        None => Err(SqlError::not_found("project", id)),
        Some((Some(nonce), Some(sealed))) => store
            .key
            .open("the webhook secret", &webhook_context(id), &nonce, &sealed)
            .map(Some),
        Some(_) => Ok(None),
    }
}
