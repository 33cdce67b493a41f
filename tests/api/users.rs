//! `GET /api/v1.0/users` and `GET /api/v1.0/users/<id>`: the User shape,
//! the order, `last_seen_at`, 404s, and no password material anywhere.

use std::time::Duration;

use serde_json::Value;

use crate::common::Daemon;

/// Asserts `user` has exactly the contract's fields, with sane values.
fn assert_user_shape(user: &Value) {
    let object = user
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {user}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "_links",
            "created_at",
            "id",
            "last_seen_at",
            "nickname",
            "updated_at"
        ],
        "{user}"
    );
    let id = user["id"].as_u64().unwrap();
    assert!(user["nickname"].is_string(), "{user}");
    let created = user["created_at"].as_u64().unwrap();
    let updated = user["updated_at"].as_u64().unwrap();
    assert!(created <= updated, "{user}");
    assert!(
        user["last_seen_at"].is_null() || user["last_seen_at"].is_u64(),
        "{user}"
    );
    assert_eq!(
        user["_links"],
        serde_json::json!({"self": format!("/api/v1.0/users/{id}"), "tokens": "/api/v1.0/tokens"}),
        "{user}"
    );
}

/// No response body may carry password material.
fn assert_no_secrets(body: &[u8], passwords: &[&str]) {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    for word in ["password", "salt", "hash", "iterations", "pbkdf2"] {
        assert!(!text.contains(word), "{word:?} in {text}");
    }
    for password in passwords {
        assert!(
            !text.contains(&password.to_ascii_lowercase()),
            "a password in {text}"
        );
    }
}

#[test]
fn list_has_every_user_in_the_contract_shape() {
    let server = Daemon::start(&[]);
    let alice_pw = server.adduser("alice");
    let bob_pw = server.adduser("bob");
    let token = server.token("alice", &alice_pw);
    let response = server.get("/api/v1.0/users", Some(&token));
    assert_eq!(response.status, 200, "{response:?}");
    assert_no_secrets(&response.body, &[&alice_pw, &bob_pw]);
    let body = response.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "only \"users\": {body}");
    let users = body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{body}");
    for user in users {
        assert_user_shape(user);
    }
    let find = |name: &str| users.iter().find(|u| u["nickname"] == name).unwrap().clone();
    let (alice, bob) = (find("alice"), find("bob"));
    assert_ne!(alice["id"], bob["id"]);
    // alice logged in (and used her token); bob never did.
    assert!(alice["last_seen_at"].is_u64(), "{alice}");
    assert!(bob["last_seen_at"].is_null(), "{bob}");
}

#[test]
fn list_is_ordered_by_updated_at_then_nickname() {
    let server = Daemon::start(&[]);
    // Created in one burst: mostly the same second, so the names decide.
    let names = ["carol", "alice", "dave", "bob"];
    let mut passwords: Vec<String> = names.iter().map(|n| server.adduser(n)).collect();
    // A new password moves alice's updated_at past everyone else's.
    std::thread::sleep(Duration::from_millis(1100));
    passwords[1] = server.passwd("alice");
    let token = server.token("bob", &passwords[3]);
    let users = server.users(&token);
    let keys: Vec<(u64, String)> = users
        .iter()
        .map(|u| {
            (
                u["updated_at"].as_u64().unwrap(),
                u["nickname"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "not ordered by (updated_at, nickname)");
    assert_eq!(keys.last().unwrap().1, "alice", "{keys:?}");
    assert_eq!(keys.len(), 4);
}

#[test]
fn get_by_id_returns_the_same_user() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    server.adduser("bob");
    let token = server.token("alice", &password);
    for user in server.users(&token) {
        let path = user["_links"]["self"].as_str().unwrap().to_owned();
        let response = server.get(&path, Some(&token));
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert_no_secrets(&response.body, &[&password]);
        let one = response.json();
        assert_user_shape(&one);
        assert_eq!(one["id"], user["id"]);
        assert_eq!(one["nickname"], user["nickname"]);
        assert_eq!(one["created_at"], user["created_at"]);
    }
}

#[test]
fn unknown_or_non_numeric_id_is_404() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    for id in [
        "999",
        "0",
        "abc",
        "-1",
        "1.0",
        "+1",
        "1e3",
        "%2F1",
        "1%00",
        "%ff",
        "",
        "99999999999999999999999",
    ] {
        let path = format!("/api/v1.0/users/{id}");
        let response = server.get(&path, Some(&token));
        assert_eq!(response.status, 404, "{path}: {response:?}");
        response.assert_error(404, "not found");
    }
}

#[test]
fn users_endpoints_need_a_token() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    for path in [
        "/api/v1.0/users",
        "/api/v1.0/users/1",
        "/api/v1.0/users/999",
        "/api/v1.0/users/x",
    ] {
        server
            .get(path, None)
            .assert_error(401, "authentication required");
        server
            .get(path, Some("not-a-token"))
            .assert_error(401, "authentication required");
        // A password is not a token.
        server
            .get(path, Some(&password))
            .assert_error(401, "authentication required");
    }
}

#[test]
fn deleted_user_is_gone_from_the_api() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    server.adduser("bob");
    let token = server.token("alice", &password);
    let bob = server
        .users(&token)
        .into_iter()
        .find(|u| u["nickname"] == "bob")
        .unwrap();
    let path = bob["_links"]["self"].as_str().unwrap().to_owned();
    assert!(server.admin("deluser", &["bob"]).status.success());
    server.get(&path, Some(&token)).assert_error(404, "not found");
    let names: Vec<Value> = server
        .users(&token)
        .iter()
        .map(|u| u["nickname"].clone())
        .collect();
    assert_eq!(names, ["alice"]);
}

#[test]
fn health_needs_no_token() {
    let server = Daemon::start(&[]);
    let response = server.get("/healthz", None);
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["status"], "ok");
}
