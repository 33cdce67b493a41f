//! Asynchronous pings: `POST /api/v1.0/tasks/ping[/<minion>]` (and the old
//! README's `/api/v1.0/tasksping`) answer 202 with a `Location`;
//! `GET /api/v1.0/tasks/status/<id>` answers 202 until the task is done,
//! then exactly what the synchronous call would have answered (the
//! service layer runs and records the task; this file renders it).

use std::time::Duration;

use hyper::header::{HeaderValue, HOST, LOCATION};
use hyper::StatusCode;

use super::{outcome, ping};
use crate::http::body::{self, Reply};
use crate::http::{query_param, ApiError, AppState, Req};
use crate::service::{TaskKind, TaskStatus};

/// # `POST /api/v1.0/tasks/ping/<minion>` (Bearer)
///
/// - `202` empty, `Location: http://<host>/api/v1.0/tasks/status/<id>`
/// - `400`, `401`, `404`, `503` as `POST /api/v1.0/ping/<minion>`, before
///   any task is made; `503` also when the task queue is full
pub async fn ping_one(state: &AppState, req: &Req, minion: &str) -> Result<Reply, ApiError> {
    let job = ping::validate_one(state, req, minion).await?;
    let id = state.service.submit(job).await?;
    Ok(accepted(state, req, id))
}

/// # `POST /api/v1.0/tasks/ping` and `POST /api/v1.0/tasksping` (Bearer)
///
/// - `202` empty, with `Location` as above
/// - `400`, `401`, `404`, `503` as `POST /api/v1.0/ping`
pub async fn ping_many(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let job = ping::validate_many(state, req).await?;
    let id = state.service.submit(job).await?;
    Ok(accepted(state, req, id))
}

/// `202` with the status URL.
pub(super) fn accepted(state: &AppState, req: &Req, id: [u8; 16]) -> Reply {
    with_location(state, req, id, body::empty(StatusCode::ACCEPTED))
}

/// `response` with the status URL of task `id`.
pub(super) fn with_location(state: &AppState, req: &Req, id: [u8; 16], mut response: Reply) -> Reply {
    let base = match &state.config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            // Only a well-formed host[:port]; anything else falls back to
            // the listen address rather than be reflected.
            let host = req
                .parts
                .headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| crate::http::query::valid_host(h));
            format!(
                "http://{}",
                host.map_or_else(|| state.local.to_string(), str::to_owned)
            )
        }
    };
    let location = format!("{base}/api/v1.0/tasks/status/{}", uuid::Uuid::from_bytes(id));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(LOCATION, value);
    }
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Location"),
    );
    response
}

/// A task id from the path; `None` for anything that is not a uuid.
pub fn parse_id(text: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(text).ok().map(|u| *u.as_bytes())
}

/// # `GET /api/v1.0/tasks/status/<id>[?wait=<seconds>]` (Bearer)
///
/// - `202` with `Location` while queued or running (after waiting up to
///   `wait` seconds, capped, for it to finish): empty for a ping; for any
///   other function `{"state", "returned": [ids], "pending": [ids]}`
/// - the synchronous call's status and body once finished
/// - `400` bad `wait` · `401` no valid token · `404` unknown id, or
///   another user's task
pub async fn status(state: &AppState, req: &Req, id: &str) -> Result<Reply, ApiError> {
    let caller = req.caller()?;
    let not_found = || ApiError::NotFound(format!("no task with id {id:?}"));
    let task_id = parse_id(id).ok_or_else(not_found)?;
    let wait = match query_param(req, "wait") {
        None => Duration::ZERO,
        Some(text) => {
            let max = state.config.max_wait.as_secs();
            Duration::from_secs(crate::http::query::seconds("wait", text, 0, max)?)
        }
    };
    // Ownership is checked before any waiting: nobody long-polls on
    // another user's task (an admin sees all). A daemon that is stopping answers at once.
    let status = tokio::select! {
        status = state.service.status(caller.user_id, task_id, wait) => status?,
        () = state.shutdown.begun() => state.service.status(caller.user_id, task_id, Duration::ZERO).await?,
    };
    match status {
        None => Err(not_found()),
        // A ping's 202 stays empty, as the 2016 API had it.
        Some(TaskStatus::Pending {
            kind: TaskKind::Ping, ..
        }) => Ok(accepted(state, req, task_id)),
        Some(TaskStatus::Pending {
            state: task_state,
            heard,
            ..
        }) => {
            let (returned, pending) = match heard {
                Some(heard) => {
                    let pending = heard.pending();
                    (heard.returned.into_iter().collect(), pending)
                }
                None => (Vec::new(), Vec::new()),
            };
            let progress = serde_json::json!({
                "state": task_state.as_str(),
                "returned": returned,
                "pending": pending,
            });
            let reply = body::json(StatusCode::ACCEPTED, &progress);
            Ok(with_location(state, req, task_id, reply))
        }
        Some(TaskStatus::Finished { kind, outcome }) => Ok(outcome::render(&kind, outcome)),
    }
}
