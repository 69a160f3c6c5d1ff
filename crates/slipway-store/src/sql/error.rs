//! The error of every server-store operation.

/// What went wrong in a [`super::SqlStore`] call, phrased for a user. No
/// variant ever carries a secret value, a token or a key.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// An argument was refused before touching the database.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What the value is, e.g. "project name".
        what: &'static str,
        /// Why it was refused and what is accepted.
        reason: String,
    },
    /// The thing named does not exist.
    #[error("{what} {name} does not exist")]
    NotFound {
        /// e.g. "project".
        what: &'static str,
        /// The name or id that was looked up.
        name: String,
    },
    /// A uniqueness rule refused the write (e.g. a second project of a name).
    #[error("{what} already exists")]
    AlreadyExists {
        /// e.g. "project `web`".
        what: String,
    },
    /// The write contradicts the stored state (a second vote by one user,
    /// a vote on a gate already decided or past its deadline).
    #[error("{reason}")]
    Conflict {
        /// What conflicts, for a user.
        reason: String,
    },
    /// The audit log no longer matches its hash chain.
    #[error("the audit log was altered at entry {seq}: {reason}")]
    AuditTampered {
        /// The first entry that does not verify.
        seq: i64,
        /// What does not match.
        reason: String,
    },
    /// The secret key could not be read, created or parsed.
    #[error("secret key: {0}")]
    Key(String),
    /// A stored value does not decrypt with the key: wrong key, or the row was
    /// altered.
    #[error("cannot decrypt {0}: wrong secret key or altered data")]
    Decrypt(String),
    /// A stored row does not hold what this version writes.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for SqlError {
    fn from(error: sqlx::Error) -> Self {
        SqlError::Database(error)
    }
}

impl SqlError {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> SqlError {
        SqlError::Invalid {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, name: impl std::fmt::Display) -> SqlError {
        SqlError::NotFound {
            what,
            name: name.to_string(),
        }
    }
}

/// Turns a unique-constraint violation into [`SqlError::AlreadyExists`]
/// naming `what`; any other error passes through.
pub(crate) fn unique_as_exists(error: sqlx::Error, what: impl FnOnce() -> String) -> SqlError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            SqlError::AlreadyExists { what: what() }
        }
        _ => SqlError::Database(error),
    }
}
