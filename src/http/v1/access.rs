//! What the user-administration handlers (`users`, `roles`, `acls`)
//! share: who may read or write (the user itself or an admin; an admin),
//! numeric ids in paths, strict bodies of string fields, the store's
//! refusals as v1.0 errors, and durable writes off the runtime.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::auth::Caller;
use crate::http::{ApiError, AppState, Req};
use crate::store::{self, Store};

/// The caller, if it is an admin; else 403 saying who may `what`.
pub(super) fn admin(state: &AppState, req: &Req, what: &str) -> Result<Caller, ApiError> {
    let caller = req.caller()?;
    if state.store.is_admin(caller.user_id)? {
        return Ok(caller);
    }
    Err(ApiError::Forbidden(format!("only an admin may {what}")))
}

/// The caller, if it is user `user_id` or an admin; else 403.
pub(super) fn reader(state: &AppState, req: &Req, user_id: u64, what: &str) -> Result<Caller, ApiError> {
    let caller = req.caller()?;
    if caller.user_id == user_id || state.store.is_admin(caller.user_id)? {
        return Ok(caller);
    }
    Err(ApiError::Forbidden(format!(
        "you may see only your own {what}; an admin may see anyone's"
    )))
}

/// A path id: decimal digits only (no sign, no space), else 404.
pub(super) fn id(text: &str, what: &str) -> Result<u64, ApiError> {
    let not_found = || ApiError::NotFound(format!("no {what} with id {text:?}"));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_found());
    }
    text.parse().map_err(|_| not_found())
}

/// The id of an existing user, from its path segment; else 404.
pub(super) fn user(state: &AppState, text: &str) -> Result<u64, ApiError> {
    let id = id(text, "user")?;
    match state.store.user(id)? {
        Some(_) => Ok(id),
        None => Err(ApiError::NotFound(format!("no user with id {text:?}"))),
    }
}

/// A body that is a JSON object whose fields are all among `allowed` and
/// all strings. `example` shows the expected body in messages. An empty
/// body is an empty object when `empty_ok`.
pub(super) fn string_fields(
    body: &[u8],
    allowed: &[&'static str],
    example: &str,
    empty_ok: bool,
) -> Result<BTreeMap<&'static str, String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        if empty_ok {
            return Ok(BTreeMap::new());
        }
        return Err(ApiError::BadRequest(format!("missing body: send {example}")));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("the body is not valid JSON ({err}): send {example}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::BadRequest(format!(
            "the body must be a JSON object: send {example}"
        )));
    };
    let mut fields = BTreeMap::new();
    for (name, value) in map {
        let Some(&known) = allowed.iter().find(|a| **a == name) else {
            let expected = match allowed {
                [] => "no fields are taken here".to_owned(),
                _ => format!("the fields are {}", allowed.join(", ")),
            };
            return Err(ApiError::BadRequest(format!(
                "unknown field {name:?}: {expected}"
            )));
        };
        match value {
            Value::String(text) => fields.insert(known, text),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "{known} must be a string, not {}",
                    kind(&other)
                )))
            }
        };
    }
    Ok(fields)
}

/// A field a body must have.
pub(super) fn required(
    fields: &mut BTreeMap<&'static str, String>,
    name: &'static str,
) -> Result<String, ApiError> {
    fields
        .remove(name)
        .ok_or_else(|| ApiError::BadRequest(format!("missing field {name:?}")))
}

/// How a JSON value's type is named in error messages.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The store's refusals as the seed answered them: a bad value and an
/// existing record are 400, a missing one 404; anything else as always.
pub(super) fn refused(err: store::Error) -> ApiError {
    match err {
        store::Error::Invalid { .. } | store::Error::AlreadyExists { .. } => {
            ApiError::BadRequest(err.to_string())
        }
        store::Error::NotFound { .. } => ApiError::NotFound(err.to_string()),
        other => other.into(),
    }
}

/// Runs the write `f` on the blocking pool and flushes before answering
/// (the change is durable once the client hears of it).
pub(super) async fn write<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> Result<T, store::Error> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    let done = tokio::task::spawn_blocking(move || {
        let value = f(&store)?;
        store.flush()?;
        Ok(value)
    })
    .await
    .map_err(|err| ApiError::Internal(Box::new(err)))?;
    done.map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_objects_of_known_string_fields() {
        let allowed = ["minions", "functions"];
        let fields = string_fields(
            br#"{"minions": "web*", "functions": "pkg.*"}"#,
            &allowed,
            "{}",
            false,
        )
        .unwrap();
        assert_eq!(fields["minions"], "web*");
        assert!(string_fields(b"", &allowed, "{}", true).unwrap().is_empty());
        for (bad, names) in [
            (&b""[..], "missing body"),
            (b"{", "not valid JSON"),
            (br#"["web*"]"#, "JSON object"),
            (br#"{"minions": 1}"#, "minions must be a string, not a number"),
            (
                br#"{"minion": "x"}"#,
                "unknown field \"minion\": the fields are minions, functions",
            ),
        ] {
            let err = string_fields(bad, &allowed, "{}", false).unwrap_err().to_string();
            assert!(err.contains(names), "{}: {err}", String::from_utf8_lossy(bad));
        }
        let err = string_fields(br#"{"a": "b"}"#, &[], "{}", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no fields"), "{err}");
    }

    #[test]
    fn path_ids_are_plain_decimals() {
        assert_eq!(id("42", "acl").unwrap(), 42);
        for bad in ["", "-1", "+1", "1.0", " 1", "x", "99999999999999999999999"] {
            assert!(matches!(id(bad, "acl"), Err(ApiError::NotFound(_))), "{bad:?}");
        }
    }
}
