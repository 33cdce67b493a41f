//! `/api/v1.0/users/<id>/roles[/<rid>]`: a user's roles (api.md Part B,
//! seed shapes). The user itself or an admin reads them; only an admin
//! gives or takes them away.

use hyper::StatusCode;
use serde::Serialize;

use super::access::{self, admin, reader, required, string_fields};
use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState, Req};
use crate::store::Role;

const EXAMPLE: &str = "{\"name\": \"admin\"}";

#[derive(Serialize)]
struct RoleView {
    id: u64,
    name: String,
    user_id: u64,
}

fn view(id: u64, role: Role) -> RoleView {
    RoleView {
        id,
        name: role.name,
        user_id: role.user_id,
    }
}

/// # `GET /api/v1.0/users/<id>/roles` (Bearer)
///
/// - `200 [{"id", "name", "user_id"}, ...]` in id order
/// - `401` no valid token
/// - `403` neither that user nor an admin
/// - `404` no such user (asked by an admin)
pub fn list(state: &AppState, req: &Req, user: &str) -> Result<Reply, ApiError> {
    let user_id = access::id(user, "user")?;
    reader(state, req, user_id, "roles")?;
    access::user(state, user)?;
    let roles: Vec<RoleView> = state
        .store
        .roles_of(user_id)?
        .into_iter()
        .map(|(id, role)| view(id, role))
        .collect();
    Ok(body::json(StatusCode::OK, &roles))
}

/// # `POST /api/v1.0/users/<id>/roles` with `{"name": "admin"}` (Bearer, admin)
///
/// - `200 {"id": n}` (the seed's status)
/// - `400` bad body, a missing or invalid `name`, a role the user holds
/// - `401` no valid token · `403` not an admin · `404` no such user
pub async fn create(state: &AppState, req: &Req, user: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "give roles")?;
    let user_id = access::user(state, user)?;
    let mut fields = string_fields(&req.body, &["name"], EXAMPLE, false)?;
    let name = required(&mut fields, "name")?;
    let logged = name.clone();
    let id = access::write(state, move |store| store.create_role(user_id, &name)).await?;
    log::info!(
        "user {} gave user {user_id} the role {logged:?} ({id})",
        caller.user_id
    );
    Ok(body::json(StatusCode::OK, &serde_json::json!({ "id": id })))
}

/// Role `rid` of user `user`, or 404.
fn find(state: &AppState, user_id: u64, rid: &str) -> Result<(u64, Role), ApiError> {
    let not_found = || ApiError::NotFound(format!("user {user_id} has no role with id {rid:?}"));
    let id = access::id(rid, "role").map_err(|_| not_found())?;
    match state.store.role(id)? {
        Some(role) if role.user_id == user_id => Ok((id, role)),
        _ => Err(not_found()),
    }
}

/// # `GET /api/v1.0/users/<id>/roles/<rid>` (Bearer)
///
/// - `200 {"id", "name", "user_id"}`
/// - `401` no valid token · `403` neither that user nor an admin
/// - `404` no such user, or no such role of that user
pub fn get(state: &AppState, req: &Req, user: &str, rid: &str) -> Result<Reply, ApiError> {
    let user_id = access::id(user, "user")?;
    reader(state, req, user_id, "roles")?;
    let (id, role) = find(state, user_id, rid)?;
    Ok(body::json(StatusCode::OK, &view(id, role)))
}

/// # `PUT /api/v1.0/users/<id>/roles/<rid>` with `{"name": "ops"}` (Bearer, admin)
///
/// - `200 {"id", "name", "user_id"}` as it now is (the seed renamed roles)
/// - `400` bad body, a missing or invalid `name`, a role the user holds
/// - `401` no valid token · `403` not an admin
/// - `404` no such user, or no such role of that user
pub async fn rename(state: &AppState, req: &Req, user: &str, rid: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "rename roles")?;
    let user_id = access::user(state, user)?;
    let (id, old) = find(state, user_id, rid)?;
    let mut fields = string_fields(&req.body, &["name"], EXAMPLE, false)?;
    let name = required(&mut fields, "name")?;
    let new = name.clone();
    access::write(state, move |store| store.rename_role(id, &new)).await?;
    log::info!(
        "user {} renamed the role {:?} ({id}) of user {user_id} to {name:?}",
        caller.user_id,
        old.name
    );
    let (id, role) = find(state, user_id, rid)?;
    Ok(body::json(StatusCode::OK, &view(id, role)))
}

/// # `DELETE /api/v1.0/users/<id>/roles/<rid>` (Bearer, admin)
///
/// - `200`, empty body (the seed's answer)
/// - `401` no valid token · `403` not an admin
/// - `404` no such user, or no such role of that user
pub async fn delete(state: &AppState, req: &Req, user: &str, rid: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "take roles away")?;
    let user_id = access::user(state, user)?;
    let (id, role) = find(state, user_id, rid)?;
    access::write(state, move |store| store.delete_role(id)).await?;
    log::info!(
        "user {} took the role {:?} ({id}) from user {user_id}",
        caller.user_id,
        role.name
    );
    Ok(body::empty(StatusCode::OK))
}
