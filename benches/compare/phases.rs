//! The two phases where the four systems meet: sequential pings, taken in
//! turns call by call (so that the master's drift weighs on all alike),
//! and the down minion, asked of all four at the same moment. Each
//! system's own calls are in its own file.

use std::time::Instant;

use crate::cli;
use crate::projetyd::ping_request;
use crate::results::{Down, Quad};
use crate::run::Ctx;
use crate::settings::Settings;
use projetyd_testkit::http::Client;

/// The HTTP connections of the sequential pings, kept open throughout.
struct Conns {
    path: String,
    body: Vec<u8>,
    projetyd: Client,
    api: Option<Client>,
}

impl Ctx<'_> {
    /// Sequential pings of `targets`: floor, projetyd and salt-api take
    /// turns call by call (who goes first rotates); the salt command joins
    /// on every few turns.
    pub fn sequential(&self, targets: &[&str], settings: &Settings) -> Quad {
        let mut quad = Quad::default();
        let (path, body) = ping_request(targets);
        let mut conns = Conns {
            path,
            body,
            projetyd: Client::new(self.projetyd.addr),
            api: self.api.as_ref().map(|a| Client::new(a.addr)),
        };
        let every = (settings.n / settings.cli_n).max(1);
        // One untimed run of the salt command: Python's first imports.
        let _ = cli::ping(self.lab, targets);
        for i in 0..settings.warmup + settings.n {
            let timed = i >= settings.warmup;
            let (floor_ms, projetyd_ms) = self.round(i, timed, targets, &mut conns, &mut quad);
            if let (Some(f), Some(p)) = (floor_ms, projetyd_ms) {
                quad.paired.push(p - f);
            }
            if timed && (i - settings.warmup) % every == 0 && quad.cli.samples.len() < settings.cli_n {
                let start = Instant::now();
                let r = cli::ping(self.lab, targets);
                quad.cli.record(start, r);
            }
        }
        quad
    }

    /// Round `i`: the floor, projetyd and salt-api once each, the
    /// `i % 3`-th first; recorded when `timed`. The floor's and projetyd's
    /// times in ms, when they answered.
    fn round(
        &self,
        i: usize,
        timed: bool,
        targets: &[&str],
        conns: &mut Conns,
        quad: &mut Quad,
    ) -> (Option<f64>, Option<f64>) {
        let (mut floor_ms, mut projetyd_ms) = (None, None);
        for turn in 0..3 {
            let start = Instant::now();
            match (i + turn) % 3 {
                0 => {
                    let r = self.floor.ping(targets);
                    if timed {
                        floor_ms = r.is_ok().then(|| start.elapsed().as_secs_f64() * 1e3);
                        quad.floor.record(start, r);
                    }
                }
                1 => {
                    let r = self
                        .projetyd
                        .ping(&mut conns.projetyd, &conns.path, &conns.body, targets);
                    if timed {
                        projetyd_ms = r.is_ok().then(|| start.elapsed().as_secs_f64() * 1e3);
                        quad.projetyd.record(start, r);
                    }
                }
                _ => {
                    if let (Some(api), Some(conn)) = (&self.api, conns.api.as_mut()) {
                        let r = api.ping(conn, targets);
                        if timed {
                            quad.salt_api.record(start, r);
                        }
                    }
                }
            }
        }
        (floor_ms, projetyd_ms)
    }

    /// The four systems asked about `minion-down` at the same moment.
    pub fn down(&self) -> Vec<Down> {
        let timed = |system: &'static str, f: &(dyn Fn() -> String + Sync)| {
            let start = Instant::now();
            let answer = f();
            Down {
                system,
                secs: start.elapsed().as_secs_f64(),
                answer,
            }
        };
        std::thread::scope(|s| {
            let floor = s.spawn(|| timed("floor", &|| self.floor.down()));
            let projetyd = s.spawn(|| timed("projetyd", &|| self.projetyd.down()));
            let api = self
                .api
                .as_ref()
                .map(|api| s.spawn(move || timed("salt-api", &|| api.down())));
            let cli = s.spawn(|| timed("salt CLI", &|| cli::down(self.lab)));
            let mut downs = Vec::new();
            for handle in [Some(floor), Some(projetyd), api, Some(cli)]
                .into_iter()
                .flatten()
            {
                if let Ok(d) = handle.join() {
                    downs.push(d);
                }
            }
            downs
        })
    }
}
