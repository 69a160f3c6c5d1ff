//! The append-only, hash-chained audit log.
//!
//! `hash(n) = SHA-256(prev_hash(n) ‖ canonical(n))`, where `prev_hash(n)` is
//! `hash(n-1)` as hex (64 zeros for the first entry) and `canonical(n)` is
//! `seq` and `at_ms` as 8-byte big-endian integers followed by `actor`,
//! `action`, `target` and `details`, each as an 8-byte big-endian length and
//! its UTF-8 bytes. Lengths make the encoding unambiguous: no two entries
//! share a canonical form.

use sha2::{Digest as _, Sha256};

use super::crypto::hex;
use super::macros::BeginWrite;
use super::{AuditEntry, NewAuditEntry, SqlError, SqlStore, validate};

/// The `prev_hash` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn entry_hash(prev_hash: &str, seq: i64, at_ms: i64, fields: [&str; 4]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(seq.to_be_bytes());
    hasher.update(at_ms.to_be_bytes());
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex(&hasher.finalize())
}

pub(crate) async fn append(store: &SqlStore, entry: NewAuditEntry) -> Result<AuditEntry, SqlError> {
    validate::text("audit actor", &entry.actor, 255, true)?;
    validate::text("audit action", &entry.action, 255, true)?;
    validate::text("audit target", &entry.target, 4096, false)?;
    let details = entry.details.to_string();
    validate::text("audit details", &details, 1 << 20, false)?;
    let at_ms = store.now();
    on_pool!(store, |pool| {
        let mut tx = pool.begin_write().await?;
        // Moving the head first takes its row lock: appends are serialised,
        // and each sees the hash the previous one left.
        let (seq, prev_hash): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *tx)
                .await?;
        let hash = entry_hash(
            &prev_hash,
            seq,
            at_ms,
            [&entry.actor, &entry.action, &entry.target, &details],
        );
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO audit_log (seq, at_ms, actor, action, target, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(at_ms)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&details)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AuditEntry {
            seq,
            at_ms,
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            details,
            prev_hash,
            hash,
        })
    })
}

type AuditRow = (i64, i64, String, String, String, String, String, String);

fn from_row(row: AuditRow) -> AuditEntry {
    let (seq, at_ms, actor, action, target, details, prev_hash, hash) = row;
    AuditEntry {
        seq,
        at_ms,
        actor,
        action,
        target,
        details,
        prev_hash,
        hash,
    }
}

pub(crate) async fn entries(
    store: &SqlStore,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEntry>, SqlError> {
    let limit = i64::from(limit.clamp(1, 10_000));
    let rows: Vec<AuditRow> = on_pool!(store, |pool| {
        sqlx::query_as(
            "SELECT seq, at_ms, actor, action, target, details, prev_hash, hash FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(from_row).collect())
}

pub(crate) async fn verify(store: &SqlStore) -> Result<u64, SqlError> {
    const PAGE: u32 = 1000;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS.to_string();
    loop {
        let page = entries(store, expected_seq - 1, PAGE).await?;
        let done = page.len() < PAGE as usize;
        for entry in page {
            let broken = |reason: &str| SqlError::AuditTampered {
                seq: entry.seq,
                reason: reason.to_string(),
            };
            if entry.seq != expected_seq {
                return Err(SqlError::AuditTampered {
                    seq: expected_seq,
                    reason: format!("entry {expected_seq} is missing (next is {})", entry.seq),
                });
            }
            if entry.prev_hash != prev_hash {
                return Err(broken(
                    "its previous hash does not match the entry before it",
                ));
            }
            let computed = entry_hash(
                &entry.prev_hash,
                entry.seq,
                entry.at_ms,
                [&entry.actor, &entry.action, &entry.target, &entry.details],
            );
            if computed != entry.hash {
                return Err(broken("its content does not match its hash"));
            }
            prev_hash = entry.hash;
            expected_seq += 1;
        }
        if done {
            break;
        }
    }
    let (head_seq, head_hash): (i64, String) = on_pool!(store, |pool| {
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(pool)
            .await?
    });
    let last = expected_seq - 1;
    if head_seq != last || head_hash != prev_hash {
        return Err(SqlError::AuditTampered {
            seq: head_seq.max(last),
            reason: format!("the log ends at entry {last} but {head_seq} entries were written"),
        });
    }
    u64::try_from(last).map_err(|_| SqlError::Corrupt("audit sequence".into()))
}
