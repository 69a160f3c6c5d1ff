//! [`HaproxyClient`]: the runtime API commands a deployment needs.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use crate::error::{LbError, Result};
use crate::model::{Change, DesiredState, DrainOutcome, ServerState, State, Weight};
use crate::parse;
use crate::transport::{Endpoint, exchange};

/// How long one command may take (connect, and then the answer) unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of HAProxy's runtime API. Cheap to clone; holds no connection (each command opens
/// its own, see the crate docs).
#[derive(Debug, Clone)]
pub struct HaproxyClient {
    endpoint: Endpoint,
    timeout: Duration,
}

impl HaproxyClient {
    /// A client for the runtime API at `endpoint`, with [`DEFAULT_TIMEOUT`] per command.
    pub fn new(endpoint: Endpoint) -> HaproxyClient {
        HaproxyClient {
            endpoint,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the time limit of each command (connect, and then the whole answer, each).
    pub fn with_timeout(mut self, timeout: Duration) -> HaproxyClient {
        self.timeout = timeout;
        self
    }

    /// Where this client connects.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The servers of `backend` with their states, weights and current sessions.
    ///
    /// Two commands: `show servers state` (admin state bits, user and initial weight, which
    /// `show stat` lacks) and `show stat BACKEND 4 -1` (current sessions, which the state dump
    /// lacks). They are two snapshots, microseconds apart.
    pub async fn servers(&self, backend: &str) -> Result<Vec<ServerState>> {
        check_name("backend", backend)?;
        let rows = self.server_rows(backend).await?;
        let command = format!("show stat {backend} 4 -1");
        let answer = self.send(&command).await?;
        if is_unknown_backend(&answer) {
            return Err(self.unknown_backend(backend).await);
        }
        let sessions = parse::stat_sessions(&answer).map_err(|detail| LbError::Protocol {
            command: command.clone(),
            detail,
        })?;
        rows.into_iter()
            .map(|row| {
                let scur = sessions
                    .iter()
                    .find(|(name, _)| *name == row.name)
                    .map(|(_, scur)| *scur)
                    .ok_or_else(|| LbError::Protocol {
                        command: command.clone(),
                        detail: format!("server `{}` missing from the statistics", row.name),
                    })?;
                Ok(row.with_sessions(scur))
            })
            .collect()
    }

    /// One server of `backend`; the error lists the backend's servers when it has no `server`.
    pub async fn server(&self, backend: &str, server: &str) -> Result<ServerState> {
        check_name("server", server)?;
        let servers = self.servers(backend).await?;
        let known = servers.iter().map(|s| s.name.clone()).collect();
        servers
            .into_iter()
            .find(|s| s.name == server)
            .ok_or_else(|| LbError::UnknownServer {
                backend: backend.to_owned(),
                server: server.to_owned(),
                known,
            })
    }

    /// Sets the admin state: `set server BACKEND/SERVER state ready|drain|maint`.
    pub async fn set_state(&self, backend: &str, server: &str, state: State) -> Result<()> {
        check_name("backend", backend)?;
        check_name("server", server)?;
        let command = format!("set server {backend}/{server} state {state}");
        self.run_set(backend, server, &command).await
    }

    /// Sets the weight: `set weight BACKEND/SERVER N` or `N%` (of the initial weight).
    pub async fn set_weight(&self, backend: &str, server: &str, weight: Weight) -> Result<()> {
        check_name("backend", backend)?;
        check_name("server", server)?;
        let weight = weight.validate()?;
        let command = format!("set weight {backend}/{server} {weight}");
        self.run_set(backend, server, &command).await
    }

    /// Polls every `poll` until `server` has no sessions, or `timeout` passes. Does not drain
    /// by itself: call [`HaproxyClient::set_state`] with [`State::Drain`] first.
    pub async fn wait_drained(
        &self,
        backend: &str,
        server: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<DrainOutcome> {
        if poll.is_zero() {
            return Err(LbError::InvalidPoll(poll));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let sessions = self.server(backend, server).await?.sessions;
            if sessions == 0 {
                return Ok(DrainOutcome::Drained);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(DrainOutcome::TimedOut { sessions });
            }
            sleep(poll.min(deadline - now)).await;
        }
    }

    /// Makes HAProxy match `desired`: reads the backend once, checks every named server exists
    /// (before changing anything, so a typo changes nothing), then sets each admin state and
    /// weight that differs. Returns what it changed; empty when HAProxy already matched.
    ///
    /// Servers coming into rotation (ready) are handled before servers leaving it (drain,
    /// maint), so a desired state that swaps traffic (blue-green) briefly has both sets in
    /// rotation rather than none.
    pub async fn apply(&self, desired: &DesiredState) -> Result<Vec<Change>> {
        let backend = desired.backend.as_str();
        let current = self.servers(backend).await?;
        let mut plan = Vec::with_capacity(desired.servers.len());
        for want in &desired.servers {
            check_name("server", &want.name)?;
            if let Some(weight) = want.weight {
                weight.validate()?;
            }
            let Some(have) = current.iter().find(|s| s.name == want.name) else {
                return Err(LbError::UnknownServer {
                    backend: backend.to_owned(),
                    server: want.name.clone(),
                    known: current.iter().map(|s| s.name.clone()).collect(),
                });
            };
            plan.push((want, have));
        }
        // Into rotation first, out of rotation last: never an empty backend in between.
        // The sort is stable, so otherwise the caller's order is kept.
        plan.sort_by_key(|(want, _)| match want.state {
            State::Ready => 0,
            State::Drain | State::Maint => 1,
        });
        let mut changes = Vec::new();
        for (want, have) in plan {
            if let Some(weight) = want.weight {
                let to = weight.resolve(have.initial_weight);
                if to != have.weight {
                    self.set_weight(backend, &want.name, weight).await?;
                    changes.push(Change::Weight {
                        server: want.name.clone(),
                        from: have.weight,
                        to,
                    });
                }
            }
            if want.state != have.admin {
                self.set_state(backend, &want.name, want.state).await?;
                changes.push(Change::State {
                    server: want.name.clone(),
                    from: have.admin,
                    to: want.state,
                });
            }
        }
        Ok(changes)
    }

    /// The backend names HAProxy has (`show backend`).
    pub async fn backends(&self) -> Result<Vec<String>> {
        Ok(parse::backend_names(&self.send("show backend").await?))
    }

    async fn server_rows(&self, backend: &str) -> Result<Vec<parse::ServerRow>> {
        let command = format!("show servers state {backend}");
        let answer = self.send(&command).await?;
        if is_unknown_backend(&answer) {
            return Err(self.unknown_backend(backend).await);
        }
        parse::servers_state(&answer).map_err(|detail| LbError::Protocol { command, detail })
    }

    /// Runs a `set …` command: HAProxy answers nothing on success and a message otherwise.
    async fn run_set(&self, backend: &str, server: &str, command: &str) -> Result<()> {
        let answer = self.send(command).await?;
        let message = answer.trim();
        if message.is_empty() {
            return Ok(());
        }
        if is_unknown_backend(message) {
            return Err(self.unknown_backend(backend).await);
        }
        if message.starts_with("No such server") {
            let known = match self.server_rows(backend).await {
                Ok(rows) => rows.into_iter().map(|r| r.name).collect(),
                Err(error) => return Err(error),
            };
            return Err(LbError::UnknownServer {
                backend: backend.to_owned(),
                server: server.to_owned(),
                known,
            });
        }
        Err(LbError::Refused {
            command: command.to_owned(),
            message: message.to_owned(),
        })
    }

    /// The error for a missing backend, listing the ones HAProxy has. If listing fails too,
    /// that failure is the more useful error.
    async fn unknown_backend(&self, backend: &str) -> LbError {
        match self.backends().await {
            Ok(known) => LbError::UnknownBackend {
                backend: backend.to_owned(),
                known,
            },
            Err(error) => error,
        }
    }

    async fn send(&self, command: &str) -> Result<String> {
        exchange(&self.endpoint, command, self.timeout).await
    }
}

/// HAProxy's answers for a missing backend: `Can't find backend.` (`show servers state`),
/// `No such proxy.` (`show stat`), `No such backend.` (`set server`, `set weight`).
fn is_unknown_backend(answer: &str) -> bool {
    let answer = answer.trim_start();
    answer.starts_with("Can't find backend")
        || answer.starts_with("No such proxy")
        || answer.starts_with("No such backend")
}

/// Names go into a command line verbatim; anything outside HAProxy's own name characters could
/// split or change the command, so it is refused here.
fn check_name(what: &'static str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(LbError::InvalidName {
            what,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_change_the_command_are_refused() {
        for bad in ["", "app b", "app;shutdown", "a/b", "x\nset", "é"] {
            assert!(check_name("backend", bad).is_err(), "accepted {bad:?}");
        }
        for good in ["app", "web-1", "be_v2.blue", "ns:a"] {
            assert!(check_name("backend", good).is_ok(), "refused {good:?}");
        }
    }

    #[test]
    fn weights_parse_and_resolve_like_haproxy() {
        assert_eq!("50%".parse::<Weight>().unwrap(), Weight::Percent(50));
        assert_eq!(" 7 ".parse::<Weight>().unwrap(), Weight::Absolute(7));
        for bad in ["257", "-1", "x", "%", "1.5", ""] {
            assert!(bad.parse::<Weight>().is_err(), "accepted {bad:?}");
        }
        assert_eq!(Weight::Percent(50).resolve(100), 50);
        assert_eq!(Weight::Percent(50).resolve(1), 0);
        assert_eq!(Weight::Percent(1000).resolve(100), 256);
        assert_eq!(Weight::Absolute(3).resolve(100), 3);
    }
}
