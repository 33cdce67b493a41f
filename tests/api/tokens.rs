//! `POST /api/v1.0/tokens` and `DELETE /api/v1.0/tokens`: issue, expiry,
//! the lifetime cap, bad parameters, bad credentials, revocation, several
//! tokens per user.

use crate::common::{basic, bearer, unix_now, Daemon};

const NOT_AN_INTEGER: &str = "expiration parameter is not a positive integer of seconds";

#[test]
fn issue_returns_token_expiration_and_expires_at() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let before = unix_now();
    let response = server.login("alice", &password, "");
    let after = unix_now();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["expiration", "expires_at", "token"]);
    assert_eq!(body["expiration"], 600);
    let expires_at = body["expires_at"].as_u64().unwrap();
    assert!(
        (before + 600..=after + 600).contains(&expires_at),
        "expires_at {expires_at} not within [{}, {}]",
        before + 600,
        after + 600
    );
    // At least 256 random bits, base64url: 43 characters or more.
    let token = body["token"].as_str().unwrap();
    assert!(token.len() >= 43, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    // And it works.
    assert_eq!(server.get("/api/v1.0/users", Some(token)).status, 200);
}

#[test]
fn default_lifetime_follows_the_flag() {
    let server = Daemon::start(&["--token-lifetime", "42"]);
    let password = server.adduser("alice");
    let body = server.login("alice", &password, "").json();
    assert_eq!(body["expiration"], 42);
}

#[test]
fn short_expiration_is_refused_after_it_passes() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let short = server.login("alice", &password, "?expiration=2").json();
    assert_eq!(short["expiration"], 2);
    let short = short["token"].as_str().unwrap().to_owned();
    let long = server.token("alice", &password);
    assert_eq!(server.get("/api/v1.0/users", Some(&short)).status, 200);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let response = server.get("/api/v1.0/users", Some(&short));
    let message = response.assert_error(401, "authentication required");
    // An expired token gets the same answer as an unknown one.
    let unknown = server.get("/api/v1.0/users", Some(&"A".repeat(43)));
    assert_eq!(unknown.assert_error(401, "authentication required"), message);
    assert_eq!(server.get("/api/v1.0/users", Some(&long)).status, 200);
    // Revoking an expired token is refused like any invalid one.
    server.revoke(&short).assert_error(401, "authentication required");
}

#[test]
fn expiration_is_capped_by_the_server_maximum() {
    let server = Daemon::start(&["--max-token-lifetime", "100", "--token-lifetime", "50"]);
    let password = server.adduser("alice");
    for query in ["?expiration=1000", "?expiration=99999999999999999999999999"] {
        let before = unix_now();
        let response = server.login("alice", &password, query);
        assert_eq!(response.status, 200, "{query}: {response:?}");
        let body = response.json();
        assert_eq!(body["expiration"], 100, "{query}");
        let expires_at = body["expires_at"].as_u64().unwrap();
        assert!(
            (before + 100..=unix_now() + 100).contains(&expires_at),
            "{query}: {expires_at}"
        );
    }
    let body = server.login("alice", &password, "?expiration=100").json();
    assert_eq!(body["expiration"], 100);
    let body = server.login("alice", &password, "?expiration=99").json();
    assert_eq!(body["expiration"], 99);
    let body = server.login("alice", &password, "").json();
    assert_eq!(body["expiration"], 50);
}

#[test]
fn bad_expiration_is_a_400_naming_it() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    for value in ["abc", "0", "-1", "", "1.5", "%2B5", "+5", "5s", "00"] {
        let query = format!("?expiration={value}");
        let response = server.login("alice", &password, &query);
        let message = response.assert_error(400, "bad request");
        assert_eq!(message, NOT_AN_INTEGER, "{query}");
    }
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_401() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let wrong = server.login("alice", "not-the-password", "");
    let unknown = server.login("mallory", &password, "");
    let invalid_name = server.login("no:such user", &password, "");
    for response in [&wrong, &unknown, &invalid_name] {
        response.assert_error(401, "authentication required");
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, invalid_name.body);
    assert_eq!(
        wrong.header("www-authenticate"),
        unknown.header("www-authenticate")
    );
}

#[test]
fn missing_or_malformed_basic_credentials_are_401() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let no_header = server.call("POST", "/api/v1.0/tokens", &[], b"");
    no_header.assert_error(401, "authentication required");
    let alice_colonless = {
        use base64::Engine as _;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("alice{password}"));
        format!("Basic {creds}")
    };
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"Basic".to_vec(),
        b"Basic ".to_vec(),
        b"Basic !!!not base64!!!".to_vec(),
        alice_colonless.into_bytes(),
        b"Basic \xff\xfe\xfd".to_vec(),
        bearer("abc").into_bytes(),
        basic("alice", &password).replace("Basic ", "Basic").into_bytes(),
        // Past header::MAX_LEN (1 KiB), well within hyper's 16 KiB.
        [b"Basic ".as_slice(), &[b'A'; 8_000]].concat(),
    ];
    for value in &cases {
        let response = server.call("POST", "/api/v1.0/tokens", &[("Authorization", value)], b"");
        let shown = String::from_utf8_lossy(&value[..value.len().min(40)]).into_owned();
        assert_eq!(response.status, 401, "{shown:?}: {response:?}");
        response.assert_error(401, "authentication required");
    }
    // The malformed attempts did not lock alice out.
    assert_eq!(server.login("alice", &password, "").status, 200);
}

#[test]
fn every_login_issues_a_new_token_and_all_of_them_work() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let tokens: Vec<String> = (0..3).map(|_| server.token("alice", &password)).collect();
    let mut unique = tokens.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "tokens repeat: {tokens:?}");
    for token in &tokens {
        assert_eq!(server.get("/api/v1.0/users", Some(token)).status, 200);
    }
    let out = server.admin("users", &[]);
    assert!(out.status.success(), "{out:?}");
    let row = out.stdout.lines().find(|l| l.contains("alice")).unwrap();
    assert_eq!(row.split_whitespace().last(), Some("3"), "token count in {row:?}");
}

#[test]
fn delete_revokes_only_the_token_used() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let first = server.token("alice", &password);
    let second = server.token("alice", &password);
    let response = server.revoke(&first);
    assert_eq!(response.status, 204, "{response:?}");
    assert!(response.body.is_empty(), "{response:?}");
    assert!(
        matches!(response.header("content-length"), None | Some("0")),
        "{response:?}"
    );
    server
        .get("/api/v1.0/users", Some(&first))
        .assert_error(401, "authentication required");
    server.revoke(&first).assert_error(401, "authentication required");
    assert_eq!(server.get("/api/v1.0/users", Some(&second)).status, 200);
    assert_eq!(server.revoke(&second).status, 204);
    server
        .get("/api/v1.0/users", Some(&second))
        .assert_error(401, "authentication required");
}

#[test]
fn delete_without_a_token_is_401() {
    let server = Daemon::start(&[]);
    server
        .call("DELETE", "/api/v1.0/tokens", &[], b"")
        .assert_error(401, "authentication required");
    let password = server.adduser("alice");
    // Basic credentials are not a token.
    let response = server.call(
        "DELETE",
        "/api/v1.0/tokens",
        &[("Authorization", basic("alice", &password).as_bytes())],
        b"",
    );
    response.assert_error(401, "authentication required");
}
