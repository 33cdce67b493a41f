//! `/api/v1.0/tokens`: issue a token for a user name and password, revoke
//! the token in use.

use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL};
use hyper::StatusCode;
use serde::Serialize;

use crate::http::body::{self, Reply};
use crate::http::{query_param, ApiError, AppState, Req};

#[derive(Serialize)]
struct Issued<'a> {
    token: &'a str,
    expiration: u64,
    expires_at: u64,
}

/// # `POST /api/v1.0/tokens[?expiration=<seconds>]` (HTTP Basic)
///
/// - `200 {"token", "expiration", "expires_at"}`; `expiration` is capped
///   at the server's maximum
/// - `400` expiration not a positive integer
/// - `401` missing, malformed or wrong credentials (one answer for all)
/// - `429` too many failed logins for the name or the address
pub async fn create(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let lifetime = match query_param(req, "expiration") {
        None => state.config.token_lifetime,
        Some(text) => parse_lifetime(text, state.config.max_token_lifetime)?,
    };
    let header = req.parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let user_id = state.auth.login(header, req.peer.ip()).await?;
    let issued = state.auth.issue(user_id, lifetime).await?;
    let mut response = body::json(
        StatusCode::OK,
        &Issued {
            token: &issued.text,
            expiration: lifetime,
            expires_at: issued.expires_at,
        },
    );
    // The body is a secret: no cache may keep it.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A positive decimal integer of seconds, capped at `max` (so digits too
/// many for a u64 are capped too). Signs, spaces, zero: 400.
pub(crate) fn parse_lifetime(text: &str, max: u64) -> Result<u64, ApiError> {
    crate::http::query::seconds("expiration", text, 1, max)
}

/// # `DELETE /api/v1.0/tokens` (Bearer)
///
/// - `204` the token used is revoked; its next use answers 401
/// - `401` no valid token
pub async fn delete(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let caller = req.caller()?;
    state.auth.revoke(caller).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::parse_lifetime;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("60", 100).unwrap(), 60);
        assert_eq!(parse_lifetime("007", 100).unwrap(), 7);
        assert_eq!(parse_lifetime("1000", 100).unwrap(), 100);
        assert_eq!(parse_lifetime("99999999999999999999999", 100).unwrap(), 100);
        for bad in ["", "0", "000", "-5", "+5", "1.5", "abc", " 5", "5s", "1e3"] {
            assert!(parse_lifetime(bad, 100).is_err(), "{bad:?}");
        }
    }
}
