//! The integration tests' footing: everything of the shared harness
//! (`projetyd-testkit`: the daemon, the HTTP client, the admin command,
//! the fake master),
//! plus the real Salt lab of the end-to-end tests ([`lab`]).

pub mod lab;
pub mod sse;

pub use projetyd_testkit::*;

/// The daemon binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_projetyd");

#[test]
fn the_harness_runs_the_binary_cargo_built() {
    assert_eq!(binary(), &std::path::PathBuf::from(BIN));
}

/// A daemon with these `serve` flags, `alice` (admin, made so on the
/// command line as api.md says) and `bob` (no role): the server and their
/// tokens.
pub fn admin_and_bob(args: &[&str]) -> (Daemon, String, String) {
    let server = Daemon::start(args);
    let alice = server.adduser("alice");
    let bob = server.adduser("bob");
    let out = server.admin("createrole", &["alice", "admin"]);
    assert!(out.status.success(), "{out:?}");
    let alice = server.token("alice", &alice);
    let bob = server.token("bob", &bob);
    (server, alice, bob)
}
