//! What projetyd's tests and benches stand on, written once:
//!
//! - [`Daemon`]: the real binary on `127.0.0.1:0` in a private directory,
//!   with its admin command ([`command`]);
//! - [`http`]: the one HTTP/1.1 client, free to send what no well-behaved
//!   client would, and a keep-alive [`http::Client`] for load;
//! - [`fake_master`]: a Salt master at the protocol level, fast for load
//!   and able to misbehave on purpose (held replies, torn frames, a bus
//!   that restarts, a key that changes) for faults real Salt cannot make;
//! - [`lab`]: the settings of a real Salt lab (`scripts/salt-lab.sh`);
//! - [`measure`]: readings of a running process (memory, threads, CPU)
//!   and latency percentiles;
//! - [`bench`](mod@bench): where bench results go and how benches read their settings.
//!
//! It depends on nothing of projetyd's own code: tests and benches drive
//! the binary from outside, as its users do.

pub mod bench;
pub mod command;
pub mod daemon;
pub mod fake_master;
pub mod http;
pub mod lab;
pub mod measure;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;

pub use command::{admin, assert_no_raw_errors, run, Output};
pub use daemon::Daemon;
pub use fake_master::FakeMaster;
pub use http::{parse_response, request_bytes, Conn, Ending, Response};

/// How long a daemon may take to become ready or to exit after a signal,
/// a command to finish, a response to come, before a test or bench gives
/// up. Generous: tests run in parallel on small CI machines. These bound
/// hangs; they are not speed requirements.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The `projetyd` binary: `PROJETYD_BIN` if set, else the one cargo built
/// beside the running test or bench (`target/<profile>/projetyd`; cargo
/// builds a package's binaries before its integration tests and benches).
pub fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("PROJETYD_BIN") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("the path of the running test");
        // target/<profile>/deps/<test>-<hash>
        let profile = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("a test binary under target/<profile>/deps");
        let binary = profile.join("projetyd");
        assert!(
            binary.is_file(),
            "no projetyd binary at {}: run this through cargo test or cargo bench, or set PROJETYD_BIN",
            binary.display()
        );
        binary
    })
}

/// Seconds since the Unix epoch, as the API counts them.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {creds}")
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
