//! What the phases ask of salt-api (rest_cherrypy): the login, sync pings
//! (`client: local`), `GET /keys`, the down minion, and `local_async`
//! pings polled with `GET /jobs/<jid>`. The lab starts salt-api; this only
//! talks to it. The same calls go to projetyd's own salt-api surface in
//! the `surface` phase.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::lab::ApiLab;
use crate::load::http_load;
use crate::results::{AsyncRun, ClientAsync};
use crate::settings::{CONNS, DOWN, POLL_LIMIT, THREE};
use crate::stats::{one_line, Series};
use projetyd_testkit::bench::Result;
use projetyd_testkit::http::Client;

pub struct SaltApi {
    pub addr: SocketAddr,
    token: String,
}

impl SaltApi {
    /// `POST /login` with the `auto` eauth; the `X-Auth-Token` is shared by
    /// every client (salt-api releases the session lock before it runs
    /// a command, so the clients do not queue on it).
    pub fn login(lab: &ApiLab) -> Result<SaltApi> {
        SaltApi::login_at(lab.addr, &lab.user, "bench", &lab.eauth)
    }

    /// The same `POST /login` on any server of salt-api's surface:
    /// projetyd's takes its own users under the eauth name `projetyd`.
    pub fn login_at(addr: SocketAddr, user: &str, password: &str, eauth: &str) -> Result<SaltApi> {
        let mut conn = Client::new(addr);
        let body = json!({ "username": user, "password": password, "eauth": eauth });
        let reply = conn.send(
            "POST",
            "/login",
            &[
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )?;
        if reply.status != 200 {
            return Err(format!("{addr} POST /login: {}", reply.describe()).into());
        }
        let token = reply
            .header("x-auth-token")
            .ok_or_else(|| format!("{addr} POST /login: no X-Auth-Token"))?
            .to_owned();
        Ok(SaltApi { addr, token })
    }

    fn headers(&self) -> [(&str, &str); 3] {
        [
            ("X-Auth-Token", self.token.as_str()),
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
        ]
    }

    /// `POST /` with one low-state chunk; the parsed JSON of a 200.
    fn low(&self, conn: &mut Client, low: &Value) -> Result<Value, String> {
        let body = json!([low]).to_string();
        let reply = conn
            .send("POST", "/", &self.headers(), body.as_bytes())
            .map_err(|e| format!("io: {e}"))?;
        if reply.status != 200 {
            return Err(reply.describe());
        }
        reply.try_json()
    }

    /// A sync ping (`client: local`); `Ok(true)` when every target is
    /// `true` in the return.
    pub fn ping(&self, conn: &mut Client, targets: &[&str]) -> Result<bool, String> {
        let low = match targets {
            [one] => json!({ "client": "local", "tgt": one, "fun": "test.ping" }),
            _ => {
                json!({ "client": "local", "tgt": targets.join(","), "tgt_type": "list", "fun": "test.ping" })
            }
        };
        let v = self.low(conn, &low)?;
        Ok(targets.iter().all(|m| v["return"][0][*m] == Value::Bool(true)))
    }

    /// What a sync ping of minion-down answers.
    pub fn down(&self) -> String {
        let mut conn = Client::new(self.addr);
        let low = json!([{ "client": "local", "tgt": DOWN, "fun": "test.ping" }]);
        match conn.send("POST", "/", &self.headers(), low.to_string().as_bytes()) {
            Ok(reply) => reply.describe(),
            Err(e) => format!("io: {e}"),
        }
    }

    /// `clients` clients pinging minion-<i%3+1> back to back.
    pub fn load(&self, clients: usize, window: Duration) -> Series {
        http_load(self.addr, clients, window, |conn, i| {
            self.ping(conn, &[THREE[i % 3]])
        })
    }

    /// `GET /keys` with `CONNS` connections.
    pub fn read_load(&self, window: Duration) -> Series {
        http_load(self.addr, CONNS, window, |conn, _| {
            let reply = conn
                .send("GET", "/keys", &self.headers(), b"")
                .map_err(|e| format!("io: {e}"))?;
            if reply.status != 200 {
                return Err(reply.describe());
            }
            Ok(reply.try_json()?["return"]["minions"].is_array())
        })
    }

    /// `n` `local_async` pings submitted by `CONNS` clients, then each
    /// client cycles through its jids with `GET /jobs/<jid>` until the
    /// minion's return is in the answer. (A job not finished and a target
    /// that matched nothing both give `{"return": [{}]}`: there is no
    /// "done" flag, only the minion's id appearing.)
    pub fn async_run(&self, n: usize) -> AsyncRun {
        crate::load::async_clients(n, |next, n, start| self.async_client(next, n, start))
    }

    /// One client of the async run: submits jobs while there are any left
    /// to take, then polls its own until each has its return.
    fn async_client(&self, next: &AtomicUsize, n: usize, start: Instant) -> ClientAsync {
        let mut out = ClientAsync::default();
        let mut conn = Client::new(self.addr);
        let mut pending = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let minion = THREE[i % 3];
            let low = json!({ "client": "local_async", "tgt": minion, "fun": "test.ping" });
            match self.low(&mut conn, &low) {
                Ok(v) => match v["return"][0]["jid"].as_str() {
                    Some(jid) => pending.push((minion, jid.to_owned())),
                    None => out.submit_error(format!("no jid in {}", one_line(&v.to_string()))),
                },
                Err(e) => out.submit_error(e),
            }
            out.last_submit = start.elapsed();
        }
        while !pending.is_empty() {
            if start.elapsed() > POLL_LIMIT {
                for _ in pending.drain(..) {
                    out.lost("still no return when polling stopped".into());
                }
                break;
            }
            let round = Instant::now();
            let before = pending.len();
            pending = self.poll_round(&mut conn, &mut out, pending, start);
            if pending.len() == before && round.elapsed() < Duration::from_millis(100) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        out
    }

    /// `GET /jobs/<jid>` once for each pending job; the jobs still without
    /// their minion's return. A poll that failed is tried again.
    fn poll_round<'m>(
        &self,
        conn: &mut Client,
        out: &mut ClientAsync,
        pending: Vec<(&'m str, String)>,
        start: Instant,
    ) -> Vec<(&'m str, String)> {
        let mut still = Vec::new();
        for (minion, jid) in pending {
            out.polls += 1;
            match conn.send("GET", &format!("/jobs/{jid}"), &self.headers(), b"") {
                Ok(r) if r.status == 200 => match r.try_json() {
                    Ok(v) if v["return"][0].get(minion).is_some() => {
                        out.visible(start.elapsed(), v["return"][0][minion] == Value::Bool(true));
                    }
                    _ => still.push((minion, jid)),
                },
                Ok(r) => {
                    out.reasons.push(format!("poll: {}", r.describe()));
                    still.push((minion, jid));
                }
                Err(e) => {
                    out.reasons.push(format!("poll: io: {e}"));
                    still.push((minion, jid));
                }
            }
        }
        still
    }
}
