//! Running one body of code against either backend.

/// Expands `$body` once per backend with `$pool` bound to that backend's
/// pool. The SQL in the body is written once, with `$1`-style parameters
/// that both SQLite and PostgreSQL understand; each expansion is type-checked
/// against its own driver.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::sql::Database::Sqlite($pool) => $body,
            $crate::sql::Database::Postgres($pool) => $body,
        }
    };
}

/// Starts a transaction that will write: `BEGIN IMMEDIATE` on SQLite (take
/// the write lock now, so the busy timeout applies instead of failing on a
/// lock upgrade), a plain `BEGIN` on PostgreSQL (rows are locked as touched).
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
    + Send;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}
