//! `/api/v1.0/keys`: the master's minion keys, as `salt-key -L` shows them.

use hyper::StatusCode;

use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState, Req};

/// # `GET /api/v1.0/keys` (Bearer)
///
/// - `200 {"local", "minions", "minions_pre", "minions_rejected", "minions_denied"}`,
///   each a sorted list (read from the pki directories, no master round trip)
/// - `401` no valid token
/// - `503` Salt disabled, or the directories unreadable and the master down
pub async fn list(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    req.caller()?;
    let keys = state.salt()?.keys().await?;
    Ok(body::json(StatusCode::OK, &*keys))
}
