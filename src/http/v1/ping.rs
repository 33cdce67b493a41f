//! `/api/v1.0/ping`: synchronous `test.ping` to exact minion ids.
//!
//! Ids are checked against the accepted keys before anything is published
//! (by the service layer), and always published as a `list` target, so a
//! glob or expression character in an id can never widen the target. This
//! file parses the request and renders the outcome; the async variants in
//! `tasks.rs` share both.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use super::outcome::render;
use crate::http::body::Reply;
use crate::http::{query_param, ApiError, AppState, Req};
use crate::service::JobRequest;

/// Validates `POST .../ping/<minion>`: `<minion>` must be an accepted key.
pub async fn validate_one(state: &AppState, req: &Req, minion: &str) -> Result<JobRequest, ApiError> {
    let caller = req.caller()?;
    state.service.salt()?;
    let timeout = timeout(state, req)?;
    Ok(state.service.ping_one(caller.user_id, minion, timeout).await?)
}

/// Validates `POST .../ping` with a target body; unknown ids are dropped.
pub async fn validate_many(state: &AppState, req: &Req) -> Result<JobRequest, ApiError> {
    let caller = req.caller()?;
    let targets = parse_targets(&req.body)?;
    state.service.salt()?;
    let timeout = timeout(state, req)?;
    Ok(state.service.ping_many(caller.user_id, targets, timeout).await?)
}

/// # `POST /api/v1.0/ping/<minion>` and `POST /api/v1.0/minions/<minion>/ping` (Bearer)
///
/// - `200 {"<minion>": true}` answered; `false` did not answer in time
/// - `400` bad `?timeout=`
/// - `401` no valid token
/// - `404` `<minion>` is not an accepted key
/// - `503` the Salt master is unreachable
pub async fn one(state: &AppState, req: &Req, minion: &str) -> Result<Reply, ApiError> {
    let job = validate_one(state, req, minion).await?;
    Ok(render(&job.kind, state.service.run(&job).await?))
}

/// # `POST /api/v1.0/ping` with `{"target": ["m1", "m2"]}` or `{"target": "m1"}` (Bearer)
///
/// - `200 {"m1": true, "m2": false}`; ids that are not accepted keys are
///   left out of the run and of the answer
/// - `400` missing or malformed body, missing `target`, wrong type
/// - `401` no valid token
/// - `404` none of the ids is an accepted key
/// - `503` the Salt master is unreachable
pub async fn many(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let job = validate_many(state, req).await?;
    Ok(render(&job.kind, state.service.run(&job).await?))
}

/// The body of `POST /api/v1.0/ping`: one id or a list of ids.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Targets {
    target: Target,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Target {
    One(String),
    Many(Vec<String>),
}

pub(crate) fn parse_targets(body: &[u8]) -> Result<BTreeSet<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "missing body: send {\"target\": [\"minion\", ...]}".into(),
        ));
    }
    // serde would take a JSON array as the struct's fields in order.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object: send {\"target\": [\"minion\", ...]}".into(),
        ));
    }
    let parsed: Targets = serde_json::from_slice(body).map_err(|err| {
        ApiError::BadRequest(format!(
            "invalid body ({err}): send {{\"target\": [\"minion\", ...]}} or {{\"target\": \"minion\"}}"
        ))
    })?;
    let ids: BTreeSet<String> = match parsed.target {
        Target::One(id) => BTreeSet::from([id]),
        Target::Many(ids) => ids.into_iter().collect(),
    };
    if ids.is_empty() || ids.iter().any(String::is_empty) {
        return Err(ApiError::BadRequest(
            "target must name at least one minion id, none empty".into(),
        ));
    }
    Ok(ids)
}

/// `?timeout=<seconds>`: a positive integer, capped at the server maximum;
/// `None` (the service's default) when absent.
pub(super) fn timeout(state: &AppState, req: &Req) -> Result<Option<Duration>, ApiError> {
    let Some(text) = query_param(req, "timeout") else {
        return Ok(None);
    };
    let max = state.service.max_timeout().as_secs();
    Ok(Some(Duration::from_secs(crate::http::query::seconds(
        "timeout", text, 1, max,
    )?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            parse_targets(br#"{"target": "m1"}"#).unwrap(),
            BTreeSet::from(["m1".into()])
        );
        assert_eq!(parse_targets(br#"{"target": ["b", "a", "b"]}"#).unwrap().len(), 2);
        for bad in [
            &b""[..],
            b"  ",
            b"{",
            b"[]",
            b"{}",
            br#"{"target": 5}"#,
            br#"{"target": []}"#,
            br#"{"target": [""]}"#,
            br#"{"target": [1]}"#,
            br#"{"target": "m", "extra": 1}"#,
            br#"[["m1"]]"#,
            br#" ["m1"]"#,
        ] {
            assert!(parse_targets(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
