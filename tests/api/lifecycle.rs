//! The daemon's life: clean exits on SIGTERM and SIGINT, nothing lost
//! across a restart, in-flight requests drained (within a limit), the admin
//! socket cleaned up, and one daemon per database.

use std::time::Duration;

use crate::common::{assert_no_raw_errors, basic, Daemon, Ending, PATIENCE};

#[test]
fn sigterm_exits_zero_and_removes_the_admin_socket() {
    let mut server = Daemon::start(&[]);
    assert!(server.socket.exists());
    let addr = server.addr();
    let status = server.stop();
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(!server.socket.exists(), "the admin socket file was left behind");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening after exit"
    );
    let log = server.log();
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );
}

#[test]
fn sigterm_right_after_ready_exits_zero() {
    // systemd may stop a unit the moment it is ready; so may a script.
    for attempt in 0..40 {
        let mut server = Daemon::new(&[]);
        server.try_launch().unwrap();
        let status = server.stop();
        assert_eq!(
            status.code(),
            Some(0),
            "attempt {attempt}: {status}; log:\n{}",
            server.log()
        );
    }
}

#[test]
fn sigint_exits_zero_too() {
    let mut server = Daemon::start(&[]);
    server.signal("INT");
    let status = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(!server.socket.exists());
    assert!(server.log().contains("SIGINT received"));
}

#[test]
fn users_and_tokens_survive_a_restart() {
    let mut server = Daemon::start(&[]);
    let alice = server.adduser("alice");
    let bob = server.adduser("bob");
    let token = server.token("alice", &alice);
    let revoked = server.token("alice", &alice);
    assert_eq!(server.revoke(&revoked).status, 204);
    let viewer = server.token("bob", &bob);
    let alice_before = server.get("/api/v1.0/users/1", Some(&viewer)).json();
    assert_eq!(alice_before["nickname"], "alice");
    assert!(alice_before["last_seen_at"].is_u64(), "{alice_before}");
    // Stopped right after the writes: SIGTERM must not lose them.
    server.restart();
    // Looked at through bob's token, so that alice's last_seen_at is what
    // the store kept: it was pending in memory and shutdown had to write it.
    let alice_after = server.get("/api/v1.0/users/1", Some(&viewer)).json();
    assert_eq!(alice_after, alice_before);
    assert_eq!(server.users(&token).len(), 2);
    server
        .get("/api/v1.0/users", Some(&revoked))
        .assert_error(401, "authentication required");
    assert_eq!(server.login("alice", &alice, "").status, 200);
}

#[test]
fn issued_tokens_and_users_survive_a_crash() {
    // Users, tokens and revocations are flushed before they are reported
    // done: a SIGKILL right after each cannot take it back.
    let mut server = Daemon::start(&[]);
    let alice = server.adduser("alice");
    server.kill();
    server.launch();
    let token = server.token("alice", &alice);
    server.kill();
    server.launch();
    assert_eq!(server.users(&token).len(), 1);
    let revoked = server.token("alice", &alice);
    assert_eq!(server.revoke(&revoked).status, 204);
    server.kill();
    server.launch();
    server
        .get("/api/v1.0/users", Some(&revoked))
        .assert_error(401, "authentication required");
    let new = server.passwd("alice");
    server.kill();
    server.launch();
    server
        .login("alice", &alice, "")
        .assert_error(401, "authentication required");
    server
        .get("/api/v1.0/users", Some(&token))
        .assert_error(401, "authentication required");
    server.token("alice", &new);
}

#[test]
fn several_restarts_keep_everything() {
    let mut server = Daemon::start(&[]);
    let mut passwords = Vec::new();
    let mut tokens = Vec::new();
    for round in 0..3 {
        let name = format!("user{round}");
        let password = server.adduser(&name);
        tokens.push(server.token(&name, &password));
        passwords.push((name, password));
        server.restart();
        for token in &tokens {
            assert_eq!(server.users(token).len(), round + 1);
        }
    }
    let (name, password) = &passwords[0];
    server.token(name, password);
}

#[test]
fn a_request_in_flight_at_sigterm_is_finished() {
    let mut server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let mut conn = server.conn();
    // "Expect: 100-continue": the server says "100 Continue" once the
    // handler starts reading the body, so the request is surely in flight.
    let head = format!(
        "POST /api/v1.0/tokens HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\
         Content-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        basic("alice", &password)
    );
    conn.send(head.as_bytes()).unwrap();
    assert_eq!(conn.read_response().unwrap().status, 100);
    server.signal("TERM");
    // STOPPING=1 comes once the listener is closed.
    server.wait_notification("STOPPING=1");
    assert!(
        std::net::TcpStream::connect(server.addr()).is_err(),
        "accepting after STOPPING"
    );
    conn.send(b"{}").unwrap();
    let response = conn.read_response().unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    let token = response.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(conn.wait_close(PATIENCE), Ending::Closed);
    let status = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    // The token handed out while stopping was kept.
    server.launch();
    assert_eq!(server.get("/api/v1.0/users", Some(&token)).status, 200);
}

#[test]
fn a_stuck_request_does_not_hold_shutdown_past_the_drain_timeout() {
    let mut server = Daemon::start(&["--drain-timeout", "1", "--body-timeout", "600"]);
    let mut conn = server.conn();
    let head = "POST /api/v1.0/tokens HTTP/1.1\r\nHost: localhost\r\n\
                Content-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    conn.send(head.as_bytes()).unwrap();
    assert_eq!(conn.read_response().unwrap().status, 100);
    // The body never comes; the drain limit, not the body timeout, ends it.
    let status = server.stop();
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(server.log().contains("still open"), "{}", server.log());
    assert_ne!(conn.wait_close(PATIENCE), Ending::StillOpen);
}

#[test]
fn idle_keep_alive_connections_do_not_delay_shutdown() {
    let mut server = Daemon::start(&["--drain-timeout", "120"]);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut conn = server.conn();
        assert_eq!(conn.request("GET", "/healthz", &[], b"").status, 200);
        idle.push(conn);
    }
    server.signal("TERM");
    // Far less than the drain timeout: idle connections are closed at once.
    let status = server.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0));
    assert!(!server.log().contains("still open"), "{}", server.log());
    for mut conn in idle {
        assert_ne!(conn.wait_close(PATIENCE), Ending::StillOpen);
    }
}

#[test]
fn a_second_daemon_on_the_same_database_is_refused_clearly() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    // Another admin socket: the database lock is what stops it.
    let mut second = Daemon::new(&[]);
    second.db = server.db.clone();
    let status = second.try_launch().expect_err("two daemons on one database");
    assert!(!status.success());
    let log = second.log();
    assert!(log.contains("in use"), "{log}");
    assert_no_raw_errors(&log);
    // The same admin socket: refused too, and the first one's socket stays.
    let mut third = Daemon::new(&[]);
    third.socket = server.socket.clone();
    let status = third.try_launch().expect_err("two daemons on one admin socket");
    assert!(!status.success());
    assert!(third.log().contains("another daemon"), "{}", third.log());
    assert_no_raw_errors(&third.log());
    // The first daemon is unharmed, socket included.
    server.token("alice", &password);
    server.adduser("bob");
}

#[test]
fn invalid_settings_are_refused_at_start() {
    for args in [
        vec!["--token-lifetime", "100", "--max-token-lifetime", "10"],
        vec!["--body-limit", "0"],
        vec!["--header-timeout", "0"],
        vec!["--token-lifetime", "0"],
    ] {
        let mut server = Daemon::new(&args);
        let status = server.try_launch().expect_err("started with invalid settings");
        assert!(!status.success());
        assert!(
            server.log().contains("invalid settings"),
            "{args:?}: {}",
            server.log()
        );
    }
}

#[test]
fn an_admin_socket_path_that_is_not_a_socket_is_refused() {
    let mut server = Daemon::new(&[]);
    std::fs::write(&server.socket, b"precious data").unwrap();
    let status = server.try_launch().expect_err("started over a regular file");
    assert!(!status.success());
    let log = server.log();
    assert!(log.contains("is not a socket"), "{log}");
    assert_eq!(
        std::fs::read(&server.socket).unwrap(),
        b"precious data",
        "the file was clobbered"
    );
}

/// Issue [2/7]: handlers see shutdown. A `?wait=` long poll that would
/// outlast the drain time answers with the task's state as soon as the
/// daemon begins to stop, instead of holding its connection until the
/// drain time closes it unanswered.
#[test]
fn a_long_poll_answers_at_once_when_the_daemon_stops() {
    let fake = crate::common::FakeMaster::start(&["silent-1"]).unwrap();
    let mut server = Daemon::start(&[
        "--salt-config",
        fake.config.to_str().unwrap(),
        "--drain-timeout",
        "20",
    ]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    let auth = crate::common::bearer(&token);
    // A minion that never answers: the task stays running.
    let busy = server.call(
        "POST",
        "/api/v1.0/tasks/ping/silent-1?timeout=120",
        &[("Authorization", auth.as_bytes())],
        b"",
    );
    assert_eq!(busy.status, 202, "{busy:?}");
    let path = busy
        .header("location")
        .unwrap()
        .split_once("/api/")
        .unwrap()
        .1
        .to_owned();
    let mut poll = server.conn();
    poll.send(
        format!("GET /api/{path}?wait=60 HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    // Give the daemon the moment it takes to read the request.
    std::thread::sleep(Duration::from_millis(500));
    server.signal("TERM");
    let answer = poll
        .read_response()
        .expect("answered before the drain time closed it");
    assert_eq!(answer.status, 202, "still running: {answer:?}");
    let status = server.wait_exit(PATIENCE);
    assert!(status.success(), "{status}; log:\n{}", server.log());
}

/// Issue [2/7]: `serve --config FILE`. The file's settings apply, a flag
/// overrides the file, and a key the daemon does not know stops the start
/// with its name and line.
#[test]
fn a_config_file_sets_what_the_flags_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("projetyd.toml");
    std::fs::write(&file, "# a comment\nbody-limit = 10\ndrain-timeout = 3\n").unwrap();
    let path = file.to_str().unwrap();
    let server = Daemon::start(&["--config", path]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    let auth = crate::common::bearer(&token);
    let body = br#"{"target": ["m1", "m2"]}"#;
    let response = server.call(
        "POST",
        "/api/v1.0/ping",
        &[("Authorization", auth.as_bytes())],
        body,
    );
    response.assert_error(413, "payload too large");
    assert!(
        response.json()["message"].as_str().unwrap().contains("10 bytes"),
        "{response:?}"
    );

    // The flag wins over the file.
    let server = Daemon::start(&["--config", path, "--body-limit", "1000"]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    let auth = crate::common::bearer(&token);
    let response = server.call(
        "POST",
        "/api/v1.0/ping",
        &[("Authorization", auth.as_bytes())],
        body,
    );
    assert_ne!(response.status, 413, "{response:?}");

    std::fs::write(&file, "body-limit = 10\n\nmax-conections = 5\n").unwrap();
    let mut server = Daemon::new(&["--config", path]);
    let status = server.try_launch().expect_err("started with an unknown key");
    assert!(!status.success());
    let log = server.log();
    assert!(log.contains("line 3: unknown field `max-conections`"), "{log}");
}

/// `serve --check`: prints the settings in effect (defaults, file, flags)
/// and exits 0 when they are valid, non-zero with the reason when not.
#[test]
fn serve_check_prints_the_effective_settings_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("projetyd.toml");
    std::fs::write(&file, "task-workers = 3\nno-salt = true\n").unwrap();
    let check = |extra: &[&str]| {
        std::process::Command::new(crate::common::BIN)
            .args(["serve", "--config", file.to_str().unwrap(), "--check"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = check(&["--max-wait", "7"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "task-workers = 3",
        "max-wait = 7",
        "body-limit = 65536",
        "no-salt = true",
        "# the settings are valid",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
    }
    let out = check(&["--token-lifetime", "100", "--max-token-lifetime", "10"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid settings"),
        "{out:?}"
    );
}
