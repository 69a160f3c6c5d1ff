//! Connections and shutdown: the accept loop, one task per connection reading requests one
//! after another (keep-alive and pipelining), and the graceful stop.
//!
//! # Shutdown
//!
//! When the shutdown future completes, the listener is closed at once (new connections are
//! refused, so a load balancer's next check fails fast) and every connection is told so.
//! A connection that is idle between requests closes; one that is in the middle of a request
//! finishes it, answers with `Connection: close`, and closes. [`serve`] returns when the last
//! connection has ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::http::{self, Method, ParseError, Route, Status};
use crate::service::Service;

/// How long a kept-alive connection may sit idle before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client may take to send the rest of a request it started.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves connections from `listener` until `shutdown` completes, then stops gracefully.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_sender, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small responses: do not let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, Arc::clone(&service), stop.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: say so, and let others finish
                    // before trying again instead of spinning.
                    eprintln!("slipway-demo: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_sender.send(true);
    while connections.join_next().await.is_some() {}
}

/// Answers requests on one connection until the client closes, asks to close, sends something
/// unparseable, times out, or shutdown begins.
async fn connection(mut stream: TcpStream, service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let mut input: Vec<u8> = Vec::with_capacity(1024);
    let mut output: Vec<u8> = Vec::with_capacity(1024);
    loop {
        // Read until a whole head is buffered (a pipelined one may already be).
        let head_len = loop {
            if let Some(len) = http::head_len(&input) {
                break len;
            }
            if input.len() > http::MAX_HEAD_LEN {
                refuse(&mut stream, &service, ParseError::HeadTooLarge, &mut output).await;
                return;
            }
            let read = if input.is_empty() {
                // Idle between requests: shutdown closes the connection.
                if *stop.borrow() {
                    return;
                }
                tokio::select! {
                    read = tokio::time::timeout(IDLE_TIMEOUT, stream.read_buf(&mut input)) => read,
                    _ = stop.changed() => return,
                }
            } else {
                tokio::time::timeout(REQUEST_TIMEOUT, stream.read_buf(&mut input)).await
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(_)) => {}
            }
        };

        let started = Instant::now();
        let in_flight = service.metrics.start_request();
        let request = match input.get(..head_len).map(http::parse_head) {
            Some(Ok(request)) => request,
            Some(Err(error)) => {
                // Not in flight while the close lingers.
                drop(in_flight);
                refuse(&mut stream, &service, error, &mut output).await;
                return;
            }
            None => return,
        };

        // Discard the body, if any, so the next request starts where it should.
        let request_len = head_len + request.body_len;
        while input.len() < request_len {
            match tokio::time::timeout(REQUEST_TIMEOUT, stream.read_buf(&mut input)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
        input.drain(..request_len);

        let answer = service.answer(request.method, request.route).await;
        let keep_alive = request.keep_alive && !*stop.borrow();
        output.clear();
        http::write_response(
            &mut output,
            answer.status,
            answer.content_type,
            answer.body.as_bytes(),
            request.method != Method::Head,
            keep_alive,
            service.version(),
        );
        // Counted before the bytes leave, so a client that has its answer sees it counted.
        service
            .metrics
            .record(request.route, answer.status, started.elapsed());
        if stream.write_all(&output).await.is_err() || !keep_alive {
            let _ = stream.shutdown().await;
            return;
        }
        drop(in_flight);
    }
}

/// How long a refused client may keep sending before the connection is dropped anyway.
const LINGER: Duration = Duration::from_secs(1);

/// Answers an unparseable request with 400 and the reason, then closes.
///
/// The close lingers: what the client is still sending is read and thrown away until it stops,
/// because closing a socket with unread input makes the kernel send a reset, which can destroy
/// the 400 before the client has read it.
async fn refuse(
    stream: &mut TcpStream,
    service: &Service,
    error: ParseError,
    output: &mut Vec<u8>,
) {
    let started = Instant::now();
    let body = format!("bad request: {error}\n");
    output.clear();
    http::write_response(
        output,
        Status::BadRequest,
        http::TEXT,
        body.as_bytes(),
        true,
        false,
        service.version(),
    );
    service
        .metrics
        .record(Route::Other, Status::BadRequest, started.elapsed());
    if stream.write_all(output).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut scratch = [0u8; 4096];
    let drain = async {
        while let Ok(n) = stream.read(&mut scratch).await
            && n > 0
        {}
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
