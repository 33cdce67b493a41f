//! The fake master's request server: one thread on a ZeroMQ ROUTER that
//! checks each envelope, counts, records, answers (now, later or never)
//! and hands the bus what to write after each reply. It owns the socket;
//! it must not touch the bus's connections.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rmpv::Value;

use super::wire::{auth_error, get, map, pack, publish_reply, text};
use super::{lock, BoxError, Counts, Emit, Request, Shared};

/// What the bus is to write after a reply.
pub(super) enum ToBus {
    /// The standard events of a publish, built on the bus thread.
    Job {
        jid: String,
        fun: String,
        minions: Vec<String>,
    },
    Emit(Vec<Emit>),
}

/// A reply and how long to hold it; `None`: never reply.
type Reply = Option<(Duration, Value)>;

/// A reply held back: when it is due, its route and bytes, what follows.
struct Held {
    due: Instant,
    route: Vec<Vec<u8>>,
    reply: Vec<u8>,
    then: Option<ToBus>,
}

pub(super) struct Server {
    pub(super) router: zmq::Socket,
    /// Minions with an accepted key.
    pub(super) accepted: Vec<String>,
    pub(super) shared: Arc<Shared>,
    pub(super) counts: Arc<Counts>,
    /// Dropped when `run` returns, which ends the bus thread too.
    pub(super) to_bus: mpsc::Sender<ToBus>,
    pub(super) master_events: bool,
}

/// How often an idle server looks at the stop flag.
const IDLE: Duration = Duration::from_millis(100);

/// A ROUTER bound to `127.0.0.1:0`, and its port.
pub(super) fn bind() -> Result<(zmq::Socket, u16), BoxError> {
    let router = zmq::Context::new().socket(zmq::ROUTER)?;
    router.set_linger(0)?;
    // No limit: a bench sends thousands of publishes a second.
    router.set_rcvhwm(0)?;
    router.set_sndhwm(0)?;
    router.bind("tcp://127.0.0.1:0")?;
    let endpoint = router
        .get_last_endpoint()?
        .map_err(|_| "the ROUTER endpoint is not UTF-8")?;
    let port = endpoint.rsplit(':').next().unwrap_or_default().parse()?;
    Ok((router, port))
}

impl Server {
    pub(super) fn run(self) -> Result<(), BoxError> {
        let mut held: Vec<Held> = Vec::new();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let due: Vec<Held>;
            (due, held) = std::mem::take(&mut held).into_iter().partition(|h| h.due <= now);
            for h in due {
                self.send(&h.route, &h.reply, h.then)?;
            }
            match self.router.recv_multipart(zmq::DONTWAIT) {
                Ok(parts) => self.serve(parts, &mut held)?,
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => {
                    let next = held.iter().map(|h| h.due.saturating_duration_since(now)).min();
                    let wait = next.unwrap_or(IDLE).min(IDLE);
                    match self.router.poll(zmq::POLLIN, wait.as_millis().try_into()?) {
                        Ok(_) | Err(zmq::Error::EINTR) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Answers one request: `[route.., payload]`, the route being the
    /// client's identity and, from a REQ socket, an empty delimiter.
    fn serve(&self, mut route: Vec<Vec<u8>>, held: &mut Vec<Held>) -> Result<(), BoxError> {
        let payload = route.pop().unwrap_or_default();
        let envelope = rmpv::decode::read_value(&mut payload.as_slice()).unwrap_or(Value::Nil);
        let load = get(&envelope, "load").cloned().unwrap_or(Value::Nil);
        let req = self.request(route.first().cloned().unwrap_or_default(), &load);
        let valid = text(get(&envelope, "enc")) == "clear"
            && get(&envelope, "version").and_then(Value::as_u64) == Some(3)
            && load.is_map();
        let (reply, then) = if valid {
            self.answer(&req, load)
        } else {
            (Some((Duration::ZERO, "bad load".into())), None)
        };
        if let Some(seen) = &self.shared.seen {
            lock(seen).push(req);
        }
        match reply {
            Some((delay, reply)) if delay.is_zero() => self.send(&route, &pack(&reply), then),
            Some((delay, reply)) => {
                let due = Instant::now() + delay;
                held.push(Held {
                    due,
                    route,
                    reply: pack(&reply),
                    then,
                });
                Ok(())
            }
            None => self.tell_bus(then),
        }
    }

    /// The answer to a valid request, as the master would give it unless
    /// the test's handler picks another.
    fn answer(&self, req: &Request, load: Value) -> (Reply, Option<ToBus>) {
        let now = |value: Value| Some((Duration::ZERO, value));
        match req.cmd.as_str() {
            "ping" => {
                self.counts.pings.fetch_add(1, Ordering::Relaxed);
                (now(load), None)
            }
            "publish" => {
                self.counts.publishes.fetch_add(1, Ordering::Relaxed);
                if req.fun == "test.ping" {
                    self.counts.test_pings.fetch_add(1, Ordering::Relaxed);
                }
                let custom = lock(&self.shared.handler)
                    .as_mut()
                    .and_then(|handler| handler(req));
                match custom {
                    Some(answer) => (answer.reply, Some(ToBus::Emit(answer.emit))),
                    None if !self.shared.key.matches(&req.key) => (now(auth_error()), None),
                    None => {
                        let events = !req.minions.is_empty() || self.master_events;
                        let job = events.then(|| ToBus::Job {
                            jid: req.jid.clone(),
                            fun: req.fun.clone(),
                            minions: req.minions.clone(),
                        });
                        (now(publish_reply(req)), job)
                    }
                }
            }
            // Runner and wheel calls have no standard answer: the test's
            // handler gives one, or the reply is an empty map.
            "runner" | "wheel" => {
                let custom = lock(&self.shared.handler)
                    .as_mut()
                    .and_then(|handler| handler(req));
                match custom {
                    Some(answer) => (answer.reply, Some(ToBus::Emit(answer.emit))),
                    None => (now(map(vec![])), None),
                }
            }
            _ => (now(map(vec![])), None),
        }
    }

    fn request(&self, identity: Vec<u8>, load: &Value) -> Request {
        let tgt: Vec<String> = get(load, "tgt")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let (minions, missing) = tgt.iter().cloned().partition(|m| self.accepted.contains(m));
        Request {
            identity,
            cmd: text(get(load, "cmd")),
            fun: text(get(load, "fun")),
            jid: text(get(load, "jid")),
            tgt,
            key: text(get(load, "key")),
            minions,
            missing,
        }
    }

    fn send(&self, route: &[Vec<u8>], reply: &[u8], then: Option<ToBus>) -> Result<(), BoxError> {
        let parts = route.iter().map(Vec::as_slice).chain([reply]);
        // To a client socket that is gone, a ROUTER drops the message.
        self.router.send_multipart(parts, 0)?;
        self.tell_bus(then)
    }

    fn tell_bus(&self, then: Option<ToBus>) -> Result<(), BoxError> {
        match then {
            Some(ToBus::Emit(emit)) if emit.is_empty() => Ok(()),
            Some(item) => self
                .to_bus
                .send(item)
                .map_err(|_| "the bus thread is gone".into()),
            None => Ok(()),
        }
    }
}
