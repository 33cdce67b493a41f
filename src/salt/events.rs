//! The master event bus reader: one task for the whole process, connected
//! to `master_event_pub.ipc` (a plain Unix stream socket, not ZeroMQ),
//! always reading so the master never cuts it off, handing `salt/job/<jid>/`
//! events to whoever subscribed to that jid, and every `salt/run/` event to
//! whoever subscribed to runner events (a runner's jid is only known once
//! the master has answered, so its events must be caught before that). Reconnects with backoff when
//! the master restarts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::wire::{self, Event, Framing};
use super::Error;
use crate::sync::LockAnyway as _;

/// Events for one jid.
pub type Events = mpsc::UnboundedReceiver<Event>;

/// The senders following one jid, each with its subscription number.
type Subscribers = Vec<(u64, mpsc::UnboundedSender<Event>)>;

/// The bus, as seen by job runners. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// jid → where its events go. A subscription is made before the job is
    /// published, so no event of it can be missed while connected.
    /// Several subscribers may follow one jid (a re-attached task and a
    /// status check, say); each is told apart by a number.
    subscribers: Mutex<HashMap<String, Subscribers>>,
    next_subscriber: AtomicU64,
    connected: AtomicBool,
    /// Bumped on every (re)connect: a job that saw it change may have
    /// missed events and must look in the job cache.
    generation: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Removes its subscription (and only its own) when dropped.
pub struct Subscription {
    bus: EventBus,
    jid: String,
    id: u64,
    pub events: Events,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subscribers = self.bus.subscribers();
        if let Some(list) = subscribers.get_mut(&self.jid) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subscribers.remove(&self.jid);
            }
        }
    }
}

/// The subscription key of all runner events (no jid looks like it).
const RUNNERS: &str = "salt/run/";

/// Whose subscribers get the event tagged `tag`: the jid of a
/// `salt/job/<jid>/...` tag, `RUNNERS` for a `salt/run/...` one.
fn route(tag: &str) -> Option<&str> {
    if let Some(rest) = tag.strip_prefix("salt/job/") {
        return rest.split('/').next();
    }
    tag.starts_with(RUNNERS).then_some(RUNNERS)
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 64 * 1024;

impl EventBus {
    /// Starts the reader task for the bus at `path`, in `background`.
    pub fn start(path: PathBuf, background: &crate::background::Background) -> EventBus {
        let bus = EventBus {
            shared: Arc::new(Shared {
                path,
                subscribers: Mutex::new(HashMap::new()),
                next_subscriber: AtomicU64::new(0),
                connected: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        };
        background.spawn("event bus", bus.clone().run());
        bus
    }

    #[allow(clippy::type_complexity)]
    fn subscribers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(u64, mpsc::UnboundedSender<Event>)>>> {
        // Plain map of senders: a panic cannot leave it torn.
        self.shared.subscribers.lock_anyway()
    }

    /// Starts receiving every runner event (`salt/run/...`), of all
    /// runners: the master picks a runner's jid, so a caller subscribes
    /// before it sends and keeps the events of its own jid once the reply
    /// names it.
    pub fn subscribe_runners(&self) -> Subscription {
        self.subscribe(RUNNERS)
    }

    /// Starts receiving the events of `jid`.
    pub fn subscribe(&self, jid: &str) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.shared.next_subscriber.fetch_add(1, Ordering::Relaxed);
        self.subscribers()
            .entry(jid.to_owned())
            .or_default()
            .push((id, tx));
        Subscription {
            bus: self.clone(),
            jid: jid.to_owned(),
            id,
            events: rx,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Why the bus is not connected, if it is not.
    pub fn status(&self) -> Result<(), Error> {
        if self.is_connected() {
            return Ok(());
        }
        let reason = self.shared.last_error.lock_anyway().clone();
        Err(Error::Down(format!(
            "the master event bus {} is not connected: {}",
            self.shared.path.display(),
            reason.unwrap_or_else(|| "not yet connected".into())
        )))
    }

    async fn run(self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match UnixStream::connect(&self.shared.path).await {
                Ok(stream) => {
                    self.shared.generation.fetch_add(1, Ordering::AcqRel);
                    self.shared.connected.store(true, Ordering::Release);
                    log::info!("connected to the master event bus {}", self.shared.path.display());
                    backoff = BACKOFF_MIN;
                    let err = self.read(stream).await;
                    self.shared.connected.store(false, Ordering::Release);
                    log::warn!("master event bus lost: {err}");
                    self.set_error(err.to_string());
                }
                Err(err) => {
                    self.set_error(err.to_string());
                    log::debug!("cannot connect to the event bus: {err}");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn set_error(&self, err: String) {
        *self.shared.last_error.lock_anyway() = Some(err);
    }

    /// Reads frames until the stream fails; returns why it stopped.
    async fn read(&self, mut stream: UnixStream) -> Error {
        let mut buf = Vec::with_capacity(READ_CHUNK);
        let mut framing = None;
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) => return Error::Down("the master closed the event bus".into()),
                Ok(n) => n,
                Err(err) => return Error::Io(err.to_string()),
            };
            buf.extend_from_slice(&chunk[..n]);
            let framing = match framing {
                Some(f) => f,
                None => match Framing::detect(buf[0]) {
                    Ok(f) => *framing.insert(f),
                    Err(err) => return err,
                },
            };
            loop {
                match framing.take(&mut buf) {
                    Ok(Some(frame)) => self.dispatch(&frame),
                    Ok(None) => break,
                    Err(err) => return err,
                }
            }
        }
    }

    /// Hands a `salt/job/<jid>/...` or `salt/run/...` event to its
    /// subscribers, if any;
    /// everything else on the bus is skipped without decoding its data.
    fn dispatch(&self, frame: &rmpv::Value) {
        let (tag, raw) = match wire::split_frame(frame) {
            Ok(parts) => parts,
            Err(err) => {
                log::debug!("skipping an event: {err}");
                return;
            }
        };
        let Some(key) = route(tag) else {
            return;
        };
        let senders: Vec<_> = match self.subscribers().get(key) {
            Some(list) => list.iter().map(|(_, tx)| tx.clone()).collect(),
            None => return,
        };
        match wire::decode(raw) {
            Ok(data) => {
                let event = Event {
                    tag: tag.to_owned(),
                    data,
                };
                for sender in senders {
                    let _ = sender.send(event.clone());
                }
            }
            Err(err) => log::warn!("undecodable data in event {tag}: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_routed_by_jid_or_to_the_runner_subscribers() {
        assert_eq!(route("salt/job/123/ret/m1"), Some("123"));
        assert_eq!(route("salt/job/123/new"), Some("123"));
        assert_eq!(route("salt/run/456/ret"), Some(RUNNERS));
        assert_eq!(route("salt/run/456/new"), Some(RUNNERS));
        assert_eq!(route("salt/wheel/789/ret"), None);
        assert_eq!(route("salt/auth"), None);
        assert_eq!(route("20261126172903751245"), None);
    }
}
