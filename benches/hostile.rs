//! Hostile clients against the real `projetyd` binary (issue #8, parts 4
//! and 5): what they cost the daemon, and what a normal client sees
//! meanwhile.
//!
//! ```text
//! cargo bench --bench hostile                        # both parts
//! BENCH_PART=connections cargo bench --bench hostile
//! BENCH_PART=logins cargo bench --bench hostile
//! BENCH_PART=connections BENCH_KINDS=pipeline,silent cargo bench --bench hostile
//! ```
//!
//! The daemon runs on a throwaway database against the in-process fake-fast
//! Salt master (`testkit/src/fake_master.rs`), with its default limits
//! (`BENCH_DAEMON_ARGS` adds `serve` arguments, split on spaces).
//!
//! **Connections.** For each kind below (`BENCH_KINDS`, comma-separated
//! names, picks some), `BENCH_CONNECTIONS` [1500]
//! hostile connections are opened at once, spread over the source
//! addresses 127.0.0.2 to 127.0.0.9 (so that the per-address limit, 256 by
//! default, does not turn them away) and opened 50 every 20 ms, and each
//! behaves so until the daemon ends it or 90 s pass. Each kind has a
//! daemon of its own, so that "before" is a daemon at rest:
//!
//! - `silent`: connects and sends nothing;
//! - `header-drip`: a request line, then one header byte a second;
//! - `body-drip`: a whole authenticated `POST /api/v1.0/ping` head with
//!   `Content-Length: 4000`, then one body byte a second;
//! - `big-headers`: 370 KB of header lines with no end, as fast as the
//!   socket takes them;
//! - `pipeline`: `GET /healthz` requests pipelined as fast as the socket
//!   takes them, and no answer ever read.
//!
//! Meanwhile a normal client on 127.0.0.1 sends `GET /api/v1.0/users` with
//! its token every 10 ms on one keep-alive connection. Reported per kind:
//! the daemon's RSS before, its peak while the connections live (sampled
//! every 100 ms) and 15 s after the last one ended (the normal client
//! still at work); its peak thread count;
//! how the connections ended (the daemon's answer or close, and when); and
//! the normal client's latency percentiles and failures.
//!
//! **Logins.** Three floods of `BENCH_LOGIN_FLOOD` [200] concurrent clients
//! that loop on wrong `POST /api/v1.0/tokens` for `BENCH_LOGIN_SECS` [20]
//! seconds, each on a fresh daemon: all from one address (127.0.0.2) with
//! the user's name; from 200 addresses (127.0.1.x) with the user's name;
//! from 200 addresses with a new random name per attempt. Meanwhile the
//! user logs in with the right password from 127.0.0.1 once a second.
//! Reported: the flood's answers by status, and the legitimate logins'
//! latencies and statuses.
//!
//! A table on stdout and JSON in `target/bench-results/hostile.json`.
//! Loopback only; every socket is closed and the daemon (by pid) stopped
//! before the bench returns.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use projetyd_testkit::bench::{env_number, load_average, target_dir, BenchDaemon, Result};
use projetyd_testkit::fake_master::FakeMaster;
use projetyd_testkit::http::Client;
use projetyd_testkit::measure::{proc_status, round, Sampler, Stats};

/// The longest a hostile connection is kept up by the bench.
const HOLD: Duration = Duration::from_secs(90);
/// Connections are opened this many at a time, [`OPEN_PAUSE`] apart: all
/// at once overflow the listen backlog, and the kernel then keeps
/// connections the daemon never sees (the client believes it connected).
const OPEN_BATCH: usize = 50;
const OPEN_PAUSE: Duration = Duration::from_millis(20);
/// Pause after the last hostile connection before the "after" RSS (the
/// allocator hands freed pages back after about 10 s).
const REST: Duration = Duration::from_secs(15);
/// The normal client's pace.
const NORMAL_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Silent,
    HeaderDrip,
    BodyDrip,
    BigHeaders,
    Pipeline,
}

const KINDS: [Kind; 5] = [
    Kind::Silent,
    Kind::HeaderDrip,
    Kind::BodyDrip,
    Kind::BigHeaders,
    Kind::Pipeline,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Silent => "silent",
            Kind::HeaderDrip => "header-drip",
            Kind::BodyDrip => "body-drip",
            Kind::BigHeaders => "big-headers",
            Kind::Pipeline => "pipeline",
        }
    }
}

fn main() -> Result<()> {
    let part = std::env::var("BENCH_PART").unwrap_or_else(|_| "all".into());
    let (connections, logins) = match part.as_str() {
        "all" => (true, true),
        "connections" => (true, false),
        "logins" => (false, true),
        other => return Err(format!("BENCH_PART={other:?}: all, connections or logins").into()),
    };
    let settings = Settings {
        connections: env_number("BENCH_CONNECTIONS", 1500)?,
        flood: env_number("BENCH_LOGIN_FLOOD", 200)?,
        flood_for: Duration::from_secs(env_number("BENCH_LOGIN_SECS", 20)? as u64),
        kinds: match std::env::var("BENCH_KINDS") {
            Err(_) => KINDS.to_vec(),
            Ok(names) => names
                .split(',')
                .map(|name| {
                    KINDS
                        .into_iter()
                        .find(|kind| kind.name() == name.trim())
                        .ok_or_else(|| format!("BENCH_KINDS: no kind {name:?}"))
                })
                .collect::<std::result::Result<_, _>>()?,
        },
        daemon_args: std::env::var("BENCH_DAEMON_ARGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fake = FakeMaster::start(&["m1"])?;
    println!(
        "hostile: {} connections per kind, login floods of {} for {:?}, {} CPUs, load average {}",
        settings.connections,
        settings.flood,
        settings.flood_for,
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        load_average()
    );

    let mut results = json!({
        "bench": "hostile",
        "settings": {
            "connections_per_kind": settings.connections,
            "login_flood": settings.flood,
            "login_flood_s": settings.flood_for.as_secs(),
            "daemon_args": settings.daemon_args,
        },
        "load_average_at_start": load_average(),
    });
    if connections {
        let mut rows = Vec::new();
        for kind in settings.kinds.iter().copied() {
            let mut daemon = BenchDaemon::start(&fake.config, &settings.daemon_args)?;
            let outcome = daemon
                .wait_for_salt()
                .and_then(|()| runtime.block_on(hostile_connections(&daemon, &settings, kind)));
            let tail = daemon.log_tail(20);
            daemon.stop();
            rows.push(outcome.map_err(|e| format!("{e}; daemon log tail:\n{tail}"))?);
        }
        print_connections(&rows);
        results["connections"] = rows.iter().map(Row::json).collect();
    }
    if logins {
        let mut floods = Vec::new();
        for flood in [Flood::OneAddress, Flood::ManyAddresses, Flood::NameSpray] {
            let mut daemon = BenchDaemon::start(&fake.config, &settings.daemon_args)?;
            let outcome = runtime.block_on(login_flood(&daemon, &settings, flood));
            let tail = daemon.log_tail(20);
            daemon.stop();
            floods.push(outcome.map_err(|e| format!("{e}; daemon log tail:\n{tail}"))?);
        }
        print_logins(&floods);
        results["logins"] = floods.iter().map(FloodOutcome::json).collect();
    }
    // No hostile request may reach Salt (the body drips never complete).
    results["fake_salt_publishes"] = json!(fake.counts.publishes.load(std::sync::atomic::Ordering::Relaxed));
    results["load_average_at_end"] = json!(load_average());
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("hostile.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}

struct Settings {
    connections: usize,
    /// `BENCH_KINDS` (names, comma-separated), all of them by default.
    kinds: Vec<Kind>,
    flood: usize,
    flood_for: Duration,
    daemon_args: Vec<String>,
}

// ---------------------------------------------------------------------------
// Hostile connections
// ---------------------------------------------------------------------------

/// How one hostile connection ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// The daemon answered (its status) and closed.
    Answered(u16),
    /// The daemon closed (or reset) it without an answer.
    Closed,
    /// The bench gave up on it after [`HOLD`].
    Held,
    /// It could not be opened.
    Refused,
}

impl End {
    fn label(&self) -> String {
        match self {
            End::Answered(status) => format!("answered {status}"),
            End::Closed => "closed".into(),
            End::Held => "still open at 90 s".into(),
            End::Refused => "not opened".into(),
        }
    }
}

struct Row {
    kind: Kind,
    rss_before_kb: u64,
    rss_peak_kb: u64,
    rss_after_kb: u64,
    threads_peak: u64,
    /// Per ending: how many, and the median and longest time to it.
    ends: BTreeMap<End, Vec<Duration>>,
    normal: Stats,
    normal_failures: BTreeMap<String, usize>,
    phase: Duration,
}

impl Row {
    fn json(&self) -> serde_json::Value {
        let ends: serde_json::Map<String, serde_json::Value> = self
            .ends
            .iter()
            .map(|(end, times)| {
                let stats = Stats::of(times);
                (
                    end.label(),
                    json!({"count": times.len(), "p50_s": round(stats.p50 / 1e3), "max_s": round(stats.max / 1e3)}),
                )
            })
            .collect();
        json!({
            "kind": self.kind.name(),
            "rss_before_kb": self.rss_before_kb,
            "rss_peak_kb": self.rss_peak_kb,
            "rss_after_kb": self.rss_after_kb,
            "threads_peak": self.threads_peak,
            "ends": ends,
            "normal_client": self.normal.json(),
            "normal_client_failures": self.normal_failures,
            "phase_s": round(self.phase.as_secs_f64()),
        })
    }
}

async fn hostile_connections(daemon: &BenchDaemon, settings: &Settings, kind: Kind) -> Result<Row> {
    println!("  {}: {} connections ...", kind.name(), settings.connections);
    let rss_before_kb = proc_status(daemon.pid, "VmRSS").unwrap_or(0);
    let normal = Normal::start(daemon);
    let sampler = Sampler::start(daemon.pid);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(settings.connections);
    for i in 0..settings.connections {
        if i > 0 && i % OPEN_BATCH == 0 {
            tokio::time::sleep(OPEN_PAUSE).await;
        }
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8));
        tasks.push(tokio::spawn(one_hostile(
            kind,
            source,
            daemon.addr,
            daemon.bearer.clone(),
        )));
    }
    let mut ends: BTreeMap<End, Vec<Duration>> = BTreeMap::new();
    for task in tasks {
        let (end, after) = task.await?;
        ends.entry(end).or_default().push(after);
    }
    let phase = started.elapsed();
    let (rss_peak_kb, threads_peak) = sampler.stop();
    let Seen {
        latencies,
        failures: normal_failures,
    } = normal.take();
    // The normal client goes on meanwhile: a daemon at work, not idle.
    tokio::time::sleep(REST).await;
    let rss_after_kb = proc_status(daemon.pid, "VmRSS").unwrap_or(0);
    normal.stop();
    Ok(Row {
        kind,
        rss_before_kb,
        rss_peak_kb,
        rss_after_kb,
        threads_peak,
        ends,
        normal: Stats::of(&latencies),
        normal_failures,
        phase,
    })
}

async fn connect_from(source: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// One hostile connection, from open to its end (and the time to it).
async fn one_hostile(kind: Kind, source: IpAddr, addr: SocketAddr, bearer: String) -> (End, Duration) {
    let started = Instant::now();
    let Ok(stream) = connect_from(source, addr).await else {
        return (End::Refused, started.elapsed());
    };
    let end = match tokio::time::timeout(HOLD, behave(kind, stream, &bearer)).await {
        Ok(end) => end,
        Err(_) => End::Held,
    };
    (end, started.elapsed())
}

async fn behave(kind: Kind, stream: TcpStream, bearer: &str) -> End {
    let (mut reader, mut writer) = stream.into_split();
    match kind {
        Kind::Silent => answer(&mut reader).await,
        Kind::HeaderDrip => {
            let head = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Drip: ".to_vec();
            drip(&mut reader, &mut writer, head).await
        }
        Kind::BodyDrip => {
            let head = format!(
                "POST /api/v1.0/ping HTTP/1.1\r\nHost: bench\r\nAuthorization: {bearer}\r\n\
                 Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
            );
            drip(&mut reader, &mut writer, head.into_bytes()).await
        }
        Kind::BigHeaders => {
            let mut head = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n".to_vec();
            let line = format!("X-Pad: {}\r\n", "a".repeat(990));
            while head.len() < 370_000 {
                head.extend_from_slice(line.as_bytes());
            }
            // The daemon answers 431 and closes long before it all went;
            // a write error is expected.
            let (_, end) = tokio::join!(writer.write_all(&head), answer(&mut reader));
            end
        }
        Kind::Pipeline => {
            let request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n".repeat(256);
            // Never read: writes go on until the socket is full, then wait
            // for the daemon to give up on us.
            loop {
                if writer.write_all(&request).await.is_err() {
                    return End::Closed;
                }
            }
        }
    }
}

/// Sends `head`, then one byte a second, until the daemon answers or
/// closes.
async fn drip(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    head: Vec<u8>,
) -> End {
    let dripping = async {
        if writer.write_all(&head).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        end = answer(reader) => end,
        () = dripping => answer(reader).await,
    }
}

/// Reads until the daemon closes: its status if it answered.
async fn answer(reader: &mut tokio::net::tcp::OwnedReadHalf) -> End {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) if got.len() < 64 => got.extend_from_slice(&buf[..n]),
            Ok(_) => {}
        }
    }
    let status = std::str::from_utf8(&got)
        .ok()
        .and_then(|text| text.strip_prefix("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    status.map_or(End::Closed, End::Answered)
}

/// The normal client: `GET /api/v1.0/users` every 10 ms, on its own thread.
struct Normal {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: std::thread::JoinHandle<()>,
}

/// What the normal client has seen since it was last asked.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    failures: BTreeMap<String, usize>,
}

impl Normal {
    fn start(daemon: &BenchDaemon) -> Normal {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (flag, record) = (stop.clone(), seen.clone());
        let (addr, bearer) = (daemon.addr, daemon.bearer.clone());
        let thread = std::thread::spawn(move || {
            let mut conn = Client::new(addr);
            while !flag.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let result = conn.request("GET", "/api/v1.0/users", &bearer, b"");
                let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(reply) if reply.status == 200 => seen.latencies.push(sent.elapsed()),
                    Ok(reply) => {
                        *seen
                            .failures
                            .entry(format!("status {}", reply.status))
                            .or_insert(0) += 1
                    }
                    Err(err) => *seen.failures.entry(err.kind().to_string()).or_insert(0) += 1,
                }
                drop(seen);
                std::thread::sleep(NORMAL_EVERY);
            }
        });
        Normal { stop, seen, thread }
    }

    /// What it saw so far; it goes on.
    fn take(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn print_connections(rows: &[Row]) {
    println!("\nhostile connections (RSS in MiB; normal client latency in ms)");
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7} {:>6}  ends",
        "kind", "before", "peak", "after", "threads", "p50", "p99", "max", "fails"
    );
    for row in rows {
        let ends: Vec<String> = row
            .ends
            .iter()
            .map(|(end, times)| {
                let stats = Stats::of(times);
                format!(
                    "{} × {} (median {:.1} s, max {:.1} s)",
                    times.len(),
                    end.label(),
                    stats.p50 / 1e3,
                    stats.max / 1e3
                )
            })
            .collect();
        println!(
            "{:<12} {:>7.1} {:>7.1} {:>7.1} {:>8} {:>7.2} {:>7.2} {:>7.2} {:>6}  {}",
            row.kind.name(),
            row.rss_before_kb as f64 / 1024.0,
            row.rss_peak_kb as f64 / 1024.0,
            row.rss_after_kb as f64 / 1024.0,
            row.threads_peak,
            row.normal.p50,
            row.normal.p99,
            row.normal.max,
            row.normal_failures.values().sum::<usize>(),
            ends.join("; ")
        );
    }
}

// ---------------------------------------------------------------------------
// Login floods
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Flood {
    /// Every guess from 127.0.0.2, for the user's name.
    OneAddress,
    /// Guesses from 127.0.1.1 onwards, one address per client, for the
    /// user's name.
    ManyAddresses,
    /// As many addresses, a new random name at every guess.
    NameSpray,
}

impl Flood {
    fn name(self) -> &'static str {
        match self {
            Flood::OneAddress => "one address, the user's name",
            Flood::ManyAddresses => "many addresses, the user's name",
            Flood::NameSpray => "many addresses, random names",
        }
    }

    fn source(self, client: usize) -> IpAddr {
        match self {
            Flood::OneAddress => IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            Flood::ManyAddresses | Flood::NameSpray => IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                1 + (client / 250) as u8,
                1 + (client % 250) as u8,
            )),
        }
    }
}

struct FloodOutcome {
    flood: Flood,
    clients: usize,
    /// The flood's answers by status ("io" for a failed exchange).
    answers: BTreeMap<String, usize>,
    /// The legitimate logins before the flood (baseline) and during it.
    baseline: Vec<Duration>,
    legit: Vec<Duration>,
    legit_statuses: BTreeMap<u16, usize>,
}

impl FloodOutcome {
    fn json(&self) -> serde_json::Value {
        json!({
            "flood": self.flood.name(),
            "clients": self.clients,
            "flood_answers": self.answers,
            "legit_baseline": Stats::of(&self.baseline).json(),
            "legit_during_flood": Stats::of(&self.legit).json(),
            "legit_statuses": self.legit_statuses,
        })
    }
}

async fn login_flood(daemon: &BenchDaemon, settings: &Settings, flood: Flood) -> Result<FloodOutcome> {
    println!("  login flood, {}: {} clients ...", flood.name(), settings.flood);
    let basic = |name: &str, password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"))
        )
    };
    let good = basic("bench", &daemon.password);
    let addr = daemon.addr;
    let legit_once = |good: String| {
        tokio::task::spawn_blocking(move || {
            let sent = Instant::now();
            let reply = Client::new(addr).request("POST", "/api/v1.0/tokens?expiration=60", &good, b"");
            (sent.elapsed(), reply.map(|r| r.status).unwrap_or(0))
        })
    };
    let mut baseline = Vec::new();
    for _ in 0..3 {
        let (took, status) = legit_once(good.clone()).await?;
        if status != 200 {
            return Err(format!("a login before the flood answered {status}").into());
        }
        baseline.push(took);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let clients: Vec<_> = (0..settings.flood)
        .map(|client| {
            let (stop, answers) = (stop.clone(), answers.clone());
            let source = flood.source(client);
            let name_guess = basic("bench", "not-the-password");
            tokio::spawn(async move {
                let mut attempt = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    attempt += 1;
                    let header = match flood {
                        Flood::NameSpray => basic(&format!("u{client}x{attempt}"), "guess"),
                        _ => name_guess.clone(),
                    };
                    let status = guess(source, addr, &header).await;
                    *answers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(status)
                        .or_insert(0) += 1;
                }
            })
        })
        .collect();

    // Let the flood fill the queue, then log in once a second.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let until = Instant::now() + settings.flood_for;
    let (mut legit, mut legit_statuses) = (Vec::new(), BTreeMap::new());
    while Instant::now() < until {
        let (took, status) = legit_once(good.clone()).await?;
        legit.push(took);
        *legit_statuses.entry(status).or_insert(0) += 1;
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(took)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await?;
    }
    let answers = answers.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(FloodOutcome {
        flood,
        clients: settings.flood,
        answers,
        baseline,
        legit,
        legit_statuses,
    })
}

/// One wrong login on a new connection: the answer's status, or "io".
async fn guess(source: IpAddr, addr: SocketAddr, header: &str) -> String {
    let exchange = async {
        let mut stream = connect_from(source, addr).await?;
        let request = format!(
            "POST /api/v1.0/tokens HTTP/1.1\r\nHost: bench\r\nAuthorization: {header}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await?;
        Ok::<_, std::io::Error>(got)
    };
    match tokio::time::timeout(HOLD, exchange).await {
        Ok(Ok(got)) => String::from_utf8_lossy(got.get(9..12).unwrap_or(b"???")).into_owned(),
        _ => "io".into(),
    }
}

fn print_logins(floods: &[FloodOutcome]) {
    println!("\nlogin floods (legitimate logins from 127.0.0.1, latency in ms)");
    println!(
        "{:<34} {:>9} {:>8} {:>8} {:>8}  legit statuses; flood answers",
        "flood", "baseline", "p50", "p99", "max"
    );
    for f in floods {
        let (base, during) = (Stats::of(&f.baseline), Stats::of(&f.legit));
        println!(
            "{:<34} {:>9.0} {:>8.0} {:>8.0} {:>8.0}  {:?}; {:?}",
            f.flood.name(),
            base.p50,
            during.p50,
            during.p99,
            during.max,
            f.legit_statuses,
            f.answers
        );
    }
}
