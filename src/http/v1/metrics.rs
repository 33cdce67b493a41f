//! `GET /metrics`: the daemon's Prometheus metrics (docs/metrics.md).
//!
//! Read without a token from the addresses `metrics-from` lists (loopback
//! by default); from anywhere else only with an admin's token. The address
//! is the client's as the access log has it: behind a reverse proxy, list
//! the proxy in `trusted-proxy`, or every proxied client is loopback.

use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::Response;

use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState, Req};

/// Prometheus's content type for the OpenMetrics text format.
const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// # `GET /metrics`
///
/// - `200` the page, in the OpenMetrics text format
/// - `401` from an address `metrics-from` does not list, without a valid
///   token; `403` with a token that is not an admin's
pub async fn get(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let listed = state
        .config
        .metrics_from
        .iter()
        .any(|net| net.contains(req.peer.ip()));
    if !listed {
        let header = req.parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
        let caller = state.auth.authenticate(header)?;
        if !state.store.is_admin(caller.user_id)? {
            return Err(ApiError::Forbidden(
                "only admins may read the metrics from this address".into(),
            ));
        }
    }
    let metrics = &state.metrics;
    let (queued, running) = state.service.task_load();
    metrics.tasks_queued.set(queued as i64);
    metrics.tasks_running.set(running as i64);
    // sled walks its files to size them: off the async threads.
    let store = state.store.clone();
    if let Ok(Ok(bytes)) = tokio::task::spawn_blocking(move || store.size_on_disk()).await {
        metrics.store_bytes.set(bytes);
    }
    let mut reply = Response::new(body::full(metrics.render()));
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT));
    Ok(reply)
}
