//! Failed-login throttling for HTTP Basic: after a few failures for the same
//! user name, or from the same client address, further attempts are refused
//! with `429` for a growing interval, before any password is hashed. A
//! success resets both counters.
//!
//! State is in memory (a restart forgives) and bounded in size.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How strict the throttle is.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Failures for one user name before it is blocked.
    pub per_user: u32,
    /// Failures from one address (any names) before it is blocked.
    pub per_addr: u32,
    /// First block; each further failure doubles it.
    pub base: Duration,
    /// Longest block.
    pub max: Duration,
    /// An entry with no failure for this long is forgotten.
    pub forget_after: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            per_user: 5,
            per_addr: 20,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
        }
    }
}

/// Upper bound on tracked keys, so a spray of random names cannot grow the
/// map without limit. Past it, new names are not tracked (their address
/// still is).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
}

/// The throttle; shared by all connections.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    pub fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // Entries are plain values; a panic cannot leave one half-written.
        self.entries.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// `Err(wait)` if `user` or `addr` is blocked at `now`.
    pub fn check(&self, user: &str, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let entries = self.entries();
        let wait = [Key::User(user.to_owned()), Key::Addr(addr)]
            .iter()
            .filter_map(|key| entries.get(key)?.blocked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max();
        wait.map_or(Ok(()), Err)
    }

    /// Records a failed attempt.
    pub fn failure(&self, user: &str, addr: IpAddr, now: Instant) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            self.prune_locked(&mut entries, now);
        }
        let user_key = Key::User(user.to_owned());
        if entries.len() < MAX_ENTRIES || entries.contains_key(&user_key) {
            self.bump(&mut entries, user_key, self.policy.per_user, now);
        }
        self.bump(&mut entries, Key::Addr(addr), self.policy.per_addr, now);
    }

    fn bump(&self, entries: &mut HashMap<Key, Entry>, key: Key, limit: u32, now: Instant) {
        let entry = entries.entry(key).or_insert(Entry {
            failures: 0,
            blocked_until: None,
            last_failure: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures >= limit {
            let doublings = (entry.failures - limit).min(30);
            let block = self
                .policy
                .base
                .saturating_mul(1 << doublings)
                .min(self.policy.max);
            entry.blocked_until = Some(now + block);
        }
    }

    /// Records a success: the name and the address start afresh.
    pub fn success(&self, user: &str, addr: IpAddr) {
        let mut entries = self.entries();
        entries.remove(&Key::User(user.to_owned()));
        entries.remove(&Key::Addr(addr));
    }

    /// Forgets entries that are no longer blocked and have been quiet for
    /// `forget_after`.
    pub fn prune(&self, now: Instant) {
        let mut entries = self.entries();
        self.prune_locked(&mut entries, now);
    }

    fn prune_locked(&self, entries: &mut HashMap<Key, Entry>, now: Instant) {
        entries.retain(|_, e| {
            e.blocked_until.is_some_and(|until| until > now)
                || now.saturating_duration_since(e.last_failure) < self.policy.forget_after
        });
    }

    /// How many keys are tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn throttle() -> Throttle {
        Throttle::new(Policy {
            per_user: 3,
            per_addr: 5,
            ..Policy::default()
        })
    }

    #[test]
    fn user_is_blocked_after_limit_with_growing_interval() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..2 {
            t.failure("alice", A, now);
        }
        assert_eq!(t.check("alice", A, now), Ok(()));
        t.failure("alice", A, now);
        assert_eq!(t.check("alice", B, now), Err(Duration::from_secs(1)));
        assert_eq!(t.check("bob", B, now), Ok(()), "others are not affected");
        let later = now + Duration::from_secs(1);
        assert_eq!(t.check("alice", A, later), Ok(()));
        t.failure("alice", A, later);
        assert_eq!(t.check("alice", A, later), Err(Duration::from_secs(2)));
        t.failure("alice", A, later);
        assert_eq!(t.check("alice", A, later), Err(Duration::from_secs(4)));
    }

    #[test]
    fn address_is_blocked_across_names() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..5 {
            t.failure(&format!("user{i}"), A, now);
        }
        assert!(t.check("someone-else", A, now).is_err());
        assert_eq!(t.check("someone-else", B, now), Ok(()));
    }

    #[test]
    fn success_resets_and_block_is_capped() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..100 {
            t.failure("alice", A, now);
        }
        assert_eq!(t.check("alice", B, now), Err(Policy::default().max));
        t.success("alice", A);
        assert_eq!(t.check("alice", A, now), Ok(()));
    }

    #[test]
    fn quiet_entries_are_forgotten() {
        let t = throttle();
        let now = Instant::now();
        t.failure("alice", A, now);
        assert_eq!(t.len(), 2);
        t.prune(now + Duration::from_secs(60 * 60 + 1));
        assert!(t.is_empty());
    }
}
