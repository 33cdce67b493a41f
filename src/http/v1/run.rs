//! `POST /api/v1.0/run`: any function on any target, in one request; the
//! generic form of `POST /minions/<m>/tasks/<fun>`.

use serde_json::Value;

use super::minions::{parse_call_with, wrong_type, Mode};
use super::{deferred, outcome};
use crate::http::body::Reply;
use crate::http::{ApiError, AppState, Req};
use crate::targeting::TargetExpr;

const FIELDS: &str = "target, target_type, function, arg, kwarg, timeout, full_return and async";

/// # `POST /api/v1.0/run` (Bearer)
///
/// Body: `{"target": "web*" | ["m1", "m2"], "target_type": "glob",
/// "function": "test.arg", "arg": [...], "kwarg": {...}, "timeout": 10,
/// "full_return": false, "async": "sync" | "async"}`; `target` and
/// `function` are required; `target_type` is `list` for a list and `glob`
/// for a string unless given (`list`, `glob`, `pcre`, `grain`,
/// `grain_pcre`, `nodegroup`, `compound`).
///
/// The target is expanded by projetyd to exact accepted ids, checked
/// against the caller's ACLs, and published as a list.
///
/// - sync: the outcome (`outcome.rs`) over every expanded minion
/// - async: `202` + `Location`; the status replays the sync answer
/// - `400` a bad field (named), an unsupported target type, an invalid
///   expression, a function no minion offers · `401` · `403` one of the
///   minions is not allowed (named) · `404` the target matches no accepted
///   minion · `503`
pub async fn run(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let caller = req.caller()?;
    let max_timeout = state.service.max_timeout().as_secs();
    let mut target = None;
    let mut target_type = None;
    let mut function = None;
    let (mode, mut call) = parse_call_with(&req.body, FIELDS, |name, value, call| {
        match name {
            "target" => target = Some(parse_target(value)?),
            "target_type" => match value {
                Value::String(text) => target_type = Some(text),
                other => return Err(wrong_type("target_type", "a string", &other)),
            },
            "function" => match value {
                Value::String(text) if !text.is_empty() => function = Some(text),
                other => return Err(wrong_type("function", "a function name", &other)),
            },
            "timeout" => match value.as_u64() {
                Some(seconds) if (1..=max_timeout).contains(&seconds) => {
                    call.timeout = Some(std::time::Duration::from_secs(seconds));
                }
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "timeout must be a whole number of seconds from 1 to {max_timeout}"
                    )))
                }
            },
            "full_return" => match value {
                Value::Bool(full) => call.full_return = full,
                other => return Err(wrong_type("full_return", "true or false", &other)),
            },
            // A salt-api habit: say what the field is called here.
            "tgt" | "tgt_type" | "fun" => {
                let ours = match name {
                    "tgt" => "target",
                    "tgt_type" => "target_type",
                    _ => "function",
                };
                return Err(ApiError::BadRequest(format!(
                    "unknown field {name:?}: here it is {ours:?} (the fields are {FIELDS})"
                )));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let target = target.ok_or_else(|| missing("target"))?;
    call.function = function.ok_or_else(|| missing("function"))?;
    let target_type = target_type.unwrap_or_else(|| match target {
        TargetExpr::List(_) => "list".into(),
        TargetExpr::One(_) => "glob".into(),
    });
    let job = state
        .service
        .run_on_target(caller.user_id, &target_type, target, call)
        .await?;
    match mode {
        Mode::Sync => Ok(outcome::render(&job.kind, state.service.run(&job).await?)),
        Mode::Async => {
            let id = state.service.submit(job).await?;
            Ok(deferred::accepted(state, req, id))
        }
    }
}

fn parse_target(value: Value) -> Result<TargetExpr, ApiError> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Ok(TargetExpr::One(text)),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::String(id) if !id.is_empty() => Ok(id),
                other => Err(wrong_type("each target", "a non-empty string", &other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TargetExpr::List),
        other => Err(wrong_type("target", "a non-empty string or list", &other)),
    }
}

fn missing(field: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "the field {field:?} is required (the fields are {FIELDS})"
    ))
}
