//! The daemon's Prometheus metrics (`GET /metrics`, docs/metrics.md): one
//! registry of its own, no global state. Counters and histograms are
//! updated where things happen; gauges that mirror state held elsewhere
//! (the task queue, the database size) are read when the page is asked
//! for.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// An HTTP answer: the endpoint's stable name (`users.get`, `-` when no
/// endpoint matched) and its status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Answered {
    pub endpoint: &'static str,
    pub status: u16,
}

/// One endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: &'static str,
}

/// How a password login ended: `ok`, `refused` (bad credentials) or
/// `throttled` (refused before any hashing).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginLabel {
    pub result: &'static str,
}

/// Password logins by result; [`crate::auth::Auth`] counts into it.
pub type Logins = Family<LoginLabel, Counter>;

/// Counts one password login by how it ended; errors that are not the
/// caller's (the database) are not logins and are not counted.
pub fn count_login<T>(logins: &Logins, outcome: &Result<T, crate::auth::Error>) {
    let result = match outcome {
        Ok(_) => "ok",
        Err(crate::auth::Error::Unauthenticated(_)) => "refused",
        Err(crate::auth::Error::Throttled { .. }) => "throttled",
        Err(_) => return,
    };
    logins.get_or_create(&LoginLabel { result }).inc();
}

/// The daemon's metrics; shared as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<Answered, Counter>,
    pub latency: Family<EndpointLabel, Histogram>,
    pub connections: Gauge,
    pub logins: Logins,
    /// Tasks waiting for a worker, and running, read at each scrape.
    pub tasks_queued: Gauge,
    pub tasks_running: Gauge,
    /// The database's size on disk in bytes, read at each scrape.
    pub store_bytes: Gauge<u64, AtomicU64>,
}

/// Latency buckets: 0.5 ms to about 65 s, doubling.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("projetyd");
        let requests = Family::<Answered, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by endpoint and status",
            requests.clone(),
        );
        let latency =
            Family::<EndpointLabel, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's headers to its answer, by endpoint",
            latency.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "http_connections",
            "HTTP connections open now",
            connections.clone(),
        );
        let logins = Logins::default();
        registry.register(
            "logins",
            "Password logins, by result (ok, refused, throttled)",
            logins.clone(),
        );
        let tasks_queued = Gauge::default();
        registry.register("tasks_queued", "Tasks waiting for a worker", tasks_queued.clone());
        let tasks_running = Gauge::default();
        registry.register("tasks_running", "Tasks running now", tasks_running.clone());
        let store_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "store_size_bytes",
            "Size of the database on disk",
            store_bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            connections,
            logins,
            tasks_queued,
            tasks_running,
            store_bytes,
        }
    }

    /// Counts one answered request.
    pub fn answered(&self, endpoint: &'static str, status: u16, seconds: f64) {
        self.requests.get_or_create(&Answered { endpoint, status }).inc();
        self.latency
            .get_or_create(&EndpointLabel { endpoint })
            .observe(seconds);
    }

    /// The page, in Prometheus's text format (OpenMetrics 1.0.0).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_each_family_once_with_its_labels() {
        let metrics = Metrics::new();
        metrics.answered("users.get", 200, 0.002);
        metrics.answered("users.get", 404, 0.001);
        count_login::<()>(
            &metrics.logins,
            &Err(crate::auth::Error::Throttled {
                retry_after: std::time::Duration::from_secs(1),
            }),
        );
        count_login(&metrics.logins, &Ok(()));
        let page = metrics.render();
        assert!(page.contains("# TYPE projetyd_http_requests counter"), "{page}");
        assert!(
            page.contains(r#"projetyd_http_requests_total{endpoint="users.get",status="200"} 1"#),
            "{page}"
        );
        assert!(
            page.contains(r#"projetyd_http_request_duration_seconds_count{endpoint="users.get"} 2"#),
            "{page}"
        );
        assert!(
            page.contains(r#"projetyd_logins_total{result="throttled"} 1"#),
            "{page}"
        );
        assert!(page.trim_end().ends_with("# EOF"), "{page}");
    }
}
