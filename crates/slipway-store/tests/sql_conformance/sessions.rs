//! Web UI logins in the conformance suite: password hashes on users and
//! session tokens that expire.
//!
//! `sql_conformance_suite!` expands `sql_sessions_suite!` too, so every
//! backend runs these.

use std::sync::atomic::Ordering;

use slipway_store::sql::*;

use super::Fixture;

#[macro_export]
macro_rules! sql_sessions_suite {
    ($make:path) => {
        $crate::sql_sessions_suite!(@tests $make;
            password_hash_round_trip,
            sessions_expire_and_revoke,
            dead_sessions_are_deleted_and_other_tokens_kept,
        );
    };
    (@tests $make:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $make().await;
                sql_conformance::sessions::$name(&fixture).await;
                fixture.store.close().await;
            }
        )+
    };
}

pub async fn password_hash_round_trip(f: &Fixture) {
    let s = &f.store;
    let alice = s.create_user("alice", false).await.expect("user");
    let (user, hash) = s.user_with_password_hash("alice").await.expect("user");
    assert_eq!(user, alice);
    assert_eq!(hash, None, "a new user has no password");
    let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'; --";
    s.set_password_hash(alice.id, Some(phc)).await.expect("set");
    let (_, hash) = s.user_with_password_hash("alice").await.expect("user");
    assert_eq!(hash.as_deref(), Some(phc));
    s.set_password_hash(alice.id, None).await.expect("clear");
    assert_eq!(
        s.user_with_password_hash("alice").await.expect("user").1,
        None
    );
    assert!(matches!(
        s.set_password_hash(9999, Some("x")).await.unwrap_err(),
        SqlError::NotFound { what: "user", .. }
    ));
    assert!(matches!(
        s.user_with_password_hash("nobody").await.unwrap_err(),
        SqlError::NotFound { .. }
    ));
    assert!(matches!(
        s.user_with_password_hash("bad name'").await.unwrap_err(),
        SqlError::Invalid { .. }
    ));
}

pub async fn sessions_expire_and_revoke(f: &Fixture) {
    let s = &f.store;
    let bob = s.create_user("bob", false).await.expect("user");
    f.clock.store(1_000, Ordering::SeqCst);
    let (info, clear) = s.create_session(bob.id, 2_000).await.expect("session");
    assert_eq!(info.kind, TokenKind::Session);
    assert_eq!(info.user_name, "bob");

    f.clock.store(1_999, Ordering::SeqCst);
    let found = s.authenticate(&clear).await.expect("auth").expect("valid");
    assert_eq!(found.id, info.id);
    assert_eq!(found.kind, TokenKind::Session);

    f.clock.store(2_000, Ordering::SeqCst);
    assert!(
        s.authenticate(&clear).await.expect("auth").is_none(),
        "expired at expires_ms"
    );

    // Personal tokens never expire; a revoked session (logout) is dead.
    let (_, personal) = s
        .create_token(bob.id, "laptop", TokenKind::Personal)
        .await
        .expect("token");
    f.clock.store(i64::MAX - 1, Ordering::SeqCst);
    assert!(s.authenticate(&personal).await.expect("auth").is_some());
    f.clock.store(1_500, Ordering::SeqCst);
    let (second, clear2) = s.create_session(bob.id, 10_000).await.expect("session");
    assert!(s.authenticate(&clear2).await.expect("auth").is_some());
    s.revoke_token(second.id).await.expect("revoke");
    assert!(s.authenticate(&clear2).await.expect("auth").is_none());
    // A session of a user that does not exist is refused.
    assert!(matches!(
        s.create_session(9999, 10_000).await.unwrap_err(),
        SqlError::NotFound { what: "user", .. }
    ));
}

pub async fn dead_sessions_are_deleted_and_other_tokens_kept(f: &Fixture) {
    let s = &f.store;
    let carol = s.create_user("carol", false).await.expect("user");
    f.clock.store(1_000, Ordering::SeqCst);
    let (expired, _) = s.create_session(carol.id, 2_000).await.expect("session");
    let (logged_out, _) = s.create_session(carol.id, 50_000).await.expect("session");
    let (live, live_clear) = s.create_session(carol.id, 50_000).await.expect("session");
    let (personal, personal_clear) = s
        .create_token(carol.id, "laptop", TokenKind::Personal)
        .await
        .expect("token");
    let (revoked_personal, _) = s
        .create_token(carol.id, "old", TokenKind::Personal)
        .await
        .expect("token");
    s.revoke_token(logged_out.id).await.expect("revoke");
    s.revoke_token(revoked_personal.id).await.expect("revoke");

    f.clock.store(2_000, Ordering::SeqCst);
    assert_eq!(s.delete_dead_sessions().await.expect("sweep"), 2);
    let left: Vec<Id> = s
        .list_tokens(carol.id)
        .await
        .expect("tokens")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, vec![live.id, personal.id, revoked_personal.id]);
    assert!(!left.contains(&expired.id));
    assert!(s.authenticate(&live_clear).await.expect("auth").is_some());
    assert!(
        s.authenticate(&personal_clear)
            .await
            .expect("auth")
            .is_some()
    );
    // Nothing more to delete until the live session expires.
    assert_eq!(s.delete_dead_sessions().await.expect("sweep"), 0);
    f.clock.store(50_000, Ordering::SeqCst);
    assert_eq!(s.delete_dead_sessions().await.expect("sweep"), 1);
}
