//! Minion presence, the seed's `auto_ping` successor: which accepted
//! minions answer a ping. Checked every `presence-interval` while at least
//! one event stream watches it, and never otherwise (nothing is sent to
//! the minions for nobody); updated at once from the master's own
//! presence events (`salt/presence/present`, `salt/presence/change`) when
//! its `presence_events` is on.
//!
//! The ping is the daemon's own job (user 0, exact ids, the master's
//! `timeout`), never an ACL-checked one: each stream shows a user only
//! the minions it may ping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmpv::Value;
use tokio::sync::{watch, Notify};

use super::{ping, run, Error, Outcome};
use crate::salt::{wire, Salt};

/// Whether each accepted minion answered the last check, by id.
pub type Fleet = BTreeMap<String, bool>;

/// The user id the daemon's own jobs run under, in the log.
const SYSTEM: u64 = 0;

/// Shared as `Arc<Presence>`.
#[derive(Default)]
pub struct Presence {
    /// `None` until the first check since someone started watching.
    now: watch::Sender<Option<Arc<Fleet>>>,
    wake: Notify,
}

impl Presence {
    pub fn new() -> Presence {
        Presence::default()
    }

    /// The fleet as each check leaves it; watching starts the checks.
    pub fn watch(&self) -> watch::Receiver<Option<Arc<Fleet>>> {
        let receiver = self.now.subscribe();
        self.wake.notify_one();
        receiver
    }

    fn watched(&self) -> bool {
        self.now.receiver_count() > 0
    }

    /// Publishes `fleet` if it differs from what watchers have.
    fn set(&self, fleet: Fleet) {
        self.now.send_if_modified(|now| {
            if now.as_deref() == Some(&fleet) {
                return false;
            }
            *now = Some(Arc::new(fleet));
            true
        });
    }

    /// Applies one of the master's presence events to the known fleet
    /// (ids that are not accepted keys are ignored).
    fn apply(&self, tag: &str, data: &Value) {
        let ids = |key| wire::strings(wire::get(data, key));
        let Some(mut fleet) = self.now.borrow().as_deref().cloned() else {
            return;
        };
        match tag {
            "salt/presence/present" => {
                let present = ids("present");
                for (id, up) in fleet.iter_mut() {
                    *up = present.contains(id);
                }
            }
            "salt/presence/change" => {
                for (key, up) in [("new", true), ("lost", false)] {
                    for id in ids(key) {
                        if let Some(seen) = fleet.get_mut(&id) {
                            *seen = up;
                        }
                    }
                }
            }
            _ => return,
        }
        self.set(fleet);
    }
}

/// Keeps `presence` up to date while it is watched, until the daemon
/// stops (the background loop's cancellation).
pub async fn track(presence: Arc<Presence>, salt: Arc<Salt>, every: Duration) {
    loop {
        while !presence.watched() {
            presence.wake.notified().await;
        }
        let mut bus = salt.subscribe_all();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while presence.watched() {
            tokio::select! {
                _ = tick.tick() => match check(&salt).await {
                    Ok(fleet) => presence.set(fleet),
                    Err(err) => log::warn!("minion presence: the check failed: {err}"),
                },
                event = bus.events.recv() => match event {
                    Some(event) => presence.apply(&event.tag, &event.data),
                    // Fell behind (a big job's returns): listen again.
                    None => bus = salt.subscribe_all(),
                },
            }
        }
        // Nobody watches: what is known grows stale, and the next watcher
        // waits for a fresh check rather than see it.
        presence.now.send_replace(None);
    }
}

/// Pings every accepted key once: `true` for each that answered.
async fn check(salt: &Salt) -> Result<Fleet, Error> {
    let keys = salt.keys().await?;
    let mut fleet: Fleet = keys.minions.iter().map(|id| (id.clone(), false)).collect();
    if fleet.is_empty() {
        return Ok(fleet);
    }
    let job = ping(SYSTEM, keys.minions.clone(), salt.master().timeout);
    if let Outcome::Returned(answers) = run(salt, &job, None, false, None).await? {
        for (id, answer) in answers {
            if let Some(up) = fleet.get_mut(&id) {
                *up = answer == "true";
            }
        }
    }
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| ((*k).into(), v.clone())).collect())
    }

    fn ids(list: &[&str]) -> Value {
        Value::Array(list.iter().map(|&id| id.into()).collect())
    }

    #[test]
    fn presence_events_update_the_known_fleet_only() {
        let presence = Presence::new();
        let mut seen = presence.watch();
        // Nothing known yet: an event cannot say which keys are accepted.
        presence.apply("salt/presence/present", &map(&[("present", ids(&["a"]))]));
        assert!(seen.borrow_and_update().is_none());
        presence.set(Fleet::from([("a".into(), false), ("b".into(), true)]));
        assert!(seen.has_changed().unwrap());
        seen.borrow_and_update();
        presence.apply(
            "salt/presence/present",
            &map(&[("present", ids(&["a", "stranger"]))]),
        );
        let want = Fleet::from([("a".into(), true), ("b".into(), false)]);
        assert_eq!(seen.borrow_and_update().as_deref(), Some(&want));
        presence.apply(
            "salt/presence/change",
            &map(&[("new", ids(&["b"])), ("lost", ids(&["a", "stranger"]))]),
        );
        let want = Fleet::from([("a".into(), false), ("b".into(), true)]);
        assert_eq!(seen.borrow_and_update().as_deref(), Some(&want));
        // The same fleet again is no change.
        presence.set(want);
        assert!(!seen.has_changed().unwrap());
        presence.apply("salt/job/1/new", &map(&[]));
        assert!(!seen.has_changed().unwrap());
    }
}
