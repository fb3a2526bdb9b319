//! AWS-shaped errors: `{"__type": "...#Code", "message": "..."}` with the status AWS uses.
//!
//! How an error is framed on the wire (namespace, content type) depends on the service
//! and lives in `protocol.rs`; this file only says *what* went wrong.

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
    /// DynamoDB's `ThrottlingReasons` entry of a throttling error: the reason type
    /// and the ARN of the resource that ran out.
    pub(crate) throttling_reason: Option<(String, String)>,
}

impl AwsError {
    /// A new error with the given status, code and message.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            throttling_reason: None,
        }
    }

    /// The same error naming why DynamoDB throttled and which resource
    /// (`ThrottlingReasons` in the answer).
    pub(crate) fn with_throttling_reason(mut self, reason: &str, resource: &str) -> Self {
        self.throttling_reason = Some((reason.to_owned(), resource.to_owned()));
        self
    }

    /// An error with the status AWS usually sends for `code`: 500 for internal
    /// failures, 503 for unavailable services, 408 for timeouts, else 400.
    pub fn with_code(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        Self::new(default_status(&code), code, message)
    }

    /// `400 ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// `400 ValidationException` for a required member the request left out, worded
    /// as AWS's front end words it (`name` as in the request, `KeyId`, quoted as
    /// the member `keyId`; a path such as `transactItems.1.member.put` as it is).
    pub(crate) fn missing_member(name: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            member_name(name)
        ))
    }

    /// `400 ValidationException` for a member that breaks `rule` (`Member must have
    /// length ...`), worded as AWS's front end words it.
    pub(crate) fn constraint(name: &str, rule: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: {rule}",
            member_name(name)
        ))
    }

    /// `400 SerializationException`: the body is not the JSON shape the operation takes.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    /// `500 InternalFailure`, for the emulator's own faults (I/O on the data dir).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            message,
        )
    }
}

/// A member's name as AWS quotes it in validation messages: lower camel case
/// (`KeyId` is `keyId`).
fn member_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The HTTP status AWS sends with an error code, for codes given without one
/// (fault rules name a code and may leave the status out).
///
/// AWS JSON services answer client errors, throttling included, with 400; only
/// server-side failures use 5xx. Unknown codes are treated as client errors.
pub fn default_status(code: &str) -> StatusCode {
    match code {
        "InternalFailure"
        | "InternalServerError"
        | "InternalError"
        | "KMSInternalException"
        | "KeyUnavailableException" => StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceUnavailable" | "ServiceUnavailableException" | "DependencyTimeoutException" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "RequestTimeout" | "RequestTimeoutException" => StatusCode::REQUEST_TIMEOUT,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_name_the_member_as_aws_quotes_it() {
        assert_eq!(
            AwsError::missing_member("KeyId").message,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            AwsError::missing_member("transactItems.1.member.update.updateExpression").message,
            "1 validation error detected: Value null at 'transactItems.1.member.update.updateExpression' failed to satisfy constraint: Member must not be null"
        );
        let err = AwsError::constraint("Limit", "Member must have value between 1 and 1000");
        assert_eq!(
            (err.status, err.code.as_str(), err.message.as_str()),
            (
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
            )
        );
    }

    #[test]
    fn throttling_is_a_client_error_and_internal_is_a_server_error() {
        assert_eq!(
            default_status("ThrottlingException"),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            default_status("ProvisionedThroughputExceededException"),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            default_status("InternalServerError"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            default_status("ServiceUnavailable"),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
