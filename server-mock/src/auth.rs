//! Strict mode: SigV4 verification, who a request comes from, what its policies
//! allow, temporary credentials, and the audit log.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, Uri};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::AwsError;
use crate::iam::{evaluate, Decision, IamConfig, Policy, Request};

/// The largest clock skew a signature may have, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM user with a static key.
    User(String),
    /// A role session: (role, session name).
    AssumedRole(String, String),
}

impl Principal {
    /// The principal's ARN as AWS writes it in errors and `GetCallerIdentity`.
    pub fn arn(&self, account: &str) -> String {
        match self {
            Principal::User(n) => format!("arn:aws:iam::{account}:user/{n}"),
            Principal::AssumedRole(r, s) => {
                format!("arn:aws:sts::{account}:assumed-role/{r}/{s}")
            }
        }
    }
}

/// Temporary credentials handed out by STS or the credential endpoints.
#[derive(Clone)]
pub struct Session {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret key.
    pub secret: Zeroizing<String>,
    /// The session token.
    pub token: Zeroizing<String>,
    /// When it stops working.
    pub expires: SystemTime,
    /// The role.
    pub role: String,
    /// The session name.
    pub session_name: String,
}

/// Identity and policy state of a strict-mode emulator.
pub struct Auth {
    iam: IamConfig,
    account: String,
    ttl: Duration,
    user_policies: HashMap<String, Vec<Policy>>,
    role_policies: HashMap<String, Vec<Policy>>,
    sessions: Mutex<HashMap<String, Session>>,
    audit: Option<Mutex<std::fs::File>>,
    issuer_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("iam", &self.iam)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// An authentication failure: the error to answer and its code for the audit log.
pub type AuthFailure = AwsError;

fn auth_error(code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, code, message)
}

impl Auth {
    /// Builds strict-mode state; `audit_log` is opened for appending.
    pub fn new(
        iam: IamConfig,
        account: &str,
        ttl: Option<Duration>,
        audit_log: Option<&Path>,
    ) -> Result<Auth, String> {
        let parse = |docs: &[Value]| -> Vec<Policy> {
            docs.iter().filter_map(|d| Policy::parse(d).ok()).collect()
        };
        let user_policies = iam
            .users
            .iter()
            .map(|u| (u.name.clone(), parse(&u.policies)))
            .collect();
        let role_policies = iam
            .roles
            .iter()
            .map(|r| (r.name.clone(), parse(&r.policies)))
            .collect();
        let audit = match audit_log {
            Some(p) => Some(Mutex::new(
                crate::store::private_file()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("cannot open the audit log {}: {e}", p.display()))?,
            )),
            None => None,
        };
        let ttl = ttl
            .or(iam.credential_ttl_seconds.map(Duration::from_secs))
            .unwrap_or(crate::iam::DEFAULT_CREDENTIAL_TTL);
        let issuer_key = issuer_key(&iam);
        Ok(Auth {
            iam,
            account: account.to_owned(),
            ttl,
            user_policies,
            role_policies,
            sessions: Mutex::new(HashMap::new()),
            audit,
            issuer_key,
        })
    }

    /// The identity file.
    pub fn iam(&self) -> &IamConfig {
        &self.iam
    }

    /// The account in ARNs.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// A role's ARN.
    pub fn role_arn(&self, role: &str) -> String {
        format!("arn:aws:iam::{}:role/{role}", self.account)
    }

    /// Verifies the SigV4 signature of a request for `service` (`kms`, `dynamodb`, `sts`).
    pub fn authenticate(
        &self,
        service: &str,
        method: &str,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(Principal, String), AuthFailure> {
        let Some(auth) = headers.get("authorization") else {
            return Err(auth_error(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let incomplete = |m: &str| auth_error("IncompleteSignatureException", m);
        let auth = auth
            .to_str()
            .map_err(|_| incomplete("The Authorization header is not ASCII."))?;
        let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
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
        if scope.len() != 5 {
            return Err(incomplete("The Credential parameter is malformed."));
        }
        let (akid, date, region, scope_service, terminator) =
            (scope[0], scope[1], scope[2], scope[3], scope[4]);
        let Some(amz_date) = headers.get("x-amz-date").and_then(|v| v.to_str().ok()) else {
            return Err(incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            ));
        };
        let signed_at = crate::dates::parse_amz_date(amz_date)
            .ok_or_else(|| incomplete("X-Amz-Date is not in the ISO-8601 basic format."))?;
        let invalid = |m: String| auth_error("InvalidSignatureException", m);
        if !amz_date.starts_with(date) || date.len() != 8 {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.",
                &amz_date[..8]
            )));
        }
        if scope_service != service {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{service}'."
            )));
        }
        if terminator != "aws4_request" {
            return Err(invalid(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )));
        }
        let signed: Vec<&str> = signed_headers.split(';').collect();
        if !signed.contains(&"host") {
            return Err(incomplete(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        if now > signed_at + MAX_SKEW {
            return Err(invalid(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                crate::dates::amz_date(now - MAX_SKEW),
                crate::dates::amz_date(now)
            )));
        }
        if signed_at > now + MAX_SKEW {
            return Err(invalid(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
                crate::dates::amz_date(now + MAX_SKEW),
                crate::dates::amz_date(now)
            )));
        }

        let unrecognized = || {
            auth_error(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        };
        let token = headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        let (principal, secret) = if let Some(user) = self.iam.user_by_key(akid) {
            if token.is_some() {
                return Err(unrecognized());
            }
            (
                Principal::User(user.name.clone()),
                Zeroizing::new(user.secret_access_key.clone()),
            )
        } else {
            let session = self
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(akid)
                .cloned()
                .ok_or_else(unrecognized)?;
            let Some(token) = token else {
                return Err(unrecognized());
            };
            if !bool::from(token.as_bytes().ct_eq(session.token.as_bytes())) {
                return Err(unrecognized());
            }
            if now >= session.expires {
                return Err(auth_error(
                    "ExpiredTokenException",
                    "The security token included in the request is expired",
                ));
            }
            (
                Principal::AssumedRole(session.role.clone(), session.session_name.clone()),
                session.secret.clone(),
            )
        };

        let body_hash = hex::encode(Sha256::digest(body));
        if let Some(claimed) = headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            if claimed != body_hash {
                return Err(invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .to_owned(),
                ));
            }
        }
        let key =
            aws_sigv4::sign::v4::generate_signing_key(&secret, signed_at, region, scope_service);
        let scope = format!("{date}/{region}/{scope_service}/aws4_request");
        let request = SignedRequest {
            method,
            uri,
            headers,
            signed: &signed,
            signed_headers,
            body_hash: &body_hash,
        };
        let signed_as = |canonical: &str| {
            let string_to_sign = format!(
                "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
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
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                    .to_owned(),
            ));
        }
        Ok((principal, akid.to_owned()))
    }

    /// The policies of `principal`.
    fn policies(&self, principal: &Principal) -> &[Policy] {
        let found = match principal {
            Principal::User(n) => self.user_policies.get(n),
            Principal::AssumedRole(r, _) => self.role_policies.get(r),
        };
        found.map(Vec::as_slice).unwrap_or(&[])
    }

    /// Authorizes every check of one request, auditing each decision; the first
    /// refusal is the `AccessDeniedException` to answer.
    pub fn authorize(
        &self,
        principal: &Principal,
        checks: &[Request],
        request_id: &str,
    ) -> Result<(), AwsError> {
        let arn = principal.arn(&self.account);
        for check in checks {
            let decision = evaluate(self.policies(principal), check);
            self.audit_decision(request_id, Some(&arn), check, &decision, None);
            if !decision.allowed() {
                let why = match decision {
                    Decision::ExplicitDeny(_) => {
                        "with an explicit deny in an identity-based policy".to_owned()
                    }
                    _ => format!(
                        "because no identity-based policy allows the {} action",
                        check.action
                    ),
                };
                return Err(AwsError::new(
                    StatusCode::BAD_REQUEST,
                    "AccessDeniedException",
                    format!(
                        "User: {arn} is not authorized to perform: {} on resource: {} {why}",
                        check.action, check.resource
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Writes one audit line for an authorization decision (or an authentication
    /// failure, with `error`). Encryption contexts and partition keys are logged;
    /// request bodies never are.
    pub fn audit_decision(
        &self,
        request_id: &str,
        principal: Option<&str>,
        check: &Request,
        decision: &Decision,
        error: Option<&str>,
    ) {
        let Some(file) = &self.audit else { return };
        let mut context = serde_json::Map::new();
        let mut leading = Vec::new();
        for (k, v) in &check.context {
            if let Some(key) = k.strip_prefix("kms:EncryptionContext:") {
                context.insert(key.to_owned(), json!(v.first()));
            } else if k == "dynamodb:LeadingKeys" {
                leading.clone_from(v);
            }
        }
        let statement = match decision {
            Decision::Allow(d) | Decision::ExplicitDeny(d) => {
                json!({"policy": d.policy, "statement": d.statement, "sid": d.sid})
            }
            Decision::Trusted => json!({"trust": true}),
            Decision::ImplicitDeny => Value::Null,
        };
        let line = json!({
            "time": crate::dates::rfc3339(SystemTime::now()),
            "request_id": request_id,
            "principal": principal,
            "action": check.action,
            "resource": check.resource,
            "encryption_context": context,
            "leading_keys": leading,
            "decision": if decision.allowed() { "allow" } else { "deny" },
            "reason": match decision {
                Decision::Allow(_) => "allowed",
                Decision::Trusted => "trusted",
                Decision::ExplicitDeny(_) => "explicit_deny",
                Decision::ImplicitDeny if error.is_some() => "authentication_failed",
                Decision::ImplicitDeny => "implicit_deny",
            },
            "statement": statement,
            "error": error,
        });
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(f, "{line}");
    }

    /// Records an authentication failure for `action`.
    pub fn audit_failure(&self, request_id: &str, action: &str, akid: Option<&str>, code: &str) {
        let check = Request {
            action: action.to_owned(),
            resource: "*".to_owned(),
            context: BTreeMap::new(),
        };
        let who = akid.map(|k| format!("access key {k}"));
        self.audit_decision(
            request_id,
            who.as_deref(),
            &check,
            &Decision::ImplicitDeny,
            Some(code),
        );
    }

    /// Issues temporary credentials for `role`.
    pub fn new_session(&self, role: &str, session_name: &str) -> Session {
        let mut rng = rand::rngs::OsRng;
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let akid: String = "ASIA"
            .chars()
            .chain((0..16).map(|_| UPPER[rng.gen_range(0..UPPER.len())] as char))
            .collect();
        let mut secret = [0u8; 30];
        rand::RngCore::fill_bytes(&mut rng, &mut secret);
        let mut token = [0u8; 96];
        rand::RngCore::fill_bytes(&mut rng, &mut token);
        let session = Session {
            access_key_id: akid.clone(),
            secret: Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(secret)),
            token: Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(token)),
            expires: SystemTime::now() + self.ttl,
            role: role.to_owned(),
            session_name: session_name.to_owned(),
        };
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(akid, session.clone());
        session
    }

    /// Checks a web identity token from our issuer; returns its role and subject.
    pub fn verify_token(&self, token: &str) -> Result<(String, String), String> {
        verify_jwt(&self.issuer_key, token, SystemTime::now())
    }
}

/// The issuer key: the file's `issuer_secret`, or one derived from the file itself
/// (whoever can read the identity file holds every secret key anyway).
pub fn issuer_key(iam: &IamConfig) -> Zeroizing<Vec<u8>> {
    let mut h = Sha256::new();
    match &iam.issuer_secret {
        Some(s) => {
            h.update(b"lockbox-mock issuer secret\0");
            h.update(s.as_bytes());
        }
        None => {
            h.update(b"lockbox-mock issuer from identity file\0");
            h.update(&iam.source);
        }
    }
    Zeroizing::new(h.finalize().to_vec())
}

/// The issuer named in tokens.
pub const ISSUER: &str = "https://lockbox-mock.local";

/// A signed HS256 JWT for `role`, valid for `ttl`.
pub fn issue_jwt(key: &[u8], role: &str, subject: &str, ttl: Duration) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "iss": ISSUER, "sub": subject, "aud": "sts.amazonaws.com",
        "role": role, "iat": now, "exp": now + ttl.as_secs(),
    });
    let payload = B64URL.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        B64URL.encode(mac.finalize().into_bytes())
    )
}

fn verify_jwt(key: &[u8], token: &str, now: SystemTime) -> Result<(String, String), String> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not a JWT".to_owned());
    };
    let sig = B64URL
        .decode(s)
        .map_err(|_| "the token's signature is not base64url")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| "the token's signature is not from this emulator's issuer".to_owned())?;
    let claims: Value = serde_json::from_slice(
        &B64URL
            .decode(p)
            .map_err(|_| "the token's payload is not base64url")?,
    )
    .map_err(|_| "the token's payload is not JSON")?;
    if claims["iss"] != ISSUER {
        return Err("the token names another issuer".to_owned());
    }
    let exp = claims["exp"].as_u64().ok_or("the token has no exp")?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now >= exp {
        return Err("expired".to_owned());
    }
    let role = claims["role"].as_str().ok_or("the token names no role")?;
    let sub = claims["sub"].as_str().unwrap_or("unknown");
    Ok((role.to_owned(), sub.to_owned()))
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

    /// `Auth` with one user, and a request to `uri` carrying `extra` headers
    /// signed by the Rust SDK's signer (`aws-sigv4`) with that user's key.
    fn signed_by_aws_sigv4(uri: &str, extra: &[(&str, &str)]) -> (Auth, Uri, HeaderMap) {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let iam = IamConfig::from_json(
            r#"{"users": [{"name": "u", "access_key_id": "AKIDU", "secret_access_key": "s3cret"}]}"#,
        )
        .unwrap();
        let auth = Auth::new(iam, "000000000000", None, None).unwrap();
        let identity =
            aws_credential_types::Credentials::new("AKIDU", "s3cret", None, None, "t").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        headers.push(("host", "localhost"));
        let signable = SignableRequest::new(
            "POST",
            format!("http://localhost{uri}"),
            headers.iter().copied(),
            SignableBody::Bytes(b"{}"),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = axum::http::Request::builder().method("POST").uri(uri);
        for (n, v) in &headers {
            request = request.header(*n, *v);
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        (auth, request.uri().clone(), request.headers().clone())
    }

    #[test]
    fn signatures_of_the_rust_sdk_signer_verify_where_it_differs_from_botocore() {
        for (uri, extra) in [
            // Form decoding: `+` is a space to aws-sigv4, a plus sign to botocore.
            ("/?a=x+y&b=%%+%", &[][..]),
            // aws-sigv4 collapses runs of spaces only; botocore all whitespace.
            ("/", &[("x-note", "a\tb  c")][..]),
            (
                "/?q=1+1",
                &[("x-note", "tab\there"), ("x-other", "plain")][..],
            ),
        ] {
            let (auth, uri, headers) = signed_by_aws_sigv4(uri, extra);
            let verified =
                auth.authenticate("kms", "POST", &uri, &headers, b"{}", SystemTime::now());
            assert!(
                verified.is_ok(),
                "{uri} {extra:?}: {:?}",
                verified.err().map(|e| e.message)
            );
            // The signature still covers the request: another body fails.
            let tampered =
                auth.authenticate("kms", "POST", &uri, &headers, b"{ }", SystemTime::now());
            assert!(tampered.is_err(), "{uri} {extra:?}");
        }
    }

    #[test]
    fn jwts_verify_only_with_our_key() {
        let t = issue_jwt(b"k1", "r", "me", Duration::from_secs(60));
        assert_eq!(
            verify_jwt(b"k1", &t, SystemTime::now()).unwrap(),
            ("r".to_owned(), "me".to_owned())
        );
        assert!(verify_jwt(b"k2", &t, SystemTime::now()).is_err());
        assert!(verify_jwt(b"k1", &t, SystemTime::now() + Duration::from_secs(61)).is_err());
    }
}
