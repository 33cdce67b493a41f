//! Brute-force protection on `POST /api/v1.0/tokens`: after 5 failures for
//! a user name (or 20 from one address) further attempts get 429 with
//! `Retry-After` for a growing interval, a success resets, and everyone
//! else keeps being served while a guessing loop runs.
//!
//! The first block lasts 1 s, so a test must send its next attempt within
//! a second of the last failure; these are local requests that do no
//! hashing, far below that.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{basic, bearer, Conn, Response, TestServer};

/// Failures for one name before it is blocked (the daemon's policy).
const PER_USER: usize = 5;
/// Failures from one address before it is blocked.
const PER_ADDR: usize = 20;

fn login_from(server: &TestServer, from: IpAddr, user: &str, password: &str) -> Response {
    let mut conn = Conn::open_from(from, server.addr());
    conn.request(
        "POST",
        "/api/v1.0/tokens",
        &[
            ("Authorization", basic(user, password).as_bytes()),
            ("Connection", b"close"),
        ],
        b"",
    )
}

fn wrong_logins(server: &TestServer, user: &str, count: usize) {
    for i in 0..count {
        let response = server.login(user, &format!("wrong-{i}"), "");
        assert_eq!(response.status, 401, "attempt {i}: {response:?}");
    }
}

#[test]
fn five_failures_block_even_the_right_password_until_retry_after() {
    let server = TestServer::start(&[]);
    let password = server.adduser("alice");
    wrong_logins(&server, "alice", PER_USER);
    let response = server.login("alice", &password, "");
    let message = response.assert_error(429, "too many requests");
    assert!(message.contains("retry in"), "{message}");
    let wait = response.retry_after();
    assert!((1..=2).contains(&wait), "the first block is short: {response:?}");
    // Retrying as told works, and resets the count.
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(server.login("alice", &password, "").status, 200);
    wrong_logins(&server, "alice", PER_USER - 1);
    assert_eq!(server.login("alice", &password, "").status, 200);
}

#[test]
fn the_block_grows_with_further_failures() {
    let server = TestServer::start(&[]);
    let password = server.adduser("alice");
    wrong_logins(&server, "alice", PER_USER);
    let first = server.login("alice", "still-wrong", "");
    first.assert_error(429, "too many requests");
    std::thread::sleep(Duration::from_secs(first.retry_after()));
    // One more failure after the block: blocked again, for longer.
    wrong_logins(&server, "alice", 1);
    let second = server.login("alice", &password, "");
    second.assert_error(429, "too many requests");
    assert!(
        second.retry_after() > first.retry_after(),
        "{} s then {} s",
        first.retry_after(),
        second.retry_after()
    );
    std::thread::sleep(Duration::from_secs(second.retry_after()));
    assert_eq!(server.login("alice", &password, "").status, 200);
}

#[test]
fn a_blocked_name_does_not_block_other_users() {
    let server = TestServer::start(&[]);
    let alice = server.adduser("alice");
    let bob = server.adduser("bob");
    let alice_token = server.token("alice", &alice);
    wrong_logins(&server, "alice", PER_USER);
    server
        .login("alice", &alice, "")
        .assert_error(429, "too many requests");
    // Same address, other name: served.
    assert_eq!(server.login("bob", &bob, "").status, 200);
    // Another address, blocked name: still blocked.
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    login_from(&server, other, "alice", &alice).assert_error(429, "too many requests");
    // Tokens already issued keep working: the block is on logins only.
    assert_eq!(server.get("/api/v1.0/users", Some(&alice_token)).status, 200);
}

#[test]
fn many_names_from_one_address_block_that_address() {
    let server = TestServer::start(&[]);
    let password = server.adduser("alice");
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let bystander = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    // Each name fails once only: the address is what adds up.
    for i in 0..PER_ADDR {
        let response = login_from(&server, guesser, &format!("guess{i}"), "pw");
        assert_eq!(response.status, 401, "attempt {i}: {response:?}");
    }
    login_from(&server, guesser, "alice", &password).assert_error(429, "too many requests");
    assert_eq!(login_from(&server, bystander, "alice", &password).status, 200);
}

#[test]
fn a_guessing_loop_does_not_stop_service_for_others() {
    let server = Arc::new(TestServer::start(&[]));
    let alice = server.adduser("alice");
    let bob = server.adduser("bob");
    let token = server.token("alice", &alice);
    let guessing = Arc::new(AtomicBool::new(true));
    // Three guessers, each from its own address and with fresh names, stay
    // under both limits: every guess costs the daemon a full PBKDF2.
    let guessers: Vec<_> = (0..3u8)
        .map(|g| {
            let server = server.clone();
            std::thread::spawn(move || {
                let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 10 + g));
                (0..8)
                    .map(|i| login_from(&server, from, &format!("guess{g}x{i}"), "pw").status)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let watcher = {
        let guessing = guessing.clone();
        std::thread::spawn(move || {
            let statuses: Vec<Vec<u16>> = guessers.into_iter().map(|g| g.join().unwrap()).collect();
            guessing.store(false, Ordering::SeqCst);
            statuses
        })
    };
    let mut served = 0;
    let mut conn = server.conn();
    let auth = bearer(&token);
    while guessing.load(Ordering::SeqCst) {
        let response = conn.request(
            "GET",
            "/api/v1.0/users",
            &[("Authorization", auth.as_bytes())],
            b"",
        );
        assert_eq!(response.status, 200, "{response:?}");
        served += 1;
        if served == 5 {
            // A real login from another address gets through the hashing
            // queue the guessers keep full.
            let response = login_from(&server, IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1)), "bob", &bob);
            assert_eq!(response.status, 200, "{response:?}");
        }
    }
    for statuses in watcher.join().unwrap() {
        assert!(statuses.iter().all(|&s| s == 401), "guesses: {statuses:?}");
    }
    assert!(served > 0, "no request was served while guessing");
    eprintln!("{served} token requests served during 24 guesses");
}
