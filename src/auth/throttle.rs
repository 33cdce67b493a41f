//! Failed-login throttling for HTTP Basic, designed so that guessing is
//! slow and cannot lock anyone out (issue #8 part 5):
//!
//! - An attempt is counted **before** its password is hashed, as a failure
//!   that a success takes back: concurrent guesses cannot slip past the
//!   limit while they are being hashed.
//! - One address hashes **one attempt at a time** (`Auth` queues the rest
//!   of that address's attempts behind it). The hashing semaphore is FIFO,
//!   so its queue holds at most one attempt per address, and a flood from
//!   one address delays a login from another by about one hash.
//! - Failures count per **(name, address)**: a guesser blocks its own pair,
//!   with a block that doubles from `base` up to `max`. A victim logging in
//!   from another address is not stopped by it.
//! - Failures count per **address** across names (a spray of names), and a
//!   success does not wipe that count (an attacker's own logins between
//!   guesses do not reset it).
//! - Failures count per **name** across addresses (distributed guessing),
//!   with a higher limit; an address that has logged in as that name before
//!   is exempt from that block, so its owner still gets in.
//!
//! State is in memory (a restart forgives) and bounded in size.

use crate::sync::LockAnyway as _;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How strict the throttle is.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Failures for one name from one address before that pair is blocked.
    pub per_user: u32,
    /// Failures from one address (any names) before it is blocked.
    pub per_addr: u32,
    /// Failures for one name from all addresses before the name is blocked
    /// for addresses it has not logged in from.
    pub per_name: u32,
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
            per_name: 20,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
        }
    }
}

/// Upper bound on tracked keys, so a spray of random names cannot grow the
/// maps without limit. Past it, new names are not tracked (their address
/// still is).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Addr(IpAddr),
    Name(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    /// The length of the current block, restarted when the attempt that
    /// caused it ends (hashing takes a while).
    block: Duration,
    last_failure: Instant,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// (name, address) pairs that logged in, and when last.
    good: HashMap<(String, IpAddr), Instant>,
}

/// The throttle; shared by all connections.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    state: Mutex<State>,
}

/// An attempt counted by [`Throttle::begin`]; hand it back to
/// [`Throttle::finish`] with the outcome.
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    user: String,
    addr: IpAddr,
    /// Whether the name's counter was bumped (untracked past the bound).
    tracked: bool,
    /// Whether this name has logged in from this address before.
    known: bool,
}

impl Attempt {
    /// Whether this (name, address) pair has logged in before: such
    /// attempts are hashed in a lane of their own, so that a flood from
    /// other addresses cannot queue in front of a returning user.
    pub fn known(&self) -> bool {
        self.known
    }
}

impl Throttle {
    pub fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain values; a panic cannot leave one half-written.
        self.state.lock_anyway()
    }

    /// Counts an attempt for `user` from `addr` before its password is
    /// checked, or `Err(wait)` if it must not be checked now.
    pub fn begin(&self, user: &str, addr: IpAddr, now: Instant) -> Result<Attempt, Duration> {
        let mut state = self.state();
        let known = state.good.contains_key(&(user.to_owned(), addr));
        let mut keys = vec![Key::Pair(user.to_owned(), addr), Key::Addr(addr)];
        if !known {
            keys.push(Key::Name(user.to_owned()));
        }
        let wait = keys
            .iter()
            .filter_map(|key| state.entries.get(key)?.blocked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if state.entries.len() >= MAX_ENTRIES {
            self.prune_locked(&mut state, now);
        }
        let pair = Key::Pair(user.to_owned(), addr);
        let tracked = state.entries.len() < MAX_ENTRIES || state.entries.contains_key(&pair);
        if tracked {
            self.bump(&mut state, pair, self.policy.per_user, now);
            self.bump(&mut state, Key::Name(user.to_owned()), self.policy.per_name, now);
        }
        self.bump(&mut state, Key::Addr(addr), self.policy.per_addr, now);
        Ok(Attempt {
            user: user.to_owned(),
            addr,
            tracked,
            known,
        })
    }

    /// Ends an attempt. A success takes back the failure counted for it,
    /// clears the pair and remembers the pair as good.
    pub fn finish(&self, attempt: Attempt, success: bool, now: Instant) {
        let mut state = self.state();
        if !success {
            let keys = [
                Key::Pair(attempt.user.clone(), attempt.addr),
                Key::Name(attempt.user.clone()),
                Key::Addr(attempt.addr),
            ];
            self.restamp(&mut state, &keys, now);
            return;
        }
        let Attempt {
            user, addr, tracked, ..
        } = attempt;
        if tracked {
            state.entries.remove(&Key::Pair(user.clone(), addr));
            self.unbump(&mut state, &Key::Name(user.clone()), self.policy.per_name);
        }
        self.unbump(&mut state, &Key::Addr(addr), self.policy.per_addr);
        if state.good.len() < MAX_ENTRIES {
            state.good.insert((user, addr), now);
        }
    }

    fn bump(&self, state: &mut State, key: Key, limit: u32, now: Instant) {
        let entry = state.entries.entry(key).or_insert(Entry {
            failures: 0,
            blocked_until: None,
            block: Duration::ZERO,
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
            entry.block = block;
        }
    }

    /// Restarts the blocks this failed attempt caused from `now`, when its
    /// check ended.
    fn restamp(&self, state: &mut State, keys: &[Key], now: Instant) {
        for key in keys {
            if let Some(entry) = state.entries.get_mut(key) {
                if entry.blocked_until.is_some() {
                    entry.blocked_until = Some(now + entry.block);
                    entry.last_failure = now;
                }
            }
        }
    }

    /// Takes back one counted failure (the attempt succeeded).
    fn unbump(&self, state: &mut State, key: &Key, limit: u32) {
        if let Some(entry) = state.entries.get_mut(key) {
            entry.failures = entry.failures.saturating_sub(1);
            if entry.failures < limit {
                entry.blocked_until = None;
            }
            if entry.failures == 0 {
                state.entries.remove(key);
            }
        }
    }

    /// Forgets entries that are no longer blocked and have been quiet for
    /// `forget_after`, and good pairs not seen for as long.
    pub fn prune(&self, now: Instant) {
        let mut state = self.state();
        self.prune_locked(&mut state, now);
    }

    fn prune_locked(&self, state: &mut State, now: Instant) {
        let forget = self.policy.forget_after;
        state.entries.retain(|_, e| {
            e.blocked_until.is_some_and(|until| until > now)
                || now.saturating_duration_since(e.last_failure) < forget
        });
        // Good pairs are kept longer: they are what lets an owner in.
        state
            .good
            .retain(|_, seen| now.saturating_duration_since(*seen) < forget * 24);
    }

    /// How many keys are tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.state().entries.len()
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
            per_name: 8,
            ..Policy::default()
        })
    }

    fn fail(t: &Throttle, user: &str, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let attempt = t.begin(user, addr, now)?;
        t.finish(attempt, false, now);
        Ok(())
    }

    fn succeed(t: &Throttle, user: &str, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let attempt = t.begin(user, addr, now)?;
        t.finish(attempt, true, now);
        Ok(())
    }

    #[test]
    fn a_pair_is_blocked_after_its_limit_with_a_growing_interval() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            fail(&t, "alice", A, now).unwrap();
        }
        assert_eq!(fail(&t, "alice", A, now), Err(Duration::from_secs(1)));
        assert_eq!(
            succeed(&t, "alice", B, now),
            Ok(()),
            "the owner elsewhere gets in"
        );
        let later = now + Duration::from_secs(1);
        fail(&t, "alice", A, later).unwrap();
        assert_eq!(fail(&t, "alice", A, later), Err(Duration::from_secs(2)));
    }

    /// Counted before the check: attempts begun at once past the limit
    /// are refused before any of them finishes.
    #[test]
    fn a_pair_that_logged_in_is_known_and_no_other() {
        let t = throttle();
        let now = Instant::now();
        let first = t.begin("alice", A, now).unwrap();
        assert!(!first.known(), "never logged in yet");
        t.finish(first, true, now);
        let again = t.begin("alice", A, now).unwrap();
        assert!(again.known());
        t.finish(again, false, now);
        let elsewhere = t.begin("alice", B, now).unwrap();
        assert!(!elsewhere.known(), "another address is not known");
        t.finish(elsewhere, false, now);
        let other_name = t.begin("bob", A, now).unwrap();
        assert!(!other_name.known(), "another name from a known address is not");
        t.finish(other_name, false, now);
    }

    #[test]
    fn attempts_are_counted_up_front() {
        let t = throttle();
        let now = Instant::now();
        let begun: Vec<_> = (0..3).map(|_| t.begin("alice", A, now).unwrap()).collect();
        assert!(
            t.begin("alice", A, now).is_err(),
            "the fourth waits for none of them"
        );
        assert!(
            t.begin("alice", B, now).is_ok(),
            "other addresses are not held up"
        );
        for attempt in begun {
            t.finish(attempt, false, now);
        }
    }

    #[test]
    fn a_spray_of_names_blocks_the_address_and_logins_do_not_reset_it() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..4 {
            fail(&t, &format!("user{i}"), A, now).unwrap();
            succeed(&t, "mallory", A, now).unwrap();
        }
        fail(&t, "user9", A, now).unwrap();
        assert!(t.begin("someone-else", A, now).is_err());
        assert!(t.begin("someone-else", B, now).is_ok());
    }

    #[test]
    fn distributed_guessing_blocks_the_name_but_not_its_known_addresses() {
        let t = throttle();
        let now = Instant::now();
        succeed(&t, "alice", A, now).unwrap();
        for i in 0..8u8 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
            fail(&t, "alice", addr, now).unwrap();
        }
        let fresh = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));
        assert!(t.begin("alice", fresh, now).is_err(), "new addresses wait");
        assert_eq!(
            succeed(&t, "alice", A, now),
            Ok(()),
            "the owner's address does not"
        );
    }

    #[test]
    fn blocks_are_capped_and_quiet_entries_forgotten() {
        let t = throttle();
        let mut now = Instant::now();
        for _ in 0..100 {
            match fail(&t, "alice", A, now) {
                Ok(()) => {}
                Err(wait) => now += wait,
            }
        }
        let _ = fail(&t, "alice", A, now);
        assert_eq!(t.begin("alice", A, now).err(), Some(Policy::default().max));
        t.prune(now + Duration::from_secs(60 * 60 * 24));
        assert!(t.is_empty());
    }
}
