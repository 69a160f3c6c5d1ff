//! Approval gates and their votes.
//!
//! A gate is opened once per `(run, job, gate)` (opening again returns the
//! stored one, deadline included), collects at most one vote per user while
//! it is pending and before its deadline, and is decided exactly once: the
//! decision is a compare-and-set from `pending`, so two deciders (the last
//! vote and the timeout tick) cannot both win. The set also names how many
//! votes the decision was made from and fails when more arrived meanwhile,
//! so that every stored vote is part of the decision (the decider reads
//! the gate again and decides anew).

use std::collections::HashMap;

use serde_json::Value;

use super::macros::BeginWrite;
use super::projects::{object_text, parse_json};
use super::{
    ApprovalGate, GateState, GateVote, Id, MAX_GATE_MESSAGE, NewGate, NewVote, SqlError, SqlStore,
    validate,
};

macro_rules! gate_columns {
    () => {
        "g.id, g.run_id, g.job_key, g.gate, g.required, g.opened_ms, g.deadline_ms, g.state, \
         g.decision, g.decided_ms, g.message"
    };
}

macro_rules! vote_columns {
    () => {
        "v.gate_id, v.user_name, v.approved, v.comment, v.inputs, v.at_ms"
    };
}

type GateRow = (
    i64,
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

type VoteRow = (i64, String, bool, Option<String>, String, i64);

/// The most approvals a gate may require (the spec allows 20).
const MAX_REQUIRED: u32 = 1000;

fn gate_from_row(row: GateRow) -> Result<ApprovalGate, SqlError> {
    let (
        id,
        run_id,
        job_key,
        gate,
        required,
        opened_ms,
        deadline_ms,
        state,
        decision,
        decided_ms,
        message,
    ) = row;
    Ok(ApprovalGate {
        id,
        run_id,
        job_key,
        gate,
        required: u32::try_from(required)
            .map_err(|_| SqlError::Corrupt("approval gate: required count".into()))?,
        opened_ms,
        deadline_ms,
        state: GateState::parse(&state).map_err(|e| SqlError::Corrupt(e.to_string()))?,
        decision: decision
            .map(|text| parse_json("approval decision", &text))
            .transpose()?,
        decided_ms,
        message,
        votes: Vec::new(),
    })
}

fn vote_from_row(row: VoteRow) -> Result<(Id, GateVote), SqlError> {
    let (gate_id, user, approved, comment, inputs, at_ms) = row;
    Ok((
        gate_id,
        GateVote {
            user,
            approved,
            comment,
            inputs: parse_json("approval inputs", &inputs)?,
            at_ms,
        },
    ))
}

/// Gates with their votes attached (votes in the order cast).
fn assemble(gates: Vec<GateRow>, votes: Vec<VoteRow>) -> Result<Vec<ApprovalGate>, SqlError> {
    let mut gates = gates
        .into_iter()
        .map(gate_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let slots: HashMap<Id, usize> = gates.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
    for row in votes {
        let (gate_id, vote) = vote_from_row(row)?;
        if let Some(gate) = slots.get(&gate_id).and_then(|&i| gates.get_mut(i)) {
            gate.votes.push(vote);
        }
    }
    Ok(gates)
}

fn check_key(job_key: &str, gate: &str) -> Result<(), SqlError> {
    validate::text("job key", job_key, 1024, true)?;
    validate::text("approval gate", gate, 255, false)
}

/// A message as stored: NUL characters dropped (the databases refuse
/// them), cut to [`MAX_GATE_MESSAGE`] bytes at a character boundary.
fn cut_message(message: &str) -> String {
    let mut text: String = message.chars().filter(|&c| c != '\0').collect();
    if text.len() > MAX_GATE_MESSAGE {
        let mut end = MAX_GATE_MESSAGE - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

pub(crate) async fn open(store: &SqlStore, new: NewGate) -> Result<ApprovalGate, SqlError> {
    check_key(&new.job_key, &new.gate)?;
    if new.required == 0 || new.required > MAX_REQUIRED {
        return Err(SqlError::invalid(
            "approvals required",
            format!("must be 1 to {MAX_REQUIRED}"),
        ));
    }
    let message = new.message.as_deref().map(cut_message);
    let now = store.now();
    on_pool!(store, |pool| {
        sqlx::query(
            "INSERT INTO approval_gates (run_id, job_key, gate, required, opened_ms, deadline_ms, \
             state, message) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) \
             ON CONFLICT (run_id, job_key, gate) DO NOTHING",
        )
        .bind(new.run_id)
        .bind(&new.job_key)
        .bind(&new.gate)
        .bind(i64::from(new.required))
        .bind(now)
        .bind(new.deadline_ms)
        .bind(message.as_deref())
        .execute(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                SqlError::not_found("run", new.run_id)
            }
            _ => SqlError::Database(e),
        })?;
    });
    get(store, new.run_id, &new.job_key, &new.gate)
        .await?
        .ok_or_else(|| SqlError::not_found("approval gate", describe(&new.job_key, &new.gate)))
}

fn describe(job_key: &str, gate: &str) -> String {
    if gate.is_empty() {
        format!("of job `{job_key}`")
    } else {
        format!("`{gate}` of job `{job_key}`")
    }
}

pub(crate) async fn get(
    store: &SqlStore,
    run_id: Id,
    job_key: &str,
    gate: &str,
) -> Result<Option<ApprovalGate>, SqlError> {
    check_key(job_key, gate)?;
    let (gates, votes): (Vec<GateRow>, Vec<VoteRow>) = on_pool!(store, |pool| {
        let gates = sqlx::query_as(concat!(
            "SELECT ",
            gate_columns!(),
            " FROM approval_gates g WHERE g.run_id = $1 AND g.job_key = $2 AND g.gate = $3"
        ))
        .bind(run_id)
        .bind(job_key)
        .bind(gate)
        .fetch_all(pool)
        .await?;
        let votes = sqlx::query_as(concat!(
            "SELECT ",
            vote_columns!(),
            " FROM approval_votes v JOIN approval_gates g ON g.id = v.gate_id \
             WHERE g.run_id = $1 AND g.job_key = $2 AND g.gate = $3 ORDER BY v.id"
        ))
        .bind(run_id)
        .bind(job_key)
        .bind(gate)
        .fetch_all(pool)
        .await?;
        (gates, votes)
    });
    Ok(assemble(gates, votes)?.into_iter().next())
}

/// One gate by id, read inside a transaction or from the pool.
macro_rules! gate_by_id {
    ($executor:expr, $id:expr) => {{
        let gates: Vec<GateRow> = sqlx::query_as(concat!(
            "SELECT ",
            gate_columns!(),
            " FROM approval_gates g WHERE g.id = $1"
        ))
        .bind($id)
        .fetch_all(&mut *$executor)
        .await?;
        let votes: Vec<VoteRow> = sqlx::query_as(concat!(
            "SELECT ",
            vote_columns!(),
            " FROM approval_votes v WHERE v.gate_id = $1 ORDER BY v.id"
        ))
        .bind($id)
        .fetch_all(&mut *$executor)
        .await?;
        assemble(gates, votes)?.into_iter().next()
    }};
}

pub(crate) async fn of_run(store: &SqlStore, run_id: Id) -> Result<Vec<ApprovalGate>, SqlError> {
    let (gates, votes): (Vec<GateRow>, Vec<VoteRow>) = on_pool!(store, |pool| {
        let gates = sqlx::query_as(concat!(
            "SELECT ",
            gate_columns!(),
            " FROM approval_gates g WHERE g.run_id = $1 ORDER BY g.id"
        ))
        .bind(run_id)
        .fetch_all(pool)
        .await?;
        let votes = sqlx::query_as(concat!(
            "SELECT ",
            vote_columns!(),
            " FROM approval_votes v JOIN approval_gates g ON g.id = v.gate_id \
             WHERE g.run_id = $1 ORDER BY v.id"
        ))
        .bind(run_id)
        .fetch_all(pool)
        .await?;
        (gates, votes)
    });
    assemble(gates, votes)
}

pub(crate) async fn pending_of_project(
    store: &SqlStore,
    project_id: Id,
) -> Result<Vec<ApprovalGate>, SqlError> {
    let (gates, votes): (Vec<GateRow>, Vec<VoteRow>) = on_pool!(store, |pool| {
        let gates = sqlx::query_as(concat!(
            "SELECT ",
            gate_columns!(),
            " FROM approval_gates g JOIN runs r ON r.id = g.run_id \
             WHERE r.project_id = $1 AND g.state = 'pending' ORDER BY g.id"
        ))
        .bind(project_id)
        .fetch_all(pool)
        .await?;
        let votes = sqlx::query_as(concat!(
            "SELECT ",
            vote_columns!(),
            " FROM approval_votes v JOIN approval_gates g ON g.id = v.gate_id \
             JOIN runs r ON r.id = g.run_id \
             WHERE r.project_id = $1 AND g.state = 'pending' ORDER BY v.id"
        ))
        .bind(project_id)
        .fetch_all(pool)
        .await?;
        (gates, votes)
    });
    assemble(gates, votes)
}

/// Pending gates whose deadline has passed by the store's clock, oldest
/// deadline first, at most `limit` (0 means 100). Votes are not attached:
/// a timed-out gate's decision does not depend on them.
pub(crate) async fn overdue(store: &SqlStore, limit: u32) -> Result<Vec<ApprovalGate>, SqlError> {
    let limit = match limit {
        0 => 100,
        n => i64::from(n.min(1000)),
    };
    let now = store.now();
    let gates: Vec<GateRow> = on_pool!(store, |pool| {
        sqlx::query_as(concat!(
            "SELECT ",
            gate_columns!(),
            " FROM approval_gates g WHERE g.state = 'pending' AND g.deadline_ms <= $1 \
             ORDER BY g.deadline_ms, g.id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    gates.into_iter().map(gate_from_row).collect()
}

pub(crate) async fn add_vote(
    store: &SqlStore,
    gate_id: Id,
    vote: NewVote,
) -> Result<ApprovalGate, SqlError> {
    validate::text("user", &vote.user, 255, true)?;
    validate::opt_text("comment", vote.comment.as_deref(), 64 * 1024)?;
    let inputs = object_text("approval inputs", &vote.inputs)?;
    let now = store.now();
    on_pool!(store, |pool| {
        let mut tx = pool.begin_write().await?;
        // Counting the vote on the gate's row takes its lock (PostgreSQL;
        // SQLite holds the write lock already): a decision cannot slip in
        // between this check and the insert, and one made from fewer votes
        // fails (see `decide`). A refused insert rolls the count back.
        let open: Option<i64> = sqlx::query_scalar(
            "UPDATE approval_gates SET vote_count = vote_count + 1 \
             WHERE id = $1 AND state = 'pending' AND deadline_ms > $2 RETURNING id",
        )
        .bind(gate_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if open.is_none() {
            let gate = gate_by_id!(tx, gate_id);
            return Err(match gate {
                None => SqlError::not_found("approval gate", gate_id),
                Some(gate) if gate.state != GateState::Pending => SqlError::Conflict {
                    reason: format!("the approval was already decided: {}", gate.state),
                },
                Some(_) => SqlError::Conflict {
                    reason: "the approval's deadline has passed".to_string(),
                },
            });
        }
        sqlx::query(
            "INSERT INTO approval_votes (gate_id, user_name, approved, comment, inputs, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(gate_id)
        .bind(&vote.user)
        .bind(vote.approved)
        .bind(vote.comment.as_deref())
        .bind(&inputs)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => SqlError::Conflict {
                reason: format!("`{}` has already voted on this approval", vote.user),
            },
            _ => SqlError::Database(e),
        })?;
        let gate = gate_by_id!(tx, gate_id);
        tx.commit().await?;
        gate.ok_or_else(|| SqlError::not_found("approval gate", gate_id))
    })
}

pub(crate) async fn decide(
    store: &SqlStore,
    gate_id: Id,
    state: GateState,
    decision: &Value,
    votes_seen: usize,
) -> Result<bool, SqlError> {
    if state == GateState::Pending {
        return Err(SqlError::invalid(
            "approval decision",
            "a gate is decided approved, rejected or timed_out, never pending",
        ));
    }
    let text = decision.to_string();
    validate::text("approval decision", &text, 1 << 20, false)?;
    let now = store.now();
    let decided = on_pool!(store, |pool| {
        sqlx::query(
            "UPDATE approval_gates SET state = $1, decision = $2, decided_ms = $3 \
             WHERE id = $4 AND state = 'pending' AND vote_count = $5",
        )
        .bind(state.as_str())
        .bind(&text)
        .bind(now)
        .bind(gate_id)
        .bind(i64::try_from(votes_seen).unwrap_or(i64::MAX))
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(decided == 1)
}
