//! Gives the memory that hostile or bursty connections used back to the
//! system once they are gone.
//!
//! glibc's malloc returns freed memory only from the top of each arena: a
//! burst of connections (1,500 clients that pipeline and never read, say)
//! leaves the daemon at its peak size after they close, because any live
//! allocation above the freed ones pins them (benches/hostile.rs measured
//! 30–58 MiB kept after such bursts, from 9 MiB at rest). `malloc_trim(0)`
//! walks every arena and hands the free pages back with `madvise`. The
//! server runs [`release_after_closes`] as one of its background loops
//! (`server::serve`; `server::run` counts the closed connections), so
//! [`release`] is called a little while after connections have closed,
//! never on a request's path.
//!
//! This is the crate's only unsafe code: one FFI call that takes no
//! pointers. jemalloc and mimalloc, which purge by themselves, were
//! measured and not kept (docs/benchmarks.md, "Hostile clients").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Returns the allocator's free pages to the system. Whether anything was
/// returned; always `false` where the allocator is not glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release() -> bool {
    // SAFETY: malloc_trim takes no pointers and has no precondition; glibc
    // takes each arena's lock itself, so it is safe beside other threads'
    // allocations.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Returns the allocator's free pages to the system. Whether anything was
/// returned; always `false` where the allocator is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release() -> bool {
    false
}

/// How long after connections closed their memory is given back: often
/// enough that a burst's memory returns within seconds, seldom enough that
/// the walk (it locks each arena in turn) costs nothing measurable.
pub const RELEASE_AFTER: Duration = Duration::from_secs(5);

/// Counts closed connections, so that [`release_after_closes`] trims only
/// when some have closed since its last look.
#[derive(Clone, Default)]
pub struct Closed(Arc<AtomicU64>);

impl Closed {
    /// One more connection closed.
    pub fn record(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every [`RELEASE_AFTER`], if connections closed since the last look,
/// gives their memory back ([`release`], on a blocking thread). Runs until
/// its `Background` stops it.
pub async fn release_after_closes(closed: Closed) {
    let mut every = tokio::time::interval(RELEASE_AFTER);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = Seen(closed.count());
    loop {
        every.tick().await;
        let now = closed.count();
        if !seen.changed(now) {
            continue;
        }
        match tokio::task::spawn_blocking(release).await {
            Ok(returned) => log::debug!("allocator trimmed ({now} connections closed so far): {returned}"),
            Err(err) => log::warn!("giving memory back failed: {err}"),
        }
    }
}

/// The closed-connection count at the last look.
struct Seen(u64);

impl Seen {
    /// Whether `now` differs from the count last seen; remembers it.
    fn changed(&mut self, now: u64) -> bool {
        let changed = now != self.0;
        self.0 = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_after_connections_closed_since_the_last_look() {
        let closed = Closed::default();
        let mut seen = Seen(closed.count());
        assert!(!seen.changed(closed.count()), "nothing closed yet");
        closed.record();
        closed.record();
        assert!(seen.changed(closed.count()));
        assert!(
            !seen.changed(closed.count()),
            "the same two closes are not counted again"
        );
        closed.record();
        assert!(seen.changed(closed.count()));
    }

    #[test]
    fn release_can_be_called_at_any_time() {
        // Whatever it returns (nothing may be free), it must not disturb
        // live allocations.
        let live = vec![7u8; 1 << 20];
        drop(vec![0u8; 4 << 20]);
        release();
        assert!(live.iter().all(|&b| b == 7));
    }
}
