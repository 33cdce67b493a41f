//! Readings of a running process (its resident memory, threads and CPU
//! time, from `/proc`) and latency percentiles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

/// RSS sampling period.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Samples the daemon's VmRSS and thread count every 100 ms.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut rss, mut threads) = (0, 0);
            loop {
                rss = rss.max(proc_status(pid, "VmRSS").unwrap_or(0));
                threads = threads.max(proc_status(pid, "Threads").unwrap_or(0));
                if flag.load(Ordering::Relaxed) {
                    return (rss, threads);
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Sampler { stop, thread }
    }

    /// Peak (VmRSS kB, threads).
    pub fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}

/// A number field of `/proc/<pid>/status` (`VmRSS` in kB, `Threads`).
pub fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process's user and system CPU time, in seconds.
pub fn cpu_seconds(pid: u32) -> (f64, f64) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which may hold spaces): state is the
    // 3rd field, utime and stime the 14th and 15th.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // CLK_TCK is 100 on Linux.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// Percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| ms[((p / 100.0 * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Stats {
            count: ms.len(),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "count": self.count, "p50_ms": round(self.p50), "p90_ms": round(self.p90),
            "p99_ms": round(self.p99), "max_ms": round(self.max), "mean_ms": round(self.mean),
        })
    }
}

pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let stats = Stats::of(&samples);
        assert_eq!(stats.count, 100);
        assert_eq!(
            (stats.p50, stats.p90, stats.p99, stats.max),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert!((stats.mean - 50.5).abs() < 1e-9);
        assert_eq!(Stats::of(&[]).count, 0);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(proc_status(me, "VmRSS").is_some_and(|kb| kb > 0));
        assert!(proc_status(me, "Threads").is_some_and(|n| n >= 1));
        assert_eq!(proc_status(me, "NoSuchField"), None);
    }
}
