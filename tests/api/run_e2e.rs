//! Any Salt function, end to end on the lab (issue #10): minions and their
//! functions, arguments as data, the four kinds of result (a return, a
//! non-zero retcode, an exception, silence), states from the lab's
//! file_roots (`e2e.ok`, `e2e.fail`, written by `scripts/salt-lab.sh`),
//! async runs with progress, and cancel with `saltutil.kill_job`. Every test
//! is `#[ignore]`d: `scripts/test.sh` runs them on each Salt version.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::lab::{post, Lab};
use crate::common::Daemon;

fn run(server: &Daemon, token: &str, minion: &str, function: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/v1.0/minions/{minion}/tasks/{function}");
    let response = post(server, &path, token, body.to_string().as_bytes());
    let status = response.status;
    (status, response.json())
}

fn full(server: &Daemon, token: &str, minion: &str, function: &str, body: Value) -> Value {
    let path = format!("/api/v1.0/minions/{minion}/tasks/{function}?full_return=true");
    let response = post(server, &path, token, body.to_string().as_bytes());
    assert_eq!(response.status, 200, "{response:?}");
    response.json()[minion].clone()
}

/// The task id at the end of a 202's `Location`.
fn task_id(response: &crate::common::Response) -> String {
    let location = response.header("location").expect("a Location");
    location.rsplit('/').next().unwrap().to_owned()
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn minions_their_functions_and_documentation() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    let minions = server.get("/api/v1.0/minions", Some(&token));
    assert_eq!(minions.status, 200, "{minions:?}");
    assert_eq!(
        minions.json(),
        json!(["minion-1", "minion-2", "minion-3", "minion-down"])
    );
    let functions = server.get("/api/v1.0/minions/minion-1/tasks", Some(&token));
    assert_eq!(functions.status, 200, "{functions:?}");
    let functions = functions.json();
    for wanted in ["test.ping", "test.arg", "state.apply", "cmd.run", "grains.items"] {
        assert!(functions.as_array().unwrap().contains(&json!(wanted)), "{wanted}");
    }
    let doc = server.get("/api/v1.0/minions/minion-1/tasks/test.arg", Some(&token));
    assert_eq!(doc.status, 200, "{doc:?}");
    let text = doc.json()["documentation"].as_str().unwrap().to_owned();
    assert!(text.contains("test.arg"), "{text}");

    server
        .get("/api/v1.0/minions/ghost/tasks", Some(&token))
        .assert_error(400, "bad request");
    server
        .get("/api/v1.0/minions/minion-1/tasks/no.such", Some(&token))
        .assert_error(400, "bad request");
    let (status, body) = run(&server, &token, "minion-1", "no.such", json!({}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("no.such"), "{body}");
}

/// Arguments reach the function as data: shell and template characters
/// arrive as they were sent.
#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn arguments_are_data() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    let args = json!(["a b; echo owned", 2, {"nested": [1, "{{ grains.id }}"]}, null]);
    let (status, body) = run(
        &server,
        &token,
        "minion-2",
        "test.arg",
        json!({"arg": args, "kwarg": {"shell": "$(id -u)", "n": 1.5}}),
    );
    assert_eq!(status, 200, "{body}");
    let ret = &body["minion-2"];
    assert_eq!(ret["args"], args, "{body}");
    assert_eq!(ret["kwargs"]["shell"], "$(id -u)", "{body}");
    assert_eq!(ret["kwargs"]["n"], 1.5, "{body}");

    let (status, body) = run(
        &server,
        &token,
        "minion-2",
        "cmd.run",
        json!({"arg": ["echo projetyd"]}),
    );
    assert_eq!((status, body.clone()), (200, json!({"minion-2": "projetyd"})));

    let (status, body) = run(&server, &token, "minion-3", "grains.items", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["minion-3"]["role"], "db", "{body}");
    assert_eq!(body["minion-3"]["id"], "minion-3", "{body}");

    for (bad, field) in [
        (json!({"async": "maybe"}), "async"),
        (json!({"arg": "one"}), "arg"),
        (json!({"kwarg": ["x"]}), "kwarg"),
        (json!({"kwarg": {"__pub_user": "root"}}), "kwarg"),
        (json!({"args": []}), "args"),
    ] {
        let (status, body) = run(&server, &token, "minion-1", "test.arg", bad.clone());
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{bad}: {body}");
    }
    let (status, body) = run(
        &server,
        &token,
        "minion-1",
        "test.arg",
        json!({"async": "socket.io"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("/api/v1.0/events"),
        "{body}"
    );

    // Arguments are never logged: they may be secrets.
    let log = server.log();
    for secret in ["echo owned", "$(id -u)", "{{ grains.id }}", "echo projetyd"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

/// A return, a non-zero retcode, an exception and silence are four
/// different answers.
#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn results_tell_success_failure_exception_and_silence_apart() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);

    let ok = full(
        &server,
        &token,
        "minion-1",
        "state.apply",
        json!({"arg": ["e2e.ok"]}),
    );
    assert_eq!(
        (ok["retcode"].clone(), ok["success"].clone()),
        (json!(0), json!(true)),
        "{ok}"
    );
    let states = ok["return"].as_object().unwrap();
    assert!(states.values().all(|s| s["result"] == true), "{ok}");

    let failed = full(
        &server,
        &token,
        "minion-2",
        "state.apply",
        json!({"arg": ["e2e.fail"]}),
    );
    assert_eq!(failed["success"], false, "{failed}");
    assert_ne!(failed["retcode"], 0, "{failed}");
    let states = failed["return"].as_object().unwrap();
    assert!(states.values().all(|s| s["result"] == false), "{failed}");

    let code = full(
        &server,
        &token,
        "minion-2",
        "cmd.retcode",
        json!({"arg": ["exit 3"]}),
    );
    assert_eq!(code, json!({"return": 3, "retcode": 3, "success": false}));

    let raised = full(
        &server,
        &token,
        "minion-3",
        "test.exception",
        json!({"arg": ["boom"]}),
    );
    assert_eq!(raised["exception"], true, "{raised}");
    assert_eq!(raised["success"], false, "{raised}");
    assert!(raised["return"].as_str().unwrap().contains("boom"), "{raised}");

    // The seed's shape has no room for silence: a 504 that names it.
    let (status, body) = run(&server, &token, "minion-down", "test.arg", json!({"arg": [1]}));
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["silent"], json!(["minion-down"]), "{body}");
    let path = "/api/v1.0/minions/minion-down/tasks/test.arg?full_return=true";
    let response = post(&server, path, &token, b"{}");
    assert_eq!(response.status, 200, "{response:?}");
    let down = &response.json()["minion-down"];
    assert_eq!(
        (down["return"].clone(), down["success"].clone()),
        (Value::Null, json!(false))
    );
}

/// An async run answers 202; its status shows who has returned while it
/// runs, then replays the synchronous answer exactly.
#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn async_runs_show_progress_and_replay_the_sync_answer() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    let body = json!({"async": "async", "arg": ["echo async"]}).to_string();
    let response = post(
        &server,
        "/api/v1.0/minions/minion-1/tasks/cmd.run",
        &token,
        body.as_bytes(),
    );
    assert_eq!(response.status, 202, "{response:?}");
    let id = task_id(&response);
    let status = server.get(&format!("/api/v1.0/tasks/status/{id}?wait=60"), Some(&token));
    assert_eq!(status.status, 200, "{status:?}");
    assert_eq!(status.json(), json!({"minion-1": "async"}));

    let body = json!({"async": "async", "arg": [4]}).to_string();
    let response = post(
        &server,
        "/api/v1.0/minions/minion-2/tasks/test.sleep",
        &token,
        body.as_bytes(),
    );
    assert_eq!(response.status, 202, "{response:?}");
    let id = task_id(&response);
    let start = Instant::now();
    let pending = loop {
        let status = server.get(&format!("/api/v1.0/tasks/status/{id}"), Some(&token));
        assert_eq!(status.status, 202, "{status:?}");
        let body = status.json();
        if body["state"] == "running" && body["pending"] == json!(["minion-2"]) {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(pending["returned"], json!([]), "{pending}");
    let status = server.get(&format!("/api/v1.0/tasks/status/{id}?wait=60"), Some(&token));
    assert_eq!(status.status, 200, "{status:?}");
    assert_eq!(status.json(), json!({"minion-2": true}));
}

/// A running job is cancelled with `saltutil.kill_job`: the minion stops
/// running it, and the record says so.
#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn a_running_job_is_cancelled_on_its_minion() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&[]);
    let body = json!({"async": "async", "arg": [30]}).to_string();
    let response = post(
        &server,
        "/api/v1.0/minions/minion-3/tasks/test.sleep",
        &token,
        body.as_bytes(),
    );
    assert_eq!(response.status, 202, "{response:?}");
    let id = task_id(&response);
    // Wait until the minion runs it.
    let start = Instant::now();
    loop {
        let body = server
            .get(&format!("/api/v1.0/tasks/status/{id}"), Some(&token))
            .json();
        if body["pending"] == json!(["minion-3"]) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cancel = post(&server, &format!("/api/v1.0/jobs/{id}/cancel"), &token, b"");
    assert_eq!(cancel.status, 200, "{cancel:?}");
    let job = cancel.json();
    assert_eq!(job["state"], "cancelled", "{job}");
    let message = job["result"]["body"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("saltutil.kill_job sent to minion-3"),
        "{message}"
    );
    let jid = job["jid"].as_str().unwrap().to_owned();

    let status = server.get(&format!("/api/v1.0/tasks/status/{id}"), Some(&token));
    status.assert_error(409, "conflict");
    post(&server, &format!("/api/v1.0/jobs/{id}/cancel"), &token, b"").assert_error(409, "conflict");

    // The minion no longer runs the job.
    let start = Instant::now();
    loop {
        let (status, body) = run(&server, &token, "minion-3", "saltutil.running", json!({}));
        assert_eq!(status, 200, "{body}");
        let running = body["minion-3"].as_array().unwrap();
        if !running.iter().any(|job| job["jid"] == jid.as_str()) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A function that runs longer than the timeout goes on as long as its
/// minion says it is busy (find_job), up to `--max-job-time`.
#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn long_functions_run_while_busy_up_to_the_maximum() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&["--max-job-time", "8"]);
    let path = "/api/v1.0/minions/minion-1/tasks/test.sleep?timeout=2";
    let response = post(&server, path, &token, br#"{"arg": [5]}"#);
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json(), json!({"minion-1": true}));

    // Past the maximum the minion is reported silent, not waited for (a
    // 30 s sleep would have answered true).
    let response = post(&server, path, &token, br#"{"arg": [30]}"#);
    assert_eq!(response.status, 504, "{response:?}");
    assert_eq!(response.json()["silent"], json!(["minion-1"]));
}
