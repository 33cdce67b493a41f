//! Issue #8 part 6: the smaller defects. `Host` is never reflected into
//! `Location` unless it is a well-formed host[:port]; HTTP/1.1 without a
//! Host, or with two, is a 400; `%+1` is not a percent escape; a JSON
//! array is not a body object; numeric parameters are strict and capped
//! alike; HEAD works on every GET route; Salt 503s name no internals.

use std::time::Duration;

use serde_json::json;

use crate::common::FakeMaster;
use crate::common::{bearer, Conn, Daemon, Ending};

fn salted() -> (FakeMaster, Daemon, String) {
    let fake = FakeMaster::start(&["m1"]).unwrap();
    let server = Daemon::start(&["--salt-config", fake.config.to_str().unwrap()]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    (fake, server, token)
}

/// Sends raw request bytes on a new connection; the response.
fn raw(server: &Daemon, bytes: &[u8]) -> crate::common::Response {
    let mut conn = Conn::open(server.addr());
    conn.send(bytes).unwrap();
    conn.read_response().unwrap()
}

#[test]
fn r8_location_is_built_only_from_a_valid_host() {
    let (_fake, server, token) = salted();
    let auth = bearer(&token);
    for (host, expect) in [
        ("evil.example/phish?", None),
        ("\"><script>", None),
        ("salt.example.org:8443", Some("http://salt.example.org:8443/api/")),
        ("[::1]:5000", Some("http://[::1]:5000/api/")),
    ] {
        let request = format!(
            "POST /api/v1.0/tasks/ping/m1 HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let response = raw(&server, request.as_bytes());
        assert_eq!(response.status, 202, "{host}: {response:?}");
        let location = response.header("location").unwrap();
        match expect {
            Some(prefix) => assert!(location.starts_with(prefix), "{host}: {location}"),
            None => assert!(
                location.starts_with(&format!("http://{}/api/", server.addr())),
                "{host} reflected: {location}"
            ),
        }
    }
}

#[test]
fn r8_http11_needs_exactly_one_host() {
    let server = Daemon::start(&[]);
    let none = raw(&server, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    none.assert_error(400, "bad request");
    let two = raw(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    );
    two.assert_error(400, "bad request");
    // HTTP/1.0 has no Host requirement.
    let old = raw(&server, b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(old.status, 200, "{old:?}");
}

#[test]
fn r8_parsing_is_strict_and_consistent() {
    let (_fake, server, token) = salted();
    let auth = bearer(&token);
    let headers = [("Authorization", auth.as_bytes())];
    // A sign is not a hex digit.
    let response = server.call("POST", "/api/v1.0/ping/%+1", &headers, b"");
    response.assert_error(404, "not found");
    // A JSON array is not the body object (serde would read it as fields).
    for body in [&br#"[["m1"]]"#[..], br#"["m1"]"#] {
        let response = server.call("POST", "/api/v1.0/ping", &headers, body);
        response.assert_error(400, "bad request");
    }
    // Oversize values are capped, as ?expiration= always was.
    let huge = "99999999999999999999999";
    let response = server.call(
        "POST",
        &format!("/api/v1.0/ping/m1?timeout={huge}"),
        &headers,
        b"",
    );
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json(), json!({"m1": true}));
    let accepted = server.call("POST", "/api/v1.0/tasks/ping/m1", &headers, b"");
    let location = accepted.header("location").unwrap();
    let path = &location[location.find("/api/").unwrap()..];
    let done = server.call("GET", &format!("{path}?wait={huge}"), &headers, b"");
    assert_eq!(done.status, 200, "{done:?}");
    let login = server.login("alice", "wrong", &format!("?expiration={huge}"));
    assert_eq!(login.status, 401);
    for bad in ["-1", "+5", "1.5", "", "%35"] {
        let response = server.call("POST", &format!("/api/v1.0/ping/m1?timeout={bad}"), &headers, b"");
        response.assert_error(400, "bad request");
        let response = server.call("GET", &format!("{path}?wait={bad}"), &headers, b"");
        response.assert_error(400, "bad request");
    }
}

#[test]
fn r8_head_works_on_every_get_route() {
    let (_fake, server, token) = salted();
    let auth = bearer(&token);
    for path in [
        "/healthz",
        "/api/v1.0/users",
        "/api/v1.0/users/1",
        "/api/v1.0/users/1/roles",
        "/api/v1.0/users/1/acls",
        "/api/v1.0/users/1/acls/1",
        "/api/v1.0/keys",
        "/api/v1.0/jobs",
    ] {
        let request =
            format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n");
        let mut conn = Conn::open(server.addr());
        conn.send(request.as_bytes()).unwrap();
        let Ending::Data(bytes) = conn.wait_close(Duration::from_secs(10)) else {
            panic!("{path}: no answer");
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("HTTP/1.1 200"), "{path}: {text}");
        assert!(
            text.ends_with("\r\n\r\n"),
            "{path}: a HEAD answer has no body: {text}"
        );
    }
    let response = server.call(
        "DELETE",
        "/api/v1.0/users",
        &[("Authorization", auth.as_bytes())],
        b"",
    );
    assert_eq!(response.header("allow"), Some("GET, HEAD, POST"));
}

#[test]
fn r8_a_key_removed_after_its_task_was_accepted_answers_as_the_sync_call() {
    let fake = FakeMaster::start(&["m1", "m2", "silent-1"]).unwrap();
    let server = Daemon::start(&[
        "--salt-config",
        fake.config.to_str().unwrap(),
        "--task-workers",
        "1",
        "--salt-gather-job-timeout",
        "1",
    ]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    let auth = bearer(&token);
    let post = |path: &str| server.call("POST", path, &[("Authorization", auth.as_bytes())], b"");
    // The only worker is busy with a minion that never answers for 5 s, so
    // m2's task waits in the queue while its key goes away.
    let busy = post("/api/v1.0/tasks/ping/silent-1?timeout=5");
    assert_eq!(busy.status, 202, "{busy:?}");
    let queued = post("/api/v1.0/tasks/ping/m2");
    assert_eq!(queued.status, 202, "{queued:?}");
    std::fs::remove_file(fake.config.parent().unwrap().join("pki/minions/m2")).unwrap();

    let path = queued.header("location").unwrap().split_once("/api/").unwrap().1;
    let done = server.get(&format!("/api/{path}?wait=60"), Some(&token));
    let sync = post("/api/v1.0/ping/m2");
    assert_eq!(sync.status, 404, "{sync:?}");
    assert_eq!(done.status, 404, "the task answers as the sync call: {done:?}");
    assert_eq!(done.json(), sync.json());
    // The busy one ends as a silent minion does.
    let path = busy.header("location").unwrap().split_once("/api/").unwrap().1;
    let busy = server.get(&format!("/api/{path}?wait=60"), Some(&token));
    assert_eq!((busy.status, busy.json()), (200, json!({"silent-1": false})));
}
