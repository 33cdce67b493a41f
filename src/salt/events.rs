//! The master event bus reader: one task for the whole process, connected
//! to `master_event_pub.ipc` (a plain Unix stream socket, not ZeroMQ),
//! always reading so the master never cuts it off, handing `salt/job/<jid>/`
//! events to whoever subscribed to that jid, and every `salt/run/` event to
//! whoever subscribed to runner events (a runner's jid is only known once
//! the master has answered, so its events must be caught before that). Reconnects with backoff when
//! the master restarts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::wire::{self, Event, Framing};
use super::Error;
use crate::sync::LockAnyway as _;

/// Most events one `subscribe_all` subscriber may have waiting. One that
/// falls this far behind is cut (its channel closes) rather than let the
/// reader wait for it or hold an unbounded backlog.
pub const ALL_BUFFER: usize = 1024;

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
    /// The subscribers to every event (`/events` streams), each bounded.
    all: Mutex<Vec<(u64, mpsc::Sender<Event>)>>,
    /// How many `all` holds, read without the lock on every event so that
    /// nobody listening costs nothing (no decoding of unrouted events).
    all_count: AtomicUsize,
}

/// Every event on the bus, for as long as it is held; `events` ends
/// (`recv` gives `None`) when the subscriber fell `ALL_BUFFER` events
/// behind, or the bus reader stopped.
pub struct AllEvents {
    bus: EventBus,
    id: u64,
    pub events: mpsc::Receiver<Event>,
}

impl Drop for AllEvents {
    fn drop(&mut self) {
        let mut all = self.bus.shared.all.lock_anyway();
        all.retain(|(id, _)| *id != self.id);
        self.bus.shared.all_count.store(all.len(), Ordering::Release);
    }
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
                all: Mutex::new(Vec::new()),
                all_count: AtomicUsize::new(0),
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

    /// Starts receiving every event, bounded (see [`AllEvents`]).
    pub fn subscribe_all(&self) -> AllEvents {
        let (tx, rx) = mpsc::channel(ALL_BUFFER);
        let id = self.shared.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let mut all = self.shared.all.lock_anyway();
        all.push((id, tx));
        self.shared.all_count.store(all.len(), Ordering::Release);
        AllEvents {
            bus: self.clone(),
            id,
            events: rx,
        }
    }

    /// Hands `event` to every `subscribe_all` subscriber without waiting:
    /// one whose buffer is full is dropped from the list, which closes its
    /// channel, and is told so in the log.
    fn send_all(&self, event: &Event) {
        let mut all = self.shared.all.lock_anyway();
        all.retain(|(id, tx)| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                log::warn!("event subscriber {id} fell {ALL_BUFFER} events behind; its stream is cut");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        self.shared.all_count.store(all.len(), Ordering::Release);
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
    /// subscribers, if any, and any event to the `subscribe_all` ones;
    /// with none of them the event is skipped without decoding its data.
    fn dispatch(&self, frame: &rmpv::Value) {
        let (tag, raw) = match wire::split_frame(frame) {
            Ok(parts) => parts,
            Err(err) => {
                log::debug!("skipping an event: {err}");
                return;
            }
        };
        let to_all = self.shared.all_count.load(Ordering::Acquire) > 0;
        let senders: Vec<_> = match route(tag).and_then(|key| self.subscribers().get(key).cloned()) {
            Some(list) => list.into_iter().map(|(_, tx)| tx).collect(),
            None => Vec::new(),
        };
        if senders.is_empty() && !to_all {
            return;
        }
        match wire::decode(raw) {
            Ok(data) => {
                let event = Event {
                    tag: tag.to_owned(),
                    data,
                };
                for sender in senders {
                    let _ = sender.send(event.clone());
                }
                if to_all {
                    self.send_all(&event);
                }
            }
            Err(err) => log::warn!("undecodable data in event {tag}: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus() -> EventBus {
        EventBus {
            shared: Arc::new(Shared {
                path: PathBuf::from("/nonexistent"),
                subscribers: Mutex::new(HashMap::new()),
                next_subscriber: AtomicU64::new(0),
                connected: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                last_error: Mutex::new(None),
                all: Mutex::new(Vec::new()),
                all_count: AtomicUsize::new(0),
            }),
        }
    }

    fn frame(tag: &str) -> rmpv::Value {
        let mut body = format!("{tag}\n\n").into_bytes();
        rmpv::encode::write_value(&mut body, &rmpv::Value::Map(vec![])).unwrap();
        rmpv::Value::Map(vec![("body".into(), rmpv::Value::Binary(body))])
    }

    #[test]
    fn all_subscribers_get_everything_and_a_laggard_is_cut() {
        let bus = bus();
        let mut fast = bus.subscribe_all();
        let mut slow = bus.subscribe_all();
        assert_eq!(bus.shared.all_count.load(Ordering::Acquire), 2);
        for i in 0..ALL_BUFFER + 1 {
            bus.dispatch(&frame(&format!("custom/{i}")));
            if i % 100 == 0 {
                while fast.events.try_recv().is_ok() {}
            }
        }
        assert_eq!(
            bus.shared.all_count.load(Ordering::Acquire),
            1,
            "the slow one is cut"
        );
        let mut got = 0;
        while slow.events.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(
            got, ALL_BUFFER,
            "what was buffered is kept, then the channel ends"
        );
        assert!(matches!(
            slow.events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        let mut last = None;
        while let Ok(event) = fast.events.try_recv() {
            last = Some(event.tag);
        }
        assert_eq!(last, Some(format!("custom/{ALL_BUFFER}")));
        drop(fast);
        assert_eq!(bus.shared.all_count.load(Ordering::Acquire), 0);
    }

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
