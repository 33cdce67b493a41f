//! Numbers from calls: latency percentiles ([`Stats`], the shared
//! harness's), a series of calls of one kind with its failures
//! ([`Series`]), and how numbers and reasons are written (rounding, MiB,
//! one line). Pure data; no I/O.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use projetyd_testkit::measure::{round, Stats};

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `text` on one line, cut at 200 characters: how an answer is quoted in
/// a reason.
pub fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        format!("{}...", line.chars().take(200).collect::<String>())
    } else {
        line
    }
}

/// Counts `reason` (cut at 160 characters) in `reasons`, which keeps the
/// first 8 kinds.
pub fn count_reason(reasons: &mut BTreeMap<String, usize>, reason: String) {
    let reason: String = reason.chars().take(160).collect();
    if reasons.len() < 8 || reasons.contains_key(&reason) {
        *reasons.entry(reason).or_default() += 1;
    }
}

/// Calls of one kind: latencies, failures, wrong answers.
#[derive(Debug, Default)]
pub struct Series {
    pub samples: Vec<Duration>,
    /// Calls that failed outright (an error, a non-200 answer).
    pub errors: usize,
    /// Answers without `true` for a live minion.
    pub falses: usize,
    /// Distinct error descriptions with counts (the first few kinds).
    pub reasons: BTreeMap<String, usize>,
    /// Wall time of a load window, from its start to its last answer.
    pub elapsed: Duration,
    pub clients: usize,
    /// CPU seconds the master and the minions used in the window.
    pub salt_cpu: f64,
}

impl Series {
    /// A call that started at `start`; `Ok(false)` is a wrong answer.
    pub fn record(&mut self, start: Instant, result: Result<bool, String>) {
        match result {
            Ok(all) => {
                self.samples.push(start.elapsed());
                self.falses += usize::from(!all);
            }
            Err(err) => self.error(err),
        }
    }

    pub fn error(&mut self, reason: String) {
        self.errors += 1;
        count_reason(&mut self.reasons, reason);
    }

    pub fn merge(&mut self, other: Series) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
        self.falses += other.falses;
        for (reason, count) in other.reasons {
            *self.reasons.entry(reason).or_default() += count;
        }
    }

    pub fn stats(&self) -> Stats {
        Stats::of(&self.samples)
    }

    pub fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Answers with `true` for every live minion, per second.
    pub fn correct_rate(&self) -> f64 {
        (self.samples.len() - self.falses) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Calls completed per CPU second of the master and the minions: the
    /// throughput with the CPU that other jobs on the machine took out.
    pub fn per_salt_cpu(&self) -> Option<f64> {
        (self.salt_cpu > 0.0).then(|| self.samples.len() as f64 / self.salt_cpu)
    }

    pub fn json(&self) -> Value {
        let mut v = self.stats().json();
        v["errors"] = json!(self.errors);
        v["false_answers"] = json!(self.falses);
        if !self.elapsed.is_zero() {
            v["clients"] = json!(self.clients);
            v["seconds"] = json!(round(self.elapsed.as_secs_f64()));
            v["per_second"] = json!(round(self.rate()));
            v["correct_per_second"] = json!(round(self.correct_rate()));
            v["salt_cpu_seconds"] = json!(round(self.salt_cpu));
            v["per_salt_cpu_second"] = json!(self.per_salt_cpu().map(round));
        }
        if !self.reasons.is_empty() {
            v["error_reasons"] = json!(self.reasons);
        }
        v
    }
}
