//! Request routing: the v1.0 route table (`route::resource`, `route::allow`)
//! with its percent-decoding of path parameters, query strings as the
//! handlers read them, the strict seconds parser, and the `Host` check that
//! guards `Location`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::fuzzing;

/// Query parameters some handler reads.
const PARAMS: [&str; 5] = ["timeout", "expiration", "limit", "after", "wait"];

fuzz_target!(|data: &[u8]| {
    // The path as a string, as hyper hands it over once parsed.
    if let Ok(text) = std::str::from_utf8(data) {
        check_path(text);
        check_host(text);
        check_seconds(text);
        if let Some(decoded) = fuzzing::decode_segment(text) {
            assert!(decoded.len() <= text.len());
            if !text.contains('%') {
                assert_eq!(decoded, text);
            }
        }
    }
    // The whole request target through hyper's URI parser, then the router
    // and the query parameters.
    if let Ok(uri) = hyper::Uri::try_from(data) {
        check_path(uri.path());
        for name in PARAMS {
            if let Some(value) = fuzzing::query_param(&uri, name) {
                assert!(!value.contains('&'));
                let _ = fuzzing::parse_lifetime(&value, 86_400);
                let _ = fuzzing::parse_id(&value);
            }
        }
    }
});

fn check_path(path: &str) {
    if let Some((route, allow)) = fuzzing::resolve(path) {
        assert!(path.starts_with('/'), "{path:?} resolved to {route}");
        assert!(!allow.is_empty());
    }
    if let Some(id) = path.rsplit('/').next() {
        let _ = fuzzing::parse_id(id);
    }
}

/// A host accepted for `Location` is exactly the authority of the URL
/// built from it: no path, query, user info, quote or markup slips in.
fn check_host(host: &str) {
    if !fuzzing::valid_host(host) {
        return;
    }
    assert!(
        !host.contains(['/', '?', '#', '@', '"', '<', '>', '\\', ' ']),
        "{host:?} accepted"
    );
    let url = format!("http://{host}/api/");
    let uri = hyper::Uri::try_from(url.as_str()).unwrap_or_else(|e| panic!("{host:?} accepted, {url:?}: {e}"));
    assert_eq!(uri.authority().map(|a| a.as_str()), Some(host));
    assert_eq!(uri.path(), "/api/");
}

/// Plain digits only, within [min, max].
fn check_seconds(text: &str) {
    for (min, max) in [(0, 300), (1, 86_400)] {
        if let Ok(value) = fuzzing::seconds(text, min, max) {
            assert!(!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
            assert!((min..=max).contains(&value), "{text:?} -> {value}");
        }
    }
}
