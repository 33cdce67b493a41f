//! The floor: the same publish-and-collect done with the library's own
//! Salt client (`projetyd::salt::Salt`), kept connected, without HTTP, on
//! a runtime of its own. Sync pings one at a time and under load, the
//! down minion, and the async run's jobs as the daemon's task pool runs
//! them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use projetyd::salt::{JobOutcome, JobSpec, MasterConfig, Options, Salt};
use rmpv::Value as Msg;
use tokio::runtime::Runtime;

use crate::results::AsyncRun;
use crate::settings::{DOWN, THREE};
use crate::stats::Series;
use projetyd_testkit::bench::{BoxError, Result};

pub struct Floor {
    runtime: Runtime,
    salt: Arc<Salt>,
    timeout: Duration,
    gather: Duration,
}

impl Floor {
    /// Connects to the master of `master_config` and waits until it
    /// answers.
    pub fn connect(master_config: &std::path::Path) -> Result<Floor> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (salt, timeout, gather) = runtime.block_on(async {
            let config = MasterConfig::load(master_config)?;
            let salt = Salt::start(
                config.clone(),
                Options::default(),
                &projetyd::background::Background::new(),
            )?;
            salt.settle(Duration::from_secs(3)).await;
            salt.status()?;
            Ok::<_, BoxError>((salt, config.timeout, config.gather_job_timeout))
        })?;
        Ok(Floor {
            runtime,
            salt,
            timeout,
            gather,
        })
    }

    fn spec(&self, targets: Vec<String>) -> JobSpec {
        JobSpec::new("test.ping", targets, self.timeout, self.gather)
    }

    /// One sync ping; `Ok(true)` when every target returned `true`.
    pub fn ping(&self, targets: &[&str]) -> Result<bool, String> {
        let spec = self.spec(targets.iter().map(|s| s.to_string()).collect());
        let outcome = self
            .runtime
            .block_on(self.salt.run(&spec))
            .map_err(|e| e.to_string())?;
        Ok(targets.iter().all(|m| returned_true(&outcome, m)))
    }

    /// Who returned, who was silent, who was missing for minion-down.
    pub fn down(&self) -> String {
        let spec = self.spec(vec![DOWN.into()]);
        match self.runtime.block_on(self.salt.run(&spec)) {
            Ok(o) => format!(
                "returns {:?}, silent {:?}, missing {:?}",
                o.returns.keys().collect::<Vec<_>>(),
                o.silent,
                o.missing
            ),
            Err(e) => format!("error: {e}"),
        }
    }

    /// `clients` library tasks pinging minion-<i%3+1> back to back.
    pub fn load(&self, clients: usize, window: Duration) -> Series {
        let start = Instant::now();
        let deadline = start + window;
        let mut total = Series {
            clients,
            ..Series::default()
        };
        let (timeout, gather) = (self.timeout, self.gather);
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..clients)
                .map(|i| {
                    let salt = self.salt.clone();
                    tokio::spawn(async move {
                        let minion = THREE[i % 3];
                        let spec = JobSpec::new("test.ping", vec![minion.into()], timeout, gather);
                        let mut series = Series::default();
                        while Instant::now() < deadline {
                            let t = Instant::now();
                            let r = salt
                                .run(&spec)
                                .await
                                .map(|o| returned_true(&o, minion))
                                .map_err(|e| e.to_string());
                            series.record(t, r);
                        }
                        series
                    })
                })
                .collect();
            for task in tasks {
                match task.await {
                    Ok(s) => total.merge(s),
                    Err(e) => total.error(format!("task failed: {e}")),
                }
            }
        });
        total.elapsed = start.elapsed();
        total
    }

    /// The same jobs as projetyd's async run, run by the library the way
    /// the daemon's task pool runs them: `workers` at a time. The time the
    /// floor needs to have every result.
    pub fn async_run(&self, n: usize, workers: usize) -> AsyncRun {
        let start = Instant::now();
        let mut run = AsyncRun {
            n,
            clients: workers,
            submitted: n,
            ..AsyncRun::default()
        };
        for (at, r) in self.async_jobs(n, workers, start) {
            match r {
                Ok(all) => {
                    run.done += 1;
                    run.falses += usize::from(!all);
                    run.last_visible_secs = run.last_visible_secs.max(at.as_secs_f64());
                }
                Err(e) => run.reason(e),
            }
        }
        run.lost = n - run.done;
        if run.lost == 0 {
            run.visible_secs = Some(run.last_visible_secs);
        }
        run
    }

    /// `n` pings run by `workers` tasks, each taking the next one until
    /// none is left; when each ended (from `start`) and how.
    fn async_jobs(&self, n: usize, workers: usize, start: Instant) -> Vec<(Duration, Result<bool, String>)> {
        let next = Arc::new(AtomicUsize::new(0));
        let (timeout, gather) = (self.timeout, self.gather);
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..workers)
                .map(|_| {
                    let salt = self.salt.clone();
                    let next = next.clone();
                    tokio::spawn(async move {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break out;
                            }
                            let minion = THREE[i % 3];
                            let spec = JobSpec::new("test.ping", vec![minion.into()], timeout, gather);
                            let r = salt
                                .run(&spec)
                                .await
                                .map(|o| returned_true(&o, minion))
                                .map_err(|e| e.to_string());
                            out.push((start.elapsed(), r));
                        }
                    })
                })
                .collect();
            let mut all = Vec::new();
            for task in tasks {
                if let Ok(out) = task.await {
                    all.extend(out);
                }
            }
            all
        })
    }

    /// Drops the client, then stops its runtime (5 s at most).
    pub fn shutdown(self) {
        let Floor { runtime, salt, .. } = self;
        drop(salt);
        runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

fn returned_true(outcome: &JobOutcome, minion: &str) -> bool {
    outcome
        .returns
        .get(minion)
        .is_some_and(|r| r.value == Msg::Boolean(true))
}
