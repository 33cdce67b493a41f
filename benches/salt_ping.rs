//! Sync ping latency against a real Salt lab (issue #3, "Speed"): the floor
//! (publish-and-collect `test.ping` with the library's own client, no HTTP)
//! beside the same call through the `projetyd` daemon, for one minion and
//! for three, then 16 and 64 concurrent clients for a fixed time (library
//! tasks, then HTTP clients on their own keep-alive connections).
//!
//! Floor and daemon calls alternate one by one, so that the master's drift
//! weighs on both alike. A test.ping costs the master and the minions tens
//! of milliseconds, with a spread far wider than what projetyd adds; so
//! the daemon's own work is also timed alone: a ping of an id that is not a
//! key goes through everything but the Salt job (HTTP, token, key check).
//!
//! ```text
//! SALT_LAB_DIR=/tmp/pj-bench SALT_LAB_PUB_PORT=44505 SALT_LAB_RET_PORT=44506 \
//!     scripts/salt-lab.sh start 3
//! PROJETYD_SALT_LAB=/tmp/pj-bench/lab.env cargo bench --bench salt_ping
//! ```
//!
//! Settings: `BENCH_N` sequential calls per case [200], `BENCH_SECS`
//! seconds per concurrency level [10]. Without `PROJETYD_SALT_LAB` it prints
//! a SKIPPED line and exits 0. Loopback only; the daemon it starts is killed
//! (by pid) before it exits. Prints a table and writes the figures to
//! `target/bench-results/salt_ping.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use projetyd::salt::{JobSpec, MasterConfig, Options, Salt};
use rmpv::Value;
use serde_json::json;

use projetyd_testkit::bench::{env_number, load_average, target_dir, BenchDaemon, BoxError, Result};
use projetyd_testkit::http::Client;
use projetyd_testkit::lab::LabEnv;
use projetyd_testkit::measure::{round, Stats};
const ONE: [&str; 1] = ["minion-1"];
const THREE: [&str; 3] = ["minion-1", "minion-2", "minion-3"];
/// Calls made (and not timed) before each sequential series.
const WARMUP: usize = 20;
/// Concurrency levels of part (c).
const LEVELS: [usize; 2] = [16, 64];

fn main() -> Result<()> {
    let Some(lab_env) = std::env::var_os("PROJETYD_SALT_LAB") else {
        println!("salt_ping: SKIPPED: no Salt lab (set PROJETYD_SALT_LAB=<lab dir>/lab.env)");
        return Ok(());
    };
    let lab = LabEnv::read(Path::new(&lab_env))?;
    let master_config = PathBuf::from(lab.var("SALT_LAB_MASTER_CONFIG")?);
    let version = lab.var("SALT_LAB_VERSION")?.to_owned();
    let n = env_number("BENCH_N", 200)?;
    let secs = env_number("BENCH_SECS", 10)?;
    let duration = Duration::from_secs(secs as u64);
    println!(
        "salt_ping: Salt {version}, master config {}, N={n}, {secs} s per concurrency level, \
         {} CPUs, load average {}",
        master_config.display(),
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        load_average()
    );

    let mut daemon = BenchDaemon::start(&master_config, &[])?;
    let result = measure(&master_config, &daemon, n, duration);
    daemon.stop();
    let (floor, through) = result?;
    report(&version, &master_config, n, secs, &floor, &through)
}

/// Everything, with the daemon running. The sequential series alternate
/// floor and daemon calls one by one (which goes first alternates too), so
/// that the master's drift over the run weighs on both alike.
fn measure(
    master_config: &Path,
    daemon: &BenchDaemon,
    n: usize,
    duration: Duration,
) -> Result<(Floor, Through)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let salt = runtime.block_on(async {
        let salt = Salt::start(
            MasterConfig::load(master_config)?,
            Options::default(),
            &projetyd::background::Background::new(),
        )?;
        salt.settle(Duration::from_secs(3)).await;
        salt.status()?;
        Ok::<_, BoxError>(salt)
    })?;
    // Both clients fetch the function list once at start; let those jobs
    // end before timing anything.
    std::thread::sleep(Duration::from_secs(2));
    let mut conn = Client::new(daemon.addr);
    let pairs = |targets: &[&str], path: &str, body: &[u8], conn: &mut Client| {
        let spec = spec(targets);
        let mut floor = Series::default();
        let mut through = Series::default();
        for i in 0..WARMUP + n {
            let timed = i >= WARMUP;
            for leg in [i % 2, 1 - i % 2] {
                if leg == 0 {
                    let start = Instant::now();
                    let result = runtime
                        .block_on(ping_direct(&salt, &spec))
                        .map_err(|e| e.to_string());
                    if timed {
                        floor.record(start, result, "floor");
                    }
                } else {
                    let start = Instant::now();
                    let result = ping(daemon, conn, path, body, targets);
                    if timed {
                        through.record(start, result, path);
                    }
                }
            }
        }
        (floor, through)
    };
    let (floor_one, through_one) = pairs(&ONE, "/api/v1.0/ping/minion-1", b"", &mut conn);
    let body = serde_json::to_vec(&json!({ "target": THREE }))?;
    let (floor_three, through_three) = pairs(&THREE, "/api/v1.0/ping", &body, &mut conn);
    let own = own_cost(daemon, &mut conn, n * 10);

    let mut floor_loads = Vec::new();
    let mut through_loads = Vec::new();
    for clients in LEVELS {
        floor_loads.push(runtime.block_on(direct_load(&salt, clients, duration)));
        through_loads.push(http_load(daemon, clients, duration));
    }
    drop(salt);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok((
        Floor {
            one: floor_one,
            three: floor_three,
            loads: floor_loads,
        },
        Through {
            one: through_one,
            three: through_three,
            own,
            loads: through_loads,
        },
    ))
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// One sequential series: latencies and what went wrong.
#[derive(Debug, Default)]
struct Series {
    samples: Vec<Duration>,
    /// Calls that failed outright (an error, or a non-200 answer).
    errors: usize,
    /// Calls whose answer had `false` (or nothing) for a live minion.
    falses: usize,
}

impl Series {
    /// Records a call that started at `start`: `Ok(false)` is an answer
    /// with `false` for a live minion.
    fn record(&mut self, start: Instant, result: Result<bool, String>, what: &str) {
        match result {
            Ok(all) => {
                self.samples.push(start.elapsed());
                self.falses += usize::from(!all);
            }
            Err(err) => {
                self.errors += 1;
                eprintln!("{what}: {err}");
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut v = Stats::of(&self.samples).json();
        v["errors"] = json!(self.errors);
        v["false_answers"] = json!(self.falses);
        v
    }
}

/// One concurrency level.
#[derive(Debug, Default)]
struct Load {
    clients: usize,
    elapsed: Duration,
    samples: Vec<Duration>,
    errors: usize,
    falses: usize,
    /// Distinct error descriptions, with counts (the first few).
    reasons: HashMap<String, usize>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn merge(&mut self, other: Load) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
        self.falses += other.falses;
        for (reason, count) in other.reasons {
            *self.reasons.entry(reason).or_default() += count;
        }
    }

    fn error(&mut self, reason: String) {
        self.errors += 1;
        if self.reasons.len() < 8 || self.reasons.contains_key(&reason) {
            *self.reasons.entry(reason).or_default() += 1;
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut v = Stats::of(&self.samples).json();
        v["clients"] = json!(self.clients);
        v["seconds"] = json!(round(self.elapsed.as_secs_f64()));
        v["completed"] = json!(self.samples.len());
        v["calls_per_s"] = json!(round(self.rate()));
        v["errors"] = json!(self.errors);
        v["false_answers"] = json!(self.falses);
        v["error_reasons"] = json!(self.reasons);
        v
    }
}

struct Floor {
    one: Series,
    three: Series,
    loads: Vec<Load>,
}

struct Through {
    one: Series,
    three: Series,
    /// projetyd's own work on a call, without Salt: a ping of an id that
    /// is not a key (auth, routing, the key check, the 404).
    own: Series,
    loads: Vec<Load>,
}

fn report(
    version: &str,
    config: &Path,
    n: usize,
    secs: usize,
    floor: &Floor,
    through: &Through,
) -> Result<()> {
    let rows = [
        ("floor, 1 minion", &floor.one),
        ("projetyd, 1 minion", &through.one),
        ("floor, 3 minions", &floor.three),
        ("projetyd, 3 minions", &through.three),
    ];
    println!();
    println!(
        "{:<22} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6}",
        "sequential test.ping", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms", "errors", "false"
    );
    for (name, series) in rows {
        let s = Stats::of(&series.samples);
        println!(
            "{name:<22} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>6}",
            s.count, s.p50, s.p90, s.p99, s.max, s.mean, series.errors, series.falses
        );
    }
    let own = Stats::of(&through.own.samples);
    println!(
        "{:<22} {:>5} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>6}",
        "projetyd, no Salt (404)",
        own.count,
        own.p50,
        own.p90,
        own.p99,
        own.max,
        own.mean,
        through.own.errors
    );
    let added = |f: &Series, t: &Series| Stats::of(&t.samples).p50 - Stats::of(&f.samples).p50;
    let added_one = added(&floor.one, &through.one);
    let added_three = added(&floor.three, &through.three);
    println!(
        "projetyd adds at p50: {added_one:+.2} ms (1 minion), {added_three:+.2} ms (3 minions); \
         its own work without Salt: {:.3} ms",
        own.p50
    );
    println!();
    println!(
        "{:<22} {:>7} {:>8} {:>7} {:>6} {:>8} {:>8} {:>8}",
        "concurrent test.ping", "calls", "calls/s", "errors", "false", "p50 ms", "p99 ms", "max ms"
    );
    let lines = floor.loads.iter().zip(&through.loads).flat_map(|(f, t)| {
        [
            (format!("floor, {} tasks", f.clients), f),
            (format!("projetyd, {} clients", t.clients), t),
        ]
    });
    for (name, load) in lines {
        let s = Stats::of(&load.samples);
        println!(
            "{name:<22} {:>7} {:>8.1} {:>7} {:>6} {:>8.2} {:>8.2} {:>8.2}",
            s.count,
            load.rate(),
            load.errors,
            load.falses,
            s.p50,
            s.p99,
            s.max
        );
        if !load.reasons.is_empty() {
            println!("    errors: {:?}", load.reasons);
        }
    }

    let results = json!({
        "bench": "salt_ping",
        "salt_version": version,
        "master_config": config,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "cpus": std::thread::available_parallelism().map_or(0, |p| p.get()),
        "load_average_at_end": load_average(),
        "n": n,
        "seconds_per_level": secs,
        "floor": {
            "one_minion": floor.one.json(),
            "three_minions": floor.three.json(),
            "concurrent": floor.loads.iter().map(Load::json).collect::<Vec<_>>(),
        },
        "projetyd": {
            "one_minion": through.one.json(),
            "three_minions": through.three.json(),
            "own_work_without_salt": through.own.json(),
            "concurrent": through.loads.iter().map(Load::json).collect::<Vec<_>>(),
        },
        "projetyd_adds_p50_ms": { "one_minion": round(added_one), "three_minions": round(added_three) },
    });
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("salt_ping.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// (a) The floor: the library's own client, no HTTP
// ---------------------------------------------------------------------------

fn spec(targets: &[&str]) -> JobSpec {
    // find_job rounds for silent minions, a new jid, no re-attach.
    JobSpec::new(
        "test.ping",
        targets.iter().map(|s| s.to_string()).collect(),
        Duration::from_secs(5),
        Duration::from_secs(10),
    )
}

/// One `test.ping`: `Ok(true)` when every target returned `true`.
async fn ping_direct(salt: &Salt, spec: &JobSpec) -> Result<bool, projetyd::salt::Error> {
    let outcome = salt.run(spec).await?;
    Ok(spec.targets.iter().all(|m| {
        outcome
            .returns
            .get(m)
            .is_some_and(|r| r.value == Value::Boolean(true))
    }))
}

/// `clients` tasks pinging minion-<i%3+1> back to back for `duration`.
async fn direct_load(salt: &Arc<Salt>, clients: usize, duration: Duration) -> Load {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let salt = salt.clone();
            tokio::spawn(async move {
                let spec = spec(&[THREE[i % 3]]);
                let mut load = Load::default();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match ping_direct(&salt, &spec).await {
                        Ok(all) => {
                            load.samples.push(t.elapsed());
                            load.falses += usize::from(!all);
                        }
                        Err(err) => load.error(err.to_string()),
                    }
                }
                load
            })
        })
        .collect();
    let mut total = Load {
        clients,
        ..Load::default()
    };
    for task in tasks {
        match task.await {
            Ok(load) => total.merge(load),
            Err(err) => total.error(format!("task failed: {err}")),
        }
    }
    total.elapsed = start.elapsed();
    total
}

// ---------------------------------------------------------------------------
// (b), (c) Through the daemon
// ---------------------------------------------------------------------------

/// One call; `Ok(true)` when the answer is 200 with `true` for every
/// minion in `expect`.
fn ping(
    daemon: &BenchDaemon,
    conn: &mut Client,
    path: &str,
    body: &[u8],
    expect: &[&str],
) -> Result<bool, String> {
    let (status, reply) = conn
        .request("POST", path, &daemon.bearer, body)
        .map(|reply| (reply.status, reply.body))
        .map_err(|e| format!("io: {e}"))?;
    if status != 200 {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&reply)));
    }
    let reply: serde_json::Value = serde_json::from_slice(&reply).map_err(|e| format!("bad JSON: {e}"))?;
    Ok(expect.iter().all(|m| reply[*m] == serde_json::Value::Bool(true)))
}

/// `n` calls of `POST /ping/<id that is not a key>`: everything the
/// daemon does on a ping except the Salt job.
fn own_cost(daemon: &BenchDaemon, conn: &mut Client, n: usize) -> Series {
    let path = "/api/v1.0/ping/bench-no-such-minion";
    let mut series = Series::default();
    for i in 0..WARMUP + n {
        let start = Instant::now();
        let result = match conn
            .request("POST", path, &daemon.bearer, b"")
            .map(|r| (r.status, r.body))
        {
            Ok((404, body)) if String::from_utf8_lossy(&body).contains("not an accepted key") => Ok(true),
            Ok((status, body)) => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))),
            Err(err) => Err(format!("io: {err}")),
        };
        if i >= WARMUP {
            series.record(start, result, path);
        }
    }
    series
}

/// `clients` threads, each with its own keep-alive connection, calling
/// `POST /ping/minion-<i%3+1>` back to back for `duration`.
fn http_load(daemon: &BenchDaemon, clients: usize, duration: Duration) -> Load {
    let start = Instant::now();
    let deadline = start + duration;
    let mut total = Load {
        clients,
        ..Load::default()
    };
    let loads: Vec<Load> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                scope.spawn(move || {
                    let minion = THREE[i % 3];
                    let path = format!("/api/v1.0/ping/{minion}");
                    let mut conn = Client::new(daemon.addr);
                    let mut load = Load::default();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match ping(daemon, &mut conn, &path, b"", &[minion]) {
                            Ok(all) => {
                                load.samples.push(t.elapsed());
                                load.falses += usize::from(!all);
                            }
                            Err(err) => load.error(err),
                        }
                    }
                    load
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    total.elapsed = start.elapsed();
    for load in loads {
        total.merge(load);
    }
    total
}
