//! CORS on the v1.0 surface: preflights and answers for the origins
//! `--cors-origin` allows, nothing for others, nothing when none is set
//! (docs/api.md, CORS).

use crate::common::{Daemon, Response};

const UI: &str = "https://ui.example.org";

fn preflight(server: &Daemon, path: &str, origin: &str, method: &str) -> Response {
    let headers: [(&str, &[u8]); 3] = [
        ("Origin", origin.as_bytes()),
        ("Access-Control-Request-Method", method.as_bytes()),
        ("Access-Control-Request-Headers", b"authorization"),
    ];
    server.call("OPTIONS", path, &headers, b"")
}

fn get_from(server: &Daemon, path: &str, origin: &str, token: &str) -> Response {
    let bearer = format!("Bearer {token}");
    let headers: [(&str, &[u8]); 2] = [
        ("Origin", origin.as_bytes()),
        ("Authorization", bearer.as_bytes()),
    ];
    server.call("GET", path, &headers, b"")
}

#[test]
fn an_allowed_origin_gets_a_preflight_and_readable_answers() {
    let server = Daemon::start(&["--cors-origin", UI]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);

    let ok = preflight(&server, "/api/v1.0/users/1", UI, "DELETE");
    assert_eq!(ok.status, 204, "{ok:?}");
    assert_eq!(ok.header("access-control-allow-origin"), Some(UI));
    assert_eq!(
        ok.header("access-control-allow-methods"),
        Some("GET, HEAD, DELETE")
    );
    let allowed_headers = ok.header("access-control-allow-headers").unwrap();
    assert!(allowed_headers.contains("Authorization"), "{allowed_headers}");
    assert!(allowed_headers.contains("Content-Type"), "{allowed_headers}");
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    assert_eq!(ok.header("vary"), Some("Origin"));
    // Bearer tokens, never cookies: credentials are not allowed.
    assert_eq!(ok.header("access-control-allow-credentials"), None);

    let wrong_method = preflight(&server, "/api/v1.0/users/1", UI, "PATCH");
    assert_eq!(wrong_method.status, 405, "{wrong_method:?}");
    assert_eq!(wrong_method.header("allow"), Some("GET, HEAD, DELETE"));

    let answer = get_from(&server, "/api/v1.0/users", UI, &token);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(UI));
    let exposed = answer.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("Location"), "{exposed}");
    assert!(exposed.contains("Retry-After"), "{exposed}");
    // Errors are readable too: a page can show why it was refused.
    let refused = get_from(&server, "/api/v1.0/users", UI, "not-a-token");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(UI));
    let missing = get_from(&server, "/api/v1.0/nothing-here", UI, &token);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("access-control-allow-origin"), Some(UI));
}

#[test]
fn other_origins_and_an_unset_list_get_no_cors_headers() {
    let server = Daemon::start(&["--cors-origin", UI]);
    let password = server.adduser("alice");
    let token = server.token("alice", &password);
    let evil = "https://evil.example.org";
    let refused = preflight(&server, "/api/v1.0/users", evil, "GET");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    assert_eq!(refused.json()["error"], "forbidden");
    let answer = get_from(&server, "/api/v1.0/users", evil, &token);
    // The call itself is served (a token is not a cookie a browser sends
    // on its own); the browser keeps its answer from the page.
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), None);
    // A preflight for a path the API does not have is a 404.
    assert_eq!(preflight(&server, "/api/v1.0/nothing", UI, "GET").status, 404);

    let closed = Daemon::start(&[]);
    assert_eq!(preflight(&closed, "/api/v1.0/users", UI, "GET").status, 403);
    let password = closed.adduser("alice");
    let token = closed.token("alice", &password);
    let answer = get_from(&closed, "/api/v1.0/users", UI, &token);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

#[test]
fn any_origin_is_answered_with_a_star() {
    let server = Daemon::start(&["--cors-origin", "*"]);
    let ok = preflight(&server, "/api/v1.0/tokens", "https://anyone.example", "POST");
    assert_eq!(ok.status, 204, "{ok:?}");
    assert_eq!(ok.header("access-control-allow-origin"), Some("*"));
    assert_eq!(ok.header("vary"), None);
}
