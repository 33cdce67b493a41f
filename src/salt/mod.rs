//! The native Salt client: publishes jobs on the master's request port over
//! ZeroMQ with the master's key, collects returns from the master event bus,
//! lists keys from the pki directories and functions from the minions.
//! Knows nothing of users or HTTP. Wire details: `docs/salt-protocol.md`.

mod cache;
mod calls;
pub mod config;
pub mod events;
mod functions;
pub mod grains;
pub mod job;
pub mod json;
pub mod keys;
pub mod outcome;
mod req;
pub mod wire;

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sync::LockAnyway as _;
use rmpv::Value;

pub use calls::{RunnerReturn, WheelReturn};
pub use config::MasterConfig;
pub use job::JobSpec;
pub use keys::KeyList;
pub use outcome::{Heard, JobOutcome, Listener, Progress, Return};

/// What can go wrong talking to Salt. Never carries the master's key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("salt configuration: {0}")]
    Config(String),
    #[error("cannot read the master key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("the Salt master is unreachable: {0}")]
    Down(String),
    #[error("the Salt master did not answer in time")]
    Timeout,
    #[error("too many requests to the Salt master are waiting")]
    Busy,
    #[error("the Salt master refused the key (authentication error)")]
    Auth,
    #[error("the Salt master answered: {0}")]
    Master(String),
    /// The master's `{"error": {"name", "message"}}` reply: Salt's
    /// exception name (`SaltInvocationError`, ...) and its message.
    #[error("the Salt master refused the call: {name}: {message}")]
    Refused { name: String, message: String },
    /// A runner did not return within the time it was given; it may still
    /// be running on the master under `jid`.
    #[error("runner job {jid} did not return in time")]
    RunnerTimeout { jid: String },
    #[error("no minion answered: {0}")]
    Unanswered(String),
    #[error("unexpected answer from the Salt master: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(String),
}

/// Settings of the client beyond the master's own configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// The key file, if not the one the master config implies.
    pub key_file: Option<PathBuf>,
    /// REQ sockets (parallel requests to the master).
    pub sockets: usize,
    /// Time the master gets to answer one request.
    pub request_timeout: Duration,
    /// How long the list of functions is reused before it is refreshed.
    pub functions_ttl: Duration,
    /// Longest a job may run while its minions say they are busy.
    pub max_job_time: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            key_file: None,
            sockets: 8,
            request_timeout: Duration::from_secs(10),
            functions_ttl: Duration::from_secs(300),
            max_job_time: crate::config::DEFAULT_MAX_JOB_TIME,
        }
    }
}

/// The Salt client's settings, settled: the master's own config file
/// (`/etc/salt/master` and `master.d/*.conf`, with `root_dir` rules) with
/// projetyd's `salt-*` overrides applied, and the client's options. The one
/// place where the two meet; `config::SaltSettings` is only data.
#[derive(Debug, Clone)]
pub struct Setup {
    pub master: MasterConfig,
    pub options: Options,
}

impl Setup {
    /// Reads the master's config that `settings` names and applies the
    /// overrides.
    pub fn from_settings(settings: &crate::config::SaltSettings) -> Result<Setup, Error> {
        let mut master = MasterConfig::load(&settings.master_config)?;
        if let Some(v) = &settings.interface {
            master.host = v.clone();
        }
        if let Some(v) = settings.ret_port {
            master.ret_port = v;
        }
        if let Some(v) = &settings.sock_dir {
            master.sock_dir = v.clone();
        }
        if let Some(v) = &settings.cachedir {
            master.cachedir = v.clone();
        }
        if let Some(v) = &settings.pki_dir {
            master.pki_dir = v.clone();
        }
        if let Some(v) = settings.timeout {
            master.timeout = v;
        }
        if let Some(v) = settings.gather_job_timeout {
            master.gather_job_timeout = v;
        }
        let options = Options {
            key_file: settings.key_file.clone(),
            max_job_time: settings.max_job_time,
            ..Options::default()
        };
        Ok(Setup { master, options })
    }

    /// The master's key file: the override, or the one its config implies.
    pub fn key_file(&self) -> PathBuf {
        self.options
            .key_file
            .clone()
            .unwrap_or_else(|| self.master.key_file())
    }
}

/// Whether the master answered its last health check.
#[derive(Debug, Clone)]
enum Reachable {
    Unknown,
    /// Answering; `misses` checks in a row have failed since.
    Up {
        misses: u32,
    },
    Down(String),
}

/// The client; one per daemon, shared as `Arc<Salt>`.
pub struct Salt {
    config: MasterConfig,
    key_file: PathBuf,
    options: Options,
    req: req::ReqPool,
    events: events::EventBus,
    keys: keys::KeyCache,
    reachable: Mutex<Reachable>,
    /// The minions' functions (`functions.rs`).
    functions: functions::FunctionCache,
}

/// Longest a fired event may take to be written to the pull socket.
const FIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the master is pinged for `/healthz` and fast 503s.
const HEALTH_EVERY: Duration = Duration::from_secs(2);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);
/// Failed checks in a row after which the master counts as down.
const DOWN_AFTER: u32 = 2;

/// The reply to a publish.
pub struct Published {
    pub minions: Vec<String>,
    pub missing: Vec<String>,
}

impl Salt {
    /// Checks the configuration and the key file, then starts the socket
    /// pool, and in `background` the event-bus reader, the health loop and
    /// the function-list refresh.
    pub fn start(
        config: MasterConfig,
        options: Options,
        background: &crate::background::Background,
    ) -> Result<Arc<Salt>, Error> {
        config.validate()?;
        let key_file = options.key_file.clone().unwrap_or_else(|| config.key_file());
        let meta = std::fs::metadata(&key_file).map_err(|err| Error::KeyFile {
            path: key_file.clone(),
            reason: err.to_string(),
        })?;
        read_key(&key_file)?;
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "the master key file {} is readable by group or others (mode {:o}); it is equal to root on every minion",
                key_file.display(),
                meta.permissions().mode() & 0o777
            );
        }
        let salt = Arc::new(Salt {
            req: req::ReqPool::new(&config.ret_endpoint(), options.sockets)?,
            events: events::EventBus::start(config.event_socket(), background),
            keys: keys::KeyCache::new(config.pki_dir.clone()),
            key_file,
            options,
            config,
            reachable: Mutex::new(Reachable::Unknown),
            functions: functions::FunctionCache::default(),
        });
        background.spawn("salt health", health_loop(Arc::downgrade(&salt)));
        background.spawn("salt functions", functions::refresh_loop(Arc::downgrade(&salt)));
        Ok(salt)
    }

    pub fn master(&self) -> &MasterConfig {
        &self.config
    }

    /// Every event on the bus, as it comes (see [`events::AllEvents`]).
    pub fn subscribe_all(&self) -> events::AllEvents {
        self.events.subscribe_all()
    }

    /// Fires `data` under `tag` on the master's event bus, through its pull
    /// socket (one connection per event; the master never answers). Fails
    /// with `Down` when the socket is missing or refuses, `Timeout` when it
    /// does not take the event within `FIRE_TIMEOUT`.
    pub async fn fire_event(&self, tag: &str, data: &Value) -> Result<(), Error> {
        use tokio::io::AsyncWriteExt as _;
        let frame = wire::event_frame(tag, data)?;
        let path = self.config.event_pull_socket();
        let send = async {
            let mut stream = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|err| Error::Down(format!("cannot connect to {}: {err}", path.display())))?;
            stream
                .write_all(&frame)
                .await
                .map_err(|err| Error::Io(format!("cannot write to {}: {err}", path.display())))?;
            stream
                .shutdown()
                .await
                .map_err(|err| Error::Io(format!("cannot close {}: {err}", path.display())))
        };
        tokio::time::timeout(FIRE_TIMEOUT, send)
            .await
            .map_err(|_| Error::Timeout)?
    }

    /// `Ok` when the request server answered the last check and the event
    /// bus is connected; the reason otherwise.
    pub fn status(&self) -> Result<(), Error> {
        match &*self.reachable.lock_anyway() {
            Reachable::Down(reason) => return Err(Error::Down(reason.clone())),
            Reachable::Unknown => return Err(Error::Down("not checked yet".into())),
            Reachable::Up { .. } => {}
        }
        self.events.status()
    }

    /// Like `status`, but a master not yet checked counts as up (the first
    /// request must not fail just because the daemon started a moment ago).
    fn check_up(&self) -> Result<(), Error> {
        if let Reachable::Down(reason) = &*self.reachable.lock_anyway() {
            return Err(Error::Down(reason.clone()));
        }
        self.events.status()
    }

    /// Waits (at most `within`) until the first health check has answered
    /// and the event bus is connected, so that the daemon reports the
    /// master's real state from its first request. A master that is down
    /// does not stop the daemon from starting.
    pub async fn settle(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let result = tokio::time::timeout_at(deadline, self.ping_master()).await;
        self.set_reachable(&result.unwrap_or(Err(Error::Timeout)));
        while !self.events.is_connected() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Checks the request server with a clear `ping` (no key needed).
    pub async fn ping_master(&self) -> Result<(), Error> {
        let payload = wire::envelope(&wire::Ping { cmd: "ping" })?;
        let reply = wire::decode(&self.req.request(payload, HEALTH_TIMEOUT).await?)?;
        wire::check_reply(&reply)
    }

    fn set_reachable(&self, result: &Result<(), Error>) {
        let mut reachable = self.reachable.lock_anyway();
        match (result, &*reachable) {
            (Ok(()), Reachable::Up { .. }) => *reachable = Reachable::Up { misses: 0 },
            (Ok(()), _) => {
                log::info!("Salt master at {} is reachable", self.config.ret_endpoint());
                *reachable = Reachable::Up { misses: 0 };
            }
            // A master busy enough to miss one check is not declared down
            // (that would turn every endpoint into a 503); two in a row are.
            (Err(err), Reachable::Up { misses }) if misses + 1 < DOWN_AFTER => {
                log::debug!("Salt master missed a health check: {err}");
                *reachable = Reachable::Up { misses: misses + 1 };
            }
            (Err(err), previous) => {
                if !matches!(previous, Reachable::Down(_)) {
                    log::warn!(
                        "Salt master at {} is unreachable: {err}",
                        self.config.ret_endpoint()
                    );
                }
                *reachable = Reachable::Down(err.to_string());
            }
        }
    }

    /// Sends one clear request built by `build` from the key; re-reads the
    /// key and retries once on an authentication error (3006 rotates it at
    /// every master start).
    async fn keyed_request(&self, build: impl Fn(&str) -> Result<Vec<u8>, Error>) -> Result<Value, Error> {
        for attempt in 0..2 {
            let key = read_key(&self.key_file)?;
            let payload = build(&key)?;
            // Only the health loop decides that the master is down: one slow
            // answer (or a full local queue) must not turn every endpoint
            // into a 503.
            let reply = match self.req.request(payload, self.options.request_timeout).await {
                Ok(bytes) => wire::decode(&bytes)?,
                Err(Error::Timeout) => return Err(Error::Down("the master did not answer in time".into())),
                Err(err) => return Err(err),
            };
            match wire::check_reply(&reply) {
                Err(Error::Auth) if attempt == 0 => log::info!("master key refused; reading it again"),
                Err(err) => return Err(err),
                Ok(()) => return Ok(reply),
            }
        }
        Err(Error::Auth)
    }

    /// Publishes `fun` to exactly `targets` under `jid`.
    pub async fn publish(
        &self,
        targets: &[String],
        fun: &str,
        arg: &[Value],
        jid: &str,
    ) -> Result<Published, Error> {
        let reply = self
            .keyed_request(|key| wire::envelope(&wire::Publish::new(targets, fun, arg, key, jid)))
            .await?;
        let load = wire::get(&reply, "load")
            .ok_or_else(|| Error::Protocol("publish reply without a load".into()))?;
        Ok(Published {
            minions: wire::strings(wire::get(load, "minions")),
            missing: wire::strings(wire::get(load, "missing")),
        })
    }

    /// The minion keys. From the pki directories when they can be read,
    /// else from the master (`wheel key.list_all`).
    pub async fn keys(&self) -> Result<Arc<KeyList>, Error> {
        match self.keys.list() {
            Ok(list) => Ok(list),
            Err(err) => {
                log::debug!(
                    "cannot read {}: {err}; asking the master",
                    self.config.pki_dir.display()
                );
                self.check_up()?;
                self.wheel_keys().await.map(Arc::new)
            }
        }
    }

    async fn wheel_keys(&self) -> Result<KeyList, Error> {
        let reply = self.wheel("key.list_all", Vec::new(), Vec::new()).await?;
        if !reply.success {
            let why = wire::text(&reply.ret).unwrap_or("no reason given");
            return Err(Error::Master(format!("key.list_all failed: {why}")));
        }
        let list = |name| wire::strings(wire::get(&reply.ret, name));
        Ok(KeyList {
            local: list("local"),
            minions: list("minions"),
            minions_pre: list("minions_pre"),
            minions_rejected: list("minions_rejected"),
            minions_denied: list("minions_denied"),
        })
    }
}

/// Reads the key exactly as the file holds it (no trimming).
fn read_key(path: &std::path::Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|err| Error::KeyFile {
        path: path.into(),
        reason: err.to_string(),
    })
}

async fn health_loop(salt: std::sync::Weak<Salt>) {
    loop {
        let Some(strong) = salt.upgrade() else { return };
        let result = strong.ping_master().await;
        strong.set_reachable(&result);
        drop(strong);
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}
