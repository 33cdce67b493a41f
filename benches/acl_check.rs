//! What the targeting module costs a request: an ACL of 1,000 entries
//! checked against 10,000 expanded ids, and a compound target expanded
//! over 10,000 minions with grains. Pure CPU, no daemon, no Salt.
//!
//! `cargo bench --bench acl_check` (plain `Instant` timing, no harness;
//! a few seconds). Prints p50/p99 per case over `BENCH_ROUNDS` [200] runs.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use projetyd::targeting::{expand, AclSet, Fleet, Target, TargetExpr, TargetType};
use projetyd_testkit::bench::{env_number, Result};
use projetyd_testkit::measure::Stats;
use serde_json::json;

const MINIONS: usize = 10_000;
const ENTRIES: usize = 1_000;

fn main() -> Result<()> {
    let rounds = env_number("BENCH_ROUNDS", 200)?;
    let ids = minion_ids();
    let acl_entries = acl(false);
    let acl_wide = acl(true);
    println!(
        "{} ids; ACL of {} entries; {rounds} rounds per case",
        ids.len(),
        acl_entries.len()
    );
    let entries: Vec<(&str, &str)> = acl_entries
        .iter()
        .map(|(m, f)| (m.as_str(), f.as_str()))
        .collect();
    let started = Instant::now();
    let set = AclSet::compile(&entries);
    println!("compile: {:.2} ms", started.elapsed().as_secs_f64() * 1e3);
    let wide: Vec<(&str, &str)> = acl_wide.iter().map(|(m, f)| (m.as_str(), f.as_str())).collect();
    let wide = AclSet::compile(&wide);

    let mut denied = ids.clone();
    denied.push("zz-stray".into());
    println!("{:<58} {:>9} {:>9}", "case", "p50 ms", "p99 ms");
    report("permits test.ping, all allowed by late entries", rounds, || {
        set.permits("test.ping", &ids).is_ok()
    });
    report("permits test.ping, the last id denied", rounds, || {
        set.permits("test.ping", &denied).is_err()
    });
    let dbs: Vec<String> = ids.iter().filter(|id| id.starts_with("db-")).cloned().collect();
    report(
        "permits state.apply (regex entry) on the 2,000 db",
        rounds,
        || set.permits("state.apply", &dbs).is_ok(),
    );
    report("permits cmd.run, allowed nowhere", rounds, || {
        set.permits("cmd.run", &ids).is_err()
    });
    report(
        "every entry allows the function (1,000 live globs)",
        rounds,
        || wide.permits("test.ping", &ids).is_ok(),
    );

    let fleet = fleet(&ids);
    let target = Target {
        kind: TargetType::Compound,
        expr: TargetExpr::One(
            "G@os:Debian and web-* or ( E@db-\\d+ and not L@db-00001,db-00002 ) or N@caches".into(),
        ),
    };
    let expected = expand(&target, &fleet).map(|e| e.ids.len());
    println!("compound matches {expected:?} minions");
    report("expand a compound over 10,000 minions", rounds.min(50), || {
        expand(&target, &fleet).is_ok()
    });
    Ok(())
}

fn report(case: &str, rounds: usize, mut run: impl FnMut() -> bool) {
    let mut samples: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let ok = black_box(run());
        samples.push(started.elapsed());
        assert!(ok, "{case}: unexpected answer");
    }
    let stats = Stats::of(&samples);
    println!("{case:<58} {:>9.3} {:>9.3}", stats.p50, stats.p99);
}

/// 6,000 web, 2,000 db and 2,000 cache minions.
fn minion_ids() -> Vec<String> {
    let mut ids: Vec<String> = (0..MINIONS)
        .map(|i| match i % 5 {
            0..=2 => format!("web-{i:05}.lan"),
            3 => format!("db-{i:05}"),
            _ => format!("cache-{i:05}"),
        })
        .collect();
    ids.sort();
    ids
}

/// 997 entries for other minions (globs, exact ids, regex and glob
/// functions), then the three that allow the fleet. With `wide`, every
/// entry allows every function, so no entry is filtered out.
fn acl(wide: bool) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = (0..ENTRIES - 3)
        .map(|i| {
            let minions = match i % 4 {
                0 => format!("app{i}-*"),
                1 => format!("svc-{i}.lan"),
                2 => format!("*-{i}.dmz"),
                _ => format!("batch[0-9]-{i}"),
            };
            let functions = match (wide, i % 3) {
                (true, _) => "*".to_owned(),
                (false, 0) => format!("pkg{i}.*"),
                (false, 1) => format!(r"(svc{i}|grains)\.(get|items)"),
                (false, _) => "test.ping".to_owned(),
            };
            (minions, functions)
        })
        .collect();
    entries.push(("web-*".into(), "test.*".into()));
    entries.push(("db-*".into(), r"(test|state)\.(ping|apply)".into()));
    entries.push(("cache-[0-9]*".into(), "test.ping".into()));
    entries
}

fn fleet(ids: &[String]) -> Fleet {
    let grains = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let os = if i % 2 == 0 { "Debian" } else { "Ubuntu" };
            (
                id.clone(),
                json!({"os": os, "roles": ["app"], "num_cpus": 4, "ipv4": ["10.0.0.1"]}),
            )
        })
        .collect();
    let nodegroups = HashMap::from([(
        "caches".to_owned(),
        projetyd::targeting::Nodegroup::Compound("cache-0000* or cache-0001*".into()),
    )]);
    Fleet::new(ids.to_vec(), grains, nodegroups)
}
