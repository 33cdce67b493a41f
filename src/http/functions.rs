//! `/api/v1.0/tasks` (GET): the execution functions the minions offer.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::{ApiError, AppState, Req};

/// # `GET /api/v1.0/tasks` (Bearer)
///
/// - `200 ["archive.tar", ..., "test.ping", ...]` sorted; cached for a few
///   minutes and refreshed in the background
/// - `401` no valid token
/// - `503` the master is unreachable and nothing is cached yet
pub async fn list(state: &AppState, req: &Req) -> Result<Response<Full<Bytes>>, ApiError> {
    super::caller(state, req)?;
    let functions = state.salt()?.functions().await?;
    Ok(super::json(StatusCode::OK, &*functions))
}
