//! STS (query protocol: form-encoded requests, XML answers) and the credential
//! endpoints workloads use: ECS/EKS container credentials and IMDSv2.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::auth::{Auth, Principal};
use super::jwt::ISSUER;
use super::policy::{Decision, Request};
use super::sessions::Session;
use crate::dates::rfc3339;
use crate::error::AwsError;

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Parses a form-encoded body (`a=b&c=d`, `+` for space, `%XX` escapes) as
/// `application/x-www-form-urlencoded` says: an escape that is not `%` and two hex
/// digits stays as it is, and bytes that are not UTF-8 become U+FFFD. Never fails:
/// whatever a body holds, the action it names (or not) decides the answer.
pub fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// An STS error: `<ErrorResponse><Error><Type>Sender</Type><Code>...`.
pub fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id)
    );
    xml(status, body, request_id)
}

/// STS's names and statuses for the authentication errors the JSON services share.
pub fn auth_error(code: &str, message: &str, request_id: &str) -> Response {
    let (status, code, message) = match code {
        "MissingAuthenticationTokenException" => (
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
        "UnrecognizedClientException" => (StatusCode::FORBIDDEN, "InvalidClientTokenId", message),
        "InvalidSignatureException" => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message),
        "IncompleteSignatureException" => (StatusCode::BAD_REQUEST, "IncompleteSignature", message),
        "ExpiredTokenException" => (StatusCode::BAD_REQUEST, "ExpiredToken", message),
        "AccessDeniedException" => (StatusCode::FORBIDDEN, "AccessDenied", message),
        other => (StatusCode::BAD_REQUEST, other, message),
    };
    error(status, code, message, request_id)
}

fn ok(action: &str, result: String, request_id: &str) -> Response {
    xml(
        StatusCode::OK,
        format!(
            "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
            xml_escape(request_id)
        ),
        request_id,
    )
}

fn credentials_xml(s: &Session) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        s.access_key_id,
        xml_escape(&s.secret),
        xml_escape(&s.token),
        rfc3339(s.expires)
    )
}

fn assumed_xml(auth: &Auth, s: &Session) -> String {
    let arn = Principal::AssumedRole(s.role.clone(), s.session_name.clone()).arn(auth.account());
    format!(
        "<AssumedRoleUser><AssumedRoleId>AROA{}:{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        role_id(&s.role),
        xml_escape(&s.session_name),
        xml_escape(&arn)
    )
}

/// A stable pseudo role id, so `AssumedRoleId` looks like AWS's.
fn role_id(role: &str) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(role.as_bytes());
    hex::encode_upper(&h[..8])
}

fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

fn missing(param: &str, request_id: &str) -> Response {
    let err = AwsError::missing_member(param);
    error(
        StatusCode::BAD_REQUEST,
        "ValidationError",
        &err.message,
        request_id,
    )
}

/// Runs one STS action in strict mode. `caller` is the authenticated principal
/// (`None` only for `AssumeRoleWithWebIdentity`, which is unsigned).
pub fn handle(
    auth: &Auth,
    caller: Option<&Principal>,
    params: &BTreeMap<String, String>,
    request_id: &str,
) -> Response {
    let action = params.get("Action").map(String::as_str).unwrap_or("");
    match (action, caller) {
        ("GetCallerIdentity", Some(p)) => {
            let user_id = match p {
                Principal::User(n) => format!("AIDA{}", role_id(n)),
                Principal::AssumedRole(r, s) => format!("AROA{}:{s}", role_id(r)),
            };
            ok(
                action,
                format!(
                    "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
                    xml_escape(&p.arn(auth.account())),
                    xml_escape(&user_id),
                    auth.account()
                ),
                request_id,
            )
        }
        ("AssumeRole", Some(p)) => {
            let Some(role_arn) = params.get("RoleArn") else {
                return missing("roleArn", request_id);
            };
            let Some(session_name) = params.get("RoleSessionName") else {
                return missing("roleSessionName", request_id);
            };
            let role = role_name(role_arn);
            let arn = auth.role_arn(role);
            let trusted = match (p, auth.iam().role(role)) {
                (Principal::User(u), Some(r)) => r.trust.users.iter().any(|t| t == u),
                _ => false,
            };
            let check = Request {
                action: "sts:AssumeRole".to_owned(),
                resource: arn.clone(),
                context: BTreeMap::new(),
            };
            let caller_arn = p.arn(auth.account());
            let decision = if trusted {
                Decision::Trusted
            } else {
                Decision::ImplicitDeny
            };
            auth.audit()
                .decision(request_id, Some(&caller_arn), &check, &decision, None);
            if !trusted {
                return error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    &format!("User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {arn}"),
                    request_id,
                );
            }
            let s = auth.new_session(role, session_name);
            ok(
                action,
                format!("{}{}", credentials_xml(&s), assumed_xml(auth, &s)),
                request_id,
            )
        }
        ("AssumeRoleWithWebIdentity", _) => {
            let (Some(role_arn), Some(token)) =
                (params.get("RoleArn"), params.get("WebIdentityToken"))
            else {
                return missing("webIdentityToken", request_id);
            };
            let session_name = params
                .get("RoleSessionName")
                .cloned()
                .unwrap_or_else(|| "web-identity".to_owned());
            let role = role_name(role_arn);
            let check = Request {
                action: "sts:AssumeRoleWithWebIdentity".to_owned(),
                resource: auth.role_arn(role),
                context: BTreeMap::new(),
            };
            let verdict = auth.verify_token(token).and_then(|(token_role, sub)| {
                let trusted = auth.iam().role(role).is_some_and(|r| r.trust.web_identity);
                if token_role != role || !trusted {
                    Err(format!(
                        "Not authorized to perform sts:AssumeRoleWithWebIdentity on {role_arn}"
                    ))
                } else {
                    Ok(sub)
                }
            });
            let sub = match verdict {
                Ok(sub) => sub,
                Err(why) => {
                    let (status, code) = if why == "expired" {
                        (StatusCode::BAD_REQUEST, "ExpiredTokenException")
                    } else if why.starts_with("Not authorized") {
                        (StatusCode::FORBIDDEN, "AccessDenied")
                    } else {
                        (StatusCode::BAD_REQUEST, "InvalidIdentityToken")
                    };
                    auth.audit().decision(
                        request_id,
                        None,
                        &check,
                        &Decision::ImplicitDeny,
                        Some(code),
                    );
                    let message = if why == "expired" {
                        "Token expired".to_owned()
                    } else {
                        why
                    };
                    return error(status, code, &message, request_id);
                }
            };
            auth.audit()
                .decision(request_id, Some(&sub), &check, &Decision::Trusted, None);
            let s = auth.new_session(role, &session_name);
            ok(
                action,
                format!(
                    "{}<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>{}<Provider>{}</Provider><Audience>sts.amazonaws.com</Audience>",
                    credentials_xml(&s),
                    xml_escape(&sub),
                    assumed_xml(auth, &s),
                    ISSUER
                ),
                request_id,
            )
        }
        ("", _) => error(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "Missing Action",
            request_id,
        ),
        (other, _) => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {other} for version 2011-06-15"),
            request_id,
        ),
    }
}

/// STS in open mode: answers without checking anything, for clients that call it.
pub fn handle_open(account: &str, params: &BTreeMap<String, String>, request_id: &str) -> Response {
    let action = params.get("Action").map(String::as_str).unwrap_or("");
    match action {
        "GetCallerIdentity" => ok(
            action,
            format!(
                "<Arn>arn:aws:iam::{account}:root</Arn><UserId>{account}</UserId><Account>{account}</Account>"
            ),
            request_id,
        ),
        "AssumeRole" | "AssumeRoleWithWebIdentity" => {
            let role = role_name(params.get("RoleArn").map(String::as_str).unwrap_or("role"));
            let session = params
                .get("RoleSessionName")
                .map(String::as_str)
                .unwrap_or("session");
            let arn = format!("arn:aws:sts::{account}:assumed-role/{role}/{session}");
            ok(
                action,
                format!(
                    "<Credentials><AccessKeyId>ASIAOPENMODE{}</AccessKeyId><SecretAccessKey>open-mode</SecretAccessKey><SessionToken>open-mode</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA{}:{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
                    &role_id(role)[..8],
                    rfc3339(SystemTime::now() + Duration::from_secs(3600)),
                    role_id(role),
                    xml_escape(session),
                    xml_escape(&arn)
                ),
                request_id,
            )
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {action} for version 2011-06-15"),
            request_id,
        ),
    }
}

fn credentials_json(auth: &Auth, s: &Session, imds: bool) -> Response {
    let mut body = json!({
        "AccessKeyId": s.access_key_id,
        "SecretAccessKey": s.secret.as_str(),
        "Token": s.token.as_str(),
        "Expiration": rfc3339(s.expires),
        "RoleArn": auth.role_arn(&s.role),
    });
    if imds {
        body["Code"] = json!("Success");
        body["Type"] = json!("AWS-HMAC");
        body["LastUpdated"] = json!(rfc3339(SystemTime::now()));
    }
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, text.to_owned()).into_response()
}

/// `GET /_mock/container-credentials/ROLE`: what `AWS_CONTAINER_CREDENTIALS_FULL_URI`
/// points at. The `Authorization` header must be the role's `container_token`.
pub fn container_credentials(auth: &Auth, role: &str, headers: &HeaderMap) -> Response {
    let request_id = crate::protocol::request_id();
    let check = Request {
        action: "sts:AssumeRole".to_owned(),
        resource: auth.role_arn(role),
        context: BTreeMap::new(),
    };
    let Some(expected) = auth
        .iam()
        .role(role)
        .and_then(|r| r.trust.container_token.as_deref())
    else {
        auth.audit().decision(
            &request_id,
            Some("container"),
            &check,
            &Decision::ImplicitDeny,
            Some("NoSuchRole"),
        );
        return plain(
            StatusCode::NOT_FOUND,
            "no container credentials for this role",
        );
    };
    let given = headers
        .get("authorization")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if given.is_empty() || !bool::from(given.ct_eq(expected.as_bytes())) {
        auth.audit().decision(
            &request_id,
            Some("container"),
            &check,
            &Decision::ImplicitDeny,
            Some("InvalidAuthorizationToken"),
        );
        return plain(
            StatusCode::FORBIDDEN,
            "the Authorization header is not this role's container token",
        );
    }
    auth.audit().decision(
        &request_id,
        Some("container"),
        &check,
        &Decision::Trusted,
        None,
    );
    let s = auth.new_session(role, "container");
    credentials_json(auth, &s, false)
}

/// IMDSv2 session tokens.
#[derive(Debug, Default)]
pub struct ImdsTokens(Mutex<HashMap<String, SystemTime>>);

impl ImdsTokens {
    /// `PUT /latest/api/token`.
    pub fn issue(&self, headers: &HeaderMap) -> Response {
        let ttl = headers
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21_600).contains(t)) else {
            return plain(StatusCode::BAD_REQUEST, "");
        };
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let token = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), SystemTime::now() + Duration::from_secs(ttl));
        let mut r = plain(StatusCode::OK, &token);
        if let Ok(v) = HeaderValue::from_str(&ttl.to_string()) {
            r.headers_mut()
                .insert("x-aws-ec2-metadata-token-ttl-seconds", v);
        }
        r
    }

    fn valid(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get("x-aws-ec2-metadata-token")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .is_some_and(|exp| SystemTime::now() < *exp)
    }
}

/// `GET /latest/meta-data/iam/security-credentials/[ROLE]`.
pub fn imds_credentials(
    auth: &Auth,
    tokens: &ImdsTokens,
    role: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    if !tokens.valid(headers) {
        return plain(StatusCode::UNAUTHORIZED, "");
    }
    let Some(instance_role) = auth.iam().instance_role.as_deref() else {
        return plain(StatusCode::NOT_FOUND, "");
    };
    match role {
        None | Some("") => plain(StatusCode::OK, instance_role),
        Some(r) if r == instance_role => {
            let request_id = crate::protocol::request_id();
            let check = Request {
                action: "sts:AssumeRole".to_owned(),
                resource: auth.role_arn(r),
                context: BTreeMap::new(),
            };
            auth.audit().decision(
                &request_id,
                Some("instance-profile"),
                &check,
                &Decision::Trusted,
                None,
            );
            let s = auth.new_session(r, "i-0123456789abcdef0");
            credentials_json(auth, &s, true)
        }
        Some(_) => plain(StatusCode::NOT_FOUND, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_and_malformed_escapes_stay_as_they_are() {
        let form = parse_form(b"Action=AssumeRole&RoleSessionName=a+b%2Bc&Empty=&Flag");
        assert_eq!(form["Action"], "AssumeRole");
        assert_eq!(form["RoleSessionName"], "a b+c");
        assert_eq!(form["Empty"], "");
        assert_eq!(form["Flag"], "");
        // `%` then a multi-byte character used to slice inside the character.
        assert_eq!(parse_form(b"Action=%a\xc3\xa9")["Action"], "%a\u{e9}");
        assert_eq!(parse_form(b"Action=%\xc3\xa9%")["Action"], "%\u{e9}%");
        assert_eq!(parse_form(b"A=%ff\xfe")["A"], "\u{fffd}\u{fffd}");
    }
}
