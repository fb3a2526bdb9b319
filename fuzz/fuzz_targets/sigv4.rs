//! Strict mode's SigV4 check (`server-mock/src/identity/sigv4.rs`): the Authorization
//! header parser and the canonical request. Arbitrary headers never panic and
//! never authenticate (nobody can forge the HMAC); a request signed by the AWS
//! SDK's own signer (`aws-sigv4`) with arbitrary query, headers and body
//! authenticates; the same request with its body or a signed header changed
//! does not.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use libfuzzer_sys::fuzz_target;
use lockbox_mock::fuzzing::{SigV4, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

const HEADERS: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "host",
    "content-type",
    "x-amz-target",
    "user-agent",
];
const METHODS: &[&str] = &["POST", "GET", "PUT", "DELETE"];
const SERVICES: &[&str] = &["kms", "dynamodb", "sts"];

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Any(String),
}

impl Name {
    fn get(&self) -> String {
        match self {
            Name::Known(i) => HEADERS[usize::from(*i) % HEADERS.len()].to_owned(),
            Name::Any(s) => s.to_ascii_lowercase(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Raw {
    method: u8,
    uri: String,
    authorization: String,
    amz_date: Option<String>,
    headers: Vec<(Name, String)>,
    body: Vec<u8>,
    skew: i32,
}

#[derive(Arbitrary, Debug)]
struct Signed {
    method: u8,
    service: u8,
    path_and_query: String,
    headers: Vec<(Name, String)>,
    body: Vec<u8>,
    /// Which signed header or body byte to change afterwards.
    tamper: Option<(u16, u8)>,
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

fn verifier() -> &'static SigV4 {
    static V: std::sync::OnceLock<SigV4> = std::sync::OnceLock::new();
    V.get_or_init(SigV4::new)
}

fn raw(input: Raw) {
    let Ok(uri) = input.uri.parse::<Uri>() else {
        return;
    };
    let mut headers = HeaderMap::new();
    let mut insert = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(n, v);
        }
    };
    insert("authorization", &input.authorization);
    if let Some(d) = &input.amz_date {
        insert("x-amz-date", d);
    }
    for (n, v) in &input.headers {
        insert(&n.get(), v);
    }
    let at = now() + Duration::from_secs(u64::from(input.skew.unsigned_abs()));
    let method = METHODS[usize::from(input.method) % METHODS.len()];
    for service in SERVICES {
        let result = verifier().verify(service, method, &uri, &headers, &input.body, at);
        assert!(
            result.is_err(),
            "an unsigned request authenticated: {result:?}"
        );
    }
}

fn signed(input: Signed) {
    let method = METHODS[usize::from(input.method) % METHODS.len()];
    let service = SERVICES[usize::from(input.service) % SERVICES.len()];
    let pq = if input.path_and_query.starts_with('/') {
        input.path_and_query.clone()
    } else {
        format!("/{}", input.path_and_query)
    };
    let Ok(uri) = pq.parse::<Uri>() else {
        return;
    };
    if uri.path_and_query().map(|p| p.as_str()) != Some(pq.as_str()) {
        return;
    }
    // Header names and values that HTTP carries, as a client would send them.
    let mut extra: Vec<(String, String)> = Vec::new();
    for (n, v) in &input.headers {
        let n = n.get();
        if HEADERS.contains(&n.as_str())
            || HeaderName::try_from(n.as_str()).is_err()
            || HeaderValue::try_from(v.as_str()).is_err()
            || n.starts_with("x-amz-")
        {
            continue;
        }
        extra.push((n, v.clone()));
    }
    extra.push(("host".to_owned(), "localhost".to_owned()));

    let identity = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "fuzz").into();
    let mut settings = SigningSettings::default();
    // The emulator takes the path as sent, as AWS's JSON services do.
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let Ok(signable) = SignableRequest::new(
        method,
        format!("http://localhost{pq}"),
        extra.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&input.body),
    ) else {
        return;
    };
    let Ok(output) = sign(signable, &params) else {
        return;
    };
    let mut request = Request::builder().method(method).uri(uri.clone());
    for (n, v) in &extra {
        request = request.header(n.as_str(), v.as_str());
    }
    let mut request = request.body(()).unwrap();
    output.into_parts().0.apply_to_request_http1x(&mut request);
    let headers = request.headers().clone();

    let result = verifier().verify(service, method, &uri, &headers, &input.body, now());
    assert_eq!(
        result.as_deref().map_err(|e| e.message.as_str()),
        Ok(ACCESS_KEY_ID),
        "a request the AWS SDK signed was refused\nheaders: {headers:?}"
    );

    let Some((at, mask)) = input.tamper else {
        return;
    };
    if mask == 0 {
        return;
    }
    let mut body = input.body.clone();
    let mut headers = headers;
    if !body.is_empty() && at % 2 == 0 {
        let i = usize::from(at / 2) % body.len();
        body[i] ^= mask;
    } else {
        // Change one byte of a signed header's value (not in a way HTTP
        // or the canonical form ignores: stay non-space visible ASCII).
        let (n, v) = &extra[usize::from(at) % extra.len()];
        let mut bytes = v.clone().into_bytes();
        let Some(i) = bytes.iter().position(|b| b.is_ascii_graphic()) else {
            return;
        };
        let changed = (bytes[i] ^ (mask & 0x1f)).clamp(b'!', b'~');
        if changed == bytes[i] {
            return;
        }
        bytes[i] = changed;
        headers.insert(
            HeaderName::try_from(n.as_str()).unwrap(),
            HeaderValue::from_bytes(&bytes).unwrap(),
        );
    }
    let result = verifier().verify(service, method, &uri, &headers, &body, now());
    assert!(result.is_err(), "a changed request still authenticated");
}

fuzz_target!(|input: Result<Raw, Signed>| match input {
    Ok(r) => raw(r),
    Err(s) => signed(s),
});
