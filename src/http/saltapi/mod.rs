//! The salt-api (rest_cherrypy) surface, issue [4/7]: what pepper, SaltGUI
//! and the other salt-api clients send, answered in salt-api's shapes, on
//! the same service layer as the v1.0 API (one ACL check, durable jobs).
//! docs/saltapi.md says what is served and how it differs from salt-api.
//!
//! - [`lowstate`]: request bodies, read as salt-api reads them;
//! - [`format`](mod@format): answers as JSON or YAML, from `Accept`;
//! - [`perms`]: a user's rights in Salt's `external_auth` form;
//! - `login`: `/login`, `/logout`, `/token`;
//! - `clients`: running one lowstate (`local`, `runner`, `wheel`...);
//! - `resources`: `/`, `/minions`, `/jobs`, `/keys`, `/stats`;
//! - `events`: `/events` (Server-Sent Events) and `/hook`;
//! - `files`: the hosted web UI (`app`, `static`).
//!
//! Its paths are at the root (`/`, `/login`, `/run`...), beside the v1.0
//! API's `/api/v1.0/...`, or on a listener of their own
//! (`saltapi-listen`). Errors are `{"status": N, "return": "<message>"}` in
//! the negotiated format (salt-api sends CherryPy's HTML pages; clients
//! read the status).

mod clients;
mod events;
mod files;
pub mod format;
mod login;
pub mod lowstate;
pub mod perms;
mod resources;

use std::net::SocketAddr;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, COOKIE, RETRY_AFTER,
};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::body::{self, Reply};
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::config::SaltApiSettings;
use format::Output;

/// The header salt-api clients send their token in.
pub const X_AUTH_TOKEN: &str = "x-auth-token";
/// The cookie `/login` sets (salt-api's CherryPy session cookie).
pub const SESSION_COOKIE: &str = "session_id";

/// What a salt-api path is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Index,
    Lowstates,
    LoginInfo,
    Login,
    Logout,
    Token,
    Run,
    Minions(Option<String>),
    MinionsAsync,
    Jobs(Option<String>),
    Keys(Option<String>),
    Events,
    Hook(String),
    Stats,
    App,
    Static(String),
    Preflight,
}

impl Call {
    /// A short stable name for the access log.
    fn name(&self) -> &'static str {
        match self {
            Call::Index => "saltapi.index",
            Call::Lowstates => "saltapi.lowstate",
            Call::LoginInfo => "saltapi.login.info",
            Call::Login => "saltapi.login",
            Call::Logout => "saltapi.logout",
            Call::Token => "saltapi.token",
            Call::Run => "saltapi.run",
            Call::Minions(None) => "saltapi.minions",
            Call::Minions(Some(_)) => "saltapi.minion",
            Call::MinionsAsync => "saltapi.minions.async",
            Call::Jobs(None) => "saltapi.jobs",
            Call::Jobs(Some(_)) => "saltapi.job",
            Call::Keys(None) => "saltapi.keys",
            Call::Keys(Some(_)) => "saltapi.key",
            Call::Events => "saltapi.events",
            Call::Hook(_) => "saltapi.hook",
            Call::Stats => "saltapi.stats",
            Call::App => "saltapi.app",
            Call::Static(_) => "saltapi.static",
            Call::Preflight => "saltapi.preflight",
        }
    }

    /// Whether a token is needed before the body is read.
    fn needs_token(&self, settings: &SaltApiSettings) -> bool {
        match self {
            Call::Lowstates
            | Call::Logout
            | Call::Minions(_)
            | Call::MinionsAsync
            | Call::Jobs(_)
            | Call::Keys(_)
            | Call::Stats => true,
            Call::Hook(_) => !settings.hook_without_auth,
            // `/events` checks its own token (it may also come as
            // `?token=`); `/run` and `/token` carry credentials inside.
            _ => false,
        }
    }
}

/// Every path `route` serves (parameters as `{name}`, as the OpenAPI
/// description writes them) and its methods; `HEAD` goes with `GET`, and
/// any `OPTIONS` is a preflight. The app and static paths are configured,
/// so not listed. Tests check this list against `route` and against
/// docs/openapi.json; [`claims`] takes its first segments from it, so a
/// path `route` learns is unreachable until it is listed here.
pub static ROUTES: &[(&str, &[Method])] = &[
    ("/", &[Method::GET, Method::POST]),
    ("/login", &[Method::GET, Method::POST]),
    ("/logout", &[Method::POST]),
    ("/token", &[Method::POST]),
    ("/run", &[Method::POST]),
    ("/minions", &[Method::GET, Method::POST]),
    ("/minions/{mid}", &[Method::GET]),
    ("/jobs", &[Method::GET]),
    ("/jobs/{jid}", &[Method::GET]),
    ("/keys", &[Method::GET]),
    ("/keys/{mid}", &[Method::GET]),
    ("/events", &[Method::GET]),
    ("/hook", &[Method::POST]),
    ("/hook/{path}", &[Method::POST]),
    ("/stats", &[Method::GET]),
];

/// Whether `path` is one of this surface's (so the shared entry point
/// knows which surface answers a path the v1.0 table does not have).
pub fn claims(settings: &SaltApiSettings, path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    ROUTES
        .iter()
        .any(|(pattern, _)| pattern[1..].split('/').next() == Some(first))
        || under(path, &settings.app_path)
        || under(path, &settings.static_path)
}

/// Whether `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    !prefix.is_empty()
        && path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The path's meaning for `method`: `Err` is 404 (no such path) or 405
/// (with the methods the path takes).
fn route(settings: &SaltApiSettings, method: &Method, path: &str) -> Result<Call, ApiError> {
    if method == Method::OPTIONS {
        return Ok(Call::Preflight);
    }
    if settings.static_dir.is_some() && under(path, &settings.static_path) {
        let rest = path[settings.static_path.len()..].trim_start_matches('/');
        return only(method, &[Method::GET], Call::Static(rest.to_owned()));
    }
    if settings.app.is_some() && under(path, &settings.app_path) {
        return only(method, &[Method::GET], Call::App);
    }
    // CherryPy's trailing_slash tool: `/minions/` is `/minions`.
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let one = |s: &str| super::route::decode_segment(s).ok_or_else(not_found);
    let get = Method::GET;
    let post = Method::POST;
    match segments.as_slice() {
        [""] if *method == get => Ok(Call::Index),
        [""] => only(method, &[get, post], Call::Lowstates),
        ["login"] if *method == get => Ok(Call::LoginInfo),
        ["login"] => only(method, &[get, post], Call::Login),
        ["logout"] => only(method, &[post], Call::Logout),
        ["token"] => only(method, &[post], Call::Token),
        ["run"] => only(method, &[post], Call::Run),
        ["minions"] if *method == post => Ok(Call::MinionsAsync),
        ["minions"] => only(method, &[get, post], Call::Minions(None)),
        ["minions", id] => only(method, &[get], Call::Minions(Some(one(id)?))),
        ["jobs"] => only(method, &[get], Call::Jobs(None)),
        ["jobs", jid] => only(method, &[get], Call::Jobs(Some(one(jid)?))),
        ["keys"] => only(method, &[get], Call::Keys(None)),
        ["keys", id] => only(method, &[get], Call::Keys(Some(one(id)?))),
        ["events"] => only(method, &[get], Call::Events),
        ["hook", rest @ ..] => {
            let tail = rest
                .iter()
                .map(|s| one(s))
                .collect::<Result<Vec<_>, _>>()?
                .join("/");
            only(method, &[post], Call::Hook(tail))
        }
        ["stats"] => only(method, &[get], Call::Stats),
        _ => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("The path was not found.".into())
}

/// `call` if `method` is one of `allowed` (`HEAD` going with `GET`).
fn only(method: &Method, allowed: &[Method], call: Call) -> Result<Call, ApiError> {
    let wanted = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    if allowed.contains(wanted) {
        return Ok(call);
    }
    let mut names: Vec<&str> = Vec::new();
    for m in allowed {
        names.push(m.as_str());
        if *m == Method::GET {
            names.push("HEAD");
        }
    }
    Err(ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow: names.join(", "),
    })
}

/// A request of this surface whose body has been read.
pub(crate) struct SaltReq {
    pub parts: hyper::http::request::Parts,
    pub body: Bytes,
    pub peer: SocketAddr,
    /// The caller its token (header or cookie) named, for the endpoints
    /// that need one.
    pub caller: Option<Caller>,
}

impl SaltReq {
    pub fn caller(&self) -> Result<Caller, ApiError> {
        self.caller
            .ok_or_else(|| ApiError::Unauthorized("No token given".into()))
    }

    /// The lowstates of the body, checked.
    pub fn lowstates(&self) -> Result<Vec<lowstate::Lowstate>, ApiError> {
        self.mappings()?
            .into_iter()
            .enumerate()
            .map(|(i, raw)| lowstate::check(i, raw).map_err(body_error))
            .collect()
    }

    /// The lowstates of the body, each run by `client` whatever it names.
    pub fn lowstates_as(&self, client: lowstate::Client) -> Result<Vec<lowstate::Lowstate>, ApiError> {
        self.mappings()?
            .into_iter()
            .enumerate()
            .map(|(i, mut raw)| {
                raw.insert("client".into(), Value::String(client.name().into()));
                lowstate::check(i, raw).map_err(body_error)
            })
            .collect()
    }

    /// The body's raw mappings (for `/login` and `/token`, whose bodies
    /// are credentials, not lowstates).
    pub fn mappings(&self) -> Result<Vec<serde_json::Map<String, Value>>, ApiError> {
        let content_type = self.parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let format = lowstate::Format::of(content_type).map_err(body_error)?;
        lowstate::read(format, &self.body).map_err(body_error)
    }
}

fn body_error(err: lowstate::BodyError) -> ApiError {
    match err.status {
        406 => ApiError::NotAcceptable(err.message),
        _ => ApiError::BadRequest(err.message),
    }
}

/// What a handler answers: a status, a value to render, extra headers.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub value: Value,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Answer {
    pub fn ok(value: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            value,
            headers: Vec::new(),
        }
    }
}

/// What a handler gives back: a value to render, or a response of its own
/// (a file, an event stream).
pub(crate) enum Handled {
    Value(Answer),
    Raw(Reply),
}

impl From<Answer> for Handled {
    fn from(answer: Answer) -> Handled {
        Handled::Value(answer)
    }
}

/// Serves one request of this surface.
pub(crate) async fn respond(
    state: &AppState,
    peer: SocketAddr,
    parts: hyper::http::request::Parts,
    body: Incoming,
) -> (&'static str, Reply) {
    let Some(settings) = state.config.saltapi.as_ref() else {
        return (
            "-",
            super::unread_body(
                &parts,
                ApiError::NotFound("invalid resource URI".into()).into_response(),
            ),
        );
    };
    let cors = cors_headers(settings, &parts.headers);
    let (name, mut reply) = answer(state, settings, peer, parts, body).await;
    let headers = reply.headers_mut();
    for (name, value) in cors {
        headers.insert(name, value);
    }
    (name, reply)
}

async fn answer(
    state: &AppState,
    settings: &SaltApiSettings,
    peer: SocketAddr,
    parts: hyper::http::request::Parts,
    body: Incoming,
) -> (&'static str, Reply) {
    let accept = parts
        .headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    // A browser asking for HTML gets the web UI, at any path but the UI's
    // own (rest_cherrypy's html_override); `*/*` is not asking for HTML.
    if settings.app.is_some()
        && parts.method == Method::GET
        && accept.is_some_and(files::wants_html)
        && !under(parts.uri.path(), &settings.app_path)
        && !under(parts.uri.path(), &settings.static_path)
    {
        return ("saltapi.app", files::app(settings).await);
    }
    let output = match format::negotiate(accept) {
        Ok(output) => output,
        // An event stream is `text/event-stream` whatever is asked (an
        // EventSource asks for just that); its errors are JSON.
        Err(_) if parts.uri.path().trim_end_matches('/') == "/events" => Output::Json,
        Err(err) => {
            let err = match err.status {
                406 => ApiError::NotAcceptable(err.message),
                _ => ApiError::BadRequest(err.message),
            };
            return ("-", super::unread_body(&parts, error_reply(Output::Json, err)));
        }
    };
    let call = match route(settings, &parts.method, parts.uri.path()) {
        Ok(call) => call,
        Err(err) => return ("-", super::unread_body(&parts, error_reply(output, err))),
    };
    let name = call.name();
    if call == Call::Preflight {
        return (name, preflight(settings, &parts.headers));
    }
    // Authenticated before the body is read, as on the v1.0 surface.
    let caller = match call.needs_token(settings) {
        false => None,
        true => match authenticate(state, settings, &parts.headers) {
            Ok(caller) => Some(caller),
            Err(err) => return (name, super::unread_body(&parts, error_reply(output, err))),
        },
    };
    let body = match super::read_body(state, &parts, body).await {
        Ok(body) => body,
        Err(err) => return (name, error_reply(output, err)),
    };
    let req = SaltReq {
        parts,
        body,
        peer,
        caller,
    };
    let handled = dispatch(state, settings, &call, &req).await;
    let reply = match handled {
        Ok(Handled::Raw(reply)) => reply,
        Ok(Handled::Value(answer)) => {
            let mut reply = render(output, answer.status, &answer.value);
            let headers = reply.headers_mut();
            if req.caller.is_some() {
                // salt_auth_tool: an authenticated answer is private.
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
            }
            for (name, value) in answer.headers {
                headers.append(name, value);
            }
            reply
        }
        Err(err) => error_reply(output, err),
    };
    (name, reply)
}

async fn dispatch(
    state: &AppState,
    settings: &SaltApiSettings,
    call: &Call,
    req: &SaltReq,
) -> Result<Handled, ApiError> {
    Ok(match call {
        Call::Index => resources::index().into(),
        Call::Lowstates => clients::lowstates(state, settings, req).await?.into(),
        Call::Run => clients::run(state, settings, req).await?.into(),
        Call::LoginInfo => login::info().into(),
        Call::Login => login::login(state, settings, req).await?.into(),
        Call::Logout => login::logout(state, req).await?.into(),
        Call::Token => login::token(state, settings, req).await?.into(),
        Call::Minions(id) => resources::minions(state, req, id.as_deref()).await?.into(),
        Call::MinionsAsync => clients::minions_async(state, settings, req).await?.into(),
        Call::Jobs(jid) => resources::jobs(state, req, jid.as_deref()).await?.into(),
        Call::Keys(id) => resources::keys(state, req, id.as_deref()).await?.into(),
        Call::Stats => resources::stats(state).into(),
        Call::Events => events::events(state, settings, req)?,
        Call::Hook(path) => events::hook(state, req, path).await?.into(),
        Call::App => Handled::Raw(files::app(settings).await),
        Call::Static(rest) => Handled::Raw(files::serve_static(settings, rest).await),
        Call::Preflight => Handled::Raw(preflight(settings, &req.parts.headers)),
    })
}

/// The token a request carries: `X-Auth-Token` (an empty one is none, as
/// SaltGUI sends before login), else the `session_id` cookie, which is
/// refused on a cross-origin request from an origin not allowed (a
/// browser sends a site's cookie whoever asks: CSRF).
pub(crate) fn token_of<'h>(settings: &SaltApiSettings, headers: &'h HeaderMap) -> Option<&'h str> {
    let header = headers
        .get(X_AUTH_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if header.is_some() {
        return header;
    }
    if !same_or_allowed_origin(settings, headers) {
        return None;
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|t| !t.is_empty())
}

/// The caller a request's token names; 401 without a valid one.
pub(crate) fn authenticate(
    state: &AppState,
    settings: &SaltApiSettings,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let token = token_of(settings, headers).ok_or_else(|| ApiError::Unauthorized("No token given".into()))?;
    caller_of(state, token)
}

/// The caller `token` names; 401 `Invalid token` for any bad one.
pub(crate) fn caller_of(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    state
        .auth
        .authenticate_token(token)
        .map_err(|_| ApiError::Unauthorized("Invalid token".into()))
}

/// No `Origin` (not a browser's cross-site request), the request's own
/// host, or one the CORS settings allow.
fn same_or_allowed_origin(settings: &SaltApiSettings, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(hyper::header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(hyper::header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    (host.is_some() && origin_host == host) || allowed_origin(settings, origin)
}

fn allowed_origin(settings: &SaltApiSettings, origin: &str) -> bool {
    settings.cors_origins.iter().any(|o| o == "*" || o == origin)
}

/// salt-api's CORS headers, for an allowed `Origin`.
fn cors_headers(settings: &SaltApiSettings, headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let Some(origin) = headers.get(hyper::header::ORIGIN) else {
        return Vec::new();
    };
    if !origin.to_str().is_ok_and(|o| allowed_origin(settings, o)) {
        return Vec::new();
    }
    vec![
        (hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()),
        (
            hyper::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("GET, POST"),
        ),
        (
            hyper::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        ),
        (hyper::header::VARY, HeaderValue::from_static("Origin")),
    ]
}

/// A CORS preflight: 200, with the methods and headers salt-api allows
/// when the origin is allowed and the method is GET or POST.
fn preflight(settings: &SaltApiSettings, headers: &HeaderMap) -> Reply {
    let mut reply = body::empty(StatusCode::OK);
    let allowed = headers
        .get(hyper::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| allowed_origin(settings, o));
    let method = headers
        .get(hyper::header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok());
    if allowed && matches!(method, Some("GET" | "POST")) {
        let out = reply.headers_mut();
        out.insert(
            hyper::header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        out.insert(
            hyper::header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, X-Auth-Token, X-Requested-With"),
        );
        out.insert(
            hyper::header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("1400"),
        );
    }
    reply
}

/// `value` as the answer's format.
pub(crate) fn render(output: Output, status: StatusCode, value: &Value) -> Reply {
    let mut reply = Response::new(body::full(format::render(output, value)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(output.content_type()));
    reply
}

/// An error as this surface answers it: `{"status", "return"}`, with the
/// headers the v1.0 answer would carry (`Allow`, `Retry-After`...).
pub(crate) fn error_reply(output: Output, err: ApiError) -> Reply {
    if let ApiError::Internal(cause) = &err {
        log::error!("internal error: {cause}");
    }
    let status = err.status();
    let message = err.to_string();
    let mut reply = render(
        output,
        status,
        &json!({"status": status.as_u16(), "return": message}),
    );
    // The headers of the v1.0 answer, less its Bearer challenge (salt-api
    // sends none; a browser would only show a dialog).
    let template = err.into_response();
    for name in [ALLOW, RETRY_AFTER, hyper::header::CONNECTION] {
        if let Some(value) = template.headers().get(&name) {
            reply.headers_mut().insert(name, value.clone());
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pattern` with each `{name}` made a plain segment.
    fn concrete(pattern: &str) -> String {
        pattern
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether a pattern of [`ROUTES`] matches `path`.
    fn listed(path: &str) -> bool {
        let given: Vec<&str> = path.split('/').collect();
        ROUTES.iter().any(|(pattern, _)| {
            let wanted: Vec<&str> = pattern.split('/').collect();
            wanted.len() == given.len()
                && wanted
                    .iter()
                    .zip(&given)
                    .all(|(w, g)| w.starts_with('{') || w == g)
        })
    }

    #[test]
    fn every_listed_route_routes_with_exactly_its_methods() {
        let settings = SaltApiSettings::new();
        let all = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ];
        for (pattern, methods) in ROUTES {
            let path = concrete(pattern);
            assert!(claims(&settings, &path), "{path}");
            for method in &all {
                let wanted =
                    methods.contains(method) || (*method == Method::HEAD && methods.contains(&Method::GET));
                match route(&settings, method, &path) {
                    Ok(_) => assert!(wanted, "{method} {path} routes but is not listed"),
                    Err(ApiError::MethodNotAllowed { .. }) => {
                        assert!(!wanted, "{method} {path} is listed but 405")
                    }
                    Err(err) => panic!("{method} {path}: {err}"),
                }
            }
            // One segment more is not served unless listed (`/hook` takes
            // any tail, which `/hook/{path}` stands for).
            let longer = format!("{}/x", path.trim_end_matches('/'));
            if !pattern.starts_with("/hook") && !listed(&longer) {
                let err = route(&settings, &Method::GET, &longer).err();
                assert!(matches!(err, Some(ApiError::NotFound(_))), "{longer}: {err:?}");
            }
        }
        for path in [
            "/nothing",
            "/api",
            "/login/x",
            "/stats/x",
            "/keys/x/y",
            "/jobs/x/y",
        ] {
            let routed = route(&settings, &Method::GET, path);
            assert!(matches!(routed, Err(ApiError::NotFound(_))), "{path}: {routed:?}");
        }
    }
}
