//! `ApiError`: the only error that becomes a response. Every one is JSON
//! in the contract's shape `{"status", "error", "message"}`.

use std::time::Duration;

use hyper::header::{HeaderValue, ALLOW, CONNECTION, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::StatusCode;

use super::body::{self, Reply};

use crate::{auth, salt, service, store};

/// Sent with every 401 so that browsers do not pop up a login dialog.
pub const BEARER_CHALLENGE: &str = "Bearer realm=\"Authentication Required\"";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{method} is not supported here; use {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// No answer format the client accepts (salt-api's 406).
    #[error("{0}")]
    NotAcceptable(String),
    #[error("the request did not arrive in time")]
    RequestTimeout,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: Duration },
    #[error("{message}")]
    Unavailable { message: String, retry_after: Duration },
    /// A known endpoint this build does not serve.
    #[error("{0}")]
    NotImplemented(String),
    #[error("the server could not complete the request")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A 500 whose message is safe to show (a recorded task failure).
    #[error("{0}")]
    ServerError(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The contract's fixed short phrase for each kind.
    fn phrase(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad request",
            ApiError::Unauthorized(_) => "authentication required",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not found",
            ApiError::Conflict(_) => "conflict",
            ApiError::MethodNotAllowed { .. } => "method not supported",
            ApiError::NotAcceptable(_) => "not acceptable",
            ApiError::NotImplemented(_) => "not implemented",
            ApiError::RequestTimeout => "request timeout",
            ApiError::PayloadTooLarge { .. } => "payload too large",
            ApiError::TooManyRequests { .. } => "too many requests",
            ApiError::Unavailable { .. } => "service unavailable",
            ApiError::Internal(_) | ApiError::ServerError(_) => "internal server error",
        }
    }

    /// The contract's error body: `{"status", "error", "message"}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status().as_u16(),
            "error": self.phrase(),
            "message": self.to_string(),
        })
    }

    /// The JSON response; an internal cause is logged here and never sent.
    pub fn into_response(self) -> Reply {
        if let ApiError::Internal(cause) = &self {
            log::error!("internal error: {cause}");
        }
        let mut response = body::json(self.status(), &self.body());
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(BEARER_CHALLENGE));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                // Method names from the route table: always a valid value.
                if let Ok(allow) = HeaderValue::from_str(allow) {
                    headers.insert(ALLOW, allow);
                }
            }
            ApiError::TooManyRequests { retry_after, .. } | ApiError::Unavailable { retry_after, .. } => {
                // Round up: retrying a little late is fine, early is not.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            ApiError::RequestTimeout | ApiError::PayloadTooLarge { .. } => {
                // The rest of the body was not read: the connection cannot
                // carry another request.
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::BadRequest(_)
            | ApiError::Forbidden(_)
            | ApiError::Conflict(_)
            | ApiError::NotFound(_)
            | ApiError::NotAcceptable(_)
            | ApiError::NotImplemented(_)
            | ApiError::Internal(_)
            | ApiError::ServerError(_) => {}
        }
        response
    }
}

impl From<store::Error> for ApiError {
    fn from(err: store::Error) -> ApiError {
        service::Error::from(err).into()
    }
}

impl From<service::Error> for ApiError {
    fn from(err: service::Error) -> ApiError {
        match err {
            service::Error::Invalid(message) => ApiError::BadRequest(message),
            service::Error::NotFound(message) => ApiError::NotFound(message),
            service::Error::Forbidden(message) => ApiError::Forbidden(message),
            service::Error::Conflict(message) => ApiError::Conflict(message),
            err @ service::Error::InvalidCursor => ApiError::BadRequest(err.to_string()),
            service::Error::Unavailable { message, retry_after } => {
                ApiError::Unavailable { message, retry_after }
            }
            service::Error::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<auth::Error> for ApiError {
    fn from(err: auth::Error) -> ApiError {
        match err {
            auth::Error::Unauthenticated(message) => ApiError::Unauthorized(message.into()),
            auth::Error::Throttled { retry_after } => ApiError::TooManyRequests {
                message: format!(
                    "too many failed logins for this user or address; retry in {} s",
                    retry_after.as_secs().max(1)
                ),
                retry_after,
            },
            auth::Error::Store(err) => err.into(),
            err @ (auth::Error::Random(_) | auth::Error::Join(_)) => ApiError::Internal(Box::new(err)),
        }
    }
}

impl From<salt::Error> for ApiError {
    fn from(err: salt::Error) -> ApiError {
        service::Error::from(err).into()
    }
}
