//! Load over HTTP: many clients, each on its own keep-alive connection,
//! calling back to back for a fixed window, or sharing out a number of
//! async jobs. What a call is, is the caller's (projetyd's pings and
//! reads, salt-api's).

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use crate::results::{AsyncRun, ClientAsync};
use crate::settings::CONNS;
use crate::stats::Series;
use projetyd_testkit::http::Client;

/// `clients` threads, each on its own keep-alive connection, calling `f`
/// back to back for `window`; calls in flight at the end are waited for.
pub fn http_load<F>(addr: SocketAddr, clients: usize, window: Duration, f: F) -> Series
where
    F: Fn(&mut Client, usize) -> Result<bool, String> + Sync,
{
    let start = Instant::now();
    let deadline = start + window;
    let f = &f;
    let parts: Vec<Series> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                scope.spawn(move || {
                    let mut conn = Client::new(addr);
                    let mut series = Series::default();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        series.record(t, f(&mut conn, i));
                    }
                    series
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut total = Series {
        clients,
        elapsed: start.elapsed(),
        ..Series::default()
    };
    for part in parts {
        total.merge(part);
    }
    total
}

/// `n` async jobs shared out to `CONNS` clients: each runs `client(next,
/// n, start)`, taking job numbers from `next` until there are none left
/// and then waiting for its own; their counts are added up.
pub fn async_clients<F>(n: usize, client: F) -> AsyncRun
where
    F: Fn(&AtomicUsize, usize, Instant) -> ClientAsync + Sync,
{
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let outs: Vec<ClientAsync> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CONNS)
            .map(|_| scope.spawn(|| client(&next, n, start)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    ClientAsync::total(n, outs)
}
