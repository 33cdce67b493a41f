//! Outcomes in the v1.0 shape: what a synchronous call answers, and what
//! a finished task replays, byte for byte (`/tasks/status/<id>`), and what
//! `/jobs/<id>` shows as its result.
//!
//! - A ping: `200 {"m1": true, "m2": false}` (`false`: no answer in time).
//! - Any other function: `200 {"m1": <return>, ...}` when every target
//!   returned. With `?full_return=true`, `200` and per minion
//!   `{"return", "retcode", "success"}`, plus `"exception": true` when the
//!   return is the text of an exception the function raised, and for a
//!   minion that never returned `{"return": null, "retcode": null,
//!   "success": false, "error": "no return ..."}`. Without it, a target
//!   that never returned makes the answer `504` (the seed's shape has no
//!   place for silence): the contract's error body naming the silent
//!   minions, with `returns` holding what the others returned.
//! - A failure: the contract's error shape and status.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{json, Map, Value};

use crate::http::body::{self, Reply};
use crate::http::ApiError;
use crate::service::{Failure, FailureKind, Outcome, TaskKind};
use crate::store::MinionResult;

/// The reply for `outcome` of a job of `kind`.
pub fn render(kind: &TaskKind, outcome: Outcome) -> Reply {
    let (status, body) = render_json(kind, outcome);
    body::json(status, &body)
}

/// The status and JSON body of [`render`].
pub fn render_json(kind: &TaskKind, outcome: Outcome) -> (StatusCode, Value) {
    match outcome {
        Outcome::Returned(returns) => {
            let map: Map<String, Value> = returns
                .into_iter()
                .map(|(id, text)| (id, json_of(text)))
                .collect();
            (StatusCode::OK, Value::Object(map))
        }
        Outcome::Ran(results) => ran(matches!(kind, TaskKind::Run { full_return: true }), results),
        Outcome::Failed(failure) => {
            let err = failed(failure);
            (err.status(), err.body())
        }
    }
}

fn ran(full_return: bool, results: BTreeMap<String, MinionResult>) -> (StatusCode, Value) {
    let mut returns = Map::new();
    let mut silent = Vec::new();
    for (id, result) in results {
        match (result, full_return) {
            (
                MinionResult::Returned {
                    value,
                    retcode,
                    success,
                    exception,
                },
                true,
            ) => {
                let mut entry = json!({"return": json_of(value), "retcode": retcode, "success": success});
                if exception {
                    entry["exception"] = Value::Bool(true);
                }
                returns.insert(id, entry);
            }
            (MinionResult::Returned { value, .. }, false) => {
                returns.insert(id, json_of(value));
            }
            (MinionResult::Silent, true) => {
                let entry = json!({
                    "return": null,
                    "retcode": null,
                    "success": false,
                    "error": "no return: the minion is down, or was still running the job when it ended",
                });
                returns.insert(id, entry);
            }
            (MinionResult::Silent, false) => silent.push(id),
        }
    }
    if silent.is_empty() {
        return (StatusCode::OK, Value::Object(returns));
    }
    let status = StatusCode::GATEWAY_TIMEOUT;
    let body = json!({
        "status": status.as_u16(),
        "error": "gateway timeout",
        "message": format!(
            "no return from {} (down, or still running the job when it ended); ?full_return=true shows every minion",
            silent.join(", ")
        ),
        "silent": silent,
        "returns": returns,
    });
    (status, body)
}

/// A stored return: JSON text (a string if it somehow is not JSON).
fn json_of(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The error a recorded failure stands for.
pub fn failed(failure: Failure) -> ApiError {
    let Failure { kind, message } = failure;
    match kind {
        FailureKind::Invalid => ApiError::BadRequest(message),
        FailureKind::NotFound => ApiError::NotFound(message),
        FailureKind::Forbidden => ApiError::Forbidden(message),
        FailureKind::Cancelled => ApiError::Conflict(message),
        FailureKind::Unavailable => ApiError::Unavailable {
            message,
            retry_after: Duration::from_secs(5),
        },
        FailureKind::Interrupted | FailureKind::Internal => ApiError::ServerError(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn returned(value: &str, retcode: i64, exception: bool) -> MinionResult {
        MinionResult::Returned {
            value: value.into(),
            retcode,
            success: retcode == 0,
            exception,
        }
    }

    fn results() -> BTreeMap<String, MinionResult> {
        BTreeMap::from([
            ("ok".to_owned(), returned(r#"{"a":1}"#, 0, false)),
            ("failed".to_owned(), returned("2", 2, false)),
            ("raised".to_owned(), returned(r#""ERROR: no""#, 1, true)),
            ("down".to_owned(), MinionResult::Silent),
        ])
    }

    #[test]
    fn full_returns_tell_a_return_a_failure_an_exception_and_silence_apart() {
        let (status, body) = ran(true, results());
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["ok"],
            json!({"return": {"a": 1}, "retcode": 0, "success": true})
        );
        assert_eq!(
            body["failed"],
            json!({"return": 2, "retcode": 2, "success": false})
        );
        assert_eq!(
            body["raised"],
            json!({"return": "ERROR: no", "retcode": 1, "success": false, "exception": true})
        );
        assert_eq!(body["down"]["return"], Value::Null);
        assert_eq!(body["down"]["success"], Value::Bool(false));
        assert!(body["down"]["error"].as_str().unwrap().starts_with("no return"));
    }

    #[test]
    fn the_seed_shape_answers_504_naming_the_silent_minions() {
        let (status, body) = ran(false, results());
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body["silent"], json!(["down"]));
        assert_eq!(
            body["returns"],
            json!({"ok": {"a": 1}, "failed": 2, "raised": "ERROR: no"})
        );
        let mut all_back = results();
        all_back.remove("down");
        let (status, body) = ran(false, all_back);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"ok": {"a": 1}, "failed": 2, "raised": "ERROR: no"}));
    }
}
