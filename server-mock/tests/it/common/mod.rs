//! Helpers shared by the emulator's integration tests: SDK clients pointed at an
//! emulator, a tiny raw HTTP client for `/_mock`, and a guard for spawned binaries.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A KMS client for `endpoint` signing for `region`, with fast retries.
pub fn kms_client_in(endpoint: &str, region: &str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            "AKIDLOCKBOXTEST",
            "test-secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// A KMS client for `endpoint` in `us-east-1`.
pub fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    kms_client_in(endpoint, "us-east-1")
}

/// A DynamoDB client for `endpoint` in `us-east-1`, with fast retries.
pub fn ddb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    ddb_client_in(endpoint, "us-east-1")
}

/// A DynamoDB client for `endpoint` signing for `region`, with fast retries.
pub fn ddb_client_in(endpoint: &str, region: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            "AKIDLOCKBOXTEST",
            "test-secret",
            None,
            None,
            "test",
        ))
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

/// Creates credstash's table (`name` HASH, `version` RANGE, both S).
pub async fn create_credstash_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .key_schema(key("name", KeyType::Hash))
        .key_schema(key("version", KeyType::Range))
        .attribute_definitions(attr("name"))
        .attribute_definitions(attr("version"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
}

/// One raw HTTP/1.1 exchange: `(status, body)`, or `None` if the server closed the
/// connection without answering.
pub async fn http(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    if response.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Adds a fault rule, panicking if the emulator refuses it.
pub async fn add_fault(endpoint: &str, rule: &str) {
    let (status, body) = http(endpoint, "POST", "/_mock/faults", &[], rule)
        .await
        .expect("answer");
    assert_eq!(status, 201, "{body}");
}

/// The current fault rules as JSON.
pub async fn faults(endpoint: &str) -> serde_json::Value {
    let (_, body) = http(endpoint, "GET", "/_mock/faults", &[], "")
        .await
        .expect("answer");
    serde_json::from_str(&body).expect("JSON")
}

/// The venv with the third-party clients (`LOCKBOX_TEST_VENV`), or `None` after
/// saying the test is skipped; panics if `LOCKBOX_REQUIRE_INTEROP=1` demands it.
pub fn venv() -> Option<std::path::PathBuf> {
    match std::env::var_os("LOCKBOX_TEST_VENV") {
        Some(dir) => Some(dir.into()),
        None if std::env::var("LOCKBOX_REQUIRE_INTEROP").as_deref() == Ok("1") => {
            panic!("LOCKBOX_REQUIRE_INTEROP=1 but LOCKBOX_TEST_VENV is unset: run scripts/test")
        }
        None => {
            eprintln!("skipping: LOCKBOX_TEST_VENV is unset (scripts/test sets it)");
            None
        }
    }
}

/// Runs `python -c script` from the venv with a clean AWS environment aimed at
/// `endpoint`; returns (success, stdout + stderr).
pub fn python(venv: &std::path::Path, endpoint: &str, script: &str) -> (bool, String) {
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(venv.join("bin").join("python"))
        .args(["-c", script])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A spawned `lockbox-mock` that is killed (SIGKILL) when dropped.
pub struct MockProcess {
    pub child: Child,
    pub endpoint: String,
}

impl MockProcess {
    /// Starts the binary on a free port with `args`, waiting for its URL line.
    pub fn spawn(args: &[&std::ffi::OsStr]) -> Result<MockProcess, String> {
        Self::spawn_logging(args, "warn")
    }

    /// Like [`MockProcess::spawn`], logging at `level` to its (piped) stderr.
    pub fn spawn_logging(args: &[&std::ffi::OsStr], level: &str) -> Result<MockProcess, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .env_clear()
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if !line.starts_with("http://") {
            let output = child.wait_with_output().map_err(|e| e.to_string())?;
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(MockProcess {
            child,
            endpoint: line.trim().to_owned(),
        })
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
