//! The daemon's life: open the database, bind the listener and the admin
//! socket, tell systemd it is ready, serve until SIGTERM or SIGINT, then
//! drain in-flight requests (bounded), write what is pending and flush.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::admin;
use crate::auth::Auth;
use crate::background::{Background, Shutdown};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::pool::{self, TaskPool};
use crate::salt::{self, Salt};
use crate::service;
use crate::store::{self, Store};
use crate::sync::LockAnyway as _;
use crate::systemd;

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid settings: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Salt(#[from] salt::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot open the admin socket {}: {source}", path.display())]
    AdminSocket {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// How often pending `last_seen_at` values are written and expired tokens
/// removed.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);
/// hyper's read buffer per connection, which bounds a request's headers,
/// and its write buffer. 16 KiB, as Node.js bounds headers: with 32 KiB,
/// 1,500 clients that pipeline and never read took the daemon to 78 MiB
/// (benches/hostile.rs, docs/benchmarks.md).
const HEADER_BUFFER: usize = 16 * 1024;

/// Open connections per client address. Trusted proxies are not counted:
/// everyone behind them shares their address.
struct PerAddress {
    limit: usize,
    exempt: Vec<crate::net::Net>,
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One counted connection; uncounted when dropped.
struct Slot {
    ip: Option<std::net::IpAddr>,
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl PerAddress {
    fn new(limit: usize, exempt: &[crate::net::Net]) -> PerAddress {
        PerAddress {
            limit,
            exempt: exempt.to_vec(),
            open: Arc::default(),
        }
    }

    fn take(&self, ip: std::net::IpAddr) -> Option<Slot> {
        if self.exempt.iter().any(|net| net.contains(ip)) {
            return Some(Slot {
                ip: None,
                open: self.open.clone(),
            });
        }
        let mut open = self.open.lock_anyway();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            ip: Some(ip),
            open: self.open.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self.open.lock_anyway();
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// How long a set of background loops gets to stop at shutdown; each stops
/// at its next `.await`, so this is only reached by one stuck in a blocking
/// call.
const LOOP_PATIENCE: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// `projetyd serve`: runs the daemon until a termination signal.
pub async fn serve(config: Config) -> Result<(), Error> {
    config.validate().map_err(Error::Config)?;
    let config = Arc::new(config);
    // Every loop that outlives a request runs here, and stops at the end.
    let background = Background::new();
    let salt = match &config.salt {
        None => None,
        Some(settings) => {
            let setup = salt::Setup::from_settings(settings)?;
            let salt = Salt::start(setup.master, setup.options, &background)?;
            salt.settle(Duration::from_secs(3)).await;
            log::info!(
                "Salt master: {}, event bus {}, pki {}",
                salt.master().ret_endpoint(),
                salt.master().event_socket().display(),
                salt.master().pki_dir.display()
            );
            Some(salt)
        }
    };
    let store = Store::open(&config.db_path)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    // salt-api's surface on a listener of its own, if configured.
    let saltapi_listener = match config.saltapi.as_ref().and_then(|api| api.listen) {
        None => None,
        Some(saltapi_addr) => {
            Some(
                TcpListener::bind(saltapi_addr)
                    .await
                    .map_err(|source| Error::Listen {
                        addr: saltapi_addr,
                        source,
                    })?,
            )
        }
    };
    let admin = admin::socket::bind(&config.admin_socket).map_err(|source| Error::AdminSocket {
        path: config.admin_socket.clone(),
        source,
    })?;
    let watching = Arc::new(service::Watching::default());
    let authority = Arc::new(service::Authority::new(store.clone()));
    let executor = Arc::new(service::SaltExecutor {
        salt: salt.clone(),
        watching: watching.clone(),
        authority: authority.clone(),
    });
    let settings = pool::Settings {
        workers: config.task_workers,
        queue: config.task_queue,
        retention: config.task_retention,
    };
    let pool = TaskPool::start(store.clone(), executor, settings, &background).await?;
    let max_timeout = config
        .salt
        .as_ref()
        .map_or(service::DEFAULT_MAX_TIMEOUT, |s| s.max_timeout);
    let service = Arc::new(service::Service::new(
        store.clone(),
        salt.clone(),
        pool.clone(),
        watching,
        authority,
        max_timeout,
    ));
    if let Some(salt) = &salt {
        background.spawn(
            "minion presence",
            service::presence::track(service.presence().clone(), salt.clone(), config.presence_interval),
        );
    }
    let shutdown = Shutdown::default();
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let state = AppState {
        service,
        shutdown: shutdown.clone(),
        auth: Auth::new(
            store.clone(),
            config.throttle.clone(),
            config.hashing_threads,
            metrics.logins.clone(),
        ),
        config: config.clone(),
        store: store.clone(),
        salt,
        started: Instant::now(),
        local: addr,
        metrics: metrics.clone(),
        streams: Arc::new(http::sse::Streams::new(config.stream_limit())),
        surfaces: http::Surfaces {
            v1: true,
            saltapi: config.saltapi.as_ref().is_some_and(|api| api.listen.is_none()),
        },
    };
    // The admin socket is its own Background: it must go with the
    // listener, before the pool stops (an admin command must not find a
    // daemon that no longer serves).
    let admin_loop = Background::new();
    admin_loop.spawn("admin socket", {
        let (store, connections) = (store.clone(), admin_loop.clone());
        async move { admin.serve(store, connections).await }
    });
    background.spawn("housekeeping", housekeeping(state.auth.clone()));
    background.spawn("store doctor", store_doctor(store.clone(), pool.clone()));
    let closed = crate::memory::Closed::default();
    background.spawn("memory trim", crate::memory::release_after_closes(closed.clone()));

    if let Some(listener) = &saltapi_listener {
        log::info!("salt-api surface listening on http://{}", listener.local_addr()?);
    }
    log::info!(
        "projetyd {} listening on http://{addr}, database {}, admin socket {}",
        env!("CARGO_PKG_VERSION"),
        config.db_path.display(),
        config.admin_socket.display()
    );
    // Handlers first: a signal sent the moment READY arrives must find them.
    let signal = shutdown_signal();
    systemd::notify(&format!(
        "READY=1\nSTATUS=listening on {addr}\nMAINPID={}",
        std::process::id()
    ));

    // Shutdown, in order: (1) the signal; handlers see it (a long poll
    // answers at once); the listener closes and open connections get the
    // drain time.
    let main = run(listener, state.clone(), closed.clone(), async move {
        signal.await;
        shutdown.begin();
    });
    let result = match saltapi_listener {
        None => main.await,
        Some(listener) => {
            let own = AppState {
                surfaces: http::Surfaces {
                    v1: false,
                    saltapi: true,
                },
                ..state.clone()
            };
            let stopping = state.shutdown.clone();
            let second = run(listener, own, closed, async move { stopping.begun().await });
            let (main, second) = tokio::join!(main, second);
            main.and(second)
        }
    };
    // (2) The admin socket goes with the listener.
    admin_loop.stop(LOOP_PATIENCE).await;
    // (3) Running tasks get the drain time to finish; the rest is
    // recovered at the next start.
    pool.shutdown(config.drain_timeout).await;
    // (4) Every background loop: Salt's, the pool's, group commit,
    // housekeeping, the store doctor, the trimmer.
    if !background.stop(LOOP_PATIENCE).await {
        log::warn!(
            "{} background loop(s) still running after {LOOP_PATIENCE:?}; going on",
            background.running()
        );
    }
    // (5) The last writes.
    let auth = state.auth.clone();
    let final_write = tokio::task::spawn_blocking(move || {
        auth.housekeeping()?;
        store.flush()
    })
    .await
    .map_err(io::Error::other)?;
    final_write?;
    log::info!("stopped");
    result.map_err(Error::from)
}

/// Accepts connections on `listener` until `shutdown` completes, then
/// stops accepting and gives open connections `drain_timeout` to finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    closed: crate::memory::Closed,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(state.config.max_connections));
    let per_address = PerAddress::new(
        state.config.max_connections_per_address,
        &state.config.trusted_proxies,
    );
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the connection semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    log::warn!("accept failed: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_address.take(peer.ip()) else {
            // Closed at once: one address may not take every slot.
            log::warn!(
                "connection from {peer} refused: {} open from that address already",
                state.config.max_connections_per_address
            );
            continue;
        };
        // Counted from here: the connection's task ends it.
        let open = state.metrics.connections.clone();
        open.inc();
        let state = state.clone();
        let header_timeout = state.config.header_timeout;
        let send_timeout = state.config.send_timeout;
        let service = service_fn(move |req| http::handle(state.clone(), peer, req));
        let io = http::stall::Stall::new(TokioIo::new(stream), send_timeout);
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            // Headers past this get hyper's 431: a few KiB is the norm, and
            // each open connection may hold this much.
            .max_buf_size(HEADER_BUFFER)
            .max_header_size(HEADER_BUFFER)
            .serve_connection(io, service);
        let conn = graceful.watch(conn);
        let closed = closed.clone();
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                log::debug!("connection from {peer} ended: {err}");
            }
            open.dec();
            drop(slot);
            drop(permit);
            closed.record();
        });
    }
    drop(listener);
    systemd::notify("STOPPING=1");
    log::info!("shutting down: draining open connections");
    if tokio::time::timeout(state.config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        log::warn!(
            "some connections were still open after {:?}; closing them",
            state.config.drain_timeout
        );
    }
    Ok(())
}

/// A future that completes on the first SIGTERM or SIGINT. The handlers are
/// installed when this is called, not when the future is first polled: the
/// daemon calls it before it reports ready, so a signal sent the moment it
/// is ready still shuts it down cleanly.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let streams =
        signal(SignalKind::terminate()).and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
    async move {
        match streams {
            Ok((mut term, mut int)) => tokio::select! {
                _ = term.recv() => log::info!("SIGTERM received"),
                _ = int.recv() => log::info!("SIGINT received"),
            },
            Err(err) => {
                // Without signal handlers the daemon could not stop cleanly;
                // fall back to Ctrl-C only.
                log::error!("cannot install signal handlers: {err}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// How often a failing store is probed.
const DOCTOR_EVERY: Duration = Duration::from_secs(2);

/// While database writes fail (a full disk, say), probes the directory
/// every 2 s; once a write succeeds there, reopens the store (sled's error
/// is sticky) and resumes the tasks that could not be moved on. The daemon
/// answers 503 with `Retry-After` meanwhile, and never needs a restart.
async fn store_doctor(store: Store, pool: Arc<TaskPool>) {
    let mut every = tokio::time::interval(DOCTOR_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if store.failing().is_none() {
            continue;
        }
        let store = store.clone();
        let healed = tokio::task::spawn_blocking(move || store.probe() && store.reopen().is_ok()).await;
        if matches!(healed, Ok(true)) {
            pool.resume();
        }
    }
}

async fn housekeeping(auth: Arc<Auth>) {
    let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let auth = auth.clone();
        match tokio::task::spawn_blocking(move || auth.housekeeping()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => log::error!("housekeeping failed: {err}"),
            Err(err) => log::error!("housekeeping task failed: {err}"),
        }
    }
}
