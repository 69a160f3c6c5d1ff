//! One command per connection over the runtime API socket.
//!
//! Without `prompt`, HAProxy answers one command and closes the connection, so the end of the
//! answer is simply EOF: no framing to get wrong, no state to lose when HAProxy reloads (a reload
//! replaces the worker and its sockets; a kept-open prompt connection would talk to the old
//! worker until it exits). The cost, one connect per command, is microseconds on a local socket.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;

use crate::error::{LbError, Result};

/// Answers larger than this are cut off as an error: the commands used here return a few
/// kilobytes even for large backends, so more means something is wrong.
const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

/// Where HAProxy's runtime API listens (`stats socket` in HAProxy's `global` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A UNIX socket, e.g. `stats socket /run/haproxy/admin.sock level admin`.
    Unix(PathBuf),
    /// A TCP address, e.g. `stats socket ipv4@127.0.0.1:9999 level admin`.
    Tcp(SocketAddr),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// Sends `command` and returns HAProxy's whole answer. `limit` bounds connect and the
/// conversation separately.
pub(crate) async fn exchange(
    endpoint: &Endpoint,
    command: &str,
    limit: Duration,
) -> Result<String> {
    let unreachable = |reason: String| LbError::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
    };
    match endpoint {
        Endpoint::Unix(path) => {
            let stream = timeout(limit, UnixStream::connect(path))
                .await
                .map_err(|_| unreachable(format!("no connection within {limit:?}")))?
                .map_err(|e| unreachable(e.to_string()))?;
            converse(stream, endpoint, command, limit).await
        }
        Endpoint::Tcp(addr) => {
            let stream = timeout(limit, TcpStream::connect(addr))
                .await
                .map_err(|_| unreachable(format!("no connection within {limit:?}")))?
                .map_err(|e| unreachable(e.to_string()))?;
            converse(stream, endpoint, command, limit).await
        }
    }
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    endpoint: &Endpoint,
    command: &str,
    limit: Duration,
) -> Result<String> {
    let failed = |reason: String| LbError::Conversation {
        endpoint: endpoint.to_string(),
        command: command.to_owned(),
        reason,
    };
    let talk = async {
        let mut line = Vec::with_capacity(command.len() + 1);
        line.extend_from_slice(command.as_bytes());
        line.push(b'\n');
        stream.write_all(&line).await?;
        stream.flush().await?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER_BYTES + 1)
            .read_to_end(&mut answer)
            .await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = timeout(limit, talk)
        .await
        .map_err(|_| failed(format!("no complete answer within {limit:?}")))?
        .map_err(|e| failed(e.to_string()))?;
    if answer.len() as u64 > MAX_ANSWER_BYTES {
        return Err(failed(format!(
            "answer longer than {MAX_ANSWER_BYTES} bytes"
        )));
    }
    String::from_utf8(answer).map_err(|_| failed("answer is not UTF-8".to_owned()))
}
