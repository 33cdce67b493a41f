//! [`FakeMaster`]: an in-process Salt master that speaks the protocol of
//! `docs/salt-protocol.md` from the far side, fast enough for benches and
//! able to misbehave on purpose for the fault tests. It never runs Salt.
//!
//! What it serves, from a temporary directory:
//!
//! - files: the `master` config ([`FakeMaster::config`]: `interface`,
//!   `ret_port`, `sock_dir`, `cachedir`, `pki_dir`), the key
//!   `cachedir/.root_key` (mode 0600, [`KEY`]) and one file per accepted
//!   minion in `pki_dir/minions/`;
//! - the request server, a ZeroMQ ROUTER on `tcp://127.0.0.1:<port 0>` (like
//!   the master's own frontend: one thread serves every client socket, and
//!   a request can be left unanswered while others are served). The envelope
//!   must be `enc: clear`, `version: 3` with a map `load`, else the reply is
//!   `"bad load"`. A `ping` is echoed; a `publish` with the wrong key gets an
//!   `AuthenticationError`, otherwise `{"jid", "minions", "missing"}` and its
//!   return events; anything else gets `{}`. [`FakeMaster::on_publish`]
//!   replaces the answer to a publish: a reply held back or never sent,
//!   other events, a bus restart ([`Answer`], [`Emit`]);
//! - the event bus, a Unix stream listener at
//!   `<sock_dir>/master_event_pub.ipc`, writing
//!   `{"head": {}, "body": bin(tag "\n\n" msgpack(data))}` frames, bare or
//!   length-prefixed ([`Framing`]), all that is waiting in one write per
//!   reader (or a byte at a time, [`Builder::torn_writes`]).
//!
//! A publish returns `salt/job/<jid>/ret/<minion>` for each accepted target
//! at once, except that a minion whose id starts with `silent-` is accepted
//! but never returns anything, not even to find_job. The bench defaults of
//! [`FakeMaster::start`] send only those returns and record nothing; a real
//! master's other events ([`Builder::master_events`]) and the list of
//! requests ([`Builder::record_requests`]) are for tests that ask.
//!
//! Two threads: the request server (`server.rs`), and the bus (`bus.rs`),
//! to which the server hands what to write over a channel; `wire.rs`
//! builds the messages. Both stop, and are joined, on [`FakeMaster::stop`]
//! or drop, which then removes the directory.

mod bus;
mod server;
mod wire;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rmpv::Value;

use bus::Bus;
use server::Server;
pub use wire::{auth_error, job_events, map, pack, publish_reply, standard_value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The key the master starts with (76 characters, as Salt's are).
pub const KEY: &str = "fake-master-key-000000000000000000000000000000000000000000000000000000000000";

/// How the bus frames its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Framing {
    /// 3006.0-3006.25 and 3007+: msgpack maps back to back.
    #[default]
    Bare,
    /// 3006.26+: a 4-byte big-endian length before each frame.
    Prefixed,
}

/// What the fake has done so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Clear `ping` requests (the client's health checks).
    pub pings: AtomicU64,
    /// `publish` requests, all functions.
    pub publishes: AtomicU64,
    /// `publish` requests of `test.ping`.
    pub test_pings: AtomicU64,
    /// Events written, once per reader.
    pub events: AtomicU64,
    /// Event-bus readers accepted, reconnections included.
    pub readers: AtomicU64,
    /// Event-bus readers connected now.
    pub connected: AtomicU64,
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The ROUTER identity of the client socket that sent it.
    pub identity: Vec<u8>,
    pub cmd: String,
    pub fun: String,
    pub jid: String,
    pub tgt: Vec<String>,
    pub key: String,
    /// The targets with an accepted key, and the others.
    pub minions: Vec<String>,
    pub missing: Vec<String>,
}

/// How the fake answers a publish, in place of the standard answer.
pub struct Answer {
    /// The reply and how long to hold it; `None`: never reply.
    pub reply: Option<(Duration, Value)>,
    /// Sent on the bus after the reply.
    pub emit: Vec<Emit>,
}

/// What the bus does, in order.
#[derive(Debug, Clone)]
pub enum Emit {
    /// An event: its tag and data.
    Event(String, Value),
    /// Closes every connection and the listener, waits, listens again: a
    /// master restart, as an event reader sees it.
    Restart(Duration),
}

/// Picks the answer to a publish; `None` for the standard one.
type Handler = Box<dyn FnMut(&Request) -> Option<Answer> + Send>;

/// The key the request server accepts, and the file clients read it from.
#[derive(Debug, Clone)]
pub struct Key {
    accepted: Arc<Mutex<String>>,
    file: PathBuf,
}

impl Key {
    /// `cachedir/.root_key`.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// From now on only `key` is accepted; the file stays as it is.
    pub fn accept(&self, key: &str) {
        *lock(&self.accepted) = key.to_owned();
    }

    /// Writes `key` to the file, then accepts only it (what 3006 does at
    /// every start).
    pub fn rotate(&self, key: &str) -> std::io::Result<()> {
        std::fs::write(&self.file, key)?;
        self.accept(key);
        Ok(())
    }

    fn matches(&self, key: &str) -> bool {
        *lock(&self.accepted) == key
    }
}

/// Settings of a [`FakeMaster`]; [`FakeMaster::builder`] gives the bench
/// defaults.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    minions: Vec<String>,
    framing: Framing,
    torn: bool,
    record: bool,
    master_events: bool,
}

impl Builder {
    /// Minions with an accepted key (none by default).
    pub fn minions(mut self, ids: &[&str]) -> Builder {
        self.minions = ids.iter().map(|id| id.to_string()).collect();
        self
    }

    /// How the bus frames events ([`Framing::Bare`] by default).
    pub fn framing(mut self, framing: Framing) -> Builder {
        self.framing = framing;
        self
    }

    /// Writes events a byte at a time with a pause after each, so that the
    /// reader gets them torn anywhere.
    pub fn torn_writes(mut self, on: bool) -> Builder {
        self.torn = on;
        self
    }

    /// Keeps every request, for [`FakeMaster::requests`] and
    /// [`FakeMaster::publishes`].
    pub fn record_requests(mut self, on: bool) -> Builder {
        self.record = on;
        self
    }

    /// Sends, for a standard publish, what a real master sends besides the
    /// returns: the bare jid event, `salt/job/<jid>/new` and an unrelated
    /// `salt/auth` event, and full return data ([`job_events`]).
    pub fn master_events(mut self, on: bool) -> Builder {
        self.master_events = on;
        self
    }

    /// Writes the directory, binds both servers and starts their threads.
    pub fn start(self) -> Result<FakeMaster, BoxError> {
        let dir = tempfile::Builder::new().prefix("pj-fake-").tempdir()?;
        let (router, port) = server::bind()?;
        write_files(dir.path(), &self.minions, port)?;
        let cachedir = dir.path().join("cache");
        let counts = Arc::new(Counts::default());
        let shared = Arc::new(Shared {
            key: Key {
                accepted: Arc::new(Mutex::new(KEY.into())),
                file: cachedir.join(".root_key"),
            },
            handler: Mutex::new(None),
            seen: self.record.then(|| Mutex::new(Vec::new())),
            stop: AtomicBool::new(false),
        });
        let bus_path = dir.path().join("sock/master_event_pub.ipc");
        let mut bus = Bus::listen_at(bus_path, &self, counts.clone())?;
        let (to_bus, from_server) = mpsc::channel();
        let server = Server {
            router,
            accepted: self.minions,
            shared: shared.clone(),
            counts: counts.clone(),
            to_bus,
            master_events: self.master_events,
        };
        let mut fake = FakeMaster {
            config: dir.path().join("master"),
            cachedir,
            counts,
            shared,
            threads: Vec::new(),
            dir: Some(dir),
        };
        let stop = fake.shared.clone();
        fake.spawn("fake-master-bus", move || bus.run(&from_server, &stop.stop))?;
        fake.spawn("fake-master-req", move || server.run())?;
        Ok(fake)
    }
}

/// Writes the master's files under `root`: `master`, `cache/.root_key`
/// and `pki/minions/<id>`, with `sock/` for the bus.
fn write_files(root: &Path, minions: &[String], port: u16) -> Result<(), BoxError> {
    let (sock_dir, cachedir, pki_dir) = (root.join("sock"), root.join("cache"), root.join("pki"));
    for d in [&sock_dir, &cachedir, &pki_dir.join("minions")] {
        std::fs::create_dir_all(d)?;
    }
    for minion in minions {
        std::fs::write(pki_dir.join("minions").join(minion), "FAKE PUBLIC KEY")?;
    }
    let key_file = cachedir.join(".root_key");
    std::fs::write(&key_file, KEY)?;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
    let config = format!(
        "interface: 127.0.0.1\nret_port: {port}\nsock_dir: {}\ncachedir: {}\npki_dir: {}\n",
        sock_dir.display(),
        cachedir.display(),
        pki_dir.display()
    );
    std::fs::write(root.join("master"), config)?;
    Ok(())
}

/// What the threads and the test share.
struct Shared {
    key: Key,
    handler: Mutex<Option<Handler>>,
    /// Every request, in order, when recording.
    seen: Option<Mutex<Vec<Request>>>,
    stop: AtomicBool,
}

/// A running fake master; stopped and its directory removed when dropped.
pub struct FakeMaster {
    /// The `master` config file to hand to projetyd.
    pub config: PathBuf,
    /// The master's cachedir (the key, and a job cache if a test writes one).
    pub cachedir: PathBuf,
    pub counts: Arc<Counts>,
    shared: Arc<Shared>,
    threads: Vec<(&'static str, JoinHandle<Result<(), BoxError>>)>,
    dir: Option<tempfile::TempDir>,
}

impl FakeMaster {
    /// The bench defaults: bare framing, returns only, nothing recorded.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A master with the bench defaults whose accepted minions are `minions`.
    pub fn start(minions: &[&str]) -> Result<FakeMaster, BoxError> {
        FakeMaster::builder().minions(minions).start()
    }

    fn spawn(
        &mut self,
        name: &'static str,
        run: impl FnOnce() -> Result<(), BoxError> + Send + 'static,
    ) -> Result<(), BoxError> {
        let thread = std::thread::Builder::new().name(name.into()).spawn(run)?;
        self.threads.push((name, thread));
        Ok(())
    }

    /// The key the request server accepts.
    pub fn key(&self) -> Key {
        self.shared.key.clone()
    }

    /// Answers publishes (and runner and wheel calls) with `handler` from
    /// now on; its `None` means the standard answer (with the key check),
    /// an empty map for runner and wheel calls.
    pub fn on_publish(&self, handler: impl FnMut(&Request) -> Option<Answer> + Send + 'static) {
        *lock(&self.shared.handler) = Some(Box::new(handler));
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        let seen = self.shared.seen.as_ref();
        lock(seen.expect("requests are kept only with Builder::record_requests(true)")).clone()
    }

    /// The publishes of `fun` so far.
    pub fn publishes(&self, fun: &str) -> Vec<Request> {
        let mut requests = self.requests();
        requests.retain(|r| r.cmd == "publish" && r.fun == fun);
        requests
    }

    /// Stops both threads, waits for them and removes the directory.
    /// Panics if a thread failed (unless already panicking), so that a
    /// broken fake cannot pass for a slow projetyd.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut failures = Vec::new();
        for (name, thread) in self.threads.drain(..) {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => failures.push(format!("{name}: {err}")),
                Err(_) => failures.push(format!("{name} panicked")),
            }
        }
        if let Some(dir) = self.dir.take() {
            // Not the fake failing: said, not raised.
            if let Err(err) = dir.close() {
                eprintln!("the fake master could not remove its directory: {err}");
            }
        }
        if !failures.is_empty() {
            let failures = failures.join("; ");
            if std::thread::panicking() {
                eprintln!("the fake master failed: {failures}");
            } else {
                panic!("the fake master failed: {failures}");
            }
        }
    }
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A lock that a panicked test thread does not spoil for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
