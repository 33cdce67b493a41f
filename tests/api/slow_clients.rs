//! Slow clients are cut off: headers or a body dribbled in cannot hold a
//! connection past `--header-timeout` / `--body-timeout`.
//!
//! The waits below are upper bounds against a hang, not speed targets; the
//! only lower bound checked is that the server does not cut a client off
//! before its timeout has even started to matter.

use std::time::{Duration, Instant};

use crate::common::{basic, parse_response, Daemon, Ending};

const CUT_OFF_WITHIN: Duration = Duration::from_secs(20);

#[test]
fn half_sent_headers_are_cut_off_after_the_header_timeout() {
    let server = Daemon::start(&["--header-timeout", "1"]);
    let mut conn = server.conn();
    let started = Instant::now();
    conn.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .unwrap();
    let ending = conn.wait_close(CUT_OFF_WITHIN);
    let elapsed = started.elapsed();
    match ending {
        Ending::Closed => {}
        // hyper may say 408 before closing; it must still close.
        Ending::Data(bytes) => assert_eq!(parse_response(&bytes).status, 408),
        Ending::StillOpen => panic!("still open after {CUT_OFF_WITHIN:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(500),
        "cut off before the timeout: {elapsed:?}"
    );
    // Others are served meanwhile and after.
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn a_silent_connection_is_cut_off_too() {
    let server = Daemon::start(&["--header-timeout", "1"]);
    let mut conn = server.conn();
    match conn.wait_close(CUT_OFF_WITHIN) {
        Ending::Closed => {}
        Ending::Data(bytes) => assert_eq!(parse_response(&bytes).status, 408),
        Ending::StillOpen => panic!("an idle connection stayed open for {CUT_OFF_WITHIN:?}"),
    }
}

#[test]
fn headers_dribbled_byte_by_byte_are_cut_off() {
    let server = Daemon::start(&["--header-timeout", "1"]);
    let mut conn = server.conn();
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let deadline = Instant::now() + CUT_OFF_WITHIN;
    let mut cut = false;
    // One byte every 200 ms: the whole head would take over 20 s.
    for byte in request {
        if conn.send(&[*byte]).is_err() {
            cut = true;
            break;
        }
        if let Ending::Closed | Ending::Data(_) = conn.wait_close(Duration::from_millis(200)) {
            cut = true;
            break;
        }
        assert!(Instant::now() < deadline, "never cut off");
    }
    assert!(cut, "the whole dribbled head was accepted");
}

#[test]
fn body_dribbled_slower_than_the_body_timeout_gets_408_or_is_closed() {
    let server = Daemon::start(&["--body-timeout", "1"]);
    let password = server.adduser("alice");
    let mut conn = server.conn();
    let head = format!(
        "POST /api/v1.0/tokens HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\
         Content-Length: 100\r\n\r\n",
        basic("alice", &password)
    );
    conn.send(head.as_bytes()).unwrap();
    let deadline = Instant::now() + CUT_OFF_WITHIN;
    let ending = loop {
        // One byte every 300 ms: the body would take 30 s.
        if conn.send(b"x").is_err() {
            break conn.wait_close(CUT_OFF_WITHIN);
        }
        match conn.wait_close(Duration::from_millis(300)) {
            Ending::StillOpen => {}
            ending => break ending,
        }
        assert!(Instant::now() < deadline, "a dribbled body held the connection");
    };
    match ending {
        Ending::Data(bytes) => {
            parse_response(&bytes).assert_error(408, "request timeout");
        }
        Ending::Closed => {}
        Ending::StillOpen => panic!("still open"),
    }
    // No token was issued for the unfinished request.
    assert_eq!(server.login("alice", &password, "").status, 200);
}

#[test]
fn a_body_that_never_comes_gets_408() {
    let server = Daemon::start(&["--body-timeout", "1"]);
    let mut conn = server.conn();
    conn.send(b"POST /api/v1.0/tokens HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let response = conn.read_response().unwrap();
    response.assert_error(408, "request timeout");
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(conn.wait_close(CUT_OFF_WITHIN), Ending::Closed);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = Daemon::start(&["--header-timeout", "1"]);
    let mut conn = server.conn();
    assert_eq!(conn.request("GET", "/healthz", &[], b"").status, 200);
    // No next request: the connection must not be kept forever.
    assert_eq!(conn.wait_close(CUT_OFF_WITHIN), Ending::Closed);
}

#[test]
fn idle_connections_cannot_starve_others_at_the_connection_limit() {
    let server = Daemon::start(&["--header-timeout", "1", "--max-connections", "2"]);
    // Two silent clients take every connection slot...
    let mut hogs = vec![server.conn(), server.conn()];
    // ...yet a third client is served once the timeout frees a slot.
    assert_eq!(server.get("/healthz", None).status, 200);
    for hog in &mut hogs {
        assert_eq!(hog.wait_close(CUT_OFF_WITHIN), Ending::Closed);
    }
}
