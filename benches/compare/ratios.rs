//! What the run concludes: ratios pair by pair within the run, and the
//! issue's targets, each met, missed or not measured. Computes only; the
//! report prints and writes them.

use crate::results::{Quad, Results};
use crate::settings::CONNS;
use crate::stats::{mib, Series};

pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) if r >= 10.0 => format!("{r:.1}x"),
        Some(r) => format!("{r:.2}x"),
        None => "-".into(),
    }
}

pub struct Target {
    pub what: String,
    pub wanted: String,
    pub measured: String,
    pub met: Option<bool>,
}

/// Every ratio of the run, named, in the order printed.
pub fn ratios(r: &Results, has_api: bool) -> Vec<(String, Option<f64>)> {
    let mut ratios = Vec::new();
    for (label, q) in [("1 minion", &r.one), ("3 minions", &r.three)] {
        sync_ratios(&mut ratios, label, q, has_api);
    }
    for (clients, f, p, a) in &r.loads {
        load_ratios(&mut ratios, *clients, f, p, a.as_ref());
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
    if let Some(s) = &r.surface {
        ratios.push((
            "salt-api surface p50: salt-api / projetyd".into(),
            ratio(s.salt_api.stats().p50, s.projetyd.stats().p50),
        ));
        ratios.push((
            "salt-api surface p99: salt-api / projetyd".into(),
            ratio(s.salt_api.stats().p99, s.projetyd.stats().p99),
        ));
        ratios.push((
            format!("salt-api surface calls/s, {CONNS} clients: projetyd / salt-api"),
            ratio(s.projetyd_load.rate(), s.salt_api_load.rate()),
        ));
    }
    async_ratios(&mut ratios, r);
    let fp = &r.footprint;
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
    ratios
}

fn sync_ratios(ratios: &mut Vec<(String, Option<f64>)>, label: &str, q: &Quad, has_api: bool) {
    let p50 = |s: &Series| s.stats().p50;
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

fn load_ratios(
    ratios: &mut Vec<(String, Option<f64>)>,
    clients: usize,
    f: &Series,
    p: &Series,
    a: Option<&Series>,
) {
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

fn async_ratios(ratios: &mut Vec<(String, Option<f64>)>, r: &Results) {
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
        async_time_ratio(r),
    ));
}

/// projetyd's time until every async result was seen, over the floor's.
fn async_time_ratio(r: &Results) -> Option<f64> {
    ratio(
        r.async_projetyd.visible_secs.unwrap_or(f64::INFINITY),
        r.async_floor.visible_secs.unwrap_or(0.0),
    )
}

/// The targets, in the order printed.
pub fn targets(r: &Results) -> Vec<Target> {
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
    load_targets(&mut t, r);
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
    async_targets(&mut t, r);
    memory_targets(&mut t, r);
    t
}

/// At 64 clients: no errors or wrong answers, and the throughput against
/// salt-api.
fn load_targets(t: &mut Vec<Target>, r: &Results) {
    let Some((_, _, p, a)) = r.loads.iter().find(|(c, ..)| *c == 64) else {
        return;
    };
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

fn async_targets(t: &mut Vec<Target>, r: &Results) {
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
    let x = async_time_ratio(r);
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
}

fn memory_targets(t: &mut Vec<Target>, r: &Results) {
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
}
