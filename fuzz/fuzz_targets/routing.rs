//! Request routing: `Route::resolve` with its percent-decoding of path
//! parameters, and query strings as the handlers read them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::fuzzing;

/// Query parameters some handler reads.
const PARAMS: [&str; 5] = ["timeout", "expiration", "limit", "after", "wait"];

fuzz_target!(|data: &[u8]| {
    // The path as a string, as hyper hands it over once parsed.
    if let Ok(text) = std::str::from_utf8(data) {
        check_path(text);
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
