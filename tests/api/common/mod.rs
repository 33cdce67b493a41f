//! The integration tests' footing: everything of the shared harness
//! (`projetyd-testkit`: the daemon, the HTTP client, the admin command,
//! the fake master),
//! plus the real Salt lab of the end-to-end tests ([`lab`]).

pub mod lab;

pub use projetyd_testkit::*;

/// The daemon binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_projetyd");

#[test]
fn the_harness_runs_the_binary_cargo_built() {
    assert_eq!(binary(), &std::path::PathBuf::from(BIN));
}
