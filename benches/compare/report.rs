//! The report: the tables, the ratios and the targets on stdout, then
//! `compare.json`, projetyd's log without the access lines and the charts
//! in `<target>/bench-results`. Reads the results; measures nothing.

use std::path::Path;

use serde_json::{json, Value};

use crate::cpu::CpuUse;
use crate::daemon::{Daemon, Startup};
use crate::lab::{Lab, Machine};
use crate::ratios::{fmt_ratio, ratios, targets, Target};
use crate::results::{AsyncRun, Footprint, Quad, Results};
use crate::settings::{Settings, CONNS, LEVELS};
use crate::stats::{round, Series};
use crate::{charts, tables};
use projetyd_testkit::bench::{target_dir, Result};

pub fn write(lab: &Lab, settings: &Settings, machine: &Machine, daemon: &Daemon, r: &Results) -> Result<()> {
    let has_api = lab.api.is_some();
    tables::print(settings, &daemon.startup, r, has_api);
    let ratios = ratios(r, has_api);
    print_ratios(&ratios);
    let targets = targets(r);
    print_targets(&targets);

    let run = Run {
        lab,
        settings,
        machine,
        startup: &daemon.startup,
        results: r,
    };
    let results = run.json(&ratios, &targets)?;
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("compare.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
    write_log(daemon, &dir)?;
    let charts = charts::charts(lab, settings, r)?;
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

fn print_ratios(ratios: &[(String, Option<f64>)]) {
    println!();
    println!("== ratios (pair by pair, this run) ==");
    for (what, value) in ratios {
        println!("{what:<56} {}", fmt_ratio(*value));
    }
}

fn print_targets(targets: &[Target]) {
    println!();
    println!("== the issue's targets ==");
    for t in targets {
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
}

/// `compare-daemon.log`: projetyd's log without the access lines.
fn write_log(daemon: &Daemon, dir: &Path) -> Result<()> {
    let (log, warnings) = daemon.log_without_access(500);
    std::fs::write(dir.join("compare-daemon.log"), log)?;
    println!(
        "projetyd logged {warnings} warning(s) or error(s) (its log without the access lines: {})",
        dir.join("compare-daemon.log").display()
    );
    Ok(())
}

/// Everything `compare.json` is made of.
struct Run<'a> {
    lab: &'a Lab,
    settings: &'a Settings,
    machine: &'a Machine,
    startup: &'a Startup,
    results: &'a Results,
}

impl Run<'_> {
    fn json(&self, ratios: &[(String, Option<f64>)], targets: &[Target]) -> Result<Value> {
        let (settings, r) = (self.settings, self.results);
        Ok(json!({
            "bench": "compare",
            "smoke": settings.smoke,
            "salt_version": self.lab.version,
            "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
            "machine": self.machine_json(),
            "settings": {
                "n": settings.n, "cli_n": settings.cli_n, "window_seconds": settings.secs,
                "async_tasks": settings.async_n, "salt_api_async_tasks": settings.api_async_n,
                "connections": CONNS, "levels": LEVELS,
            },
            "total_seconds": round(r.total_secs),
            "sync": {
                "one_minion": quad_json(&r.one),
                "three_minions": quad_json(&r.three),
                "projetyd_without_salt": r.own.json(),
            },
            "down_minion": r.down.iter().map(|d| json!({
                "system": d.system, "seconds": round(d.secs), "answer": d.answer,
            })).collect::<Vec<_>>(),
            "concurrent": r.loads.iter().map(|(clients, f, p, a)| json!({
                "clients": clients, "floor": f.json(), "projetyd": p.json(),
                "salt_api": a.as_ref().map(Series::json),
            })).collect::<Vec<_>>(),
            "reads": {
                "projetyd_keys": r.reads_keys.json(), "projetyd_users": r.reads_users.json(),
                "salt_api_keys": r.reads_api_keys.as_ref().map(Series::json),
            },
            "async": {
                "floor": r.async_floor.json(), "projetyd": r.async_projetyd.json(),
                "salt_api": r.async_api.as_ref().map(AsyncRun::json),
            },
            "saltapi_surface": r.surface.as_ref().map(|s| json!({
                "lowstate": {"client": "local", "tgt": "minion-1", "fun": "test.ping"},
                "sequential": {"projetyd": s.projetyd.json(), "salt_api": s.salt_api.json()},
                "concurrent": {
                    "clients": CONNS,
                    "projetyd": s.projetyd_load.json(),
                    "salt_api": s.salt_api_load.json(),
                },
            })),
            "footprint": footprint_json(&r.footprint, self.startup),
            "cpu_cores_per_phase": r.cpu.iter().map(CpuUse::json).collect::<Vec<_>>(),
            "ratios": ratios.iter().map(|(w, v)| (w.clone(), json!(v.map(round)))).collect::<serde_json::Map<_, _>>(),
            "targets": targets.iter().map(|t| json!({
                "what": t.what, "wanted": t.wanted, "measured": t.measured, "met": t.met,
            })).collect::<Vec<_>>(),
        }))
    }

    fn machine_json(&self) -> Value {
        let m = self.machine;
        json!({
            "cpus": m.cpus, "cpu_model": m.cpu_model, "mem_total_kib": m.mem_total_kib,
            "load_average_before": self.results.load_before,
            "load_average_after": self.results.load_after,
        })
    }
}

fn quad_json(q: &Quad) -> Value {
    json!({
        "floor": q.floor.json(), "projetyd": q.projetyd.json(),
        "salt_api": q.salt_api.json(), "salt_cli": q.cli.json(),
        "projetyd_minus_floor_ms": {
            "between_p50s": round(q.projetyd.stats().p50 - q.floor.stats().p50),
            "median_of_paired_differences": q.paired_median().map(round),
        },
    })
}

fn footprint_json(fp: &Footprint, startup: &Startup) -> Value {
    let ms = |d: Option<std::time::Duration>| d.map(|d| round(d.as_secs_f64() * 1e3));
    json!({
        "projetyd_rss_rest_kib": fp.projetyd_rest_kib, "projetyd_rss_peak_kib": fp.projetyd_peak_kib,
        "projetyd_rss_after_kib": fp.projetyd_after_kib, "projetyd_binary_bytes": fp.binary_bytes,
        "projetyd_first_answer_ms": ms(startup.first_answer),
        "projetyd_first_ok_ms": ms(startup.first_ok),
        "projetyd_ready_ms": ms(startup.ready),
        "salt_api_rss_rest_kib": fp.api_rest_kib, "salt_api_rss_peak_kib": fp.api_peak_kib,
        "salt_api_rss_after_kib": fp.api_after_kib, "salt_api_processes": fp.api_processes,
    })
}
