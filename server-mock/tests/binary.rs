//! The `lockbox-mock` binary: URL on the first stdout line, health, and a clean
//! exit on SIGTERM.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{http, MockProcess};

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
