//! `GET /events` and `POST /hook` without Salt: who is turned away before
//! anything is streamed or fired.

use crate::common::Daemon;

#[test]
fn events_need_a_valid_token() {
    let server = Daemon::start(&[]);
    let none = server.call("GET", "/events", &[], b"");
    assert_eq!(none.status, 401, "{none:?}");
    let bad = server.call("GET", "/events?token=nope", &[], b"");
    assert_eq!(bad.status, 401, "{bad:?}");
    let bad_header = server.call("GET", "/events", &[("X-Auth-Token", b"nope")], b"");
    assert_eq!(bad_header.status, 401, "{bad_header:?}");
    let bad_cookie = server.call("GET", "/events", &[("Cookie", b"session_id=nope")], b"");
    assert_eq!(bad_cookie.status, 401, "{bad_cookie:?}");
}

#[test]
fn without_salt_a_valid_token_gets_503() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    let events = server.call("GET", &format!("/events?token={token}"), &[], b"");
    assert_eq!(events.status, 503, "{events:?}");
    let hook = server.call(
        "POST",
        "/hook/a/b",
        &[
            ("X-Auth-Token", token.as_bytes()),
            ("Content-Type", b"application/json"),
        ],
        b"{}",
    );
    assert_eq!(hook.status, 503, "{hook:?}");
}

#[test]
fn hooks_need_a_token_and_a_clean_path() {
    let server = Daemon::start(&[]);
    let none = server.call("POST", "/hook/e2e/ping", &[], b"{}");
    assert_eq!(none.status, 401, "{none:?}");
    let bad = server.call("POST", "/hook", &[("X-Auth-Token", b"nope")], b"{}");
    assert_eq!(bad.status, 401, "{bad:?}");
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    for path in ["/hook/a%2F..%2Fb", "/hook/a%20b", "/hook/a/%2E%2E/b", "/hook/x*"] {
        let refused = server.call("POST", path, &[("X-Auth-Token", token.as_bytes())], b"{}");
        assert_eq!(refused.status, 400, "{path}: {refused:?}");
    }
    let get = server.call("GET", "/hook", &[("X-Auth-Token", token.as_bytes())], b"");
    assert_eq!(get.status, 405, "{get:?}");
}

#[test]
fn hook_without_auth_lets_anyone_through_to_salt() {
    let server = Daemon::start(&["--no-salt", "--saltapi-hook-without-auth"]);
    // Past authentication: without Salt, the fire itself is what fails.
    let hook = server.call("POST", "/hook/ci/done", &[], b"{}");
    assert_eq!(hook.status, 503, "{hook:?}");
    let bad = server.call("POST", "/hook/..", &[], b"{}");
    assert_eq!(bad.status, 400, "{bad:?}");
    let events = server.call("GET", "/events", &[], b"");
    assert_eq!(events.status, 401, "the stream still needs a token: {events:?}");
}
