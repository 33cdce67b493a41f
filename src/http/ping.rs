//! `/api/v1.0/ping`: synchronous `test.ping` to exact minion ids.
//!
//! Ids are checked against the accepted keys before anything is published,
//! and always published as a `list` target, so a glob or expression
//! character in an id can never widen the target.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use rmpv::Value;
use serde::Deserialize;

use super::{query_param, ApiError, AppState, Req};
use crate::salt::{JobSpec, Salt};

/// A validated ping: accepted minion ids and how long to wait. The sync
/// and async endpoints share it, so both refuse the same requests.
pub struct PingRequest {
    pub targets: Vec<String>,
    pub timeout: Duration,
}

/// Validates `POST .../ping/<minion>`: `<minion>` must be an accepted key.
pub async fn validate_one(state: &AppState, req: &Req, minion: &str) -> Result<PingRequest, ApiError> {
    let salt = state.salt()?;
    let timeout = timeout(state, req, salt)?;
    let keys = salt.keys().await?;
    if !keys.is_accepted(minion) {
        return Err(ApiError::NotFound(format!(
            "minion {minion:?} is not an accepted key"
        )));
    }
    Ok(PingRequest {
        targets: vec![minion.to_owned()],
        timeout,
    })
}

/// Validates `POST .../ping` with a target body; unknown ids are dropped.
pub async fn validate_many(state: &AppState, req: &Req) -> Result<PingRequest, ApiError> {
    let targets = parse_targets(&req.body)?;
    let salt = state.salt()?;
    let timeout = timeout(state, req, salt)?;
    let keys = salt.keys().await?;
    let (known, unknown): (Vec<String>, Vec<String>) =
        targets.into_iter().partition(|id| keys.is_accepted(id));
    if known.is_empty() {
        return Err(ApiError::NotFound(format!(
            "none of the targets is an accepted minion key: {unknown:?}"
        )));
    }
    Ok(PingRequest {
        targets: known,
        timeout,
    })
}

/// The same ping, keeping only the targets that are accepted keys now: a
/// task runs as the synchronous call would at the time it runs, so a key
/// removed after the task was accepted is a 404, not a `false`.
pub async fn still_accepted(salt: &Salt, ping: PingRequest) -> Result<PingRequest, ApiError> {
    let keys = salt.keys().await?;
    let (known, unknown): (Vec<String>, Vec<String>) =
        ping.targets.into_iter().partition(|id| keys.is_accepted(id));
    match (known.is_empty(), unknown.as_slice()) {
        (true, [one]) => Err(ApiError::NotFound(format!(
            "minion {one:?} is not an accepted key"
        ))),
        (true, _) => Err(ApiError::NotFound(format!(
            "none of the targets is an accepted minion key: {unknown:?}"
        ))),
        (false, _) => Ok(PingRequest {
            targets: known,
            timeout: ping.timeout,
        }),
    }
}

/// # `POST /api/v1.0/ping/<minion>` and `POST /api/v1.0/minions/<minion>/ping` (Bearer)
///
/// - `200 {"<minion>": true}` answered; `false` did not answer in time
/// - `400` bad `?timeout=`
/// - `401` no valid token
/// - `404` `<minion>` is not an accepted key
/// - `503` the Salt master is unreachable
pub async fn one(state: &AppState, req: &Req, minion: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    super::caller(state, req)?;
    let ping = validate_one(state, req, minion).await?;
    answer(state.salt()?, &ping, None, false).await
}

/// # `POST /api/v1.0/ping` with `{"target": ["m1", "m2"]}` or `{"target": "m1"}` (Bearer)
///
/// - `200 {"m1": true, "m2": false}`; ids that are not accepted keys are
///   left out of the run and of the answer
/// - `400` missing or malformed body, missing `target`, wrong type
/// - `401` no valid token
/// - `404` none of the ids is an accepted key
/// - `503` the Salt master is unreachable
pub async fn many(state: &AppState, req: &Req) -> Result<Response<Full<Bytes>>, ApiError> {
    super::caller(state, req)?;
    let ping = validate_many(state, req).await?;
    answer(state.salt()?, &ping, None, false).await
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
/// the master's `timeout` when absent.
fn timeout(state: &AppState, req: &Req, salt: &Salt) -> Result<Duration, ApiError> {
    let Some(text) = query_param(req, "timeout") else {
        return Ok(salt.master().timeout);
    };
    let max = state
        .config
        .salt
        .as_ref()
        .map_or(Duration::from_secs(300), |s| s.max_timeout);
    let max = max.as_secs();
    Ok(Duration::from_secs(super::query::seconds(
        "timeout", text, 1, max,
    )?))
}

/// Runs a validated ping and renders the answer (or the error) exactly as
/// the synchronous endpoint does; the task pool stores what this returns.
pub async fn answer(
    salt: &Salt,
    ping: &PingRequest,
    jid: Option<String>,
    attach: bool,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let spec = JobSpec {
        jid,
        attach,
        ..JobSpec::new(
            "test.ping",
            ping.targets.clone(),
            ping.timeout,
            salt.master().gather_job_timeout,
        )
    };
    let outcome = salt.run(&spec).await?;
    let answers: BTreeMap<&String, bool> = ping
        .targets
        .iter()
        .filter(|id| !outcome.missing.contains(id))
        .map(|id| {
            let up = outcome
                .returns
                .get(id)
                .is_some_and(|r| r.value == Value::Boolean(true));
            (id, up)
        })
        .collect();
    Ok(super::json(StatusCode::OK, &answers))
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
