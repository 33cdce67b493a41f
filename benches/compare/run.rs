//! One run of the phases: what they share ([`Ctx`]: the lab, the floor,
//! the clients of projetyd and salt-api), the CPU marks and the memory
//! sampler around them, and what each phase records. The order of the
//! phases is `main`'s.

use std::time::{Duration, Instant};

use crate::cpu::{Phases, Procs};
use crate::daemon::Daemon;
use crate::floor::Floor;
use crate::lab::Lab;
use crate::procs::{group_rss_kib, rss_kib, Sampler};
use crate::projetyd::{self, Projetyd};
use crate::results::{Results, Surface};
use crate::salt_api::SaltApi;
use crate::settings::{Settings, CONNS, LEVELS, ONE, THREE};
use projetyd_testkit::bench::{load_average, Result};
use projetyd_testkit::binary;
use projetyd_testkit::http::Client;

/// What the phases share.
pub struct Ctx<'a> {
    pub lab: &'a Lab,
    pub floor: Floor,
    pub projetyd: Projetyd,
    pub api: Option<SaltApi>,
    /// projetyd's salt-api surface, logged in as `bench` (only measured
    /// beside salt-api).
    pub surface: Option<SaltApi>,
}

/// The phases' context, their CPU marks and memory sampler, and what they
/// measured so far.
pub struct Run<'a> {
    ctx: Ctx<'a>,
    phases: Phases,
    sampler: Sampler,
    results: Results,
}

impl<'a> Run<'a> {
    /// Connects the floor and salt-api's client, lets their first jobs
    /// end, takes the memory at rest and starts the sampler and the CPU
    /// marks.
    pub fn start(lab: &'a Lab, daemon: &Daemon) -> Result<Run<'a>> {
        let mut results = Results {
            load_before: load_average(),
            ..Results::default()
        };
        let floor = Floor::connect(&lab.master_config)?;
        let api = lab.api.as_ref().map(SaltApi::login).transpose()?;
        let surface = match api {
            Some(_) => Some(SaltApi::login_at(
                daemon.addr,
                "bench",
                &daemon.password,
                "projetyd",
            )?),
            None => None,
        };
        let procs = Procs {
            projetyd: daemon.pid(),
            api: lab.api.as_ref().and_then(|a| a.pid),
            master: lab.master_pid,
            minions: lab.minion_pids.clone(),
        };
        // The function-list jobs both clients run at start, salt-api's first
        // requests: let them end, then take the memory at rest.
        std::thread::sleep(Duration::from_secs(2));
        let fp = &mut results.footprint;
        fp.binary_bytes = std::fs::metadata(binary()).map_or(0, |m| m.len());
        fp.projetyd_rest_kib = rss_kib(procs.projetyd).unwrap_or(0);
        if let Some(pgid) = procs.api {
            let (kib, count) = group_rss_kib(pgid);
            fp.api_rest_kib = Some(kib);
            fp.api_processes = count;
        }
        let sampler = Sampler::start(procs.projetyd, procs.api);
        Ok(Run {
            ctx: Ctx {
                lab,
                floor,
                projetyd: Projetyd::new(daemon.addr, daemon.bearer.clone()),
                api,
                surface,
            },
            phases: Phases::start(procs),
            sampler,
            results,
        })
    }

    /// Sequential pings of 1 and of 3 minions, and projetyd's own cost.
    pub fn sync(&mut self, settings: &Settings) {
        eprintln!("compare: sequential pings, 1 minion");
        self.results.one = self.ctx.sequential(&ONE, settings);
        self.phases.end("sequential, 1 minion");
        eprintln!("compare: sequential pings, 3 minions");
        self.results.three = self.ctx.sequential(&THREE, settings);
        self.results.own = self.ctx.projetyd.own_cost(settings.n * 10);
        self.phases.end("sequential, 3 minions");
    }

    pub fn down(&mut self) {
        eprintln!("compare: a down minion, all systems at once");
        self.phases.settle();
        self.results.down = self.ctx.down();
        self.phases.end("down minion");
    }

    /// Each level of concurrency, for the floor, projetyd and salt-api in
    /// turn, with the Salt CPU of each window.
    pub fn load(&mut self, settings: &Settings) {
        let window = settings.window();
        for clients in LEVELS {
            eprintln!("compare: {clients} concurrent clients, {} s each", settings.secs);
            self.phases.settle();
            let mut f = self.ctx.floor.load(clients, window);
            f.salt_cpu = self.phases.end(&format!("floor, {clients} tasks"));
            self.phases.settle();
            let mut p = self.ctx.projetyd.load(clients, window);
            p.salt_cpu = self.phases.end(&format!("projetyd, {clients} clients"));
            let a = self.ctx.api.as_ref().map(|api| {
                self.phases.settle();
                let mut load = api.load(clients, window);
                load.salt_cpu = self.phases.end(&format!("salt-api, {clients} clients"));
                load
            });
            self.results.loads.push((clients, f, p, a));
        }
    }

    /// The same lowstate ping through projetyd's salt-api surface and
    /// salt-api: sequential in turns (who goes first alternates), then
    /// `CONNS` clients for a window each. Skipped without salt-api.
    pub fn surface(&mut self, settings: &Settings) {
        let (Some(api), Some(surface)) = (&self.ctx.api, &self.ctx.surface) else {
            return;
        };
        eprintln!("compare: salt-api's surface, sequential lowstate pings");
        self.phases.settle();
        let mut s = Surface::default();
        let (mut pc, mut ac) = (Client::new(surface.addr), Client::new(api.addr));
        for i in 0..settings.warmup + settings.n {
            for turn in 0..2 {
                let start = Instant::now();
                let (system, conn, series) = match (i + turn) % 2 {
                    0 => (surface, &mut pc, &mut s.projetyd),
                    _ => (api, &mut ac, &mut s.salt_api),
                };
                let r = system.ping(conn, &ONE);
                if i >= settings.warmup {
                    series.record(start, r);
                }
            }
        }
        self.phases.end("salt-api surface, sequential");
        let window = settings.window();
        eprintln!(
            "compare: salt-api's surface, {CONNS} clients, {} s each",
            settings.secs
        );
        self.phases.settle();
        s.projetyd_load = surface.load(CONNS, window);
        s.projetyd_load.salt_cpu = self
            .phases
            .end(&format!("projetyd salt-api surface, {CONNS} clients"));
        self.phases.settle();
        s.salt_api_load = api.load(CONNS, window);
        s.salt_api_load.salt_cpu = self.phases.end(&format!("salt-api lowstates, {CONNS} clients"));
        self.results.surface = Some(s);
    }

    pub fn reads(&mut self, settings: &Settings) {
        eprintln!(
            "compare: cheap reads, {CONNS} connections, {} s each",
            settings.secs
        );
        let window = settings.window();
        self.phases.settle();
        self.results.reads_keys = self.ctx.projetyd.read_load("/api/v1.0/keys", window);
        self.phases.end("projetyd GET /keys");
        self.results.reads_users = self.ctx.projetyd.read_load("/api/v1.0/users", window);
        self.phases.end("projetyd GET /users");
        if let Some(api) = &self.ctx.api {
            self.results.reads_api_keys = Some(api.read_load(window));
            self.phases.end("salt-api GET /keys");
        }
    }

    pub fn asyncs(&mut self, settings: &Settings) {
        let workers = projetyd::task_workers();
        eprintln!(
            "compare: async pings: floor {} ({workers} at a time, as projetyd's task workers)",
            settings.async_n
        );
        self.phases.settle();
        self.results.async_floor = self.ctx.floor.async_run(settings.async_n, workers);
        self.phases.end("async, floor");
        eprintln!("compare: async pings: projetyd {}", settings.async_n);
        self.phases.settle();
        self.results.async_projetyd = self.ctx.projetyd.async_run(settings.async_n);
        self.phases.end("async, projetyd");
        if let Some(api) = &self.ctx.api {
            eprintln!("compare: async pings: salt-api {}", settings.api_async_n);
            self.phases.settle();
            self.results.async_api = Some(api.async_run(settings.api_async_n));
            self.phases.end("async, salt-api");
        }
    }

    /// Stops the sampler, takes the memory after the load, and closes the
    /// floor.
    pub fn finish(self) -> Results {
        let Run {
            ctx,
            phases,
            sampler,
            mut results,
        } = self;
        let (peak_projetyd, peak_api) = sampler.finish();
        let procs = phases.procs();
        let fp = &mut results.footprint;
        fp.projetyd_after_kib = rss_kib(procs.projetyd).unwrap_or(0);
        fp.projetyd_peak_kib = peak_projetyd.max(fp.projetyd_after_kib);
        if let Some(pgid) = procs.api {
            let after = group_rss_kib(pgid).0;
            fp.api_after_kib = Some(after);
            fp.api_peak_kib = Some(peak_api.max(after));
        }
        results.load_after = load_average();
        results.cpu = phases.finish();
        ctx.floor.shutdown();
        results
    }
}
