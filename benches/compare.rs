//! projetyd beside salt-api (rest_cherrypy), the `salt` command and the
//! floor, on one real Salt lab in one run (issue #5).
//!
//! The floor is the same publish-and-collect done with the library's own
//! Salt client (`projetyd::salt::Salt`), kept connected, without HTTP: no
//! HTTP API can answer faster than that on the same master and minions.
//! projetyd is the release binary, started here on a throwaway database
//! with `--salt-config <the lab's master config>`. salt-api and the salt
//! command are the lab's own (`scripts/salt-lab.sh`, salt-api set up with
//! `SALT_LAB_API_PORT` and `api-start`).
//!
//! ```text
//! benches/compare.sh                  # the whole thing: a fresh lab, this bench, cleanup
//! BENCH_SMOKE=1 benches/compare.sh    # end to end with tiny counts
//! ```
//!
//! By hand, on a lab started with salt-api:
//!
//! ```text
//! export SALT_LAB_DIR=/tmp/pj-cmp SALT_LAB_PUB_PORT=64505 SALT_LAB_RET_PORT=64506 SALT_LAB_API_PORT=64580
//! scripts/salt-lab.sh start 3 && scripts/salt-lab.sh fixtures && scripts/salt-lab.sh api-start
//! PROJETYD_SALT_LAB=/tmp/pj-cmp/lab.env cargo bench --bench compare
//! ```
//!
//! What it measures, in this order:
//! 1. sequential sync `test.ping` to minion-1 and to minion-1..3: the
//!    systems take turns call by call (so that the master's drift weighs on
//!    all alike); the salt command on every few turns only, since each call
//!    costs about a second;
//! 2. a down minion (`minion-down`, an accepted key with no minion): all
//!    four at once, how long each takes and what it answers;
//! 3. 16 and 64 concurrent clients doing sync pings for a fixed time;
//! 4. cheap authenticated reads with 64 connections for a fixed time;
//! 5. async pings: submitted by 64 clients, then polled until every result
//!    is visible (projetyd: tasks and `?wait=` long polls; salt-api:
//!    `local_async`, then `GET /jobs/<jid>` until the minion's return is in
//!    it; the floor: the same jobs run by 64 tasks of the library);
//! 6. footprint: resident memory at rest, at its peak and after the load,
//!    binary size, time from start to the first answered request; and the
//!    CPU each process used in each phase.
//!
//! Settings (environment): `PROJETYD_SALT_LAB` the lab's lab.env (without
//! it: a SKIPPED line, exit 0); `SALT_LAB_API_PORT` salt-api's port (else
//! from lab.env; without one salt-api is left out); `BENCH_N` sequential
//! calls per case [100]; `BENCH_CLI_N` salt command calls per case [20];
//! `BENCH_SECS` seconds per load window [15]; `BENCH_ASYNC` async pings
//! for projetyd and the floor [1000]; `BENCH_API_ASYNC` for salt-api [100];
//! `BENCH_PHASES` a comma list of sync, down, load, reads, async [all];
//! `BENCH_SMOKE=1` N=3, CLI 2, 2 s windows, 20 async pings everywhere.
//!
//! Prints a table; writes `target/bench-results/compare.json` and the
//! charts `compare-latency.svg`, `compare-throughput.svg`,
//! `compare-reads.svg` beside it. Loopback only. The daemon it starts is
//! killed by its pid before it exits. Nothing here is asserted: a target
//! missed is reported, not failed.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use projetyd::salt::{JobSpec, MasterConfig, Options, Salt};
use rmpv::Value as Msg;
use serde_json::{json, Value};

#[path = "support/common.rs"]
mod common;
use common::{env_number, load_average, target_dir, BoxError, Result};

const BIN: &str = env!("CARGO_BIN_EXE_projetyd");
const ONE: [&str; 1] = ["minion-1"];
const THREE: [&str; 3] = ["minion-1", "minion-2", "minion-3"];
const DOWN: &str = "minion-down";
/// Concurrency levels of the sync load.
const LEVELS: [usize; 2] = [16, 64];
/// Connections for the cheap reads, clients for the async submissions.
const CONNS: usize = 64;
/// Bounds on hangs (connect, one call), not measurements.
const PATIENCE: Duration = Duration::from_secs(120);
/// How long polling async results may go on before the rest count as lost.
const POLL_LIMIT: Duration = Duration::from_secs(120);
/// Pause between phases: a 3007 minion's job processes linger ~3 s after
/// they return; let them go before the next phase is timed.
const SETTLE: Duration = Duration::from_secs(3);
/// Linux's USER_HZ: the unit of the CPU times in /proc/<pid>/stat.
const TICKS_PER_SEC: f64 = 100.0;

fn main() -> Result<()> {
    let Some(lab_env) = std::env::var_os("PROJETYD_SALT_LAB") else {
        println!(
            "compare: SKIPPED: no Salt lab (set PROJETYD_SALT_LAB=<lab dir>/lab.env; see benches/compare.sh)"
        );
        return Ok(());
    };
    let settings = Settings::from_env()?;
    let lab = Lab::read(Path::new(&lab_env))?;
    let started = Instant::now();
    let machine = Machine::describe();
    println!(
        "compare: Salt {}, lab {}, {} CPUs ({}), load average {}",
        lab.version,
        lab.dir.display(),
        machine.cpus,
        machine.cpu_model,
        load_average()
    );
    println!("compare: {settings:?}");
    match &lab.api {
        Some(api) => println!("compare: salt-api at http://{} (pid {:?})", api.addr, api.pid),
        None => println!("compare: no SALT_LAB_API_PORT: salt-api is left out"),
    }

    let mut daemon = Daemon::start(&lab.master_config)?;
    let result = run(&lab, &settings, &daemon);
    daemon.stop();
    let mut results = result?;
    results.total_secs = started.elapsed().as_secs_f64();
    report(&lab, &settings, &machine, &daemon, &results)
}

// ---------------------------------------------------------------------------
// Settings, the lab, the machine
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Settings {
    smoke: bool,
    n: usize,
    cli_n: usize,
    secs: u64,
    async_n: usize,
    api_async_n: usize,
    warmup: usize,
    /// The parts to run (`BENCH_PHASES`), all by default.
    phases: Vec<String>,
}

const PHASES: [&str; 5] = ["sync", "down", "load", "reads", "async"];

impl Settings {
    fn from_env() -> Result<Settings> {
        let smoke = std::env::var("BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
        let (n, cli_n, secs, async_n, api_async_n, warmup) = match smoke {
            true => (3, 2, 2, 20, 20, 1),
            false => (100, 20, 15, 1000, 100, 5),
        };
        let cli_n = env_number("BENCH_CLI_N", cli_n)?;
        let n = env_number("BENCH_N", n)?;
        let phases: Vec<String> = match std::env::var("BENCH_PHASES") {
            Ok(list) if !list.trim().is_empty() => list.split(',').map(|p| p.trim().to_owned()).collect(),
            _ => PHASES.iter().map(|p| p.to_string()).collect(),
        };
        if let Some(bad) = phases.iter().find(|p| !PHASES.contains(&p.as_str())) {
            return Err(format!(
                "BENCH_PHASES: unknown phase {bad:?} (known: {})",
                PHASES.join(",")
            )
            .into());
        }
        Ok(Settings {
            smoke,
            n,
            cli_n: cli_n.min(n),
            secs: env_number("BENCH_SECS", secs)? as u64,
            async_n: env_number("BENCH_ASYNC", async_n)?,
            api_async_n: env_number("BENCH_API_ASYNC", api_async_n)?,
            warmup,
            phases,
        })
    }

    fn runs(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

struct ApiLab {
    addr: SocketAddr,
    user: String,
    eauth: String,
    /// salt-api's recorded pid, also its process group (it runs in its
    /// own session).
    pid: Option<u32>,
}

struct Lab {
    dir: PathBuf,
    version: String,
    master_config: PathBuf,
    config_dir: PathBuf,
    salt: PathBuf,
    /// Process groups of the master and of the minions.
    master_pid: Option<u32>,
    minion_pids: Vec<u32>,
    api: Option<ApiLab>,
}

impl Lab {
    fn read(path: &Path) -> Result<Lab> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let vars: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let var = |key: &str| {
            vars.get(key)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| format!("{} has no {key}", path.display()))
        };
        let dir = PathBuf::from(var("SALT_LAB_DIR")?);
        let pid_file = |name: &str| {
            std::fs::read_to_string(dir.join("pids").join(format!("{name}.pid")))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
        };
        let mut minion_pids = Vec::new();
        for i in 1..100 {
            match pid_file(&format!("minion-{i}")) {
                Some(pid) => minion_pids.push(pid),
                None => break,
            }
        }
        let api_port = std::env::var("SALT_LAB_API_PORT")
            .ok()
            .filter(|p| !p.is_empty())
            .or_else(|| vars.get("SALT_LAB_API_PORT").filter(|p| !p.is_empty()).cloned());
        let api = match api_port {
            None => None,
            Some(port) => Some(ApiLab {
                addr: SocketAddr::from(([127, 0, 0, 1], port.parse::<u16>()?)),
                user: var("SALT_LAB_API_USER").unwrap_or_else(|_| "benchuser".into()),
                eauth: var("SALT_LAB_API_EAUTH").unwrap_or_else(|_| "auto".into()),
                pid: var("SALT_LAB_API_PID")
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .or_else(|| pid_file("api")),
            }),
        };
        Ok(Lab {
            version: var("SALT_LAB_VERSION")?,
            master_config: PathBuf::from(var("SALT_LAB_MASTER_CONFIG")?),
            config_dir: PathBuf::from(var("SALT_LAB_CONFIG_DIR")?),
            salt: PathBuf::from(var("SALT_LAB_BIN")?).join("salt"),
            master_pid: pid_file("master"),
            minion_pids,
            api,
            dir,
        })
    }
}

struct Machine {
    cpus: usize,
    cpu_model: String,
    mem_total_kib: u64,
}

impl Machine {
    fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |p| p.get()),
            cpu_model,
            mem_total_kib: proc_field("/proc/meminfo", "MemTotal:").unwrap_or(0),
        }
    }
}

/// The first number after `key` in a /proc file of `key value` lines.
fn proc_field(path: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------
// Processes: resident memory and CPU time
// ---------------------------------------------------------------------------

fn rss_kib(pid: u32) -> Option<u64> {
    proc_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The fields of /proc/<pid>/stat after the command name (field 3 first).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// The live members of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        // field 5 (pgrp) is index 1 after skipping the state
        .filter(|pid| stat_fields(*pid).is_some_and(|f| f.get(1) == Some(&u64::from(pgid))))
        .collect()
}

/// Resident memory summed over a process group, and how many processes.
fn group_rss_kib(pgid: u32) -> (u64, usize) {
    let members = group_members(pgid);
    (members.iter().filter_map(|p| rss_kib(*p)).sum(), members.len())
}

/// utime + stime + cutime + cstime (reaped children count), in ticks.
fn cpu_ticks(pid: u32) -> u64 {
    // Field k of stat (1-based) is index k - 4 here: utime 14 .. cstime 17.
    stat_fields(pid).map_or(0, |f| f.get(10..14).map_or(0, |s| s.iter().sum()))
}

fn group_cpu_ticks(pgid: u32) -> u64 {
    group_members(pgid).into_iter().map(cpu_ticks).sum()
}

/// The whole machine's busy time (everything but idle and iowait), in ticks.
fn machine_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else { return 0 };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user)
    f.iter().take(8).sum::<u64>() - f.get(3).copied().unwrap_or(0) - f.get(4).copied().unwrap_or(0)
}

/// CPU time used so far by each part of the setup.
#[derive(Clone, Copy)]
struct CpuMark {
    at: Instant,
    projetyd: u64,
    salt_api: u64,
    master: u64,
    minions: u64,
    /// This process: the floor's client, the HTTP clients, the salt
    /// command runs it waited for.
    bench: u64,
    machine: u64,
}

struct Procs {
    projetyd: u32,
    api: Option<u32>,
    master: Option<u32>,
    minions: Vec<u32>,
}

impl Procs {
    fn mark(&self) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            projetyd: cpu_ticks(self.projetyd),
            salt_api: self.api.map_or(0, group_cpu_ticks),
            master: self.master.map_or(0, group_cpu_ticks),
            minions: self.minions.iter().map(|p| group_cpu_ticks(*p)).sum(),
            bench: cpu_ticks(std::process::id()),
            machine: machine_busy_ticks(),
        }
    }
}

/// The CPU marks between phases.
struct Phases<'a> {
    procs: &'a Procs,
    mark: CpuMark,
}

impl Phases<'_> {
    /// Records the CPU used since the last mark as phase `name`; returns
    /// the CPU seconds the master and the minions used in it.
    fn end(&mut self, name: &str, results: &mut Results) -> f64 {
        let now = self.procs.mark();
        let used = CpuUse::between(name, &self.mark, &now);
        eprintln!(
            "compare: {name} done in {:.1} s (machine busy {:.2} cores, others {:.2}, load {})",
            used.secs,
            used.machine,
            used.others(),
            load_average()
        );
        let salt = (used.master + used.minions) * used.secs;
        results.cpu.push(used);
        self.mark = now;
        salt
    }

    /// Waits for the last phase's job processes to end, and starts the
    /// next mark after them.
    fn settle(&mut self) {
        std::thread::sleep(SETTLE);
        self.mark = self.procs.mark();
    }
}

/// CPU used during one phase, in cores (CPU seconds per second).
struct CpuUse {
    phase: String,
    secs: f64,
    projetyd: f64,
    salt_api: f64,
    master: f64,
    minions: f64,
    bench: f64,
    machine: f64,
}

impl CpuUse {
    fn between(phase: &str, a: &CpuMark, b: &CpuMark) -> CpuUse {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let cores = |x: u64, y: u64| y.saturating_sub(x) as f64 / TICKS_PER_SEC / secs;
        CpuUse {
            phase: phase.into(),
            secs,
            projetyd: cores(a.projetyd, b.projetyd),
            salt_api: cores(a.salt_api, b.salt_api),
            master: cores(a.master, b.master),
            minions: cores(a.minions, b.minions),
            bench: cores(a.bench, b.bench),
            machine: cores(a.machine, b.machine),
        }
    }

    /// What the rest of the machine (other jobs) used meanwhile.
    fn others(&self) -> f64 {
        (self.machine - self.projetyd - self.salt_api - self.master - self.minions - self.bench).max(0.0)
    }

    fn json(&self) -> Value {
        json!({
            "phase": self.phase, "seconds": r3(self.secs), "projetyd": r3(self.projetyd),
            "salt_api": r3(self.salt_api), "master": r3(self.master), "minions": r3(self.minions),
            "bench_process": r3(self.bench), "machine": r3(self.machine), "others": r3(self.others()),
        })
    }
}

/// Peak resident memory of projetyd and of salt-api, sampled in the
/// background while the load runs.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak_projetyd: Arc<AtomicU64>,
    peak_api: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(projetyd: u32, api: Option<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_projetyd = Arc::new(AtomicU64::new(0));
        let peak_api = Arc::new(AtomicU64::new(0));
        let (s, pp, pa) = (stop.clone(), peak_projetyd.clone(), peak_api.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(projetyd) {
                    pp.fetch_max(kib, Ordering::Relaxed);
                }
                if let Some(pgid) = api {
                    pa.fetch_max(group_rss_kib(pgid).0, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Sampler {
            stop,
            peak_projetyd,
            peak_api,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.peak_projetyd.load(Ordering::Relaxed),
            self.peak_api.load(Ordering::Relaxed),
        )
    }
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// Latency percentiles of one series, in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    count: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

impl Stats {
    fn of(samples: &[Duration]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| ms[((p / 100.0 * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Stats {
            count: ms.len(),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }

    fn json(&self) -> Value {
        json!({
            "count": self.count, "p50_ms": r3(self.p50), "p90_ms": r3(self.p90),
            "p99_ms": r3(self.p99), "max_ms": r3(self.max), "mean_ms": r3(self.mean),
        })
    }
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Calls of one kind: latencies, failures, wrong answers.
#[derive(Debug, Default)]
struct Series {
    samples: Vec<Duration>,
    /// Calls that failed outright (an error, a non-200 answer).
    errors: usize,
    /// Answers without `true` for a live minion.
    falses: usize,
    /// Distinct error descriptions with counts (the first few kinds).
    reasons: BTreeMap<String, usize>,
    /// Wall time of a load window, from its start to its last answer.
    elapsed: Duration,
    clients: usize,
    /// CPU seconds the master and the minions used in the window.
    salt_cpu: f64,
}

impl Series {
    /// A call that started at `start`; `Ok(false)` is a wrong answer.
    fn record(&mut self, start: Instant, result: Result<bool, String>) {
        match result {
            Ok(all) => {
                self.samples.push(start.elapsed());
                self.falses += usize::from(!all);
            }
            Err(err) => self.error(err),
        }
    }

    fn error(&mut self, reason: String) {
        self.errors += 1;
        let reason: String = reason.chars().take(160).collect();
        if self.reasons.len() < 8 || self.reasons.contains_key(&reason) {
            *self.reasons.entry(reason).or_default() += 1;
        }
    }

    fn merge(&mut self, other: Series) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
        self.falses += other.falses;
        for (reason, count) in other.reasons {
            *self.reasons.entry(reason).or_default() += count;
        }
    }

    fn stats(&self) -> Stats {
        Stats::of(&self.samples)
    }

    fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Answers with `true` for every live minion, per second.
    fn correct_rate(&self) -> f64 {
        (self.samples.len() - self.falses) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Calls completed per CPU second of the master and the minions: the
    /// throughput with the CPU that other jobs on the machine took out.
    fn per_salt_cpu(&self) -> Option<f64> {
        (self.salt_cpu > 0.0).then(|| self.samples.len() as f64 / self.salt_cpu)
    }

    fn json(&self) -> Value {
        let mut v = self.stats().json();
        v["errors"] = json!(self.errors);
        v["false_answers"] = json!(self.falses);
        if !self.elapsed.is_zero() {
            v["clients"] = json!(self.clients);
            v["seconds"] = json!(r3(self.elapsed.as_secs_f64()));
            v["per_second"] = json!(r3(self.rate()));
            v["correct_per_second"] = json!(r3(self.correct_rate()));
            v["salt_cpu_seconds"] = json!(r3(self.salt_cpu));
            v["per_salt_cpu_second"] = json!(self.per_salt_cpu().map(r3));
        }
        if !self.reasons.is_empty() {
            v["error_reasons"] = json!(self.reasons);
        }
        v
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// The four ways of pinging, in the order of every table.
#[derive(Default)]
struct Quad {
    floor: Series,
    projetyd: Series,
    salt_api: Series,
    cli: Series,
    /// projetyd minus floor, in ms, turn by turn (both answered).
    paired: Vec<f64>,
}

impl Quad {
    /// The median of the turn-by-turn differences projetyd - floor: what
    /// projetyd adds, with the master's drift taken out.
    fn paired_median(&self) -> Option<f64> {
        let mut d = self.paired.clone();
        d.sort_by(f64::total_cmp);
        (!d.is_empty()).then(|| d[d.len() / 2])
    }
}

struct Down {
    system: &'static str,
    secs: f64,
    answer: String,
}

#[derive(Default)]
struct AsyncRun {
    n: usize,
    clients: usize,
    submitted: usize,
    submit_errors: usize,
    /// From the first submission to the last one answered.
    submit_secs: Option<f64>,
    /// From the first submission until every result was visible (None:
    /// some never were).
    visible_secs: Option<f64>,
    /// Until the last result that did show up.
    last_visible_secs: f64,
    done: usize,
    falses: usize,
    lost: usize,
    polls: usize,
    reasons: BTreeMap<String, usize>,
}

impl AsyncRun {
    fn submit_rate(&self) -> Option<f64> {
        self.submit_secs.map(|s| self.submitted as f64 / s.max(1e-9))
    }

    fn reason(&mut self, reason: String) {
        let reason: String = reason.chars().take(160).collect();
        if self.reasons.len() < 8 || self.reasons.contains_key(&reason) {
            *self.reasons.entry(reason).or_default() += 1;
        }
    }

    fn json(&self) -> Value {
        json!({
            "tasks": self.n, "clients": self.clients, "submitted": self.submitted,
            "submit_errors": self.submit_errors, "submit_seconds": self.submit_secs.map(r3),
            "submit_per_second": self.submit_rate().map(r3),
            "all_visible_seconds": self.visible_secs.map(r3),
            "last_visible_seconds": r3(self.last_visible_secs),
            "results": self.done, "false_answers": self.falses, "lost": self.lost,
            "status_polls": self.polls, "error_reasons": self.reasons,
        })
    }
}

#[derive(Default)]
struct Footprint {
    projetyd_rest_kib: u64,
    projetyd_peak_kib: u64,
    projetyd_after_kib: u64,
    api_rest_kib: Option<u64>,
    api_peak_kib: Option<u64>,
    api_after_kib: Option<u64>,
    api_processes: usize,
    binary_bytes: u64,
}

#[derive(Default)]
struct Results {
    one: Quad,
    three: Quad,
    own: Series,
    down: Vec<Down>,
    /// Per level: floor, projetyd, salt-api.
    loads: Vec<(usize, Series, Series, Option<Series>)>,
    reads_keys: Series,
    reads_users: Series,
    reads_api_keys: Option<Series>,
    async_floor: AsyncRun,
    async_projetyd: AsyncRun,
    async_api: Option<AsyncRun>,
    footprint: Footprint,
    cpu: Vec<CpuUse>,
    total_secs: f64,
    load_before: String,
    load_after: String,
}

fn run(lab: &Lab, settings: &Settings, daemon: &Daemon) -> Result<Results> {
    let mut results = Results {
        load_before: load_average(),
        ..Results::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let floor = runtime.block_on(async {
        let config = MasterConfig::load(&lab.master_config)?;
        let salt = Salt::start(
            config.clone(),
            Options::default(),
            &projetyd::background::Background::new(),
        )?;
        salt.settle(Duration::from_secs(3)).await;
        salt.status()?;
        Ok::<_, BoxError>(Floor {
            salt,
            timeout: config.timeout,
            gather: config.gather_job_timeout,
        })
    })?;
    let api = match &lab.api {
        Some(a) => Some(SaltApi::login(a)?),
        None => None,
    };
    let procs = Procs {
        projetyd: daemon.pid(),
        api: lab.api.as_ref().and_then(|a| a.pid),
        master: lab.master_pid,
        minions: lab.minion_pids.clone(),
    };
    // The function-list jobs both clients run at start, salt-api's first
    // requests: let them end, then take the memory at rest.
    std::thread::sleep(Duration::from_secs(2));
    results.footprint.binary_bytes = std::fs::metadata(BIN).map_or(0, |m| m.len());
    results.footprint.projetyd_rest_kib = rss_kib(procs.projetyd).unwrap_or(0);
    if let Some(pgid) = procs.api {
        let (kib, count) = group_rss_kib(pgid);
        results.footprint.api_rest_kib = Some(kib);
        results.footprint.api_processes = count;
    }
    let sampler = Sampler::start(procs.projetyd, procs.api);
    let mut phases = Phases {
        mark: procs.mark(),
        procs: &procs,
    };
    let ctx = Ctx {
        lab,
        daemon,
        floor: &floor,
        runtime: &runtime,
        api: api.as_ref(),
    };
    let window = settings.window();

    if settings.runs("sync") {
        eprintln!("compare: sequential pings, 1 minion");
        results.one = ctx.sequential(&ONE, settings);
        phases.end("sequential, 1 minion", &mut results);
        eprintln!("compare: sequential pings, 3 minions");
        results.three = ctx.sequential(&THREE, settings);
        results.own = ctx.own_cost(settings.n * 10);
        phases.end("sequential, 3 minions", &mut results);
    }

    if settings.runs("down") {
        eprintln!("compare: a down minion, all systems at once");
        phases.settle();
        results.down = ctx.down();
        phases.end("down minion", &mut results);
    }

    for clients in LEVELS.iter().copied().filter(|_| settings.runs("load")) {
        eprintln!("compare: {clients} concurrent clients, {} s each", settings.secs);
        phases.settle();
        let mut f = ctx.floor_load(clients, window);
        f.salt_cpu = phases.end(&format!("floor, {clients} tasks"), &mut results);
        phases.settle();
        let mut p = ctx.projetyd_load(clients, window);
        p.salt_cpu = phases.end(&format!("projetyd, {clients} clients"), &mut results);
        let a = ctx.api.map(|api| {
            phases.settle();
            let mut load = api.load(clients, window);
            load.salt_cpu = phases.end(&format!("salt-api, {clients} clients"), &mut results);
            load
        });
        results.loads.push((clients, f, p, a));
    }

    if settings.runs("reads") {
        eprintln!(
            "compare: cheap reads, {CONNS} connections, {} s each",
            settings.secs
        );
        phases.settle();
        results.reads_keys = daemon.read_load("/api/v1.0/keys", window);
        phases.end("projetyd GET /keys", &mut results);
        results.reads_users = daemon.read_load("/api/v1.0/users", window);
        phases.end("projetyd GET /users", &mut results);
        if let Some(api) = ctx.api {
            results.reads_api_keys = Some(api.read_load(window));
            phases.end("salt-api GET /keys", &mut results);
        }
    }

    if settings.runs("async") {
        let workers = daemon_task_workers();
        eprintln!(
            "compare: async pings: floor {} ({workers} at a time, as projetyd's task workers)",
            settings.async_n
        );
        phases.settle();
        results.async_floor = ctx.async_floor(settings.async_n, workers);
        phases.end("async, floor", &mut results);
        eprintln!("compare: async pings: projetyd {}", settings.async_n);
        phases.settle();
        results.async_projetyd = daemon.async_run(settings.async_n);
        phases.end("async, projetyd", &mut results);
        if let Some(api) = ctx.api {
            eprintln!("compare: async pings: salt-api {}", settings.api_async_n);
            phases.settle();
            results.async_api = Some(api.async_run(settings.api_async_n));
            phases.end("async, salt-api", &mut results);
        }
    }

    let (peak_projetyd, peak_api) = sampler.finish();
    results.footprint.projetyd_after_kib = rss_kib(procs.projetyd).unwrap_or(0);
    results.footprint.projetyd_peak_kib = peak_projetyd.max(results.footprint.projetyd_after_kib);
    if let Some(pgid) = procs.api {
        let after = group_rss_kib(pgid).0;
        results.footprint.api_after_kib = Some(after);
        results.footprint.api_peak_kib = Some(peak_api.max(after));
    }
    results.load_after = load_average();
    drop(floor);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(results)
}

/// What the phases share.
struct Ctx<'a> {
    lab: &'a Lab,
    daemon: &'a Daemon,
    floor: &'a Floor,
    runtime: &'a tokio::runtime::Runtime,
    api: Option<&'a SaltApi>,
}

impl Ctx<'_> {
    /// Sequential pings of `targets`: floor, projetyd and salt-api take
    /// turns call by call (who goes first rotates); the salt command joins
    /// on every few turns.
    fn sequential(&self, targets: &[&str], settings: &Settings) -> Quad {
        let mut quad = Quad::default();
        let (path, body) = projetyd_ping(targets);
        let mut conn = Conn::new(self.daemon.addr);
        let mut api_conn = self.api.map(|a| Conn::new(a.addr));
        let every = (settings.n / settings.cli_n).max(1);
        // One untimed run of the salt command: Python's first imports.
        let _ = cli_ping(self.lab, targets);
        for i in 0..settings.warmup + settings.n {
            let timed = i >= settings.warmup;
            let (mut floor_ms, mut projetyd_ms) = (None, None);
            for turn in 0..3 {
                let start = Instant::now();
                match (i + turn) % 3 {
                    0 => {
                        let r = self.floor.ping(self.runtime, targets);
                        if timed {
                            floor_ms = r.is_ok().then(|| start.elapsed().as_secs_f64() * 1e3);
                            quad.floor.record(start, r);
                        }
                    }
                    1 => {
                        let r = self.daemon.ping(&mut conn, &path, &body, targets);
                        if timed {
                            projetyd_ms = r.is_ok().then(|| start.elapsed().as_secs_f64() * 1e3);
                            quad.projetyd.record(start, r);
                        }
                    }
                    _ => {
                        if let (Some(api), Some(conn)) = (self.api, api_conn.as_mut()) {
                            let r = api.ping(conn, targets);
                            if timed {
                                quad.salt_api.record(start, r);
                            }
                        }
                    }
                }
            }
            if let (Some(f), Some(p)) = (floor_ms, projetyd_ms) {
                quad.paired.push(p - f);
            }
            if timed && (i - settings.warmup) % every == 0 && quad.cli.samples.len() < settings.cli_n {
                let start = Instant::now();
                let r = cli_ping(self.lab, targets);
                quad.cli.record(start, r);
            }
        }
        quad
    }

    /// projetyd's own work on a ping, without Salt: `POST /ping/<id that
    /// is not a key>` (HTTP, token, key check, the 404).
    fn own_cost(&self, n: usize) -> Series {
        let mut conn = Conn::new(self.daemon.addr);
        let mut series = Series::default();
        let path = "/api/v1.0/ping/bench-no-such-minion";
        for i in 0..n + 50 {
            let start = Instant::now();
            let r = match conn.request("POST", path, &[("Authorization", &self.daemon.bearer)], b"") {
                Ok(reply) if reply.status == 404 => Ok(true),
                Ok(reply) => Err(reply.describe()),
                Err(err) => Err(format!("io: {err}")),
            };
            if i >= 50 {
                series.record(start, r);
            }
        }
        series
    }

    /// The four systems asked about `minion-down` at the same moment.
    fn down(&self) -> Vec<Down> {
        let timed = |system: &'static str, f: &(dyn Fn() -> String + Sync)| {
            let start = Instant::now();
            let answer = f();
            Down {
                system,
                secs: start.elapsed().as_secs_f64(),
                answer,
            }
        };
        std::thread::scope(|s| {
            let floor = s.spawn(|| {
                timed("floor", &|| {
                    let spec = JobSpec::new(
                        "test.ping",
                        vec![DOWN.into()],
                        self.floor.timeout,
                        self.floor.gather,
                    );
                    match self.runtime.block_on(self.floor.salt.run(&spec)) {
                        Ok(o) => format!(
                            "returns {:?}, silent {:?}, missing {:?}",
                            o.returns.keys().collect::<Vec<_>>(),
                            o.silent,
                            o.missing
                        ),
                        Err(e) => format!("error: {e}"),
                    }
                })
            });
            let projetyd = s.spawn(|| {
                timed("projetyd", &|| {
                    let mut conn = Conn::new(self.daemon.addr);
                    let path = format!("/api/v1.0/ping/{DOWN}");
                    match conn.request("POST", &path, &[("Authorization", &self.daemon.bearer)], b"") {
                        Ok(reply) => reply.describe(),
                        Err(e) => format!("io: {e}"),
                    }
                })
            });
            let api = self.api.map(|api| {
                s.spawn(move || {
                    timed("salt-api", &|| {
                        let mut conn = Conn::new(api.addr);
                        let low = json!([{ "client": "local", "tgt": DOWN, "fun": "test.ping" }]);
                        match conn.request("POST", "/", &api.headers(), low.to_string().as_bytes()) {
                            Ok(reply) => reply.describe(),
                            Err(e) => format!("io: {e}"),
                        }
                    })
                })
            });
            let cli = s.spawn(|| {
                timed("salt CLI", &|| match Command::new(&self.lab.salt)
                    .arg("-c")
                    .arg(&self.lab.config_dir)
                    .args([DOWN, "test.ping", "--out=json", "--static"])
                    .stdin(Stdio::null())
                    .output()
                {
                    Ok(out) => format!(
                        "exit {}: {}",
                        out.status.code().unwrap_or(-1),
                        one_line(&String::from_utf8_lossy(&out.stdout))
                    ),
                    Err(e) => format!("cannot run salt: {e}"),
                })
            });
            let mut downs = Vec::new();
            for handle in [Some(floor), Some(projetyd), api, Some(cli)]
                .into_iter()
                .flatten()
            {
                if let Ok(d) = handle.join() {
                    downs.push(d);
                }
            }
            downs
        })
    }

    /// `clients` library tasks pinging minion-<i%3+1> back to back.
    fn floor_load(&self, clients: usize, window: Duration) -> Series {
        let start = Instant::now();
        let deadline = start + window;
        let mut total = Series {
            clients,
            ..Series::default()
        };
        let (timeout, gather) = (self.floor.timeout, self.floor.gather);
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..clients)
                .map(|i| {
                    let salt = self.floor.salt.clone();
                    tokio::spawn(async move {
                        let minion = THREE[i % 3];
                        let spec = JobSpec::new("test.ping", vec![minion.into()], timeout, gather);
                        let mut series = Series::default();
                        while Instant::now() < deadline {
                            let t = Instant::now();
                            let r = salt
                                .run(&spec)
                                .await
                                .map(|o| returned_true(&o, minion))
                                .map_err(|e| e.to_string());
                            series.record(t, r);
                        }
                        series
                    })
                })
                .collect();
            for task in tasks {
                match task.await {
                    Ok(s) => total.merge(s),
                    Err(e) => total.error(format!("task failed: {e}")),
                }
            }
        });
        total.elapsed = start.elapsed();
        total
    }

    fn projetyd_load(&self, clients: usize, window: Duration) -> Series {
        let daemon = self.daemon;
        http_load(daemon.addr, clients, window, |conn, i| {
            let minion = THREE[i % 3];
            daemon.ping(conn, &format!("/api/v1.0/ping/{minion}"), b"", &[minion])
        })
    }

    /// The same jobs as projetyd's async run, run by the library the way
    /// the daemon's task pool runs them: `workers` at a time. The time the
    /// floor needs to have every result.
    fn async_floor(&self, n: usize, workers: usize) -> AsyncRun {
        let next = Arc::new(AtomicUsize::new(0));
        let (timeout, gather) = (self.floor.timeout, self.floor.gather);
        let start = Instant::now();
        let mut run = AsyncRun {
            n,
            clients: workers,
            submitted: n,
            ..AsyncRun::default()
        };
        let outcomes: Vec<(Duration, Result<bool, String>)> = self.runtime.block_on(async {
            let tasks: Vec<_> = (0..workers)
                .map(|_| {
                    let salt = self.floor.salt.clone();
                    let next = next.clone();
                    tokio::spawn(async move {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break out;
                            }
                            let minion = THREE[i % 3];
                            let spec = JobSpec::new("test.ping", vec![minion.into()], timeout, gather);
                            let r = salt
                                .run(&spec)
                                .await
                                .map(|o| returned_true(&o, minion))
                                .map_err(|e| e.to_string());
                            out.push((start.elapsed(), r));
                        }
                    })
                })
                .collect();
            let mut all = Vec::new();
            for task in tasks {
                if let Ok(out) = task.await {
                    all.extend(out);
                }
            }
            all
        });
        for (at, r) in outcomes {
            match r {
                Ok(all) => {
                    run.done += 1;
                    run.falses += usize::from(!all);
                    run.last_visible_secs = run.last_visible_secs.max(at.as_secs_f64());
                }
                Err(e) => run.reason(e),
            }
        }
        run.lost = n - run.done;
        if run.lost == 0 {
            run.visible_secs = Some(run.last_visible_secs);
        }
        run
    }
}

fn returned_true(outcome: &projetyd::salt::JobOutcome, minion: &str) -> bool {
    outcome
        .returns
        .get(minion)
        .is_some_and(|r| r.value == Msg::Boolean(true))
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        format!("{}...", line.chars().take(200).collect::<String>())
    } else {
        line
    }
}

/// `clients` threads, each on its own keep-alive connection, calling `f`
/// back to back for `window`; calls in flight at the end are waited for.
fn http_load<F>(addr: SocketAddr, clients: usize, window: Duration, f: F) -> Series
where
    F: Fn(&mut Conn, usize) -> Result<bool, String> + Sync,
{
    let start = Instant::now();
    let deadline = start + window;
    let f = &f;
    let parts: Vec<Series> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                scope.spawn(move || {
                    let mut conn = Conn::new(addr);
                    let mut series = Series::default();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        series.record(t, f(&mut conn, i));
                    }
                    series
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut total = Series {
        clients,
        elapsed: start.elapsed(),
        ..Series::default()
    };
    for part in parts {
        total.merge(part);
    }
    total
}

// ---------------------------------------------------------------------------
// The floor: the library's own Salt client
// ---------------------------------------------------------------------------

struct Floor {
    salt: Arc<Salt>,
    timeout: Duration,
    gather: Duration,
}

impl Floor {
    fn ping(&self, runtime: &tokio::runtime::Runtime, targets: &[&str]) -> Result<bool, String> {
        let spec = JobSpec::new(
            "test.ping",
            targets.iter().map(|s| s.to_string()).collect(),
            self.timeout,
            self.gather,
        );
        let outcome = runtime
            .block_on(self.salt.run(&spec))
            .map_err(|e| e.to_string())?;
        Ok(targets.iter().all(|m| returned_true(&outcome, m)))
    }
}

// ---------------------------------------------------------------------------
// The salt command
// ---------------------------------------------------------------------------

fn cli_ping(lab: &Lab, targets: &[&str]) -> Result<bool, String> {
    let mut cmd = Command::new(&lab.salt);
    cmd.arg("-c").arg(&lab.config_dir);
    if targets.len() == 1 {
        cmd.arg(targets[0]);
    } else {
        cmd.arg("-L").arg(targets.join(","));
    }
    let out = cmd
        .args(["test.ping", "--out=json", "--static"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run salt: {e}"))?;
    let reply: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "salt exit {}: {}",
            out.status.code().unwrap_or(-1),
            one_line(&String::from_utf8_lossy(&out.stdout))
        )
    })?;
    Ok(targets.iter().all(|m| reply[*m] == Value::Bool(true)))
}

// ---------------------------------------------------------------------------
// projetyd
// ---------------------------------------------------------------------------

/// `POST /ping/<id>` for one target, `POST /ping` with a list otherwise.
fn projetyd_ping(targets: &[&str]) -> (String, Vec<u8>) {
    match targets {
        [one] => (format!("/api/v1.0/ping/{one}"), Vec::new()),
        _ => (
            "/api/v1.0/ping".into(),
            json!({ "target": targets }).to_string().into_bytes(),
        ),
    }
}

/// When the daemon answered for the first time after it was started.
#[derive(Debug, Default, Clone, Copy)]
struct Startup {
    /// First HTTP answer of any kind to `GET /healthz`.
    first_answer: Option<Duration>,
    /// First `200` from `GET /healthz` (the master is reachable).
    first_ok: Option<Duration>,
    /// `READY=1` on the notify socket.
    ready: Option<Duration>,
}

/// A `projetyd serve` child in a private temporary directory.
struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    /// `Bearer <token>`.
    bearer: String,
    startup: Startup,
}

impl Daemon {
    /// Starts the daemon on a port picked beforehand, so that the first
    /// answer can be timed from the spawn; then a user and a token.
    fn start(master_config: &Path) -> Result<Daemon> {
        let dir = tempfile::Builder::new().prefix("projetyd-compare-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path)?;
        notify.set_read_timeout(Some(Duration::from_millis(100)))?;
        let log = std::fs::File::create(dir.path().join("daemon.log"))?;
        let spawned = Instant::now();
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--db")
            .arg(dir.path().join("db"))
            .arg("--admin-socket")
            .arg(dir.path().join("admin.sock"))
            .arg("--salt-config")
            .arg(master_config)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let ready_at = Arc::new(Mutex::new(None));
        let watching = Arc::new(AtomicBool::new(true));
        let watcher = {
            let (ready_at, watching) = (ready_at.clone(), watching.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while watching.load(Ordering::Relaxed) {
                    if let Ok(len) = notify.recv(&mut buf) {
                        if String::from_utf8_lossy(&buf[..len])
                            .lines()
                            .any(|l| l == "READY=1")
                        {
                            *ready_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(spawned.elapsed());
                            return;
                        }
                    }
                }
            })
        };
        let mut daemon = Daemon {
            dir,
            pid: child.id(),
            child: Some(child),
            addr,
            bearer: String::new(),
            startup: Startup::default(),
        };
        let result = daemon.first_answer(spawned).and_then(|()| daemon.login());
        watching.store(false, Ordering::Relaxed);
        let _ = watcher.join();
        daemon.startup.ready = *ready_at.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => Ok(daemon),
            Err(err) => {
                let log = std::fs::read_to_string(daemon.dir.path().join("daemon.log")).unwrap_or_default();
                daemon.stop();
                Err(format!("the daemon did not start: {err}; its log:\n{log}").into())
            }
        }
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    /// Polls `GET /healthz` every millisecond until it answers 200.
    fn first_answer(&mut self, spawned: Instant) -> Result<()> {
        while spawned.elapsed() < PATIENCE {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    return Err(format!("exited with {status}").into());
                }
            }
            let mut conn = Conn::new(self.addr);
            if let Ok(reply) = conn.request("GET", "/healthz", &[], b"") {
                self.startup.first_answer.get_or_insert(spawned.elapsed());
                if reply.status == 200 {
                    self.startup.first_ok = Some(spawned.elapsed());
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(format!("no 200 from /healthz within {PATIENCE:?}").into())
    }

    /// `adduser bench`, then a token for it.
    fn login(&mut self) -> Result<()> {
        let out = Command::new(BIN)
            .arg("adduser")
            .arg("--db")
            .arg(self.dir.path().join("db"))
            .arg("--admin-socket")
            .arg(self.dir.path().join("admin.sock"))
            .arg("bench")
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let password = stdout
            .lines()
            .find_map(|l| l.strip_prefix("User bench created with password "))
            .ok_or_else(|| {
                format!(
                    "adduser said {stdout:?}, {:?}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?
            .trim()
            .to_owned();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("bench:{password}"));
        let mut conn = Conn::new(self.addr);
        let reply = conn.request(
            "POST",
            "/api/v1.0/tokens",
            &[("Authorization", &format!("Basic {basic}"))],
            b"",
        )?;
        if reply.status != 200 {
            return Err(format!("POST /tokens: {}", reply.describe()).into());
        }
        let token = reply.json()?["token"]
            .as_str()
            .ok_or("POST /tokens answered no token")?
            .to_owned();
        self.bearer = format!("Bearer {token}");
        Ok(())
    }

    fn auth(&self) -> [(&str, &str); 1] {
        [("Authorization", self.bearer.as_str())]
    }

    /// One sync ping; `Ok(true)` when the answer is 200 with `true` for
    /// every minion in `expect`.
    fn ping(&self, conn: &mut Conn, path: &str, body: &[u8], expect: &[&str]) -> Result<bool, String> {
        let reply = conn
            .request("POST", path, &self.auth(), body)
            .map_err(|e| format!("io: {e}"))?;
        if reply.status != 200 {
            return Err(reply.describe());
        }
        let v = reply.json()?;
        Ok(expect.iter().all(|m| v[*m] == Value::Bool(true)))
    }

    fn read_load(&self, path: &str, window: Duration) -> Series {
        http_load(self.addr, CONNS, window, |conn, _| {
            match conn.request("GET", path, &self.auth(), b"") {
                Ok(reply) if reply.status == 200 => Ok(true),
                Ok(reply) => Err(reply.describe()),
                Err(e) => Err(format!("io: {e}")),
            }
        })
    }

    /// `n` async pings submitted by `CONNS` clients (each on its own
    /// connection), then each client long-polls the status of the tasks it
    /// submitted until it is final.
    fn async_run(&self, n: usize) -> AsyncRun {
        let next = AtomicUsize::new(0);
        let start = Instant::now();
        let outs: Vec<ClientAsync> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..CONNS)
                .map(|_| {
                    let next = &next;
                    scope.spawn(move || {
                        let mut out = ClientAsync::default();
                        let mut conn = Conn::new(self.addr);
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            let minion = THREE[i % 3];
                            let path = format!("/api/v1.0/tasks/ping/{minion}");
                            match conn.request("POST", &path, &self.auth(), b"") {
                                Ok(reply) if reply.status == 202 => match reply.header("location") {
                                    Some(loc) => mine.push((minion, url_path(loc).to_owned())),
                                    None => out.submit_error("202 without a Location".into()),
                                },
                                Ok(reply) => out.submit_error(reply.describe()),
                                Err(e) => out.submit_error(format!("io: {e}")),
                            }
                            out.last_submit = start.elapsed();
                        }
                        for (minion, path) in mine {
                            let poll = format!("{path}?wait=60");
                            loop {
                                if start.elapsed() > POLL_LIMIT {
                                    out.lost("still not done when polling stopped".into());
                                    break;
                                }
                                out.polls += 1;
                                match conn.request("GET", &poll, &self.auth(), b"") {
                                    Ok(reply) if reply.status == 202 => continue,
                                    Ok(reply) if reply.status == 200 => {
                                        let all = reply.json().is_ok_and(|v| v[minion] == Value::Bool(true));
                                        out.visible(start.elapsed(), all);
                                    }
                                    Ok(reply) => out.lost(reply.describe()),
                                    Err(e) => out.lost(format!("io: {e}")),
                                }
                                break;
                            }
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        ClientAsync::total(n, outs)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Daemon {
    /// The daemon's log without the access-log lines (one per request),
    /// at most `max` lines, and how many of those were warnings or errors.
    fn log_without_access(&self, max: usize) -> (String, usize) {
        use std::io::BufRead as _;
        let Ok(file) = std::fs::File::open(self.dir.path().join("daemon.log")) else {
            return (String::new(), 0);
        };
        let mut kept = String::new();
        let (mut lines, mut warnings) = (0, 0);
        for line in std::io::BufReader::new(file)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if line.contains("projetyd::access") {
                continue;
            }
            warnings += usize::from(line.contains("WARN") || line.contains("ERROR"));
            if lines < max {
                kept.push_str(&line);
                kept.push('\n');
                lines += 1;
            }
        }
        (kept, warnings)
    }

    /// Kills the daemon (by its pid) and reaps it.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The daemon's default `--task-workers`, from `projetyd serve --help`
/// ("... (default N; ...)"); 8 if the text cannot be read.
fn daemon_task_workers() -> usize {
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    help.split("\n  --")
        .find(|option| option.starts_with("task-workers "))
        .and_then(|option| option.split_once("(default ").map(|(_, rest)| rest))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or(8)
}

/// The path of an absolute URL (`http://host/path` → `/path`).
fn url_path(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

/// One async client's tally.
#[derive(Default)]
struct ClientAsync {
    submit_errors: usize,
    last_submit: Duration,
    done: usize,
    falses: usize,
    lost: usize,
    last_visible: Duration,
    polls: usize,
    reasons: Vec<String>,
}

impl ClientAsync {
    fn submit_error(&mut self, reason: String) {
        self.submit_errors += 1;
        self.reasons.push(format!("submit: {reason}"));
    }

    fn lost(&mut self, reason: String) {
        self.lost += 1;
        self.reasons.push(reason);
    }

    fn visible(&mut self, at: Duration, all: bool) {
        self.done += 1;
        self.falses += usize::from(!all);
        self.last_visible = self.last_visible.max(at);
    }

    fn total(n: usize, outs: Vec<ClientAsync>) -> AsyncRun {
        let mut run = AsyncRun {
            n,
            clients: outs.len(),
            ..AsyncRun::default()
        };
        let mut last_submit = Duration::ZERO;
        let mut last_visible = Duration::ZERO;
        for out in outs {
            run.submit_errors += out.submit_errors;
            run.done += out.done;
            run.falses += out.falses;
            run.lost += out.lost;
            run.polls += out.polls;
            last_submit = last_submit.max(out.last_submit);
            last_visible = last_visible.max(out.last_visible);
            for reason in out.reasons {
                run.reason(reason);
            }
        }
        run.submitted = n - run.submit_errors;
        run.submit_secs = Some(last_submit.as_secs_f64());
        run.last_visible_secs = last_visible.as_secs_f64();
        // A task whose submission failed is lost too.
        run.lost += run.submit_errors;
        if run.lost == 0 && run.done == n {
            run.visible_secs = Some(run.last_visible_secs);
        }
        run
    }
}

// ---------------------------------------------------------------------------
// salt-api
// ---------------------------------------------------------------------------

struct SaltApi {
    addr: SocketAddr,
    token: String,
}

impl SaltApi {
    /// `POST /login` with the `auto` eauth; the `X-Auth-Token` is shared by
    /// every client (salt-api releases the session lock before it runs
    /// a command, so the clients do not queue on it).
    fn login(lab: &ApiLab) -> Result<SaltApi> {
        let mut conn = Conn::new(lab.addr);
        let body = json!({ "username": lab.user, "password": "bench", "eauth": lab.eauth });
        let reply = conn.request(
            "POST",
            "/login",
            &[
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )?;
        if reply.status != 200 {
            return Err(format!("salt-api POST /login: {}", reply.describe()).into());
        }
        let token = reply
            .header("x-auth-token")
            .ok_or("salt-api POST /login: no X-Auth-Token")?
            .to_owned();
        Ok(SaltApi {
            addr: lab.addr,
            token,
        })
    }

    fn headers(&self) -> [(&str, &str); 3] {
        [
            ("X-Auth-Token", self.token.as_str()),
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
        ]
    }

    /// `POST /` with one low-state chunk; the parsed JSON of a 200.
    fn low(&self, conn: &mut Conn, low: &Value) -> Result<Value, String> {
        let body = json!([low]).to_string();
        let reply = conn
            .request("POST", "/", &self.headers(), body.as_bytes())
            .map_err(|e| format!("io: {e}"))?;
        if reply.status != 200 {
            return Err(reply.describe());
        }
        reply.json()
    }

    /// A sync ping (`client: local`); `Ok(true)` when every target is
    /// `true` in the return.
    fn ping(&self, conn: &mut Conn, targets: &[&str]) -> Result<bool, String> {
        let low = match targets {
            [one] => json!({ "client": "local", "tgt": one, "fun": "test.ping" }),
            _ => {
                json!({ "client": "local", "tgt": targets.join(","), "tgt_type": "list", "fun": "test.ping" })
            }
        };
        let v = self.low(conn, &low)?;
        Ok(targets.iter().all(|m| v["return"][0][*m] == Value::Bool(true)))
    }

    fn load(&self, clients: usize, window: Duration) -> Series {
        http_load(self.addr, clients, window, |conn, i| {
            self.ping(conn, &[THREE[i % 3]])
        })
    }

    fn read_load(&self, window: Duration) -> Series {
        http_load(self.addr, CONNS, window, |conn, _| {
            let reply = conn
                .request("GET", "/keys", &self.headers(), b"")
                .map_err(|e| format!("io: {e}"))?;
            if reply.status != 200 {
                return Err(reply.describe());
            }
            Ok(reply.json()?["return"]["minions"].is_array())
        })
    }

    /// `n` `local_async` pings submitted by `CONNS` clients, then each
    /// client cycles through its jids with `GET /jobs/<jid>` until the
    /// minion's return is in the answer. (A job not finished and a target
    /// that matched nothing both give `{"return": [{}]}`: there is no
    /// "done" flag, only the minion's id appearing.)
    fn async_run(&self, n: usize) -> AsyncRun {
        let next = AtomicUsize::new(0);
        let start = Instant::now();
        let outs: Vec<ClientAsync> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..CONNS)
                .map(|_| {
                    let next = &next;
                    scope.spawn(move || {
                        let mut out = ClientAsync::default();
                        let mut conn = Conn::new(self.addr);
                        let mut pending = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            let minion = THREE[i % 3];
                            let low = json!({ "client": "local_async", "tgt": minion, "fun": "test.ping" });
                            match self.low(&mut conn, &low) {
                                Ok(v) => match v["return"][0]["jid"].as_str() {
                                    Some(jid) => pending.push((minion, jid.to_owned())),
                                    None => {
                                        out.submit_error(format!("no jid in {}", one_line(&v.to_string())))
                                    }
                                },
                                Err(e) => out.submit_error(e),
                            }
                            out.last_submit = start.elapsed();
                        }
                        while !pending.is_empty() {
                            if start.elapsed() > POLL_LIMIT {
                                for _ in pending.drain(..) {
                                    out.lost("still no return when polling stopped".into());
                                }
                                break;
                            }
                            let round = Instant::now();
                            let before = pending.len();
                            let mut still = Vec::new();
                            for (minion, jid) in pending.drain(..) {
                                out.polls += 1;
                                let reply =
                                    conn.request("GET", &format!("/jobs/{jid}"), &self.headers(), b"");
                                match reply {
                                    Ok(r) if r.status == 200 => match r.json() {
                                        Ok(v) if v["return"][0].get(minion).is_some() => {
                                            out.visible(
                                                start.elapsed(),
                                                v["return"][0][minion] == Value::Bool(true),
                                            );
                                        }
                                        _ => still.push((minion, jid)),
                                    },
                                    // A poll that failed is tried again.
                                    Ok(r) => {
                                        out.reasons.push(format!("poll: {}", r.describe()));
                                        still.push((minion, jid));
                                    }
                                    Err(e) => {
                                        out.reasons.push(format!("poll: io: {e}"));
                                        still.push((minion, jid));
                                    }
                                }
                            }
                            pending = still;
                            if pending.len() == before && round.elapsed() < Duration::from_millis(100) {
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        ClientAsync::total(n, outs)
    }
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client: keep-alive; Content-Length, chunked or
// close-delimited bodies
// ---------------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("bad JSON ({e}): {}", self.text()))
    }

    fn text(&self) -> String {
        one_line(&String::from_utf8_lossy(&self.body))
    }

    /// `HTTP <status>: <body on one line>`.
    fn describe(&self) -> String {
        format!("HTTP {}: {}", self.status, self.text())
    }
}

struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// One exchange; reconnects when the server had closed the connection,
    /// and drops the connection after a failed exchange.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let result = self.exchange(method, path, headers, body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(PATIENCE))?;
            stream.set_write_timeout(Some(PATIENCE))?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        let Some(stream) = self.stream.as_mut() else {
            unreachable!("connected just above")
        };
        stream.write_all(&bytes)?;

        let head_end = loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            fill(stream, &mut self.buf)?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let close = find("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let chunked = find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = find("content-length")
            .map(|v| v.parse::<usize>().map_err(|_| bad("bad Content-Length")))
            .transpose()?;
        self.buf.drain(..head_end);
        let body = if method == "HEAD" || status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break pos;
                    }
                    fill(stream, &mut self.buf)?;
                };
                let size_text = std::str::from_utf8(&self.buf[..line_end]).map_err(|_| bad("chunk size"))?;
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| bad("bad chunk size"))?;
                self.buf.drain(..line_end + 2);
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        let end = loop {
                            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                                break pos;
                            }
                            fill(stream, &mut self.buf)?;
                        };
                        self.buf.drain(..end + 2);
                        if end == 0 {
                            break;
                        }
                    }
                    break body;
                }
                while self.buf.len() < size + 2 {
                    fill(stream, &mut self.buf)?;
                }
                body.extend_from_slice(&self.buf[..size]);
                self.buf.drain(..size + 2);
            }
        } else if let Some(length) = length {
            while self.buf.len() < length {
                fill(stream, &mut self.buf)?;
            }
            self.buf.drain(..length).collect()
        } else {
            // Delimited by the end of the connection.
            let mut chunk = [0u8; 8192];
            loop {
                let got = stream.read(&mut chunk)?;
                if got == 0 {
                    break;
                }
                self.buf.extend_from_slice(&chunk[..got]);
            }
            self.stream = None;
            return Ok(Reply {
                status,
                headers,
                body: std::mem::take(&mut self.buf),
            });
        };
        if close {
            self.stream = None;
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Reads more of the stream into `buf`; EOF is an error (mid-message).
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    let got = stream.read(&mut chunk)?;
    if got == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..got]);
    Ok(())
}

// ---------------------------------------------------------------------------
// Report: table, ratios, targets, JSON, charts
// ---------------------------------------------------------------------------

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) if r >= 10.0 => format!("{r:.1}x"),
        Some(r) => format!("{r:.2}x"),
        None => "-".into(),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

struct Target {
    what: String,
    wanted: String,
    measured: String,
    met: Option<bool>,
}

fn report(lab: &Lab, settings: &Settings, machine: &Machine, daemon: &Daemon, r: &Results) -> Result<()> {
    let has_api = lab.api.is_some();
    println!();
    println!("== sync test.ping, sequential (ms) ==");
    println!(
        "{:<26} {:>5} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}",
        "", "n", "p50", "p90", "p99", "max", "errors", "false"
    );
    for (label, quad) in [("1 minion", &r.one), ("3 minions", &r.three)] {
        for (name, s) in [
            ("floor", &quad.floor),
            ("projetyd", &quad.projetyd),
            ("salt-api", &quad.salt_api),
            ("salt CLI", &quad.cli),
        ] {
            if name == "salt-api" && !has_api {
                continue;
            }
            let st = s.stats();
            println!(
                "{:<26} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>6} {:>6}",
                format!("{name}, {label}"),
                st.count,
                st.p50,
                st.p90,
                st.p99,
                st.max,
                s.errors,
                s.falses
            );
        }
    }
    let own = r.own.stats();
    println!(
        "{:<26} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>6}",
        "projetyd without Salt (404)", own.count, own.p50, own.p90, own.p99, own.max, r.own.errors
    );
    for (label, q) in [("1 minion", &r.one), ("3 minions", &r.three)] {
        println!(
            "projetyd - floor, {label}: {:+.1} ms between the p50s, {:+.1} ms median of the turn-by-turn differences",
            q.projetyd.stats().p50 - q.floor.stats().p50,
            q.paired_median().unwrap_or(f64::NAN)
        );
    }

    println!();
    println!("== a down minion ({DOWN}), all at once ==");
    for d in &r.down {
        println!("{:<10} {:>7.2} s  {}", d.system, d.secs, d.answer);
    }

    println!();
    println!("== concurrent sync pings, {} s windows ==", settings.secs);
    println!(
        "{:<24} {:>6} {:>8} {:>6} {:>6} {:>6} {:>8} {:>8} {:>6} {:>7} {:>9}",
        "",
        "calls",
        "calls/s",
        "errors",
        "false",
        "true/s",
        "p50 ms",
        "p99 ms",
        "secs",
        "Salt s",
        "calls/Salt-s"
    );
    let load_line = |name: String, s: &Series| {
        let st = s.stats();
        println!(
            "{name:<24} {:>6} {:>8.2} {:>6} {:>6} {:>6.2} {:>8.0} {:>8.0} {:>6.1} {:>7.1} {:>9}",
            st.count,
            s.rate(),
            s.errors,
            s.falses,
            s.correct_rate(),
            st.p50,
            st.p99,
            s.elapsed.as_secs_f64(),
            s.salt_cpu,
            s.per_salt_cpu().map_or("-".into(), |x| format!("{x:.2}"))
        );
        for (reason, count) in &s.reasons {
            println!("    {count} x {reason}");
        }
    };
    for (clients, f, p, a) in &r.loads {
        load_line(format!("floor, {clients} tasks"), f);
        load_line(format!("projetyd, {clients} clients"), p);
        if let Some(a) = a {
            load_line(format!("salt-api, {clients} clients"), a);
        }
    }
    println!(
        "    true/s: answers with true for the live minion per second; Salt s: CPU seconds of the \
         master and the minions in the window"
    );

    println!();
    println!(
        "== cheap authenticated reads, {CONNS} connections, {} s ==",
        settings.secs
    );
    println!(
        "{:<24} {:>9} {:>10} {:>7} {:>9} {:>9}",
        "", "requests", "req/s", "errors", "p50 ms", "p99 ms"
    );
    let mut reads: Vec<(&str, &Series)> = vec![
        ("projetyd GET /keys", &r.reads_keys),
        ("projetyd GET /users", &r.reads_users),
    ];
    if let Some(a) = &r.reads_api_keys {
        reads.push(("salt-api GET /keys", a));
    }
    for (name, s) in &reads {
        let st = s.stats();
        println!(
            "{name:<24} {:>9} {:>10.1} {:>7} {:>9.2} {:>9.2}",
            st.count,
            s.rate(),
            s.errors,
            st.p50,
            st.p99
        );
        for (reason, count) in &s.reasons {
            println!("    {count} x {reason}");
        }
    }

    println!();
    println!(
        "== async pings: {CONNS} clients submit, then poll; the floor runs the same jobs {} at a time ==",
        r.async_floor.clients
    );
    println!(
        "{:<10} {:>6} {:>9} {:>10} {:>12} {:>8} {:>6} {:>6} {:>7}",
        "", "tasks", "submit s", "submit/s", "all seen s", "results", "false", "lost", "polls"
    );
    let mut asyncs = vec![("floor", &r.async_floor), ("projetyd", &r.async_projetyd)];
    if let Some(a) = &r.async_api {
        asyncs.push(("salt-api", a));
    }
    for (name, a) in &asyncs {
        println!(
            "{name:<10} {:>6} {:>9} {:>10} {:>12} {:>8} {:>6} {:>6} {:>7}",
            a.n,
            a.submit_secs
                .filter(|_| *name != "floor")
                .map_or("-".into(), |s| format!("{s:.2}")),
            a.submit_rate()
                .filter(|_| *name != "floor")
                .map_or("-".into(), |s| format!("{s:.1}")),
            a.visible_secs
                .map_or(format!("({:.2})", a.last_visible_secs), |s| format!("{s:.2}")),
            a.done,
            a.falses,
            a.lost,
            a.polls
        );
        for (reason, count) in &a.reasons {
            println!("    {count} x {reason}");
        }
    }
    if let Some(a) = &r.async_api {
        if a.n != r.async_projetyd.n {
            println!(
                "    salt-api got {} tasks, not {}: at its submit rate {} would take minutes \
                 (BENCH_API_ASYNC sets it)",
                a.n, r.async_projetyd.n, r.async_projetyd.n
            );
        }
    }

    let fp = &r.footprint;
    println!();
    println!("== footprint ==");
    println!(
        "projetyd RSS: {:.1} MiB at rest, {:.1} MiB peak under load, {:.1} MiB after; binary {:.1} MiB",
        mib(fp.projetyd_rest_kib),
        mib(fp.projetyd_peak_kib),
        mib(fp.projetyd_after_kib),
        fp.binary_bytes as f64 / 1048576.0
    );
    let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3));
    println!(
        "projetyd start: first answer {}, first 200 from /healthz {}, READY=1 {}",
        ms(daemon.startup.first_answer),
        ms(daemon.startup.first_ok),
        ms(daemon.startup.ready)
    );
    if let (Some(rest), Some(peak), Some(after)) = (fp.api_rest_kib, fp.api_peak_kib, fp.api_after_kib) {
        println!(
            "salt-api RSS ({} processes): {:.1} MiB at rest, {:.1} MiB peak, {:.1} MiB after",
            fp.api_processes,
            mib(rest),
            mib(peak),
            mib(after)
        );
    }

    println!();
    println!("== CPU per phase (cores: CPU seconds per second of the phase) ==");
    println!(
        "{:<24} {:>6} {:>8} {:>8} {:>7} {:>7} {:>6} {:>7} {:>7}",
        "", "secs", "projetyd", "salt-api", "master", "minions", "bench", "machine", "others"
    );
    for c in &r.cpu {
        println!(
            "{:<24} {:>6.1} {:>8.2} {:>8.2} {:>7.2} {:>7.2} {:>6.2} {:>7.2} {:>7.2}",
            c.phase,
            c.secs,
            c.projetyd,
            c.salt_api,
            c.master,
            c.minions,
            c.bench,
            c.machine,
            c.others()
        );
    }

    // Ratios, pair by pair within this run.
    let p50 = |s: &Series| s.stats().p50;
    let mut ratios: Vec<(String, Option<f64>)> = Vec::new();
    for (label, q) in [("1 minion", &r.one), ("3 minions", &r.three)] {
        if has_api {
            ratios.push((
                format!("sync p50, {label}: salt-api / projetyd"),
                ratio(p50(&q.salt_api), p50(&q.projetyd)),
            ));
        }
        ratios.push((
            format!("sync p50, {label}: salt CLI / projetyd"),
            ratio(p50(&q.cli), p50(&q.projetyd)),
        ));
        ratios.push((
            format!("sync p50, {label}: projetyd / floor"),
            ratio(p50(&q.projetyd), p50(&q.floor)),
        ));
    }
    for (clients, f, p, a) in &r.loads {
        if let Some(a) = a {
            ratios.push((
                format!("{clients} clients calls/s: projetyd / salt-api"),
                ratio(p.rate(), a.rate()),
            ));
            ratios.push((
                format!("{clients} clients true answers/s: projetyd / salt-api"),
                ratio(p.correct_rate(), a.correct_rate()),
            ));
        }
        ratios.push((
            format!("{clients} clients calls/s: projetyd / floor"),
            ratio(p.rate(), f.rate()),
        ));
        ratios.push((
            format!("{clients} clients calls per Salt CPU-s: projetyd / floor"),
            p.per_salt_cpu()
                .zip(f.per_salt_cpu())
                .and_then(|(p, f)| ratio(p, f)),
        ));
    }
    if let Some(a) = &r.reads_api_keys {
        ratios.push((
            "reads req/s: projetyd /keys / salt-api /keys".into(),
            ratio(r.reads_keys.rate(), a.rate()),
        ));
        ratios.push((
            "reads req/s: projetyd /users / salt-api /keys".into(),
            ratio(r.reads_users.rate(), a.rate()),
        ));
    }
    if let Some(a) = &r.async_api {
        ratios.push((
            "async submit/s: projetyd / salt-api".into(),
            ratio(
                r.async_projetyd.submit_rate().unwrap_or(0.0),
                a.submit_rate().unwrap_or(0.0),
            ),
        ));
        ratios.push((
            "async results/s until all seen: projetyd / salt-api".into(),
            ratio(
                r.async_projetyd.n as f64 / r.async_projetyd.visible_secs.unwrap_or(f64::INFINITY),
                a.n as f64 / a.visible_secs.unwrap_or(f64::INFINITY),
            ),
        ));
    }
    ratios.push((
        "async all seen: projetyd time / floor time".into(),
        ratio(
            r.async_projetyd.visible_secs.unwrap_or(f64::INFINITY),
            r.async_floor.visible_secs.unwrap_or(0.0),
        ),
    ));
    if let (Some(rest), Some(after)) = (fp.api_rest_kib, fp.api_after_kib) {
        ratios.push((
            "RSS at rest: salt-api / projetyd".into(),
            ratio(rest as f64, fp.projetyd_rest_kib as f64),
        ));
        ratios.push((
            "RSS after load: salt-api / projetyd".into(),
            ratio(after as f64, fp.projetyd_after_kib as f64),
        ));
    }
    println!();
    println!("== ratios (pair by pair, this run) ==");
    for (what, value) in &ratios {
        println!("{what:<56} {}", fmt_ratio(*value));
    }

    let targets = targets(r);
    println!();
    println!("== the issue's targets ==");
    for t in &targets {
        let mark = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        println!(
            "{mark:<7} {:<52} wanted {:<16} measured {}",
            t.what, t.wanted, t.measured
        );
    }

    let load_json = |s: &Series| s.json();
    let results = json!({
        "bench": "compare",
        "smoke": settings.smoke,
        "salt_version": lab.version,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "machine": {
            "cpus": machine.cpus, "cpu_model": machine.cpu_model, "mem_total_kib": machine.mem_total_kib,
            "load_average_before": r.load_before, "load_average_after": r.load_after,
        },
        "settings": {
            "n": settings.n, "cli_n": settings.cli_n, "window_seconds": settings.secs,
            "async_tasks": settings.async_n, "salt_api_async_tasks": settings.api_async_n,
            "connections": CONNS, "levels": LEVELS,
        },
        "total_seconds": r3(r.total_secs),
        "sync": {
            "one_minion": quad_json(&r.one),
            "three_minions": quad_json(&r.three),
            "projetyd_without_salt": r.own.json(),
        },
        "down_minion": r.down.iter().map(|d| json!({
            "system": d.system, "seconds": r3(d.secs), "answer": d.answer,
        })).collect::<Vec<_>>(),
        "concurrent": r.loads.iter().map(|(clients, f, p, a)| json!({
            "clients": clients, "floor": load_json(f), "projetyd": load_json(p),
            "salt_api": a.as_ref().map(load_json),
        })).collect::<Vec<_>>(),
        "reads": {
            "projetyd_keys": r.reads_keys.json(), "projetyd_users": r.reads_users.json(),
            "salt_api_keys": r.reads_api_keys.as_ref().map(Series::json),
        },
        "async": {
            "floor": r.async_floor.json(), "projetyd": r.async_projetyd.json(),
            "salt_api": r.async_api.as_ref().map(AsyncRun::json),
        },
        "footprint": {
            "projetyd_rss_rest_kib": fp.projetyd_rest_kib, "projetyd_rss_peak_kib": fp.projetyd_peak_kib,
            "projetyd_rss_after_kib": fp.projetyd_after_kib, "projetyd_binary_bytes": fp.binary_bytes,
            "projetyd_first_answer_ms": daemon.startup.first_answer.map(|d| r3(d.as_secs_f64() * 1e3)),
            "projetyd_first_ok_ms": daemon.startup.first_ok.map(|d| r3(d.as_secs_f64() * 1e3)),
            "projetyd_ready_ms": daemon.startup.ready.map(|d| r3(d.as_secs_f64() * 1e3)),
            "salt_api_rss_rest_kib": fp.api_rest_kib, "salt_api_rss_peak_kib": fp.api_peak_kib,
            "salt_api_rss_after_kib": fp.api_after_kib, "salt_api_processes": fp.api_processes,
        },
        "cpu_cores_per_phase": r.cpu.iter().map(CpuUse::json).collect::<Vec<_>>(),
        "ratios": ratios.iter().map(|(w, v)| (w.clone(), json!(v.map(r3)))).collect::<serde_json::Map<_, _>>(),
        "targets": targets.iter().map(|t| json!({
            "what": t.what, "wanted": t.wanted, "measured": t.measured, "met": t.met,
        })).collect::<Vec<_>>(),
    });
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("compare.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
    let (log, warnings) = daemon.log_without_access(500);
    std::fs::write(dir.join("compare-daemon.log"), log)?;
    println!(
        "projetyd logged {warnings} warning(s) or error(s) (its log without the access lines: {})",
        dir.join("compare-daemon.log").display()
    );
    let charts = charts(lab, settings, r);
    for (name, svg) in &charts {
        std::fs::write(dir.join(name), svg)?;
    }
    println!();
    println!(
        "results written to {} with {} in {:.0} s",
        path.display(),
        charts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        r.total_secs
    );
    Ok(())
}

fn quad_json(q: &Quad) -> Value {
    json!({
        "floor": q.floor.json(), "projetyd": q.projetyd.json(),
        "salt_api": q.salt_api.json(), "salt_cli": q.cli.json(),
        "projetyd_minus_floor_ms": {
            "between_p50s": r3(q.projetyd.stats().p50 - q.floor.stats().p50),
            "median_of_paired_differences": q.paired_median().map(r3),
        },
    })
}

fn targets(r: &Results) -> Vec<Target> {
    let mut t = Vec::new();
    for (label, q) in [("1 minion", &r.one), ("3 minions", &r.three)] {
        let added = q.projetyd.stats().p50 - q.floor.stats().p50;
        let paired = q.paired_median().unwrap_or(f64::NAN);
        t.push(Target {
            what: format!("sync ping p50 - floor p50, {label}"),
            wanted: "<= 2 ms".into(),
            measured: format!("{added:+.1} ms (paired median {paired:+.1} ms)"),
            met: (q.floor.stats().count > 0 && q.projetyd.stats().count > 0).then_some(added <= 2.0),
        });
    }
    if let Some((_, _, p, a)) = r.loads.iter().find(|(c, ..)| *c == 64) {
        t.push(Target {
            what: "64 clients: errors, live minions reported false".into(),
            wanted: "0 and 0".into(),
            measured: format!("{} and {}", p.errors, p.falses),
            met: Some(p.errors == 0 && p.falses == 0),
        });
        let x = a.as_ref().and_then(|a| ratio(p.rate(), a.rate()));
        let correct = a.as_ref().and_then(|a| ratio(p.correct_rate(), a.correct_rate()));
        t.push(Target {
            what: "64 clients: calls/s, projetyd / salt-api".into(),
            wanted: ">= 10x".into(),
            measured: format!("{} (true answers/s: {})", fmt_ratio(x), fmt_ratio(correct)),
            met: x.map(|x| x >= 10.0),
        });
    }
    let api_keys = r.reads_api_keys.as_ref().map(Series::rate);
    for (name, s) in [("/keys", &r.reads_keys), ("/users", &r.reads_users)] {
        let x = api_keys.and_then(|a| ratio(s.rate(), a));
        t.push(Target {
            what: format!("reads: projetyd {name} / salt-api /keys req/s"),
            wanted: ">= 1000x".into(),
            measured: fmt_ratio(x),
            met: x.map(|x| x >= 1000.0),
        });
    }
    let x = r.async_api.as_ref().and_then(|a| {
        ratio(
            r.async_projetyd.submit_rate().unwrap_or(0.0),
            a.submit_rate().unwrap_or(0.0),
        )
    });
    t.push(Target {
        what: "async submit/s, projetyd / salt-api".into(),
        wanted: ">= 100x".into(),
        measured: fmt_ratio(x),
        met: x.map(|x| x >= 100.0),
    });
    let x = ratio(
        r.async_projetyd.visible_secs.unwrap_or(f64::INFINITY),
        r.async_floor.visible_secs.unwrap_or(0.0),
    );
    t.push(Target {
        what: "async all results seen, projetyd / floor time".into(),
        wanted: "<= 1.5x".into(),
        measured: fmt_ratio(x),
        met: x.map(|x| x <= 1.5),
    });
    t.push(Target {
        what: "async lost tasks".into(),
        wanted: "0".into(),
        measured: r.async_projetyd.lost.to_string(),
        met: (r.async_projetyd.n > 0).then_some(r.async_projetyd.lost == 0),
    });
    let fp = &r.footprint;
    t.push(Target {
        what: "projetyd RSS at rest".into(),
        wanted: "< 20 MB".into(),
        measured: format!("{:.1} MiB", mib(fp.projetyd_rest_kib)),
        met: Some((fp.projetyd_rest_kib as f64) * 1024.0 < 20e6),
    });
    t.push(Target {
        what: "projetyd RSS under load (peak)".into(),
        wanted: "< 60 MB".into(),
        measured: format!("{:.1} MiB", mib(fp.projetyd_peak_kib)),
        met: Some((fp.projetyd_peak_kib as f64) * 1024.0 < 60e6),
    });
    t
}

// ---------------------------------------------------------------------------
// Charts: a small SVG bar-chart writer
// ---------------------------------------------------------------------------

fn charts(lab: &Lab, settings: &Settings, r: &Results) -> Vec<(String, String)> {
    let has_api = lab.api.is_some();
    let caption = format!(
        "Salt {}, 3 minions, {} CPUs shared, one run{}",
        lab.version,
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        if settings.smoke {
            " (SMOKE: tiny counts)"
        } else {
            ""
        }
    );
    let mut charts = Vec::new();

    // Latency: a group per percentile and target set, a bar per system.
    let mut series = vec!["floor (library, no HTTP)".to_owned(), "projetyd".to_owned()];
    let mut colors = vec![FLOOR_COLOR, PROJETYD_COLOR];
    if has_api {
        series.push("salt-api".into());
        colors.push(SALT_API_COLOR);
    }
    series.push("salt CLI".into());
    colors.push(CLI_COLOR);
    let mut groups = Vec::new();
    for (label, q) in [("1 minion", &r.one), ("3 minions", &r.three)] {
        let mut systems = vec![&q.floor, &q.projetyd];
        if has_api {
            systems.push(&q.salt_api);
        }
        systems.push(&q.cli);
        let stats: Vec<Stats> = systems.iter().map(|s| s.stats()).collect();
        for (name, pick) in [
            ("p50", (|s: &Stats| s.p50) as fn(&Stats) -> f64),
            ("p90", |s: &Stats| s.p90),
            ("p99", |s: &Stats| s.p99),
        ] {
            groups.push(Group {
                label: format!("{name}\n{label}"),
                values: stats.iter().map(|s| (s.count > 0).then(|| pick(s))).collect(),
            });
        }
    }
    charts.push((
        "compare-latency.svg".into(),
        bar_chart(&Chart {
            title: "Sync test.ping latency, sequential calls (lower is better)".into(),
            caption: caption.clone(),
            y_label: "milliseconds".into(),
            series,
            colors,
            groups,
            log: false,
        }),
    ));

    // Throughput against concurrency.
    let mut series = vec!["floor (library, no HTTP)".to_owned(), "projetyd".to_owned()];
    let mut colors = vec![FLOOR_COLOR, PROJETYD_COLOR];
    if has_api {
        series.push("salt-api".into());
        colors.push(SALT_API_COLOR);
    }
    let groups = r
        .loads
        .iter()
        .map(|(clients, f, p, a)| {
            let mut values = vec![Some(f.rate()), Some(p.rate())];
            if has_api {
                values.push(a.as_ref().map(Series::rate));
            }
            Group {
                label: format!("{clients} concurrent clients"),
                values,
            }
        })
        .collect();
    charts.push((
        "compare-throughput.svg".into(),
        bar_chart(&Chart {
            title: format!(
                "Sync test.ping throughput vs concurrency, {} s windows (higher is better)",
                settings.secs
            ),
            caption: caption.clone(),
            y_label: "completed calls per second".into(),
            series,
            colors,
            groups,
            log: false,
        }),
    ));

    // Cheap reads.
    let groups = vec![
        Group {
            label: "GET keys".into(),
            values: vec![
                Some(r.reads_keys.rate()),
                r.reads_api_keys.as_ref().map(Series::rate),
            ],
        },
        Group {
            label: "GET users (projetyd only)".into(),
            values: vec![Some(r.reads_users.rate()), None],
        },
    ];
    charts.push((
        "compare-reads.svg".into(),
        bar_chart(&Chart {
            title: format!("Cheap authenticated reads, {CONNS} connections (log scale, higher is better)"),
            caption,
            y_label: "requests per second".into(),
            series: vec!["projetyd".into(), "salt-api".into()],
            colors: vec![PROJETYD_COLOR, SALT_API_COLOR],
            groups,
            log: true,
        }),
    ));
    charts
}

struct Group {
    /// May hold one `\n` (two lines).
    label: String,
    /// One per series; `None` is not measured.
    values: Vec<Option<f64>>,
}

struct Chart {
    title: String,
    caption: String,
    y_label: String,
    series: Vec<String>,
    colors: Vec<&'static str>,
    groups: Vec<Group>,
    log: bool,
}

/// One colour per system, the same in every chart.
const FLOOR_COLOR: &str = "#8c8c8c";
const PROJETYD_COLOR: &str = "#f28e2b";
const SALT_API_COLOR: &str = "#4e79a7";
const CLI_COLOR: &str = "#59a14f";

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A linear axis from 0 to a round maximum: (max, step).
fn linear_axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

fn bar_chart(chart: &Chart) -> String {
    let (width, height) = (860.0, 460.0);
    let (left, right, top, bottom) = (80.0, width - 20.0, 78.0, height - 70.0);
    let plot_h = bottom - top;
    let values: Vec<f64> = chart
        .groups
        .iter()
        .flat_map(|g| g.values.iter().flatten().copied())
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let vmax = values.iter().copied().fold(0.0, f64::max);
    let vmin = values.iter().copied().fold(f64::INFINITY, f64::min);
    // y(v) in pixels, and the tick values.
    let (y_of, ticks): (Box<dyn Fn(f64) -> f64>, Vec<f64>) = if chart.log {
        // A decade below the smallest value, so that its bar shows.
        let lo = 10f64.powf(if vmin.is_finite() {
            vmin.log10().floor() - 1.0
        } else {
            0.0
        });
        let hi = 10f64.powf(vmax.max(lo * 10.0).log10().ceil());
        let (llo, lhi) = (lo.log10(), hi.log10());
        let ticks = (llo as i32..=lhi as i32).map(|e| 10f64.powi(e)).collect();
        (
            Box::new(move |v: f64| bottom - (v.max(lo).log10() - llo) / (lhi - llo) * plot_h),
            ticks,
        )
    } else {
        // Headroom for the value labels above the bars.
        let (max, step) = linear_axis(vmax * 1.15);
        let ticks = (0..=((max / step).round() as usize))
            .map(|i| i as f64 * step)
            .collect();
        (Box::new(move |v: f64| bottom - v / max * plot_h), ticks)
    };

    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\">\n"
    ));
    s.push_str(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{}\" y=\"24\" font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>\n",
        width / 2.0,
        esc(&chart.title)
    ));
    s.push_str(&format!(
        "<text x=\"{}\" y=\"42\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\">{}</text>\n",
        width / 2.0,
        esc(&chart.caption)
    ));
    // Legend.
    let mut lx = left;
    for (i, name) in chart.series.iter().enumerate() {
        s.push_str(&format!(
            "<rect x=\"{lx}\" y=\"54\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"64\" font-size=\"12\">{}</text>\n",
            chart.colors[i % chart.colors.len()],
            lx + 16.0,
            esc(name)
        ));
        lx += 30.0 + 7.0 * name.len() as f64;
    }
    // Axes and grid.
    for t in &ticks {
        let y = y_of(*t);
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n",
            left - 6.0,
            y + 4.0,
            fmt_tick(*t)
        ));
    }
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\" stroke=\"#333\"/>\
         <line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"#333\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"18\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" \
         transform=\"rotate(-90 18 {:.1})\">{}</text>\n",
        (top + bottom) / 2.0,
        (top + bottom) / 2.0,
        esc(&chart.y_label)
    ));
    // Bars.
    let groups = chart.groups.len().max(1) as f64;
    let group_w = (right - left) / groups;
    let nseries = chart.series.len().max(1) as f64;
    let bar_w = group_w * 0.8 / nseries;
    for (gi, group) in chart.groups.iter().enumerate() {
        let gx = left + gi as f64 * group_w + group_w * 0.1;
        for (si, value) in group.values.iter().enumerate() {
            let x = gx + si as f64 * bar_w;
            let Some(v) = value.filter(|v| v.is_finite()) else {
                s.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#888\" \
                     text-anchor=\"middle\">n/a</text>\n",
                    x + bar_w / 2.0,
                    bottom - 4.0
                ));
                continue;
            };
            let y = y_of(v).min(bottom);
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{}: {}</title></rect>\n",
                (bar_w - 2.0).max(1.0),
                bottom - y,
                chart.colors[si % chart.colors.len()],
                esc(&chart.series[si.min(chart.series.len() - 1)]),
                fmt_value(v)
            ));
            let cx = x + bar_w / 2.0;
            if bar_w < 30.0 {
                s.push_str(&format!(
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"10\" \
                     transform=\"rotate(-90 {cx:.1} {:.1})\">{}</text>\n",
                    y - 4.0,
                    y - 4.0,
                    fmt_value(v)
                ));
            } else {
                s.push_str(&format!(
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n",
                    y - 4.0,
                    fmt_value(v)
                ));
            }
        }
        let cx = left + (gi as f64 + 0.5) * group_w;
        for (li, line) in group.label.split('\n').enumerate() {
            s.push_str(&format!(
                "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
                bottom + 18.0 + 15.0 * li as f64,
                esc(line)
            ));
        }
    }
    s.push_str("</svg>\n");
    s
}
