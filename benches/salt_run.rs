//! Any function, sync, against a real Salt lab (issue #10, "Speed"): the
//! floor (the library's own client publishing and collecting the job, no
//! HTTP) beside the same job through the daemon, for `grains.items` (a
//! large return: JSON rendering), `cmd.run` (arguments), and a glob target
//! on `POST /api/v1.0/run` (expansion and the ACL check of three minions).
//! Floor and daemon calls alternate one by one, so that the master's drift
//! weighs on both alike; the daemon's own work on a run is also timed
//! alone, on a target that matches nothing (auth, body, expansion, 404).
//!
//! ```text
//! SALT_LAB_DIR=/tmp/pj-bench SALT_LAB_PUB_PORT=44505 SALT_LAB_RET_PORT=44506 \
//!     scripts/salt-lab.sh start 3
//! PROJETYD_SALT_LAB=/tmp/pj-bench/lab.env cargo bench --bench salt_run
//! ```
//!
//! Settings: `BENCH_N` calls per case [100]. Without `PROJETYD_SALT_LAB` it
//! prints a SKIPPED line and exits 0. Loopback only; the daemon it starts
//! is killed (by pid) before it exits. Writes the figures to
//! `target/bench-results/salt_run.json`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use projetyd::salt::{JobSpec, MasterConfig, Options, Salt};
use rmpv::Value;
use serde_json::json;

use projetyd_testkit::bench::{env_number, load_average, target_dir, BenchDaemon, BoxError, Result};
use projetyd_testkit::http::Client;
use projetyd_testkit::lab::LabEnv;
use projetyd_testkit::measure::{round, Stats};

/// Calls made (and not timed) before each series.
const WARMUP: usize = 10;
const THREE: [&str; 3] = ["minion-1", "minion-2", "minion-3"];

/// One case: the same job by the floor and through the daemon.
struct Case {
    name: &'static str,
    function: &'static str,
    arg: Vec<Value>,
    targets: &'static [&'static str],
    path: &'static str,
    body: serde_json::Value,
    /// Whether one minion's return is right.
    check: fn(&str, &serde_json::Value) -> bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "grains.items, 1 minion",
            function: "grains.items",
            arg: Vec::new(),
            targets: &["minion-1"],
            path: "/api/v1.0/minions/minion-1/tasks/grains.items",
            body: json!({}),
            check: |id, ret| ret["id"] == id,
        },
        Case {
            name: "cmd.run, 1 minion",
            function: "cmd.run",
            arg: vec![Value::from("echo bench")],
            targets: &["minion-1"],
            path: "/api/v1.0/minions/minion-1/tasks/cmd.run",
            body: json!({"arg": ["echo bench"]}),
            check: |_, ret| ret == "bench",
        },
        Case {
            name: "test.arg, glob of 3",
            function: "test.arg",
            arg: vec![Value::from("x")],
            targets: &THREE,
            path: "/api/v1.0/run",
            body: json!({"target": "minion-[123]", "function": "test.arg", "arg": ["x"]}),
            check: |_, ret| ret["args"] == json!(["x"]),
        },
    ]
}

fn main() -> Result<()> {
    let Some(lab_env) = std::env::var_os("PROJETYD_SALT_LAB") else {
        println!("salt_run: SKIPPED: no Salt lab (set PROJETYD_SALT_LAB=<lab dir>/lab.env)");
        return Ok(());
    };
    let lab = LabEnv::read(Path::new(&lab_env))?;
    let master_config = PathBuf::from(lab.var("SALT_LAB_MASTER_CONFIG")?);
    let version = lab.var("SALT_LAB_VERSION")?.to_owned();
    let n = env_number("BENCH_N", 100)?;
    println!(
        "salt_run: Salt {version}, master config {}, N={n}, {} CPUs, load average {}",
        master_config.display(),
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        load_average()
    );
    let mut daemon = BenchDaemon::start(&master_config, &[])?;
    // The bench user runs more than test.ping: make it an admin.
    let admin = daemon.daemon.admin("createrole", &["bench", "admin"]);
    if !admin.status.success() {
        daemon.stop();
        return Err(format!("createrole: {admin:?}").into());
    }
    let result = measure(&master_config, &daemon, n);
    daemon.stop();
    report(&version, n, &result?)
}

struct Measured {
    name: &'static str,
    floor: Series,
    through: Series,
}

fn measure(master_config: &Path, daemon: &BenchDaemon, n: usize) -> Result<(Vec<Measured>, Series)> {
    daemon.wait_for_salt()?;
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
    // Both clients list the minions' functions at start: let that end.
    std::thread::sleep(Duration::from_secs(2));
    let mut conn = Client::new(daemon.addr);
    let mut measured = Vec::new();
    for case in cases() {
        let spec = JobSpec {
            arg: case.arg.clone(),
            ..JobSpec::new(
                case.function,
                case.targets.iter().map(|s| s.to_string()).collect(),
                Duration::from_secs(10),
                Duration::from_secs(10),
            )
        };
        let body = serde_json::to_vec(&case.body)?;
        let mut floor = Series::default();
        let mut through = Series::default();
        for i in 0..WARMUP + n {
            let timed = i >= WARMUP;
            for leg in [i % 2, 1 - i % 2] {
                let start = Instant::now();
                if leg == 0 {
                    let result = runtime.block_on(direct(&salt, &spec, case.check));
                    if timed {
                        floor.record(start, result, "floor");
                    }
                } else {
                    let result = through_daemon(daemon, &mut conn, &case, &body);
                    if timed {
                        through.record(start, result, case.path);
                    }
                }
            }
        }
        measured.push(Measured {
            name: case.name,
            floor,
            through,
        });
    }
    let own = own_cost(daemon, &mut conn, n * 10);
    drop(salt);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok((measured, own))
}

/// One job by the library's own client; `Ok(true)` when every target's
/// return passes the case's check.
async fn direct(
    salt: &Salt,
    spec: &JobSpec,
    check: fn(&str, &serde_json::Value) -> bool,
) -> Result<bool, String> {
    let outcome = salt.run(spec).await.map_err(|e| e.to_string())?;
    Ok(spec.targets.iter().all(|m| {
        outcome
            .returns
            .get(m)
            .is_some_and(|r| check(m, &projetyd::salt::json::to_json(&r.value)))
    }))
}

fn through_daemon(daemon: &BenchDaemon, conn: &mut Client, case: &Case, body: &[u8]) -> Result<bool, String> {
    let reply = conn
        .request("POST", case.path, &daemon.bearer, body)
        .map_err(|e| format!("io: {e}"))?;
    if reply.status != 200 {
        return Err(format!(
            "HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    let reply: serde_json::Value =
        serde_json::from_slice(&reply.body).map_err(|e| format!("bad JSON: {e}"))?;
    Ok(case.targets.iter().all(|m| (case.check)(m, &reply[*m])))
}

/// `POST /api/v1.0/run` on a glob that matches no minion: everything the
/// daemon does on a run but the Salt job.
fn own_cost(daemon: &BenchDaemon, conn: &mut Client, n: usize) -> Series {
    let body = json!({"target": "bench-no-such-*", "function": "test.arg"}).to_string();
    let mut series = Series::default();
    for i in 0..WARMUP + n {
        let start = Instant::now();
        let result = match conn.request("POST", "/api/v1.0/run", &daemon.bearer, body.as_bytes()) {
            Ok(r) if r.status == 404 => Ok(true),
            Ok(r) => Err(format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body))),
            Err(err) => Err(format!("io: {err}")),
        };
        if i >= WARMUP {
            series.record(start, result, "own cost");
        }
    }
    series
}

/// Latencies and what went wrong.
#[derive(Debug, Default)]
struct Series {
    samples: Vec<Duration>,
    errors: usize,
    /// Answers whose returns were wrong.
    wrong: usize,
}

impl Series {
    fn record(&mut self, start: Instant, result: Result<bool, String>, what: &str) {
        match result {
            Ok(right) => {
                self.samples.push(start.elapsed());
                self.wrong += usize::from(!right);
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
        v["wrong_answers"] = json!(self.wrong);
        v
    }
}

fn report(version: &str, n: usize, (measured, own): &(Vec<Measured>, Series)) -> Result<()> {
    println!();
    println!(
        "{:<34} {:>5} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6}",
        "sequential, sync", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "wrong"
    );
    let mut cases = Vec::new();
    for m in measured {
        for (who, series) in [("floor", &m.floor), ("projetyd", &m.through)] {
            let s = Stats::of(&series.samples);
            println!(
                "{:<34} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>6}",
                format!("{who}, {}", m.name),
                s.count,
                s.p50,
                s.p90,
                s.p99,
                s.max,
                series.errors,
                series.wrong
            );
        }
        let added = Stats::of(&m.through.samples).p50 - Stats::of(&m.floor.samples).p50;
        println!("{:<34} projetyd adds {added:+.2} ms at p50", "");
        cases.push(json!({
            "case": m.name,
            "floor": m.floor.json(),
            "projetyd": m.through.json(),
            "projetyd_adds_p50_ms": round(added),
        }));
    }
    let s = Stats::of(&own.samples);
    println!(
        "{:<34} {:>5} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>6}",
        "projetyd, no Salt (glob, 404)", s.count, s.p50, s.p90, s.p99, s.max, own.errors
    );
    let results = json!({
        "bench": "salt_run",
        "salt_version": version,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "cpus": std::thread::available_parallelism().map_or(0, |p| p.get()),
        "load_average_at_end": load_average(),
        "n": n,
        "cases": cases,
        "own_work_without_salt": own.json(),
    });
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("salt_run.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}
