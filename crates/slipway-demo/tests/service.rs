//! The real binary, over real sockets: paths, injected failures, keep-alive, bad requests.

mod support;

use support::Demo;

#[test]
fn healthz_version_and_root_answer() {
    let demo = Demo::start("v1.2.3", &[]);

    let health = demo.get("/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

    let version = demo.get("/version");
    assert_eq!(version.status, 200);
    assert_eq!(version.body, format!("v1.2.3\n{}\n", demo.addr));

    let root = demo.get("/");
    assert_eq!(
        (root.status, root.body.as_str()),
        (200, "hello from v1.2.3\n")
    );
    assert_eq!(root.header("x-demo-version"), Some("v1.2.3"));
    assert_eq!(
        root.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn fail_health_flag_fails_only_the_health_check() {
    let demo = Demo::start("v1", &["--fail-health"]);
    assert_eq!(demo.get("/healthz").status, 503);
    assert_eq!(demo.get("/").status, 200);
}

#[test]
fn state_file_flips_health_at_runtime() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let state_arg = state.to_str().expect("UTF-8 temp path");
    let demo = Demo::start("v1", &["--state-file", state_arg]);

    // A missing file means healthy.
    assert_eq!(demo.get("/healthz").status, 200);
    std::fs::write(&state, "fail-health\n").expect("write state");
    assert_eq!(demo.get("/healthz").status, 503);
    std::fs::write(&state, "# recovered\n").expect("write state");
    assert_eq!(demo.get("/healthz").status, 200);
    std::fs::write(&state, "other\n  fail-health  \n").expect("write state");
    assert_eq!(demo.get("/healthz").status, 503);
    std::fs::remove_file(&state).expect("remove state");
    assert_eq!(demo.get("/healthz").status, 200);
}

#[test]
fn error_every_4_fails_exactly_one_request_in_4() {
    let demo = Demo::start("v1", &["--error-every", "4"]);
    let statuses: Vec<u16> = (0..8).map(|_| demo.get("/").status).collect();
    assert_eq!(statuses, [200, 200, 200, 500, 200, 200, 200, 500]);
    let failed = demo.get("/");
    assert_eq!(failed.status, 200);
}

#[test]
fn error_rate_one_always_fails_the_root_only() {
    let demo = Demo::start("v1", &["--error-rate", "1"]);
    let failed = demo.get("/");
    assert_eq!(failed.status, 500);
    assert_eq!(failed.header("x-demo-version"), Some("v1"));
    assert_eq!(demo.get("/healthz").status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let demo = Demo::start("v1", &[]);
    let mut connection = demo.connect();
    let first = connection.get("/");
    let second = connection.get("/version");
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.header("connection"), Some("keep-alive"));

    // Pipelined: two requests in one write, two responses in order.
    connection.send(b"GET /healthz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n");
    assert_eq!(connection.read_response().status, 200);
    assert_eq!(connection.read_response().status, 404);

    // A request body is skipped, and the next request is still understood.
    connection
        .send(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /healthz HTTP/1.1\r\n\r\n");
    assert_eq!(connection.read_response().body, "hello from v1\n");
    assert_eq!(connection.read_response().body, "ok\n");
}

#[test]
fn connection_close_and_http_1_0_close_after_the_answer() {
    let demo = Demo::start("v1", &[]);
    let mut connection = demo.connect();
    connection.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    let response = connection.read_response();
    assert_eq!(response.header("connection"), Some("close"));
    assert!(connection.is_closed());

    let mut connection = demo.connect();
    connection.send(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(connection.read_response().status, 200);
    assert!(connection.is_closed());
}

#[test]
fn bad_request_line_gets_400_and_the_connection_closes() {
    let demo = Demo::start("v1", &[]);
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\n\r\n",
    ] {
        let mut connection = demo.connect();
        connection.send(bad);
        let response = connection.read_response();
        assert_eq!(response.status, 400, "{bad:?}");
        assert!(response.body.starts_with("bad request: "), "{response:?}");
        assert!(connection.is_closed(), "{bad:?}");
    }

    // A head that never ends within the limit is refused too.
    let mut connection = demo.connect();
    let mut huge = b"GET / HTTP/1.1\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10_000));
    connection.send(&huge);
    assert_eq!(connection.read_response().status, 400);
}

#[test]
fn unknown_path_is_404_and_other_methods_405() {
    let demo = Demo::start("v1", &[]);
    assert_eq!(demo.get("/nope").status, 404);
    assert_eq!(demo.get("/healthz/extra").status, 404);

    let mut connection = demo.connect();
    connection.send(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    let response = connection.read_response();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));

    connection.send(b"HEAD /healthz HTTP/1.1\r\n\r\n");
    let response = connection.read_response_without_body();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("3"));
    // No body followed: the next response starts right away.
    assert_eq!(connection.get("/healthz").body, "ok\n");
}

#[test]
fn bad_arguments_exit_2_and_a_taken_port_exits_1() {
    let binary = env!("CARGO_BIN_EXE_slipway-demo");
    let output = std::process::Command::new(binary)
        .args(["--listen", "localhost:80", "--version", "v1"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");

    let demo = Demo::start("v1", &[]);
    let output = std::process::Command::new(binary)
        .args(["--listen", &demo.addr.to_string(), "--version", "v2"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&demo.addr.to_string()), "{stderr}");
    assert!(output.stdout.is_empty(), "no ready line on failure");
}
