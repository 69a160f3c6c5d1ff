//! Retrying calls while the server is unreachable: 100 ms, doubling to 2 s,
//! for as long as it takes (or until the agent gives up at shutdown).

use std::time::Duration;

use tokio::sync::watch;

use crate::client::CallError;

const FIRST: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(2);

/// The delays between attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: FIRST }
    }

    /// The delay before the next attempt; each call doubles the following.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(LONGEST);
        delay
    }

    /// After a success: the next outage starts at the shortest delay again.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST;
    }
}

/// Resolves once the flag turns true; never, if its sender is gone.
pub(crate) use slipway_engine::ports::cancel_raised as raised;

/// Calls `call` until it succeeds or fails in a way retrying cannot fix;
/// retryable failures wait with [`Backoff`]. `give_up` turning true stops
/// the retries: the last error is returned. `what` names the call in the
/// one log line an outage produces.
pub(crate) async fn retrying<T, F: Future<Output = Result<T, CallError>>>(
    what: &str,
    give_up: &watch::Receiver<bool>,
    mut call: impl FnMut() -> F,
) -> Result<T, CallError> {
    let mut give_up = give_up.clone();
    let mut backoff = Backoff::new();
    let mut logged = false;
    loop {
        match call().await {
            Ok(value) => {
                if logged {
                    tracing::info!("{what}: the server answers again");
                }
                return Ok(value);
            }
            Err(error) if error.retryable() && !*give_up.borrow() => {
                if !logged {
                    tracing::warn!("{what}: {error}; retrying until it answers");
                    logged = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                    () = raised(&mut give_up) => return Err(error),
                }
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_two_seconds_and_reset() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..7).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.next_delay().as_millis(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_and_stops_on_fatal_errors() {
        let (_tx, never) = watch::channel(false);
        let calls = std::sync::atomic::AtomicU32::new(0);
        let calls = &calls;
        let result = retrying("test", &never, || async move {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n < 4 {
                Err(CallError::Unreachable("down".into()))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result.ok(), Some(4));

        let fatal_calls = std::sync::atomic::AtomicU32::new(0);
        let fatal = &fatal_calls;
        let result: Result<(), _> = retrying("test", &never, || async move {
            fatal.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(CallError::Gone(404))
        })
        .await;
        assert!(matches!(result, Err(CallError::Gone(404))));
        assert_eq!(fatal_calls.into_inner(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn giving_up_ends_the_retries() {
        let (tx, give_up) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            tx.send_replace(true);
        });
        let result: Result<(), _> = retrying("test", &give_up, || async {
            Err(CallError::Unreachable("down".into()))
        })
        .await;
        assert!(matches!(result, Err(CallError::Unreachable(_))));
        let _ = stopper.await;
    }
}
