//! `GET /api/v1.0/spec`: the OpenAPI 3.1 description of every endpoint of
//! both surfaces, `docs/openapi.json`, kept by hand (docs/openapi.md says
//! how, and which tests keep it and the routes in step).

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;

use crate::http::body::{self, Reply};

/// The document, as it is in the repository.
pub const SPEC: &str = include_str!("../../../docs/openapi.json");

/// # `GET /api/v1.0/spec`
///
/// - `200` the OpenAPI document (`application/json`); no authentication
pub fn get() -> Reply {
    let mut reply = Response::new(body::full(Bytes::from_static(SPEC.as_bytes())));
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::SPEC;
    use crate::http::route::Access;
    use crate::http::{saltapi, v1};

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn document() -> Value {
        serde_json::from_str(SPEC).expect("docs/openapi.json is JSON")
    }

    /// `(METHOD, path)` of every operation the document describes.
    fn described(doc: &Value) -> BTreeSet<(String, String)> {
        let paths = doc["paths"].as_object().expect("paths");
        let mut out = BTreeSet::new();
        for (path, item) in paths {
            for method in item.as_object().expect("a path item").keys() {
                if METHODS.contains(&method.as_str()) {
                    out.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        out
    }

    /// `(METHOD, path)` of every route of both surfaces (HEAD is implied
    /// by GET, and OPTIONS, the CORS preflight, is left out of both).
    fn served() -> BTreeSet<(String, String)> {
        let v1 = v1::TABLE
            .iter()
            .map(|e| (e.method.to_string(), e.path.to_owned()));
        let saltapi = saltapi::ROUTES
            .iter()
            .flat_map(|(path, methods)| methods.iter().map(|m| (m.to_string(), (*path).to_owned())));
        v1.chain(saltapi).collect()
    }

    #[test]
    fn the_spec_describes_exactly_the_routes_served() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let described = described(&doc);
        let served = served();
        let undescribed: Vec<_> = served.difference(&described).collect();
        let unserved: Vec<_> = described.difference(&served).collect();
        assert!(
            undescribed.is_empty() && unserved.is_empty(),
            "served but not in docs/openapi.json: {undescribed:?}; \
             in docs/openapi.json but not served: {unserved:?}"
        );
    }

    #[test]
    fn the_spec_says_which_v1_routes_take_a_bearer_token() {
        let doc = document();
        for endpoint in v1::TABLE {
            let method = endpoint.method.as_str().to_lowercase();
            let security = &doc["paths"][endpoint.path][&method]["security"];
            let bearer_only = *security == serde_json::json!([{"bearerAuth": []}]);
            assert_eq!(
                bearer_only,
                endpoint.access == Access::Token,
                "{} {}: {security}",
                endpoint.method,
                endpoint.path
            );
        }
    }
}
