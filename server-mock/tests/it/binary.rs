//! The `lockbox-mock` binary: URL on the first stdout line, health, and a clean
//! exit on SIGTERM.

use std::ffi::OsStr;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{http, kms_client, MockProcess};
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;

#[tokio::test]
async fn prints_its_url_serves_health_and_stops_on_sigterm() {
    let mut mock = MockProcess::spawn(&[]).expect("spawn");
    assert!(
        mock.endpoint.starts_with("http://127.0.0.1:"),
        "{}",
        mock.endpoint
    );
    let (status, body) = http(&mock.endpoint, "GET", "/_mock/health", &[], "")
        .await
        .expect("answer");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    sigterm(&mut mock).await;
}

/// Sends SIGTERM and waits for a successful exit.
async fn sigterm(mock: &mut MockProcess) {
    let killed = Command::new("kill")
        .args(["-TERM", &mock.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = mock.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
        .args(["--listen", &addr])
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

/// Review A7: a log that is not a terminal (a file, a pipe) has no colour codes.
#[tokio::test]
async fn the_log_has_no_colour_codes_off_a_terminal() {
    let mut mock = MockProcess::spawn_logging(&[], "info").expect("spawn");
    // Serving a request: it is up, its signal handler too.
    http(&mock.endpoint, "GET", "/_mock/health", &[], "")
        .await
        .expect("answer");
    sigterm(&mut mock).await;
    let mut log = String::new();
    std::io::Read::read_to_string(&mut mock.child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in the log: {log:?}");
}

#[tokio::test]
async fn no_plaintext_or_data_key_reaches_the_log_or_the_journal() {
    const CANARY: &str = "CANARY-plaintext-7c1e4b";
    let dir = tempfile::tempdir().unwrap();
    let args = [std::ffi::OsStr::new("--data-dir"), dir.path().as_os_str()];
    let mut mock = MockProcess::spawn_logging(&args, "trace").expect("spawn");
    let kms = kms_client(&mock.endpoint);
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(CANARY))
        .encryption_context("name", "db")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("name", "db")
        .send()
        .await
        .unwrap();
    kms.decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err();
    let data_key = kms
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(64)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    sigterm(&mut mock).await;

    let mut log = String::new();
    std::io::Read::read_to_string(&mut mock.child.stderr.take().unwrap(), &mut log).unwrap();
    let journal = std::fs::read_to_string(dir.path().join("journal.log")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let data_key_b64 = b64.encode(data_key.as_ref());
    let data_key_hex = hex::encode(data_key.as_ref());
    for (what, text) in [("log", &log), ("journal", &journal)] {
        for needle in [CANARY, &b64.encode(CANARY), &data_key_b64, &data_key_hex] {
            assert!(!text.contains(needle), "{what} contains secret material");
        }
    }
    assert!(
        log.contains("open mode"),
        "the log says the emulator is in open mode"
    );
}

/// `--replication-lag-ms` and `--replication-jitter-ms` set what
/// `/_mock/replication` shows; a lag beyond a day is refused at start-up.
#[tokio::test]
async fn replication_lag_flags_set_the_lag_and_are_bounded() {
    let default = MockProcess::spawn(&[]).expect("spawn");
    let (_, body) = http(&default.endpoint, "GET", "/_mock/replication", &[], "")
        .await
        .expect("answer");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status["lag_ms"].as_u64(), status["jitter_ms"].as_u64()),
        (Some(1000), Some(0))
    );
    drop(default);

    let set = [
        "--replication-lag-ms",
        "0",
        "--replication-jitter-ms",
        "250",
    ]
    .map(OsStr::new);
    let mock = MockProcess::spawn(&set).expect("spawn");
    let (_, body) = http(&mock.endpoint, "GET", "/_mock/replication", &[], "")
        .await
        .expect("answer");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status["lag_ms"].as_u64(), status["jitter_ms"].as_u64()),
        (Some(0), Some(250))
    );
    drop(mock);

    for flag in ["--replication-lag-ms", "--replication-jitter-ms"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
            .args(["--listen", "127.0.0.1:0", flag, "86400001"])
            .env_clear()
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains("86400000"),
            "{stderr}"
        );
    }
}
