//! What can go wrong in the service layer, in terms any API surface can
//! render: each surface maps these to its own status codes and shapes.
//! Internal detail (paths, OS errors, the master's replies) goes to the
//! log here and is never part of a message.

use std::time::Duration;

use crate::store::{Failure, FailureKind};
use crate::{salt, store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A target, task or record that is not there (or not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (its ACLs or roles say no).
    #[error("{0}")]
    Forbidden(String),
    /// The record is not in a state that allows it (a finished task cannot
    /// be cancelled).
    #[error("{0}")]
    Conflict(String),
    /// A page cursor that is not one of the caller's records.
    #[error("the cursor is not one of your records")]
    InvalidCursor,
    /// Salt or the database cannot serve now; retry after a while.
    #[error("{message}")]
    Unavailable { message: String, retry_after: Duration },
    /// Anything else: logged when it is rendered, never shown.
    #[error("the server could not complete the request")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub(super) fn no_salt() -> Error {
        Error::Unavailable {
            message: "this projetyd runs without a Salt master (--no-salt)".into(),
            retry_after: Duration::from_secs(3600),
        }
    }

    /// The failure a task records for this error: what a client is shown.
    pub fn failure(&self) -> Failure {
        let kind = match self {
            Error::Invalid(_) | Error::InvalidCursor => FailureKind::Invalid,
            Error::NotFound(_) => FailureKind::NotFound,
            Error::Forbidden(_) => FailureKind::Forbidden,
            Error::Conflict(_) => FailureKind::Invalid,
            Error::Unavailable { .. } => FailureKind::Unavailable,
            Error::Internal(cause) => {
                log::error!("internal error: {cause}");
                FailureKind::Internal
            }
        };
        Failure {
            kind,
            message: self.to_string(),
        }
    }
}

impl From<store::Error> for Error {
    fn from(err: store::Error) -> Error {
        if err.is_write_failure() {
            // The detail (paths, OS errors) is for the log, not the client.
            log::warn!("database write refused: {err}");
            return Error::Unavailable {
                message: "the database cannot be written right now; retry later".into(),
                retry_after: Duration::from_secs(5),
            };
        }
        Error::Internal(Box::new(err))
    }
}

impl From<salt::Error> for Error {
    fn from(err: salt::Error) -> Error {
        let unavailable = |message: &str| Error::Unavailable {
            message: message.into(),
            retry_after: Duration::from_secs(5),
        };
        match err {
            // The detail (socket paths, OS errors) is for the log only.
            salt::Error::Down(_) | salt::Error::Timeout | salt::Error::Busy | salt::Error::KeyFile { .. } => {
                log::warn!("Salt: {err}");
                unavailable("Salt master unreachable")
            }
            salt::Error::Auth => {
                log::warn!("Salt: {err}");
                unavailable("Salt master unreachable: it refused projetyd's key")
            }
            salt::Error::Unanswered(_) | salt::Error::RunnerTimeout { .. } => unavailable(&err.to_string()),
            salt::Error::Config(_)
            | salt::Error::Master(_)
            | salt::Error::Refused { .. }
            | salt::Error::Protocol(_)
            | salt::Error::Io(_) => Error::Internal(Box::new(err)),
        }
    }
}
