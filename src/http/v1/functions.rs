//! `/api/v1.0/tasks` (GET): the execution functions the minions offer.

use hyper::StatusCode;

use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState, Req};

/// # `GET /api/v1.0/tasks` (Bearer)
///
/// - `200 ["archive.tar", ..., "test.ping", ...]` sorted; cached for a few
///   minutes and refreshed in the background
/// - `401` no valid token
/// - `503` the master is unreachable and nothing is cached yet
pub async fn list(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    req.caller()?;
    let functions = state.salt()?.functions().await?;
    Ok(body::json(StatusCode::OK, &*functions))
}
