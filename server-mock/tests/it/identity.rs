//! Strict mode (`--iam`): SigV4 verification, per-identity policies, STS, the
//! credential endpoints and the audit log, through the real AWS SDK clients.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::common::{self, create_credstash_table, http, MockProcess};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use serde_json::{json, Value};

const ACCOUNT: &str = "000000000000";
const CANARY: &str = "CANARY-PLAINTEXT-7f3e9a";

fn iam() -> Value {
    let app1_reader = json!([{
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadApp1", "Effect": "Allow",
             "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
             "Resource": format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/credential-store"),
             "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["app1/*"]}}},
            {"Sid": "DecryptApp1", "Effect": "Allow", "Action": "kms:Decrypt",
             "Resource": "arn:aws:kms:*:*:key/*",
             "Condition": {"StringLike": {"kms:EncryptionContext:lockbox-name": "app1/*"}}},
            {"Sid": "EncryptViaKeyArn", "Effect": "Allow", "Action": "kms:Encrypt",
             "Resource": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/*")}
        ]
    }]);
    json!({
        "credential_ttl_seconds": 900,
        "instance_role": "app1-reader",
        "users": [
            {"name": "admin", "access_key_id": "AKIAADMIN", "secret_access_key": "admin-secret",
             "policies": [{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}]},
            {"name": "app1", "access_key_id": "AKIAAPP1", "secret_access_key": "app1-secret",
             "policies": app1_reader},
            {"name": "writer", "access_key_id": "AKIAWRITER", "secret_access_key": "writer-secret",
             "policies": [{"Statement": [
                {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                {"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}]},
            {"name": "nobody", "access_key_id": "AKIANOBODY", "secret_access_key": "nobody-secret"},
            {"name": "table-admin", "access_key_id": "AKIATABLEADMIN", "secret_access_key": "table-admin-secret",
             "policies": [{"Statement": {"Effect": "Allow",
                "Action": ["dynamodb:UpdateTable", "dynamodb:DescribeTable"], "Resource": "*"}}]},
            {"name": "replicator", "access_key_id": "AKIAREPLICATOR", "secret_access_key": "replicator-secret",
             "policies": [{"Statement": [
                {"Effect": "Allow", "Action": "dynamodb:UpdateTable",
                 "Resource": format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/credential-store")},
                {"Effect": "Allow", "Action": ["dynamodb:CreateTable", "dynamodb:CreateTableReplica"],
                 "Resource": format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/credential-store")}]}]},
            {"name": "app1-writer", "access_key_id": "AKIAWRITER1", "secret_access_key": "writer1-secret",
             "policies": [{"Statement": {"Sid": "SealApp1", "Effect": "Allow",
                "Action": "kms:GenerateDataKey", "Resource": "arn:aws:kms:*:*:key/*",
                "Condition": {"StringLike": {"kms:EncryptionContext:lockbox-name": "app1/*"}}}}]}
        ],
        "roles": [
            {"name": "app1-reader",
             "trust": {"users": ["admin"], "web_identity": true, "container_token": "container-secret"},
             "policies": app1_reader}
        ]
    })
}

struct Strict {
    mock: lockbox_mock::RunningMock,
    audit: PathBuf,
    _dir: tempfile::TempDir,
}

impl Strict {
    async fn start() -> Strict {
        Self::start_with(|c| c).await
    }

    async fn start_with(f: impl FnOnce(lockbox_mock::Config) -> lockbox_mock::Config) -> Strict {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        let config = lockbox_mock::Config::builder()
            .iam_json(iam().to_string())
            .audit_log(&audit);
        let mock = lockbox_mock::start_with(f(config)).await.expect("start");
        Strict {
            mock,
            audit,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        self.mock.endpoint_url()
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    fn audit_text(&self) -> String {
        std::fs::read_to_string(&self.audit).unwrap_or_default()
    }
}

fn creds(akid: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials::new(akid, secret, token.map(str::to_owned), None, "test")
}

fn kms(endpoint: &str, c: Credentials) -> aws_sdk_kms::Client {
    kms_at(endpoint, c, None)
}

fn kms_at(endpoint: &str, c: Credentials, now: Option<SystemTime>) -> aws_sdk_kms::Client {
    let mut b = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(c)
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(
            aws_sdk_kms::config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(5)),
        );
    if let Some(t) = now {
        b = b.time_source(aws_smithy_async::time::StaticTimeSource::new(t));
    }
    aws_sdk_kms::Client::from_conf(b.build())
}

fn ddb(endpoint: &str, c: Credentials) -> aws_sdk_dynamodb::Client {
    ddb_in(endpoint, c, "us-east-1")
}

fn ddb_in(endpoint: &str, c: Credentials, region: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(region.to_owned()))
        .credentials_provider(c)
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn sts(endpoint: &str, c: Option<Credentials>) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http());
    if let Some(c) = c {
        b = b.credentials_provider(c);
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

fn admin() -> Credentials {
    creds("AKIAADMIN", "admin-secret", None)
}

/// A key with alias `alias/lockbox`, created by the admin.
async fn key(endpoint: &str) -> String {
    let admin = kms(endpoint, admin());
    let key = admin.create_key().send().await.expect("CreateKey");
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    admin
        .create_alias()
        .alias_name("alias/lockbox")
        .target_key_id(key.key_metadata().unwrap().key_id())
        .send()
        .await
        .expect("CreateAlias");
    arn
}

async fn encrypt(client: &aws_sdk_kms::Client, name: &str) -> Blob {
    client
        .encrypt()
        .key_id("alias/lockbox")
        .plaintext(Blob::new(CANARY))
        .encryption_context("lockbox-name", name)
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .unwrap()
}

fn code<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("not a service error")
        .to_owned()
}

fn message<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_static_user_is_allowed_what_its_policy_allows_and_nothing_else() {
    let m = Strict::start().await;
    let arn = key(&m.url()).await;
    let nobody = kms(&m.url(), creds("AKIANOBODY", "nobody-secret", None));
    let err = nobody
        .describe_key()
        .key_id("alias/lockbox")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // AWS's wording, naming the key the alias resolves to.
    assert_eq!(
        message(&err),
        format!(
            "User: arn:aws:iam::{ACCOUNT}:user/nobody is not authorized to perform: \
             kms:DescribeKey on resource: {arn} because no identity-based policy allows \
             the kms:DescribeKey action"
        )
    );
    let last = m.audit().pop().unwrap();
    assert_eq!(last["decision"], "deny");
    assert_eq!(
        last["principal"],
        format!("arn:aws:iam::{ACCOUNT}:user/nobody")
    );
    assert_eq!(last["action"], "kms:DescribeKey");
    assert_eq!(last["resource"], arn.as_str());
}

#[tokio::test]
async fn an_explicit_deny_wins_over_an_allow() {
    let m = Strict::start().await;
    key(&m.url()).await;
    let writer = kms(&m.url(), creds("AKIAWRITER", "writer-secret", None));
    let blob = encrypt(&writer, "app1/x").await;
    let err = writer
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("lockbox-name", "app1/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(
        message(&err).ends_with("with an explicit deny in an identity-based policy"),
        "{}",
        message(&err)
    );
    let last = m.audit().pop().unwrap();
    assert_eq!(last["decision"], "deny");
    assert_eq!(last["reason"], "explicit_deny");
    assert_eq!(last["statement"]["sid"], "NoDecrypt");
    assert_eq!(last["encryption_context"]["lockbox-name"], "app1/x");
}

#[tokio::test]
async fn encryption_context_conditions_decide_decrypt_and_aliases_resolve_to_key_arns() {
    let m = Strict::start().await;
    key(&m.url()).await;
    let app1 = kms(&m.url(), creds("AKIAAPP1", "app1-secret", None));
    // Allowed on `key/*` although the request names an alias: AWS authorizes the
    // key the alias resolves to.
    let mine = encrypt(&app1, "app1/x").await;
    let theirs = encrypt(&app1, "app2/db").await;
    let ok = app1
        .decrypt()
        .ciphertext_blob(mine)
        .encryption_context("lockbox-name", "app1/x")
        .send()
        .await
        .expect("app1/x is readable");
    assert_eq!(ok.plaintext.unwrap().as_ref(), CANARY.as_bytes());
    let err = app1
        .decrypt()
        .ciphertext_blob(theirs)
        .encryption_context("lockbox-name", "app2/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(message(&err).contains("kms:Decrypt"));
    let audit = m.audit();
    let decrypts: Vec<&Value> = audit
        .iter()
        .filter(|l| l["action"] == "kms:Decrypt")
        .collect();
    assert_eq!(decrypts.len(), 2);
    assert_eq!(decrypts[0]["decision"], "allow");
    assert_eq!(decrypts[0]["statement"]["sid"], "DecryptApp1");
    assert_eq!(decrypts[1]["decision"], "deny");
    assert_eq!(decrypts[1]["encryption_context"]["lockbox-name"], "app2/db");
    // Neither the plaintext nor its base64 reaches the audit log.
    let text = m.audit_text();
    assert!(!text.contains(CANARY));
    assert!(!text.contains("Q0FOQVJZ"));
}

/// AWS matches the context key of `kms:EncryptionContext:<key>` without regard to
/// case; a context holding two keys that differ only in case (`lockbox-name` and
/// `LOCKBOX-NAME`) satisfies neither, so one cannot stand in for the other.
#[tokio::test]
async fn context_keys_differing_only_in_case_do_not_satisfy_a_condition() {
    let m = Strict::start().await;
    key(&m.url()).await;
    let writer = kms(&m.url(), creds("AKIAWRITER1", "writer1-secret", None));
    let generate = |pairs: &[(&str, &str)]| {
        let mut request = writer
            .generate_data_key()
            .key_id("alias/lockbox")
            .number_of_bytes(32);
        for (k, v) in pairs {
            request = request.encryption_context(*k, *v);
        }
        request.send()
    };
    generate(&[("lockbox-name", "app1/x")])
        .await
        .expect("app1/x may be sealed");
    generate(&[("LOCKBOX-NAME", "app1/x")])
        .await
        .expect("the key name's case does not matter, as in AWS");
    for pairs in [
        [("lockbox-name", "app2/db"), ("LOCKBOX-NAME", "app1/x")],
        [("lockbox-name", "app1/x"), ("LOCKBOX-NAME", "app2/db")],
    ] {
        let err = generate(&pairs).await.unwrap_err();
        assert_eq!(code(&err), "AccessDeniedException", "{pairs:?}");
    }
}

#[tokio::test]
async fn leading_keys_conditions_decide_item_access() {
    let m = Strict::start().await;
    let admin = ddb(&m.url(), admin());
    create_credstash_table(&admin, "credential-store").await;
    let item = |name: &str| {
        [
            ("name".to_owned(), AttributeValue::S(name.to_owned())),
            (
                "version".to_owned(),
                AttributeValue::S("0000000000000000001".to_owned()),
            ),
            ("contents".to_owned(), AttributeValue::S(CANARY.to_owned())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    for n in ["app1/x", "app2/db"] {
        admin
            .put_item()
            .table_name("credential-store")
            .set_item(Some(item(n)))
            .send()
            .await
            .expect("admin PutItem");
    }
    let app1 = ddb(&m.url(), creds("AKIAAPP1", "app1-secret", None));
    let get = |n: &str| {
        app1.get_item()
            .table_name("credential-store")
            .key("name", AttributeValue::S(n.to_owned()))
            .key(
                "version",
                AttributeValue::S("0000000000000000001".to_owned()),
            )
            .send()
    };
    assert!(get("app1/x").await.expect("GetItem app1").item.is_some());
    let err = get("app2/db").await.unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException")
    );
    let query = |n: &str| {
        app1.query()
            .table_name("credential-store")
            .key_condition_expression("#n = :n")
            .expression_attribute_names("#n", "name")
            .expression_attribute_values(":n", AttributeValue::S(n.to_owned()))
            .send()
    };
    assert_eq!(query("app1/x").await.expect("Query app1").count, 1);
    assert!(query("app2/db").await.is_err());
    app1.put_item()
        .table_name("credential-store")
        .set_item(Some(item("app1/new")))
        .send()
        .await
        .expect("PutItem app1");
    let err = app1
        .put_item()
        .table_name("credential-store")
        .set_item(Some(item("app2/new")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException")
    );
    let audit = m.audit();
    let denied: Vec<&Value> = audit.iter().filter(|l| l["decision"] == "deny").collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
    for d in &denied {
        assert_eq!(
            d["leading_keys"][0].as_str().unwrap().get(..5),
            Some("app2/")
        );
    }
    assert!(!m.audit_text().contains(CANARY));
}

#[tokio::test]
async fn authentication_failures_answer_like_aws_and_are_not_retried() {
    let m = Strict::start().await;
    key(&m.url()).await;
    let before = m.audit().len();

    // Unsigned.
    let (status, body) = http(
        &m.url(),
        "POST",
        "/",
        &[
            ("X-Amz-Target", "TrentService.ListKeys"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(status, 400);
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );

    // Unknown key.
    let err = kms(&m.url(), creds("AKIAUNKNOWN", "x", None))
        .list_keys()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnrecognizedClientException");
    assert_eq!(
        message(&err),
        "The security token included in the request is invalid."
    );

    // Known key, wrong secret: the signature does not match.
    let err = kms(&m.url(), creds("AKIAADMIN", "not-the-secret", None))
        .list_keys()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");

    // Signed 20 minutes in the past.
    let past = SystemTime::now() - Duration::from_secs(20 * 60);
    let headers = aws_sigv4_request(&m.url(), "{}", past);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = http(&m.url(), "POST", "/", &headers, "{}").await.unwrap();
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "InvalidSignatureException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired:"),
        "{body}"
    );

    // DynamoDB frames them in AWS's common namespace; the SDK still classifies them.
    let err = ddb(&m.url(), creds("AKIAUNKNOWN", "x", None))
        .list_tables()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("UnrecognizedClientException")
    );

    // One audit line per call: the SDK (4 attempts allowed) retried none of them.
    let failures: Vec<Value> = m.audit().split_off(before);
    let codes: Vec<&str> = failures
        .iter()
        .map(|l| l["error"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "MissingAuthenticationTokenException",
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "InvalidSignatureException",
            "UnrecognizedClientException"
        ]
    );
    assert!(failures.iter().all(|l| l["decision"] == "deny"));
}

#[tokio::test]
async fn a_skewed_sdk_is_refused_once_then_corrects_its_clock_from_the_date_header() {
    let m = Strict::start().await;
    // The SDK treats InvalidSignatureException with a measured skew (from our `Date`
    // header) as a clock problem and retries once with a corrected clock, as it does
    // against AWS.
    let past = SystemTime::now() - Duration::from_secs(20 * 60);
    kms_at(&m.url(), admin(), Some(past))
        .list_keys()
        .send()
        .await
        .expect("the retry with the corrected clock succeeds");
    let audit = m.audit();
    let outcomes: Vec<(&str, &str)> = audit
        .iter()
        .map(|l| {
            (
                l["decision"].as_str().unwrap(),
                l["error"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("deny", "InvalidSignatureException"), ("allow", "-")]
    );
}

#[tokio::test]
async fn a_clock_skew_fault_moves_the_signature_check_and_the_date_header() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let m = Strict::start().await;
    let url = m.url();
    common::add_fault(&url, r#"{"target":"kms:*","clock_skew_s":1200}"#).await;

    // The Date header of any answer reports the emulator's skewed clock.
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let date = response
        .lines()
        .find_map(|l| l.strip_prefix("date: "))
        .expect("a Date header");
    use aws_sdk_kms::primitives::{DateTime, DateTimeFormat};
    let server = DateTime::from_str(date, DateTimeFormat::HttpDate).unwrap();
    let ahead = server.secs() - DateTime::from(SystemTime::now()).secs();
    assert!((1190..=1210).contains(&ahead), "{date} is {ahead} s ahead");

    // A client with a true clock is refused once, measures the skew from that
    // answer's Date header and retries in step; its next call is in step at once.
    let before = m.audit().len();
    let client = kms(&url, admin());
    client.list_keys().send().await.expect("corrected retry");
    client.list_keys().send().await.expect("in step");
    let outcomes: Vec<String> = m.audit()[before..]
        .iter()
        .map(|l| format!("{} {}", l["decision"], l["error"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(
        outcomes,
        [
            r#""deny" InvalidSignatureException"#,
            r#""allow" -"#,
            r#""allow" -"#
        ]
    );
    assert_eq!(common::faults(&url).await["rules"][0]["fired"], 4);

    // DynamoDB is not targeted: its clock is true.
    let ddb = ddb(&url, admin());
    assert!(ddb.list_tables().send().await.is_ok());
    assert_eq!(common::faults(&url).await["rules"][0]["fired"], 4);
}

#[tokio::test]
async fn a_tampered_request_fails_the_signature_check() {
    let m = Strict::start().await;
    // Sign a request, then change its body on the way.
    let signed = aws_sigv4_request(&m.url(), "{}", SystemTime::now());
    let tampered_body = r#"{"Limit":1}"#;
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.retain(|(k, _)| *k != "content-length");
    let (status, body) = http(&m.url(), "POST", "/", &headers, tampered_body)
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("InvalidSignatureException"), "{body}");
    // The untampered one passes.
    let (status, body) = http(&m.url(), "POST", "/", &headers, "{}").await.unwrap();
    assert_eq!(status, 200, "{body}");
}

/// Headers of a ListKeys request signed by the admin with aws-sigv4.
fn aws_sigv4_request(endpoint: &str, body: &str, at: SystemTime) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let identity = admin().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kms")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let base = vec![
        ("host".to_owned(), host),
        (
            "x-amz-target".to_owned(),
            "TrentService.ListKeys".to_owned(),
        ),
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
    ];
    let request = SignableRequest::new(
        "POST",
        format!("{endpoint}/"),
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut out: Vec<(String, String)> = base.into_iter().filter(|(k, _)| k != "host").collect();
    for (k, v) in instructions.headers() {
        out.push((k.to_owned(), v.to_owned()));
    }
    out
}

#[tokio::test]
async fn assume_role_gives_the_role_s_permissions_and_expired_sessions_are_refused() {
    let m = Strict::start_with(|c| c.credential_ttl(Duration::from_secs(2))).await;
    key(&m.url()).await;
    let out = sts(&m.url(), Some(admin()))
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/app1-reader"))
        .role_session_name("s1")
        .send()
        .await
        .expect("AssumeRole");
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let session = creds(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    let who = sts(&m.url(), Some(session.clone()))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app1-reader/s1").as_str())
    );
    let role = kms(&m.url(), session.clone());
    let blob = encrypt(&role, "app1/x").await;
    let err = role.list_keys().send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(message(&err).contains("assumed-role/app1-reader/s1"));

    // A session token is required with temporary keys.
    let err = kms(
        &m.url(),
        creds(c.access_key_id(), c.secret_access_key(), None),
    )
    .list_keys()
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(&err), "UnrecognizedClientException");

    // Users the role does not trust cannot assume it.
    let err = sts(&m.url(), Some(creds("AKIANOBODY", "nobody-secret", None)))
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/app1-reader"))
        .role_session_name("s2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDenied")
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = m.audit().len();
    let err = role
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("lockbox-name", "app1/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ExpiredTokenException");
    assert_eq!(m.audit().len(), before + 1, "not retried");
}

#[tokio::test]
async fn web_identity_tokens_from_issue_token_assume_their_role() {
    let dir = tempfile::tempdir().unwrap();
    let iam_file = dir.path().join("iam.json");
    std::fs::write(&iam_file, iam().to_string()).unwrap();
    let mock = MockProcess::spawn(&["--iam".as_ref(), iam_file.as_os_str()]).expect("spawn");
    let token_file = dir.path().join("token");
    let status = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
        .args(["issue-token", "--role", "app1-reader", "--out"])
        .arg(&token_file)
        .arg("--iam")
        .arg(&iam_file)
        .env_clear()
        .status()
        .unwrap();
    assert!(status.success());
    let token = std::fs::read_to_string(&token_file).unwrap();
    let client = sts(&mock.endpoint, None);
    let out = client
        .assume_role_with_web_identity()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/app1-reader"))
        .role_session_name("pod")
        .web_identity_token(&token)
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity");
    let c = out.credentials().unwrap();
    let who = sts(
        &mock.endpoint,
        Some(creds(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )),
    )
    .get_caller_identity()
    .send()
    .await
    .expect("GetCallerIdentity");
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app1-reader/pod").as_str())
    );
    // A token that is not from the issuer is refused.
    let err = client
        .assume_role_with_web_identity()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/app1-reader"))
        .role_session_name("pod")
        .web_identity_token(format!("{token}x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidIdentityToken")
    );
}

/// The `whoami` helper (`src/bin/whoami.rs`), built by `cargo test` with the tests.
fn whoami() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_whoami"))
}

/// Runs `whoami` with only `env` (plus an empty HOME), returning (success, stdout, stderr).
fn run_whoami(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(whoami());
    cmd.args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_REGION", "us-east-1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run whoami");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn spawn_strict(dir: &Path, extra: &[&str]) -> (MockProcess, PathBuf) {
    let iam_file = dir.join("iam.json");
    std::fs::write(&iam_file, iam().to_string()).unwrap();
    let audit = dir.join("audit.log");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--iam".as_ref(),
        iam_file.as_os_str(),
        "--audit-log".as_ref(),
        audit.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    (MockProcess::spawn(&args).expect("spawn"), audit)
}

#[test]
fn the_default_chain_in_a_child_uses_container_credentials_and_refreshes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, audit) = spawn_strict(dir.path(), &["--credential-ttl", "3"]);
    let uri = format!("{}/_mock/container-credentials/app1-reader", mock.endpoint);
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret"),
        ("AWS_ENDPOINT_URL", mock.endpoint.as_str()),
    ];
    // Two calls 3.5 s apart: the first credentials have expired by the second.
    let (ok, stdout, stderr) = run_whoami(&["2", "3500"], &env);
    assert!(ok, "{stderr}");
    let want = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app1-reader/container");
    let arns: Vec<&str> = stdout.lines().collect();
    assert_eq!(arns, [want.as_str(), want.as_str()]);
    let log = std::fs::read_to_string(&audit).unwrap();
    let issued = log
        .lines()
        .filter(|l| l.contains("\"reason\":\"trusted\""))
        .count();
    assert!(issued >= 2, "credentials were not refreshed:\n{log}");

    // The wrong token gets nothing.
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong"),
        ("AWS_ENDPOINT_URL", mock.endpoint.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let (ok, _, _) = run_whoami(&[], &env);
    assert!(!ok);
}

#[test]
fn the_default_chain_in_a_child_uses_imdsv2() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _audit) = spawn_strict(dir.path(), &[]);
    let env = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", mock.endpoint.as_str()),
        ("AWS_ENDPOINT_URL", mock.endpoint.as_str()),
    ];
    let (ok, stdout, stderr) = run_whoami(&[], &env);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app1-reader/i-0123456789abcdef0")
    );
}

#[tokio::test]
async fn imds_requires_a_session_token() {
    let m = Strict::start().await;
    let (status, _) = http(
        &m.url(),
        "GET",
        "/latest/meta-data/iam/security-credentials/",
        &[],
        "",
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
    let (status, _) = http(&m.url(), "PUT", "/latest/api/token", &[], "")
        .await
        .unwrap();
    assert_eq!(status, 400, "the TTL header is required");
}

#[tokio::test]
async fn open_mode_has_no_credential_endpoints() {
    let mock = lockbox_mock::start().await.unwrap();
    let (status, _) = http(
        &mock.endpoint_url(),
        "GET",
        "/_mock/container-credentials/app1-reader",
        &[],
        "",
    )
    .await
    .unwrap();
    assert_eq!(status, 404);
}

#[test]
fn the_default_chain_in_a_child_uses_a_web_identity_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _audit) = spawn_strict(dir.path(), &[]);
    let token_file = dir.path().join("token");
    let status = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
        .args(["issue-token", "--role", "app1-reader", "--out"])
        .arg(&token_file)
        .arg("--iam")
        .arg(dir.path().join("iam.json"))
        .env_clear()
        .status()
        .unwrap();
    assert!(status.success());
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/app1-reader");
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AWS_ROLE_ARN", role_arn.as_str()),
        ("AWS_ROLE_SESSION_NAME", "pod-1"),
        ("AWS_ENDPOINT_URL", mock.endpoint.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let (ok, stdout, stderr) = run_whoami(&[], &env);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app1-reader/pod-1")
    );
}

#[test]
fn debug_output_shows_no_secret_keys() {
    let config = lockbox_mock::Config::builder().iam_json(iam().to_string());
    let shown = format!("{config:?}");
    assert!(!shown.contains("admin-secret"), "{shown}");
    assert!(!shown.contains("container-secret"), "{shown}");
    let state = lockbox_mock::MockState::new(config).unwrap();
    let shown = format!("{state:?}");
    assert!(!shown.contains("admin-secret"), "{shown}");
    assert!(!shown.contains("container-secret"), "{shown}");
}

#[tokio::test]
async fn data_keys_and_plaintexts_never_reach_the_audit_log() {
    let m = Strict::start().await;
    key(&m.url()).await;
    let admin = kms(&m.url(), admin());
    let out = admin
        .generate_data_key()
        .key_id("alias/lockbox")
        .number_of_bytes(64)
        .encryption_context("lockbox-name", "app1/x")
        .send()
        .await
        .expect("GenerateDataKey");
    use base64::Engine as _;
    let plaintext = base64::engine::general_purpose::STANDARD.encode(out.plaintext.unwrap());
    let blob = base64::engine::general_purpose::STANDARD.encode(out.ciphertext_blob.unwrap());
    let text = m.audit_text();
    assert!(text.contains("kms:GenerateDataKey"));
    assert!(!text.contains(&plaintext[..24]));
    assert!(!text.contains(&blob[..24]));
}

#[tokio::test]
async fn sts_answers_authentication_errors_in_the_query_protocol() {
    let m = Strict::start().await;
    let (status, body) = http(
        &m.url(),
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await
    .unwrap();
    assert_eq!(status, 403);
    assert!(
        body.contains("<Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code>"),
        "{body}"
    );
    let err = sts(&m.url(), Some(creds("AKIAUNKNOWN", "x", None)))
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidClientTokenId")
    );
    let who = sts(&m.url(), Some(admin()))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/admin").as_str())
    );
    assert_eq!(who.account(), Some(ACCOUNT));
}

#[tokio::test]
async fn expired_or_foreign_web_identity_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let iam_file = dir.path().join("iam.json");
    std::fs::write(&iam_file, iam().to_string()).unwrap();
    let mock = lockbox_mock::start_with(lockbox_mock::Config::builder().iam(&iam_file))
        .await
        .unwrap();
    let client = sts(&mock.endpoint_url(), None);
    let assume = |token: String| {
        client
            .assume_role_with_web_identity()
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/app1-reader"))
            .role_session_name("pod")
            .web_identity_token(token)
            .send()
    };
    let expired =
        lockbox_mock::issue_token(&iam_file, "app1-reader", "sub", Duration::ZERO).unwrap();
    let err = assume(expired).await.unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("ExpiredTokenException")
    );
    // A token from an emulator with another identity file is not ours.
    let other = dir.path().join("other.json");
    let mut doc = iam();
    doc["issuer_secret"] = json!("another issuer");
    std::fs::write(&other, doc.to_string()).unwrap();
    let foreign =
        lockbox_mock::issue_token(&other, "app1-reader", "sub", Duration::from_secs(60)).unwrap();
    let err = assume(foreign).await.unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidIdentityToken")
    );
    let good = lockbox_mock::issue_token(&iam_file, "app1-reader", "sub", Duration::from_secs(60))
        .unwrap();
    assume(good)
        .await
        .expect("a fresh token from our issuer works");
}

#[test]
fn the_binary_says_which_mode_it_is_in() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let iam_file = dir.path().join("iam.json");
    std::fs::write(&iam_file, iam().to_string()).unwrap();
    let stderr_of = |args: &[&std::ffi::OsStr]| {
        let mut mock = MockProcess::spawn_logging(args, "info").expect("spawn");
        // The mode is logged right after the URL line.
        std::thread::sleep(Duration::from_millis(200));
        let _ = mock.child.kill();
        let _ = mock.child.wait();
        let mut text = String::new();
        mock.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    assert!(stderr_of(&[]).contains("open mode"));
    let strict = stderr_of(&["--iam".as_ref(), iam_file.as_os_str()]);
    assert!(strict.contains("strict mode"), "{strict}");
    // A broken identity file stops the start-up with a reason.
    std::fs::write(&iam_file, r#"{"users": [{"name": "x"}]}"#).unwrap();
    let err = MockProcess::spawn(&["--iam".as_ref(), iam_file.as_os_str()])
        .err()
        .expect("refused");
    assert!(err.contains("not a valid identity file"), "{err}");
}

/// Form bodies that are not well-formed (a `%` escape cut short, followed by a
/// multi-byte character, or by nothing) get STS's error answer, in open and in
/// strict mode; the connection is never dropped.
#[tokio::test]
async fn malformed_sts_form_bodies_get_an_error_answer() {
    let bodies = [
        "Action=%a\u{e9}",
        "Action=%\u{e9}",
        "Action=%",
        "%",
        "Action=GetCallerIdentity%",
        "=&&=%G0&\u{1f600}%e2%82",
    ];
    let open = lockbox_mock::start().await.expect("start");
    let strict = Strict::start().await;
    for (mode, url) in [("open", open.endpoint_url()), ("strict", strict.url())] {
        for body in bodies {
            let (status, text) = http(
                &url,
                "POST",
                "/",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                body,
            )
            .await
            .unwrap_or_else(|| panic!("{mode}: {body:?}: the connection was dropped"));
            let want = if mode == "open" { 400 } else { 403 };
            assert_eq!(status, want, "{mode}: {body:?}: {text}");
            assert!(
                text.starts_with("<ErrorResponse") && text.contains("<Code>"),
                "{mode}: {body:?}: {text}"
            );
        }
    }
    // The server still answers afterwards.
    let (status, _) = http(&open.endpoint_url(), "GET", "/_mock/health", &[], "")
        .await
        .expect("answer");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_table_policy_names_one_region_s_table() {
    // app1 may read credential-store in us-east-1 only: the same table name in
    // another region is another resource.
    let m = Strict::start().await;
    let app1 = creds("AKIAAPP1", "app1-secret", None);
    for region in ["us-east-1", "eu-west-1"] {
        crate::common::create_credstash_table(
            &ddb_in(&m.url(), admin(), region),
            "credential-store",
        )
        .await;
    }
    let get = |region: &'static str| {
        let client = ddb_in(&m.url(), app1.clone(), region);
        async move {
            client
                .get_item()
                .table_name("credential-store")
                .key(
                    "name",
                    aws_sdk_dynamodb::types::AttributeValue::S("app1/db".into()),
                )
                .key(
                    "version",
                    aws_sdk_dynamodb::types::AttributeValue::S("1".into()),
                )
                .send()
                .await
        }
    };
    get("us-east-1").await.unwrap();
    let err = get("eu-west-1").await.unwrap_err().into_service_error();
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let last = m.audit().pop().unwrap();
    assert_eq!(
        last["resource"],
        format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/credential-store")
    );
    // The allowed table's ARN as TableName in a request signed for eu-west-1
    // runs on eu-west-1's table, and is checked as that table: refused.
    let err = ddb_in(&m.url(), app1.clone(), "eu-west-1")
        .get_item()
        .table_name(format!(
            "arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/credential-store"
        ))
        .key(
            "name",
            aws_sdk_dynamodb::types::AttributeValue::S("app1/db".into()),
        )
        .key(
            "version",
            aws_sdk_dynamodb::types::AttributeValue::S("1".into()),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let last = m.audit().pop().unwrap();
    assert_eq!(
        last["resource"],
        format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/credential-store")
    );
}

#[tokio::test]
async fn replica_changes_need_the_replica_actions_on_the_target_region_s_table() {
    use crate::common::replica_create as create;
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    use aws_sdk_dynamodb::types::ReplicationGroupUpdate;
    let m = Strict::start().await;
    crate::common::create_credstash_table(&ddb(&m.url(), admin()), "credential-store").await;
    let update = |who: Credentials, change: ReplicationGroupUpdate| {
        let client = ddb(&m.url(), who);
        async move {
            client
                .update_table()
                .table_name("credential-store")
                .replica_updates(change)
                .send()
                .await
        }
    };
    let table_admin = creds("AKIATABLEADMIN", "table-admin-secret", None);
    let replicator = creds("AKIAREPLICATOR", "replicator-secret", None);

    // UpdateTable alone does not make a replica.
    let err = update(table_admin.clone(), create("eu-west-1"))
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let last = m.audit().pop().unwrap();
    assert_eq!(last["action"], "dynamodb:CreateTable");
    assert_eq!(
        last["resource"],
        format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/credential-store")
    );
    assert_eq!(
        ddb_in(&m.url(), admin(), "eu-west-1")
            .list_tables()
            .send()
            .await
            .unwrap()
            .table_names()
            .len(),
        0,
        "nothing made"
    );

    // The replica actions on eu-west-1's table allow it there, not elsewhere.
    let err = update(replicator.clone(), create("ap-south-1"))
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    update(replicator.clone(), create("eu-west-1"))
        .await
        .expect("allowed in eu-west-1");
    let actions: Vec<Value> = m
        .audit()
        .iter()
        .rev()
        .take(3)
        .map(|l| json!([l["action"], l["resource"], l["decision"]]))
        .collect();
    let arn = |r: &str| format!("arn:aws:dynamodb:{r}:{ACCOUNT}:table/credential-store");
    assert_eq!(
        actions,
        [
            json!(["dynamodb:CreateTableReplica", arn("eu-west-1"), "allow"]),
            json!(["dynamodb:CreateTable", arn("eu-west-1"), "allow"]),
            json!(["dynamodb:UpdateTable", arn("us-east-1"), "allow"]),
        ]
    );

    // Removing it takes DeleteTable and DeleteTableReplica there.
    let delete = crate::common::replica_delete("eu-west-1");
    let err = update(replicator, delete.clone())
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let last = m.audit().pop().unwrap();
    assert_eq!(last["action"], "dynamodb:DeleteTable");
    update(admin(), delete).await.expect("the admin may");
}
