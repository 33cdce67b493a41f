//! `/login`, `/logout` and `/token`: projetyd's own users, logged in
//! through the eauth names configured (`saltapi-eauth`), with projetyd's
//! tokens (hashed in the store, throttled logins) in salt-api's shapes.

use hyper::header::{HeaderName, HeaderValue, SET_COOKIE, WWW_AUTHENTICATE};
use serde_json::{json, Map, Value};

use super::{perms, Answer, SaltReq, SESSION_COOKIE};
use crate::config::SaltApiSettings;
use crate::http::{ApiError, AppState};

/// Longest user name or password considered (the v1.0 Basic header is
/// capped alike).
const MAX_CREDENTIAL: usize = 1024;

/// `GET /login`: how to log in.
pub(super) fn info() -> Answer {
    let mut answer = Answer::ok(json!({"status": 200, "return": "Please log in"}));
    answer
        .headers
        .push((WWW_AUTHENTICATE, HeaderValue::from_static("Session")));
    answer
}

/// A user name, password and eauth name from a body mapping.
struct Credentials {
    username: String,
    password: String,
    eauth: String,
}

fn credentials(map: &Map<String, Value>) -> Option<Credentials> {
    let field = |name: &str| match map.get(name) {
        Some(Value::String(s)) if s.len() <= MAX_CREDENTIAL => Some(s.clone()),
        _ => None,
    };
    Some(Credentials {
        username: field("username")?,
        password: field("password")?,
        eauth: field("eauth")?,
    })
}

/// Checks credentials as a login does: a configured eauth name, then the
/// user's password (throttled); the user's id.
pub(super) async fn check(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
    username: &str,
    password: &str,
    eauth: &str,
) -> Result<u64, ApiError> {
    let refused = || ApiError::Unauthorized("Could not authenticate using provided credentials".into());
    if !settings.eauth.iter().any(|e| e == eauth) {
        log::info!("salt-api login refused: eauth {eauth:?} is not one of saltapi-eauth");
        return Err(refused());
    }
    match state.auth.login_password(username, password, req.peer.ip()).await {
        Ok(id) => Ok(id),
        Err(crate::auth::Error::Unauthenticated(_)) => Err(refused()),
        Err(err) => Err(err.into()),
    }
}

/// A token for checked credentials: the user, the token, when it starts.
async fn issue(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
    creds: &Credentials,
) -> Result<(u64, crate::auth::Issued, u64), ApiError> {
    let user_id = check(
        state,
        settings,
        req,
        &creds.username,
        &creds.password,
        &creds.eauth,
    )
    .await?;
    let lifetime = state.config.token_lifetime;
    let issued = state.auth.issue(user_id, lifetime).await?;
    let start = issued.expires_at.saturating_sub(lifetime);
    Ok((user_id, issued, start))
}

/// `POST /login`: a token, its times, the user, the eauth and the user's
/// rights as `perms`; the token also in `X-Auth-Token` and in the
/// `session_id` cookie (which authenticates a browser's `/events`).
pub(super) async fn login(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
) -> Result<Answer, ApiError> {
    let bodies = req.mappings()?;
    let creds = bodies
        .first()
        .and_then(credentials)
        .ok_or_else(|| ApiError::Unauthorized("Could not authenticate using provided credentials".into()))?;
    let (user_id, issued, start) = issue(state, settings, req, &creds).await?;
    let lifetime = state.config.token_lifetime;
    let perms = user_perms(state, user_id)?;
    log::info!("user {user_id}: salt-api login (eauth {})", creds.eauth);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Max-Age={lifetime}; Path=/; HttpOnly; SameSite=Lax",
        issued.text
    );
    let mut answer = Answer::ok(json!({"return": [{
        "token": issued.text,
        "expire": issued.expires_at as f64,
        "start": start as f64,
        "user": creds.username,
        "eauth": creds.eauth,
        "perms": perms,
    }]}));
    answer.headers.push((
        HeaderName::from_static(super::X_AUTH_TOKEN),
        header_value(&issued.text)?,
    ));
    answer.headers.push((SET_COOKIE, header_value(&cookie)?));
    Ok(answer)
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    // A token is base64url: always a valid header value.
    HeaderValue::from_str(text).map_err(|err| ApiError::Internal(Box::new(err)))
}

/// What the user may do, in Salt's `external_auth` form.
fn user_perms(state: &AppState, user_id: u64) -> Result<Value, ApiError> {
    let admin = state.store.is_admin(user_id)?;
    let acls = state.store.acls_of(user_id)?;
    let entries: Vec<(&str, &str)> = acls
        .iter()
        .map(|(_, acl)| (acl.minions.as_str(), acl.functions.as_str()))
        .collect();
    Ok(perms::perms(admin, &entries))
}

/// `POST /logout`: the token is revoked and the cookie expired.
pub(super) async fn logout(state: &AppState, req: &SaltReq) -> Result<Answer, ApiError> {
    let caller = req.caller()?;
    state.auth.revoke(caller).await?;
    let mut answer = Answer::ok(json!({"return": "Your token has been cleared"}));
    answer.headers.push((
        SET_COOKIE,
        HeaderValue::from_static("session_id=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"),
    ));
    Ok(answer)
}

/// `POST /token`: a token for each set of credentials, as a bare list of
/// `{token, start, expire, name, eauth}` (salt-api's runner `auth.mk_token`).
pub(super) async fn token(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
) -> Result<Answer, ApiError> {
    let bodies = req.mappings()?;
    if bodies.is_empty() {
        return Err(missing());
    }
    let mut out = Vec::new();
    for body in &bodies {
        let creds = credentials(body).ok_or_else(missing)?;
        let (_, issued, start) = issue(state, settings, req, &creds).await?;
        out.push(json!({
            "token": issued.text,
            "start": start as f64,
            "expire": issued.expires_at as f64,
            "name": creds.username,
            "eauth": creds.eauth,
        }));
    }
    Ok(Answer::ok(Value::Array(out)))
}

fn missing() -> ApiError {
    ApiError::BadRequest("Require \"username\", \"password\", and \"eauth\" params".into())
}
