//! `GET /healthz`: is the daemon up and its database usable. No auth.

use std::time::Duration;

use hyper::StatusCode;
use serde::Serialize;

use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    salt: &'static str,
    version: &'static str,
    uptime: u64,
}

/// # `GET /healthz`
///
/// - `200 {"status": "ok", "salt": "connected" | "disabled", "version", "uptime"}`
/// - `503` with the reason when the database cannot be written, or the
///   Salt master or its event bus is unreachable
pub fn get(state: &AppState) -> Result<Reply, ApiError> {
    if let Some(reason) = state.store.failing() {
        return Err(ApiError::Unavailable {
            message: format!("the database cannot be written: {reason}"),
            retry_after: Duration::from_secs(5),
        });
    }
    let salt = match &state.salt {
        None => "disabled",
        Some(salt) => {
            salt.status()?;
            "connected"
        }
    };
    Ok(body::json(
        StatusCode::OK,
        &Health {
            status: "ok",
            salt,
            version: env!("CARGO_PKG_VERSION"),
            uptime: state.started.elapsed().as_secs(),
        },
    ))
}
