//! The HTTP plumbing every API surface shares: one entry point
//! ([`handle`]) that looks the request up in the surface's route table
//! ([`route`]), checks `Host`, authenticates as the endpoint says before
//! the body is read, reads the body within its limits, calls the surface
//! and logs one line per request. The v1.0 surface and its handlers are in
//! [`v1`].
//!
//! Holds no business rules: those are in `service`, `auth` and `store`.

pub mod body;
pub mod client;
pub mod cors;
mod error;
pub(crate) mod query;
pub mod route;
pub mod saltapi;
pub mod sse;
pub mod stall;
pub mod v1;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH};
use hyper::Request;

use body::Reply;

pub use error::{ApiError, BEARER_CHALLENGE};

use crate::auth::{Auth, Caller};
use crate::config::Config;
use crate::salt::Salt;
use crate::service::Service;
use crate::store::Store;

/// What every request handler can reach. Each field is a cheap handle.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub auth: Arc<Auth>,
    /// The Salt client; `None` when running with `--no-salt`.
    pub salt: Option<Arc<Salt>>,
    /// What the API does, with no HTTP in it.
    pub service: Arc<Service>,
    /// Begun once the daemon is stopping: a long poll answers at once.
    pub shutdown: crate::background::Shutdown,
    /// When the daemon started, for `/healthz`.
    pub started: Instant,
    /// The address actually bound (the configured one may say port 0):
    /// the base of `Location` when the request's Host cannot be used.
    pub local: SocketAddr,
    /// Which surfaces this listener serves.
    pub surfaces: Surfaces,
    /// What `GET /metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The event streams open, both surfaces and listeners together.
    pub streams: Arc<sse::Streams>,
}

/// The API surfaces a listener serves: both on the main one (unless
/// salt-api's has a listener of its own), salt-api's alone on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surfaces {
    pub v1: bool,
    pub saltapi: bool,
}

impl AppState {
    /// The Salt client, or 503 when the daemon runs without Salt.
    fn salt(&self) -> Result<&Arc<Salt>, ApiError> {
        self.salt.as_ref().ok_or_else(|| ApiError::Unavailable {
            message: "this projetyd runs without a Salt master (--no-salt)".into(),
            retry_after: std::time::Duration::from_secs(3600),
        })
    }
}

/// A request whose body has been read in full.
pub struct Req {
    pub parts: hyper::http::request::Parts,
    pub body: Bytes,
    pub peer: SocketAddr,
    /// The path parameters of its endpoint's pattern.
    pub params: route::Params,
    /// The caller its token named, checked before the body was read
    /// (endpoints with [`route::Access::Token`]); `None` for the others.
    pub caller: Option<Caller>,
}

impl Req {
    /// The caller authenticated before the body was read. Only endpoints
    /// whose table entry says [`route::Access::Token`] have one; a handler
    /// of another asking for it is a bug in the table, answered 500.
    pub fn caller(&self) -> Result<Caller, ApiError> {
        self.caller.ok_or_else(|| {
            log::error!("a handler asked for a caller its endpoint does not authenticate");
            ApiError::ServerError("the server could not complete the request".into())
        })
    }
}

/// Serves one request; never fails (errors become JSON responses).
pub async fn handle(state: AppState, peer: SocketAddr, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let started = Instant::now();
    let peer = client::address(peer, req.headers(), &state.config.trusted_proxies);
    let method = req.method().clone();
    // Only the path is logged: a query string is the client's business.
    let path = req.uri().path().to_owned();
    // Boxed: hyper keeps each connection's request future in a box of its
    // own for the connection's whole life, sized for the largest route
    // (about 2.7 KiB). Boxed here, an idle connection holds a pointer and
    // the route's state exists only while a request is served.
    let (name, response) = Box::pin(respond(&state, peer, req)).await;
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.answered(name, response.status().as_u16(), seconds);
    log::info!(
        target: "projetyd::access",
        "{peer} {method} {path} {} {:.1}ms {name}",
        response.status().as_u16(),
        seconds * 1000.0
    );
    Ok(response)
}

/// The answer to one request, and the name of the endpoint that gave it
/// (`-` when none did).
async fn respond(state: &AppState, peer: SocketAddr, req: Request<Incoming>) -> (&'static str, Reply) {
    let (parts, body) = req.into_parts();
    let preflight = state.surfaces.v1 && cors::is_preflight(&parts.method, &parts.headers);
    if let (true, Some((pattern, _))) = (preflight, route::resource(v1::TABLE, parts.uri.path())) {
        let allow = route::allow(v1::TABLE, pattern);
        let reply = cors::preflight(&state.config.cors_origins, &parts.headers, &allow);
        return ("cors.preflight", unread_body(&parts, reply));
    }
    // 404 first, then a bad Host (400), then 405: all before the body.
    let found = match state.surfaces.v1 {
        true => route::find(v1::TABLE, &parts.method, parts.uri.path()),
        false => route::Found::NotFound,
    };
    if matches!(found, route::Found::NotFound)
        && state.surfaces.saltapi
        && host_error(&parts).is_none()
        && state
            .config
            .saltapi
            .as_ref()
            .is_some_and(|settings| saltapi::claims(settings, parts.uri.path()))
    {
        return saltapi::respond(state, peer, parts, body).await;
    }
    let refused = match (found, host_error(&parts)) {
        (route::Found::NotFound, _) => Err(ApiError::NotFound("invalid resource URI".into())),
        (_, Some(err)) => Err(err),
        (route::Found::MethodNotAllowed(allow), None) => Err(ApiError::MethodNotAllowed {
            method: parts.method.to_string(),
            allow,
        }),
        (route::Found::Endpoint(endpoint, params), None) => Ok((endpoint, params)),
    };
    // Kept for the answer's CORS headers (the request's go with its parts).
    let origin = parts.headers.get(hyper::header::ORIGIN).cloned();
    let origins = &state.config.cors_origins;
    let (endpoint, params) = match refused {
        Ok(found) => found,
        Err(err) => {
            let mut reply = unread_body(&parts, err.into_response());
            cors::decorate(origins, origin.as_ref(), &mut reply);
            return ("-", reply);
        }
    };
    let answer = async {
        // Authenticate before the body is read: an unauthenticated
        // `Expect: 100-continue` gets its 401 without `100 Continue`, and
        // no body of a caller without a valid token is ever read.
        let caller = match endpoint.access {
            route::Access::Open => None,
            route::Access::Token => {
                let header = parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
                match state.auth.authenticate(header) {
                    Ok(found) => Some(found),
                    Err(err) => return Ok(unread_body(&parts, ApiError::from(err).into_response())),
                }
            }
        };
        let body = read_body(state, &parts, body).await?;
        let req = Req {
            parts,
            body,
            peer,
            params,
            caller,
        };
        v1::dispatch(state, endpoint.call, &req).await
    };
    let mut reply = answer.await.unwrap_or_else(ApiError::into_response);
    cors::decorate(origins, origin.as_ref(), &mut reply);
    (endpoint.name, reply)
}

/// HTTP/1.1 requires one `Host`, and `Location` URLs are built from it.
fn host_error(parts: &hyper::http::request::Parts) -> Option<ApiError> {
    let hosts = parts.headers.get_all(hyper::header::HOST).iter().count();
    (parts.version == hyper::Version::HTTP_11 && hosts != 1).then(|| {
        ApiError::BadRequest(format!(
            "an HTTP/1.1 request needs exactly one Host header ({hosts} sent)"
        ))
    })
}

/// `response`, closing the connection if the request announced a body that
/// was not read (it would be taken for the next request).
fn unread_body(parts: &hyper::http::request::Parts, mut response: Reply) -> Reply {
    if has_body(parts) {
        response
            .headers_mut()
            .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether the request announces a body.
fn has_body(parts: &hyper::http::request::Parts) -> bool {
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v != "0");
    declared || parts.headers.contains_key(hyper::header::TRANSFER_ENCODING)
}

/// Reads the whole body: 413 past the limit (at once if `Content-Length`
/// says so), 408 if the client takes longer than the body timeout.
///
/// Each frame is copied out as it arrives and dropped: a frame is a slice
/// of hyper's read buffer, and keeping it (as `collect()` does) pins that
/// whole buffer, so a client dripping its body a byte at a time would pin
/// one 8 KiB buffer per byte (measured: 1,500 such clients took the
/// daemon from 39 to 218 MB; benches/hostile.rs, docs/benchmarks.md).
async fn read_body(
    state: &AppState,
    parts: &hyper::http::request::Parts,
    mut body: Incoming,
) -> Result<Bytes, ApiError> {
    let limit = state.config.body_limit;
    let too_large = ApiError::PayloadTooLarge { limit };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    // Grown as bytes arrive, not sized from Content-Length: a client that
    // announces 64 KiB and sends nothing must not cost 64 KiB.
    let mut buffer = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|err| ApiError::BadRequest(format!("could not read the request body: {err}")))?;
            if let Some(data) = frame.data_ref() {
                if buffer.len() + data.len() > limit {
                    return Err(too_large);
                }
                buffer.extend_from_slice(data);
            }
        }
        Ok(())
    };
    match tokio::time::timeout(state.config.body_timeout, read).await {
        Err(_) => Err(ApiError::RequestTimeout),
        Ok(Err(err)) => Err(err),
        Ok(Ok(())) => Ok(Bytes::from(buffer)),
    }
}

/// The first value of query parameter `name`, undecoded.
pub(crate) fn query_param<'r>(req: &'r Req, name: &str) -> Option<&'r str> {
    req.parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some((key, value)) if key == name => Some(value),
            None if pair == name => Some(""),
            _ => None,
        })
}
