//! The printed tables of what was measured: sequential pings, the down
//! minion, the concurrent load, the cheap reads, the async runs, the
//! footprint and the CPU per phase. Prints only; the ratios and targets
//! are `ratios.rs`'s.

use std::time::Duration;

use crate::cpu::CpuUse;
use crate::daemon::Startup;
use crate::results::{AsyncRun, Footprint, Results};
use crate::settings::{Settings, CONNS, DOWN};
use crate::stats::{mib, Series};

/// Every table, in order.
pub fn print(settings: &Settings, startup: &Startup, r: &Results, has_api: bool) {
    sync(r, has_api);
    down(r);
    loads(settings, r);
    surface(settings, r);
    reads(settings, r);
    asyncs(r);
    footprint(&r.footprint, startup);
    cpu(&r.cpu);
}

fn sync(r: &Results, has_api: bool) {
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
    own_and_paired(r);
}

/// projetyd without Salt, and what projetyd adds to the floor.
fn own_and_paired(r: &Results) {
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
}

fn down(r: &Results) {
    println!();
    println!("== a down minion ({DOWN}), all at once ==");
    for d in &r.down {
        println!("{:<10} {:>7.2} s  {}", d.system, d.secs, d.answer);
    }
}

fn loads(settings: &Settings, r: &Results) {
    println!();
    println!("== concurrent sync pings, {} s windows ==", settings.secs);
    load_header();
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
}

/// The same lowstate through projetyd's salt-api surface and salt-api.
fn surface(settings: &Settings, r: &Results) {
    let Some(s) = &r.surface else {
        return;
    };
    println!();
    println!("== salt-api's surface: lowstate test.ping to minion-1, sequential (ms) ==");
    println!(
        "{:<26} {:>5} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}",
        "", "n", "p50", "p90", "p99", "max", "errors", "false"
    );
    for (name, series) in [("projetyd", &s.projetyd), ("salt-api", &s.salt_api)] {
        let st = series.stats();
        println!(
            "{name:<26} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>6} {:>6}",
            st.count, st.p50, st.p90, st.p99, st.max, series.errors, series.falses
        );
    }
    println!();
    println!(
        "== salt-api's surface: {CONNS} clients, {} s windows ==",
        settings.secs
    );
    load_header();
    load_line(format!("projetyd, {CONNS} clients"), &s.projetyd_load);
    load_line(format!("salt-api, {CONNS} clients"), &s.salt_api_load);
}

/// The column names of [`load_line`].
fn load_header() {
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
}

fn load_line(name: String, s: &Series) {
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
    reasons(s.reasons.iter());
}

/// `    <count> x <reason>` lines.
fn reasons<'a>(reasons: impl Iterator<Item = (&'a String, &'a usize)>) {
    for (reason, count) in reasons {
        println!("    {count} x {reason}");
    }
}

fn reads(settings: &Settings, r: &Results) {
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
        reasons(s.reasons.iter());
    }
}

fn asyncs(r: &Results) {
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
        async_line(name, a);
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
}

/// One async run; the floor submits nothing (its jobs start at once).
fn async_line(name: &str, a: &AsyncRun) {
    println!(
        "{name:<10} {:>6} {:>9} {:>10} {:>12} {:>8} {:>6} {:>6} {:>7}",
        a.n,
        a.submit_secs
            .filter(|_| name != "floor")
            .map_or("-".into(), |s| format!("{s:.2}")),
        a.submit_rate()
            .filter(|_| name != "floor")
            .map_or("-".into(), |s| format!("{s:.1}")),
        a.visible_secs
            .map_or(format!("({:.2})", a.last_visible_secs), |s| format!("{s:.2}")),
        a.done,
        a.falses,
        a.lost,
        a.polls
    );
    reasons(a.reasons.iter());
}

fn footprint(fp: &Footprint, startup: &Startup) {
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
        ms(startup.first_answer),
        ms(startup.first_ok),
        ms(startup.ready)
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
}

fn cpu(cpu: &[CpuUse]) {
    println!();
    println!("== CPU per phase (cores: CPU seconds per second of the phase) ==");
    println!(
        "{:<24} {:>6} {:>8} {:>8} {:>7} {:>7} {:>6} {:>7} {:>7}",
        "", "secs", "projetyd", "salt-api", "master", "minions", "bench", "machine", "others"
    );
    for c in cpu {
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
}
