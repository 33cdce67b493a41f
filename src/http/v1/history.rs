//! `/api/v1.0/jobs`: the caller's task records, newest first.

use hyper::StatusCode;
use serde::Serialize;

use super::deferred::parse_id;
use crate::http::body::{self, Reply};
use crate::http::{query_param, ApiError, AppState, Req};
use crate::pool::Cancel;
use crate::service::{self, Whose};
use crate::store::Task;

#[derive(Serialize)]
pub(super) struct JobView {
    id: String,
    state: &'static str,
    user_id: u64,
    function: String,
    target: Vec<String>,
    jid: Option<String>,
    created_at: u64,
    started_at: Option<u64>,
    finished_at: Option<u64>,
    /// The final answer: its HTTP status and JSON body.
    result: Option<serde_json::Value>,
    _links: Links,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    status: String,
}

/// A task record as the API shows it.
pub(super) fn view(id: [u8; 16], task: Task) -> JobView {
    let id = uuid::Uuid::from_bytes(id).to_string();
    let result = task.outcome.clone().map(|outcome| {
        let (status, body) = super::outcome::render_json(&task.kind, outcome);
        serde_json::json!({"status": status.as_u16(), "body": body})
    });
    JobView {
        state: task.state.as_str(),
        user_id: task.user_id,
        function: task.function,
        target: task.target,
        jid: task.jid,
        created_at: task.created_us / 1_000_000,
        started_at: task.started_at,
        finished_at: task.finished_at,
        result,
        _links: Links {
            this: format!("/api/v1.0/jobs/{id}"),
            status: format!("/api/v1.0/tasks/status/{id}"),
        },
        id,
    }
}

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// # `GET /api/v1.0/jobs[?limit=<n>&after=<id>&user=<id>|all]` (Bearer)
///
/// - `200 {"jobs": [Job, ...], "next": "<id>" | null}`: the caller's tasks
///   (an admin: `user`'s, or everyone's with `all`), newest first; pass
///   `next` as `after` for the next page
/// - `400` bad `limit` (1 to 500), `user`, or an `after` that is not in
///   the listing · `401` no valid token · `403` `user` for a non-admin
pub fn list(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let caller = req.caller()?;
    let limit = match query_param(req, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit must be an integer from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let after = match query_param(req, "after") {
        None => None,
        Some(text) => {
            Some(parse_id(text).ok_or_else(|| ApiError::BadRequest("after is not a job id".into()))?)
        }
    };
    let whose = match query_param(req, "user") {
        None => Whose::Caller,
        Some("all") => Whose::All,
        Some(text) => match text.parse::<u64>() {
            Ok(id) if text.bytes().all(|b| b.is_ascii_digit()) => Whose::User(id),
            _ => return Err(ApiError::BadRequest("user must be a user id or all".into())),
        },
    };
    let page = match state.service.tasks(caller.user_id, whose, limit + 1, after) {
        Err(service::Error::InvalidCursor) => {
            return Err(ApiError::BadRequest("after is not one of the jobs listed".into()))
        }
        other => other?,
    };
    let more = page.len() > limit;
    let jobs: Vec<JobView> = page
        .into_iter()
        .take(limit)
        .map(|(id, task)| view(id, task))
        .collect();
    let next = if more {
        jobs.last().map(|j| j.id.clone())
    } else {
        None
    };
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"jobs": jobs, "next": next}),
    ))
}

/// # `GET /api/v1.0/jobs/<id>` (Bearer)
///
/// - `200 Job`: state, function, target, Salt jid, times, result
/// - `401` no valid token · `404` unknown id, or another user's job (an admin sees every job)
pub fn get(state: &AppState, req: &Req, id: &str) -> Result<Reply, ApiError> {
    let caller = req.caller()?;
    let not_found = || ApiError::NotFound(format!("no job with id {id:?}"));
    let task_id = parse_id(id).ok_or_else(not_found)?;
    let task = state
        .service
        .task(caller.user_id, task_id)?
        .ok_or_else(not_found)?;
    Ok(body::json(StatusCode::OK, &view(task_id, task)))
}

/// # `POST /api/v1.0/jobs/<id>/cancel` (Bearer)
///
/// - `200 Job`: cancelled; a queued task never runs, a running one was
///   stopped with `saltutil.kill_job` on the minions still running it; its
///   state is `cancelled` and its status answers 409
/// - `202 Job` + `Location` (its status): told to stop, not stopped yet
/// - `409` it had already ended (the message says how) · `401` no valid
///   token · `404` unknown id, or another user's job (an admin sees every job)
pub async fn cancel(state: &AppState, req: &Req, id: &str) -> Result<Reply, ApiError> {
    let caller = req.caller()?;
    let not_found = || ApiError::NotFound(format!("no job with id {id:?}"));
    let task_id = parse_id(id).ok_or_else(not_found)?;
    let (answer, task) = state
        .service
        .cancel(caller.user_id, task_id)
        .await?
        .ok_or_else(not_found)?;
    match answer {
        Cancel::Finished(ended) => Err(ApiError::Conflict(format!(
            "job {id} has already ended: {}",
            ended.as_str()
        ))),
        _ if task.state.is_final() => Ok(body::json(StatusCode::OK, &view(task_id, task))),
        _ => {
            let reply = body::json(StatusCode::ACCEPTED, &view(task_id, task));
            Ok(super::deferred::with_location(state, req, task_id, reply))
        }
    }
}
