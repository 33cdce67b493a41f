//! What a run measured, as data: the four ways of pinging side by side
//! ([`Quad`]), the down minion, the async runs, the footprint, and all of
//! it together ([`Results`]). No I/O; the report reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cpu::CpuUse;
use crate::stats::{count_reason, round, Series};

/// The four ways of pinging, in the order of every table.
#[derive(Default)]
pub struct Quad {
    pub floor: Series,
    pub projetyd: Series,
    pub salt_api: Series,
    pub cli: Series,
    /// projetyd minus floor, in ms, turn by turn (both answered).
    pub paired: Vec<f64>,
}

impl Quad {
    /// The median of the turn-by-turn differences projetyd - floor: what
    /// projetyd adds, with the master's drift taken out.
    pub fn paired_median(&self) -> Option<f64> {
        let mut d = self.paired.clone();
        d.sort_by(f64::total_cmp);
        (!d.is_empty()).then(|| d[d.len() / 2])
    }
}

/// How one system answered about the down minion, and how long it took.
pub struct Down {
    pub system: &'static str,
    pub secs: f64,
    pub answer: String,
}

#[derive(Default)]
pub struct AsyncRun {
    pub n: usize,
    pub clients: usize,
    pub submitted: usize,
    pub submit_errors: usize,
    /// From the first submission to the last one answered.
    pub submit_secs: Option<f64>,
    /// From the first submission until every result was visible (None:
    /// some never were).
    pub visible_secs: Option<f64>,
    /// Until the last result that did show up.
    pub last_visible_secs: f64,
    pub done: usize,
    pub falses: usize,
    pub lost: usize,
    pub polls: usize,
    pub reasons: BTreeMap<String, usize>,
}

impl AsyncRun {
    pub fn submit_rate(&self) -> Option<f64> {
        self.submit_secs.map(|s| self.submitted as f64 / s.max(1e-9))
    }

    pub fn reason(&mut self, reason: String) {
        count_reason(&mut self.reasons, reason);
    }

    pub fn json(&self) -> Value {
        json!({
            "tasks": self.n, "clients": self.clients, "submitted": self.submitted,
            "submit_errors": self.submit_errors, "submit_seconds": self.submit_secs.map(round),
            "submit_per_second": self.submit_rate().map(round),
            "all_visible_seconds": self.visible_secs.map(round),
            "last_visible_seconds": round(self.last_visible_secs),
            "results": self.done, "false_answers": self.falses, "lost": self.lost,
            "status_polls": self.polls, "error_reasons": self.reasons,
        })
    }
}

/// One async HTTP client's tally (projetyd's and salt-api's async runs).
#[derive(Default)]
pub struct ClientAsync {
    pub submit_errors: usize,
    pub last_submit: Duration,
    pub done: usize,
    pub falses: usize,
    pub lost: usize,
    pub last_visible: Duration,
    pub polls: usize,
    pub reasons: Vec<String>,
}

impl ClientAsync {
    pub fn submit_error(&mut self, reason: String) {
        self.submit_errors += 1;
        self.reasons.push(format!("submit: {reason}"));
    }

    pub fn lost(&mut self, reason: String) {
        self.lost += 1;
        self.reasons.push(reason);
    }

    pub fn visible(&mut self, at: Duration, all: bool) {
        self.done += 1;
        self.falses += usize::from(!all);
        self.last_visible = self.last_visible.max(at);
    }

    /// The clients' tallies of `n` tasks, added up.
    pub fn total(n: usize, outs: Vec<ClientAsync>) -> AsyncRun {
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

#[derive(Default)]
pub struct Footprint {
    pub projetyd_rest_kib: u64,
    pub projetyd_peak_kib: u64,
    pub projetyd_after_kib: u64,
    pub api_rest_kib: Option<u64>,
    pub api_peak_kib: Option<u64>,
    pub api_after_kib: Option<u64>,
    pub api_processes: usize,
    pub binary_bytes: u64,
}

/// The same lowstate `test.ping` (`client: local`, minion-1) through
/// projetyd's salt-api surface and through salt-api: sequential, taking
/// turns, then `CONNS` clients for a window each.
#[derive(Default)]
pub struct Surface {
    pub projetyd: Series,
    pub salt_api: Series,
    pub projetyd_load: Series,
    pub salt_api_load: Series,
}

#[derive(Default)]
pub struct Results {
    pub one: Quad,
    pub three: Quad,
    /// projetyd's own work on a ping, without Salt.
    pub own: Series,
    pub down: Vec<Down>,
    /// Per level: floor, projetyd, salt-api.
    pub loads: Vec<(usize, Series, Series, Option<Series>)>,
    pub reads_keys: Series,
    pub reads_users: Series,
    pub reads_api_keys: Option<Series>,
    pub async_floor: AsyncRun,
    pub async_projetyd: AsyncRun,
    pub async_api: Option<AsyncRun>,
    /// Only when the lab has salt-api.
    pub surface: Option<Surface>,
    pub footprint: Footprint,
    pub cpu: Vec<CpuUse>,
    pub total_secs: f64,
    pub load_before: String,
    pub load_after: String,
}
