//! CPU per phase: marks of the CPU time each part of the setup has used,
//! taken between phases, and what each part used in each phase, in cores.
//! Knows the parts (projetyd, salt-api, master, minions, this process, the
//! machine) by their pids only.

use std::time::Instant;

use serde_json::{json, Value};

use crate::procs::{cpu_ticks, group_cpu_ticks, machine_busy_ticks, TICKS_PER_SEC};
use crate::settings::SETTLE;
use crate::stats::round;
use projetyd_testkit::bench::load_average;

/// The processes whose CPU is counted.
pub struct Procs {
    pub projetyd: u32,
    /// Process groups.
    pub api: Option<u32>,
    pub master: Option<u32>,
    pub minions: Vec<u32>,
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

/// The CPU marks between phases, and what each phase used.
pub struct Phases {
    procs: Procs,
    mark: CpuMark,
    used: Vec<CpuUse>,
}

impl Phases {
    /// Starts counting now.
    pub fn start(procs: Procs) -> Phases {
        Phases {
            mark: procs.mark(),
            procs,
            used: Vec::new(),
        }
    }

    pub fn procs(&self) -> &Procs {
        &self.procs
    }

    /// Records the CPU used since the last mark as phase `name`; returns
    /// the CPU seconds the master and the minions used in it.
    pub fn end(&mut self, name: &str) -> f64 {
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
        self.used.push(used);
        self.mark = now;
        salt
    }

    /// Waits for the last phase's job processes to end, and starts the
    /// next mark after them.
    pub fn settle(&mut self) {
        std::thread::sleep(SETTLE);
        self.mark = self.procs.mark();
    }

    /// The phases ended so far, in their order.
    pub fn finish(self) -> Vec<CpuUse> {
        self.used
    }
}

/// CPU used during one phase, in cores (CPU seconds per second).
pub struct CpuUse {
    pub phase: String,
    pub secs: f64,
    pub projetyd: f64,
    pub salt_api: f64,
    pub master: f64,
    pub minions: f64,
    pub bench: f64,
    pub machine: f64,
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
    pub fn others(&self) -> f64 {
        (self.machine - self.projetyd - self.salt_api - self.master - self.minions - self.bench).max(0.0)
    }

    pub fn json(&self) -> Value {
        json!({
            "phase": self.phase, "seconds": round(self.secs), "projetyd": round(self.projetyd),
            "salt_api": round(self.salt_api), "master": round(self.master), "minions": round(self.minions),
            "bench_process": round(self.bench), "machine": round(self.machine), "others": round(self.others()),
        })
    }
}
