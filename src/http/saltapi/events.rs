//! `GET /events` (the master's event bus as Server-Sent Events, filtered by
//! the caller's rights) and `POST /hook[/<path>]` (an event fired on it).
//! docs/saltapi.md says what a user sees and when a stream ends.

use hyper::header::{HeaderMap, CONTENT_TYPE};
use serde_json::{json, Map, Value};

use super::{body_error, caller_of, lowstate, token_of, Answer, Handled, SaltReq};
use crate::auth::Caller;
use crate::config::SaltApiSettings;
use crate::http::sse::{self, End, Next};
use crate::http::{ApiError, AppState};
use crate::salt::events::AllEvents;
use crate::service::events::visible;

/// `GET /events`: the token from `?token=`, `X-Auth-Token` or the
/// session cookie; 401 without a valid one, 503 without Salt or with as
/// many streams open as `max-streams` allows.
pub(super) fn events(
    state: &AppState,
    settings: &SaltApiSettings,
    req: &SaltReq,
) -> Result<Handled, ApiError> {
    let query = req.parts.uri.query().unwrap_or("");
    let from_query = lowstate::pairs(query)
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v);
    let token = match &from_query {
        Some(token) => Some(token.as_str()),
        None => token_of(settings, &req.parts.headers),
    };
    let token = token.ok_or_else(|| ApiError::Unauthorized("No token given".into()))?;
    let caller = caller_of(state, token)?;
    let salt = state.service.salt()?;
    let permit = state.streams.open()?;
    let source = Bus {
        state: state.clone(),
        caller,
        subscription: salt.subscribe_all(),
    };
    Ok(Handled::Raw(sse::start(
        state,
        caller,
        "event",
        sse::RETRY,
        source,
        permit,
    )))
}

/// The master's bus, filtered by the caller's rights.
struct Bus {
    state: AppState,
    caller: Caller,
    subscription: AllEvents,
}

impl sse::Source for Bus {
    async fn next(&mut self) -> Next {
        let Some(event) = self.subscription.events.recv().await else {
            // Fell the bus's buffer behind, or the bus reader stopped.
            return Next::End(End::Cut);
        };
        // Asked each time: the rights are cached, and an ACL change
        // applies to open streams at once.
        let Ok(rights) = self.state.service.rights(self.caller.user_id) else {
            return Next::End(End::Failed);
        };
        if !visible(&rights, &event.tag, &event.data) {
            return Next::Skip;
        }
        match sse::event(&event.tag, &crate::salt::json::to_json(&event.data)) {
            Some(bytes) => Next::Send(bytes),
            None => Next::Skip,
        }
    }
}

/// The tag `POST /hook/<path>` fires: `salt/netapi/hook/<path>`, each
/// part of the path made of ASCII letters, digits, `-`, `_` and `.` (not
/// `.` or `..`), at most `MAX_HOOK_PATH` bytes in all.
pub(crate) fn hook_tag(path: &str) -> Result<String, ApiError> {
    const BASE: &str = "salt/netapi/hook";
    if path.is_empty() {
        return Ok(BASE.to_owned());
    }
    let bad = |why: &str| ApiError::BadRequest(format!("invalid hook path: {why}"));
    if path.len() > MAX_HOOK_PATH {
        return Err(bad("too long"));
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad("empty, '.' or '..' part"));
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(bad("only ASCII letters, digits, '-', '_' and '.' are allowed"));
        }
    }
    Ok(format!("{BASE}/{path}"))
}

/// The longest hook path taken.
const MAX_HOOK_PATH: usize = 256;

/// Headers a hook does not pass on: they are credentials.
const SECRET_HEADERS: [&str; 4] = ["authorization", "x-auth-token", "cookie", "proxy-authorization"];

/// `POST /hook[/<path>]`: fires salt-api's hook event, `{"_stamp", "body"
/// (the raw body), "post" (the body parsed, `{}` if none), "headers"}`.
pub(super) async fn hook(state: &AppState, req: &SaltReq, path: &str) -> Result<Answer, ApiError> {
    let tag = hook_tag(path)?;
    let salt = state.service.salt()?;
    let content_type = req.parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let format = lowstate::Format::of(content_type).map_err(body_error)?;
    let post = match lowstate::parse(format, &req.body).map_err(body_error)? {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    let data = json!({
        "_stamp": stamp(std::time::SystemTime::now()),
        "body": String::from_utf8_lossy(&req.body),
        "post": post,
        "headers": hook_headers(&req.parts.headers),
    });
    match req.caller {
        Some(caller) => log::info!("user {}: fired {tag}", caller.user_id),
        None => log::info!("{}: fired {tag} without a token", req.peer.ip()),
    }
    salt.fire_event(&tag, &crate::salt::json::from_json(&data))
        .await?;
    Ok(Answer::ok(json!({"success": true})))
}

/// The request's headers as CherryPy names them (`Content-Type`), less
/// the credentials; a repeated header's values joined with `, `.
fn hook_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        if SECRET_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.insert(title_case(name.as_str()), Value::String(values.join(", ")));
    }
    out
}

fn title_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `when` as Python's `datetime.utcnow().isoformat()`, which Salt 3006 and
/// 3007 stamp events with: `2026-12-03T14:00:00.123456` (no fraction
/// when it is zero).
fn stamp(when: std::time::SystemTime) -> String {
    let micros = when
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let ((y, mo, d), (h, mi, s)) = crate::civil::utc_parts(secs);
    let whole = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    // Python leaves the fraction out when it is zero.
    match frac {
        0 => whole,
        _ => format!("{whole}.{frac:06}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use std::time::Duration;

    #[test]
    fn hook_paths_become_tags_or_are_refused() {
        assert_eq!(hook_tag("").unwrap(), "salt/netapi/hook");
        assert_eq!(hook_tag("e2e/ping").unwrap(), "salt/netapi/hook/e2e/ping");
        assert_eq!(
            hook_tag("my-co/build_1/v1.2").unwrap(),
            "salt/netapi/hook/my-co/build_1/v1.2"
        );
        for bad in [
            "..", "a/../b", "a/./b", "a//b", "a/", "/a", "a b", "a\nb", "é", "a*", "a%2Fb", "a;b",
        ] {
            assert!(matches!(hook_tag(bad), Err(ApiError::BadRequest(_))), "{bad:?}");
        }
        assert!(hook_tag(&"a".repeat(MAX_HOOK_PATH)).is_ok());
        assert!(hook_tag(&"a".repeat(MAX_HOOK_PATH + 1)).is_err());
    }

    #[test]
    fn hook_headers_drop_credentials_and_read_as_cherrypy_names_them() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-my-secret-key", HeaderValue::from_static("s"));
        headers.insert("authorization", HeaderValue::from_static("Basic x"));
        headers.insert("x-auth-token", HeaderValue::from_static("t"));
        headers.insert("cookie", HeaderValue::from_static("session_id=t"));
        headers.append("accept", HeaderValue::from_static("a"));
        headers.append("accept", HeaderValue::from_static("b"));
        let out = hook_headers(&headers);
        assert_eq!(
            Value::Object(out),
            json!({"Content-Type": "application/json", "X-My-Secret-Key": "s", "Accept": "a, b"})
        );
    }

    #[test]
    fn stamps_are_python_isoformat() {
        let when = std::time::UNIX_EPOCH + Duration::from_micros(1_796_306_400_123_456);
        assert_eq!(stamp(when), "2026-12-03T14:00:00.123456");
        let whole = std::time::UNIX_EPOCH + Duration::from_secs(1_796_306_400);
        assert_eq!(stamp(whole), "2026-12-03T14:00:00");
    }
}
