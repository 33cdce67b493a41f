//! `/api/v1.0/users`: the users of the API, without password material.

use hyper::StatusCode;
use serde::Serialize;

use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState, Req};
use crate::store::User;

#[derive(Serialize)]
struct UserView {
    id: u64,
    nickname: String,
    created_at: u64,
    updated_at: u64,
    /// `null` for a user who never authenticated.
    last_seen_at: Option<u64>,
    _links: Links,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    tokens: &'static str,
}

fn view(state: &AppState, id: u64, user: User) -> UserView {
    UserView {
        id,
        last_seen_at: state.auth.last_seen(id, user.last_seen_at),
        nickname: user.nickname,
        created_at: user.created_at,
        updated_at: user.updated_at,
        _links: Links {
            this: format!("/api/v1.0/users/{id}"),
            tokens: "/api/v1.0/tokens",
        },
    }
}

/// # `GET /api/v1.0/users` (Bearer)
///
/// - `200 {"users": [User, ...]}` ordered by `updated_at`, then `nickname`
/// - `401` no valid token
pub fn list(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    req.caller()?;
    let mut users: Vec<UserView> = state
        .store
        .users()?
        .into_iter()
        .map(|(id, user)| view(state, id, user))
        .collect();
    users.sort_by(|a, b| (a.updated_at, &a.nickname).cmp(&(b.updated_at, &b.nickname)));
    Ok(body::json(StatusCode::OK, &serde_json::json!({ "users": users })))
}

/// # `GET /api/v1.0/users/<id>` (Bearer)
///
/// - `200 User`
/// - `401` no valid token
/// - `404` unknown or non-numeric id
pub fn get(state: &AppState, req: &Req, id: &str) -> Result<Reply, ApiError> {
    req.caller()?;
    let not_found = || ApiError::NotFound(format!("no user with id {id:?}"));
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_found());
    }
    let id_num: u64 = id.parse().map_err(|_| not_found())?;
    let user = state.store.user(id_num)?.ok_or_else(not_found)?;
    Ok(body::json(StatusCode::OK, &view(state, id_num, user)))
}
