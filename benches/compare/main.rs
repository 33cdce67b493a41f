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
//! What it measures, in this order (the order of [`run`]):
//! 1. sequential sync `test.ping` to minion-1 and to minion-1..3: the
//!    systems take turns call by call (so that the master's drift weighs on
//!    all alike); the salt command on every few turns only, since each call
//!    costs about a second;
//! 2. a down minion (`minion-down`, an accepted key with no minion): all
//!    four at once, how long each takes and what it answers;
//! 3. 16 and 64 concurrent clients doing sync pings for a fixed time;
//! 4. salt-api's own surface: the same lowstate `test.ping` (`client:
//!    local`, minion-1) through projetyd's salt-api surface and through
//!    salt-api, sequential in turns, then 64 clients for a fixed time each
//!    (only when the lab has salt-api);
//! 5. cheap authenticated reads with 64 connections for a fixed time;
//! 6. async pings: submitted by 64 clients, then polled until every result
//!    is visible (projetyd: tasks and `?wait=` long polls; salt-api:
//!    `local_async`, then `GET /jobs/<jid>` until the minion's return is in
//!    it; the floor: the same jobs run by 64 tasks of the library);
//! 7. footprint: resident memory at rest, at its peak and after the load,
//!    binary size, time from start to the first answered request; and the
//!    CPU each process used in each phase.
//!
//! Settings (environment): `PROJETYD_SALT_LAB` the lab's lab.env (without
//! it: a SKIPPED line, exit 0); `SALT_LAB_API_PORT` salt-api's port (else
//! from lab.env; without one salt-api is left out); `BENCH_N` sequential
//! calls per case [100]; `BENCH_CLI_N` salt command calls per case [20];
//! `BENCH_SECS` seconds per load window [15]; `BENCH_ASYNC` async pings
//! for projetyd and the floor [1000]; `BENCH_API_ASYNC` for salt-api [100];
//! `BENCH_PHASES` a comma list of sync, down, load, surface, reads, async
//! [all];
//! `BENCH_SMOKE=1` N=3, CLI 2, 2 s windows, 20 async pings everywhere.
//!
//! Prints a table; writes `target/bench-results/compare.json` and the
//! charts `compare-latency.svg`, `compare-throughput.svg`,
//! `compare-reads.svg` beside it. Loopback only. The daemon it starts is
//! killed by its pid before it exits. Nothing here is asserted: a target
//! missed is reported, not failed.
//!
//! The parts, one file each:
//! - `settings`: the `BENCH_*` settings and the fixed ones;
//! - `lab`: the lab's `lab.env` and pid files, the machine;
//! - `daemon`: the projetyd daemon started for the run, on the shared
//!   harness (`projetyd-testkit`: its `Daemon`, and its HTTP `Client` for
//!   every system); `procs`: /proc readings of process groups (salt-api's
//!   and the salt command's processes) and the memory sampler;
//! - the four systems' calls: `floor` (the library), `projetyd`,
//!   `salt_api`, `cli` (the salt command); `load`: many HTTP clients for
//!   a window;
//! - `run`: the phases' context and what each records; `phases`: the
//!   sequential turns and the down minion, where the systems meet; `cpu`:
//!   CPU per phase;
//! - `stats` and `results`: what was measured, as data;
//! - `report` (stdout and `compare.json`), `tables`, `ratios` (ratios and
//!   the issue's targets), `charts` (what each chart shows) and `bars`
//!   (drawing with plotters).

mod bars;
mod charts;
mod cli;
mod cpu;
mod daemon;
mod floor;
mod lab;
mod load;
mod phases;
mod procs;
mod projetyd;
mod ratios;
mod report;
mod results;
mod run;
mod salt_api;
mod settings;
mod stats;
mod tables;

use std::path::Path;
use std::time::Instant;

use daemon::Daemon;
use lab::{Lab, Machine};
use projetyd_testkit::bench::{load_average, Result};
use results::Results;
use run::Run;
use settings::Settings;

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
    report::write(&lab, &settings, &machine, &daemon, &results)
}

/// The phases in their order, each when `BENCH_PHASES` names it.
fn run(lab: &Lab, settings: &Settings, daemon: &Daemon) -> Result<Results> {
    let mut run = Run::start(lab, daemon)?;
    if settings.runs("sync") {
        run.sync(settings);
    }
    if settings.runs("down") {
        run.down();
    }
    if settings.runs("load") {
        run.load(settings);
    }
    if settings.runs("surface") {
        run.surface(settings);
    }
    if settings.runs("reads") {
        run.reads(settings);
    }
    if settings.runs("async") {
        run.asyncs(settings);
    }
    Ok(run.finish())
}
