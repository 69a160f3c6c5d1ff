//! Releases in the conformance suite: append, list with filters, the last
//! successful release, and append-only.
//!
//! `sql_conformance_suite!` expands `sql_releases_suite!` too, so every
//! backend runs these.

use serde_json::json;
use slipway_store::sql::*;

use super::{Fixture, HOSTILE, project_and_run, raw};

#[macro_export]
macro_rules! sql_releases_suite {
    ($make:path) => {
        $crate::sql_releases_suite!(@tests $make;
            releases_append_and_list,
            last_successful_release,
            releases_are_append_only,
            releases_refuse_bad_input,
        );
    };
    (@tests $make:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $make().await;
                sql_conformance::releases::$name(&fixture).await;
                fixture.store.close().await;
            }
        )+
    };
}

fn release(
    project_id: Id,
    run_id: Id,
    environment: &str,
    digest: &str,
    outcome: ReleaseOutcome,
    finished_ms: i64,
) -> NewRelease {
    NewRelease {
        project_id,
        run_id: Some(run_id),
        job_key: format!("deploy-{environment}"),
        environment: environment.into(),
        digest: digest.into(),
        artifact_name: "app".into(),
        kind: ReleaseKind::Deploy,
        outcome,
        commit_sha: Some("aaa".into()),
        commit_time_ms: Some(500_000),
        started_ms: finished_ms - 1_000,
        finished_ms,
        record: json!({
            "environment": environment,
            "digest": digest,
            "approvals": [{"job_key": "gate", "approved": true}],
            "verifications": [{"verdict": "pass", "metrics": [{"name": "errors", "p": 0.4}]}],
        }),
    }
}

fn ids(releases: &[Release]) -> Vec<Id> {
    releases.iter().map(|r| r.id).collect()
}

pub async fn releases_append_and_list(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "shop").await;
    let (other, other_run) = project_and_run(s, "other").await;
    f.clock
        .store(2_000_000, std::sync::atomic::Ordering::SeqCst);
    let a = s
        .append_release(release(
            project.id,
            run.id,
            "staging",
            "d1",
            ReleaseOutcome::Succeeded,
            1_100_000,
        ))
        .await
        .expect("append a");
    assert_eq!(a.recorded_ms, 2_000_000);
    assert_eq!(a.environment, "staging");
    assert_eq!(a.kind, ReleaseKind::Deploy);
    assert_eq!(a.outcome, ReleaseOutcome::Succeeded);
    assert_eq!(a.record["verifications"][0]["metrics"][0]["p"], 0.4);
    let b = s
        .append_release(release(
            project.id,
            run.id,
            "production",
            "d1",
            ReleaseOutcome::RolledBack,
            1_200_000,
        ))
        .await
        .expect("append b");
    let c = s
        .append_release(NewRelease {
            kind: ReleaseKind::Release,
            commit_sha: None,
            commit_time_ms: None,
            ..release(
                project.id,
                run.id,
                "staging",
                "d2",
                ReleaseOutcome::Failed,
                1_300_000,
            )
        })
        .await
        .expect("append c");
    let elsewhere = s
        .append_release(release(
            other.id,
            other_run.id,
            "staging",
            "d1",
            ReleaseOutcome::Succeeded,
            1_400_000,
        ))
        .await
        .expect("append in another project");
    assert!(a.id < b.id && b.id < c.id);
    assert_eq!(s.release(c.id).await.expect("by id"), c);
    assert_eq!(c.kind, ReleaseKind::Release);
    assert_eq!(c.commit_sha, None);
    assert!(matches!(
        s.release(elsewhere.id + 1000).await,
        Err(SqlError::NotFound { .. })
    ));

    let all = s
        .list_releases(project.id, &ReleaseFilter::default())
        .await
        .expect("list");
    assert_eq!(ids(&all), [a.id, b.id, c.id], "oldest first, this project");
    assert_eq!(all[1], b);
    let staging = s
        .list_releases(
            project.id,
            &ReleaseFilter {
                environment: Some("staging".into()),
                ..ReleaseFilter::default()
            },
        )
        .await
        .expect("staging");
    assert_eq!(ids(&staging), [a.id, c.id]);
    let since = s
        .list_releases(
            project.id,
            &ReleaseFilter {
                since_ms: Some(1_200_000),
                ..ReleaseFilter::default()
            },
        )
        .await
        .expect("since");
    assert_eq!(ids(&since), [b.id, c.id], "finished at or after");
    let oldest_two = s
        .list_releases(
            project.id,
            &ReleaseFilter {
                limit: 2,
                ..ReleaseFilter::default()
            },
        )
        .await
        .expect("limit");
    assert_eq!(ids(&oldest_two), [a.id, b.id]);
    let newest_two = s
        .list_releases(
            project.id,
            &ReleaseFilter {
                limit: 2,
                newest_first: true,
                ..ReleaseFilter::default()
            },
        )
        .await
        .expect("newest");
    assert_eq!(ids(&newest_two), [c.id, b.id]);
    let none = s
        .list_releases(
            project.id,
            &ReleaseFilter {
                environment: Some("nowhere".into()),
                ..ReleaseFilter::default()
            },
        )
        .await
        .expect("empty");
    assert!(none.is_empty());
}

pub async fn last_successful_release(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "shop").await;
    let last = |env: Option<&'static str>, digest: Option<&'static str>| {
        let project_id = project.id;
        async move {
            s.last_successful_release(project_id, env, digest)
                .await
                .expect("last")
                .map(|r| r.id)
        }
    };
    assert_eq!(last(Some("staging"), None).await, None, "nothing yet");
    let mut appended = Vec::new();
    for (env, digest, outcome, at) in [
        ("staging", "d1", ReleaseOutcome::Succeeded, 1_100_000),
        ("staging", "d2", ReleaseOutcome::Succeeded, 1_200_000),
        ("staging", "d3", ReleaseOutcome::Failed, 1_300_000),
        ("production", "d1", ReleaseOutcome::Succeeded, 1_400_000),
        ("staging", "d4", ReleaseOutcome::RolledBack, 1_500_000),
        ("staging", "d5", ReleaseOutcome::Cancelled, 1_600_000),
    ] {
        let r = s
            .append_release(release(project.id, run.id, env, digest, outcome, at))
            .await
            .expect("append");
        appended.push(r.id);
    }
    assert_eq!(last(Some("staging"), None).await, Some(appended[1]));
    assert_eq!(last(Some("staging"), Some("d1")).await, Some(appended[0]));
    assert_eq!(last(Some("staging"), Some("d3")).await, None, "failed");
    assert_eq!(last(Some("staging"), Some("d4")).await, None, "rolled back");
    assert_eq!(last(Some("staging"), Some("d5")).await, None, "cancelled");
    assert_eq!(last(Some("production"), Some("d2")).await, None);
    assert_eq!(last(None, None).await, Some(appended[3]), "any environment");
    assert_eq!(last(None, Some("d2")).await, Some(appended[1]));
    assert_eq!(last(Some("qa"), None).await, None);
}

pub async fn releases_are_append_only(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "shop").await;
    let r = s
        .append_release(release(
            project.id,
            run.id,
            "production",
            "d1",
            ReleaseOutcome::Failed,
            1_100_000,
        ))
        .await
        .expect("append");
    assert!(
        raw(s, "UPDATE releases SET outcome = 'succeeded'")
            .await
            .is_err(),
        "UPDATE refused"
    );
    assert!(
        raw(s, "DELETE FROM releases").await.is_err(),
        "DELETE refused"
    );
    assert_eq!(s.release(r.id).await.expect("still there"), r);
}

pub async fn releases_refuse_bad_input(f: &Fixture) {
    let s = &f.store;
    let (project, run) = project_and_run(s, "shop").await;
    let good = || {
        release(
            project.id,
            run.id,
            "staging",
            "d1",
            ReleaseOutcome::Succeeded,
            1_100_000,
        )
    };
    let refused = [
        NewRelease {
            record: json!([1, 2]),
            ..good()
        },
        NewRelease {
            environment: String::new(),
            ..good()
        },
        NewRelease {
            environment: "st\0ging".into(),
            ..good()
        },
        NewRelease {
            digest: String::new(),
            ..good()
        },
        NewRelease {
            job_key: "x".repeat(2000),
            ..good()
        },
    ];
    for new in refused {
        let shown = format!("{new:?}");
        assert!(
            matches!(s.append_release(new).await, Err(SqlError::Invalid { .. })),
            "{shown}"
        );
    }
    assert!(matches!(
        s.append_release(NewRelease {
            project_id: project.id + 1000,
            run_id: None,
            ..good()
        })
        .await,
        Err(SqlError::NotFound { .. })
    ));
    assert!(matches!(
        s.append_release(NewRelease {
            run_id: Some(run.id + 1000),
            ..good()
        })
        .await,
        Err(SqlError::NotFound { .. })
    ));
    assert!(matches!(
        s.last_successful_release(project.id, Some("a\0b"), None)
            .await,
        Err(SqlError::Invalid { .. })
    ));
    assert!(
        s.list_releases(project.id, &ReleaseFilter::default())
            .await
            .expect("list")
            .is_empty(),
        "nothing refused was stored"
    );
    for hostile in HOSTILE {
        let stored = s
            .append_release(NewRelease {
                environment: (*hostile).into(),
                digest: (*hostile).into(),
                artifact_name: (*hostile).into(),
                record: json!({ "message": hostile }),
                ..good()
            })
            .await
            .expect("hostile text is data");
        assert_eq!(s.release(stored.id).await.expect("read"), stored);
        assert_eq!(stored.environment, *hostile);
        let found = s
            .last_successful_release(project.id, Some(hostile), Some(hostile))
            .await
            .expect("by hostile name");
        assert_eq!(found.map(|r| r.id), Some(stored.id));
    }
}
