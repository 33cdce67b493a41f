//! Running the `projetyd` admin command (and other short commands) with
//! captured output and a time limit, and judging its refusals.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{binary, PATIENCE};

/// What an admin command did.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Asserts the command failed with a clear message: exit code non-zero,
    /// something on stderr containing `needle`, and never a raw lock error.
    pub fn assert_refused(&self, needle: &str) {
        assert!(!self.status.success(), "expected a failure: {self:?}");
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}: {self:?}");
        assert_no_raw_errors(&self.stderr);
    }
}

/// A user must never see sled's lock error or a panic.
pub fn assert_no_raw_errors(text: &str) {
    for raw in [
        "WouldBlock",
        "could not acquire lock",
        "os error 11",
        "panicked",
        "RUST_BACKTRACE",
    ] {
        assert!(
            !text.contains(raw),
            "raw error {raw:?} shown to the user:\n{text}"
        );
    }
}

/// Runs an admin command against `db` and `socket` (bounded by [`PATIENCE`]).
pub fn admin(command: &str, db: &Path, socket: &Path, rest: &[&str]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.arg(command)
        .arg("--db")
        .arg(db)
        .arg("--admin-socket")
        .arg(socket)
        .args(rest);
    run(cmd)
}

/// Runs `cmd` to completion with captured output, killing it after
/// [`PATIENCE`].
pub fn run(mut cmd: Command) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let mut child = cmd
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: std::fs::read_to_string(out_path).unwrap(),
        stderr: std::fs::read_to_string(err_path).unwrap(),
    }
}
