//! `GET /metrics`: the OpenMetrics page, what it counts, and who may read
//! it (loopback without a token by default; elsewhere an admin's token).

use std::collections::HashMap;

use crate::common::{admin_and_bob, Daemon, Response};

fn metrics(server: &Daemon, token: Option<&str>) -> Response {
    server.get("/metrics", token)
}

/// The samples of an OpenMetrics page, `name{labels}` → value, after
/// checking its framing: `# HELP`/`# TYPE`/`# UNIT` comments, sample lines
/// of a name, optional labels and a number, and `# EOF` last.
fn samples(page: &str) -> HashMap<String, f64> {
    let lines: Vec<&str> = page.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "{page}");
    let mut out = HashMap::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap();
            assert!(["HELP", "TYPE", "UNIT"].contains(&kind), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.starts_with("projetyd_") && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line}");
        }
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(out.insert(series.to_owned(), value).is_none(), "repeated: {line}");
    }
    out
}

#[test]
fn the_page_counts_requests_logins_connections_and_the_store() {
    let server = Daemon::start(&[]);
    let password = server.adduser("alice");
    let _token = server.token("alice", &password);
    assert_eq!(server.login("alice", "wrong", "").status, 401);
    assert_eq!(server.get("/api/v1.0/nothing", None).status, 404);

    let page = metrics(&server, None);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{page:?}"
    );
    let text = String::from_utf8(page.body.clone()).unwrap();
    let found = samples(&text);
    let get = |series: &str| {
        found
            .get(series)
            .copied()
            .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
    };
    assert_eq!(get(r#"projetyd_logins_total{result="ok"}"#), 1.0);
    assert_eq!(get(r#"projetyd_logins_total{result="refused"}"#), 1.0);
    assert_eq!(
        get(r#"projetyd_http_requests_total{endpoint="tokens.create",status="200"}"#),
        1.0
    );
    assert_eq!(
        get(r#"projetyd_http_requests_total{endpoint="tokens.create",status="401"}"#),
        1.0
    );
    assert_eq!(
        get(r#"projetyd_http_requests_total{endpoint="-",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(r#"projetyd_http_request_duration_seconds_count{endpoint="tokens.create"}"#),
        2.0
    );
    assert!(get(r#"projetyd_http_request_duration_seconds_sum{endpoint="tokens.create"}"#) > 0.0);
    // This request's own connection is open.
    assert!(get("projetyd_http_connections") >= 1.0);
    assert!(get("projetyd_store_size_bytes") > 0.0);
    assert_eq!(get("projetyd_tasks_queued"), 0.0);
    assert_eq!(get("projetyd_tasks_running"), 0.0);

    // The page itself is counted on the next one.
    let again = String::from_utf8(metrics(&server, None).body).unwrap();
    assert_eq!(
        samples(&again)[r#"projetyd_http_requests_total{endpoint="metrics",status="200"}"#],
        1.0
    );
}

#[test]
fn an_address_not_listed_needs_an_admins_token() {
    // Loopback is not listed here: the test's requests stand for a remote
    // scraper's.
    let (server, alice, bob) = admin_and_bob(&["--metrics-from", "192.0.2.0/24"]);
    assert_eq!(metrics(&server, None).status, 401);
    assert_eq!(metrics(&server, Some("not-a-token")).status, 401);
    let refused = metrics(&server, Some(&bob));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.json()["error"], "forbidden");
    assert_eq!(metrics(&server, Some(&alice)).status, 200);
}
