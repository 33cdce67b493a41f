//! The response body every surface answers with, and the helpers that
//! build the common answers.
//!
//! [`Body`] is boxed so that an endpoint can answer with a whole buffer
//! (every endpoint today) or with a stream (Server-Sent Events, later)
//! through the same server code. A streaming body that fails ends the
//! connection instead of looking complete.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt as _, Empty, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// Why a streaming body stopped early.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: whole or streamed.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;

/// A response as every handler returns it.
pub type Reply = Response<Body>;

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response with `status` and no body.
pub fn empty(status: StatusCode) -> Reply {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

/// A JSON response; a value that cannot be encoded is logged and answered
/// with a 500 of the v1.0 error shape.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    let (status, bytes) = match serde_json::to_vec(value) {
        Ok(bytes) => (status, Bytes::from(bytes)),
        Err(err) => {
            log::error!("cannot encode a response: {err}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(
                    br#"{"status":500,"error":"internal server error","message":"the server could not complete the request"}"#,
                ),
            )
        }
    };
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(reply: Reply) -> (StatusCode, Bytes) {
        let status = reply.status();
        let bytes = reply
            .into_body()
            .collect()
            .await
            .expect("a whole body")
            .to_bytes();
        (status, bytes)
    }

    #[tokio::test]
    async fn whole_bodies() {
        let (status, bytes) = collect(json(StatusCode::CREATED, &serde_json::json!({"a": 1}))).await;
        assert_eq!((status, &bytes[..]), (StatusCode::CREATED, &br#"{"a":1}"#[..]));
        let (status, bytes) = collect(empty(StatusCode::NO_CONTENT)).await;
        assert_eq!((status, bytes.len()), (StatusCode::NO_CONTENT, 0));
    }
}
