//! projetyd: an HTTP front door to a SaltStack master, in one process.
//!
//! Map of the crate (dependencies point one way: `http → service → pool,
//! salt, auth → store`):
//!
//! - [`cli`]: argh types for `serve` and the admin subcommands, the config
//!   file (`serve --config`), dispatch.
//! - [`config`]: the daemon's settings, their defaults and validation.
//! - [`server`]: the hyper listener, connection limits, ordered shutdown,
//!   housekeeping and systemd readiness.
//! - [`background`]: every loop that outlives a request, and stopping them.
//! - [`http`]: the shared plumbing (route tables, authentication before the
//!   body, limits, the access log, the body type) and one folder per API
//!   surface ([`http::v1`]: the v1.0 contract).
//! - [`service`]: what the API does, with no HTTP in it: Salt job requests,
//!   their validation, ownership, the task executor and typed outcomes.
//! - [`pool`]: the in-process task pool with durable records and recovery.
//! - [`salt`]: the native Salt client (ZeroMQ publish, event bus, keys).
//! - [`auth`]: passwords (PBKDF2), tokens (random, stored as a hash), header
//!   parsing, failed-login throttling, `last_seen_at` coalescing.
//! - [`store`]: the sled database: typed trees, record encoding, schema.
//! - [`admin`]: user administration, over a local Unix socket while the
//!   daemon runs or directly on the database when it does not.
//! - [`memory`]: giving freed heap back after connections close.
//! - [`net`]: networks as the settings name them (`ADDR/PREFIX`).
//! - [`systemd`]: `sd_notify` readiness messages without an extra crate.
//! - [`sync`]: locks used through a panic.
//! - [`targeting`]: Salt targets expanded into exact minion ids, and
//!   publisher ACLs checked against those ids (pure; no I/O).

pub mod admin;
pub mod auth;
pub mod background;
pub mod civil;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod pool;
pub mod salt;
pub mod server;
pub mod service;
pub mod store;
pub mod sync;
pub mod systemd;
pub mod targeting;

/// Seconds since the Unix epoch; every timestamp in the API and the store.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sets the process umask to 077: every file the daemon or an admin
/// command creates (sled's log and snapshots, the seal, a backup) is
/// readable by its owner only, whatever umask it was started with.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
}
