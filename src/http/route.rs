//! Route tables. Each API surface lists its endpoints in one table of
//! [`Endpoint`]s: the path pattern, the method, how the caller is
//! authenticated, a short name for logs, and what to call. The shared
//! request path ([`super::handle`]) looks the request up here once, answers
//! 404 or 405 from the table, authenticates as the endpoint says before
//! the body is read, and hands the surface its call.
//!
//! A pattern is a path whose segments are literals or `{name}`: a
//! parameter matches any one segment (empty included) that percent-decodes
//! to UTF-8 (`decode_segment`); one that does not decode is a 404.

use hyper::Method;

/// How an endpoint's caller is authenticated, before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing is checked up front: the endpoint is public (health), or
    /// authenticates from the request itself (a login).
    Open,
    /// A token, checked before the body is read; the handler is only
    /// called with the caller it names.
    Token,
}

/// One endpoint of a surface.
#[derive(Debug)]
pub struct Endpoint<C: 'static> {
    pub method: Method,
    /// The path pattern, e.g. `/api/v1.0/users/{id}`.
    pub path: &'static str,
    pub access: Access,
    /// A short stable name for logs and metrics, e.g. `users.get`.
    pub name: &'static str,
    /// What the surface calls for it.
    pub call: C,
}

/// The decoded path parameters of a match, in pattern order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<String>);

impl Params {
    /// Parameter `index` of the pattern; empty if the pattern has fewer.
    pub fn get(&self, index: usize) -> &str {
        self.0.get(index).map_or("", String::as_str)
    }
}

/// What a table says about a request.
#[derive(Debug)]
pub enum Found<'t, C: 'static> {
    /// The endpoint for this method and path, with the path's parameters.
    Endpoint(&'t Endpoint<C>, Params),
    /// The path is known but not with this method: the `Allow` value.
    MethodNotAllowed(String),
    /// No pattern matches the path.
    NotFound,
}

/// Looks `method` and `path` up in `table`. `HEAD` finds the `GET`
/// endpoint (hyper leaves the body out of the answer).
pub fn find<'t, C>(table: &'t [Endpoint<C>], method: &Method, path: &str) -> Found<'t, C> {
    let Some((pattern, params)) = resource(table, path) else {
        return Found::NotFound;
    };
    let wanted = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let mut same_path = table.iter().filter(|e| e.path == pattern);
    match same_path.find(|e| e.method == *wanted) {
        Some(endpoint) => Found::Endpoint(endpoint, params),
        None => Found::MethodNotAllowed(allow(table, pattern)),
    }
}

/// The pattern of the first endpoint whose pattern matches `path`, and the
/// parameters it takes from it.
pub fn resource<C>(table: &[Endpoint<C>], path: &str) -> Option<(&'static str, Params)> {
    // The path is split once; each pattern is walked as bytes (a split on
    // a `char` per pattern and request cost more than the rest of the
    // lookup: measured with callgrind).
    let given: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    table
        .iter()
        .find_map(|endpoint| matches(endpoint.path, &given).map(|params| (endpoint.path, params)))
}

/// The `Allow` value for `pattern`: its methods in table order, `HEAD`
/// after `GET`.
pub fn allow<C>(table: &[Endpoint<C>], pattern: &str) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for endpoint in table.iter().filter(|e| e.path == pattern) {
        let method = endpoint.method.as_str();
        if !methods.contains(&method) {
            methods.push(method);
            if endpoint.method == Method::GET {
                methods.push("HEAD");
            }
        }
    }
    methods.join(", ")
}

/// The parameters that the segments of a path (`given`, after its
/// leading `/`) give `pattern`, or `None` if they do not match it.
fn matches(pattern: &str, given: &[&str]) -> Option<Params> {
    let wanted = pattern.as_bytes().strip_prefix(b"/")?.split(|b| *b == b'/');
    let mut given = given.iter();
    let mut params = Vec::new();
    for w in wanted {
        let g = given.next()?;
        if w.first() == Some(&b'{') && w.last() == Some(&b'}') {
            params.push(decode_segment(g)?);
        } else if w != g.as_bytes() {
            return None;
        }
    }
    given.next().is_none().then_some(Params(params))
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

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Endpoint<u8>] = &[
        Endpoint {
            method: Method::GET,
            path: "/health",
            access: Access::Open,
            name: "health",
            call: 1,
        },
        Endpoint {
            method: Method::POST,
            path: "/things",
            access: Access::Token,
            name: "things.create",
            call: 2,
        },
        Endpoint {
            method: Method::GET,
            path: "/things",
            access: Access::Token,
            name: "things.list",
            call: 3,
        },
        Endpoint {
            method: Method::GET,
            path: "/things/{id}",
            access: Access::Token,
            name: "things.get",
            call: 4,
        },
        Endpoint {
            method: Method::GET,
            path: "/things/{id}/parts/{part}",
            access: Access::Token,
            name: "parts.get",
            call: 5,
        },
    ];

    fn call(method: Method, path: &str) -> Option<(u8, Params)> {
        match find(TABLE, &method, path) {
            Found::Endpoint(endpoint, params) => Some((endpoint.call, params)),
            _ => None,
        }
    }

    #[test]
    fn literal_and_parameter_segments() {
        assert_eq!(call(Method::GET, "/health"), Some((1, Params::default())));
        assert_eq!(call(Method::GET, "/things"), Some((3, Params::default())));
        assert_eq!(call(Method::POST, "/things"), Some((2, Params::default())));
        let (c, params) = call(Method::GET, "/things/a%2Fb").expect("matches");
        assert_eq!((c, params.get(0)), (4, "a/b"));
        let (c, params) = call(Method::GET, "/things/7/parts/x").expect("matches");
        assert_eq!(
            (c, params.get(0), params.get(1), params.get(2)),
            (5, "7", "x", "")
        );
        // An empty segment is a parameter like any other.
        assert_eq!(
            call(Method::GET, "/things/").map(|(c, p)| (c, p.get(0).to_owned())),
            Some((4, String::new()))
        );
    }

    #[test]
    fn head_finds_get_and_other_methods_get_allow() {
        assert_eq!(call(Method::HEAD, "/things/1").map(|(c, _)| c), Some(4));
        match find(TABLE, &Method::DELETE, "/things") {
            Found::MethodNotAllowed(allow) => assert_eq!(allow, "POST, GET, HEAD"),
            other => panic!("{other:?}"),
        }
        match find(TABLE, &Method::POST, "/health") {
            Found::MethodNotAllowed(allow) => assert_eq!(allow, "GET, HEAD"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_paths_and_undecodable_parameters_are_not_found() {
        for path in [
            "",
            "/",
            "health",
            "/health/",
            "/things/1/x",
            "/things/%ff",
            "/things/%2",
            "/things/%+1",
        ] {
            assert!(
                matches!(find(TABLE, &Method::GET, path), Found::NotFound),
                "{path:?}"
            );
        }
    }
}
