//! SigV4 (`AWS4-HMAC-SHA256`) as strict mode checks it, in three steps: the
//! `Authorization` header is parsed into its parts ([`Authorization`]); the
//! envelope is checked, date, credential scope and clock skew ([`Signed::check`]);
//! and once the caller has found the secret key of the claimed access key id, the
//! signature itself is verified ([`Signed::verify`]). This is s3s's split (its
//! `sig_v4/authorization_v4.rs` and `methods.rs`): `aws-sigv4` signs but does not
//! verify, so the canonical request is rebuilt here from what was received.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode, Uri};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::dates::{amz_date, parse_amz_date};
use crate::error::AwsError;

/// The largest clock skew a signature may have, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// An authentication error of the JSON services (STS renames them: `sts.rs`).
pub fn auth_error(code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, code, message)
}

fn incomplete(message: &str) -> AwsError {
    auth_error("IncompleteSignatureException", message)
}

fn invalid(message: impl Into<String>) -> AwsError {
    auth_error("InvalidSignatureException", message)
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
/// SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX` header, parsed but not
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key id the request claims.
    pub access_key_id: &'a str,
    /// The credential scope's day, `YYYYMMDD`.
    pub date: &'a str,
    /// The credential scope's region.
    pub region: &'a str,
    /// The credential scope's service.
    pub service: &'a str,
    /// The credential scope's last part (`aws4_request` when well-formed).
    pub terminator: &'a str,
    /// The signed header names as sent, `;`-separated.
    pub signed_headers: &'a str,
    /// The signature, lower-case hex.
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// The request's `Authorization` header, parsed.
    pub fn from_headers(headers: &'a HeaderMap) -> Result<Self, AwsError> {
        let Some(value) = headers.get("authorization") else {
            return Err(auth_error(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let value = value
            .to_str()
            .map_err(|_| incomplete("The Authorization header is not ASCII."))?;
        Self::parse(value)
    }

    /// Parses an `Authorization` header value.
    pub fn parse(value: &'a str) -> Result<Self, AwsError> {
        let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
            return Err(incomplete(
                "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
            ));
        };
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed_headers = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(incomplete(
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
            ));
        };
        let scope: Vec<&str> = credential.split('/').collect();
        let &[access_key_id, date, region, service, terminator] = scope.as_slice() else {
            return Err(incomplete("The Credential parameter is malformed."));
        };
        Ok(Self {
            access_key_id,
            date,
            region,
            service,
            terminator,
            signed_headers,
            signature,
        })
    }
}

/// A request whose SigV4 envelope checked out: what is left to verify is the
/// signature, which needs the secret key of [`Signed::access_key_id`].
#[derive(Debug)]
pub struct Signed<'a> {
    authorization: Authorization<'a>,
    amz_date: &'a str,
    signed_at: SystemTime,
    signed: Vec<&'a str>,
    method: &'a str,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl<'a> Signed<'a> {
    /// Parses the `Authorization` header of a request for `service` (`kms`,
    /// `dynamodb`, `sts`) and checks everything but the signature: `x-amz-date`,
    /// the credential scope, that `host` is signed, and the skew from `now`.
    pub fn check(
        service: &str,
        method: &'a str,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: SystemTime,
    ) -> Result<Self, AwsError> {
        let authorization = Authorization::from_headers(headers)?;
        let Some(amz) = headers.get("x-amz-date").and_then(|v| v.to_str().ok()) else {
            return Err(incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            ));
        };
        let signed_at = parse_amz_date(amz)
            .ok_or_else(|| incomplete("X-Amz-Date is not in the ISO-8601 basic format."))?;
        let Authorization {
            date, terminator, ..
        } = authorization;
        if !amz.starts_with(date) || date.len() != 8 {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz}'.",
                &amz[..8]
            )));
        }
        if authorization.service != service {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{service}'."
            )));
        }
        if terminator != "aws4_request" {
            return Err(invalid(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )));
        }
        let signed: Vec<&str> = authorization.signed_headers.split(';').collect();
        if !signed.contains(&"host") {
            return Err(incomplete(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        if now > signed_at + MAX_SKEW {
            return Err(invalid(format!(
                "Signature expired: {amz} is now earlier than {} ({} - 15 min.)",
                amz_date(now - MAX_SKEW),
                amz_date(now)
            )));
        }
        if signed_at > now + MAX_SKEW {
            return Err(invalid(format!(
                "Signature not yet current: {amz} is still later than {} ({} + 15 min.)",
                amz_date(now + MAX_SKEW),
                amz_date(now)
            )));
        }
        Ok(Self {
            authorization,
            amz_date: amz,
            signed_at,
            signed,
            method,
            uri,
            headers,
            body,
        })
    }

    /// The access key id the request claims.
    pub fn access_key_id(&self) -> &'a str {
        self.authorization.access_key_id
    }

    /// Checks `x-amz-content-sha256` (when sent) against the body, then the
    /// signature against one made with `secret`, compared in constant time.
    pub fn verify(&self, secret: &str) -> Result<(), AwsError> {
        let body_hash = hex::encode(Sha256::digest(self.body));
        if let Some(claimed) = self
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            if claimed != body_hash {
                return Err(invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ));
            }
        }
        let Authorization {
            date,
            region,
            service,
            signature,
            ..
        } = self.authorization;
        let key =
            aws_sigv4::sign::v4::generate_signing_key(secret, self.signed_at, region, service);
        let scope = format!("{date}/{region}/{service}/aws4_request");
        let request = SignedRequest {
            method: self.method,
            uri: self.uri,
            headers: self.headers,
            signed: &self.signed,
            signed_headers: self.authorization.signed_headers,
            body_hash: &body_hash,
        };
        let signed_as = |canonical: &str| {
            let string_to_sign = format!(
                "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
                self.amz_date,
                hex::encode(Sha256::digest(canonical.as_bytes()))
            );
            let expected =
                aws_sigv4::sign::v4::calculate_signature(&key, string_to_sign.as_bytes());
            expected.len() == signature.len()
                && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
        };
        // Signers differ where the SigV4 description leaves room (see
        // `Convention`); a signature made under either convention is accepted.
        // The second form is only built when the first does not match, and only
        // tried when it canonicalizes this request differently.
        let first = request.canonical(Convention::Botocore);
        let matched = signed_as(&first) || {
            let second = request.canonical(Convention::AwsSigv4);
            second != first && signed_as(&second)
        };
        if !matched {
            return Err(invalid(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ));
        }
        Ok(())
    }
}

/// How a signer canonicalizes the two things the SigV4 description leaves open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convention {
    /// A header value's runs of any whitespace become one space, as botocore does;
    /// the query is percent-decoded with `+` kept as a plus sign (this emulator's
    /// first reading, which no signer's query handling was checked against: AWS's
    /// JSON protocols send no query).
    Botocore,
    /// The Rust SDK's `aws-sigv4`: only runs of spaces are collapsed (a tab
    /// stays); the query is form-decoded, so `+` is a space.
    AwsSigv4,
}

/// The parts of a request its canonical form is built from.
struct SignedRequest<'a> {
    method: &'a str,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    signed: &'a [&'a str],
    signed_headers: &'a str,
    body_hash: &'a str,
}

impl SignedRequest<'_> {
    /// The canonical request under `convention`.
    fn canonical(&self, convention: Convention) -> String {
        let mut canonical = String::new();
        canonical.push_str(self.method);
        canonical.push('\n');
        canonical.push_str(&encode(self.uri.path(), true));
        canonical.push('\n');
        canonical.push_str(&canonical_query(
            self.uri.query().unwrap_or(""),
            convention == Convention::AwsSigv4,
        ));
        canonical.push('\n');
        for name in self.signed {
            let values: Vec<String> = self
                .headers
                .get_all(*name)
                .iter()
                .map(|v| {
                    let v = String::from_utf8_lossy(v.as_bytes());
                    match convention {
                        Convention::Botocore => v.split_whitespace().collect::<Vec<_>>().join(" "),
                        Convention::AwsSigv4 => v
                            .split(' ')
                            .filter(|part| !part.is_empty())
                            .collect::<Vec<_>>()
                            .join(" "),
                    }
                })
                .collect();
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(&values.join(","));
            canonical.push('\n');
        }
        canonical.push('\n');
        canonical.push_str(self.signed_headers);
        canonical.push('\n');
        canonical.push_str(self.body_hash);
        canonical
    }
}

/// What SigV4 leaves as it is: the unreserved characters `A-Za-z0-9-_.~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same for a path, whose `/` separators stay.
const UNRESERVED_IN_PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// URI-encodes as SigV4 does: unreserved characters as-is, everything else `%XX`
/// (upper case); `/` kept when `path` (so an already-encoded path is encoded again,
/// as every service but S3 expects).
fn encode(s: &str, path: bool) -> String {
    if path && s.is_empty() {
        return "/".to_owned();
    }
    let set = if path { UNRESERVED_IN_PATH } else { UNRESERVED };
    utf8_percent_encode(s, set).to_string()
}

/// The query in canonical form: each name and value decoded, then encoded as SigV4
/// does, pairs sorted. With `plus_is_space` the query is form-decoded (`+` is a
/// space), else only percent-decoded. Either way an escape that is not `%` and two
/// hex digits stays as it is, and bytes that are not UTF-8 become U+FFFD.
fn canonical_query(query: &str, plus_is_space: bool) -> String {
    let decoded: Vec<(Cow<'_, str>, Cow<'_, str>)> = if plus_is_space {
        form_urlencoded::parse(query.as_bytes()).collect()
    } else {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (
                    percent_decode_str(k).decode_utf8_lossy(),
                    percent_decode_str(v).decode_utf8_lossy(),
                )
            })
            .collect()
    };
    let mut pairs: Vec<(String, String)> = decoded
        .iter()
        .map(|(k, v)| (encode(k, false), encode(v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_canonicalized() {
        assert_eq!(canonical_query("b=2&a=1%2F&c", false), "a=1%2F&b=2&c=");
        assert_eq!(canonical_query("a=x+y%2B", false), "a=x%2By%2B");
        assert_eq!(canonical_query("a=x+y%2B", true), "a=x%20y%2B");
        // Not an escape: `%` stays (a sign is not a hex digit; neither is `é`).
        assert_eq!(
            canonical_query("a=%+1&b=%4&c=%%41", false),
            "a=%25%2B1&b=%254&c=%25A"
        );
        assert_eq!(canonical_query("a=%\u{e9}1", false), "a=%25%C3%A91");
        assert_eq!(canonical_query("a=%a\u{e9}", true), "a=%25a%C3%A9");
        assert_eq!(canonical_query("a=%ff&b=%", true), "a=%EF%BF%BD&b=%25");
        assert_eq!(encode("/a b", true), "/a%20b");
    }

    #[test]
    fn the_authorization_header_parses_into_its_parts() {
        let parsed = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-3/kms/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(
            parsed,
            Authorization {
                access_key_id: "AKID",
                date: "20240101",
                region: "eu-west-3",
                service: "kms",
                terminator: "aws4_request",
                signed_headers: "host;x-amz-date",
                signature: "abc",
            }
        );
        for (value, why) in [
            (
                "AWS4-HMAC-SHA1 Credential=a/b/c/d/e",
                "AWS4-HMAC-SHA256 algorithm",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Signature=x",
                "'Credential', 'Signature' and 'SignedHeaders'",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=x",
                "Credential parameter is malformed",
            ),
        ] {
            let err = Authorization::parse(value).unwrap_err();
            assert_eq!(err.code, "IncompleteSignatureException", "{value}");
            assert!(err.message.contains(why), "{value}: {}", err.message);
        }
        let err = Authorization::from_headers(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.code, "MissingAuthenticationTokenException");
    }
}
