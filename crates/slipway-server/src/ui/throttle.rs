//! Failed sign-ins slow down password guessing.
//!
//! Counted per username, in memory (a restart forgets them): after
//! [`FREE_FAILURES`] wrong passwords in a row the name is locked for
//! [`FIRST_LOCK`], doubling with every further failure up to [`MAX_LOCK`].
//! While locked, a sign-in is refused before its password is checked (so
//! the right password does not help, and no argon2 work is spent). A
//! successful sign-in, or [`FORGET_AFTER`] without a failure, clears the
//! count.
//!
//! Per username rather than per client address: the server usually sits
//! behind a proxy where every client has the proxy's address. The price is
//! that anyone can lock a name out for a while; the lock is short and says
//! when it ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 5;
pub const FIRST_LOCK: Duration = Duration::from_secs(30);
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Names remembered at most; past it the stalest are forgotten first.
const MAX_NAMES: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    names: Mutex<HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// What a failed sign-in did to its name.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Still within the free failures.
    Counted(u32),
    /// This failure locked the name for that long.
    Locked { failures: u32, lock: Duration },
}

impl LoginThrottle {
    /// How long `name` stays locked, if it is.
    pub fn locked(&self, name: &str, now: Instant) -> Option<Duration> {
        let names = self.names.lock().ok()?;
        let until = names.get(name)?.locked_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    pub fn failed(&self, name: &str, now: Instant) -> AfterFailure {
        let Ok(mut names) = self.names.lock() else {
            return AfterFailure::Counted(0);
        };
        if names.len() >= MAX_NAMES && !names.contains_key(name) {
            forget_stalest(&mut names, now);
        }
        let entry = names.entry(name.to_string()).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count < FREE_FAILURES {
            entry.locked_until = None;
            return AfterFailure::Counted(entry.count);
        }
        let doublings = entry.count - FREE_FAILURES;
        let lock = FIRST_LOCK
            .checked_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
            .map_or(MAX_LOCK, |lock| lock.min(MAX_LOCK));
        entry.locked_until = Some(now + lock);
        AfterFailure::Locked {
            failures: entry.count,
            lock,
        }
    }

    pub fn succeeded(&self, name: &str) {
        if let Ok(mut names) = self.names.lock() {
            names.remove(name);
        }
    }
}

fn forget_stalest(names: &mut HashMap<String, Failures>, now: Instant) {
    names.retain(|_, failures| now.saturating_duration_since(failures.last) < FORGET_AFTER);
    if names.len() >= MAX_NAMES {
        let mut lasts: Vec<Instant> = names.values().map(|f| f.last).collect();
        lasts.sort_unstable();
        let cut = lasts[lasts.len() / 2];
        names.retain(|_, failures| failures.last > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_free_failures_then_a_lock_that_doubles_up_to_the_cap() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for n in 1..FREE_FAILURES {
            assert_eq!(throttle.failed("ann", start), AfterFailure::Counted(n));
            assert_eq!(throttle.locked("ann", start), None);
        }
        assert_eq!(
            throttle.failed("ann", start),
            AfterFailure::Locked {
                failures: 5,
                lock: FIRST_LOCK
            }
        );
        assert_eq!(throttle.locked("ann", start), Some(FIRST_LOCK));
        assert_eq!(
            throttle.locked("ann", start + Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(throttle.locked("ann", start + FIRST_LOCK), None);
        // Another name is not affected.
        assert_eq!(throttle.locked("bob", start), None);

        let later = start + FIRST_LOCK;
        assert_eq!(
            throttle.failed("ann", later),
            AfterFailure::Locked {
                failures: 6,
                lock: FIRST_LOCK * 2
            }
        );
        let mut now = later;
        let mut last = AfterFailure::Counted(0);
        for _ in 0..40 {
            now += MAX_LOCK;
            last = throttle.failed("ann", now);
        }
        assert_eq!(
            last,
            AfterFailure::Locked {
                failures: 46,
                lock: MAX_LOCK
            }
        );
    }

    #[test]
    fn success_or_a_quiet_hour_clears_the_count() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..FREE_FAILURES {
            throttle.failed("ann", start);
        }
        assert!(throttle.locked("ann", start).is_some());
        throttle.succeeded("ann");
        assert_eq!(throttle.locked("ann", start), None);
        assert_eq!(throttle.failed("ann", start), AfterFailure::Counted(1));

        for _ in 1..FREE_FAILURES - 1 {
            throttle.failed("ann", start);
        }
        assert_eq!(
            throttle.failed("ann", start + FORGET_AFTER),
            AfterFailure::Counted(1),
            "an hour without failures starts the count again"
        );
    }

    #[test]
    fn the_number_of_names_is_bounded() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for n in 0..MAX_NAMES + 10 {
            let at = start + Duration::from_millis(n as u64);
            throttle.failed(&format!("user-{n}"), at);
        }
        let names = throttle.names.lock().expect("names");
        assert!(names.len() <= MAX_NAMES, "{}", names.len());
        assert!(names.contains_key(&format!("user-{}", MAX_NAMES + 9)));
        assert!(!names.contains_key("user-0"));
    }
}
