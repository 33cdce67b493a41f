//! Asynchronous pings: `POST /api/v1.0/tasks/ping[/<minion>]` (and the old
//! README's `/api/v1.0/tasksping`) answer 202 with a `Location`;
//! `GET /api/v1.0/tasks/status/<id>` answers 202 until the task is done,
//! then exactly what the synchronous call would have answered.
//! Also the [`Executor`] that runs ping tasks for the pool.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, LOCATION};
use hyper::{Response, StatusCode};

use super::ping::{self, PingRequest};
use super::{query_param, ApiError, AppState, Req};
use crate::salt::Salt;
use crate::store::{Task, TaskKind, TaskResponse, TaskState};
use crate::tasks::{self, Executor, Retry, SubmitError, Work};

/// # `POST /api/v1.0/tasks/ping/<minion>` (Bearer)
///
/// - `202` empty, `Location: http://<host>/api/v1.0/tasks/status/<id>`
/// - `400`, `401`, `404`, `503` as `POST /api/v1.0/ping/<minion>`, before
///   any task is made; `503` also when the task queue is full
pub async fn ping_one(state: &AppState, req: &Req, minion: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    let caller = super::caller(state, req)?;
    let ping = ping::validate_one(state, req, minion).await?;
    submit(state, req, caller.user_id, ping).await
}

/// # `POST /api/v1.0/tasks/ping` and `POST /api/v1.0/tasksping` (Bearer)
///
/// - `202` empty, with `Location` as above
/// - `400`, `401`, `404`, `503` as `POST /api/v1.0/ping`
pub async fn ping_many(state: &AppState, req: &Req) -> Result<Response<Full<Bytes>>, ApiError> {
    let caller = super::caller(state, req)?;
    let ping = ping::validate_many(state, req).await?;
    submit(state, req, caller.user_id, ping).await
}

async fn submit(
    state: &AppState,
    req: &Req,
    user_id: u64,
    ping: PingRequest,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let task = Task {
        user_id,
        kind: TaskKind::Ping,
        function: "test.ping".into(),
        target: ping.targets,
        timeout: ping.timeout.as_secs(),
        state: TaskState::Queued,
        jid: None,
        created_us: tasks::now_us(),
        started_at: None,
        finished_at: None,
        response: None,
        attempts: 0,
    };
    // A master known to be away: refuse now, rather than accept a task
    // that can only wait.
    if let Some(salt) = &state.salt {
        salt.status()?;
    }
    let id = state.tasks.submit(task).await.map_err(|err| match err {
        SubmitError::Full | SubmitError::ShuttingDown => ApiError::Unavailable {
            message: format!("{err}; retry later"),
            retry_after: Duration::from_secs(1),
        },
        SubmitError::Store(err) => err.into(),
    })?;
    Ok(accepted(state, req, id))
}

/// `202` with the status URL.
fn accepted(state: &AppState, req: &Req, id: [u8; 16]) -> Response<Full<Bytes>> {
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
                .filter(|h| super::query::valid_host(h));
            format!(
                "http://{}",
                host.map_or_else(|| state.local.to_string(), str::to_owned)
            )
        }
    };
    let location = format!("{base}/api/v1.0/tasks/status/{}", uuid::Uuid::from_bytes(id));
    let mut response = super::empty(StatusCode::ACCEPTED);
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
/// - `202` empty with `Location` while queued or running (after waiting up
///   to `wait` seconds, capped, for it to finish)
/// - the synchronous call's status and body once finished
/// - `400` bad `wait` · `401` no valid token · `404` unknown id, or
///   another user's task
pub async fn status(state: &AppState, req: &Req, id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    let caller = super::caller(state, req)?;
    let not_found = || ApiError::NotFound(format!("no task with id {id:?}"));
    let task_id = parse_id(id).ok_or_else(not_found)?;
    let wait = match query_param(req, "wait") {
        None => Duration::ZERO,
        Some(text) => {
            let max = state.config.max_wait.as_secs();
            Duration::from_secs(super::query::seconds("wait", text, 0, max)?)
        }
    };
    // Ownership first: nobody long-polls on another user's task.
    let mine = state
        .store
        .task(&task_id)?
        .is_some_and(|t| t.user_id == caller.user_id);
    if !mine {
        return Err(not_found());
    }
    let task = state.tasks.wait(task_id, wait).await?.ok_or_else(not_found)?;
    match task.response {
        Some(stored) if task.state.is_final() => Ok(replay(stored)),
        _ => Ok(accepted(state, req, task_id)),
    }
}

/// A stored answer as a response.
fn replay(stored: TaskResponse) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::from(stored.body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // As the live 503 would have said.
        headers.insert(hyper::header::RETRY_AFTER, HeaderValue::from(5u64));
    }
    response
}

/// Runs ping tasks for the pool, answering as the synchronous call does.
pub struct PingExecutor {
    pub salt: Option<Arc<Salt>>,
}

impl Executor for PingExecutor {
    fn ready(&self) -> bool {
        self.salt.as_ref().is_some_and(|salt| salt.status().is_ok())
    }

    fn execute(&self, task: &Task, jid: String, attach: bool) -> Work {
        let salt = self.salt.clone();
        let ping = PingRequest {
            targets: task.target.clone(),
            timeout: Duration::from_secs(task.timeout),
        };
        Box::pin(async move {
            let response = match &salt {
                Some(salt) => match ping::still_accepted(salt, ping).await {
                    Ok(ping) => ping::answer(salt, &ping, Some(jid), attach).await,
                    Err(err) => Err(err),
                },
                None => Err(ApiError::Unavailable {
                    message: "this projetyd runs without a Salt master (--no-salt)".into(),
                    retry_after: Duration::from_secs(3600),
                }),
            };
            // A 503 while the master is away is an outage, not an answer:
            // the pool runs the task again once the master is back.
            let outage = matches!(response, Err(ApiError::Unavailable { .. }))
                && salt.as_ref().is_some_and(|salt| salt.status().is_err());
            let response = response.unwrap_or_else(ApiError::into_response);
            let status = response.status().as_u16();
            let body = match response.into_body().collect().await {
                Ok(collected) => collected.to_bytes().to_vec(),
                Err(never) => match never {},
            };
            let response = TaskResponse { status, body };
            match outage {
                true => Err(Retry(response)),
                false => Ok(response),
            }
        })
    }
}
