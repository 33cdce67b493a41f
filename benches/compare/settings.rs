//! What the run is told (environment settings) and what is fixed (targets,
//! concurrency levels, bounds). Reads `BENCH_*` and nothing else; knows
//! nothing of the systems measured.

use std::time::Duration;

use projetyd_testkit::bench::{env_number, Result};

pub const ONE: [&str; 1] = ["minion-1"];
pub const THREE: [&str; 3] = ["minion-1", "minion-2", "minion-3"];
/// An accepted key with no minion behind it (`salt-lab.sh fixtures`).
pub const DOWN: &str = "minion-down";
/// Concurrency levels of the sync load.
pub const LEVELS: [usize; 2] = [16, 64];
/// Connections for the cheap reads, clients for the async submissions.
pub const CONNS: usize = 64;
/// Bounds on hangs (the daemon's start, one HTTP call), not measurements.
pub const PATIENCE: Duration = Duration::from_secs(120);
/// How long polling async results may go on before the rest count as lost.
pub const POLL_LIMIT: Duration = Duration::from_secs(120);
/// Pause between phases: a 3007 minion's job processes linger ~3 s after
/// they return; let them go before the next phase is timed.
pub const SETTLE: Duration = Duration::from_secs(3);

/// The phases `BENCH_PHASES` may name, in the order they run.
pub const PHASES: [&str; 6] = ["sync", "down", "load", "surface", "reads", "async"];

#[derive(Debug, Clone)]
pub struct Settings {
    pub smoke: bool,
    pub n: usize,
    pub cli_n: usize,
    pub secs: u64,
    pub async_n: usize,
    pub api_async_n: usize,
    pub warmup: usize,
    /// The parts to run (`BENCH_PHASES`), all by default.
    pub phases: Vec<String>,
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let smoke = std::env::var("BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
        let (n, cli_n, secs, async_n, api_async_n, warmup) = match smoke {
            true => (3, 2, 2, 20, 20, 1),
            false => (100, 20, 15, 1000, 100, 5),
        };
        let cli_n = env_number("BENCH_CLI_N", cli_n)?;
        let n = env_number("BENCH_N", n)?;
        let phases = phases_from_env()?;
        Ok(Settings {
            smoke,
            n,
            cli_n: cli_n.min(n),
            secs: env_number("BENCH_SECS", secs)? as u64,
            async_n: env_number("BENCH_ASYNC", async_n)?,
            api_async_n: env_number("BENCH_API_ASYNC", api_async_n)?,
            warmup,
            phases,
        })
    }

    pub fn runs(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

/// `BENCH_PHASES`, a comma list of [`PHASES`]; all of them when unset.
fn phases_from_env() -> Result<Vec<String>> {
    let phases: Vec<String> = match std::env::var("BENCH_PHASES") {
        Ok(list) if !list.trim().is_empty() => list.split(',').map(|p| p.trim().to_owned()).collect(),
        _ => PHASES.iter().map(|p| p.to_string()).collect(),
    };
    if let Some(bad) = phases.iter().find(|p| !PHASES.contains(&p.as_str())) {
        return Err(format!(
            "BENCH_PHASES: unknown phase {bad:?} (known: {})",
            PHASES.join(",")
        )
        .into());
    }
    Ok(phases)
}
