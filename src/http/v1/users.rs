//! `/api/v1.0/users`: the users of the API, without password material;
//! and, for admins, creating a user, resetting its password and deleting
//! it (api.md Part B). A generated password is shown once, in the answer
//! that made it, and never logged.

use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::StatusCode;
use serde::Serialize;

use super::access::{self, admin, required, string_fields};
use crate::auth::check_nickname;
use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState, Req};
use crate::store::User;
use crate::unix_now;

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

/// `response` with `Cache-Control: no-store`: its body holds a password.
fn secret(mut response: Reply) -> Reply {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    user: UserView,
    /// Generated; shown this once.
    password: String,
}

/// # `POST /api/v1.0/users` with `{"nickname": "bob"}` (Bearer, admin)
///
/// The new user has the default ACL, as one made by `projetyd adduser`.
///
/// - `201` the User and its generated `password` (shown once)
/// - `400` bad body, a missing or invalid nickname, a nickname taken
/// - `401` no valid token · `403` not an admin
pub async fn create(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "create users")?;
    let mut fields = string_fields(&req.body, &["nickname"], "{\"nickname\": \"bob\"}", false)?;
    let nickname = required(&mut fields, "nickname")?;
    check_nickname(&nickname).map_err(ApiError::BadRequest)?;
    let (password, hash) = state.auth.new_password().await?;
    let name = nickname.clone();
    let (id, user) = access::write(state, move |store| store.create_user(&name, hash, unix_now())).await?;
    log::info!("user {} created user {nickname} ({id})", caller.user_id);
    let created = Created {
        user: view(state, id, user),
        password,
    };
    Ok(secret(body::json(StatusCode::CREATED, &created)))
}

/// # `POST /api/v1.0/users/<id>/password` (Bearer, admin; no body, or `{}`)
///
/// - `200 {"password": "..."}`: a new generated one (shown once); every
///   token of the user is revoked
/// - `400` a body with fields · `401` no valid token · `403` not an admin
/// - `404` no such user
pub async fn password(state: &AppState, req: &Req, id: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "reset passwords")?;
    let user_id = access::user(state, id)?;
    string_fields(&req.body, &[], "no body", true)?;
    let (password, hash) = state.auth.new_password().await?;
    let (nickname, revoked) = access::write(state, move |store| {
        store.set_password_of(user_id, hash, unix_now())
    })
    .await?;
    log::info!(
        "user {} reset the password of {nickname} ({user_id}); {revoked} token(s) revoked",
        caller.user_id
    );
    let answer = serde_json::json!({ "password": password });
    Ok(secret(body::json(StatusCode::OK, &answer)))
}

/// # `DELETE /api/v1.0/users/<id>` (Bearer, admin)
///
/// - `204`: the user, its tokens, roles and ACLs are gone
/// - `401` no valid token · `403` not an admin · `404` no such user
pub async fn delete(state: &AppState, req: &Req, id: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "delete users")?;
    let user_id = access::user(state, id)?;
    let user = access::write(state, move |store| store.delete_user_id(user_id)).await?;
    log::info!(
        "user {} deleted user {} ({user_id})",
        caller.user_id,
        user.nickname
    );
    Ok(body::empty(StatusCode::NO_CONTENT))
}
