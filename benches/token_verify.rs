//! Token verification alone, through the public library API: what every
//! Bearer request pays before its handler runs (header parsing, SHA-256,
//! one sled `get`, the expiry check and the coalesced `last_seen_at`).
//!
//! `cargo bench --bench token_verify` (plain `Instant` timing, no harness;
//! under a minute). Results and the machine: docs/benchmarks.md.

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use projetyd::auth::{throttle, token, Auth};
use projetyd::store::Store;

/// Tokens issued; the timed loops cycle through them.
const TOKENS: usize = 1_000;
/// Timed calls per thread per case, split over `ROUNDS`; the cheap
/// malformed-header case gets more, so that each of its rounds too lasts
/// many scheduler ticks (the CPU time below is only that precise).
const CALLS: usize = 1_000_000;
const CHEAP_CALLS: usize = 20_000_000;
const ROUNDS: usize = 5;
/// PBKDF2 cost of the one user: irrelevant here, so kept cheap.
const ITERATIONS: u32 = 1_000;

fn main() -> Result<(), Box<dyn Error>> {
    let store = Store::temporary()?;
    let password = projetyd::auth::password::hash("bench-password", ITERATIONS)?;
    // The store keeps at most MAX_TOKENS_PER_USER tokens per user (older
    // ones are dropped), so the tokens are spread over enough users.
    let users = TOKENS.div_ceil(projetyd::store::MAX_TOKENS_PER_USER);
    let user_ids = (0..users)
        .map(|i| {
            Ok(store
                .create_user(&format!("bench{i}"), password.clone(), projetyd::unix_now())?
                .0)
        })
        .collect::<Result<Vec<u64>, projetyd::store::Error>>()?;
    let auth = Auth::new(store.clone(), throttle::Policy::default(), 1, Default::default());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let headers: Vec<Vec<u8>> = runtime.block_on(async {
        let mut headers = Vec::with_capacity(TOKENS);
        for i in 0..TOKENS {
            let issued = auth.issue(user_ids[i % users], 600).await?;
            headers.push(format!("Bearer {}", issued.text).into_bytes());
        }
        Ok::<_, projetyd::auth::Error>(headers)
    })?;
    println!(
        "setup: {TOKENS} tokens issued in {:.2} s (each flushed to disk)",
        started.elapsed().as_secs_f64()
    );

    // Well-formed tokens that were never issued: hash + a `get` that misses.
    let unknown_headers: Vec<Vec<u8>> = (0..TOKENS)
        .map(|i| format!("Bearer {:A>43}", i).into_bytes())
        .collect();

    // Warm up caches and the allocator before timing.
    for header in headers.iter().cycle().take(100_000) {
        auth.authenticate(Some(header))?;
    }

    let hashes: Vec<[u8; 32]> = headers
        .iter()
        .map(|h| token::hash(std::str::from_utf8(&h[7..]).expect("tokens are ASCII")))
        .collect();

    let valid = |t: usize, i: usize| {
        let header = &headers[(i + t * 7) % TOKENS];
        auth.authenticate(Some(header)).is_ok()
    };
    // The same lookups without `Auth` (no header parsing, no `last_seen_at`
    // bookkeeping): what the store alone costs, and how it scales.
    let lookup = |t: usize, i: usize| matches!(store.token(&hashes[(i + t * 7) % TOKENS]), Ok(Some(_)));
    let unknown = |_: usize, i: usize| auth.authenticate(Some(&unknown_headers[i % TOKENS])).is_err();
    let malformed = |_: usize, _: usize| auth.authenticate(Some(b"Bearer not-a-token")).is_err();
    let cases: [Case; 6] = [
        ("valid token", 1, CALLS, &valid),
        ("unknown token", 1, CALLS, &unknown),
        ("malformed header", 1, CHEAP_CALLS, &malformed),
        ("valid token", 2, CALLS, &valid),
        ("store lookup only", 1, CALLS, &lookup),
        ("store lookup only", 2, CALLS, &lookup),
    ];

    // Rounds interleave the cases so that a burst of load from elsewhere on
    // the machine spreads over all of them; the best round is the figure
    // least disturbed, the median the typical one. CPU time (the kernel's
    // per-thread run time) is what the calls cost whatever else runs; wall
    // time is what a caller waits, and shows how two threads scale.
    let mut samples = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for (case, out) in cases.iter().zip(&mut samples) {
            out.push(run(case.1, case.2 / ROUNDS, case.3));
        }
    }
    print_results(&cases, &samples);
    Ok(())
}

/// One line per case: wall time (best and median round), CPU time (median)
/// and throughput, all per call.
fn print_results(cases: &[Case], samples: &[Vec<(f64, Option<f64>)>]) {
    println!("{CALLS} calls per thread per case ({CHEAP_CALLS} for a malformed header) in {ROUNDS} rounds,");
    println!("cycling through {TOKENS} tokens");
    println!("(ns per call; with 2 threads, wall time over all calls of both):");
    println!(
        "  {:<30} {:>10} {:>12} {:>11} {:>14}",
        "case", "wall best", "wall median", "CPU median", "ops/s (wall)"
    );
    for ((name, threads, _, _), rounds) in cases.iter().zip(samples) {
        let median = |values: &mut Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let mut wall: Vec<f64> = rounds.iter().map(|r| r.0).collect();
        let mut cpu: Vec<f64> = rounds.iter().filter_map(|r| r.1).collect();
        let wall_median = median(&mut wall);
        let cpu_median = if cpu.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.0}", median(&mut cpu))
        };
        println!(
            "  {:<30} {:>10.0} {wall_median:>12.0} {cpu_median:>11} {:>14.0}",
            format!("{name}, {threads} thread{}", if *threads > 1 { "s" } else { "" }),
            wall[0],
            1e9 / wall_median
        );
    }
}

/// A name, a number of threads, calls per thread, and the operation:
/// `op(thread, i)` must return `true` (the expected outcome) for every call.
type Case<'a> = (
    &'static str,
    usize,
    usize,
    &'a (dyn Fn(usize, usize) -> bool + Sync),
);

/// Runs `op` `calls` times on each of `threads` threads at once; returns
/// the wall time and the CPU time per call over all threads, in ns.
fn run(threads: usize, calls: usize, op: &(dyn Fn(usize, usize) -> bool + Sync)) -> (f64, Option<f64>) {
    let started = Instant::now();
    let cpu: Option<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let cpu_before = thread_cpu_ns();
                    let mut ok = 0usize;
                    for i in 0..calls {
                        ok += usize::from(black_box(op(t, i)));
                    }
                    assert_eq!(ok, calls, "every call must give the expected outcome");
                    Some(thread_cpu_ns()? - cpu_before?)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a bench thread panicked"))
            .sum()
    });
    let total = (calls * threads) as f64;
    (
        started.elapsed().as_nanos() as f64 / total,
        cpu.map(|ns| ns as f64 / total),
    )
}

/// This thread's time on a CPU so far, in ns (Linux `schedstat`, brought up
/// to date at each scheduler tick; `None` where the kernel lacks it).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
