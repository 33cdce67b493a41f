//! `/api/v1.0/users/<id>/acls[/<aid>]`: a user's ACLs (api.md Part B,
//! seed shapes). The user itself or an admin reads them; only an admin
//! writes them. What they allow is decided elsewhere (the service).

use hyper::StatusCode;
use serde::Serialize;

use super::access::{self, admin, reader, required, string_fields};
use crate::http::body::{self, Reply};
use crate::http::{ApiError, AppState, Req};
use crate::store::{self, Acl};

const EXAMPLE: &str = "{\"minions\": \"web*\", \"functions\": \"pkg.*\"}";
const FIELDS: &[&str] = &["minions", "functions"];

#[derive(Serialize)]
struct AclView {
    id: u64,
    user_id: u64,
    minions: String,
    functions: String,
}

fn view(id: u64, acl: Acl) -> AclView {
    AclView {
        id,
        user_id: acl.user_id,
        minions: acl.minions,
        functions: acl.functions,
    }
}

/// # `GET /api/v1.0/users/<id>/acls` (Bearer)
///
/// - `200 [{"id", "user_id", "minions", "functions"}, ...]` in id order
/// - `401` no valid token
/// - `403` neither that user nor an admin
/// - `404` no such user (asked by an admin)
pub fn list(state: &AppState, req: &Req, user: &str) -> Result<Reply, ApiError> {
    let user_id = access::id(user, "user")?;
    reader(state, req, user_id, "ACLs")?;
    access::user(state, user)?;
    let acls: Vec<AclView> = state
        .store
        .acls_of(user_id)?
        .into_iter()
        .map(|(id, acl)| view(id, acl))
        .collect();
    Ok(body::json(StatusCode::OK, &acls))
}

/// A 400 naming the user's ACL identical to `minions` and `functions`
/// (the store said there is one), as the seed named it.
fn identical(state: &AppState, user_id: u64, minions: &str, functions: &str, err: ApiError) -> ApiError {
    let same = state.store.acls_of(user_id).ok().and_then(|acls| {
        acls.into_iter()
            .find(|(_, acl)| acl.minions == minions && acl.functions == functions)
    });
    match same {
        Some((id, _)) => ApiError::BadRequest(format!("an identical ACL already exists: id {id}")),
        None => err,
    }
}

/// # `POST /api/v1.0/users/<id>/acls` with `{"minions": "web*", "functions": "pkg.*"}` (Bearer, admin)
///
/// - `200 {"id": n}` (the seed's status)
/// - `400` bad body, a missing or invalid field (named), an identical ACL
///   of that user (its id named)
/// - `401` no valid token · `403` not an admin · `404` no such user
pub async fn create(state: &AppState, req: &Req, user: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "write ACLs")?;
    let user_id = access::user(state, user)?;
    let mut fields = string_fields(&req.body, FIELDS, EXAMPLE, false)?;
    let minions = required(&mut fields, "minions")?;
    let functions = required(&mut fields, "functions")?;
    let (m, f) = (minions.clone(), functions.clone());
    let id = access::write(state, move |store| store.create_acl(user_id, &m, &f))
        .await
        .map_err(|err| identical(state, user_id, &minions, &functions, err))?;
    log::info!(
        "user {} gave user {user_id} the ACL {id} ({minions:?} {functions:?})",
        caller.user_id
    );
    Ok(body::json(StatusCode::OK, &serde_json::json!({ "id": id })))
}

/// ACL `aid` of user `user_id`, or 404.
fn find(state: &AppState, user_id: u64, aid: &str) -> Result<(u64, Acl), ApiError> {
    let not_found = || ApiError::NotFound(format!("user {user_id} has no ACL with id {aid:?}"));
    let id = access::id(aid, "ACL").map_err(|_| not_found())?;
    match state.store.acl(id)? {
        Some(acl) if acl.user_id == user_id => Ok((id, acl)),
        _ => Err(not_found()),
    }
}

/// # `GET /api/v1.0/users/<id>/acls/<aid>` (Bearer)
///
/// - `200 {"id", "user_id", "minions", "functions"}`
/// - `401` no valid token · `403` neither that user nor an admin
/// - `404` no such user, or no such ACL of that user
pub fn get(state: &AppState, req: &Req, user: &str, aid: &str) -> Result<Reply, ApiError> {
    let user_id = access::id(user, "user")?;
    reader(state, req, user_id, "ACLs")?;
    let (id, acl) = find(state, user_id, aid)?;
    Ok(body::json(StatusCode::OK, &view(id, acl)))
}

/// # `PUT /api/v1.0/users/<id>/acls/<aid>` with `minions`, `functions` or both (Bearer, admin)
///
/// A field left out keeps its value (the seed's partial update).
///
/// - `200` with the ACL as it now is
/// - `400` bad body, neither field, an invalid field, an identical ACL
/// - `401` no valid token · `403` not an admin
/// - `404` no such user, or no such ACL of that user
pub async fn update(state: &AppState, req: &Req, user: &str, aid: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "write ACLs")?;
    let user_id = access::user(state, user)?;
    let (id, old) = find(state, user_id, aid)?;
    let mut fields = string_fields(&req.body, FIELDS, EXAMPLE, false)?;
    if fields.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to change: send minions, functions or both".into(),
        ));
    }
    let minions = fields.remove("minions").unwrap_or(old.minions);
    let functions = fields.remove("functions").unwrap_or(old.functions);
    let (m, f) = (minions.clone(), functions.clone());
    access::write(state, move |store| store.update_acl(id, &m, &f))
        .await
        .map_err(|err| identical(state, user_id, &minions, &functions, err))?;
    log::info!(
        "user {} changed the ACL {id} of user {user_id} to {minions:?} {functions:?}",
        caller.user_id
    );
    let acl = store::Acl {
        user_id,
        minions,
        functions,
    };
    Ok(body::json(StatusCode::OK, &view(id, acl)))
}

/// # `DELETE /api/v1.0/users/<id>/acls/<aid>` (Bearer, admin)
///
/// - `200`, empty body (the seed's answer)
/// - `401` no valid token · `403` not an admin
/// - `404` no such user, or no such ACL of that user
pub async fn delete(state: &AppState, req: &Req, user: &str, aid: &str) -> Result<Reply, ApiError> {
    let caller = admin(state, req, "write ACLs")?;
    let user_id = access::user(state, user)?;
    let (id, _) = find(state, user_id, aid)?;
    access::write(state, move |store| store.delete_acl(id)).await?;
    log::info!("user {} deleted the ACL {id} of user {user_id}", caller.user_id);
    Ok(body::empty(StatusCode::OK))
}
