//! The HTTP API: one entry point ([`handle`]) that reads the body within
//! its limits, routes by `(method, path)`, calls the resource's handler and
//! logs one line per request. Handlers live one file per resource.
//!
//! Holds no business rules: those are in `auth` and `store`.

pub mod client;
mod error;
mod functions;
mod health;
mod jobs;
mod keys;
pub(crate) mod ping;
pub(crate) mod query;
pub mod stall;
pub(crate) mod tasks;
pub(crate) mod tokens;
mod users;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

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
    /// When the daemon started, for `/healthz`.
    pub started: Instant,
    /// The address actually bound (the configured one may say port 0):
    /// the base of `Location` when the request's Host cannot be used.
    pub local: SocketAddr,
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
    /// The Bearer caller, checked before the body was read (routes that
    /// take a token); `None` for the others.
    pub caller: Option<Caller>,
}

/// The routes: every path the API knows, whatever the method. Path
/// parameters are percent-decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Health,
    Tokens,
    Users,
    User(String),
    Keys,
    Functions,
    Ping,
    PingOne(String),
    TaskPing,
    TaskPingOne(String),
    TaskStatus(String),
    Jobs,
    Job(String),
}

impl Route {
    pub(crate) fn resolve(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let route = match segments.as_slice() {
            ["healthz"] => Route::Health,
            ["api", "v1.0", "tokens"] => Route::Tokens,
            ["api", "v1.0", "users"] => Route::Users,
            ["api", "v1.0", "users", id] => Route::User(decode_segment(id)?),
            ["api", "v1.0", "keys"] => Route::Keys,
            ["api", "v1.0", "tasks"] => Route::Functions,
            ["api", "v1.0", "ping"] => Route::Ping,
            ["api", "v1.0", "ping", minion] | ["api", "v1.0", "minions", minion, "ping"] => {
                Route::PingOne(decode_segment(minion)?)
            }
            ["api", "v1.0", "tasks", "ping"] | ["api", "v1.0", "tasksping"] => Route::TaskPing,
            ["api", "v1.0", "tasks", "ping", minion] => Route::TaskPingOne(decode_segment(minion)?),
            ["api", "v1.0", "tasks", "status", id] => Route::TaskStatus(decode_segment(id)?),
            ["api", "v1.0", "jobs"] => Route::Jobs,
            ["api", "v1.0", "jobs", id] => Route::Job(decode_segment(id)?),
            _ => return None,
        };
        Some(route)
    }

    /// Whether the route takes a Bearer token (all but health and login).
    fn needs_bearer(&self) -> bool {
        !matches!(self, Route::Health | Route::Tokens)
    }

    /// The `Allow` header for a 405 on this route.
    pub(crate) fn allow(&self) -> &'static str {
        match self {
            Route::Health
            | Route::Users
            | Route::User(_)
            | Route::Keys
            | Route::Functions
            | Route::TaskStatus(_)
            | Route::Jobs
            | Route::Job(_) => "GET, HEAD",
            Route::Tokens => "POST, DELETE",
            Route::Ping | Route::PingOne(_) | Route::TaskPing | Route::TaskPingOne(_) => "POST",
        }
    }
}

/// Percent-decodes one path segment; `None` (so 404) if the result is not
/// UTF-8 or an escape is malformed.
pub(crate) fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits exactly: `from_str_radix` alone would take a
            // sign, so `%+1` decoded to U+0001.
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Serves one request; never fails (errors become JSON responses).
pub async fn handle(
    state: AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let peer = client::address(peer, req.headers(), &state.config.trusted_proxies);
    let method = req.method().clone();
    // Only the path is logged: a query string is the client's business.
    let path = req.uri().path().to_owned();
    // Boxed: hyper keeps each connection's request future in a box of its
    // own for the connection's whole life, sized for the largest route
    // (about 2.7 KiB). Boxed here, an idle connection holds a pointer and
    // the route's state exists only while a request is served.
    let response = match Box::pin(respond(&state, peer, req)).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    log::info!(
        target: "projetyd::access",
        "{peer} {method} {path} {} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(response)
}

async fn respond(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let (parts, body) = req.into_parts();
    // A cheap clone (shared bytes) so the route can borrow from it.
    let uri = parts.uri.clone();
    let route =
        Route::resolve(uri.path()).ok_or_else(|| ApiError::NotFound("invalid resource URI".into()))?;
    // HTTP/1.1 requires one Host, and Location URLs are built from it.
    let hosts = parts.headers.get_all(hyper::header::HOST).iter().count();
    if parts.version == hyper::Version::HTTP_11 && hosts != 1 {
        return Err(ApiError::BadRequest(format!(
            "an HTTP/1.1 request needs exactly one Host header ({hosts} sent)"
        )));
    }
    // Authenticate before the body is read: an unauthenticated
    // `Expect: 100-continue` gets its 401 without `100 Continue`, and no
    // body of a caller without a valid token is ever read.
    let allowed = route.allow().split(", ").any(|m| m == parts.method.as_str());
    let mut caller = None;
    if allowed && route.needs_bearer() {
        let header = parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
        match state.auth.authenticate(header) {
            Ok(found) => caller = Some(found),
            Err(err) => {
                let mut response = ApiError::from(err).into_response();
                if has_body(&parts) {
                    // The unread body would be taken for the next request.
                    response
                        .headers_mut()
                        .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
                }
                return Ok(response);
            }
        }
    }
    let body = read_body(state, &parts, body).await?;
    let req = Req {
        parts,
        body,
        peer,
        caller,
    };
    // HEAD is GET without the body (hyper leaves the body out).
    let method = match req.parts.method {
        Method::HEAD => Method::GET,
        ref other => other.clone(),
    };
    match (&method, route) {
        (&Method::GET, Route::Health) => health::get(state),
        (&Method::POST, Route::Tokens) => tokens::create(state, &req).await,
        (&Method::DELETE, Route::Tokens) => tokens::delete(state, &req).await,
        (&Method::GET, Route::Users) => users::list(state, &req),
        (&Method::GET, Route::User(id)) => users::get(state, &req, &id),
        (&Method::GET, Route::Keys) => keys::list(state, &req).await,
        (&Method::GET, Route::Functions) => functions::list(state, &req).await,
        (&Method::POST, Route::Ping) => ping::many(state, &req).await,
        (&Method::POST, Route::PingOne(minion)) => ping::one(state, &req, &minion).await,
        (&Method::POST, Route::TaskPing) => tasks::ping_many(state, &req).await,
        (&Method::POST, Route::TaskPingOne(minion)) => tasks::ping_one(state, &req, &minion).await,
        (&Method::GET, Route::TaskStatus(id)) => tasks::status(state, &req, &id).await,
        (&Method::GET, Route::Jobs) => jobs::list(state, &req),
        (&Method::GET, Route::Job(id)) => jobs::get(state, &req, &id),
        (method, route) => Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow: route.allow(),
        }),
    }
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

/// The Bearer-authenticated caller of a request, or 401.
fn caller(state: &AppState, req: &Req) -> Result<Caller, ApiError> {
    // Already checked before the body was read: not hashed and looked up
    // a second time.
    if let Some(caller) = req.caller {
        return Ok(caller);
    }
    let header = req.parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    Ok(state.auth.authenticate(header)?)
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

/// A JSON response.
fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => {
            log::error!("cannot encode a response: {err}");
            let mut response = Response::new(Full::new(Bytes::from_static(
                br#"{"status":500,"error":"internal server error","message":"the server could not complete the request"}"#,
            )));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// A response with no body.
fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve() {
        assert_eq!(Route::resolve("/healthz"), Some(Route::Health));
        assert_eq!(Route::resolve("/api/v1.0/tokens"), Some(Route::Tokens));
        assert_eq!(Route::resolve("/api/v1.0/users/7"), Some(Route::User("7".into())));
        assert_eq!(Route::resolve("/api/v1.0/users/"), Some(Route::User("".into())));
        assert_eq!(
            Route::resolve("/api/v1.0/ping/web%2A"),
            Some(Route::PingOne("web*".into()))
        );
        assert_eq!(
            Route::resolve("/api/v1.0/minions/m1/ping"),
            Some(Route::PingOne("m1".into()))
        );
        assert_eq!(Route::resolve("/api/v1.0/ping/%ff"), None);
        assert_eq!(Route::resolve("/api/v1.0/ping/%2"), None);
        assert_eq!(Route::resolve("/api/v1.0/ping/%+1"), None);
        assert_eq!(Route::resolve("/api/v1.0/ping/%-1"), None);
        for unknown in [
            "",
            "/",
            "/api",
            "/api/v1.0",
            "/api/v1.0/users/1/x",
            "/api/v2.0/users",
            "healthz",
        ] {
            assert_eq!(Route::resolve(unknown), None, "{unknown}");
        }
    }
}
