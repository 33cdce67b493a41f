//! The daemon's background work. Every loop that outlives a request (the
//! Salt health and function checks, the event-bus reader, the task pool's
//! dispatcher, sweeps and group commit, housekeeping, the store doctor,
//! the admin socket, the memory trimmer) is spawned through a
//! [`Background`], which can stop them all and wait for them. The server
//! owns the one `Background` and stops it in order at shutdown
//! (docs/architecture.md, "Background work and shutdown").

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A set of background loops that stop together.
#[derive(Clone, Default)]
pub struct Background {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Background {
    pub fn new() -> Background {
        Background::default()
    }

    /// Runs `work` until it ends by itself or [`Background::stop`] is
    /// called. `name` is for the log.
    pub fn spawn<F>(&self, name: &'static str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = work => log::debug!("background {name}: ended"),
                () = token.cancelled() => log::debug!("background {name}: stopped"),
            }
        });
    }

    /// Runs `work` to its end, even past [`Background::stop`], which waits
    /// for it like any loop: for work that must not be cut halfway (an
    /// admin command being answered).
    pub fn spawn_to_end<F>(&self, name: &'static str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(async move {
            work.await;
            log::debug!("background {name}: ended");
        });
    }

    /// How many loops are still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Stops every loop (each at its next `.await`) and waits up to
    /// `patience` for all of them to be gone. Whether they all were.
    pub async fn stop(&self, patience: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout(patience, self.tracker.wait()).await.is_ok()
    }
}

/// Tells whoever holds a clone that shutdown has begun. Handlers see it
/// through `AppState::shutdown` (a long poll answers at once).
#[derive(Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// Shutdown begins.
    pub fn begin(&self) {
        self.0.cancel();
    }

    pub fn has_begun(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes once shutdown has begun.
    pub async fn begun(&self) {
        self.0.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn stop_ends_every_loop_and_waits_for_them() {
        let background = Background::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let ticks = ticks.clone();
            background.spawn("ticker", async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        background.spawn("one-off", async {});
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(ticks.load(Ordering::Relaxed), 6, "two ticks each");
        assert_eq!(background.running(), 3, "the one-off ended by itself");
        assert!(background.stop(Duration::from_secs(1)).await);
        assert_eq!(background.running(), 0);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(ticks.load(Ordering::Relaxed), 6, "no tick after stop");
    }

    #[tokio::test(start_paused = true)]
    async fn stop_waits_for_work_that_runs_to_its_end() {
        let background = Background::new();
        let done = Arc::new(AtomicUsize::new(0));
        let seen = done.clone();
        background.spawn_to_end("command", async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            seen.fetch_add(1, Ordering::Relaxed);
        });
        assert!(!background.stop(Duration::from_secs(1)).await, "still running");
        assert!(background.stop(Duration::from_secs(2)).await);
        assert_eq!(done.load(Ordering::Relaxed), 1, "not cut short");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_is_seen_by_every_clone() {
        let shutdown = Shutdown::default();
        let seen = shutdown.clone();
        let waiter = tokio::spawn(async move {
            seen.begun().await;
            seen.has_begun()
        });
        assert!(!shutdown.has_begun());
        shutdown.begin();
        assert!(waiter.await.expect("no panic"));
    }
}
