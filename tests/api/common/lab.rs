//! The real Salt lab the end-to-end tests run against (see `salt_e2e`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::{bearer, Daemon, Response};
use projetyd_testkit::lab::LabEnv;

/// The lab as `lab.env` describes it.
pub struct Lab {
    env: LabEnv,
}

static LAB: RwLock<()> = RwLock::new(());

impl Lab {
    /// How many jobs the master's job cache holds (a job published
    /// leaves a directory there).
    pub fn job_dirs(&self) -> usize {
        let jobs = PathBuf::from(self.var("SALT_LAB_CACHE_DIR")).join("jobs");
        let Ok(outer) = std::fs::read_dir(jobs) else {
            return 0;
        };
        outer
            .filter_map(Result::ok)
            .filter_map(|d| std::fs::read_dir(d.path()).ok())
            .map(Iterator::count)
            .sum()
    }

    /// The lab that `PROJETYD_SALT_LAB` names; panics without one. The
    /// tests that need it are `#[ignore]`d, so a plain `cargo test` reports
    /// them as ignored, and `scripts/test.sh` runs them with `--ignored`
    /// against a lab it started.
    pub fn get() -> Lab {
        let Some(path) = std::env::var_os("PROJETYD_SALT_LAB") else {
            panic!(
                "this test needs a real Salt lab: set PROJETYD_SALT_LAB=<lab dir>/lab.env \
                 (scripts/salt-lab.sh start; ./scripts/test.sh does it all)"
            );
        };
        let env = LabEnv::read(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
        Lab { env }
    }

    pub fn var(&self, key: &str) -> &str {
        self.env.var(key).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A variable of `lab.env` that only some labs have (salt-api's).
    pub fn optional(&self, key: &str) -> Option<&str> {
        self.env.get(key).filter(|v| !v.is_empty())
    }

    pub fn version(&self) -> &str {
        self.var("SALT_LAB_VERSION")
    }

    pub fn shared(&self) -> RwLockReadGuard<'static, ()> {
        LAB.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn exclusive(&self) -> RwLockWriteGuard<'static, ()> {
        LAB.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `scripts/salt-lab.sh <command>` on this lab.
    pub fn script(&self, command: &str) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/salt-lab.sh");
        let mut cmd = Command::new(script);
        cmd.arg(command);
        for key in [
            "SALT_LAB_DIR",
            "SALT_LAB_VERSION",
            "SALT_LAB_RET_PORT",
            "SALT_LAB_PUB_PORT",
        ] {
            cmd.env(key, self.var(key));
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "salt-lab.sh {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A daemon on this lab (find_job checks kept short), healthy, with an
    /// admin user (alice: ACLs are tested with users of their own) and its
    /// function list cached (fetching it is the heaviest thing
    /// a daemon asks of the minions; done before a test's own requests, it
    /// does not compete with them); returns the daemon and a token.
    pub fn daemon(&self, extra: &[&str]) -> (Daemon, String) {
        let (server, token, _) = self.daemon_with_password(extra);
        (server, token)
    }

    /// [`Lab::daemon`], and alice's password too (for clients that log in
    /// themselves, as salt-api's do).
    pub fn daemon_with_password(&self, extra: &[&str]) -> (Daemon, String, String) {
        let mut args = vec![
            "--salt-config",
            self.var("SALT_LAB_MASTER_CONFIG"),
            "--salt-gather-job-timeout",
            "3",
        ];
        args.extend_from_slice(extra);
        let server = Daemon::start(&args);
        server.wait_for("/healthz", 200, Duration::from_secs(30));
        let password = server.adduser("alice");
        let admin = server.admin("createrole", &["alice", "admin"]);
        assert!(admin.status.success(), "{admin:?}");
        let token = server.token("alice", &password);
        // Minions answer their first sys.list_functions slowly on a busy
        // machine; the daemon retries in the background, so poll.
        let start = Instant::now();
        loop {
            let functions = server.get("/api/v1.0/tasks", Some(&token));
            if functions.status == 200 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{functions:?}\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        (server, token, password)
    }
}

pub fn post(server: &Daemon, path: &str, token: &str, body: &[u8]) -> Response {
    server.call("POST", path, &[("Authorization", bearer(token).as_bytes())], body)
}
