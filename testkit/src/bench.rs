//! What every bench shares: its error type, the daemon it measures
//! ([`BenchDaemon`]), where results go, numeric settings from the
//! environment, the machine's load.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{bearer, Daemon, PATIENCE};

pub type BoxError = Box<dyn Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The cargo target directory (results go to `<target>/bench-results`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .filter(|dir| dir.join("CACHEDIR.TAG").exists() || dir.ends_with("target"))
        // The workspace's target directory: testkit sits in the workspace root.
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A positive integer from the environment, or `default` when unset.
pub fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(format!("{name}={text:?} is not a positive integer").into()),
        },
    }
}

/// A daemon as a bench runs it: `serve --salt-config <master config>` plus
/// the bench's flags, `RUST_LOG` passed on (default `info`), a user
/// `bench` and a token of an hour for it.
pub struct BenchDaemon {
    pub daemon: Daemon,
    pub pid: u32,
    pub addr: SocketAddr,
    /// `Bearer <token>`.
    pub bearer: String,
    /// The password of the user `bench`.
    pub password: String,
}

impl BenchDaemon {
    pub fn start(master_config: &Path, extra: &[String]) -> Result<BenchDaemon> {
        let config = master_config.to_string_lossy().into_owned();
        let mut args = vec!["--salt-config", config.as_str()];
        args.extend(extra.iter().map(String::as_str));
        let mut daemon = Daemon::new(&args);
        daemon.rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        if let Err(status) = daemon.try_launch() {
            return Err(format!(
                "the daemon did not start ({status}); its log:\n{}",
                daemon.log_tail(40)
            )
            .into());
        }
        let (password, token) = daemon.user_with_token("bench", 3600);
        Ok(BenchDaemon {
            pid: daemon.pid(),
            addr: daemon.addr(),
            bearer: bearer(&token),
            password,
            daemon,
        })
    }

    /// Waits until `/healthz` says the master and its event bus are
    /// connected, then lets the function listing the daemon fetches at
    /// start end, and the key directories' times settle (the daemon caches
    /// the key listing once they are old enough).
    pub fn wait_for_salt(&self) -> Result<()> {
        self.daemon.wait_for("/healthz", 200, PATIENCE);
        std::thread::sleep(Duration::from_millis(1500));
        Ok(())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.daemon.log_tail(lines)
    }

    /// Kills the daemon (no clean stop: a bench's database is thrown away).
    pub fn stop(&mut self) {
        if self.daemon.is_running() {
            self.daemon.kill();
        }
    }
}
