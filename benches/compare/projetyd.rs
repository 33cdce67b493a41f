//! What the phases ask of projetyd over its HTTP API: sync pings (one at a
//! time and under load), its own cost without Salt, cheap reads, the down
//! minion, and async pings polled to the end. Talks to a running daemon;
//! starting it is `daemon.rs`'s.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::load::http_load;
use crate::results::{AsyncRun, ClientAsync};
use crate::settings::{CONNS, DOWN, POLL_LIMIT, THREE};
use crate::stats::Series;
use projetyd_testkit::binary;
use projetyd_testkit::http::Client;

/// A client of the daemon, logged in.
pub struct Projetyd {
    pub addr: SocketAddr,
    /// `Bearer <token>`.
    bearer: String,
}

/// `POST /ping/<id>` for one target, `POST /ping` with a list otherwise.
pub fn ping_request(targets: &[&str]) -> (String, Vec<u8>) {
    match targets {
        [one] => (format!("/api/v1.0/ping/{one}"), Vec::new()),
        _ => (
            "/api/v1.0/ping".into(),
            json!({ "target": targets }).to_string().into_bytes(),
        ),
    }
}

impl Projetyd {
    pub fn new(addr: SocketAddr, bearer: String) -> Projetyd {
        Projetyd { addr, bearer }
    }

    fn auth(&self) -> [(&str, &str); 1] {
        [("Authorization", self.bearer.as_str())]
    }

    /// One sync ping; `Ok(true)` when the answer is 200 with `true` for
    /// every minion in `expect`.
    pub fn ping(&self, conn: &mut Client, path: &str, body: &[u8], expect: &[&str]) -> Result<bool, String> {
        let reply = conn
            .send("POST", path, &self.auth(), body)
            .map_err(|e| format!("io: {e}"))?;
        if reply.status != 200 {
            return Err(reply.describe());
        }
        let v = reply.try_json()?;
        Ok(expect.iter().all(|m| v[*m] == Value::Bool(true)))
    }

    /// projetyd's own work on a ping, without Salt: `POST /ping/<id that
    /// is not a key>` (HTTP, token, key check, the 404).
    pub fn own_cost(&self, n: usize) -> Series {
        let mut conn = Client::new(self.addr);
        let mut series = Series::default();
        let path = "/api/v1.0/ping/bench-no-such-minion";
        for i in 0..n + 50 {
            let start = Instant::now();
            let r = match conn.send("POST", path, &self.auth(), b"") {
                Ok(reply) if reply.status == 404 => Ok(true),
                Ok(reply) => Err(reply.describe()),
                Err(err) => Err(format!("io: {err}")),
            };
            if i >= 50 {
                series.record(start, r);
            }
        }
        series
    }

    /// What `POST /ping/minion-down` answers.
    pub fn down(&self) -> String {
        let mut conn = Client::new(self.addr);
        let path = format!("/api/v1.0/ping/{DOWN}");
        match conn.send("POST", &path, &self.auth(), b"") {
            Ok(reply) => reply.describe(),
            Err(e) => format!("io: {e}"),
        }
    }

    /// `clients` clients pinging minion-<i%3+1> back to back.
    pub fn load(&self, clients: usize, window: Duration) -> Series {
        http_load(self.addr, clients, window, |conn, i| {
            let minion = THREE[i % 3];
            self.ping(conn, &format!("/api/v1.0/ping/{minion}"), b"", &[minion])
        })
    }

    /// `GET path` with `CONNS` connections.
    pub fn read_load(&self, path: &str, window: Duration) -> Series {
        http_load(self.addr, CONNS, window, |conn, _| {
            match conn.send("GET", path, &self.auth(), b"") {
                Ok(reply) if reply.status == 200 => Ok(true),
                Ok(reply) => Err(reply.describe()),
                Err(e) => Err(format!("io: {e}")),
            }
        })
    }

    /// `n` async pings submitted by `CONNS` clients (each on its own
    /// connection), then each client long-polls the status of the tasks it
    /// submitted until it is final.
    pub fn async_run(&self, n: usize) -> AsyncRun {
        crate::load::async_clients(n, |next, n, start| self.async_client(next, n, start))
    }

    /// One client of the async run: submits tasks while there are any
    /// left to take, then polls each of its own.
    fn async_client(&self, next: &AtomicUsize, n: usize, start: Instant) -> ClientAsync {
        let mut out = ClientAsync::default();
        let mut conn = Client::new(self.addr);
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let minion = THREE[i % 3];
            let path = format!("/api/v1.0/tasks/ping/{minion}");
            match conn.send("POST", &path, &self.auth(), b"") {
                Ok(reply) if reply.status == 202 => match reply.header("location") {
                    Some(loc) => mine.push((minion, url_path(loc).to_owned())),
                    None => out.submit_error("202 without a Location".into()),
                },
                Ok(reply) => out.submit_error(reply.describe()),
                Err(e) => out.submit_error(format!("io: {e}")),
            }
            out.last_submit = start.elapsed();
        }
        for (minion, path) in mine {
            self.poll(&mut conn, &mut out, minion, &path, start);
        }
        out
    }

    /// Long-polls one task (`?wait=60`) until its status is final.
    fn poll(&self, conn: &mut Client, out: &mut ClientAsync, minion: &str, path: &str, start: Instant) {
        let poll = format!("{path}?wait=60");
        loop {
            if start.elapsed() > POLL_LIMIT {
                out.lost("still not done when polling stopped".into());
                return;
            }
            out.polls += 1;
            match conn.send("GET", &poll, &self.auth(), b"") {
                Ok(reply) if reply.status == 202 => continue,
                Ok(reply) if reply.status == 200 => {
                    let all = reply.try_json().is_ok_and(|v| v[minion] == Value::Bool(true));
                    out.visible(start.elapsed(), all);
                }
                Ok(reply) => out.lost(reply.describe()),
                Err(e) => out.lost(format!("io: {e}")),
            }
            return;
        }
    }
}

/// The daemon's default `--task-workers`, from `projetyd serve --help`
/// ("... (default N; ...)"); 8 if the text cannot be read.
pub fn task_workers() -> usize {
    let help = Command::new(binary())
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    help.split("\n  --")
        .find(|option| option.starts_with("task-workers "))
        .and_then(|option| option.split_once("(default ").map(|(_, rest)| rest))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or(8)
}

/// The path of an absolute URL (`http://host/path` → `/path`).
fn url_path(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}
