//! Mapping AWS SDK errors to [`Error`], once, at the boundary.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId as _;

use crate::{Error, Service};

/// An AWS SDK error with the request id of its answer: the source of every
/// [`Error`] mapped from an AWS call, so that [`Error::request_id`] finds the id
/// and the SDK's own error stays one `source()` further down the chain.
#[derive(Debug)]
pub(crate) struct AwsFailure {
    request_id: Option<String>,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl AwsFailure {
    /// Wrap `err`, keeping its request id.
    pub(crate) fn wrap<E>(err: SdkError<E, Response>) -> Box<dyn std::error::Error + Send + Sync>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Box::new(Self {
            request_id: err.request_id().map(str::to_owned),
            source: Box::new(err),
        })
    }

    /// The answer's request id, if AWS sent one.
    pub(crate) fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.request_id {
            Some(id) => write!(f, "AWS request {id}"),
            None => f.write_str("AWS SDK error"),
        }
    }
}

impl std::error::Error for AwsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Error codes that mean "slow down": retried by the SDK, then reported as throttling.
pub(crate) const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "LimitExceededException",
    "SlowDown",
];

/// Error codes that refuse the credentials themselves (an unknown access key, a
/// wrong secret key, an expired session), not the identity's permissions.
pub(crate) const BAD_CREDENTIALS: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
];

/// Error codes that mean the caller's identity was refused: the
/// [`BAD_CREDENTIALS`] ones and these.
const DENIED: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
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
        SdkError::TimeoutError(_) => {
            return Error::Timeout {
                service,
                endpoint,
                source: Some(AwsFailure::wrap(err)),
            }
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            return Error::Timeout {
                service,
                endpoint,
                source: Some(AwsFailure::wrap(err)),
            }
        }
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = format!("{code}: {}", e.message().unwrap_or(""));
            let skew = is_clock_skew(code, e.message().unwrap_or(""));
            let throttled = THROTTLING.contains(&code);
            let denied = DENIED.contains(&code) || BAD_CREDENTIALS.contains(&code);
            let server_error = se.raw().status().is_server_error();
            let source = Some(AwsFailure::wrap(err));
            return if throttled {
                Error::Throttled {
                    service,
                    message,
                    source,
                }
            } else if denied && skew {
                Error::ClockSkew {
                    service,
                    message,
                    source,
                }
            } else if denied {
                Error::AccessDenied {
                    service,
                    message,
                    source,
                }
            } else if server_error {
                Error::Unavailable {
                    service,
                    message,
                    source,
                }
            } else {
                Error::Backend {
                    service,
                    message,
                    source,
                }
            };
        }
        _ => {}
    }
    if let Some(reason) = crate::transport::refused_certificate(&err) {
        return Error::UntrustedCertificate {
            service,
            endpoint,
            reason,
            source: Some(AwsFailure::wrap(err)),
        };
    }
    let text = error_chain(&err);
    // Identity resolution fails before any request is sent.
    if matches!(
        err,
        SdkError::ConstructionFailure(_) | SdkError::DispatchFailure(_)
    ) && text.to_lowercase().contains("credentials")
    {
        return Error::NoCredentials {
            message: no_credentials_message(text),
        };
    }
    match (&err, &endpoint) {
        (SdkError::DispatchFailure(_), Some(e)) => Error::Unavailable {
            service,
            message: format!("could not reach {e}: {text}"),
            source: Some(AwsFailure::wrap(err)),
        },
        (SdkError::DispatchFailure(_) | SdkError::ResponseError(_), _) => Error::Unavailable {
            service,
            message: text,
            source: Some(AwsFailure::wrap(err)),
        },
        _ => Error::Backend {
            service,
            message: text,
            source: Some(AwsFailure::wrap(err)),
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

/// The default credential chain reports only its last provider (instance
/// metadata), which misleads on a laptop: say that none was found, and where
/// the chain looked, first.
fn no_credentials_message(text: String) -> String {
    let lower = text.to_lowercase();
    if lower.contains("imds") || lower.contains("instance metadata") {
        format!(
            "none found (tried: the environment, the shared config and credentials files, \
             web identity, the container, instance metadata; the last said: {text})"
        )
    } else {
        text
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
    fn a_missing_credential_chain_says_where_it_looked() {
        let imds = "failed to load IMDS session token: request forbidden".to_owned();
        let message = no_credentials_message(imds);
        assert!(
            message.starts_with("none found (tried: the environment"),
            "{message}"
        );
        assert!(message
            .ends_with("the last said: failed to load IMDS session token: request forbidden)"));
        let other = "the profile prod has no credentials".to_owned();
        assert_eq!(no_credentials_message(other.clone()), other);
    }

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
