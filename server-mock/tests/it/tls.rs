//! TLS on request: the library and the binary make a CA and a server certificate
//! that clients trusting the CA accept, and that others refuse.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};

use crate::common::{python, venv};

/// A KMS client for `endpoint` that trusts only `ca_pem` (none: no CA at all).
fn kms_trusting(endpoint: &str, ca_pem: Option<&str>) -> aws_sdk_kms::Client {
    let mut trust = TrustStore::empty().with_native_roots(false);
    if let Some(pem) = ca_pem {
        trust = trust.with_pem_certificate(pem.as_bytes().to_vec());
    }
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "test-secret", None, None, "t"))
        .endpoint_url(endpoint)
        .http_client(http)
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test]
async fn a_client_trusting_the_generated_ca_is_served_and_others_are_refused() {
    let mock = lockbox_mock::start_with(lockbox_mock::Config::default().tls())
        .await
        .unwrap();
    let url = mock.endpoint_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = mock.ca_pem().expect("a generated CA").to_owned();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");

    let trusting = kms_trusting(&url, Some(&ca));
    let key = trusting.create_key().send().await.expect("served over TLS");
    assert!(key.key_metadata.is_some());
    // The name `localhost` is in the certificate too.
    let by_name = url.replace("127.0.0.1", "localhost");
    kms_trusting(&by_name, Some(&ca))
        .list_keys()
        .send()
        .await
        .expect("localhost is a name of the certificate");

    let err = kms_trusting(&url, None)
        .list_keys()
        .send()
        .await
        .expect_err("an unknown CA is refused");
    let text = format!("{:?}", err);
    assert!(text.contains("UnknownIssuer"), "{text}");

    // A plain HTTP client gets a TLS alert, no HTTP answer, and the server
    // keeps serving.
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut plain = tokio::net::TcpStream::connect(mock.local_addr())
            .await
            .unwrap();
        plain
            .write_all(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        plain.shutdown().await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), plain.read_to_end(&mut answer))
            .await
            .expect("the connection is closed");
        assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    }
    trusting.list_keys().send().await.expect("still serving");
    mock.shutdown().await;
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let mock =
        lockbox_mock::start_with(lockbox_mock::Config::default().tls_hosts(["wrong.example"]))
            .await
            .unwrap();
    let ca = mock.ca_pem().unwrap().to_owned();
    let err = kms_trusting(&mock.endpoint_url(), Some(&ca))
        .list_keys()
        .send()
        .await
        .expect_err("a certificate for another name is refused");
    let text = format!("{:?}", err);
    assert!(text.contains("NotValidForName"), "{text}");
}

#[tokio::test]
async fn a_given_certificate_and_key_are_served_and_bad_ones_are_clear_errors() {
    let pair = rcgen_pair();
    let mock = lockbox_mock::start_with(
        lockbox_mock::Config::default().tls_pem(pair.0.clone(), pair.1.clone()),
    )
    .await
    .unwrap();
    assert!(mock.ca_pem().is_none());
    kms_trusting(&mock.endpoint_url(), Some(&pair.0))
        .list_keys()
        .send()
        .await
        .expect("the given certificate is served");
    mock.shutdown().await;

    let err = lockbox_mock::start_with(
        lockbox_mock::Config::default().tls_pem(pair.0.clone(), b"not a key".to_vec()),
    )
    .await
    .expect_err("a key file without a key");
    assert!(err.to_string().contains("no usable private key"), "{err}");
    let err = lockbox_mock::start_with(
        lockbox_mock::Config::default().tls_pem(b"junk".to_vec(), pair.1.clone()),
    )
    .await
    .expect_err("a certificate file without a certificate");
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    assert!(!format!("{err:?}").contains("PRIVATE KEY"), "{err:?}");
}

/// A self-signed certificate for 127.0.0.1 and its key, both PEM, as an
/// operator would bring them.
fn rcgen_pair() -> (String, String) {
    let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (pair.cert.pem(), pair.signing_key.serialize_pem())
}

#[tokio::test]
async fn the_binary_prints_its_https_url_and_the_ca_file_and_removes_it_on_exit() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
        .args(["--listen", "127.0.0.1:0", "--tls"])
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let ca_line = lines.next().unwrap().unwrap();
    let mut guard = Killer(child);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let path = ca_line
        .strip_prefix("AWS_CA_BUNDLE=")
        .unwrap_or_else(|| panic!("{ca_line}"))
        .to_owned();
    let ca = std::fs::read_to_string(&path).unwrap();
    kms_trusting(&url, Some(&ca))
        .list_keys()
        .send()
        .await
        .expect("served with the CA the file holds");

    let child = &mut guard.0;
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
    assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
}

#[test]
fn the_binary_names_what_is_wrong_with_a_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CERTIFICATE"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--tls-cert needs --tls-key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_trusts_the_emulator_through_aws_ca_bundle() {
    let Some(venv) = venv() else { return };
    let mock = lockbox_mock::start_with(lockbox_mock::Config::default().tls())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, mock.ca_pem().unwrap()).unwrap();
    // Python's ssl module checks certificates strictly (VERIFY_X509_STRICT).
    let script = format!(
        r#"
import os
import boto3, botocore.exceptions
try:
    boto3.client("kms").list_keys()
    raise SystemExit("an unknown CA was trusted")
except botocore.exceptions.SSLError:
    pass
os.environ["AWS_CA_BUNDLE"] = {ca:?}
boto3.client("kms").create_key()
print("ok")
"#,
        ca = ca.display().to_string()
    );
    let url = mock.endpoint_url();
    let (ok, output) = tokio::task::spawn_blocking(move || python(&venv, &url, &script))
        .await
        .unwrap();
    assert!(ok, "{output}");
}

/// Kills the child when a test fails before it is stopped.
struct Killer(std::process::Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_works_through_the_delay_proxy_both_ways() {
    let mock = lockbox_mock::start_with(lockbox_mock::Config::default().tls())
        .await
        .unwrap();
    let ca = mock.ca_pem().unwrap().to_owned();
    let proxy = lockbox_mock::netmodel::DelayProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        mock.local_addr(),
        Duration::from_millis(2),
    )
    .unwrap();
    let url = format!("https://{}", proxy.local_addr());
    let kms = kms_trusting(&url, Some(&ca));
    // Several requests, on new and reused connections, each answered in full.
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    for _ in 0..3 {
        let described = kms.describe_key().key_id(&key).send().await.unwrap();
        assert_eq!(described.key_metadata.unwrap().key_id, key);
    }
    drop(proxy);
    mock.shutdown().await;
}

#[test]
fn the_delay_proxy_subcommand_refuses_a_bad_round_trip_time() {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
        .args(["delay-proxy", "--upstream", "127.0.0.1:9", "--rtt-ms", "-1"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--rtt-ms"), "{stderr}");
}
