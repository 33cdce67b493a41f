//! Readings of /proc: resident memory and CPU time of a process or of a
//! process group, the machine's busy time, and a sampler of peak memory.
//! Reads only; knows nothing of phases or of what the processes are.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Linux's USER_HZ: the unit of the CPU times in /proc/<pid>/stat.
pub const TICKS_PER_SEC: f64 = 100.0;

/// The first number after `key` in a /proc file of `key value` lines.
pub fn proc_field(path: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The fields of /proc/<pid>/stat after the command name (field 3 first).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// The live members of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        // field 5 (pgrp) is index 1 after skipping the state
        .filter(|pid| stat_fields(*pid).is_some_and(|f| f.get(1) == Some(&u64::from(pgid))))
        .collect()
}

/// Resident memory summed over a process group, and how many processes.
pub fn group_rss_kib(pgid: u32) -> (u64, usize) {
    let members = group_members(pgid);
    (members.iter().filter_map(|p| rss_kib(*p)).sum(), members.len())
}

/// utime + stime + cutime + cstime (reaped children count), in ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    // Field k of stat (1-based) is index k - 4 here: utime 14 .. cstime 17.
    stat_fields(pid).map_or(0, |f| f.get(10..14).map_or(0, |s| s.iter().sum()))
}

pub fn group_cpu_ticks(pgid: u32) -> u64 {
    group_members(pgid).into_iter().map(cpu_ticks).sum()
}

/// The whole machine's busy time (everything but idle and iowait), in ticks.
pub fn machine_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else { return 0 };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user)
    f.iter().take(8).sum::<u64>() - f.get(3).copied().unwrap_or(0) - f.get(4).copied().unwrap_or(0)
}

/// Peak resident memory of one process and of one process group, sampled
/// in the background every 250 ms until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    peak_process: Arc<AtomicU64>,
    peak_group: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pid: u32, pgid: Option<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_process = Arc::new(AtomicU64::new(0));
        let peak_group = Arc::new(AtomicU64::new(0));
        let (s, pp, pg) = (stop.clone(), peak_process.clone(), peak_group.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    pp.fetch_max(kib, Ordering::Relaxed);
                }
                if let Some(pgid) = pgid {
                    pg.fetch_max(group_rss_kib(pgid).0, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Sampler {
            stop,
            peak_process,
            peak_group,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the peaks of the process and of the group, in KiB.
    pub fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.peak_process.load(Ordering::Relaxed),
            self.peak_group.load(Ordering::Relaxed),
        )
    }
}
