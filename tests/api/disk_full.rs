//! Issue #8 part 2: a full disk. The database lives on a small tmpfs with
//! a ballast file beside it; async pings (to a fake-fast master) are
//! submitted until the disk is full. Then: no submit is answered 202 that
//! is not kept, every refusal is a 503 with `Retry-After`, `/healthz` says
//! 503 with the reason; once the ballast is removed the daemon recovers by
//! itself (no restart) and every accepted task finishes. Needs root (for
//! the tmpfs mount); skipped with a message otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::FakeMaster;
use crate::common::{bearer, Daemon, PATIENCE};

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs { path: path.into() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn post(server: &Daemon, path: &str, token: &str) -> crate::common::Response {
    server.call("POST", path, &[("Authorization", bearer(token).as_bytes())], b"")
}

#[test]
fn r8_a_full_disk_refuses_new_work_and_recovers_without_a_restart() {
    let mut fake = FakeMaster::start(&["m1"]).unwrap();
    let mut server = Daemon::new(&["--salt-config", fake.config.to_str().unwrap()]);
    let Some(mnt) = Tmpfs::mount(&server.dir().join("mnt"), "6m") else {
        eprintln!("SKIPPED r8_a_full_disk...: cannot mount a tmpfs (needs root)");
        return;
    };
    let ballast = mnt.path.join("ballast");
    std::fs::write(&ballast, vec![1u8; 2 << 20]).unwrap();
    server.db = mnt.path.join("db");
    server.launch();
    let password = server.adduser("alice");
    let token = server.token("alice", &password);

    // Submit until the disk refuses.
    let mut accepted = Vec::new();
    let refusal = loop {
        let response = post(&server, "/api/v1.0/tasks/ping/m1", &token);
        match response.status {
            202 => accepted.push(response.header("location").unwrap().to_owned()),
            _ => break response,
        }
        assert!(accepted.len() < 200_000, "the disk never filled");
    };
    assert_eq!(refusal.status, 503, "{refusal:?}");
    assert!(refusal.retry_after() >= 1, "{refusal:?}");
    assert!(!accepted.is_empty());
    let health = server.get("/healthz", None);
    assert_eq!(health.status, 503, "{health:?}");
    assert!(
        health.json()["message"]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{health:?}"
    );
    // A new submit is refused at once, while the disk is full.
    let again = post(&server, "/api/v1.0/tasks/ping/m1", &token);
    assert_eq!(again.status, 503, "{again:?}");
    assert!(again.retry_after() >= 1);

    // Space comes back: the daemon heals itself.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while server.get("/healthz", None).status != 200 {
        assert!(Instant::now() < deadline, "not healthy again:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.log().contains("database reopened"), "{}", server.log());
    let log = server.log();
    eprintln!(
        "{} task(s) accepted before the disk filled; {}",
        accepted.len(),
        log.lines()
            .find(|l| l.contains("resuming"))
            .unwrap_or("none held back")
    );
    // Every task answered 202 finishes, with the answer of the sync call.
    for location in &accepted {
        let path = &location[location.find("/api/").unwrap()..];
        let path = format!("{path}?wait=30");
        let done = server.get(&path, Some(&token));
        assert_eq!(done.status, 200, "{path}: {done:?}\n{}", server.log());
        assert_eq!(done.json(), json!({"m1": true}));
    }
    // New work is taken again, and a login still works.
    let response = post(&server, "/api/v1.0/tasks/ping/m1", &token);
    assert_eq!(response.status, 202, "{response:?}");
    server.token("alice", &password);
    assert!(server.stop().success(), "{}", server.log());
    fake.stop();
}
