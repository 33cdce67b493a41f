//! What the three charts show: sequential latency per percentile,
//! throughput per concurrency level, and the cheap reads (log scale), one
//! colour per system in all of them. Drawing is `bars.rs`'s.

use plotters::style::RGBColor;

use crate::bars::{BarChart, Group};
use crate::lab::Lab;
use crate::results::Results;
use crate::settings::{Settings, CONNS};
use crate::stats::{Series, Stats};
use projetyd_testkit::bench::Result;

/// One colour per system, the same in every chart.
const FLOOR_COLOR: RGBColor = RGBColor(0x8c, 0x8c, 0x8c);
const PROJETYD_COLOR: RGBColor = RGBColor(0xf2, 0x8e, 0x2b);
const SALT_API_COLOR: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
const CLI_COLOR: RGBColor = RGBColor(0x59, 0xa1, 0x4f);

const FLOOR: &str = "floor (library, no HTTP)";

/// The charts as (file name, SVG text).
pub fn charts(lab: &Lab, settings: &Settings, r: &Results) -> Result<Vec<(String, String)>> {
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
    Ok(vec![
        (
            "compare-latency.svg".into(),
            latency(r, has_api, &caption).render()?,
        ),
        (
            "compare-throughput.svg".into(),
            throughput(settings, r, has_api, &caption).render()?,
        ),
        ("compare-reads.svg".into(), reads(r, &caption).render()?),
    ])
}

/// The systems of a chart: the floor, projetyd, salt-api when there is
/// one, and the salt command when `cli`.
fn systems(has_api: bool, cli: bool) -> Vec<(String, RGBColor)> {
    let mut series = vec![
        (FLOOR.to_owned(), FLOOR_COLOR),
        ("projetyd".to_owned(), PROJETYD_COLOR),
    ];
    if has_api {
        series.push(("salt-api".into(), SALT_API_COLOR));
    }
    if cli {
        series.push(("salt CLI".into(), CLI_COLOR));
    }
    series
}

/// A group per percentile and target set, a bar per system.
fn latency(r: &Results, has_api: bool, caption: &str) -> BarChart {
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
    BarChart {
        title: "Sync test.ping latency, sequential calls (lower is better)".into(),
        caption: caption.into(),
        y_label: "milliseconds".into(),
        series: systems(has_api, true),
        groups,
        log: false,
    }
}

/// Throughput against concurrency.
fn throughput(settings: &Settings, r: &Results, has_api: bool, caption: &str) -> BarChart {
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
    BarChart {
        title: format!(
            "Sync test.ping throughput vs concurrency, {} s windows (higher is better)",
            settings.secs
        ),
        caption: caption.into(),
        y_label: "completed calls per second".into(),
        series: systems(has_api, false),
        groups,
        log: false,
    }
}

/// Cheap reads, on a log scale: projetyd is thousands of times faster.
fn reads(r: &Results, caption: &str) -> BarChart {
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
    BarChart {
        title: format!("Cheap authenticated reads, {CONNS} connections (log scale, higher is better)"),
        caption: caption.into(),
        y_label: "requests per second".into(),
        series: vec![
            ("projetyd".into(), PROJETYD_COLOR),
            ("salt-api".into(), SALT_API_COLOR),
        ],
        groups,
        log: true,
    }
}
