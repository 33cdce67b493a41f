//! The projetyd daemon under test: the shared harness's [`Daemon`] on a
//! port picked beforehand, so that its first answers can be timed from the
//! spawn (a probe polls `/healthz` every millisecond while the harness
//! waits for `READY=1`), with a user and a token; killed at the end.
//! Knows how to start and stop it, not what the phases ask of it.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use projetyd_testkit::http::Client;
use projetyd_testkit::{bearer, Daemon as Harness};

use crate::settings::PATIENCE;
use projetyd_testkit::bench::Result;

/// When the daemon answered for the first time after it was started.
#[derive(Debug, Default, Clone, Copy)]
pub struct Startup {
    /// First HTTP answer of any kind to `GET /healthz`.
    pub first_answer: Option<Duration>,
    /// First `200` from `GET /healthz` (the master is reachable).
    pub first_ok: Option<Duration>,
    /// `READY=1` on the notify socket.
    pub ready: Option<Duration>,
}

/// The daemon, its address, and the `Bearer` value and password of its
/// user `bench` (the password logs in on its salt-api surface).
pub struct Daemon {
    harness: Harness,
    pub addr: SocketAddr,
    pub bearer: String,
    pub password: String,
    pub startup: Startup,
}

impl Daemon {
    pub fn start(master_config: &Path) -> Result<Daemon> {
        let addr = SocketAddr::from((
            [127, 0, 0, 1],
            TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(),
        ));
        let (listen, config) = (addr.to_string(), master_config.to_string_lossy().into_owned());
        let mut harness = Harness::new(&["--listen", &listen, "--salt-config", &config]);
        let spawned = Instant::now();
        let probe = Probe::start(addr, spawned);
        let launched = harness.try_launch();
        let ready = spawned.elapsed();
        let (first_answer, first_ok) = probe.finish(launched.is_ok());
        if let Err(status) = launched {
            return Err(format!("the daemon did not start ({status}); its log:\n{}", harness.log()).into());
        }
        let Some(first_ok) = first_ok else {
            return Err(format!(
                "no 200 from /healthz within {PATIENCE:?}; its log:\n{}",
                harness.log()
            )
            .into());
        };
        let password = harness.adduser("bench");
        let token = harness.token("bench", &password);
        Ok(Daemon {
            harness,
            addr,
            bearer: bearer(&token),
            password,
            startup: Startup {
                first_answer,
                first_ok: Some(first_ok),
                ready: Some(ready),
            },
        })
    }

    pub fn pid(&self) -> u32 {
        self.harness.pid()
    }

    /// The daemon's log without the access-log lines (one per request),
    /// at most `max` lines, and how many of those were warnings or errors.
    pub fn log_without_access(&self, max: usize) -> (String, usize) {
        let log = self.harness.log();
        let lines = log.lines().filter(|line| !line.contains("projetyd::access"));
        let warnings = lines
            .clone()
            .filter(|line| line.contains("WARN") || line.contains("ERROR"))
            .count();
        let kept: String = lines.take(max).flat_map(|line| [line, "\n"]).collect();
        (kept, warnings)
    }

    /// Kills the daemon (a bench's database is thrown away).
    pub fn stop(&mut self) {
        if self.harness.is_running() {
            self.harness.kill();
        }
    }
}

/// A thread polling `GET /healthz` every millisecond from the spawn until
/// it answers 200: when the first answer of any kind came, and the first
/// 200.
struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Option<Duration>, Option<Duration>)>,
}

impl Probe {
    fn start(addr: SocketAddr, spawned: Instant) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut first_answer = None;
            while spawned.elapsed() < PATIENCE && !stopped.load(Ordering::Relaxed) {
                if let Ok(reply) = Client::new(addr).request("GET", "/healthz", "", b"") {
                    first_answer.get_or_insert(spawned.elapsed());
                    if reply.status == 200 {
                        return (first_answer, Some(spawned.elapsed()));
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (first_answer, None)
        });
        Probe { stop, thread }
    }

    /// Waits for the first 200 (or gives up at once if the daemon did not
    /// start).
    fn finish(self, started: bool) -> (Option<Duration>, Option<Duration>) {
        if !started {
            self.stop.store(true, Ordering::Relaxed);
        }
        self.thread.join().unwrap_or((None, None))
    }
}
