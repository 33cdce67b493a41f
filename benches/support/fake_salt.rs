//! A fake-fast Salt master for benches: answers at once and returns every
//! job at once, so that what a bench measures is projetyd, not Salt.
//!
//! It speaks just enough of the protocol (see `docs/salt-protocol.md` and
//! the fuller fault-injecting fake in `tests/salt_faults.rs`):
//!
//! - a master config directory: the `master` file (`interface`, `ret_port`,
//!   `sock_dir`, `cachedir`, `pki_dir`), `cachedir/.root_key` (mode 0600)
//!   and one file per accepted minion in `pki_dir/minions/`;
//! - the request server: a ZeroMQ ROUTER on `tcp://127.0.0.1:<free port>`
//!   (a ROUTER serves every REQ socket of the client from one thread, far
//!   faster than the thousands of publishes per second a bench sends). A
//!   clear `ping` is echoed; a `publish` is answered
//!   `{"enc": "clear", "load": {"jid", "minions", "missing"}}`; anything
//!   else gets an empty map. Any key is accepted;
//! - the event bus: a Unix stream listener at
//!   `<sock_dir>/master_event_pub.ipc`. Right after each publish reply, a
//!   `salt/job/<jid>/ret/<minion>` event per accepted target goes to every
//!   connected reader, as bare msgpack frames
//!   `{"head": {}, "body": bin(tag "\n\n" msgpack(data))}`. A minion whose
//!   id starts with `silent-` is accepted but never returns anything (not
//!   even to find_job), so a job that targets it lasts its whole timeout.
//!
//! Two threads: the request server, and the bus (accepts readers and
//! writes the events the server hands it, batched into one write per
//! reader). Both stop, and are joined, on [`FakeSalt::stop`] or drop.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rmpv::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the fake has done so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Clear `ping` requests (the client's health checks).
    pub pings: AtomicU64,
    /// `publish` requests, all functions.
    pub publishes: AtomicU64,
    /// `publish` requests of `test.ping`.
    pub test_pings: AtomicU64,
    /// Return events written (once per reader).
    pub events: AtomicU64,
    /// Event-bus readers accepted.
    pub readers: AtomicU64,
}

/// A running fake master; stopped and its directory removed when dropped.
pub struct FakeSalt {
    dir: Option<tempfile::TempDir>,
    /// The `master` config file to hand to projetyd.
    pub config: PathBuf,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// One publish whose returns the bus must write.
struct Job {
    jid: String,
    fun: String,
    minions: Vec<String>,
}

/// The master key the fake writes (it accepts any key).
const KEY: &str = "fake-fast-master-key-000000000000000000000000000000000000000000000000000000";

impl FakeSalt {
    /// Starts a master whose accepted minions are `minions`.
    pub fn start(minions: &[&str]) -> Result<FakeSalt, BoxError> {
        let dir = tempfile::Builder::new().prefix("pj-fake-salt-").tempdir()?;
        let sock_dir = dir.path().join("sock");
        let cachedir = dir.path().join("cache");
        let pki_dir = dir.path().join("pki");
        for d in [&sock_dir, &cachedir, &pki_dir.join("minions")] {
            std::fs::create_dir_all(d)?;
        }
        for minion in minions {
            std::fs::write(pki_dir.join("minions").join(minion), "FAKE PUBLIC KEY")?;
        }
        let key_file = cachedir.join(".root_key");
        std::fs::write(&key_file, KEY)?;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;

        let context = zmq::Context::new();
        let router = context.socket(zmq::ROUTER)?;
        router.set_linger(0)?;
        // The server checks for stop this often when idle.
        router.set_rcvtimeo(100)?;
        router.set_rcvhwm(0)?;
        router.set_sndhwm(0)?;
        router.bind("tcp://127.0.0.1:0")?;
        let endpoint = router
            .get_last_endpoint()?
            .map_err(|_| "the ROUTER endpoint is not UTF-8")?;
        let port: u16 = endpoint.rsplit(':').next().unwrap_or_default().parse()?;

        let config = dir.path().join("master");
        std::fs::write(
            &config,
            format!(
                "interface: 127.0.0.1\nret_port: {port}\nsock_dir: {}\ncachedir: {}\npki_dir: {}\n",
                sock_dir.display(),
                cachedir.display(),
                pki_dir.display()
            ),
        )?;

        let bus_path = sock_dir.join("master_event_pub.ipc");
        let listener = UnixListener::bind(&bus_path)?;
        listener.set_nonblocking(true)?;

        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let accepted: Arc<Vec<String>> = Arc::new(minions.iter().map(|m| m.to_string()).collect());
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let mut threads = Vec::new();
        {
            let (counts, stop) = (counts.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("fake-salt-bus".into())
                    .spawn(move || bus(&listener, &jobs_rx, &counts, &stop))?,
            );
        }
        {
            let (counts, stop) = (counts.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("fake-salt-req".into())
                    .spawn(move || serve(&router, &accepted, &jobs_tx, &counts, &stop))?,
            );
        }
        Ok(FakeSalt {
            dir: Some(dir),
            config,
            counts,
            stop,
            threads,
        })
    }

    /// Stops both threads, waits for them and removes the directory.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for FakeSalt {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// msgpack
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
    let mut out = Vec::with_capacity(128);
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, value);
    out
}

fn strings(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|m| Value::from(m.as_str())).collect())
}

// ---------------------------------------------------------------------------
// The request server
// ---------------------------------------------------------------------------

fn serve(
    router: &zmq::Socket,
    accepted: &[String],
    jobs: &mpsc::Sender<Job>,
    counts: &Counts,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut parts) = router.recv_multipart(0) else {
            continue; // the receive timeout: look at `stop` again
        };
        // [identity, empty delimiter, payload] from a REQ socket: answer
        // with the same envelope.
        let Some(payload) = parts.pop() else { continue };
        let reply = match rmpv::decode::read_value(&mut payload.as_slice()) {
            Ok(request) => answer(&request, accepted, jobs, counts),
            Err(_) => Value::from("bad load"),
        };
        parts.push(pack(&reply));
        let _ = router.send_multipart(parts, 0);
    }
}

/// The reply to one request; hands a publish's returns to the bus.
fn answer(request: &Value, accepted: &[String], jobs: &mpsc::Sender<Job>, counts: &Counts) -> Value {
    let Some(load) = get(request, "load").filter(|l| l.is_map()) else {
        return Value::from("bad load");
    };
    match text(get(load, "cmd")).as_str() {
        "ping" => {
            counts.pings.fetch_add(1, Ordering::Relaxed);
            load.clone()
        }
        "publish" => {
            counts.publishes.fetch_add(1, Ordering::Relaxed);
            let jid = text(get(load, "jid"));
            let fun = text(get(load, "fun"));
            if fun == "test.ping" {
                counts.test_pings.fetch_add(1, Ordering::Relaxed);
            }
            let targets: Vec<String> = get(load, "tgt")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let (minions, missing): (Vec<String>, Vec<String>) =
                targets.into_iter().partition(|m| accepted.contains(m));
            let reply = map(vec![
                ("enc", "clear".into()),
                (
                    "load",
                    map(vec![
                        ("jid", jid.as_str().into()),
                        ("minions", strings(&minions)),
                        ("missing", strings(&missing)),
                    ]),
                ),
            ]);
            if !minions.is_empty() {
                let _ = jobs.send(Job { jid, fun, minions });
            }
            reply
        }
        _ => map(vec![]),
    }
}

// ---------------------------------------------------------------------------
// The event bus
// ---------------------------------------------------------------------------

/// What a minion returns for `fun`.
fn value_of(fun: &str) -> Value {
    match fun {
        "sys.list_functions" => Value::Array(vec!["sys.list_functions".into(), "test.ping".into()]),
        // Not running that job (any more).
        "saltutil.find_job" => map(vec![]),
        _ => Value::Boolean(true),
    }
}

/// Appends the bare frame of one return event to `out` (nothing for a
/// `silent-` minion).
fn ret_frame(out: &mut Vec<u8>, job: &Job, minion: &str) {
    if minion.starts_with("silent-") {
        return;
    }
    let data = map(vec![
        ("id", minion.into()),
        ("jid", job.jid.as_str().into()),
        ("return", value_of(&job.fun)),
        ("retcode", 0.into()),
        ("success", true.into()),
        ("fun", job.fun.as_str().into()),
    ]);
    let mut body = format!("salt/job/{}/ret/{minion}\n\n", job.jid).into_bytes();
    body.extend_from_slice(&pack(&data));
    let frame = map(vec![("head", map(vec![])), ("body", Value::Binary(body))]);
    let _ = rmpv::encode::write_value(out, &frame);
}

fn bus(listener: &UnixListener, jobs: &mpsc::Receiver<Job>, counts: &Counts, stop: &AtomicBool) {
    let mut readers: Vec<UnixStream> = Vec::new();
    let mut batch = Vec::with_capacity(64 * 1024);
    while !stop.load(Ordering::Relaxed) {
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(false).is_ok()
                && stream.set_write_timeout(Some(Duration::from_secs(10))).is_ok()
            {
                counts.readers.fetch_add(1, Ordering::Relaxed);
                readers.push(stream);
            }
        }
        batch.clear();
        let mut events = 0u64;
        match jobs.recv_timeout(Duration::from_millis(10)) {
            Ok(job) => {
                for minion in &job.minions {
                    ret_frame(&mut batch, &job, minion);
                    events += 1;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Whatever else is waiting goes in the same write.
        while batch.len() < 1 << 20 {
            let Ok(job) = jobs.try_recv() else { break };
            for minion in &job.minions {
                ret_frame(&mut batch, &job, minion);
                events += 1;
            }
        }
        readers.retain_mut(|reader| reader.write_all(&batch).is_ok());
        counts
            .events
            .fetch_add(events * readers.len() as u64, Ordering::Relaxed);
    }
}
