//! AWS-shaped errors: `{"__type": "...#Code", "message": "..."}` with the status AWS uses.

use axum::http::StatusCode;

/// An error answered to a client the way the real service answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    /// HTTP status code.
    pub status: StatusCode,
    /// The error code, without namespace (e.g. `ValidationException`).
    pub code: String,
    /// A human-readable message. Never contains secret material.
    pub message: String,
}

impl AwsError {
    /// A new error with the given status, code and message.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `400 ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// `500 InternalFailure`, for the emulator's own faults (I/O on the data dir).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", message)
    }
}
