#![allow(clippy::unwrap_used)]
//! Protocol-level faults that a real Salt master cannot easily be made to
//! produce, against a small in-test fake master (issue #3): a reply that
//! never comes, torn event frames, unknown msgpack ext types, a 1 MiB event,
//! both event-bus framings, the event bus going away mid-job, and a key that
//! changes under an authentication error. The real lab (`tests/api/salt_e2e.rs`)
//! is the proof that projetyd talks to Salt; these only add the edge cases.
//!
//! The fake is a ZeroMQ ROUTER on `127.0.0.1:0` (the master's own frontend
//! is a ROUTER too; unlike a REP it can leave one request unanswered and go
//! on serving the others) and a Unix stream listener at
//! `<sock_dir>/master_event_pub.ipc` writing event frames, bare or with a
//! 4-byte big-endian length. The client under test is the library's
//! `projetyd::salt::Salt`, started on a master config in a temporary
//! directory.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use projetyd::salt::{Error, JobOutcome, JobSpec, MasterConfig, Options, Salt};
use rmpv::Value;

// ---------------------------------------------------------------------------
// msgpack helpers
// ---------------------------------------------------------------------------

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

fn get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    value
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn text(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn pack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

/// Event frame framings, as the master writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// 3006.26+: a 4-byte big-endian length before each frame.
    Prefixed,
    /// Everything else: msgpack maps back to back.
    Bare,
}

const FRAMINGS: [Framing; 2] = [Framing::Prefixed, Framing::Bare];

/// `{"head": {}, "body": bin(tag "\n\n" msgpack(data))}`, framed.
fn frame(framing: Framing, tag: &str, data: &Value) -> Vec<u8> {
    let mut body = format!("{tag}\n\n").into_bytes();
    body.extend_from_slice(&pack(data));
    let outer = pack(&map(vec![("head", map(vec![])), ("body", Value::Binary(body))]));
    match framing {
        Framing::Bare => outer,
        Framing::Prefixed => {
            let mut out = u32::try_from(outer.len()).unwrap().to_be_bytes().to_vec();
            out.extend_from_slice(&outer);
            out
        }
    }
}

// ---------------------------------------------------------------------------
// The fake event bus
// ---------------------------------------------------------------------------

/// What the emitter thread does, in order.
enum Emit {
    Event(String, Value),
    /// Close every connection and the listener, wait, listen again (a
    /// master restart, as the event reader sees it).
    Restart(Duration),
}

struct Bus {
    path: PathBuf,
    framing: Framing,
    /// Write each byte on its own, with a pause after it.
    torn: AtomicBool,
    listener: Mutex<Option<UnixListener>>,
    conns: Mutex<Vec<UnixStream>>,
    /// Connections accepted so far.
    accepted: AtomicUsize,
}

impl Bus {
    fn listen(&self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).unwrap();
        listener.set_nonblocking(true).unwrap();
        *self.listener.lock().unwrap() = Some(listener);
    }

    fn accept_some(&self) {
        let guard = self.listener.lock().unwrap();
        let Some(listener) = guard.as_ref() else { return };
        while let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(false).unwrap();
            stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
            self.conns.lock().unwrap().push(stream);
            self.accepted.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Writes one batch of frames to every connection: in one write
    /// (frames share reads), or a byte at a time when torn.
    fn write(&self, bytes: &[u8]) {
        let torn = self.torn.load(Ordering::SeqCst);
        let mut conns = self.conns.lock().unwrap();
        conns.retain_mut(|conn| {
            if torn {
                bytes.iter().all(|b| {
                    let ok = conn.write_all(std::slice::from_ref(b)).is_ok();
                    std::thread::sleep(Duration::from_micros(300));
                    ok
                })
            } else {
                conn.write_all(bytes).is_ok()
            }
        });
    }

    fn restart(&self, pause: Duration) {
        *self.listener.lock().unwrap() = None;
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
        std::thread::sleep(pause);
        self.listen();
    }

    fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }
}

// ---------------------------------------------------------------------------
// The fake request server
// ---------------------------------------------------------------------------

/// A request as the fake saw it.
#[derive(Debug, Clone)]
struct Request {
    /// The ROUTER identity of the client socket that sent it.
    identity: Vec<u8>,
    cmd: String,
    fun: String,
    jid: String,
    tgt: Vec<String>,
    key: String,
}

/// How the fake answers a publish.
struct Answer {
    /// The reply and how long to hold it; `None`: never reply.
    reply: Option<(Duration, Value)>,
    /// Sent on the bus after the reply.
    emit: Vec<Emit>,
}

/// Picks the answer to a publish; `None` for the standard one.
type Handler = Box<dyn FnMut(&Request) -> Option<Answer> + Send>;

/// Minions with an accepted key.
const ACCEPTED: [&str; 1] = ["m1"];

/// The reply a master gives to an accepted publish.
fn publish_reply(req: &Request) -> Value {
    let (minions, missing): (Vec<&String>, Vec<&String>) =
        req.tgt.iter().partition(|m| ACCEPTED.contains(&m.as_str()));
    let list = |ids: Vec<&String>| Value::Array(ids.into_iter().map(|m| Value::from(m.as_str())).collect());
    map(vec![
        ("enc", "clear".into()),
        (
            "load",
            map(vec![
                ("jid", req.jid.as_str().into()),
                ("minions", list(minions)),
                ("missing", list(missing)),
            ]),
        ),
    ])
}

/// A minion's return event data.
fn ret_data(jid: &str, minion: &str, fun: &str, value: Value) -> Value {
    map(vec![
        ("cmd", "_return".into()),
        ("id", minion.into()),
        ("jid", jid.into()),
        ("fun", fun.into()),
        ("fun_args", Value::Array(vec![])),
        ("return", value),
        ("retcode", 0.into()),
        ("success", true.into()),
        ("_stamp", "2026-11-26T17:29:03.755465".into()),
    ])
}

/// The events a master sends for a publish (the bare jid, `new`), then
/// the returns of the accepted targets, each `value_of(fun)`.
fn job_events(req: &Request, value: impl Fn(&str) -> Value) -> Vec<Emit> {
    let minions: Vec<Value> = req
        .tgt
        .iter()
        .filter(|m| ACCEPTED.contains(&m.as_str()))
        .map(|m| Value::from(m.as_str()))
        .collect();
    let mut emit = vec![
        Emit::Event(
            req.jid.clone(),
            map(vec![("minions", Value::Array(minions.clone()))]),
        ),
        Emit::Event(
            format!("salt/job/{}/new", req.jid),
            map(vec![
                ("jid", req.jid.as_str().into()),
                ("fun", req.fun.as_str().into()),
                ("minions", Value::Array(minions)),
            ]),
        ),
        // Other traffic on the bus, to be skipped.
        Emit::Event("salt/auth".into(), map(vec![("id", "m9".into())])),
    ];
    for minion in req.tgt.iter().filter(|m| ACCEPTED.contains(&m.as_str())) {
        emit.push(Emit::Event(
            format!("salt/job/{}/ret/{minion}", req.jid),
            ret_data(&req.jid, minion, &req.fun, value(&req.fun)),
        ));
    }
    emit
}

/// What a minion answers to the functions the client sends on its own.
fn standard_value(fun: &str) -> Value {
    match fun {
        "sys.list_functions" => Value::Array(vec!["state.sls".into(), "test.ping".into()]),
        // Not running that job (any more).
        "saltutil.find_job" => map(vec![]),
        _ => Value::Boolean(true),
    }
}

fn standard(req: &Request) -> Answer {
    Answer {
        reply: Some((Duration::ZERO, publish_reply(req))),
        emit: job_events(req, standard_value),
    }
}

fn auth_error() -> Value {
    map(vec![(
        "error",
        map(vec![
            ("name", "AuthenticationError".into()),
            ("message", "Authentication error occurred.".into()),
        ]),
    )])
}

struct Fake {
    /// Removed when the fake is dropped.
    _dir: tempfile::TempDir,
    config: PathBuf,
    key_file: PathBuf,
    cachedir: PathBuf,
    bus: Arc<Bus>,
    /// The key the fake accepts.
    key: Arc<Mutex<String>>,
    handler: Arc<Mutex<Handler>>,
    /// Every request received, in order.
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

const KEY: &str = "fake-master-key-0000000000000000000000000000000000000000000000000000000000";

impl Fake {
    fn start(framing: Framing) -> Fake {
        let dir = tempfile::Builder::new().prefix("pjf-").tempdir().unwrap();
        let sock_dir = dir.path().join("sock");
        let cachedir = dir.path().join("cache");
        let pki_dir = dir.path().join("pki");
        for d in [&sock_dir, &cachedir, &pki_dir.join("minions")] {
            std::fs::create_dir_all(d).unwrap();
        }
        for minion in ACCEPTED {
            std::fs::write(pki_dir.join("minions").join(minion), "PUBLIC KEY").unwrap();
        }
        let key_file = cachedir.join(".root_key");
        std::fs::write(&key_file, KEY).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

        let context = zmq::Context::new();
        let router = context.socket(zmq::ROUTER).unwrap();
        router.set_linger(0).unwrap();
        router.set_rcvtimeo(10).unwrap();
        router.bind("tcp://127.0.0.1:0").unwrap();
        let endpoint = router.get_last_endpoint().unwrap().unwrap();
        let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();

        let config = dir.path().join("master");
        std::fs::write(
            &config,
            format!(
                "interface: 127.0.0.1\nret_port: {port}\nsock_dir: {}\ncachedir: {}\npki_dir: {}\n",
                sock_dir.display(),
                cachedir.display(),
                pki_dir.display()
            ),
        )
        .unwrap();

        let bus = Arc::new(Bus {
            path: sock_dir.join("master_event_pub.ipc"),
            framing,
            torn: AtomicBool::new(false),
            listener: Mutex::new(None),
            conns: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
        });
        bus.listen();

        let mut fake = Fake {
            _dir: dir,
            config,
            key_file,
            cachedir,
            bus,
            key: Arc::new(Mutex::new(KEY.into())),
            handler: Arc::new(Mutex::new(Box::new(|_: &Request| None))),
            seen: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };

        let (emit_tx, emit_rx) = mpsc::channel::<Vec<Emit>>();
        let (bus, stop) = (fake.bus.clone(), fake.stop.clone());
        fake.threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                bus.accept_some();
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
        let bus = fake.bus.clone();
        fake.threads.push(std::thread::spawn(move || {
            for batch in emit_rx {
                let mut pending = Vec::new();
                for item in batch {
                    match item {
                        Emit::Event(tag, data) => pending.extend(frame(bus.framing, &tag, &data)),
                        Emit::Restart(pause) => {
                            bus.write(&std::mem::take(&mut pending));
                            bus.restart(pause);
                        }
                    }
                }
                if !pending.is_empty() {
                    bus.write(&pending);
                }
            }
        }));
        let server = Server {
            router,
            key: fake.key.clone(),
            handler: fake.handler.clone(),
            seen: fake.seen.clone(),
            emit: emit_tx,
            stop: fake.stop.clone(),
        };
        fake.threads.push(std::thread::spawn(move || server.run()));
        fake
    }

    /// Answers publishes with `handler` (returning `None` means the
    /// standard answer).
    fn on_publish(&self, handler: impl FnMut(&Request) -> Option<Answer> + Send + 'static) {
        *self.handler.lock().unwrap() = Box::new(handler);
    }

    /// The publishes of `fun` received so far.
    fn publishes(&self, fun: &str) -> Vec<Request> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.cmd == "publish" && r.fun == fun)
            .cloned()
            .collect()
    }

    /// A client on this fake, settled: the request server answered and
    /// the event bus is connected.
    async fn client(&self, options: Options) -> Arc<Salt> {
        let salt = Salt::start(
            MasterConfig::load(&self.config).unwrap(),
            options,
            &projetyd::background::Background::new(),
        )
        .unwrap();
        salt.settle(Duration::from_secs(5)).await;
        salt.status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.bus.connections() == 0 {
            assert!(Instant::now() < deadline, "the event reader never connected");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        salt
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A reply being held: when it is due, to whom, what, and the events
/// after it.
type Held = (Instant, Vec<u8>, Vec<u8>, Vec<Emit>);

struct Server {
    router: zmq::Socket,
    key: Arc<Mutex<String>>,
    handler: Arc<Mutex<Handler>>,
    seen: Arc<Mutex<Vec<Request>>>,
    emit: mpsc::Sender<Vec<Emit>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Serves until stopped. The emitter thread ends when `self.emit` is
    /// dropped on return.
    fn run(self) {
        let mut held: Vec<Held> = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) = held.into_iter().partition(|(at, ..)| *at <= now);
            held = later;
            for (_, identity, reply, emit) in due {
                self.send(&identity, &reply);
                if !emit.is_empty() {
                    let _ = self.emit.send(emit);
                }
            }
            let Ok(parts) = self.router.recv_multipart(0) else {
                continue;
            };
            // [identity, empty delimiter, payload] from a REQ socket.
            let [identity, _, payload] = <[Vec<u8>; 3]>::try_from(parts).unwrap();
            let Some((req, answer)) = self.handle(&identity, &payload) else {
                continue;
            };
            self.seen.lock().unwrap().push(req);
            match answer.reply {
                Some((delay, reply)) if delay.is_zero() => {
                    self.send(&identity, &pack(&reply));
                    if !answer.emit.is_empty() {
                        let _ = self.emit.send(answer.emit);
                    }
                }
                Some((delay, reply)) => {
                    held.push((Instant::now() + delay, identity, pack(&reply), answer.emit))
                }
                None => {
                    if !answer.emit.is_empty() {
                        let _ = self.emit.send(answer.emit);
                    }
                }
            }
        }
    }

    fn send(&self, identity: &[u8], reply: &[u8]) {
        // To a client socket that is gone, ROUTER drops the message.
        let _ = self.router.send_multipart([identity, &b""[..], reply], 0);
    }

    /// Checks the envelope as the master does and picks the answer.
    fn handle(&self, identity: &[u8], payload: &[u8]) -> Option<(Request, Answer)> {
        let envelope = rmpv::decode::read_value(&mut &payload[..]).unwrap();
        let reply_now = |value: Value| Answer {
            reply: Some((Duration::ZERO, value)),
            emit: Vec::new(),
        };
        let load = get(&envelope, "load").cloned().unwrap_or(Value::Nil);
        let req = Request {
            identity: identity.to_vec(),
            cmd: text(get(&load, "cmd")),
            fun: text(get(&load, "fun")),
            jid: text(get(&load, "jid")),
            tgt: get(&load, "tgt")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
            key: text(get(&load, "key")),
        };
        let valid = text(get(&envelope, "enc")) == "clear"
            && get(&envelope, "version").and_then(Value::as_u64) == Some(3)
            && load.is_map();
        if !valid {
            return Some((req, reply_now("bad load".into())));
        }
        match req.cmd.as_str() {
            "ping" => Some((req, reply_now(load))),
            "publish" => {
                let custom = (self.handler.lock().unwrap())(&req);
                let answer = match custom {
                    Some(answer) => answer,
                    None if req.key != *self.key.lock().unwrap() => reply_now(auth_error()),
                    None => standard(&req),
                };
                Some((req, answer))
            }
            _ => Some((req, reply_now(map(vec![])))),
        }
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

fn ping_m1() -> JobSpec {
    JobSpec::new(
        "test.ping",
        vec!["m1".into()],
        Duration::from_secs(5),
        Duration::from_secs(2),
    )
}

fn options(request_timeout: Duration, sockets: usize) -> Options {
    Options {
        request_timeout,
        sockets,
        ..Options::default()
    }
}

fn returned(outcome: &JobOutcome, minion: &str) -> Option<Value> {
    outcome.returns.get(minion).map(|r| r.value.clone())
}

/// (i) A publish whose reply never comes fails within the request timeout
/// (not the job's timeout), and the one socket of the pool is replaced: a
/// reply the fake sends late to the old socket reaches nobody, and the
/// next request gets its own answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_that_never_comes_fails_fast_and_the_socket_is_reset() {
    let fake = Fake::start(Framing::Bare);
    let mut first = true;
    fake.on_publish(move |req| {
        if req.fun != "test.ping" || !std::mem::take(&mut first) {
            return None;
        }
        // No reply within the client's time; a stale error reply later,
        // which a socket that was not reset would hand to the next caller.
        let stale = map(vec![(
            "error",
            map(vec![("name", "Stale".into()), ("message", "old reply".into())]),
        )]);
        Some(Answer {
            reply: Some((Duration::from_millis(1_500), stale)),
            emit: Vec::new(),
        })
    });
    // One socket, so the request after the timeout must use the same slot.
    let salt = fake.client(options(Duration::from_secs(1), 1)).await;

    let start = Instant::now();
    let err = salt.run(&ping_m1()).await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::Timeout | Error::Down(_)), "{err:?}");
    assert!(
        // At the request timeout, not before; the upper bound only says
        // "it did not hang".
        took >= Duration::from_millis(900) && took < Duration::from_secs(30),
        "failed after {took:?}, request timeout 1 s"
    );

    // The next job runs normally on a fresh socket (a timed-out request
    // does not mark the master down: only the health check does).
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        match salt.run(&ping_m1()).await {
            Ok(outcome) => break outcome,
            Err(Error::Down(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the pool did not recover: {err:?}"),
        }
    };
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
    assert!(outcome.silent.is_empty());

    let pings = fake.publishes("test.ping");
    assert_eq!(pings.len(), 2, "{pings:?}");
    assert_ne!(
        pings[0].identity, pings[1].identity,
        "the request after a timeout must come from a new socket"
    );
    // Long after the stale reply was sent, requests still get their own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outcome = salt.run(&ping_m1()).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
}

/// (ii) + (v) Event frames written a byte at a time, with pauses, in both
/// framings: the job still completes with the return.
#[tokio::test(flavor = "multi_thread")]
async fn torn_frames_are_reassembled() {
    for framing in FRAMINGS {
        let fake = Fake::start(framing);
        let salt = fake.client(options(Duration::from_secs(5), 2)).await;
        fake.bus.torn.store(true, Ordering::SeqCst);
        let start = Instant::now();
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
        assert!(outcome.silent.is_empty(), "{framing:?}");
        assert!(
            fake.publishes("saltutil.find_job").is_empty(),
            "{framing:?}: the return came by the event, not a find_job round ({:?})",
            start.elapsed()
        );
    }
}

/// Ext values of every msgpack encoding size, unknown to the client.
fn ext_zoo() -> Value {
    let ext = |kind: i8, len: usize| Value::Ext(kind, (0..len).map(|i| i as u8).collect());
    Value::Array(vec![
        Value::Ext(78, b"20261126T17:29:03.755465".to_vec()),
        ext(79, 1),
        ext(42, 2),
        ext(-1, 4),
        ext(-1, 8),
        ext(99, 16),
        ext(100, 3),
        ext(101, 300),
        ext(102, 70_000),
    ])
}

/// (iii) + (v) Unknown ext types in the publish reply and in event data
/// (in the return value, beside it, and in events of other jobs) decode
/// without failing, in both framings.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_ext_types_decode_in_replies_and_events() {
    for framing in FRAMINGS {
        let fake = Fake::start(framing);
        fake.on_publish(|req| {
            if req.fun != "test.ping" {
                return None;
            }
            let mut reply = publish_reply(req);
            if let Value::Map(pairs) = &mut reply {
                pairs.push(("_stamp".into(), Value::Ext(78, b"20261126T17:29:03.1".to_vec())));
                if let Some((_, Value::Map(load))) =
                    pairs.iter_mut().find(|(k, _)| k.as_str() == Some("load"))
                {
                    load.push(("extra".into(), ext_zoo()));
                }
            }
            let mut emit = vec![Emit::Event(
                "salt/job/20260101000000000000/ret/m9".into(),
                map(vec![("return", ext_zoo())]),
            )];
            for item in job_events(req, |_| map(vec![("ok", true.into()), ("zoo", ext_zoo())])) {
                emit.push(match item {
                    Emit::Event(tag, Value::Map(mut data)) => {
                        data.push(("when".into(), Value::Ext(78, b"20261126T17:29:03.2".to_vec())));
                        Emit::Event(tag, Value::Map(data))
                    }
                    other => other,
                });
            }
            Some(Answer {
                reply: Some((Duration::ZERO, reply)),
                emit,
            })
        });
        let salt = fake.client(options(Duration::from_secs(5), 2)).await;
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(map(vec![("ok", true.into()), ("zoo", ext_zoo())])),
            "{framing:?}"
        );
        // The bus is still in step after them: a second job works.
        fake.on_publish(|_| None);
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
    }
}

/// Deterministic printable text, so that a shifted or dropped chunk shows.
fn big_text(len: usize) -> String {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'!' + ((x >> 16) % 94) as u8)
        })
        .collect()
}

/// (iv) + (v) A return of 1 MiB (the master's default max_event_size)
/// arrives intact in both framings, followed by a normal job.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_mebibyte_event_is_delivered_intact() {
    let big = big_text(1 << 20);
    for framing in FRAMINGS {
        let fake = Fake::start(framing);
        let value = big.clone();
        fake.on_publish(move |req| {
            (req.fun == "test.ping").then(|| Answer {
                reply: Some((Duration::ZERO, publish_reply(req))),
                emit: job_events(req, |_| Value::from(value.as_str())),
            })
        });
        let salt = fake.client(options(Duration::from_secs(5), 2)).await;
        let outcome = salt.run(&ping_m1()).await.unwrap();
        let got = returned(&outcome, "m1").unwrap();
        let got = got.as_str().unwrap_or_default();
        assert_eq!(got.len(), big.len(), "{framing:?}");
        assert!(got == big, "{framing:?}: the 1 MiB return differs");
        fake.on_publish(|_| None);
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
    }
}

/// Writes `m1`'s return of `jid` in the master's job cache, as the master
/// does before it sends the event.
fn write_cached_return(cachedir: &Path, jid: &str, value: Value) {
    let hash: String = ring::digest::digest(&ring::digest::SHA256, jid.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cachedir.join("jobs").join(&hash[..2]).join(&hash[2..]).join("m1");
    std::fs::create_dir_all(&dir).unwrap();
    let data = map(vec![
        ("return", value),
        ("retcode", 0.into()),
        ("success", true.into()),
    ]);
    std::fs::write(dir.join("return.p"), pack(&data)).unwrap();
}

/// (vi) + (v) The event bus closes (the listener too) and reopens after
/// the publish, so the return event is lost: the job still returns, from
/// the master's job cache, once m1's find_job answer says it is done.
#[tokio::test(flavor = "multi_thread")]
async fn the_event_bus_reopening_mid_job_falls_back_to_the_job_cache() {
    for framing in FRAMINGS {
        let fake = Fake::start(framing);
        let cachedir = fake.cachedir.clone();
        fake.on_publish(move |req| {
            if req.fun != "test.ping" {
                return None;
            }
            write_cached_return(&cachedir, &req.jid, Value::Boolean(true));
            let mut emit = job_events(req, standard_value);
            emit.truncate(2); // the bare jid and salt/job/<jid>/new only
            emit.push(Emit::Restart(Duration::from_millis(300)));
            Some(Answer {
                reply: Some((Duration::ZERO, publish_reply(req))),
                emit,
            })
        });
        let salt = fake.client(options(Duration::from_secs(5), 2)).await;
        let accepted = fake.bus.accepted.load(Ordering::SeqCst);
        let spec = JobSpec::new(
            "test.ping",
            vec!["m1".into()],
            // Long enough for the reader to be back (its backoff) before
            // the find_job round starts.
            Duration::from_secs(2),
            Duration::from_secs(5),
        );
        let start = Instant::now();
        let outcome = salt.run(&spec).await.unwrap();
        let took = start.elapsed();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
        assert!(outcome.silent.is_empty(), "{framing:?}");
        assert!(
            fake.bus.accepted.load(Ordering::SeqCst) > accepted,
            "{framing:?}: the reader did not reconnect"
        );
        // The job noticed the reconnect and read the cache at once: no
        // find_job round (which would start once the 2 s timeout passed).
        assert_eq!(
            fake.publishes("saltutil.find_job").len(),
            0,
            "{framing:?}: took {took:?}"
        );
        // And the reconnected bus serves the next job by its events.
        fake.on_publish(|_| None);
        let outcome = salt.run(&ping_m1()).await.unwrap();
        assert_eq!(
            returned(&outcome, "m1"),
            Some(Value::Boolean(true)),
            "{framing:?}"
        );
    }
}

/// (vii) An AuthenticationError, because the master wrote a new key (3006
/// does at every start) after the client read the old one: the client
/// reads the key file again and the retry succeeds. A key that stays wrong
/// is an `Auth` error after one retry, and the key is never in it.
#[tokio::test(flavor = "multi_thread")]
async fn an_authentication_error_rereads_the_key() {
    let fake = Fake::start(Framing::Prefixed);
    let salt = fake.client(options(Duration::from_secs(5), 2)).await;
    let outcome = salt.run(&ping_m1()).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));

    const NEW_KEY: &str = "rotated-master-key-11111111111111111111111111111111111111111111111111111111";
    let (key, key_file) = (fake.key.clone(), fake.key_file.clone());
    let mut rotated = false;
    fake.on_publish(move |req| {
        if req.fun == "test.ping" && !std::mem::replace(&mut rotated, true) {
            std::fs::write(&key_file, NEW_KEY).unwrap();
            *key.lock().unwrap() = NEW_KEY.into();
        }
        None // the standard answer: an auth error for the old key
    });
    let outcome = salt.run(&ping_m1()).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
    let keys: Vec<String> = fake.publishes("test.ping").into_iter().map(|r| r.key).collect();
    assert_eq!(keys, [KEY, KEY, NEW_KEY]);

    // A key that is never accepted: two attempts, then Auth.
    *fake.key.lock().unwrap() = "something else".into();
    let err = salt.run(&ping_m1()).await.unwrap_err();
    assert!(matches!(err, Error::Auth), "{err:?}");
    assert!(!err.to_string().contains(NEW_KEY));
    assert!(!format!("{err:?}").contains(NEW_KEY));
    assert_eq!(fake.publishes("test.ping").len(), 5);
}

/// Not a fault: the fake answers like a master, so a plain job works and
/// a target without an accepted key is reported missing, not silent.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_answers_like_a_master() {
    let fake = Fake::start(Framing::Bare);
    let salt = fake.client(options(Duration::from_secs(5), 2)).await;
    let spec = JobSpec::new(
        "test.ping",
        vec!["m1".into(), "ghost".into()],
        Duration::from_secs(5),
        Duration::from_secs(2),
    );
    let outcome = salt.run(&spec).await.unwrap();
    assert_eq!(returned(&outcome, "m1"), Some(Value::Boolean(true)));
    assert_eq!(outcome.missing, ["ghost"]);
    assert!(outcome.silent.is_empty());
    let published = fake.publishes("test.ping");
    assert_eq!(published[0].tgt, ["m1", "ghost"]);
    let seen: BTreeMap<String, usize> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.cmd.clone()).or_default() += 1;
            m
        });
    assert!(seen.get("ping").copied().unwrap_or(0) >= 1, "{seen:?}");
}

/// Issue #8 part 3: the master stops answering between the publish and the
/// find_job round. Before, the silent minion came back as `silent` (a
/// `false` to the client); now the job fails as the master's outage.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_lost_before_find_job_fails_the_job_not_the_minion() {
    let fake = Fake::start(Framing::Bare);
    fake.on_publish(|req| match req.fun.as_str() {
        // Published, but the minion's return never comes.
        "test.ping" => Some(Answer {
            reply: Some((Duration::ZERO, publish_reply(req))),
            emit: Vec::new(),
        }),
        // The master is gone: no reply at all.
        "saltutil.find_job" => Some(Answer {
            reply: None,
            emit: Vec::new(),
        }),
        _ => None,
    });
    let salt = fake.client(options(Duration::from_secs(1), 2)).await;
    let spec = JobSpec::new(
        "test.ping",
        vec!["m1".into()],
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let err = salt.run(&spec).await.unwrap_err();
    assert!(matches!(err, Error::Down(_)), "{err:?}");
}
