//! The admin command (`adduser`, `passwd`, `deluser`, `users`, and the
//! role and ACL commands) while the daemon runs (through its socket) and while it does not (directly on the
//! database), and its refusals: clear messages, non-zero exits, never a
//! raw lock error.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};

use crate::common::{admin, assert_no_raw_errors, Daemon};

#[test]
fn adduser_while_the_daemon_runs_goes_through_the_socket() {
    let server = Daemon::start(&[]);
    let meta = std::fs::metadata(&server.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "the admin socket is private"
    );
    let password = server.adduser("alice");
    // The daemon did it (it logs admin requests), and serves the user at once.
    assert!(
        server.log().contains("admin request: adduser alice"),
        "{}",
        server.log()
    );
    let token = server.token("alice", &password);
    let names: Vec<String> = server
        .users(&token)
        .iter()
        .map(|u| u["nickname"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alice"]);
}

#[test]
fn adduser_while_the_daemon_is_stopped_opens_the_database() {
    let mut server = Daemon::new(&[]);
    let password = server.adduser("alice");
    let out = server.admin("users", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("alice"), "{out:?}");
    server.launch();
    let token = server.token("alice", &password);
    assert_eq!(server.users(&token).len(), 1);
    // And back to direct access once it stopped.
    assert!(server.stop().success());
    let bob = server.adduser("bob");
    server.launch();
    server.token("bob", &bob);
}

#[test]
fn admin_works_after_a_crash_left_a_stale_socket() {
    let mut server = Daemon::start(&[]);
    server.adduser("alice");
    server.kill();
    assert!(server.socket.exists(), "SIGKILL cannot clean up the socket file");
    let password = server.adduser("bob");
    let out = server.admin("users", &[]);
    assert!(out.status.success() && out.stdout.contains("bob"), "{out:?}");
    // The daemon replaces the stale socket on its next start.
    server.launch();
    server.token("bob", &password);
    server.adduser("carol");
    assert!(server.log().contains("admin request: adduser carol"));
}

#[test]
fn passwd_prints_a_new_password_and_revokes_tokens() {
    for running in [true, false] {
        let mut server = Daemon::start(&[]);
        let old = server.adduser("alice");
        let first = server.token("alice", &old);
        let second = server.token("alice", &old);
        if !running {
            assert!(server.stop().success());
        }
        let out = server.admin("passwd", &["alice"]);
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.contains("2 token(s) revoked"), "{out:?}");
        let new = server.passwd("alice");
        assert_ne!(new, old);
        if !running {
            server.launch();
        }
        for token in [&first, &second] {
            server
                .get("/api/v1.0/users", Some(token))
                .assert_error(401, "authentication required");
        }
        server
            .login("alice", &old, "")
            .assert_error(401, "authentication required");
        let token = server.token("alice", &new);
        assert_eq!(server.get("/api/v1.0/users", Some(&token)).status, 200);
    }
}

#[test]
fn deluser_removes_the_user_and_its_tokens() {
    for running in [true, false] {
        let mut server = Daemon::start(&[]);
        let alice = server.adduser("alice");
        let bob = server.adduser("bob");
        let alice_token = server.token("alice", &alice);
        let bob_token = server.token("bob", &bob);
        if !running {
            assert!(server.stop().success());
        }
        let out = server.admin("deluser", &["alice"]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout.trim(), "User alice deleted");
        let out = server.admin("users", &[]);
        assert!(
            out.stdout.contains("bob") && !out.stdout.contains("alice"),
            "{out:?}"
        );
        if !running {
            server.launch();
        }
        server
            .get("/api/v1.0/users", Some(&alice_token))
            .assert_error(401, "authentication required");
        server
            .login("alice", &alice, "")
            .assert_error(401, "authentication required");
        let users = server.users(&bob_token);
        assert_eq!(users.len(), 1);
        assert_eq!(users[0]["nickname"], "bob");
        // The name is free again; the new alice is a new user.
        let again = server.adduser("alice");
        let token = server.token("alice", &again);
        let ids: Vec<u64> = server
            .users(&token)
            .iter()
            .map(|u| u["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(
            ids.iter().all(|&id| id != 1),
            "a deleted user's id was reused: {ids:?}"
        );
    }
}

#[test]
fn users_lists_a_table() {
    let server = Daemon::start(&[]);
    let out = server.admin("users", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("NICKNAME"), "header even when empty: {out:?}");
    let password = server.adduser("alice");
    server.adduser("bob");
    server.token("alice", &password);
    let out = server.admin("users", &[]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(lines[1].contains("alice") && lines[2].contains("bob"), "{out:?}");
    assert!(!out.stdout.contains(&password));
}

#[test]
fn refusals_are_clear_whether_or_not_the_daemon_runs() {
    for running in [true, false] {
        let mut server = Daemon::start(&[]);
        server.adduser("alice");
        if !running {
            assert!(server.stop().success());
        }
        let context = if running {
            "daemon running"
        } else {
            "daemon stopped"
        };
        eprintln!("{context}");
        server
            .admin("adduser", &["alice"])
            .assert_refused("already exists");
        server.admin("passwd", &["nobody"]).assert_refused("no such user");
        server
            .admin("deluser", &["nobody"])
            .assert_refused("no such user");
        for bad in ["a:b", "", "a b", "al/ice", ".hidden", &"x".repeat(65), "é"] {
            for command in ["adduser", "passwd", "deluser"] {
                server.admin(command, &[bad]).assert_refused("invalid user name");
            }
        }
        // A name that looks like an option: refused by the parser, or as a
        // name once past "--".
        let out = server.admin("adduser", &["-x"]);
        assert!(!out.status.success() && !out.stderr.is_empty(), "{out:?}");
        assert_no_raw_errors(&out.stderr);
        server
            .admin("adduser", &["--", "-x"])
            .assert_refused("invalid user name");
        // Nothing was created by all that.
        let out = server.admin("users", &[]);
        assert_eq!(out.stdout.lines().count(), 2, "{out:?}");
    }
}

#[test]
fn roles_and_acls_are_administered_whether_or_not_the_daemon_runs() {
    for running in [true, false] {
        let mut server = Daemon::start(&[]);
        server.adduser("alice");
        if !running {
            assert!(server.stop().success());
        }
        let ok = |command: &str, rest: &[&str]| {
            let out = server.admin(command, rest);
            assert!(out.status.success(), "{command} {rest:?}: {out:?}");
            out.stdout
        };
        assert!(ok("createrole", &["alice", "admin"]).contains("has role admin"));
        assert!(ok("roles", &["alice"]).contains("admin"));
        // The default ACL is there; one more, with globs that a shell
        // would expand if they were not quoted.
        let created = ok("createacl", &["alice", "web*", "pkg.*"]);
        let id = created
            .trim()
            .rsplit("id ")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_owned();
        let acls = ok("acls", &["alice"]);
        assert!(acls.contains("test.ping") && acls.contains("web*"), "{acls}");
        server
            .admin("createacl", &["alice", "web*", "pkg.*"])
            .assert_refused("already exists");
        server
            .admin("createrole", &["alice", "admin"])
            .assert_refused("already exists");
        server
            .admin("createrole", &["alice", "a b"])
            .assert_refused("invalid role name");
        server
            .admin("createacl", &["alice", "*", "a\u{7}b"])
            .assert_refused("invalid functions");
        server.admin("roles", &["nobody"]).assert_refused("no such user");
        server
            .admin("delacl", &["alice", "999"])
            .assert_refused("no acl 999");
        assert!(ok("delacl", &["alice", &id]).contains("deleted"));
        assert!(!ok("acls", &["alice"]).contains("web*"));
        assert!(ok("delrole", &["alice", "admin"]).contains("no longer"));
        server
            .admin("delrole", &["alice", "admin"])
            .assert_refused("no role");
        if running {
            assert!(
                server.log().contains("admin request: createacl alice"),
                "{}",
                server.log()
            );
        }
    }
}

#[test]
fn a_database_that_cannot_be_opened_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a database").unwrap();
    let socket = dir.path().join("admin.sock");
    for db in [file.clone(), file.join("db")] {
        for (command, rest) in [("users", vec![]), ("adduser", vec!["alice"])] {
            let out = admin(command, &db, &socket, &rest);
            out.assert_refused("cannot open the database");
            assert!(
                out.stderr.contains(&db.display().to_string()),
                "names the path: {out:?}"
            );
        }
    }
    // The daemon refuses it the same way.
    let mut server = Daemon::new(&[]);
    server.db = file;
    let status = server.try_launch().expect_err("a daemon started on a plain file");
    assert!(!status.success());
    let log = server.log();
    assert!(log.contains("cannot open the database"), "{log}");
    assert_no_raw_errors(&log);
}

#[test]
fn a_database_locked_by_a_daemon_with_another_socket_is_a_clear_error() {
    let server = Daemon::start(&[]);
    server.adduser("alice");
    // The admin command cannot reach this daemon (wrong socket), so it tries
    // the database directly, which the daemon holds.
    let elsewhere = server.dir().join("elsewhere.sock");
    let out = admin("adduser", &server.db, &elsewhere, &["bob"]);
    out.assert_refused("in use");
    let out = admin("users", &server.db, &elsewhere, &[]);
    out.assert_refused("in use");
}

#[test]
fn concurrent_adduser_of_one_name_creates_it_once() {
    let server = std::sync::Arc::new(Daemon::start(&[]));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let server = server.clone();
            std::thread::spawn(move || server.admin("adduser", &["alice"]))
        })
        .collect();
    let outputs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let created: Vec<_> = outputs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(created.len(), 1, "{outputs:?}");
    for out in outputs.iter().filter(|o| !o.status.success()) {
        out.assert_refused("already exists");
    }
    let password = created[0].stdout.trim().rsplit(' ').next().unwrap().to_owned();
    server.token("alice", &password);
}

/// Runs `command` as user `nobody` (tests run as root; elsewhere there is
/// no second user to be, and the caller skips).
fn as_nobody(command: &str, server: &Daemon, rest: &[&str]) -> Option<crate::common::Output> {
    let mut id = std::process::Command::new("id");
    id.arg("-u");
    let uid = crate::common::run(id);
    if uid.stdout.trim() != "0" {
        eprintln!("SKIPPED: needs root to act as another user");
        return None;
    }
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        crate::common::BIN,
    ])
    .arg(command)
    .arg("--db")
    .arg(&server.db)
    .arg("--admin-socket")
    .arg(&server.socket)
    .args(rest);
    Some(crate::common::run(cmd))
}

#[test]
fn other_users_are_refused_with_a_clear_message() {
    let mut server = Daemon::start(&[]);
    // Let others reach the directory; the socket itself stays 0600.
    std::fs::set_permissions(server.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let Some(out) = as_nobody("adduser", &server, &["mallory"]) else {
        return;
    };
    out.assert_refused("permission denied on the admin socket");
    // With no daemon, the database directory is what keeps them out.
    assert!(server.stop().success());
    let out = as_nobody("users", &server, &[]).unwrap();
    out.assert_refused("cannot open the database");
    server.launch();
    let out = server.admin("users", &[]);
    assert!(!out.stdout.contains("mallory"), "{out:?}");
}

#[test]
fn a_loosened_admin_socket_still_keeps_other_users_out() {
    let server = Daemon::start(&[]);
    std::fs::set_permissions(server.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A socket whose mode was loosened by hand: the daemon checks the peer.
    std::fs::set_permissions(&server.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let Some(out) = as_nobody("adduser", &server, &["mallory"]) else {
        return;
    };
    assert!(!out.status.success(), "{out:?}");
    assert_no_raw_errors(&out.stderr);
    let users = server.admin("users", &[]);
    assert!(!users.stdout.contains("mallory"), "{users:?}");
    assert!(
        server.log().contains("admin request from uid 65534 refused"),
        "{}",
        server.log()
    );
}

#[test]
fn a_refused_peer_sees_the_daemons_reason() {
    let server = Daemon::start(&[]);
    std::fs::set_permissions(server.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&server.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    for _ in 0..5 {
        let Some(out) = as_nobody("adduser", &server, &["mallory"]) else {
            return;
        };
        out.assert_refused("only root or the daemon's user");
    }
}
