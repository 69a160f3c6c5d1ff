//! Approval gates in the conformance suite: opening (idempotent), one vote
//! per user, deadlines, the decision as a compare-and-set, pending gates of
//! a project, and who started a run.
//!
//! `sql_conformance_suite!` expands `sql_approvals_suite!` too, so every
//! backend runs these.

use std::sync::atomic::Ordering;

use serde_json::json;
use slipway_store::sql::*;

use super::{Fixture, HOSTILE, new_run, project_and_run};

#[macro_export]
macro_rules! sql_approvals_suite {
    ($make:path) => {
        $crate::sql_approvals_suite!(@tests $make;
            approval_gates_open_once_and_take_one_vote_per_user,
            approval_gates_are_decided_once,
            approval_votes_stop_at_the_deadline,
            approval_gates_of_runs_and_projects,
            approval_gates_refuse_bad_input,
            approval_votes_keep_hostile_text,
            runs_remember_who_started_them,
            approval_gates_keep_the_first_message,
            a_decision_made_before_the_last_vote_is_refused,
        );
    };
    (@tests $make:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $make().await;
                sql_conformance::approvals::$name(&fixture).await;
                fixture.store.close().await;
            }
        )+
    };
}

fn gate(run_id: Id, job_key: &str, gate: &str, required: u32, deadline_ms: i64) -> NewGate {
    NewGate {
        run_id,
        job_key: job_key.into(),
        gate: gate.into(),
        required,
        deadline_ms,
        message: None,
    }
}

fn vote(user: &str, approved: bool) -> NewVote {
    NewVote {
        user: user.into(),
        approved,
        comment: None,
        inputs: json!({}),
    }
}

fn conflict(result: Result<ApprovalGate, SqlError>) -> String {
    match result {
        Err(SqlError::Conflict { reason }) => reason,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub async fn approval_gates_open_once_and_take_one_vote_per_user(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "shop").await;
    let opened = s
        .open_gate(gate(run.id, "sign-off", "", 2, 1_060_000))
        .await
        .expect("open");
    assert_eq!(opened.state, GateState::Pending);
    assert_eq!(
        (opened.required, opened.opened_ms, opened.deadline_ms),
        (2, 1_000_000, 1_060_000)
    );
    assert!(opened.votes.is_empty() && opened.decision.is_none());

    // Opening again (an agent asking after a restart) keeps the stored gate.
    f.clock.store(1_010_000, Ordering::SeqCst);
    let again = s
        .open_gate(gate(run.id, "sign-off", "", 2, 9_999_999))
        .await
        .expect("open again");
    assert_eq!(again, opened);

    let after_alice = s
        .add_vote(
            opened.id,
            NewVote {
                comment: Some("looks good".into()),
                inputs: json!({"ticket": "OPS-1"}),
                ..vote("alice", true)
            },
        )
        .await
        .expect("alice votes");
    assert_eq!(after_alice.state, GateState::Pending);
    assert_eq!(
        after_alice.votes,
        [GateVote {
            user: "alice".into(),
            approved: true,
            comment: Some("looks good".into()),
            inputs: json!({"ticket": "OPS-1"}),
            at_ms: 1_010_000,
        }]
    );
    let twice = conflict(s.add_vote(opened.id, vote("alice", false)).await);
    assert!(twice.contains("`alice` has already voted"), "{twice}");

    let after_bob = s
        .add_vote(opened.id, vote("bob", true))
        .await
        .expect("bob votes");
    let voters: Vec<&str> = after_bob.votes.iter().map(|v| v.user.as_str()).collect();
    assert_eq!(voters, ["alice", "bob"]);
    let read = s
        .approval_gate(run.id, "sign-off", "")
        .await
        .expect("read")
        .expect("the gate exists");
    assert_eq!(read, after_bob);
    assert_eq!(
        s.approval_gate(run.id, "sign-off", "canary step 1")
            .await
            .expect("read other gate"),
        None
    );
}

pub async fn approval_gates_are_decided_once(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "shop").await;
    let opened = s
        .open_gate(gate(run.id, "deploy", "canary step 2", 3, 2_000_000))
        .await
        .expect("open");
    // Eight people vote at once and each tries to decide: one decision wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        let id = opened.id;
        tasks.push(tokio::spawn(async move {
            let gate = s.add_vote(id, vote(&format!("user{i}"), true)).await;
            match gate {
                Ok(gate) if gate.votes.len() >= 3 => s
                    .decide_gate(
                        id,
                        GateState::Approved,
                        &json!({"by": i, "votes": gate.votes.len()}),
                        gate.votes.len(),
                    )
                    .await
                    .expect("decide"),
                Ok(_) => false,
                // Decided by another before this vote went in.
                Err(SqlError::Conflict { .. }) => false,
                Err(other) => panic!("vote: {other}"),
            }
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    let decided = s
        .approval_gate(run.id, "deploy", "canary step 2")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(decided.state, GateState::Approved);
    assert_eq!(decided.decided_ms, Some(1_000_000));
    assert!(decided.decision.as_ref().is_some_and(|d| d["by"].is_u64()));
    assert!(decided.votes.len() >= 3, "{decided:?}");
    // Every vote stored is one the decision was made from.
    assert_eq!(
        decided.decision.as_ref().map(|d| d["votes"].clone()),
        Some(json!(decided.votes.len())),
        "{decided:?}"
    );

    // Decided: no second decision, no more votes.
    assert!(
        !s.decide_gate(
            opened.id,
            GateState::Rejected,
            &json!({}),
            decided.votes.len()
        )
        .await
        .expect("decide again")
    );
    let late = conflict(s.add_vote(opened.id, vote("zoe", true)).await);
    assert!(late.contains("already decided: approved"), "{late}");
    let still = s
        .approval_gate(run.id, "deploy", "canary step 2")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(still, decided);
    // A gate that does not exist is not decided.
    assert!(
        !s.decide_gate(opened.id + 1000, GateState::Rejected, &json!({}), 0)
            .await
            .expect("decide missing")
    );
}

pub async fn approval_votes_stop_at_the_deadline(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "shop").await;
    let soon = s
        .open_gate(gate(run.id, "a", "", 1, 1_002_000))
        .await
        .expect("open a");
    let later = s
        .open_gate(gate(run.id, "b", "", 1, 1_005_000))
        .await
        .expect("open b");
    assert!(s.overdue_gates(0).await.expect("overdue").is_empty());

    f.clock.store(1_002_000, Ordering::SeqCst);
    let late = conflict(s.add_vote(soon.id, vote("alice", true)).await);
    assert!(late.contains("deadline has passed"), "{late}");
    let overdue = s.overdue_gates(0).await.expect("overdue");
    assert_eq!(overdue.iter().map(|g| g.id).collect::<Vec<_>>(), [soon.id]);
    // The other gate still takes votes.
    s.add_vote(later.id, vote("alice", true))
        .await
        .expect("vote before its deadline");

    f.clock.store(1_010_000, Ordering::SeqCst);
    let overdue = s.overdue_gates(1).await.expect("overdue, limited");
    assert_eq!(
        overdue.iter().map(|g| g.id).collect::<Vec<_>>(),
        [soon.id],
        "oldest deadline first, at most the limit"
    );
    assert!(
        s.decide_gate(soon.id, GateState::TimedOut, &json!({"approved": false}), 0)
            .await
            .expect("time out")
    );
    let overdue = s.overdue_gates(0).await.expect("overdue");
    assert_eq!(overdue.iter().map(|g| g.id).collect::<Vec<_>>(), [later.id]);
}

pub async fn approval_gates_of_runs_and_projects(f: &Fixture) {
    let s = &f.store;
    let (shop, run) = project_and_run(s, "shop").await;
    let (other, other_run) = project_and_run(s, "other").await;
    let second_run = s
        .create_run(new_run(shop.id, "main", "bbb"))
        .await
        .expect("second run");
    let first = s
        .open_gate(gate(run.id, "gate", "", 1, 2_000_000))
        .await
        .expect("open");
    let decided = s
        .open_gate(gate(run.id, "deploy", "canary step 1", 1, 2_000_000))
        .await
        .expect("open");
    let in_second = s
        .open_gate(gate(second_run.id, "gate", "", 2, 2_000_000))
        .await
        .expect("open");
    s.open_gate(gate(other_run.id, "gate", "", 1, 2_000_000))
        .await
        .expect("open elsewhere");
    s.add_vote(in_second.id, vote("carol", true))
        .await
        .expect("vote");
    s.add_vote(decided.id, vote("carol", false))
        .await
        .expect("vote");
    assert!(
        s.decide_gate(
            decided.id,
            GateState::Rejected,
            &json!({"approved": false}),
            1
        )
        .await
        .expect("decide")
    );

    let of_run = s.run_gates(run.id).await.expect("run gates");
    assert_eq!(
        of_run.iter().map(|g| g.id).collect::<Vec<_>>(),
        [first.id, decided.id]
    );
    assert_eq!(of_run[1].votes.len(), 1);
    assert_eq!(of_run[1].state, GateState::Rejected);

    let pending = s.pending_gates(shop.id).await.expect("pending");
    assert_eq!(
        pending.iter().map(|g| g.id).collect::<Vec<_>>(),
        [first.id, in_second.id]
    );
    assert_eq!(pending[1].votes.len(), 1);
    assert_eq!(pending[1].votes[0].user, "carol");
    assert_eq!(s.pending_gates(other.id).await.expect("other").len(), 1);
    assert!(s.run_gates(run.id + 1000).await.expect("none").is_empty());
}

pub async fn approval_gates_refuse_bad_input(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "shop").await;
    let none = s.open_gate(gate(run.id, "g", "", 0, 2_000_000)).await;
    assert!(matches!(none, Err(SqlError::Invalid { .. })), "{none:?}");
    let empty_key = s.open_gate(gate(run.id, "", "", 1, 2_000_000)).await;
    assert!(
        matches!(empty_key, Err(SqlError::Invalid { .. })),
        "{empty_key:?}"
    );
    let nul = s.open_gate(gate(run.id, "g", "a\0b", 1, 2_000_000)).await;
    assert!(matches!(nul, Err(SqlError::Invalid { .. })), "{nul:?}");
    let unknown_run = s
        .open_gate(gate(run.id + 1000, "g", "", 1, 2_000_000))
        .await;
    assert!(
        matches!(unknown_run, Err(SqlError::NotFound { .. })),
        "{unknown_run:?}"
    );

    let opened = s
        .open_gate(gate(run.id, "g", "", 1, 2_000_000))
        .await
        .expect("open");
    let not_object = s
        .add_vote(
            opened.id,
            NewVote {
                inputs: json!(["x"]),
                ..vote("alice", true)
            },
        )
        .await;
    assert!(
        matches!(not_object, Err(SqlError::Invalid { .. })),
        "{not_object:?}"
    );
    let nobody = s.add_vote(opened.id, vote("", true)).await;
    assert!(
        matches!(nobody, Err(SqlError::Invalid { .. })),
        "{nobody:?}"
    );
    let missing = s.add_vote(opened.id + 1000, vote("alice", true)).await;
    assert!(
        matches!(missing, Err(SqlError::NotFound { .. })),
        "{missing:?}"
    );
    let pending = s
        .decide_gate(opened.id, GateState::Pending, &json!({}), 0)
        .await;
    assert!(
        matches!(pending, Err(SqlError::Invalid { .. })),
        "{pending:?}"
    );
    // Nothing of the refused calls was stored.
    let read = s
        .approval_gate(run.id, "g", "")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, opened);
}

pub async fn approval_votes_keep_hostile_text(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "shop").await;
    for (i, text) in HOSTILE.iter().enumerate() {
        let opened = s
            .open_gate(gate(run.id, text, text, 1, 2_000_000))
            .await
            .expect("open");
        let voted = s
            .add_vote(
                opened.id,
                NewVote {
                    user: format!("{text}{i}"),
                    approved: false,
                    comment: Some((*text).to_string()),
                    inputs: json!({ *text: *text }),
                },
            )
            .await
            .expect("vote");
        let decision = json!({ "reason": text });
        assert!(
            s.decide_gate(opened.id, GateState::Rejected, &decision, 1)
                .await
                .expect("decide")
        );
        let read = s
            .approval_gate(run.id, text, text)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!((read.job_key.as_str(), read.gate.as_str()), (*text, *text));
        assert_eq!(read.votes, voted.votes);
        assert_eq!(read.votes[0].comment.as_deref(), Some(*text));
        assert_eq!(read.votes[0].inputs, json!({ *text: *text }));
        assert_eq!(read.decision, Some(decision));
    }
}

pub async fn runs_remember_who_started_them(f: &Fixture) {
    let s = &f.store;
    let (project, unattributed) = project_and_run(s, "shop").await;
    assert_eq!(unattributed.triggered_by, None);
    let run = s
        .create_run(NewRun {
            triggered_by: Some("alice".into()),
            ..new_run(project.id, "main", "bbb")
        })
        .await
        .expect("run");
    assert_eq!(run.triggered_by.as_deref(), Some("alice"));
    assert_eq!(s.run(run.id).await.expect("read"), run);
    let listed = s
        .list_runs(project.id, &RunFilter::default())
        .await
        .expect("list");
    assert_eq!(listed.first(), Some(&run));
    let nul = s
        .create_run(NewRun {
            triggered_by: Some("a\0b".into()),
            ..new_run(project.id, "main", "ccc")
        })
        .await;
    assert!(matches!(nul, Err(SqlError::Invalid { .. })), "{nul:?}");
}

pub async fn approval_gates_keep_the_first_message(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "shop").await;
    let asked = format!("Ship {}?\nTicket needed.", HOSTILE.join(" "));
    let opened = s
        .open_gate(NewGate {
            message: Some(asked.clone()),
            ..gate(run.id, "sign-off", "", 1, 1_060_000)
        })
        .await
        .expect("open");
    assert_eq!(opened.message.as_deref(), Some(asked.as_str()));
    // Opening again keeps the first message, whatever the second says.
    let again = s
        .open_gate(NewGate {
            message: Some("something else".into()),
            ..gate(run.id, "sign-off", "", 1, 1_060_000)
        })
        .await
        .expect("open again");
    assert_eq!(again.message.as_deref(), Some(asked.as_str()));
    let listed = s.run_gates(run.id).await.expect("gates");
    assert_eq!(listed[0].message.as_deref(), Some(asked.as_str()));

    // A gate without one, and one too long or with NUL: cut and cleaned,
    // never refused (a refused gate would fail the job).
    let none = s
        .open_gate(gate(run.id, "deploy", "canary step 2", 1, 1_060_000))
        .await
        .expect("open");
    assert_eq!(none.message, None);
    let long = format!("a\0b{}", "é".repeat(MAX_GATE_MESSAGE));
    let cut = s
        .open_gate(NewGate {
            message: Some(long),
            ..gate(run.id, "deploy", "canary step 4", 1, 1_060_000)
        })
        .await
        .expect("open");
    let stored = cut.message.expect("message");
    assert!(stored.len() <= MAX_GATE_MESSAGE, "{}", stored.len());
    assert!(
        stored.starts_with("abéé") && stored.ends_with('…'),
        "{stored}"
    );
}

pub async fn a_decision_made_before_the_last_vote_is_refused(f: &Fixture) {
    let s = &f.store;
    let (_, run) = project_and_run(s, "shop").await;
    let opened = s
        .open_gate(gate(run.id, "sign-off", "", 1, 2_000_000))
        .await
        .expect("open");
    let after_alice = s
        .add_vote(opened.id, vote("alice", true))
        .await
        .expect("vote");
    // Bob rejects between Alice's vote and the decision it would make.
    s.add_vote(opened.id, vote("bob", false))
        .await
        .expect("vote");
    assert!(
        !s.decide_gate(
            opened.id,
            GateState::Approved,
            &json!({}),
            after_alice.votes.len()
        )
        .await
        .expect("decide"),
        "decided without bob's vote"
    );
    let read = s
        .approval_gate(run.id, "sign-off", "")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.state, GateState::Pending);
    assert!(
        s.decide_gate(opened.id, GateState::Rejected, &json!({}), read.votes.len())
            .await
            .expect("decide")
    );
}
