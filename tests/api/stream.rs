//! `GET /api/v1.0/events` against the fake master, read with curl: task
//! events in order and resumed with `Last-Event-ID` across a restart, who
//! sees what, presence, the token's end, a slow consumer cut off, the
//! stream limit. The same against real Salt: `stream_e2e`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::fake_master::{job_events, publish_reply, Answer};
use crate::common::sse::{Message, Sse, PATIENCE};
use crate::common::{bearer, Daemon, FakeMaster};

/// A daemon on `fake`, with `alice` (admin) and `bob` (test.ping on
/// `m1` only, instead of a new user's test.ping on `*`): the server and
/// their tokens.
fn daemon(fake: &FakeMaster, extra: &[&str]) -> (Daemon, String, String) {
    let mut args = vec![
        "--salt-config",
        fake.config.to_str().unwrap(),
        "--body-limit",
        "1000000",
    ];
    args.extend_from_slice(extra);
    let (server, alice, bob) = crate::common::admin_and_bob(&args);
    let auth = bearer(&alice);
    for acl in server
        .get("/api/v1.0/users/2/acls", Some(&alice))
        .json()
        .as_array()
        .unwrap()
    {
        let path = format!("/api/v1.0/users/2/acls/{}", acl["id"]);
        let gone = server.call("DELETE", &path, &[("Authorization", auth.as_bytes())], b"");
        assert!(gone.status < 300, "{gone:?}");
    }
    let acl = json!({"minions": "m1", "functions": "test.ping"});
    let made = post(&server, "/api/v1.0/users/2/acls", &alice, &acl.to_string());
    assert_eq!(made.status, 200, "{made:?}");
    (server, alice, bob)
}

fn post(server: &Daemon, path: &str, token: &str, body: &str) -> crate::common::Response {
    let auth = bearer(token);
    server.call(
        "POST",
        path,
        &[
            ("Authorization", auth.as_bytes()),
            ("Content-Type", b"application/json"),
        ],
        body.as_bytes(),
    )
}

/// Submits an async ping of `targets`; the task's id.
fn submit(server: &Daemon, token: &str, targets: &[&str]) -> String {
    submit_with(server, token, targets, "")
}

/// [`submit`] with a query (`?timeout=`).
fn submit_with(server: &Daemon, token: &str, targets: &[&str], query: &str) -> String {
    let path = format!("/api/v1.0/tasks/ping{query}");
    let answer = post(server, &path, token, &json!({"target": targets}).to_string());
    assert_eq!(answer.status, 202, "{answer:?}");
    answer
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The task events of `task` until its final one.
fn until_final(stream: &Sse, task: &str) -> Vec<Message> {
    let mut seen = Vec::new();
    loop {
        let event = stream.next_of("task").expect("the stream goes on");
        let data = event.json();
        if data["task"] != task {
            continue;
        }
        let last = ["done", "failed", "cancelled", "interrupted"].contains(&data["event"].as_str().unwrap());
        seen.push(event);
        if last {
            return seen;
        }
    }
}

fn kinds(events: &[Message]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let data = e.json();
            match data["event"].as_str().unwrap() {
                "return" => format!("return {}", data["minion"].as_str().unwrap()),
                other => other.to_owned(),
            }
        })
        .collect()
}

fn ids(events: &[Message]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.id.as_deref().expect("task events have ids").parse().unwrap())
        .collect()
}

#[test]
fn an_async_task_streams_queued_running_each_return_and_done() {
    let fake = FakeMaster::start(&["m1", "m2"]).unwrap();
    let (server, alice, _) = daemon(&fake, &[]);
    let stream = Sse::with_token(&server, "/api/v1.0/events?events=task", &alice);
    let first = stream.next().unwrap();
    assert_eq!(first.retry, Some(2000), "{first:?}");
    let task = submit(&server, &alice, &["m1", "m2"]);
    let events = until_final(&stream, &task);
    let mut got = kinds(&events);
    // The two returns come in the order the minions answered.
    got[2..4].sort();
    assert_eq!(
        got,
        ["queued", "running", "return m1", "return m2", "done"],
        "{events:?}"
    );
    let seqs = ids(&events);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ids grow: {seqs:?}");
    let ret = events[2].json();
    assert_eq!(ret["return"], true, "{ret}");
    let done = events[4].json();
    assert_eq!(done["job"]["id"], task.as_str());
    assert_eq!(done["job"]["state"], "done");
    assert_eq!(
        done["job"]["result"]["body"],
        json!({"m1": true, "m2": true}),
        "{done}"
    );
    // The queued event shows the record too.
    assert_eq!(events[0].json()["job"]["function"], "test.ping");
}

#[test]
fn a_client_that_reconnects_with_last_event_id_misses_nothing_across_a_restart() {
    let fake = FakeMaster::start(&["m1", "m2"]).unwrap();
    let (mut server, alice, _) = daemon(&fake, &[]);
    let stream = Sse::with_token(&server, "/api/v1.0/events?events=task", &alice);
    stream.next().unwrap();
    let first = submit(&server, &alice, &["m1", "m2"]);
    let seen = until_final(&stream, &first);
    drop(stream);
    // Resume from the first event: everything after it, and nothing else.
    let resume_from = seen[0].id.clone().unwrap();
    let second = submit(&server, &alice, &["m1"]);
    // Let it finish before the restart, so that every event is on disk.
    let status = server.get(&format!("/api/v1.0/tasks/status/{second}?wait=30"), Some(&alice));
    assert_eq!(status.status, 200, "{status:?}");
    server.restart();
    let stream = Sse::open(
        &server,
        "/api/v1.0/events?events=task",
        &[
            ("Authorization", &bearer(&alice)),
            ("Last-Event-ID", &resume_from),
        ],
    );
    let again = until_final(&stream, &first);
    assert_eq!(
        ids(&again),
        ids(&seen[1..]),
        "the first task's events after the one given, once each"
    );
    let then = until_final(&stream, &second);
    assert_eq!(kinds(&then), ["queued", "running", "return m1", "done"]);
    let all: Vec<u64> = ids(&again).into_iter().chain(ids(&then)).collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in order: {all:?}");
    // And a task run after the reconnection arrives live on the same stream.
    let third = submit(&server, &alice, &["m2"]);
    assert_eq!(
        kinds(&until_final(&stream, &third)),
        ["queued", "running", "return m2", "done"]
    );
}

#[test]
fn each_user_sees_its_own_tasks_and_an_admin_everyones_when_it_asks() {
    let fake = FakeMaster::start(&["m1", "m2"]).unwrap();
    let (server, alice, bob) = daemon(&fake, &[]);
    let bobs = Sse::with_token(&server, "/api/v1.0/events?events=task", &bob);
    let alices = Sse::with_token(&server, "/api/v1.0/events?events=task", &alice);
    let all = Sse::with_token(&server, "/api/v1.0/events?events=task&all=true", &alice);
    for stream in [&bobs, &alices, &all] {
        stream.next().unwrap();
    }
    let hers = submit(&server, &alice, &["m1", "m2"]);
    let his = submit(&server, &bob, &["m1"]);
    // The admin's `all` stream has both, each whole.
    let mut tasks = std::collections::BTreeSet::new();
    while tasks.len() < 2 {
        let event = all.next_of("task").unwrap();
        if event.json()["event"] == "done" {
            tasks.insert(event.json()["task"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(tasks, [hers.clone(), his.clone()].into_iter().collect());
    // Bob's stream has his task only; alice's, hers only. A third task of
    // each marks where to stop reading.
    let his_last = submit(&server, &bob, &["m1"]);
    let hers_last = submit(&server, &alice, &["m1"]);
    for (stream, own, last, other) in [
        (&bobs, &his, &his_last, &hers),
        (&alices, &hers, &hers_last, &his),
    ] {
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let data = stream.next_of("task").unwrap().json();
            let task = data["task"].as_str().unwrap().to_owned();
            assert_ne!(&task, other, "another user's task: {data}");
            seen.insert(task.clone());
            if &task == last && data["event"] == "done" {
                break;
            }
        }
        assert!(seen.contains(own), "{seen:?}");
    }
    // What only an admin may ask.
    for path in [
        "/api/v1.0/events?all=true",
        "/api/v1.0/events?events=salt",
        "/api/v1.0/events?tag=salt/job/",
    ] {
        server.get(path, Some(&bob)).assert_error(403, "forbidden");
    }
}

#[test]
fn bad_requests_get_clear_errors() {
    let fake = FakeMaster::start(&["m1"]).unwrap();
    let (server, alice, _) = daemon(&fake, &[]);
    server
        .get("/api/v1.0/events", None)
        .assert_error(401, "authentication required");
    server
        .get("/api/v1.0/events?token=nope", None)
        .assert_error(401, "authentication required");
    for path in ["/api/v1.0/events?events=task,nope", "/api/v1.0/events?all=yes"] {
        server.get(path, Some(&alice)).assert_error(400, "bad request");
    }
    let auth = bearer(&alice);
    let bad = server.call(
        "GET",
        "/api/v1.0/events",
        &[("Authorization", auth.as_bytes()), ("Last-Event-ID", b"12x")],
        b"",
    );
    bad.assert_error(400, "bad request");
    // `?token=` is how a browser's EventSource authenticates.
    let stream = Sse::open(
        &server,
        &format!("/api/v1.0/events?events=task&token={alice}"),
        &[],
    );
    assert_eq!(stream.next().unwrap().retry, Some(2000));
}

#[test]
fn presence_shows_which_minions_answer_among_those_a_user_may_ping() {
    let fake = FakeMaster::start(&["m1", "m2", "silent-1"]).unwrap();
    let (server, alice, bob) = daemon(&fake, &["--presence-interval", "1", "--salt-timeout", "1"]);
    let everyone = Sse::with_token(&server, "/api/v1.0/events?events=presence", &alice);
    let first = everyone.next_of("presence").unwrap().json();
    assert_eq!(
        first,
        json!({"minions": {"m1": true, "m2": true, "silent-1": false}}),
        "the whole fleet first"
    );
    let bobs = Sse::with_token(&server, "/api/v1.0/events?events=presence", &bob);
    assert_eq!(
        bobs.next_of("presence").unwrap().json(),
        json!({"minions": {"m1": true}}),
        "bob may ping m1 only"
    );
    // A minion whose key goes is `null`, once.
    std::fs::remove_file(pki_minions(&fake).join("m2")).unwrap();
    let change = everyone.next_of("presence").unwrap().json();
    assert_eq!(change, json!({"minions": {"m2": null}}), "only what changed");
}

/// The fake master's accepted-keys directory.
fn pki_minions(fake: &FakeMaster) -> std::path::PathBuf {
    let config = std::fs::read_to_string(&fake.config).unwrap();
    let pki = config
        .lines()
        .find_map(|line| line.strip_prefix("pki_dir:"))
        .unwrap()
        .trim()
        .trim_matches('"')
        .to_owned();
    std::path::Path::new(&pki).join("minions")
}

#[test]
fn the_stream_ends_when_its_token_expires_or_is_revoked() {
    let fake = FakeMaster::start(&["m1"]).unwrap();
    let (server, _, _) = daemon(&fake, &[]);
    let (_, short) = server.user_with_token("carol", 2);
    let stream = Sse::with_token(&server, "/api/v1.0/events?events=task", &short);
    let rest = stream.rest();
    let last = rest.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.json()),
        ("end", json!({"reason": "token_invalid"}))
    );
    let (_, token) = server.user_with_token("dave", 600);
    let stream = Sse::with_token(&server, "/api/v1.0/events?events=task", &token);
    stream.next().unwrap();
    assert_eq!(server.revoke(&token).status, 204);
    let last = stream.rest().pop().unwrap();
    assert_eq!(last.json(), json!({"reason": "token_invalid"}));
}

#[test]
fn shutdown_ends_streams_with_a_final_event() {
    let fake = FakeMaster::start(&["m1"]).unwrap();
    let (mut server, alice, _) = daemon(&fake, &[]);
    let stream = Sse::with_token(&server, "/api/v1.0/events?events=task", &alice);
    stream.next().unwrap();
    server.signal("TERM");
    let last = stream.rest().pop().unwrap();
    assert_eq!(
        (last.event.as_str(), last.json()),
        ("end", json!({"reason": "shutdown"}))
    );
    assert!(server.wait_exit(PATIENCE).success(), "{}", server.log());
}

#[test]
fn streams_past_max_streams_get_503_and_leave_room_for_requests() {
    let fake = FakeMaster::start(&["m1"]).unwrap();
    let (server, alice, _) = daemon(&fake, &["--max-streams", "2"]);
    let one = Sse::with_token(&server, "/api/v1.0/events?events=task", &alice);
    let two = Sse::open(&server, &format!("/events?token={alice}"), &[]);
    one.next().unwrap();
    two.next().unwrap();
    let third = server.get("/api/v1.0/events?events=task", Some(&alice));
    third.assert_error(503, "service unavailable");
    assert!(third.header("retry-after").is_some(), "{third:?}");
    // salt-api's stream counts against the same limit.
    let auth = format!("/events?token={alice}");
    assert_eq!(server.get(&auth, None).status, 503);
    // Requests are served all the same.
    assert_eq!(server.get("/api/v1.0/keys", Some(&alice)).status, 200);
    drop(one);
    let start = Instant::now();
    // The place comes back once the daemon sees the client gone.
    loop {
        let stream = Sse::with_token(&server, "/api/v1.0/events?events=task", &alice);
        if stream.next().and_then(|m| m.retry).is_some() {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "the place never came back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A client that stops reading while a big job's returns pour in is cut
/// off, with a final event saying so, instead of the daemon holding what
/// it has not read; it resumes from the store with the last id it has.
#[test]
fn a_slow_consumer_is_cut_off_and_resumes_from_the_store() {
    // More than the kernel's socket buffers and the live buffer hold:
    // 10,000 returns of 2 KiB each.
    let minions: Vec<String> = (0..10_000).map(|i| format!("m{i:05}")).collect();
    let ids: Vec<&str> = minions.iter().map(String::as_str).collect();
    let fake = FakeMaster::start(&ids).unwrap();
    let big = rmpv::Value::from("x".repeat(2048));
    fake.on_publish(move |req| {
        (req.fun == "test.ping").then(|| Answer {
            reply: Some((Duration::ZERO, publish_reply(req))),
            emit: job_events(req, |_| big.clone()),
        })
    });
    let (server, alice, _) = daemon(&fake, &[]);
    let auth = bearer(&alice);
    // A raw connection whose reader does not read until the job is done.
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    write!(
        tcp,
        "GET /api/v1.0/events?events=task HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Time enough for a debug build to read 20 MiB of returns.
    let task = submit_with(&server, &alice, &ids, "?timeout=300");
    let status = server.get(&format!("/api/v1.0/tasks/status/{task}?wait=300"), Some(&alice));
    assert_eq!(status.status, 200, "{}", server.log());
    let rss = rss_kib(server.pid());
    // Now read it all: it ends, the last event says why.
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut all = Vec::new();
    tcp.read_to_end(&mut all).expect("the daemon ends the stream");
    let text = String::from_utf8_lossy(&all);
    let tail = &text[text.len().saturating_sub(300)..];
    assert!(text.contains("event: end\n"), "no final event: {tail}");
    assert!(text.contains(r#"{"reason":"too_slow"}"#), "{tail}");
    let last_id = text
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("id: "))
        .expect("some events came before the cut")
        .to_owned();
    // What the daemon held for it stayed bounded: its buffers are a fixed
    // number of events, not the job's 20 MiB of returns.
    assert!(rss < 512 * 1024, "RSS {rss} KiB");
    // The client resumes after its last id and gets the rest: every
    // return once, then done.
    let stream = Sse::open(
        &server,
        "/api/v1.0/events?events=task",
        &[("Authorization", &auth), ("Last-Event-ID", &last_id)],
    );
    let rest = until_final(&stream, &task);
    let before = text.matches(r#""event":"return""#).count();
    let after = rest.iter().filter(|e| e.json()["event"] == "return").count();
    assert!(before < minions.len(), "it was cut before the end");
    assert_eq!(before + after, minions.len(), "every return once");
}

/// The daemon's resident memory, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
