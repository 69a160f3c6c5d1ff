//! The client against a real HAProxy (see `support`): states, drain, maint, weights, waiting
//! for sessions, errors that list names, and re-applying intent after a reload.

mod support;

use std::time::Duration;

use slipway_lb::{
    Change, DesiredServer, DesiredState, DrainOutcome, Endpoint, HaproxyClient, LbError,
    OperationalState, State, Weight,
};
use support::{Haproxy, SERVERS, get};
use tokio::time::{Instant, sleep};

fn count(tally: &std::collections::HashMap<String, usize>, name: &str) -> usize {
    tally.get(name).copied().unwrap_or(0)
}

#[tokio::test]
async fn lists_servers_with_states_weights_and_sessions() {
    let haproxy = Haproxy::start().await;
    let servers = haproxy.client().servers("app").await.unwrap();
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, SERVERS);
    for server in &servers {
        assert_eq!(server.admin, State::Ready, "{server:?}");
        assert_eq!(server.operational, OperationalState::Running, "{server:?}");
        assert_eq!((server.weight, server.initial_weight), (100, 100));
        assert_eq!(server.sessions, 0);
        assert!(server.addr.starts_with("127.0.0.1:"), "{server:?}");
    }
}

#[tokio::test]
async fn drained_server_gets_no_new_requests_and_serves_again_when_ready() {
    let haproxy = Haproxy::start().await;
    let client = haproxy.client();
    client.set_state("app", "b", State::Drain).await.unwrap();
    assert_eq!(client.server("app", "b").await.unwrap().admin, State::Drain);
    let tally = haproxy.tally(30).await;
    assert_eq!(count(&tally, "b"), 0, "{tally:?}");
    assert_eq!(count(&tally, "a") + count(&tally, "c"), 30, "{tally:?}");

    client.set_state("app", "b", State::Ready).await.unwrap();
    assert_eq!(client.server("app", "b").await.unwrap().admin, State::Ready);
    let tally = haproxy.tally(30).await;
    assert!(count(&tally, "b") > 0, "{tally:?}");
}

#[tokio::test]
async fn maint_server_gets_no_traffic() {
    let haproxy = Haproxy::start().await;
    let client = haproxy.client();
    client.set_state("app", "c", State::Maint).await.unwrap();
    let c = client.server("app", "c").await.unwrap();
    assert_eq!(c.admin, State::Maint);
    assert_eq!(c.operational, OperationalState::Stopped);
    let tally = haproxy.tally(30).await;
    assert_eq!(count(&tally, "c"), 0, "{tally:?}");
}

#[tokio::test]
async fn weights_move_traffic() {
    let haproxy = Haproxy::start().await;
    let client = haproxy.client();
    client
        .set_weight("app", "c", Weight::Absolute(0))
        .await
        .unwrap();
    let tally = haproxy.tally(30).await;
    assert_eq!(count(&tally, "c"), 0, "{tally:?}");

    // 1:3 as percentages of the configured weight 100.
    client
        .set_weight("app", "a", Weight::Percent(25))
        .await
        .unwrap();
    client
        .set_weight("app", "b", Weight::Percent(75))
        .await
        .unwrap();
    let a = client.server("app", "a").await.unwrap();
    assert_eq!((a.weight, a.initial_weight), (25, 100));
    let tally = haproxy.tally(400).await;
    let (a, b) = (count(&tally, "a"), count(&tally, "b"));
    assert_eq!(a + b, 400, "{tally:?}");
    assert!(
        (60..=140).contains(&a),
        "a got {a} of 400, expected about 100: {tally:?}"
    );

    // Absolute weights are refused above 256 before anything is sent.
    let error = client
        .set_weight("app", "a", Weight::Absolute(300))
        .await
        .unwrap_err();
    assert!(matches!(error, LbError::InvalidWeight(_)), "{error}");
}

#[tokio::test]
async fn wait_drained_waits_for_a_long_lived_session() {
    let haproxy = Haproxy::start().await;
    let client = haproxy.client();
    let frontend = haproxy.frontend;
    let slow = tokio::spawn(async move { get(frontend, "/slow").await });

    // Find which server holds the slow request (a bound, not a timing assertion).
    let deadline = Instant::now() + Duration::from_secs(10);
    let busy = loop {
        let servers = client.servers("app").await.unwrap();
        if let Some(busy) = servers.into_iter().find(|s| s.sessions > 0) {
            break busy;
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never reached a server"
        );
        sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(busy.sessions, 1);

    client
        .set_state("app", &busy.name, State::Drain)
        .await
        .unwrap();
    let outcome = client
        .wait_drained(
            "app",
            &busy.name,
            Duration::from_millis(200),
            Duration::from_millis(50),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DrainOutcome::TimedOut { sessions: 1 });

    haproxy.release_slow.send_replace(true);
    let outcome = client
        .wait_drained(
            "app",
            &busy.name,
            Duration::from_secs(10),
            Duration::from_millis(20),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DrainOutcome::Drained);
    assert_eq!(slow.await.unwrap(), busy.name);

    let error = client
        .wait_drained("app", "a", Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(error, LbError::InvalidPoll(_)), "{error}");
}

#[tokio::test]
async fn unknown_backend_and_server_errors_list_the_names_haproxy_has() {
    let haproxy = Haproxy::start().await;
    let client = haproxy.client();

    let error = client.servers("nope").await.unwrap_err();
    match &error {
        LbError::UnknownBackend { backend, known } => {
            assert_eq!(backend, "nope");
            assert_eq!(known, &["app", "other"]);
        }
        other => panic!("expected UnknownBackend, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("`nope`") && message.contains("app, other"),
        "{message}"
    );

    let error = client
        .set_weight("nope", "a", Weight::Absolute(1))
        .await
        .unwrap_err();
    assert!(matches!(error, LbError::UnknownBackend { .. }), "{error}");

    let error = client
        .set_state("app", "zz", State::Drain)
        .await
        .unwrap_err();
    match &error {
        LbError::UnknownServer {
            backend,
            server,
            known,
        } => {
            assert_eq!((backend.as_str(), server.as_str()), ("app", "zz"));
            assert_eq!(known, &SERVERS);
        }
        other => panic!("expected UnknownServer, got {other:?}"),
    }
    assert!(error.to_string().contains("a, b, c"), "{error}");

    let error = client
        .wait_drained(
            "app",
            "zz",
            Duration::from_secs(1),
            Duration::from_millis(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, LbError::UnknownServer { .. }), "{error}");

    let error = client
        .set_state("app b", "a", State::Drain)
        .await
        .unwrap_err();
    assert!(matches!(error, LbError::InvalidName { .. }), "{error}");
}

#[tokio::test]
async fn a_refused_command_carries_haproxys_message() {
    let haproxy = Haproxy::start().await;
    // `balance source` is a static algorithm: HAProxy accepts only 0% and 100% there.
    let error = haproxy
        .client()
        .set_weight("other", "z", Weight::Absolute(7))
        .await
        .unwrap_err();
    match &error {
        LbError::Refused { command, message } => {
            assert_eq!(command, "set weight other/z 7");
            assert!(message.contains("static"), "{message}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_socket_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sock");
    let error = HaproxyClient::new(Endpoint::Unix(path.clone()))
        .servers("app")
        .await
        .unwrap_err();
    assert!(matches!(error, LbError::Unreachable { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "HAProxy runtime API at {} not reachable: ",
            path.display()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn tcp_endpoint_works_like_the_unix_socket() {
    let haproxy = Haproxy::start().await;
    let client = HaproxyClient::new(Endpoint::Tcp(haproxy.admin_tcp));
    client.set_state("app", "a", State::Drain).await.unwrap();
    let servers = client.servers("app").await.unwrap();
    assert_eq!(servers.len(), 3);
    assert_eq!(servers[0].admin, State::Drain);
}

#[tokio::test]
async fn apply_restores_intent_after_a_reload() {
    let haproxy = Haproxy::start().await;
    let client = haproxy.client();
    let desired = DesiredState {
        backend: "app".to_owned(),
        servers: vec![
            DesiredServer {
                name: "a".to_owned(),
                state: State::Ready,
                weight: Some(Weight::Percent(25)),
            },
            DesiredServer {
                name: "b".to_owned(),
                state: State::Drain,
                weight: None,
            },
            DesiredServer {
                name: "c".to_owned(),
                state: State::Ready,
                weight: Some(Weight::Absolute(100)),
            },
        ],
    };
    let changes = client.apply(&desired).await.unwrap();
    assert_eq!(
        changes,
        vec![
            Change::Weight {
                server: "a".to_owned(),
                from: 100,
                to: 25
            },
            Change::State {
                server: "b".to_owned(),
                from: State::Ready,
                to: State::Drain
            },
        ]
    );
    assert_eq!(
        client.apply(&desired).await.unwrap(),
        vec![],
        "second apply changed things"
    );

    haproxy.reload();
    // The new worker starts from the configuration: b ready again, a back at 100. A USR2
    // that reaches the master while it is still settling after its start is sometimes not
    // acted on (seen about once in five runs here), so the reload is repeated every 2 s.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut next_reload = Instant::now() + Duration::from_secs(2);
    loop {
        if let Ok(b) = client.server("app", "b").await
            && b.admin == State::Ready
        {
            break;
        }
        if Instant::now() >= next_reload {
            haproxy.reload();
            next_reload = Instant::now() + Duration::from_secs(2);
        }
        assert!(
            Instant::now() < deadline,
            "reload did not reset state:\n{}",
            haproxy.log()
        );
        sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.server("app", "a").await.unwrap().weight, 100);

    let changes = client.apply(&desired).await.unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let servers = client.servers("app").await.unwrap();
    assert_eq!(servers[0].weight, 25);
    assert_eq!(servers[1].admin, State::Drain);
    let tally = haproxy.tally(30).await;
    assert_eq!(count(&tally, "b"), 0, "{tally:?}");

    // A typo changes nothing and names what exists.
    let mut typo = desired.clone();
    typo.servers.push(DesiredServer {
        name: "d".to_owned(),
        state: State::Maint,
        weight: None,
    });
    typo.servers[1].state = State::Ready;
    let error = client.apply(&typo).await.unwrap_err();
    assert!(matches!(error, LbError::UnknownServer { .. }), "{error}");
    assert_eq!(client.server("app", "b").await.unwrap().admin, State::Drain);

    // A swap brings the incoming server in before taking the outgoing one out.
    let swap = DesiredState {
        backend: "app".to_owned(),
        servers: vec![
            DesiredServer {
                name: "c".to_owned(),
                state: State::Drain,
                weight: None,
            },
            DesiredServer {
                name: "b".to_owned(),
                state: State::Ready,
                weight: None,
            },
        ],
    };
    let changes = client.apply(&swap).await.unwrap();
    let servers_in_order: Vec<&str> = changes
        .iter()
        .map(|change| match change {
            Change::State { server, .. } | Change::Weight { server, .. } => server.as_str(),
        })
        .collect();
    assert_eq!(servers_in_order, ["b", "c"], "{changes:?}");
}

#[tokio::test]
async fn a_socket_that_never_answers_times_out_with_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and hold the connection without answering.
    let holder = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        sleep(Duration::from_secs(30)).await;
        drop(stream);
    });
    let error = HaproxyClient::new(Endpoint::Tcp(addr))
        .with_timeout(Duration::from_millis(200))
        .servers("app")
        .await
        .unwrap_err();
    holder.abort();
    assert!(matches!(error, LbError::Conversation { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&addr.to_string()) && message.contains("show servers state app"),
        "{message}"
    );
}
