//! Asynchronous pings end to end, against the real Salt lab (see
//! `salt_e2e` for how the lab is given): 202 → 202… → the synchronous
//! answer, recovery after `kill -9`, queue limits, retention, long-polling,
//! listing. Issue #4.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::http::Response;
use crate::common::lab::{post, Lab};
use crate::common::{bearer, Daemon};

/// The status path of a 202's `Location`, checked for shape.
fn status_path(response: &Response) -> String {
    assert_eq!(response.status, 202, "{response:?}");
    assert!(response.body.is_empty(), "{response:?}");
    assert_eq!(response.header("access-control-expose-headers"), Some("Location"));
    let location = response.header("location").expect("a Location header");
    let rest = location.strip_prefix("http://").expect("an absolute http URL");
    let path = &rest[rest.find('/').expect("a path")..];
    assert!(path.starts_with("/api/v1.0/tasks/status/"), "{location}");
    path.to_owned()
}

fn get(server: &Daemon, path: &str, token: &str) -> Response {
    server.call("GET", path, &[("Authorization", bearer(token).as_bytes())], b"")
}

/// Polls a status path until it is no longer 202 (panics after `within`).
fn poll(server: &Daemon, path: &str, token: &str, within: Duration) -> Response {
    let start = Instant::now();
    loop {
        let response = get(server, path, token);
        if response.status != 202 {
            return response;
        }
        assert_eq!(response.header("location").map(|l| l.ends_with(path)), Some(true));
        assert!(
            start.elapsed() < within,
            "{path} still 202 after {within:?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn async_ping_one_and_list_end_like_the_sync_call() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    let path = status_path(&post(&server, "/api/v1.0/tasks/ping/minion-1", &token, b""));
    let done = poll(&server, &path, &token, Duration::from_secs(30));
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.json(), json!({"minion-1": true}));
    // Finished answers stay.
    assert_eq!(get(&server, &path, &token).json(), json!({"minion-1": true}));

    let body = br#"{"target": ["minion-2", "minion-3", "ghost"]}"#;
    for route in ["/api/v1.0/tasks/ping", "/api/v1.0/tasksping"] {
        let path = status_path(&post(&server, route, &token, body));
        let done = poll(&server, &path, &token, Duration::from_secs(30));
        assert_eq!(
            done.json(),
            json!({"minion-2": true, "minion-3": true}),
            "{route}"
        );
    }
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn bad_requests_get_their_answer_before_any_task() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    post(&server, "/api/v1.0/tasks/ping/ghost", &token, b"").assert_error(404, "not found");
    post(&server, "/api/v1.0/tasks/ping/minion-*", &token, b"").assert_error(404, "not found");
    post(
        &server,
        "/api/v1.0/tasks/ping",
        &token,
        br#"{"target": ["ghost"]}"#,
    )
    .assert_error(404, "not found");
    post(&server, "/api/v1.0/tasks/ping", &token, b"{").assert_error(400, "bad request");
    post(&server, "/api/v1.0/tasks/ping/minion-1", "nope", b"").assert_error(401, "authentication required");
    for id in ["nope", "00000000-0000-0000-0000-000000000000"] {
        get(&server, &format!("/api/v1.0/tasks/status/{id}"), &token).assert_error(404, "not found");
        get(&server, &format!("/api/v1.0/jobs/{id}"), &token).assert_error(404, "not found");
    }
    let jobs = get(&server, "/api/v1.0/jobs", &token).json();
    assert_eq!(jobs, json!({"jobs": [], "next": null}), "no task was made");
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn wait_answers_as_soon_as_the_task_is_done() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    let body = br#"{"target": ["minion-1", "minion-down"]}"#;
    let path = status_path(&post(&server, "/api/v1.0/tasks/ping?timeout=1", &token, body));
    let done = get(&server, &format!("{path}?wait=60"), &token);
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.json(), json!({"minion-1": true, "minion-down": false}));
    get(&server, &format!("{path}?wait=x"), &token).assert_error(400, "bad request");
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn results_survive_a_restart_and_stay_private() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (mut server, token) = lab.daemon(&["--token-lifetime", "3600"]);
    let path = status_path(&post(&server, "/api/v1.0/tasks/ping/minion-2", &token, b""));
    assert_eq!(poll(&server, &path, &token, Duration::from_secs(30)).status, 200);
    server.restart();
    assert_eq!(get(&server, &path, &token).json(), json!({"minion-2": true}));

    let other_password = server.adduser("bob");
    let other = server.token("bob", &other_password);
    get(&server, &path, &other).assert_error(404, "not found");
    assert_eq!(get(&server, "/api/v1.0/jobs", &other).json()["jobs"], json!([]));
    let id = path.rsplit('/').next().unwrap();
    get(&server, &format!("/api/v1.0/jobs/{id}"), &other).assert_error(404, "not found");
    let job = get(&server, &format!("/api/v1.0/jobs/{id}"), &token).json();
    assert_eq!(job["state"], "done");
    assert_eq!(job["function"], "test.ping");
    assert_eq!(job["target"], json!(["minion-2"]));
    assert_eq!(job["result"], json!({"status": 200, "body": {"minion-2": true}}));
    assert_eq!(job["jid"].as_str().map(str::len), Some(20));
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn listing_is_newest_first_and_paginated() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    let ids: Vec<String> = (0..5)
        .map(|_| {
            let path = status_path(&post(&server, "/api/v1.0/tasks/ping/minion-3", &token, b""));
            path.rsplit('/').next().unwrap().to_owned()
        })
        .collect();
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(&server, &format!("/api/v1.0/jobs?limit=2{after}"), &token).json();
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 2);
        seen.extend(jobs.iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    get(&server, "/api/v1.0/jobs?limit=0", &token).assert_error(400, "bad request");
    get(&server, "/api/v1.0/jobs?after=nope", &token).assert_error(400, "bad request");
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn a_full_queue_answers_503() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&["--task-workers", "1", "--task-queue", "1"]);
    // Each task waits for the down minion: the first runs, the second
    // waits in the queue, the rest are refused.
    let statuses: Vec<u16> = (0..4)
        .map(|_| post(&server, "/api/v1.0/tasks/ping/minion-down?timeout=5", &token, b"").status)
        .collect();
    assert_eq!(statuses[0], 202, "{statuses:?}");
    assert!(
        statuses.iter().filter(|&&s| s == 202).count() <= 2,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|&s| s == 202 || s == 503), "{statuses:?}");
    let refused = post(&server, "/api/v1.0/tasks/ping/minion-down", &token, b"");
    let message = refused.assert_error(503, "service unavailable");
    assert!(message.contains("queue"), "{message}");
    assert!(refused.retry_after() >= 1);
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn retention_removes_old_results() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&["--task-retention", "2"]);
    let path = status_path(&post(&server, "/api/v1.0/tasks/ping/minion-1", &token, b""));
    assert_eq!(poll(&server, &path, &token, Duration::from_secs(30)).status, 200);
    let start = Instant::now();
    while get(&server, &path, &token).status != 404 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still there:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `kill -9` while tasks are queued and running, then a restart: every
/// task reaches a final answer, none is lost.
#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn kill_9_loses_no_task() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (mut server, token) = lab.daemon(&["--task-workers", "2", "--token-lifetime", "3600"]);
    let body = br#"{"target": ["minion-1", "minion-down"]}"#;
    let paths: Vec<String> = (0..6)
        .map(|_| status_path(&post(&server, "/api/v1.0/tasks/ping?timeout=2", &token, body)))
        .collect();
    let running = |server: &Daemon| {
        let jobs = get(server, "/api/v1.0/jobs", &token).json();
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "running")
            .count()
    };
    let start = Instant::now();
    while running(&server) == 0 {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();
    server.launch();
    for path in &paths {
        let done = get(&server, &format!("{path}?wait=60"), &token);
        assert_eq!(done.status, 200, "{done:?}\n{}", server.log());
        assert_eq!(done.json(), json!({"minion-1": true, "minion-down": false}));
    }
    let jobs: Vec<Value> = get(&server, "/api/v1.0/jobs", &token).json()["jobs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(jobs.len(), 6);
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:?}");
    assert!(server.log().contains("recovering"), "{}", server.log());
}
