//! The daemon's log: one access line per request (method, path, status,
//! duration) and never a token, a password or credentials, at any level.

use crate::common::{basic, Daemon};

/// The access lines of a log:
/// `<peer> <METHOD> <path> <status> <ms>ms <endpoint name or ->`.
fn access_lines(log: &str) -> Vec<(String, String, u16)> {
    log.lines()
        .filter(|line| line.contains("projetyd::access"))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let n = fields.len();
            assert!(
                n >= 6 && fields[n - 2].ends_with("ms") && !fields[n - 1].is_empty(),
                "odd access line {line:?}"
            );
            (
                fields[n - 5].to_owned(),
                fields[n - 4].to_owned(),
                fields[n - 3].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn one_access_line_per_request_and_no_secrets() {
    let mut server = Daemon::start(&[]);
    let alice = server.adduser("alice");
    let mut secrets = vec![alice.clone(), basic("alice", &alice)[6..].to_owned()];
    let token = server.token("alice", &alice);
    secrets.push(token.clone());
    let doomed = server.token("alice", &alice);
    secrets.push(doomed.clone());
    let mut expected: Vec<(&str, &str, u16)> = vec![
        ("POST", "/api/v1.0/tokens", 200),
        ("POST", "/api/v1.0/tokens", 200),
    ];

    let requests: Vec<(&str, String, u16)> = vec![
        ("GET", "/api/v1.0/users".into(), 200),
        ("GET", "/api/v1.0/users/1".into(), 200),
        ("GET", "/api/v1.0/users/42".into(), 404),
        ("GET", "/nowhere".into(), 404),
        ("PUT", "/api/v1.0/users".into(), 405),
        ("GET", "/healthz".into(), 200),
        // A query string (a place people paste tokens) is not logged.
        (
            "GET",
            format!("/api/v1.0/users?token={token}&password={alice}"),
            200,
        ),
    ];
    for (method, path, status) in &requests {
        let response = server.call(
            method,
            path,
            &[("Authorization", format!("Bearer {token}").as_bytes())],
            b"",
        );
        assert_eq!(response.status, *status, "{method} {path}");
    }
    for (method, path, status) in &requests {
        let path = path.split('?').next().unwrap();
        expected.push((method, path, *status));
    }
    assert_eq!(server.revoke(&doomed).status, 204);
    expected.push(("DELETE", "/api/v1.0/tokens", 204));
    assert_eq!(server.get("/api/v1.0/users", Some(&doomed)).status, 401);
    expected.push(("GET", "/api/v1.0/users", 401));
    assert_eq!(server.login("alice", "wrong password", "").status, 401);
    secrets.push(basic("alice", "wrong password")[6..].to_owned());
    expected.push(("POST", "/api/v1.0/tokens", 401));
    // passwd through the daemon: the new password passes through it too.
    let new = server.passwd("alice");
    secrets.push(new.clone());
    assert!(server.stop().success());

    let log = server.log();
    let mut got = access_lines(&log);
    let mut want: Vec<(String, String, u16)> = expected
        .iter()
        .map(|(m, p, s)| (m.to_string(), p.to_string(), *s))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "access lines differ; log:\n{log}");
    // Each line ends with its endpoint's name from the route table, or `-`.
    let ending = |path: &str, status: u16| {
        log.lines()
            .filter(|l| l.contains("projetyd::access") && l.contains(&format!(" {path} {status} ")))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ending("/api/v1.0/users/1", 200), ["users.get"], "{log}");
    assert_eq!(ending("/nowhere", 404), ["-"], "{log}");
    assert_eq!(ending("/api/v1.0/users", 405), ["-"], "{log}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret {secret:?} is in the log:\n{log}"
        );
    }
    assert!(!log.contains("wrong password"), "{log}");
}

#[test]
fn no_secrets_even_at_trace_level() {
    let mut server = Daemon::new(&[]);
    server.rust_log = "trace".into();
    server.launch();
    let alice = server.adduser("alice");
    let token = server.token("alice", &alice);
    assert_eq!(server.get("/api/v1.0/users", Some(&token)).status, 200);
    assert_eq!(server.revoke(&token).status, 204);
    let new = server.passwd("alice");
    let other = server.token("alice", &new);
    assert!(server.stop().success());
    let log = server.log();
    for secret in [
        &alice,
        &new,
        &token,
        &other,
        &basic("alice", &alice)[6..].to_owned(),
        &basic("alice", &new)[6..].to_owned(),
    ] {
        assert!(!log.contains(secret.as_str()), "a secret is in the trace log");
    }
}
