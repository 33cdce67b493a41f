//! Load test of the asynchronous task path (issue #4): N async pings
//! submitted by 64 concurrent clients, every one followed to its final
//! answer, through the real `projetyd` binary over HTTP.
//!
//! Two modes:
//!
//! - **fake** (the default, when `PROJETYD_SALT_LAB` is unset): an
//!   in-process fake-fast Salt master (`testkit/src/fake_master.rs`) that
//!   answers every publish at once and returns every job at once, so the
//!   figures are projetyd's own: the submit path and the task pool.
//! - **lab** (`PROJETYD_SALT_LAB=<lab dir>/lab.env`): the same against a
//!   real Salt master and minions from `scripts/salt-lab.sh`.
//!
//! ```text
//! cargo bench --bench task_load                       # fake, 20000 tasks
//! SALT_LAB_DIR=/tmp/pj-load SALT_LAB_PUB_PORT=54505 SALT_LAB_RET_PORT=54506 \
//!     scripts/salt-lab.sh start 3
//! PROJETYD_SALT_LAB=/tmp/pj-load/lab.env cargo bench --bench task_load   # lab, 1000 tasks
//! ```
//!
//! The daemon runs `serve --listen 127.0.0.1:0` on a throwaway database in
//! a temporary directory (on the same disk as `/tmp`: its flushes reach the
//! disk), with a user and a token made as a client would. Then:
//!
//! 1. **Submit**: `BENCH_CLIENTS` threads [64], each on its own keep-alive
//!    connection, take task numbers i = 0..`BENCH_TASKS` [fake 20000, lab
//!    1000] and `POST /api/v1.0/tasks/ping/minion-<i%3+1>`, recording the
//!    time the request went out and the 202's `Location`.
//! 2. **Poll**: as many threads follow each `Location` with
//!    `GET <Location>?wait=30` until the answer is final. With `BENCH_POLL`
//!    `concurrent` [default] a task is handed to the pollers as soon as its
//!    202 arrives, as a real client would; with `after` polling starts only
//!    once every submit is answered, so the submit phase has the daemon to
//!    itself (its time-to-result then includes that wait).
//!
//! Reported: submit rate (submits answered over the submit phase),
//! completion rate (final answers over first submit to last answer),
//! time-to-result percentiles (request sent to final answer received), lost
//! tasks (a 202 with no final answer within `BENCH_DEADLINE` seconds [300]
//! of its submit, or whose status became 404), wrong answers (a final
//! answer other than `200 {"minion-N": true}`), non-202 submits by status,
//! the daemon's RSS (before, at the end, peak sampled every 100 ms, and
//! after 12 s at rest), its threads (the same) and its CPU time over the
//! load. A table on stdout and JSON in
//! `target/bench-results/task_load_<mode>.json` (`_after` appended for
//! `BENCH_POLL=after`). `BENCH_DAEMON_ARGS` adds arguments to `serve`
//! (split on spaces), e.g. `--task-queue 50000`.
//!
//! Loopback only. The daemon (by pid) and the fake are stopped before the
//! bench returns, also on error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use projetyd_testkit::fake_master::FakeMaster;

use projetyd_testkit::bench::{env_number, load_average, target_dir, BenchDaemon, Result};
use projetyd_testkit::http::Client;
use projetyd_testkit::lab::LabEnv;
use projetyd_testkit::measure::{cpu_seconds, proc_status, round, Sampler, Stats};

const MINIONS: [&str; 3] = ["minion-1", "minion-2", "minion-3"];
/// Longest `?wait=` asked for (the daemon caps it at its `--max-wait`).
const WAIT_SECS: u64 = 30;
/// Pause after the load before the last RSS reading.
const REST: Duration = Duration::from_secs(12);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fake,
    Lab,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fake => "fake",
            Mode::Lab => "lab",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poll {
    Concurrent,
    After,
}

struct Settings {
    mode: Mode,
    tasks: usize,
    clients: usize,
    poll: Poll,
    deadline: Duration,
    daemon_args: Vec<String>,
}

fn main() -> Result<()> {
    let lab_env = std::env::var_os("PROJETYD_SALT_LAB");
    let mode = if lab_env.is_some() { Mode::Lab } else { Mode::Fake };
    let settings = Settings {
        mode,
        tasks: env_number("BENCH_TASKS", if mode == Mode::Fake { 20_000 } else { 1_000 })?,
        clients: env_number("BENCH_CLIENTS", 64)?,
        poll: match std::env::var("BENCH_POLL").as_deref() {
            Err(_) | Ok("concurrent") => Poll::Concurrent,
            Ok("after") => Poll::After,
            Ok(other) => return Err(format!("BENCH_POLL={other:?}: concurrent or after").into()),
        },
        deadline: Duration::from_secs(env_number("BENCH_DEADLINE", 300)? as u64),
        daemon_args: std::env::var("BENCH_DAEMON_ARGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };

    // The fake (if any) lives until the end of main, after the daemon.
    let mut fake = None;
    let (master_config, salt_version) = match &lab_env {
        Some(path) => {
            let lab = LabEnv::read(Path::new(path))?;
            (
                PathBuf::from(lab.var("SALT_LAB_MASTER_CONFIG")?),
                format!("Salt {}", lab.var("SALT_LAB_VERSION")?),
            )
        }
        None => {
            let started = FakeMaster::start(&MINIONS)?;
            let config = started.config.clone();
            fake = Some(started);
            (config, "fake-fast Salt (in process)".to_owned())
        }
    };
    println!(
        "task_load: mode {}, {salt_version}, master config {}, {} tasks, {} clients, polling {}, \
         {} CPUs, load average {}",
        mode.name(),
        master_config.display(),
        settings.tasks,
        settings.clients,
        if settings.poll == Poll::After {
            "after submits"
        } else {
            "concurrent"
        },
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        load_average()
    );

    let mut daemon = BenchDaemon::start(&master_config, &settings.daemon_args)?;
    let result = daemon.wait_for_salt().and_then(|()| measure(&daemon, &settings));
    let log_tail = daemon.log_tail(20);
    daemon.stop();
    if let Some(fake) = fake.as_mut() {
        fake.stop();
    }
    let mut outcome = result.map_err(|e| format!("{e}; daemon log tail:\n{log_tail}"))?;
    if let Some(fake) = &fake {
        let c = &fake.counts;
        outcome.fake = Some(json!({
            "publishes": c.publishes.load(Ordering::Relaxed),
            "test_ping_publishes": c.test_pings.load(Ordering::Relaxed),
            "pings": c.pings.load(Ordering::Relaxed),
            "events_written": c.events.load(Ordering::Relaxed),
            "bus_readers": c.readers.load(Ordering::Relaxed),
        }));
    }
    report(&settings, &salt_version, &master_config, &outcome)
}

// ---------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------

/// One accepted task, from its 202 to its final answer.
struct Accepted {
    index: usize,
    /// When its POST went out.
    sent: Instant,
    /// The path of its `Location`.
    path: String,
}

/// How one task ended, as the pollers saw it.
enum Final {
    /// `200 {"minion-N": true}`, and when it arrived.
    Right(Instant),
    /// Any other final answer: its status and body.
    Wrong(Instant, u16, String),
    /// No final answer: why.
    Lost(String),
}

#[derive(Default)]
struct Submits {
    /// Time from request sent to answer, per submit (202 or not).
    latencies: Vec<Duration>,
    by_status: BTreeMap<u16, usize>,
    /// The first answer body of each non-202 status.
    examples: BTreeMap<u16, String>,
    /// Failed exchanges (connection errors), by description.
    io_errors: BTreeMap<String, usize>,
    first_sent: Option<Instant>,
    last_answered: Option<Instant>,
}

impl Submits {
    fn merge(&mut self, other: Submits) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
        for (k, v) in other.examples {
            self.examples.entry(k).or_insert(v);
        }
        for (k, v) in other.io_errors {
            *self.io_errors.entry(k).or_default() += v;
        }
        self.first_sent = min_opt(self.first_sent, other.first_sent);
        self.last_answered = max_opt(self.last_answered, other.last_answered);
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Default)]
struct Polls {
    /// (task index, sent, outcome).
    finals: Vec<(usize, Instant, Final)>,
    /// Status requests made, and how many answered 202 (still pending).
    requests: usize,
    pending_answers: usize,
    io_errors: usize,
}

/// What `measure` found.
struct Outcome {
    submits: Submits,
    polls: Polls,
    rss_before_kb: u64,
    rss_end_kb: u64,
    rss_peak_kb: u64,
    threads_before: u64,
    threads_peak: u64,
    /// VmRSS and threads after `REST` without load.
    rss_rest_kb: u64,
    threads_rest: u64,
    /// Daemon CPU seconds (user, system) over the load.
    cpu: (f64, f64),
    /// This process's CPU seconds (user + system) over the load: the
    /// clients and, in fake mode, the fake master.
    bench_cpu: f64,
    /// Submit phase, and first submit to last final answer.
    submit_phase: Duration,
    total_phase: Duration,
    fake: Option<serde_json::Value>,
}

fn measure(daemon: &BenchDaemon, settings: &Settings) -> Result<Outcome> {
    let rss_before_kb = proc_status(daemon.pid, "VmRSS").unwrap_or(0);
    let threads_before = proc_status(daemon.pid, "Threads").unwrap_or(0);
    let cpu_before = cpu_seconds(daemon.pid);
    let own_before = cpu_seconds(std::process::id());
    let sampler = Sampler::start(daemon.pid);

    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Accepted>();
    let rx = Mutex::new(rx);
    let (submits, polls) = std::thread::scope(|scope| {
        let submitters: Vec<_> = (0..settings.clients)
            .map(|_| {
                let tx = tx.clone();
                let next = &next;
                scope.spawn(move || submit_loop(daemon, next, settings.tasks, &tx))
            })
            .collect();
        drop(tx);
        let rx = &rx;
        let start_pollers = || -> Vec<_> {
            (0..settings.clients)
                .map(|_| scope.spawn(move || poll_loop(daemon, rx, settings.deadline)))
                .collect()
        };
        let mut pollers = match settings.poll {
            Poll::Concurrent => start_pollers(),
            Poll::After => Vec::new(),
        };
        let mut submits = Submits::default();
        for handle in submitters {
            match handle.join() {
                Ok(s) => submits.merge(s),
                Err(_) => {
                    *submits
                        .io_errors
                        .entry("a submit thread panicked".into())
                        .or_default() += 1
                }
            }
        }
        if pollers.is_empty() {
            pollers = start_pollers();
        }
        let mut polls = Polls::default();
        for handle in pollers {
            if let Ok(p) = handle.join() {
                polls.finals.extend(p.finals);
                polls.requests += p.requests;
                polls.pending_answers += p.pending_answers;
                polls.io_errors += p.io_errors;
            }
        }
        (submits, polls)
    });

    let rss_end_kb = proc_status(daemon.pid, "VmRSS").unwrap_or(0);
    let cpu_after = cpu_seconds(daemon.pid);
    let own_after = cpu_seconds(std::process::id());
    let (rss_peak_kb, threads_peak) = sampler.stop();
    // Idle blocking-pool threads exit after 10 s; what is left after that
    // is what the load left behind.
    std::thread::sleep(REST);
    let rss_rest_kb = proc_status(daemon.pid, "VmRSS").unwrap_or(0);
    let threads_rest = proc_status(daemon.pid, "Threads").unwrap_or(0);
    let first = submits.first_sent.ok_or("no submit was made")?;
    let last_final = polls
        .finals
        .iter()
        .filter_map(|(_, _, f)| match f {
            Final::Right(at) | Final::Wrong(at, ..) => Some(*at),
            Final::Lost(_) => None,
        })
        .max()
        .unwrap_or(first);
    Ok(Outcome {
        submit_phase: submits.last_answered.unwrap_or(first).duration_since(first),
        total_phase: last_final.duration_since(first),
        submits,
        polls,
        rss_before_kb,
        rss_end_kb,
        rss_peak_kb: rss_peak_kb.max(rss_end_kb),
        threads_before,
        threads_peak,
        rss_rest_kb,
        threads_rest,
        cpu: (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1),
        bench_cpu: (own_after.0 + own_after.1) - (own_before.0 + own_before.1),
        fake: None,
    })
}

/// Takes task numbers until there are none left and submits them.
fn submit_loop(
    daemon: &BenchDaemon,
    next: &AtomicUsize,
    tasks: usize,
    accepted: &mpsc::Sender<Accepted>,
) -> Submits {
    let mut conn = Client::new(daemon.addr);
    let mut out = Submits::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= tasks {
            return out;
        }
        let minion = MINIONS[index % MINIONS.len()];
        let path = format!("/api/v1.0/tasks/ping/{minion}");
        let sent = Instant::now();
        out.first_sent = min_opt(out.first_sent, Some(sent));
        let result = conn.request("POST", &path, &daemon.bearer, b"");
        let answered = Instant::now();
        out.last_answered = Some(answered);
        match result {
            Ok(reply) => {
                out.latencies.push(answered - sent);
                *out.by_status.entry(reply.status).or_default() += 1;
                if reply.status != 202 {
                    out.examples
                        .entry(reply.status)
                        .or_insert_with(|| String::from_utf8_lossy(&reply.body).into());
                    continue;
                }
                let Some(path) = reply.header("location").and_then(location_path) else {
                    *out.io_errors
                        .entry("202 without a usable Location".into())
                        .or_default() += 1;
                    continue;
                };
                let _ = accepted.send(Accepted { index, sent, path });
            }
            Err(err) => *out.io_errors.entry(err.to_string()).or_default() += 1,
        }
    }
}

/// Follows accepted tasks to their final answer until none are left.
fn poll_loop(daemon: &BenchDaemon, queue: &Mutex<mpsc::Receiver<Accepted>>, deadline: Duration) -> Polls {
    let mut conn = Client::new(daemon.addr);
    let mut out = Polls::default();
    loop {
        let task = {
            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            match queue.recv() {
                Ok(task) => task,
                Err(_) => return out,
            }
        };
        let path = format!("{}?wait={WAIT_SECS}", task.path);
        let give_up = task.sent + deadline;
        let mut failures = 0;
        let outcome = loop {
            if Instant::now() >= give_up {
                break Final::Lost(format!("no final answer within {deadline:?}"));
            }
            out.requests += 1;
            match conn.request("GET", &path, &daemon.bearer, b"") {
                Ok(reply) if reply.status == 202 => out.pending_answers += 1,
                Ok(reply) if reply.status == 404 => break Final::Lost("the status became 404".into()),
                Ok(reply) => {
                    let at = Instant::now();
                    let expected = json!({ MINIONS[task.index % MINIONS.len()]: true });
                    let body: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
                    break if reply.status == 200 && body.as_ref() == Some(&expected) {
                        Final::Right(at)
                    } else {
                        Final::Wrong(at, reply.status, String::from_utf8_lossy(&reply.body).into())
                    };
                }
                Err(err) => {
                    out.io_errors += 1;
                    failures += 1;
                    if failures >= 5 {
                        break Final::Lost(format!("status requests failed: {err}"));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        out.finals.push((task.index, task.sent, outcome));
    }
}

/// The path (and query) of an absolute `Location`.
fn location_path(location: &str) -> Option<String> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))?;
    let slash = rest.find('/')?;
    Some(rest[slash..].to_owned())
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

fn per_second(count: usize, over: Duration) -> f64 {
    count as f64 / over.as_secs_f64().max(1e-9)
}

fn report(settings: &Settings, salt: &str, master_config: &Path, o: &Outcome) -> Result<()> {
    let accepted = o.submits.by_status.get(&202).copied().unwrap_or(0);
    let submitted = o.submits.latencies.len() + o.submits.io_errors.values().sum::<usize>();
    let non_202: BTreeMap<String, usize> = o
        .submits
        .by_status
        .iter()
        .filter(|(s, _)| **s != 202)
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    let mut ttr = Vec::new();
    let mut right = 0;
    // Wrong answers by "<status> <body>" (the first 10 distinct ones).
    let mut wrong: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost: BTreeMap<String, usize> = BTreeMap::new();
    // Per minion: right, wrong, lost.
    let mut per_minion: BTreeMap<&str, [usize; 3]> = MINIONS.iter().map(|m| (*m, [0; 3])).collect();
    for (index, sent, outcome) in &o.polls.finals {
        let counts = per_minion.entry(MINIONS[index % MINIONS.len()]).or_default();
        match outcome {
            Final::Right(at) => {
                right += 1;
                counts[0] += 1;
                ttr.push(at.duration_since(*sent));
            }
            Final::Wrong(at, status, body) => {
                ttr.push(at.duration_since(*sent));
                counts[1] += 1;
                let mut key = format!("{status} {body}");
                key.truncate(200);
                if wrong.len() >= 10 && !wrong.contains_key(&key) {
                    key = "(others)".into();
                }
                *wrong.entry(key).or_default() += 1;
            }
            Final::Lost(why) => {
                counts[2] += 1;
                *lost.entry(why.clone()).or_default() += 1;
            }
        }
    }
    let per_minion: BTreeMap<&str, serde_json::Value> = per_minion
        .into_iter()
        .map(|(m, [r, w, l])| (m, json!({"right": r, "wrong": w, "lost": l})))
        .collect();
    // A 202 that never reached a poller's final answer is lost too.
    let followed = o.polls.finals.len();
    if accepted > followed {
        *lost.entry("never followed (no Location)".into()).or_default() += accepted - followed;
    }
    let lost_total: usize = lost.values().sum();
    let wrong_total: usize = wrong.values().sum();
    let finals = right + wrong_total;
    let submit_rate = per_second(submitted, o.submit_phase);
    let accepted_rate = per_second(accepted, o.submit_phase);
    let completion_rate = per_second(finals, o.total_phase);
    let lat = Stats::of(&o.submits.latencies);
    let ttr_stats = Stats::of(&ttr);
    let cpu_total = o.cpu.0 + o.cpu.1;
    let cpu_per_task_us = cpu_total * 1e6 / accepted.max(1) as f64;

    println!();
    println!("{:<44} {:>14}", "", settings.mode.name());
    let row = |name: &str, value: String| println!("{name:<44} {value:>14}");
    row("tasks submitted", submitted.to_string());
    row("accepted (202)", accepted.to_string());
    row("non-202 submits", format!("{non_202:?}"));
    row(
        "submit I/O errors",
        o.submits.io_errors.values().sum::<usize>().to_string(),
    );
    row("submit phase (s)", format!("{:.2}", o.submit_phase.as_secs_f64()));
    row("submit rate (submits/s)", format!("{submit_rate:.0}"));
    row("accepted rate (202/s)", format!("{accepted_rate:.0}"));
    row(
        "submit latency p50 / p99 (ms)",
        format!("{:.2} / {:.2}", lat.p50, lat.p99),
    );
    row("final answers", finals.to_string());
    row(
        "first submit to last answer (s)",
        format!("{:.2}", o.total_phase.as_secs_f64()),
    );
    row("completion rate (tasks/s)", format!("{completion_rate:.0}"));
    row(
        "time-to-result p50 / p90 / p99 (ms)",
        format!(
            "{:.1} / {:.1} / {:.1}",
            ttr_stats.p50, ttr_stats.p90, ttr_stats.p99
        ),
    );
    row("time-to-result max (ms)", format!("{:.1}", ttr_stats.max));
    row(
        "status requests (202 answers)",
        format!("{} ({})", o.polls.requests, o.polls.pending_answers),
    );
    row("LOST tasks", lost_total.to_string());
    row("WRONG answers", wrong_total.to_string());
    row("daemon RSS before / end / peak / rest (MiB)", {
        let mib = |kb: u64| kb as f64 / 1024.0;
        format!(
            "{:.1} / {:.1} / {:.1} / {:.1}",
            mib(o.rss_before_kb),
            mib(o.rss_end_kb),
            mib(o.rss_peak_kb),
            mib(o.rss_rest_kb)
        )
    });
    row(
        "daemon threads before / peak / rest",
        format!("{} / {} / {}", o.threads_before, o.threads_peak, o.threads_rest),
    );
    row(
        "daemon CPU user + sys (s)",
        format!("{:.2} + {:.2}", o.cpu.0, o.cpu.1),
    );
    row(
        "daemon CPU per accepted task (µs)",
        format!("{cpu_per_task_us:.0}"),
    );
    row(
        "bench process CPU: clients, fake (s)",
        format!("{:.2}", o.bench_cpu),
    );
    if !lost.is_empty() {
        println!("    lost: {lost:?}");
    }
    if !wrong.is_empty() {
        println!("    wrong answers: {wrong:?}");
        println!("    per minion: {}", json!(per_minion));
    }
    if !o.submits.examples.is_empty() {
        println!("    non-202 submits, first answers: {:?}", o.submits.examples);
    }
    if !o.submits.io_errors.is_empty() {
        println!("    submit errors: {:?}", o.submits.io_errors);
    }
    if let Some(fake) = &o.fake {
        println!("    fake master: {fake}");
    }

    let poll = match settings.poll {
        Poll::Concurrent => "concurrent",
        Poll::After => "after",
    };
    let daemon = json!({
        "rss_before_kb": o.rss_before_kb,
        "rss_end_kb": o.rss_end_kb,
        "rss_peak_kb": o.rss_peak_kb,
        "rss_rest_kb": o.rss_rest_kb,
        "threads_before": o.threads_before,
        "threads_peak": o.threads_peak,
        "threads_rest": o.threads_rest,
        "rest_s": REST.as_secs(),
        "cpu_user_s": round(o.cpu.0),
        "cpu_system_s": round(o.cpu.1),
        "cpu_per_accepted_task_us": round(cpu_per_task_us),
    });
    let results = json!({
        "bench": "task_load",
        "mode": settings.mode.name(),
        "salt": salt,
        "master_config": master_config,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "cpus": std::thread::available_parallelism().map_or(0, |p| p.get()),
        "load_average_at_end": load_average(),
        "tasks": settings.tasks,
        "clients": settings.clients,
        "polling": poll,
        "daemon_args": settings.daemon_args,
        "submitted": submitted,
        "accepted": accepted,
        "non_202_by_status": non_202,
        "non_202_examples": o.submits.examples,
        "submit_io_errors": o.submits.io_errors,
        "submit_phase_s": round(o.submit_phase.as_secs_f64()),
        "submit_rate_per_s": round(submit_rate),
        "accepted_rate_per_s": round(accepted_rate),
        "submit_latency": lat.json(),
        "final_answers": finals,
        "total_phase_s": round(o.total_phase.as_secs_f64()),
        "completion_rate_per_s": round(completion_rate),
        "time_to_result": ttr_stats.json(),
        "status_requests": o.polls.requests,
        "status_pending_answers": o.polls.pending_answers,
        "status_io_errors": o.polls.io_errors,
        "lost": lost_total,
        "lost_reasons": lost,
        "wrong_answers": wrong_total,
        "wrong_by_answer": wrong,
        "per_minion": per_minion,
        "daemon": daemon,
        "bench_process_cpu_s": round(o.bench_cpu),
        "fake_master": o.fake,
    });
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir)?;
    let suffix = if settings.poll == Poll::After {
        "_after"
    } else {
        ""
    };
    let path = dir.join(format!("task_load_{}{suffix}.json", settings.mode.name()));
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
    println!("\nresults written to {}", path.display());
    if lost_total > 0 {
        return Err(format!("{lost_total} task(s) lost").into());
    }
    Ok(())
}
