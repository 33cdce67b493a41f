//! CORS for the v1.0 surface: which origins a browser may call it from
//! (`cors-origin`, none by default; the seed allowed `*`), the preflight
//! answer, and the headers every answer to an allowed origin carries.
//!
//! The v1.0 API authenticates with a Bearer token, never a cookie, so no
//! answer allows credentials: a page of another origin can only do what
//! the token it holds allows. salt-api's surface has CORS rules of its own
//! (`saltapi-cors-origin`, in `saltapi`).

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;

use super::body::{self, Reply};
use super::ApiError;

/// The request headers a page may send (`Last-Event-ID`: an event stream
/// read with `fetch` resumes with it).
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Last-Event-ID";
/// The answer headers a page may read: where a task's status is, when to
/// retry, and how to authenticate.
const EXPOSE_HEADERS: &str = "Location, Retry-After, WWW-Authenticate";
/// How long a browser may keep a preflight's answer, in seconds.
const MAX_AGE: &str = "600";

/// The `Access-Control-Allow-Origin` value for the request's `Origin`, if
/// `origins` allow it: `*` when any is, else the origin itself.
fn allowed(origins: &[String], origin: Option<&HeaderValue>) -> Option<HeaderValue> {
    let origin = origin?;
    let text = origin.to_str().ok()?;
    if origins.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    origins.iter().any(|o| o == text).then(|| origin.clone())
}

/// Whether the request is a CORS preflight (`OPTIONS` with
/// `Access-Control-Request-Method`).
pub fn is_preflight(method: &hyper::Method, headers: &HeaderMap) -> bool {
    method == hyper::Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight for a path whose methods are `allow` (its
/// `Allow` value): 204 with the CORS headers; 403 for an origin that is not
/// allowed, 405 for a method the path does not have.
pub fn preflight(origins: &[String], headers: &HeaderMap, allow: &str) -> Reply {
    let Some(origin) = allowed(origins, headers.get(header::ORIGIN)) else {
        return ApiError::Forbidden("this origin may not call the API (see cors-origin)".into())
            .into_response();
    };
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !allow.split(", ").any(|m| m == method) {
        let mut reply = ApiError::MethodNotAllowed {
            method: method.to_owned(),
            allow: allow.to_owned(),
        }
        .into_response();
        add(&mut reply, origin);
        return reply;
    }
    let mut reply = body::empty(StatusCode::NO_CONTENT);
    let out = reply.headers_mut();
    if let Ok(methods) = HeaderValue::from_str(allow) {
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    out.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    add(&mut reply, origin);
    reply
}

/// Adds the CORS headers to an answer, when the request's `Origin` is
/// allowed.
pub fn decorate(origins: &[String], origin: Option<&HeaderValue>, reply: &mut Reply) {
    if let Some(origin) = allowed(origins, origin) {
        add(reply, origin);
    }
}

fn add(reply: &mut Reply, origin: HeaderValue) {
    let out = reply.headers_mut();
    let echoed = origin != "*";
    out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    out.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    // A cache must not hand one origin's answer to another.
    if echoed {
        out.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_configured_origins_are_allowed() {
        let some = vec!["https://ui.example.org".to_owned()];
        let from = HeaderValue::from_static;
        assert_eq!(
            allowed(&some, Some(&from("https://ui.example.org"))).unwrap(),
            "https://ui.example.org"
        );
        assert_eq!(allowed(&some, Some(&from("https://evil.example.org"))), None);
        assert_eq!(
            allowed(&some, Some(&from("https://ui.example.org.evil.org"))),
            None
        );
        assert_eq!(allowed(&some, None), None);
        assert_eq!(allowed(&[], Some(&from("https://ui.example.org"))), None);
        let any = vec!["*".to_owned()];
        assert_eq!(allowed(&any, Some(&from("https://x.example"))).unwrap(), "*");
    }

    #[test]
    fn a_preflight_names_the_paths_methods_and_the_headers() {
        let origins = vec!["https://ui.example.org".to_owned()];
        let asked = headers(&[
            ("origin", "https://ui.example.org"),
            ("access-control-request-method", "POST"),
        ]);
        let reply = preflight(&origins, &asked, "GET, HEAD, POST");
        assert_eq!(reply.status(), StatusCode::NO_CONTENT);
        let h = reply.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://ui.example.org");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, HEAD, POST");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], ALLOW_HEADERS);
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], MAX_AGE);
        assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], EXPOSE_HEADERS);
        assert_eq!(h[header::VARY], "Origin");
        assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));

        let delete = headers(&[
            ("origin", "https://ui.example.org"),
            ("access-control-request-method", "DELETE"),
        ]);
        let reply = preflight(&origins, &delete, "GET, HEAD, POST");
        assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.headers()[header::ALLOW], "GET, HEAD, POST");

        let other = headers(&[
            ("origin", "https://evil.example.org"),
            ("access-control-request-method", "POST"),
        ]);
        let reply = preflight(&origins, &other, "GET, HEAD, POST");
        assert_eq!(reply.status(), StatusCode::FORBIDDEN);
        assert!(!reply.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }
}
