//! The integration suite: one test binary (as ripgrep builds its own) that
//! runs the real `projetyd` binary on `127.0.0.1:0` and speaks HTTP to it.
//! Each test has its own temporary directory, database and daemon, so the
//! tests run in parallel. `common` holds the daemon harness and the HTTP
//! client; the other modules are one per area of the contract
//! (`shared/docs/api.md`, issue #2 "How it is checked").

#![allow(clippy::unwrap_used)]

mod common;

mod access;
mod access_e2e;
mod admin;
mod concurrency;
mod cors;
mod disk_full;
mod errors;
mod events;
mod events_e2e;
mod hostile;
mod lifecycle;
mod logs;
mod master_loss_e2e;
mod metrics;
mod run_e2e;
mod salt_e2e;
mod saltapi;
mod saltapi_e2e;
mod schemathesis_e2e;
mod slow_clients;
mod spec;
mod store_damage;
mod stream;
mod strict;
mod tasks_e2e;
mod throttle;
mod tokens;
mod users;
