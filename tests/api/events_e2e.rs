//! `GET /events` and `POST /hook` against the real Salt lab: what an admin
//! and a user with one minion see, and a revoked token ending the stream.
//! Ignored without a lab (see `salt_e2e`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::lab::Lab;
use crate::common::Daemon;

/// How long a test waits for something it expects; it fails then, it
/// never hangs.
const PATIENCE: Duration = Duration::from_secs(60);

/// An open `/events` stream, read as chunked SSE.
struct Stream {
    tcp: TcpStream,
    /// Raw bytes not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked SSE text not yet parsed.
    text: String,
    ended: bool,
    /// Whether the response head has been read (de-chunking starts then).
    in_body: bool,
}

impl Stream {
    fn open(server: &Daemon, token: &str) -> Stream {
        let mut tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        write!(
            tcp,
            "GET /events?token={token} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut stream = Stream {
            tcp,
            raw: Vec::new(),
            text: String::new(),
            ended: false,
            in_body: false,
        };
        let start = Instant::now();
        let head_end = loop {
            if let Some(pos) = stream.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            assert!(start.elapsed() < PATIENCE, "no response head");
            stream.fill();
        };
        let head = String::from_utf8_lossy(&stream.raw[..head_end]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("cache-control: no-cache"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        stream.raw.drain(..head_end + 4);
        stream.in_body = true;
        stream.dechunk();
        stream
    }

    /// Reads what is there (waits at most the socket's 1 s timeout).
    fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match self.tcp.read(&mut chunk) {
            Ok(0) => self.ended = true,
            Ok(n) => self.raw.extend_from_slice(&chunk[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => self.ended = true,
        }
        self.dechunk();
    }

    fn dechunk(&mut self) {
        while self.in_body {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let line = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let size = usize::from_str_radix(line.trim(), 16).unwrap_or_else(|_| {
                panic!(
                    "not a chunk size: {line:?} in {:?}",
                    String::from_utf8_lossy(&self.raw)
                )
            });
            if size == 0 {
                self.ended = true;
                self.raw.clear();
                return;
            }
            if self.raw.len() < line_end + 2 + size + 2 {
                return;
            }
            let data = &self.raw[line_end + 2..line_end + 2 + size];
            self.text.push_str(std::str::from_utf8(data).unwrap());
            self.raw.drain(..line_end + 2 + size + 2);
        }
    }

    /// The next whole SSE message (an event, `retry:` or a comment), or
    /// `None` once the stream has ended.
    fn next_message(&mut self) -> Option<String> {
        let start = Instant::now();
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let message = self.text[..end].to_owned();
                self.text.drain(..end + 2);
                return Some(message);
            }
            if self.ended {
                return None;
            }
            assert!(start.elapsed() < PATIENCE, "nothing came: {:?}", self.text);
            self.fill();
        }
    }

    /// The next event (tag and `{"tag", "data"}`), skipping `retry:` and
    /// comments; `None` once the stream has ended.
    fn next_event(&mut self) -> Option<(String, Value)> {
        loop {
            let message = self.next_message()?;
            if message.starts_with("retry:") || message.starts_with(':') {
                continue;
            }
            let (tag_line, data_line) = message.split_once('\n').unwrap();
            let tag = tag_line.strip_prefix("tag: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data_line.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["tag"], json!(tag));
            return Some((tag, data));
        }
    }

    /// Events up to and including the first whose tag is `tag` (fails
    /// after `PATIENCE` or when the stream ends first).
    fn until(&mut self, tag: &str) -> Vec<(String, Value)> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            assert!(
                start.elapsed() < PATIENCE,
                "{tag} did not come; saw {:?}",
                tags(&seen)
            );
            let event = self
                .next_event()
                .unwrap_or_else(|| panic!("the stream ended before {tag}; saw {:?}", tags(&seen)));
            let done = event.0 == tag;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

fn tags(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

fn with_token(server: &Daemon, method: &str, path: &str, token: &str, body: &Value) -> Value {
    let body = serde_json::to_vec(body).unwrap();
    let response = server.call(
        method,
        path,
        &[
            ("X-Auth-Token", token.as_bytes()),
            ("Content-Type", b"application/json"),
            ("Accept", b"application/json"),
        ],
        &body,
    );
    assert_eq!(response.status, 200, "{response:?}");
    response.json()
}

/// Starts `test.ping` on `targets` (salt-api `local_async`); its jid.
fn ping_async(server: &Daemon, token: &str, targets: &str) -> String {
    let answer = with_token(
        server,
        "POST",
        "/",
        token,
        &json!([{"client": "local_async", "tgt": targets, "tgt_type": "list", "fun": "test.ping"}]),
    );
    answer["return"][0]["jid"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

/// A user of `server` with these ACLs only, and a token.
fn user_with_acls(server: &Daemon, name: &str, acls: &[(&str, &str)]) -> String {
    let password = server.adduser(name);
    let listed = server.admin("acls", &[name]);
    assert!(listed.status.success(), "{listed:?}");
    for line in listed.stdout.lines().filter(|l| l.contains("test.ping")) {
        let id = line.split_whitespace().next().unwrap();
        assert!(server.admin("delacl", &[name, id]).status.success());
    }
    for (minions, functions) in acls {
        let made = server.admin("createacl", &[name, minions, functions]);
        assert!(made.status.success(), "{made:?}");
    }
    server.token(name, &password)
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn an_admin_sees_its_hook_and_its_job_and_logout_ends_the_stream() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, token) = lab.daemon(&["--saltapi-client", "local_async"]);
    let mut stream = Stream::open(&server, &token);
    assert_eq!(stream.next_message().as_deref(), Some("retry: 400"));

    let fired = with_token(&server, "POST", "/hook/e2e/ping", &token, &json!({"x": 1}));
    assert_eq!(fired, json!({"success": true}));
    let seen = stream.until("salt/netapi/hook/e2e/ping");
    let data = &seen.last().unwrap().1["data"];
    assert_eq!(data["post"], json!({"x": 1}), "{data}");
    assert_eq!(data["body"], json!(r#"{"x":1}"#), "{data}");
    assert_eq!(
        data["headers"]["Content-Type"],
        json!("application/json"),
        "{data}"
    );
    assert!(data["headers"].get("X-Auth-Token").is_none(), "{data}");
    assert!(
        data["_stamp"].as_str().is_some_and(|s| s.starts_with("20")),
        "{data}"
    );

    let jid = ping_async(&server, &token, "minion-1");
    let seen = stream.until(&format!("salt/job/{jid}/new"));
    assert_eq!(seen.last().unwrap().1["data"]["minions"], json!(["minion-1"]));
    let seen = stream.until(&format!("salt/job/{jid}/ret/minion-1"));
    let ret = &seen.last().unwrap().1["data"];
    assert_eq!(
        (&ret["fun"], &ret["return"]),
        (&json!("test.ping"), &json!(true)),
        "{ret}"
    );

    let logout = server.call("POST", "/logout", &[("X-Auth-Token", token.as_bytes())], b"");
    assert_eq!(logout.status, 200, "{logout:?}");
    let start = Instant::now();
    while stream.next_event().is_some() {
        assert!(start.elapsed() < PATIENCE, "the stream went on after logout");
    }
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn a_user_sees_only_what_its_acls_allow() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (server, admin) = lab.daemon(&["--saltapi-client", "local_async"]);
    let bob = user_with_acls(&server, "bob", &[("minion-1", "test.ping")]);
    let mut watching = Stream::open(&server, &admin);
    let mut bobs = Stream::open(&server, &bob);

    // The admin's hook and a job on two minions, one of them not bob's.
    with_token(&server, "POST", "/hook/e2e/secret", &admin, &json!({"s": 1}));
    let theirs = ping_async(&server, &admin, "minion-1,minion-2");
    let mut rets = 0;
    while rets < 2 {
        let (tag, _) = watching.next_event().expect("the admin's stream ended");
        if tag.starts_with(&format!("salt/job/{theirs}/ret/")) {
            rets += 1;
        }
    }
    // Bob's own job comes after all of that on the bus, so whatever bob
    // was shown of it is in his stream by the time his job's return is.
    let his = ping_async(&server, &bob, "minion-1");
    let seen = bobs.until(&format!("salt/job/{his}/ret/minion-1"));
    let seen = tags(&seen);
    assert!(seen.contains(&format!("salt/job/{his}/new").as_str()), "{seen:?}");
    assert!(
        seen.contains(&format!("salt/job/{theirs}/ret/minion-1").as_str()),
        "bob may see minion-1's test.ping return: {seen:?}"
    );
    for tag in &seen {
        assert!(
            *tag != format!("salt/job/{theirs}/new")
                && *tag != format!("salt/job/{theirs}/ret/minion-2")
                && !tag.starts_with("salt/netapi/")
                && tag.starts_with("salt/job/")
                && (!tag.contains("/ret/") || tag.ends_with("/ret/minion-1")),
            "bob was shown {tag}: {seen:?}"
        );
    }
}

#[test]
#[ignore = "needs a Salt lab (PROJETYD_SALT_LAB); scripts/test.sh runs it"]
fn a_quiet_stream_has_heartbeats_and_shutdown_ends_it() {
    let lab = Lab::get();
    let _lab = lab.shared();
    let (mut server, token) = lab.daemon(&[]);
    let mut stream = Stream::open(&server, &token);
    assert_eq!(stream.next_message().as_deref(), Some("retry: 400"));
    // A quiet stream sends a heartbeat comment (every 15 s of silence);
    // an event of the lab's own traffic may come first.
    let start = Instant::now();
    loop {
        let message = stream
            .next_message()
            .expect("the stream ended before a heartbeat");
        if message == ": ping" {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no heartbeat; last message {message:?}"
        );
    }
    server.signal("TERM");
    let start = Instant::now();
    while stream.next_event().is_some() {
        assert!(start.elapsed() < PATIENCE, "the stream went on after SIGTERM");
    }
    let status = server.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(
        server.log().contains("event stream ended (Shutdown)"),
        "{}",
        server.log()
    );
}
