//! Web identity tokens: HS256 JWTs from the emulator's own issuer, as
//! `lockbox-mock issue-token` writes them and `AssumeRoleWithWebIdentity` takes
//! them. Seventy lines of HMAC and base64url: `jsonwebtoken` would bring ring and
//! ASN.1 for nothing an emulator needs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::iam_file::IamConfig;

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

/// Checks `token` against `key` and its expiry; returns its role and subject.
pub fn verify_jwt(key: &[u8], token: &str, now: SystemTime) -> Result<(String, String), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
