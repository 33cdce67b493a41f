//! salt-api's surface without Salt: logging in (JSON, form and YAML
//! bodies), tokens from the header or the cookie, logout, `/token`,
//! `/run` with bad credentials, content negotiation, CORS by allow-list
//! (and the cookie refused cross-origin), the hosted UI, and a listener of
//! its own. What needs a master (lowstates, /minions, /jobs, /keys) is in
//! `saltapi_e2e`.

use std::net::TcpListener;

use serde_json::{json, Value};

use crate::common::{Daemon, Response};

/// A daemon with one user, `alice`, and her password.
fn server(args: &[&str]) -> (Daemon, String) {
    let server = Daemon::start(args);
    let password = server.adduser("alice");
    (server, password)
}

fn post(server: &Daemon, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    server.call("POST", path, &headers, body.as_bytes())
}

fn get(server: &Daemon, path: &str, headers: &[(&str, &str)]) -> Response {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    server.call("GET", path, &headers, b"")
}

/// The whole body as text.
fn text(response: &Response) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

fn json_login(server: &Daemon, user: &str, password: &str, eauth: &str) -> Response {
    let body = json!({"username": user, "password": password, "eauth": eauth}).to_string();
    post(
        server,
        "/login",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        &body,
    )
}

/// The token of a good login.
fn token(server: &Daemon, password: &str) -> String {
    let login = json_login(server, "alice", password, "projetyd");
    assert_eq!(login.status, 200, "{login:?}");
    login.json()["return"][0]["token"].as_str().unwrap().to_owned()
}

fn stats(server: &Daemon, headers: &[(&str, &str)]) -> Response {
    get(
        server,
        "/stats",
        &[&[("Accept", "application/json")], headers].concat(),
    )
}

#[test]
fn login_takes_json_form_and_yaml_and_answers_what_salt_api_does() {
    let (server, password) = server(&[]);
    let login = json_login(&server, "alice", &password, "projetyd");
    assert_eq!(login.status, 200, "{login:?}");
    let body = login.json();
    let ret = &body["return"][0];
    let token = ret["token"].as_str().unwrap();
    assert_eq!(login.header("x-auth-token"), Some(token));
    assert_eq!(ret["user"], "alice");
    assert_eq!(ret["eauth"], "projetyd");
    assert!(
        ret["expire"].as_f64().unwrap() > ret["start"].as_f64().unwrap(),
        "{body}"
    );
    assert!(ret["perms"].is_array(), "{body}");
    let cookie = login.header("set-cookie").unwrap();
    assert!(cookie.starts_with(&format!("session_id={token};")), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );

    let form = post(
        &server,
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ],
        &format!("username=alice&password={password}&eauth=projetyd"),
    );
    assert_eq!(form.status, 200, "{form:?}");
    let yaml = post(
        &server,
        "/login",
        &[
            ("Content-Type", "application/x-yaml"),
            ("Accept", "application/x-yaml"),
        ],
        &format!("username: alice\npassword: '{password}'\neauth: projetyd\n"),
    );
    assert_eq!(yaml.status, 200, "{yaml:?}");
    assert_eq!(yaml.header("content-type"), Some("application/x-yaml"));
    assert!(text(&yaml).contains("user: alice"), "{}", text(&yaml));
    // Three logins, three different tokens.
    let tokens = [
        token.to_owned(),
        form.header("x-auth-token").unwrap().to_owned(),
        yaml.header("x-auth-token").unwrap().to_owned(),
    ];
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2], "{tokens:?}");
    // And no password or token in the log.
    let log = server.log();
    assert!(!log.contains(&password) && !log.contains(token), "{log}");
}

#[test]
fn bad_logins_are_401_and_an_unknown_eauth_too() {
    let (server, password) = server(&[]);
    for (user, pass, eauth) in [
        ("alice", "not-her-password", "projetyd"),
        ("nobody", password.as_str(), "projetyd"),
        ("alice", password.as_str(), "pam"),
    ] {
        let login = json_login(&server, user, pass, eauth);
        assert_eq!(login.status, 401, "{user}/{eauth}: {login:?}");
        assert_eq!(login.json()["status"], 401, "{login:?}");
        assert!(login.header("set-cookie").is_none(), "{login:?}");
    }
    let missing = post(
        &server,
        "/login",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        r#"{"username": "alice"}"#,
    );
    assert!(matches!(missing.status, 400 | 401), "{missing:?}");
}

#[test]
fn a_token_works_from_the_header_or_the_cookie_until_logout() {
    let (server, password) = server(&[]);
    assert_eq!(stats(&server, &[]).status, 401);
    assert_eq!(stats(&server, &[("X-Auth-Token", "0000bad")]).status, 401);
    // SaltGUI sends an empty header before it logs in: no token.
    assert_eq!(stats(&server, &[("X-Auth-Token", "")]).status, 401);
    let token = token(&server, &password);
    let by_header = stats(&server, &[("X-Auth-Token", &token)]);
    assert_eq!(by_header.status, 200, "{by_header:?}");
    assert_eq!(by_header.header("cache-control"), Some("private"));
    let cookie = format!("session_id={token}");
    assert_eq!(stats(&server, &[("Cookie", &cookie)]).status, 200);

    let logout = post(
        &server,
        "/logout",
        &[("X-Auth-Token", &token), ("Accept", "application/json")],
        "",
    );
    assert_eq!(logout.status, 200, "{logout:?}");
    assert!(
        logout.header("set-cookie").unwrap().contains("Max-Age=0"),
        "{logout:?}"
    );
    assert_eq!(stats(&server, &[("X-Auth-Token", &token)]).status, 401);
    assert_eq!(stats(&server, &[("Cookie", &cookie)]).status, 401);
}

#[test]
fn token_and_run_check_credentials_in_the_body() {
    let (server, password) = server(&[]);
    let body = json!({"username": "alice", "password": password, "eauth": "projetyd"}).to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ];
    let issued = post(&server, "/token", &headers, &body);
    assert_eq!(issued.status, 200, "{issued:?}");
    let list = issued.json();
    let token = list[0]["token"].as_str().unwrap();
    assert_eq!(stats(&server, &[("X-Auth-Token", token)]).status, 200);
    let bad = json!({"username": "alice", "password": "wrong", "eauth": "projetyd"}).to_string();
    assert_eq!(post(&server, "/token", &headers, &bad).status, 401);

    // /run: a lowstate with bad credentials or a bad token is refused
    // before anything runs.
    let low = |creds: Value| {
        let mut low = json!({"client": "local", "tgt": "*", "fun": "test.ping"});
        low.as_object_mut()
            .unwrap()
            .extend(creds.as_object().unwrap().clone());
        json!([low]).to_string()
    };
    let wrong = post(
        &server,
        "/run",
        &headers,
        &low(json!({"username": "alice", "password": "wrong", "eauth": "projetyd"})),
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let bad_token = post(&server, "/run", &headers, &low(json!({"token": "0000bad"})));
    assert_eq!(bad_token.status, 401, "{bad_token:?}");
    let none = post(&server, "/run", &headers, &low(json!({})));
    assert_eq!(none.status, 401, "{none:?}");
}

#[test]
fn answers_are_json_or_yaml_and_anything_else_is_406() {
    let (server, password) = server(&[]);
    let token = token(&server, &password);
    let yaml = get(
        &server,
        "/stats",
        &[("X-Auth-Token", &token), ("Accept", "application/x-yaml")],
    );
    assert_eq!(yaml.status, 200);
    assert_eq!(yaml.header("content-type"), Some("application/x-yaml"));
    let png = get(
        &server,
        "/stats",
        &[("X-Auth-Token", &token), ("Accept", "image/png")],
    );
    assert_eq!(png.status, 406, "{png:?}");
    let welcome = get(&server, "/", &[("Accept", "application/json")]);
    assert_eq!(welcome.json()["return"], "Welcome");
    let clients = welcome.json()["clients"].clone();
    for client in [
        "local",
        "local_async",
        "local_batch",
        "local_subset",
        "runner",
        "wheel",
    ] {
        assert!(clients.as_array().unwrap().contains(&json!(client)), "{clients}");
    }
    // A body that is not a lowstate: 400 naming the problem, not a 500.
    let junk = post(
        &server,
        "/",
        &[
            ("X-Auth-Token", &token),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        r#"{"client": ["local"], "tgt": {"a": 1}}"#,
    );
    assert_eq!(junk.status, 400, "{junk:?}");
}

#[test]
fn cors_answers_allowed_origins_only_and_the_cookie_is_refused_cross_origin() {
    let (server, password) = server(&["--saltapi-cors-origin", "https://ui.example"]);
    let preflight = |origin: &str| {
        let headers: [(&str, &[u8]); 2] = [
            ("Origin", origin.as_bytes()),
            ("Access-Control-Request-Method", b"POST"),
        ];
        server.call("OPTIONS", "/login", &headers, b"")
    };
    let allowed = preflight("https://ui.example");
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://ui.example")
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    assert!(allowed
        .header("access-control-allow-headers")
        .unwrap()
        .contains("X-Auth-Token"));
    let other = preflight("https://evil.example");
    assert!(other.header("access-control-allow-origin").is_none(), "{other:?}");
    assert!(
        other.header("access-control-allow-methods").is_none(),
        "{other:?}"
    );

    let token = token(&server, &password);
    let cookie = format!("session_id={token}");
    let from = |origin: &str| stats(&server, &[("Cookie", &cookie), ("Origin", origin)]);
    let same = from("https://ui.example");
    assert_eq!(same.status, 200, "{same:?}");
    assert_eq!(
        same.header("access-control-allow-origin"),
        Some("https://ui.example")
    );
    // Another site's page making the browser send our cookie: refused.
    assert_eq!(from("https://evil.example").status, 401);
    // The header token is not sent by browsers on their own: it works
    // from anywhere, without CORS headers for an origin not allowed.
    let header = stats(
        &server,
        &[("X-Auth-Token", &token), ("Origin", "https://evil.example")],
    );
    assert_eq!(header.status, 200);
    assert!(header.header("access-control-allow-origin").is_none());
}

#[test]
fn a_web_ui_is_hosted_as_rest_cherrypy_hosts_it() {
    let ui = tempfile::tempdir().unwrap();
    let static_dir = ui.path().join("static");
    std::fs::create_dir(&static_dir).unwrap();
    std::fs::write(ui.path().join("index.html"), "<html>the UI</html>").unwrap();
    std::fs::write(static_dir.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(ui.path().join("secret.txt"), "not for you").unwrap();
    std::os::unix::fs::symlink(ui.path().join("secret.txt"), static_dir.join("link.txt")).unwrap();
    let (app, dir) = (
        ui.path().join("index.html").to_string_lossy().into_owned(),
        static_dir.to_string_lossy().into_owned(),
    );
    let (server, _) = server(&["--saltapi-app", &app, "--saltapi-static", &dir]);

    let page = get(&server, "/app", &[]);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.header("content-type").unwrap().starts_with("text/html"),
        "{page:?}"
    );
    assert_eq!(text(&page), "<html>the UI</html>");
    // SaltGUI's routes (/app/login...) are the app too.
    assert_eq!(text(&get(&server, "/app/login", &[])), "<html>the UI</html>");
    let script = get(&server, "/static/app.js", &[]);
    assert_eq!(script.status, 200, "{script:?}");
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    for escape in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/link.txt",
        "/static/",
    ] {
        let refused = get(&server, escape, &[]);
        assert_eq!(refused.status, 404, "{escape}: {refused:?}");
        assert!(!text(&refused).contains("not for you"), "{escape}");
    }
    // A browser asking HTML of the API's root gets the app, an API client
    // the welcome document.
    let html = get(&server, "/", &[("Accept", "text/html,application/xhtml+xml")]);
    assert_eq!(text(&html), "<html>the UI</html>");
    let api = get(&server, "/", &[("Accept", "application/json")]);
    assert_eq!(api.json()["return"], "Welcome");
}

#[test]
fn salt_apis_surface_can_have_a_listener_of_its_own() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let own = format!("127.0.0.1:{port}");
    let (server, password) = server(&["--saltapi-listen", &own]);
    let call = |path: &str, body: &str| {
        let mut conn = crate::common::Conn::open(own.parse().unwrap());
        let headers: [(&str, &[u8]); 2] = [
            ("Content-Type", b"application/json"),
            ("Accept", b"application/json"),
        ];
        conn.send(&crate::common::request_bytes(
            "POST",
            path,
            &headers,
            body.as_bytes(),
            true,
        ))
        .unwrap();
        conn.read_response().unwrap()
    };
    let body = json!({"username": "alice", "password": password, "eauth": "projetyd"}).to_string();
    let login = call("/login", &body);
    assert_eq!(login.status, 200, "{login:?}");
    // The v1.0 API is not on salt-api's listener...
    assert_eq!(call("/api/v1.0/tokens", "").status, 404);
    // ...and salt-api's paths are not on the main one any more.
    assert_eq!(json_login(&server, "alice", &password, "projetyd").status, 404);
    assert_eq!(server.get("/healthz", None).status, 200);
}
