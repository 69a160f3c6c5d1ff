//! The SQL store on SQLite (a file in a temp directory) against the
//! conformance suite.

mod sql_conformance;

use sql_conformance::{Fixture, fixture};

async fn make() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    // A path with a space and a quote: the URL and the file name are data.
    let path = dir.path().join("data o'dir.db");
    let url = format!("sqlite://{}", path.display());
    fixture(url, Box::new(dir)).await
}

sql_conformance_suite!(make);

/// The database file is created with WAL and foreign keys on.
#[tokio::test]
async fn sqlite_pragmas() {
    let f = make().await;
    let slipway_store::sql::Database::Sqlite(pool) = f.store.database() else {
        panic!("sqlite expected");
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .expect("pragma");
    assert_eq!(fk, 1);
    f.store.close().await;
}

/// Unknown schemes are refused with a message saying what is accepted.
#[tokio::test]
async fn unknown_database_url() {
    let err =
        slipway_store::sql::SqlStore::connect("mysql://localhost/x", sql_conformance::test_key())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("sqlite://"), "{err}");
}
