//! SIGTERM: stop accepting, finish what is in flight, exit 0.

mod support;

use std::time::Instant;

use support::{Demo, HANG_GUARD};

#[test]
fn sigterm_lets_a_slow_request_finish_then_exits_0() {
    let mut demo = Demo::start("v1", &["--latency-ms", "300"]);
    let mut slow = demo.connect();
    slow.send(b"GET / HTTP/1.1\r\n\r\n");

    // Wait until the service is answering it: the scrape sees itself and the slow request.
    let deadline = Instant::now() + HANG_GUARD;
    while !demo
        .metrics()
        .contains("demo_requests_in_flight{version=\"v1\"} 2\n")
    {
        assert!(Instant::now() < deadline, "slow request never started");
    }
    demo.terminate();

    let response = slow.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "hello from v1\n");
    // Shutdown has begun, so the connection is not kept.
    assert_eq!(response.header("connection"), Some("close"));
    assert!(slow.is_closed());

    let status = demo.wait();
    assert!(status.success(), "exit status {status}");
    assert!(
        std::net::TcpStream::connect(demo.addr).is_err(),
        "nothing listens after exit"
    );
}

#[test]
fn idle_keep_alive_connections_do_not_delay_the_exit() {
    let mut demo = Demo::start("v1", &[]);
    let mut idle = demo.connect();
    assert_eq!(idle.get("/healthz").status, 200);
    demo.terminate();
    let status = demo.wait();
    assert!(status.success(), "exit status {status}");
    assert!(idle.is_closed());
}

#[test]
fn sigterm_with_no_connections_exits_0() {
    let mut demo = Demo::start("v1", &[]);
    demo.terminate();
    let status = demo.wait();
    assert_eq!(status.code(), Some(0));
}
