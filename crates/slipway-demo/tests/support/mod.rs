//! Starts the real `slipway-demo` binary on 127.0.0.1 and talks HTTP/1.1 to it over plain
//! sockets, so the tests see exactly the bytes a load balancer or Prometheus would.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for anything to happen; only a guard against hanging, never asserted on.
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// A running demo service; killed when dropped if still running.
pub struct Demo {
    child: Child,
    /// Kept open so the service's stdout stays a live pipe.
    _stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
}

impl Demo {
    /// Starts the service with `--listen 127.0.0.1:0 --version V` and `extra` arguments, and
    /// waits for its ready line, which names the port it bound.
    pub fn start(version: &str, extra: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-demo"))
            .args(["--listen", "127.0.0.1:0", "--version", version])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start slipway-demo");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the ready line");
        let addr = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .parse()
            .expect("the ready line names a socket address");
        Demo {
            child,
            _stdout: stdout,
            addr,
        }
    }

    /// A new connection to the service.
    pub fn connect(&self) -> Connection {
        Connection::open(self.addr)
    }

    /// `GET path` on a new connection.
    pub fn get(&self, path: &str) -> Response {
        self.connect().get(path)
    }

    /// The metrics exposition.
    pub fn metrics(&self) -> String {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200);
        response.body
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        let result = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(result, 0, "kill failed");
    }

    /// Waits for the process to exit (panics after [`HANG_GUARD`]).
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "slipway-demo did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One client connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        Connection {
            reader: BufReader::new(stream),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// Sends `GET path` (keep-alive) and reads the response.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read_response()
    }

    /// Reads one length-framed response.
    pub fn read_response(&mut self) -> Response {
        let response = self.read_response_without_body();
        let len: usize = response
            .header("content-length")
            .expect("Content-Length")
            .parse()
            .expect("numeric Content-Length");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("body");
        Response {
            body: String::from_utf8(body).expect("UTF-8 body"),
            ..response
        }
    }

    /// Reads the status line and headers only (the answer to `HEAD`).
    pub fn read_response_without_body(&mut self) -> Response {
        let mut status_line = String::new();
        self.reader
            .read_line(&mut status_line)
            .expect("status line");
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status = parts
            .next()
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("header line");
            let line = line
                .strip_suffix("\r\n")
                .unwrap_or_else(|| panic!("header line without CRLF: {line:?}"));
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(": ").expect("header syntax");
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        Response {
            status,
            headers,
            body: String::new(),
        }
    }

    /// Whether the server has closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.reader.read_to_end(&mut rest), Ok(0))
    }
}
