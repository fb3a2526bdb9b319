//! [`Auth`]: strict mode's state, tying the other rooms of `identity/` together for
//! the server: who a request comes from (its SigV4 signature, checked by
//! `sigv4.rs`, by a user's key or a session's), and whether its policies allow it
//! (`policy.rs`), each decision written to the audit log.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::audit::AuditLog;
use super::iam_file::{IamConfig, DEFAULT_CREDENTIAL_TTL, MAX_CREDENTIAL_TTL_SECONDS};
use super::jwt::{issuer_key, verify_jwt};
use super::policy::{evaluate, Decision, Policy, Request};
use super::sessions::{Session, Sessions};
use super::sigv4::{auth_error, Signed};
use crate::error::AwsError;

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

/// Identity and policy state of a strict-mode emulator.
pub struct Auth {
    iam: IamConfig,
    account: String,
    ttl: Duration,
    user_policies: HashMap<String, Vec<Policy>>,
    role_policies: HashMap<String, Vec<Policy>>,
    sessions: Sessions,
    audit: AuditLog,
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
        let audit = AuditLog::open(audit_log)?;
        let ttl = ttl
            .or(iam.credential_ttl_seconds.map(Duration::from_secs))
            .unwrap_or(DEFAULT_CREDENTIAL_TTL);
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(MAX_CREDENTIAL_TTL_SECONDS) {
            return Err(format!(
                "the lifetime of temporary credentials must be 1 to {MAX_CREDENTIAL_TTL_SECONDS} \
                 seconds (AWS's longest session, 36 hours), got {} s",
                ttl.as_secs()
            ));
        }
        let issuer_key = issuer_key(&iam);
        Ok(Auth {
            iam,
            account: account.to_owned(),
            ttl,
            user_policies,
            role_policies,
            sessions: Sessions::default(),
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

    /// Verifies the SigV4 signature of a request for `service` (`kms`, `dynamodb`,
    /// `sts`): its envelope first, then the claimed key (a user's, or a session's
    /// with its token, unexpired), then the signature under that key's secret.
    pub fn authenticate(
        &self,
        service: &str,
        method: &str,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(Principal, String), AwsError> {
        let signed = Signed::check(service, method, uri, headers, body, now)?;
        let akid = signed.access_key_id();
        let (principal, secret) = self.credentials(akid, headers, now)?;
        signed.verify(&secret)?;
        Ok((principal, akid.to_owned()))
    }

    /// Who owns `akid`, and its secret key: a user, whose requests carry no session
    /// token, or a session, whose requests carry its token until it expires.
    fn credentials(
        &self,
        akid: &str,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<(Principal, Zeroizing<String>), AwsError> {
        let unrecognized = || {
            auth_error(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        };
        let token = headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        if let Some(user) = self.iam.user_by_key(akid) {
            if token.is_some() {
                return Err(unrecognized());
            }
            return Ok((
                Principal::User(user.name.clone()),
                Zeroizing::new(user.secret_access_key.clone()),
            ));
        }
        let session = self.sessions.get(akid).ok_or_else(unrecognized)?;
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
        Ok((
            Principal::AssumedRole(session.role.clone(), session.session_name.clone()),
            session.secret.clone(),
        ))
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
            self.audit
                .decision(request_id, Some(&arn), check, &decision, None);
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

    /// Issues temporary credentials for `role`, valid for the configured lifetime.
    pub fn new_session(&self, role: &str, session_name: &str) -> Session {
        self.sessions.issue(role, session_name, self.ttl)
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Checks a web identity token from our issuer; returns its role and subject.
    pub fn verify_token(&self, token: &str) -> Result<(String, String), String> {
        verify_jwt(&self.issuer_key, token, SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_lifetime_beyond_aws_longest_session_is_refused() {
        let iam = || IamConfig::from_json(r#"{"users": []}"#).unwrap();
        for secs in [0, MAX_CREDENTIAL_TTL_SECONDS + 1, u64::MAX] {
            let err = Auth::new(iam(), "000000000000", Some(Duration::from_secs(secs)), None)
                .expect_err("refused");
            assert!(err.contains("1 to 129600 seconds"), "{err}");
        }
        let file = IamConfig::from_json(
            r#"{"users": [], "credential_ttl_seconds": 18446744073709551615}"#,
        )
        .unwrap();
        assert!(Auth::new(file, "000000000000", None, None).is_err());
        let longest = Duration::from_secs(MAX_CREDENTIAL_TTL_SECONDS);
        assert!(Auth::new(iam(), "000000000000", Some(longest), None).is_ok());
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
}
