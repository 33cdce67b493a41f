//! `/api/v1.0/minions...`: the accepted minions, what one offers, a
//! function's documentation, and running any function on one minion, now
//! or as a task (the later ProjectY API's endpoints).

use std::collections::BTreeMap;

use hyper::StatusCode;
use serde_json::Value;

use super::{deferred, outcome, ping};
use crate::http::body::{self, Reply};
use crate::http::{query_param, ApiError, AppState, Req};
use crate::service::Call;

/// # `GET /api/v1.0/minions` (Bearer)
///
/// - `200 ["m1", "m2"]`: the accepted ids, sorted
/// - `401` · `503` the master is unreachable and its pki directory unreadable
pub async fn list(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    req.caller()?;
    Ok(body::json(StatusCode::OK, &state.service.minions().await?))
}

/// # `GET /api/v1.0/minions/<minion>/tasks` (Bearer)
///
/// - `200 ["test.ping", ...]`: what that minion offers (`sys.list_functions`,
///   cached, refreshed in the background)
/// - `400` not an accepted key · `401` · `503`
pub async fn functions(state: &AppState, req: &Req, minion: &str) -> Result<Reply, ApiError> {
    req.caller()?;
    let functions = state.service.minion_functions(minion).await?;
    Ok(body::json(StatusCode::OK, &*functions))
}

/// # `GET /api/v1.0/minions/<minion>/tasks/<function>` (Bearer)
///
/// - `200 {"documentation": "..."}` (`sys.doc` on that minion)
/// - `400` not an accepted key, or a function it does not offer · `401` · `503`
pub async fn documentation(
    state: &AppState,
    req: &Req,
    minion: &str,
    function: &str,
) -> Result<Reply, ApiError> {
    req.caller()?;
    let documentation = state.service.documentation(minion, function).await?;
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({ "documentation": documentation }),
    ))
}

/// # `POST /api/v1.0/minions/<minion>/tasks/<function>` (Bearer)
///
/// Body (optional): `{"async": "sync" | "async", "arg": [...], "kwarg": {...}}`;
/// query: `?timeout=<seconds>`, `?full_return=true`.
///
/// - sync (the default): the outcome (`outcome.rs`): `200 {"<minion>": <return>}`
/// - async: `202` + `Location`, as the async ping; the status replays the
///   sync answer
/// - `400` not an accepted key, a function it does not offer, a bad field
///   (named), `"socket.io"` (use the event stream) · `401` · `403` the
///   caller's ACLs do not allow it · `503`
pub async fn run(state: &AppState, req: &Req, minion: &str, function: &str) -> Result<Reply, ApiError> {
    let caller = req.caller()?;
    let (mode, mut call) = parse_call(&req.body)?;
    call.function = function.to_owned();
    call.timeout = ping::timeout(state, req)?;
    call.full_return = full_return(req)?;
    let job = state.service.run_on_minion(caller.user_id, minion, call).await?;
    match mode {
        Mode::Sync => Ok(outcome::render(&job.kind, state.service.run(&job).await?)),
        Mode::Async => {
            let id = state.service.submit(job).await?;
            Ok(deferred::accepted(state, req, id))
        }
    }
}

/// How the caller waits for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Sync,
    Async,
}

/// `?full_return=true|false` (absent: false).
pub(super) fn full_return(req: &Req) -> Result<bool, ApiError> {
    match query_param(req, "full_return") {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "full_return must be true or false, not {other:?}"
        ))),
    }
}

/// The body of a run: every field optional, each checked by name. An
/// empty body is a sync call with no arguments.
pub(super) fn parse_call(body: &[u8]) -> Result<(Mode, Call), ApiError> {
    parse_call_with(body, "async, arg and kwarg", |_, _, _| Ok(false))
}

/// A run's body with fields of its own besides `async`, `arg` and `kwarg`:
/// `more` takes a field it knows (answering `true`) and may set the call's;
/// `fields` lists them all for the error about an unknown one.
pub(super) fn parse_call_with(
    body: &[u8],
    fields: &str,
    mut more: impl FnMut(&str, Value, &mut Call) -> Result<bool, ApiError>,
) -> Result<(Mode, Call), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Mode::Sync, Call::default()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("the body is not valid JSON: {err}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::BadRequest(format!(
            "the body must be a JSON object with the fields {fields}"
        )));
    };
    let mut mode = Mode::Sync;
    let mut call = Call::default();
    for (name, value) in object {
        match name.as_str() {
            "async" => mode = parse_mode(&value)?,
            "arg" => match value {
                Value::Array(items) => call.args = items,
                other => return Err(wrong_type("arg", "a list", &other)),
            },
            "kwarg" => match value {
                Value::Object(map) => call.kwargs = kwargs(map)?,
                other => return Err(wrong_type("kwarg", "an object", &other)),
            },
            other => {
                if !more(other, value, &mut call)? {
                    return Err(ApiError::BadRequest(format!(
                        "unknown field {other:?}: the fields are {fields}"
                    )));
                }
            }
        }
    }
    Ok((mode, call))
}

fn parse_mode(value: &Value) -> Result<Mode, ApiError> {
    match value.as_str() {
        Some("sync") => Ok(Mode::Sync),
        Some("async") => Ok(Mode::Async),
        Some("socket.io") => Err(ApiError::BadRequest(
            "async mode \"socket.io\" is not served: follow the task's events at GET /api/v1.0/events, or use \"async\" and its status URL".into(),
        )),
        Some(other) => Err(ApiError::BadRequest(format!(
            "async mode {other:?} is not valid: use \"sync\" or \"async\""
        ))),
        None => Err(wrong_type("async", "a string", value)),
    }
}

/// Keyword arguments: names as Python would take them (a name starting
/// with `__` is Salt's own, such as `__kwarg__`, and is refused).
fn kwargs(map: serde_json::Map<String, Value>) -> Result<BTreeMap<String, Value>, ApiError> {
    for name in map.keys() {
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier || name.starts_with("__") {
            return Err(ApiError::BadRequest(format!(
                "kwarg name {name:?} is not valid: letters, digits and _, not starting with a digit or __"
            )));
        }
    }
    Ok(map.into_iter().collect())
}

pub(super) fn wrong_type(field: &str, expected: &str, got: &Value) -> ApiError {
    let kind = super::access::kind(got);
    ApiError::BadRequest(format!("{field} must be {expected}, not {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_body_is_checked_field_by_field() {
        let (mode, call) = parse_call(b"").unwrap();
        assert_eq!((mode, call.args.len()), (Mode::Sync, 0));
        let (mode, call) =
            parse_call(br#"{"async": "async", "arg": ["a", 1], "kwarg": {"b": [2], "_c": null}}"#).unwrap();
        assert_eq!(mode, Mode::Async);
        assert_eq!(call.args, vec![Value::from("a"), Value::from(1)]);
        assert_eq!(call.kwargs.len(), 2);
        for (bad, names) in [
            (&br#"{"async": "ssync"}"#[..], "ssync"),
            (br#"{"async": "socket.io"}"#, "events"),
            (br#"{"async": 1}"#, "async must be a string"),
            (br#"{"arg": "a"}"#, "arg must be a list"),
            (br#"{"kwarg": []}"#, "kwarg must be an object"),
            (br#"{"kwarg": {"__kwarg__": true}}"#, "__kwarg__"),
            (br#"{"kwarg": {"a-b": 1}}"#, "a-b"),
            (br#"{"other": 1}"#, "other"),
            (br#"["a"]"#, "JSON object"),
            (b"{", "not valid JSON"),
        ] {
            let err = parse_call(bad).unwrap_err().to_string();
            assert!(err.contains(names), "{}: {err}", String::from_utf8_lossy(bad));
        }
    }
}
