//! The AWS JSON wire protocols (awsJson1.0 for DynamoDB, awsJson1.1 for KMS):
//! which service an `X-Amz-Target` names, and how answers and errors are framed.
//! `input.rs` reads the members of a request body, for every service.

mod input;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::AwsError;
use crate::services::Reply;

pub(crate) use input::Input;

/// An AWS service the emulator speaks over a JSON protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// AWS KMS, `TrentService.*`, awsJson1.1.
    Kms,
    /// Amazon DynamoDB, `DynamoDB_20120810.*`, awsJson1.0.
    DynamoDb,
}

impl Service {
    /// Every JSON service, in the order state is replayed and reset.
    pub const ALL: [Service; 2] = [Service::Kms, Service::DynamoDb];

    /// The short name used in fault targets (`kms:Decrypt`) and in the journal.
    pub fn name(self) -> &'static str {
        match self {
            Service::Kms => "kms",
            Service::DynamoDb => "dynamodb",
        }
    }

    /// The service for a short name, the inverse of [`Service::name`].
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    fn target_prefix(self) -> &'static str {
        match self {
            Service::Kms => "TrentService",
            Service::DynamoDb => "DynamoDB_20120810",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Service::Kms => "application/x-amz-json-1.1",
            Service::DynamoDb => "application/x-amz-json-1.0",
        }
    }

    /// The `__type` of an error as the real service writes it: DynamoDB qualifies the
    /// code with its Smithy namespace, KMS sends the bare code. SDKs strip everything
    /// up to `#`, so both forms classify the same; we match AWS for clients that don't.
    fn error_type(self, code: &str) -> String {
        match self {
            Service::Kms => code.to_owned(),
            // Authentication and authorization errors come from AWS's common front
            // end, which names them in its own namespace.
            Service::DynamoDb if AUTH_ERRORS.contains(&code) => {
                format!("com.amazon.coral.service#{code}")
            }
            Service::DynamoDb => format!("com.amazonaws.dynamodb.v20120810#{code}"),
        }
    }

    /// Splits an `X-Amz-Target` value into its service and operation name.
    pub fn parse_target(target: &str) -> Option<(Service, &str)> {
        let (prefix, operation) = target.split_once('.')?;
        let service = Service::ALL
            .into_iter()
            .find(|s| s.target_prefix() == prefix)?;
        (!operation.is_empty()).then_some((service, operation))
    }
}

/// Errors of authentication and authorization, shared by every JSON service.
const AUTH_ERRORS: [&str; 6] = [
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "ExpiredTokenException",
    "AccessDeniedException",
];

/// The region of unsigned requests, as the AWS SDKs default to, and of the
/// in-process hooks that name none.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// Per-request facts an operation may depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The region the request was signed for (`us-east-1` when unsigned).
    pub region: String,
}

/// A fresh request id, sent back as `x-amzn-RequestId` like AWS does.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A successful answer: `200` with the JSON body.
pub(crate) fn success(service: Service, request_id: &str, reply: &Reply) -> Response {
    framed(service, request_id, StatusCode::OK, reply.to_json())
}

/// An error answer: the status of `err` and `{"__type": ..., "message": ...}`.
pub fn failure(service: Service, request_id: &str, err: &AwsError) -> Response {
    let mut body = serde_json::json!({
        "__type": service.error_type(&err.code),
        "message": err.message,
    });
    if let Some((reason, resource)) = &err.throttling_reason {
        body["ThrottlingReasons"] = serde_json::json!([{"reason": reason, "resource": resource}]);
    }
    framed(
        service,
        request_id,
        err.status,
        body.to_string().into_bytes(),
    )
}

/// An error for a request that names no service we know: awsJson1.0 framing, since
/// the client's protocol cannot be known.
pub fn unknown_target(request_id: &str, target: Option<&str>) -> Response {
    let err = AwsError::with_code(
        "UnknownOperationException",
        match target {
            Some(t) => format!("unknown operation {t:?}"),
            None => "missing X-Amz-Target header".to_owned(),
        },
    );
    failure(Service::DynamoDb, request_id, &err)
}

fn framed(service: Service, request_id: &str, status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(service.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// A DynamoDB `TableName` member as the table's name: DynamoDB also accepts the
/// table's ARN there. Every reader of the member (the operation, authorization,
/// global tables, quotas) goes through this, so an ARN names the same table to all
/// of them: the one in the region and account the request is signed for.
pub(crate) fn bare_table_name(member: &str) -> &str {
    if member.starts_with("arn:aws:dynamodb:") {
        member.split_once(":table/").map_or(member, |(_, n)| n)
    } else {
        member
    }
}

/// Whether `name` has the shape of an AWS region name (`us-east-1`,
/// `us-gov-west-1`): lowercase letters, digits and hyphens, at most 32.
pub(crate) fn valid_region(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_digit())
        && name.contains('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The region of a SigV4-signed request, read from the credential scope of its
/// `Authorization` header (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`).
pub fn signed_region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = auth
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    let mut scope = credential.split('/');
    let region = scope.nth(2)?;
    (!region.is_empty()).then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_into_service_and_operation() {
        assert_eq!(
            Service::parse_target("TrentService.Decrypt"),
            Some((Service::Kms, "Decrypt"))
        );
        assert_eq!(
            Service::parse_target("DynamoDB_20120810.Query"),
            Some((Service::DynamoDb, "Query"))
        );
        assert_eq!(Service::parse_target("TrentService."), None);
        assert_eq!(Service::parse_target("Nope.Decrypt"), None);
    }

    #[test]
    fn region_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-3/kms/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        assert_eq!(signed_region(&headers).as_deref(), Some("eu-west-3"));
        assert_eq!(signed_region(&HeaderMap::new()), None);
    }
}
