//! The daemon's settings: defaults, and the checks made before it starts.
//! Filled from the command line and the config file (`cli`); shared
//! read-only as `Arc<Config>`. Plain data: nothing here reads a file or
//! knows the Salt client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::throttle;

/// Where the database lives unless `--db` says otherwise.
pub const DEFAULT_DB: &str = "/var/lib/projetyd";
/// Where the admin socket lives unless `--admin-socket` says otherwise.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/projetyd/admin.sock";
/// The Salt master's config file unless `--salt-config` says otherwise.
pub const DEFAULT_SALT_CONFIG: &str = "/etc/salt/master";
/// The old service's address, kept so existing scripts need no change.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";

/// Everything `projetyd serve` needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub db_path: PathBuf,
    pub admin_socket: PathBuf,
    /// Token lifetime when `?expiration=` is not given, in seconds.
    pub token_lifetime: u64,
    /// Longest lifetime a client may ask for; longer requests are capped.
    pub max_token_lifetime: u64,
    /// Largest request body accepted, in bytes (413 past it).
    pub body_limit: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body.
    pub body_timeout: Duration,
    /// Time in-flight requests get to finish at shutdown.
    pub drain_timeout: Duration,
    /// Connections served at once; past it, new ones wait in the backlog.
    pub max_connections: usize,
    /// Connections one client address may hold open (trusted proxies are
    /// not counted).
    pub max_connections_per_address: usize,
    /// Event streams (`GET /events`, `GET /api/v1.0/events`) open at once;
    /// past it a new one gets 503, so that streams never take every
    /// connection from request/response clients. `None`: a quarter of
    /// `max_connections` (see [`Config::stream_limit`]).
    pub max_streams: Option<usize>,
    /// How often minion presence is refreshed while a stream watches it.
    pub presence_interval: Duration,
    /// Time a client has to take a response it is sent before its
    /// connection is closed.
    pub send_timeout: Duration,
    /// Failed-login throttling.
    pub throttle: throttle::Policy,
    /// PBKDF2 computations allowed at once.
    pub hashing_threads: usize,
    /// Tasks running at once.
    pub task_workers: usize,
    /// Tasks waiting to run before submitters get 503.
    pub task_queue: usize,
    /// Finished task records older than this are removed.
    pub task_retention: Duration,
    /// Longest `?wait=` on a task status.
    pub max_wait: Duration,
    /// Base of the `Location` URLs (e.g. `https://salt.example.org`); from
    /// the request's `Host` when unset.
    pub public_url: Option<String>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the
    /// client (for login throttling and the access log); none by default.
    pub trusted_proxies: Vec<crate::net::Net>,
    /// Origins whose cross-origin calls of the v1.0 API are answered with
    /// CORS headers (`*`: any); none by default (docs/api.md, CORS).
    pub cors_origins: Vec<String>,
    /// Addresses that may read `GET /metrics` without a token (loopback by
    /// default); anyone else needs an admin's token.
    pub metrics_from: Vec<crate::net::Net>,
    /// How to reach the Salt master; `None` runs without Salt (`--no-salt`:
    /// users and tokens only, Salt endpoints answer 503).
    pub salt: Option<SaltSettings>,
    /// salt-api's surface (rest_cherrypy's paths at the root); `None` with
    /// `--no-saltapi`.
    pub saltapi: Option<SaltApiSettings>,
}

/// Who reads `/metrics` without a token unless configured: loopback.
pub fn default_metrics_from() -> Vec<crate::net::Net> {
    ["127.0.0.0/8", "::1"]
        .iter()
        .filter_map(|net| net.parse().ok())
        .collect()
}

/// The salt-api surface's settings (docs/saltapi.md).
#[derive(Debug, Clone)]
pub struct SaltApiSettings {
    /// A listener of its own (salt-api's is port 8000); `None` serves it
    /// on `listen`, beside the v1.0 API.
    pub listen: Option<SocketAddr>,
    /// The `eauth` names a login may give for projetyd's own users.
    pub eauth: Vec<String>,
    /// The clients that may run; empty: the master's
    /// `netapi_enable_clients`, as salt-api reads it.
    pub clients: Vec<String>,
    /// rest_cherrypy's `app` and `app_path`: one file (a web UI's
    /// `index.html`) served at `app_path`, and at any path a browser asks
    /// HTML for.
    pub app: Option<PathBuf>,
    pub app_path: String,
    /// rest_cherrypy's `static` and `static_path`: a directory served
    /// under `static_path`.
    pub static_dir: Option<PathBuf>,
    pub static_path: String,
    /// Origins whose cross-origin requests are answered with CORS headers
    /// (`*`: any, echoed, as salt-api does); none by default.
    pub cors_origins: Vec<String>,
    /// rest_cherrypy's `webhook_disable_auth`: `POST /hook` without a token.
    pub hook_without_auth: bool,
}

/// The eauth name projetyd's users log in with unless configured.
pub const DEFAULT_SALTAPI_EAUTH: &str = "projetyd";

impl SaltApiSettings {
    pub fn new() -> SaltApiSettings {
        SaltApiSettings {
            listen: None,
            eauth: vec![DEFAULT_SALTAPI_EAUTH.into()],
            clients: Vec::new(),
            app: None,
            app_path: "/app".into(),
            static_dir: None,
            static_path: "/static".into(),
            cors_origins: Vec::new(),
            hook_without_auth: false,
        }
    }
}

impl Default for SaltApiSettings {
    fn default() -> SaltApiSettings {
        SaltApiSettings::new()
    }
}

/// Where the Salt master's settings come from, and what overrides them:
/// plain data. `salt::Setup::from_settings` reads the master's config and
/// applies these, the one place where the two meet.
#[derive(Debug, Clone, Default)]
pub struct SaltSettings {
    /// The master's config file (`master.d/*.conf` beside it is read too).
    pub master_config: PathBuf,
    /// Replaces the key file the master config implies.
    pub key_file: Option<PathBuf>,
    pub interface: Option<String>,
    pub ret_port: Option<u16>,
    pub sock_dir: Option<PathBuf>,
    pub cachedir: Option<PathBuf>,
    pub pki_dir: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub gather_job_timeout: Option<Duration>,
    /// Largest `?timeout=` a client may ask for.
    pub max_timeout: Duration,
    /// Longest a job may run while its minions say they are busy.
    pub max_job_time: Duration,
}

/// Longest a job may run by default while its minions say they are busy.
pub const DEFAULT_MAX_JOB_TIME: Duration = Duration::from_secs(3600);

impl SaltSettings {
    pub fn new() -> SaltSettings {
        SaltSettings {
            master_config: DEFAULT_SALT_CONFIG.into(),
            max_timeout: Duration::from_secs(300),
            max_job_time: DEFAULT_MAX_JOB_TIME,
            ..SaltSettings::default()
        }
    }
}

impl Config {
    /// Settings with every default; `cli` overrides what the flags say.
    pub fn new() -> Config {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            db_path: DEFAULT_DB.into(),
            admin_socket: DEFAULT_ADMIN_SOCKET.into(),
            token_lifetime: 600,
            max_token_lifetime: 86_400,
            body_limit: 64 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_address: 256,
            max_streams: None,
            presence_interval: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            throttle: throttle::Policy::default(),
            // Leave at least one core to serve requests while logins hash.
            hashing_threads: (cores / 2).max(1),
            // About the master's worker_threads: more runs at once only
            // queue inside the master and starve its minions (measured).
            task_workers: 8,
            task_queue: 10_000,
            task_retention: Duration::from_secs(7 * 86_400),
            max_wait: Duration::from_secs(60),
            public_url: None,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            metrics_from: default_metrics_from(),
            salt: Some(SaltSettings::new()),
            saltapi: Some(SaltApiSettings::new()),
        }
    }

    /// Event streams open at once: `max_streams`, or a quarter of
    /// `max_connections` (1024 by default).
    pub fn stream_limit(&self) -> usize {
        self.max_streams.unwrap_or(self.max_connections / 4).max(1)
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.token_lifetime == 0 || self.max_token_lifetime == 0 {
            return Err("token lifetimes must be at least 1 second".into());
        }
        if self.token_lifetime > self.max_token_lifetime {
            return Err(format!(
                "--token-lifetime ({}) is longer than --max-token-lifetime ({})",
                self.token_lifetime, self.max_token_lifetime
            ));
        }
        if self.body_limit == 0 {
            return Err("--body-limit must be at least 1 byte".into());
        }
        if self.max_connections_per_address == 0 || self.send_timeout.is_zero() {
            return Err("--max-connections-per-address and --send-timeout must be at least 1".into());
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        if self.max_streams == Some(0) || self.presence_interval.is_zero() {
            return Err("--max-streams and --presence-interval must be at least 1".into());
        }
        if let Some(streams) = self.max_streams.filter(|&n| n >= self.max_connections) {
            return Err(format!(
                "--max-streams ({streams}) must be below --max-connections ({}): streams must \
                 leave connections to request/response clients",
                self.max_connections
            ));
        }
        if self.task_workers == 0 || self.task_queue == 0 {
            return Err("--task-workers and --task-queue must be at least 1".into());
        }
        if self.task_retention.is_zero() {
            return Err("--task-retention must be at least 1 second".into());
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err("timeouts must be at least 1 second".into());
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_contract() {
        let config = Config::new();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(config.token_lifetime, 600);
        assert_eq!(config.body_limit, 65_536);
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let mut config = Config::new();
        config.token_lifetime = 100_000;
        assert!(config.validate().unwrap_err().contains("--max-token-lifetime"));
        let mut config = Config::new();
        config.body_limit = 0;
        assert!(config.validate().is_err());
    }
}
