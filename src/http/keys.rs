//! `/api/v1.0/keys`: the master's minion keys, as `salt-key -L` shows them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::{ApiError, AppState, Req};

/// # `GET /api/v1.0/keys` (Bearer)
///
/// - `200 {"local", "minions", "minions_pre", "minions_rejected", "minions_denied"}`,
///   each a sorted list (read from the pki directories, no master round trip)
/// - `401` no valid token
/// - `503` Salt disabled, or the directories unreadable and the master down
pub async fn list(state: &AppState, req: &Req) -> Result<Response<Full<Bytes>>, ApiError> {
    super::caller(state, req)?;
    let keys = state.salt()?.keys().await?;
    Ok(super::json(StatusCode::OK, &*keys))
}
