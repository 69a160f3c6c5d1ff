//! The HTTP/1.1 subset the demo service speaks, without I/O: finding the end of a request head,
//! parsing it, and writing a response with `Content-Length`.
//!
//! Only what load balancers, health checkers, Prometheus and load generators send is accepted:
//! `GET` and `HEAD`, origin-form targets, `Connection` and `Content-Length` headers (a body is
//! read and discarded). Anything else is answered with 400 or 405.

use std::io::Write as _;

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_LEN: usize = 8 * 1024;
/// Largest request body accepted (and discarded); the service has no use for bodies.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Request methods the service tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other valid method token: answered with 405.
    Other,
}

/// The paths the service answers, plus one bucket for everything else, so that metric labels
/// stay bounded whatever clients ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Root,
    Healthz,
    Version,
    Metrics,
    Other,
}

impl Route {
    /// Every route, in metric output order.
    pub const ALL: [Route; 5] = [
        Route::Root,
        Route::Healthz,
        Route::Version,
        Route::Metrics,
        Route::Other,
    ];

    /// Maps an origin-form target (query string included) to a route.
    pub fn of_target(target: &str) -> Route {
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        match path {
            "/" => Route::Root,
            "/healthz" => Route::Healthz,
            "/version" => Route::Version,
            "/metrics" => Route::Metrics,
            _ => Route::Other,
        }
    }

    /// The `path` label value.
    pub fn label(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Healthz => "/healthz",
            Route::Version => "/version",
            Route::Metrics => "/metrics",
            Route::Other => "other",
        }
    }

    /// Position in [`Route::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Status codes the service answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    InternalServerError,
    ServiceUnavailable,
}

impl Status {
    /// Every status, in metric output order.
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::InternalServerError,
        Status::ServiceUnavailable,
    ];

    /// The numeric code, also the `code` label value.
    pub fn code(self) -> &'static str {
        match self {
            Status::Ok => "200",
            Status::BadRequest => "400",
            Status::NotFound => "404",
            Status::MethodNotAllowed => "405",
            Status::InternalServerError => "500",
            Status::ServiceUnavailable => "503",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::InternalServerError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }

    /// Position in [`Status::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A parsed request head; it borrows nothing, so the connection buffer can be reused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub route: Route,
    /// Whether the client allows the connection to stay open after the response.
    pub keep_alive: bool,
    /// Bytes of body that follow the head (to be discarded).
    pub body_len: usize,
}

/// Why a request head was refused; each is answered with 400 and the connection is closed,
/// since the request's framing cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("request head is not valid UTF-8")]
    NotUtf8,
    #[error("malformed request line")]
    RequestLine,
    #[error("unsupported HTTP version")]
    Version,
    #[error("malformed header line")]
    Header,
    #[error("invalid or conflicting Content-Length")]
    ContentLength,
    #[error("request body larger than 64 KiB")]
    BodyTooLarge,
    #[error("Transfer-Encoding is not supported")]
    TransferEncoding,
    #[error("request head larger than 8 KiB")]
    HeadTooLarge,
}

/// Returns the length of the request head (through the blank line) if `buf` holds all of it.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|start| start + 4)
}

/// Parses a request head as delimited by [`head_len`].
pub fn parse_head(head: &[u8]) -> Result<Request, ParseError> {
    let head = std::str::from_utf8(head).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().ok_or(ParseError::RequestLine)?;

    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::RequestLine);
    };
    if !is_token(method) || !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control())
    {
        return Err(ParseError::RequestLine);
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(ParseError::Version),
    };

    // HTTP/1.1 keeps the connection by default, HTTP/1.0 only when asked.
    let mut keep_alive = http11;
    let mut body_len: Option<usize> = None;
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(ParseError::Header)?;
        if !is_token(name) {
            return Err(ParseError::Header);
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                if option.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::ContentLength);
            }
            let len: usize = value.parse().map_err(|_| ParseError::BodyTooLarge)?;
            if body_len.is_some_and(|previous| previous != len) {
                return Err(ParseError::ContentLength);
            }
            body_len = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ParseError::TransferEncoding);
        }
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > MAX_BODY_LEN {
        return Err(ParseError::BodyTooLarge);
    }

    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    Ok(Request {
        method,
        route: Route::of_target(target),
        keep_alive,
        body_len,
    })
}

/// RFC 9110 token characters (method and header names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Content type of plain-text answers.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends a complete response to `out`. The body is omitted for `HEAD` (its length is still
/// announced). `version` goes into `X-Demo-Version` so that a client behind a load balancer can
/// tell which version answered any request, errors included.
pub fn write_response(
    out: &mut Vec<u8>,
    status: Status,
    content_type: &str,
    body: &[u8],
    send_body: bool,
    keep_alive: bool,
    version: &str,
) {
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\nX-Demo-Version: {}\r\n",
        status.code(),
        status.reason(),
        content_type,
        body.len(),
        if keep_alive { "keep-alive" } else { "close" },
        version,
    );
    if status == Status::MethodNotAllowed {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if send_body {
        out.extend_from_slice(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<Request, ParseError> {
        parse_head(head.as_bytes())
    }

    #[test]
    fn finds_the_end_of_the_head() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_len(b""), None);
    }

    #[test]
    fn parses_a_keep_alive_get() {
        let request = parse("GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(
            request,
            Ok(Request {
                method: Method::Get,
                route: Route::Healthz,
                keep_alive: true,
                body_len: 3,
            })
        );
    }

    #[test]
    fn connection_header_and_version_decide_keep_alive() {
        let keep = |head: &str| parse(head).map(|request| request.keep_alive);
        assert_eq!(
            keep("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            Ok(false)
        );
        assert_eq!(keep("GET / HTTP/1.0\r\n\r\n"), Ok(false));
        assert_eq!(
            keep("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n"),
            Ok(true)
        );
    }

    #[test]
    fn other_methods_and_paths_are_classified() {
        let request = parse("POST /nope HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(
            (request.method, request.route),
            (Method::Other, Route::Other)
        );
        assert_eq!(
            parse("HEAD / HTTP/1.1\r\n\r\n").unwrap().method,
            Method::Head
        );
    }

    #[test]
    fn refuses_malformed_heads() {
        let cases: &[(&str, ParseError)] = &[
            ("GARBAGE\r\n\r\n", ParseError::RequestLine),
            ("GET  / HTTP/1.1\r\n\r\n", ParseError::RequestLine),
            ("GET http://x/ HTTP/1.1\r\n\r\n", ParseError::RequestLine),
            ("G(T / HTTP/1.1\r\n\r\n", ParseError::RequestLine),
            ("GET / HTTP/2.0\r\n\r\n", ParseError::Version),
            ("GET / HTTP/1.1\r\nno colon\r\n\r\n", ParseError::Header),
            ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", ParseError::Header),
            (
                "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                ParseError::ContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ParseError::ContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
                ParseError::BodyTooLarge,
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                ParseError::BodyTooLarge,
            ),
            (
                "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::TransferEncoding,
            ),
        ];
        for (head, expected) in cases {
            assert_eq!(parse(head), Err(*expected), "{head:?}");
        }
        assert_eq!(
            parse_head(b"GET /\xff HTTP/1.1\r\n\r\n"),
            Err(ParseError::NotUtf8)
        );
    }

    #[test]
    fn writes_length_framed_responses() {
        let mut out = Vec::new();
        write_response(&mut out, Status::Ok, TEXT, b"ok\n", true, true, "v1");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\
             Connection: keep-alive\r\nX-Demo-Version: v1\r\n\r\nok\n"
        );
        let mut out = Vec::new();
        write_response(
            &mut out,
            Status::MethodNotAllowed,
            TEXT,
            b"x",
            false,
            false,
            "v1",
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 1\r\n"));
        assert!(text.contains("Allow: GET, HEAD\r\n"));
        assert!(
            text.ends_with("\r\n\r\n"),
            "HEAD-style answer has no body: {text:?}"
        );
    }
}
