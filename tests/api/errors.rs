//! The error contract: JSON `{status, error, message}` with the api.md
//! phrases, 404 for unknown paths, 405 with `Allow`, 413 past the body
//! limit, and hostile `Authorization` values answered with a plain 401.

use crate::common::{bearer, request_bytes, Daemon};

#[test]
fn unknown_paths_are_404_json() {
    // Without salt-api's surface, whose paths are at the root.
    let server = Daemon::start(&["--no-saltapi"]);
    for path in [
        "/",
        "/api",
        "/api/v1.0",
        "/api/v1.0/",
        "/api/v1.0/nope",
        "/api/v2.0/users",
        "/api/v1.0/users/1/tokens",
        "/healthz/",
        "/API/V1.0/USERS",
        "/api/v1.0/tokens/x",
    ] {
        for method in ["GET", "POST", "DELETE"] {
            let response = server.call(method, path, &[], b"");
            let message = response.assert_error(404, "not found");
            assert_eq!(message, "invalid resource URI", "{method} {path}");
        }
    }
    // With it (the default), `/` is salt-api's welcome, and the v1.0
    // paths still answer 404 in the v1.0 shape.
    let server = Daemon::start(&[]);
    let welcome = server.call("GET", "/", &[], b"");
    assert_eq!(welcome.status, 200, "{welcome:?}");
    let body: serde_json::Value = serde_json::from_slice(&welcome.body).unwrap();
    assert_eq!(body["return"], "Welcome");
    assert!(body["clients"].as_array().unwrap().contains(&"local".into()));
    let message = server
        .call("GET", "/api/v1.0/nope", &[], b"")
        .assert_error(404, "not found");
    assert_eq!(message, "invalid resource URI");
}

#[test]
fn known_path_with_wrong_method_is_405_with_allow() {
    // GET routes answer HEAD too (issue #8 part 6).
    let server = Daemon::start(&[]);
    let cases = [
        ("PUT", "/api/v1.0/users", "GET, HEAD, POST"),
        ("DELETE", "/api/v1.0/users", "GET, HEAD, POST"),
        ("PUT", "/api/v1.0/users/1", "GET, HEAD, DELETE"),
        ("PATCH", "/api/v1.0/users/1", "GET, HEAD, DELETE"),
        ("GET", "/api/v1.0/users/1/password", "POST"),
        ("DELETE", "/api/v1.0/users/1/roles", "GET, HEAD, POST"),
        ("POST", "/api/v1.0/users/1/roles/1", "GET, HEAD, PUT, DELETE"),
        ("DELETE", "/api/v1.0/users/1/acls", "GET, HEAD, POST"),
        ("POST", "/api/v1.0/users/1/acls/1", "GET, HEAD, PUT, DELETE"),
        ("GET", "/api/v1.0/tokens", "POST, DELETE"),
        ("PUT", "/api/v1.0/tokens", "POST, DELETE"),
        ("POST", "/healthz", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = server.call(method, path, &[], b"");
        response.assert_error(405, "method not supported");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
    }
}

#[test]
fn every_401_carries_the_bearer_realm() {
    let server = Daemon::start(&[]);
    let requests: [(&str, &str); 17] = [
        ("POST", "/api/v1.0/tokens"),
        ("DELETE", "/api/v1.0/tokens"),
        ("GET", "/api/v1.0/users"),
        ("GET", "/api/v1.0/users/1"),
        ("POST", "/api/v1.0/users"),
        ("DELETE", "/api/v1.0/users/1"),
        ("POST", "/api/v1.0/users/1/password"),
        ("GET", "/api/v1.0/users/1/roles"),
        ("POST", "/api/v1.0/users/1/roles"),
        ("GET", "/api/v1.0/users/1/roles/1"),
        ("PUT", "/api/v1.0/users/1/roles/1"),
        ("DELETE", "/api/v1.0/users/1/roles/1"),
        ("GET", "/api/v1.0/users/1/acls"),
        ("POST", "/api/v1.0/users/1/acls"),
        ("GET", "/api/v1.0/users/1/acls/1"),
        ("PUT", "/api/v1.0/users/1/acls/1"),
        ("DELETE", "/api/v1.0/users/1/acls/1"),
    ];
    for (method, path) in requests {
        // assert_error checks the WWW-Authenticate header of every 401.
        server
            .call(method, path, &[], b"")
            .assert_error(401, "authentication required");
    }
}

#[test]
fn body_over_the_limit_is_413_with_content_length() {
    let server = Daemon::start(&["--body-limit", "1024"]);
    // The declared length alone is enough: the body need not be sent.
    let mut conn = server.conn();
    conn.send(b"POST /api/v1.0/tokens HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1025\r\n\r\n")
        .unwrap();
    let response = conn.read_response().unwrap();
    let message = response.assert_error(413, "payload too large");
    assert!(message.contains("1024"), "{message}");

    // A body that fits is read and goes on to authentication.
    let response = server.call("POST", "/api/v1.0/tokens", &[], &[b'x'; 1024]);
    response.assert_error(401, "authentication required");
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let server = Daemon::start(&["--body-limit", "1024"]);
    let mut conn = server.conn();
    let mut request = b"POST /api/v1.0/tokens HTTP/1.1\r\nHost: localhost\r\n\
        Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..4 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b'x'; 0x200]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may close before reading it all; what matters is the answer.
    let _ = conn.send(&request);
    let response = conn.read_response().unwrap();
    response.assert_error(413, "payload too large");

    // Under the limit, chunked is fine.
    let mut conn = server.conn();
    conn.send(
        b"POST /api/v1.0/tokens HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
        Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
    )
    .unwrap();
    conn.read_response()
        .unwrap()
        .assert_error(401, "authentication required");
}

#[test]
fn hostile_bearer_values_are_401() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer      ".to_vec(),
        format!("Bearer{token}").into_bytes(),
        format!("Bearer {token} extra").into_bytes(),
        format!("Bearer {} {}", &token[..10], &token[10..]).into_bytes(),
        format!("Bearer {token}x").into_bytes(),
        format!("Bearer {}", &token[..token.len() - 1]).into_bytes(),
        format!("Basic {token}").into_bytes(),
        format!("Token {token}").into_bytes(),
        token.clone().into_bytes(),
        b"Bearer \xff\xfe\xfd\xfc".to_vec(),
        [format!("Bearer {token}").as_bytes(), b"\xff"].concat(),
        "Bearer é".as_bytes().to_vec(),
        [b"Bearer ".as_slice(), &[b'A'; 8 * 1024]].concat(),
    ];
    // Past the 16 KiB header bound (issue #8 part 4) hyper answers 431
    // before any authentication.
    let huge = [b"Bearer ".as_slice(), &[b'A'; 64 * 1024]].concat();
    let response = server.call("GET", "/api/v1.0/users", &[("Authorization", &huge)], b"");
    assert_eq!(response.status, 431, "{response:?}");
    for value in &cases {
        let response = server.call("GET", "/api/v1.0/users", &[("Authorization", value)], b"");
        let shown = String::from_utf8_lossy(&value[..value.len().min(60)]).into_owned();
        assert_eq!(response.status, 401, "{shown:?}: {response:?}");
        response.assert_error(401, "authentication required");
    }
    // Two Authorization headers: refused, not guessed at.
    let response = server.call(
        "GET",
        "/api/v1.0/users",
        &[
            ("Authorization", b"Bearer nope"),
            ("Authorization", bearer(&token).as_bytes()),
        ],
        b"",
    );
    response.assert_error(401, "authentication required");
    // The real token, with lenient spacing, still works: nothing above broke it.
    for value in [
        bearer(&token),
        format!("Bearer   {token}  "),
        format!("bearer {token}"),
    ] {
        let response = server.call(
            "GET",
            "/api/v1.0/users",
            &[("Authorization", value.as_bytes())],
            b"",
        );
        assert_eq!(response.status, 200, "{value:?}: {response:?}");
    }
}

#[test]
fn huge_headers_are_refused_without_harm() {
    let mut server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    // Past hyper's header buffer (about 400 KiB): hyper itself answers 431
    // (with an empty body, not the JSON shape) and closes; the client may
    // also see the close before the answer, having not finished sending.
    let huge = [b"Bearer ".as_slice(), &vec![b'A'; 1024 * 1024]].concat();
    let mut conn = server.conn();
    let _ = conn.send(&request_bytes(
        "GET",
        "/api/v1.0/users",
        &[("Authorization", &huge)],
        b"",
        true,
    ));
    match conn.read_response() {
        Ok(response) => assert_eq!(response.status, 431, "{response:?}"),
        Err(err) => eprintln!("huge header: connection closed without an answer ({err})"),
    }
    // Many headers.
    let many: Vec<(String, Vec<u8>)> = (0..500)
        .map(|i| (format!("X-Filler-{i}"), b"x".to_vec()))
        .collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let mut conn = server.conn();
    let _ = conn.send(&request_bytes("GET", "/api/v1.0/users", &many, b"", true));
    match conn.read_response() {
        Ok(response) => assert_eq!(response.status, 431, "{response:?}"),
        Err(err) => eprintln!("many headers: connection closed without an answer ({err})"),
    }
    // The daemon is unharmed.
    assert!(server.is_running());
    assert_eq!(server.get("/api/v1.0/users", Some(&token)).status, 200);
}

#[test]
fn malformed_requests_do_not_hurt_the_daemon() {
    let mut server = Daemon::start(&[]);
    for garbage in [
        b"NOT HTTP AT ALL\r\n\r\n".as_slice(),
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"\x00\x01\x02\xff\r\n\r\n",
    ] {
        let mut conn = server.conn();
        let _ = conn.send(garbage);
        if let Ok(response) = conn.read_response() {
            assert!(
                (400..500).contains(&response.status) || response.status == 505,
                "{:?}: {response:?}",
                String::from_utf8_lossy(garbage)
            );
        }
    }
    assert!(server.is_running());
    assert_eq!(server.get("/healthz", None).status, 200);
}
