//! Mapping AWS SDK errors to [`Error`], once, at the boundary.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::{Error, Service};

/// Error codes that mean "slow down": retried by the SDK, then reported as throttling.
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "LimitExceededException",
];

/// Error codes that mean the caller's identity was refused.
const DENIED: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "RequestTimeTooSkewed",
];

/// Whether a refusal is about the signing time rather than the key or the policy.
/// AWS words it `Signature expired: ...` / `Signature not yet current: ...`
/// (KMS, DynamoDB, STS) or answers `RequestTimeTooSkewed`.
fn is_clock_skew(code: &str, message: &str) -> bool {
    code == "RequestTimeTooSkewed"
        || (matches!(code, "InvalidSignatureException" | "SignatureDoesNotMatch")
            && (message.starts_with("Signature expired")
                || message.starts_with("Signature not yet current")))
}

/// Map any AWS SDK error to ours, deciding its class once: a timeout, throttling,
/// a refusal of the identity, an unavailable service (a 5xx answer, a connection
/// that failed or dropped its answer), or any other service error.
/// `endpoint` is named in timeouts and connection failures.
pub(crate) fn map_sdk_error<E>(
    service: Service,
    endpoint: Option<&str>,
    err: SdkError<E, Response>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let endpoint = endpoint.map(str::to_owned);
    match &err {
        SdkError::TimeoutError(_) => return Error::Timeout { service, endpoint },
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            return Error::Timeout { service, endpoint }
        }
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = e.message().unwrap_or("").to_owned();
            if THROTTLING.contains(&code) {
                return Error::Throttled {
                    service,
                    message: format!("{code}: {message}"),
                };
            }
            if DENIED.contains(&code) {
                let message = format!("{code}: {message}");
                if is_clock_skew(code, e.message().unwrap_or("")) {
                    return Error::ClockSkew { service, message };
                }
                return Error::AccessDenied { service, message };
            }
            let message = format!("{code}: {message}");
            if se.raw().status().is_server_error() {
                return Error::Unavailable {
                    service,
                    message,
                    source: Some(Box::new(err)),
                };
            }
            return Error::Backend {
                service,
                message,
                source: Some(Box::new(err)),
            };
        }
        _ => {}
    }
    let text = error_chain(&err);
    // Identity resolution fails before any request is sent.
    if matches!(
        err,
        SdkError::ConstructionFailure(_) | SdkError::DispatchFailure(_)
    ) && text.to_lowercase().contains("credentials")
    {
        return Error::NoCredentials { message: text };
    }
    match (&err, &endpoint) {
        (SdkError::DispatchFailure(_), Some(e)) => Error::Unavailable {
            service,
            message: format!("could not reach {e}: {text}"),
            source: Some(Box::new(err)),
        },
        (SdkError::DispatchFailure(_) | SdkError::ResponseError(_), _) => Error::Unavailable {
            service,
            message: text,
            source: Some(Box::new(err)),
        },
        _ => Error::Backend {
            service,
            message: text,
            source: Some(Box::new(err)),
        },
    }
}

/// The service error code, if the error is one the service answered.
pub(crate) fn service_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// The error and its sources, each once, joined by `: ` (without the Debug dump
/// that `DisplayErrorContext` appends).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_time_refusals_are_told_apart_from_bad_signatures() {
        assert!(is_clock_skew(
            "InvalidSignatureException",
            "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"
        ));
        assert!(is_clock_skew(
            "SignatureDoesNotMatch",
            "Signature not yet current: 20240101T003000Z is still later than 20240101T001500Z (20240101T000000Z + 15 min.)"
        ));
        assert!(is_clock_skew("RequestTimeTooSkewed", "anything"));
        assert!(!is_clock_skew(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided."
        ));
        assert!(!is_clock_skew("AccessDeniedException", "Signature expired"));
    }
}
