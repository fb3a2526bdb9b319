//! The in-process hooks a test harness or the CLI uses instead of raw HTTP: a KMS
//! alias made sure of (`ensure_alias`), fault rules (`faults`), and an emulator on
//! its own thread (`spawn_thread`). What they do is what clients then see.

use std::io::{Read as _, Write as _};

use crate::common::{faults, kms_client, kms_client_in};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use lockbox_mock::{Config, FaultRule};

#[tokio::test]
async fn ensure_alias_creates_a_key_once_and_clients_use_it() {
    let mock = lockbox_mock::start().await.expect("start");
    let kms = kms_client(&mock.endpoint_url());
    let arn = mock.ensure_alias("alias/credstash").expect("ensure_alias");
    assert!(
        arn.starts_with("arn:aws:kms:us-east-1:000000000000:key/"),
        "{arn}"
    );
    assert_eq!(
        mock.ensure_alias("alias/credstash").unwrap(),
        arn,
        "only once"
    );
    let described = kms
        .describe_key()
        .key_id("alias/credstash")
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("metadata");
    assert_eq!(described.arn(), Some(arn.as_str()));
    let blob = kms
        .encrypt()
        .key_id("alias/credstash")
        .plaintext(Blob::new("x"))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("blob");
    assert!(!blob.as_ref().is_empty());
    assert_eq!(
        mock.state().key_arn_in("us-east-1", &arn),
        Some(arn.clone())
    );
    assert_eq!(
        mock.state().key_arn_in("us-east-1", "alias/credstash"),
        Some(arn.clone())
    );
    assert_eq!(mock.state().key_arn_in("us-east-1", "alias/none"), None);

    // An alias an existing key already has is kept, as clients made it.
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    kms.create_alias()
        .alias_name("alias/made")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(mock.ensure_alias("alias/made").unwrap(), key);

    // Keys belong to a region, as their aliases do.
    let west = mock
        .ensure_alias_in("eu-west-1", "alias/credstash")
        .expect("eu-west-1");
    assert!(west.starts_with("arn:aws:kms:eu-west-1:"), "{west}");
    assert_ne!(west, arn);
    let west_kms = kms_client_in(&mock.endpoint_url(), "eu-west-1");
    let described = west_kms
        .describe_key()
        .key_id("alias/credstash")
        .send()
        .await
        .unwrap();
    assert_eq!(described.key_metadata.unwrap().arn(), Some(west.as_str()));

    // Names AWS refuses are refused the same way.
    for (alias, code) in [
        ("credstash", "InvalidAliasNameException"),
        ("alias/aws/s3", "NotAuthorizedException"),
        ("alias/a b", "ValidationException"),
    ] {
        let err = mock.ensure_alias(alias).unwrap_err();
        assert_eq!(err.code, code, "{alias}");
    }
}

#[tokio::test]
async fn an_ensured_alias_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::builder().data_dir(dir.path());
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let arn = mock.ensure_alias("alias/kept").unwrap();
    mock.shutdown().await;
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    assert_eq!(
        mock.state().key_arn_in("us-east-1", "alias/kept"),
        Some(arn.clone())
    );
    assert_eq!(mock.ensure_alias("alias/kept").unwrap(), arn);
}

#[tokio::test]
async fn fault_rules_added_in_process_are_the_ones_http_lists() {
    let mock = lockbox_mock::start().await.expect("start");
    let url = mock.endpoint_url();
    let kms = kms_client(&url);
    mock.faults()
        .add(
            FaultRule::new("kms:ListKeys")
                .error("NotFoundException")
                .message("injected in process")
                .count(1),
        )
        .expect("a valid rule");
    let err = kms.list_keys().send().await.unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"));
    assert_eq!(err.message(), Some("injected in process"));
    kms.list_keys().send().await.expect("count used up");

    let listed = mock.faults().list();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].fired, listed[0].remaining), (1, Some(0)));
    let over_http = faults(&url).await;
    assert_eq!(over_http["rules"][0]["target"], "kms:ListKeys");
    assert_eq!(over_http["rules"][0]["fired"], 1);

    let refused = mock.faults().add(FaultRule::new("*").probability(2.0));
    assert_eq!(
        refused.unwrap_err().to_string(),
        "probability must be between 0 and 1"
    );
    mock.faults().clear();
    assert!(mock.faults().list().is_empty());
    assert_eq!(faults(&url).await["rules"], serde_json::json!([]));
}

/// `GET /_mock/health` over a plain blocking socket: no runtime needed.
fn health(endpoint: &str) -> std::io::Result<String> {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(
        stream,
        "GET /_mock/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn spawn_thread_serves_without_a_runtime_and_stops_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::builder().data_dir(dir.path());
    let mock = lockbox_mock::spawn_thread(config()).expect("spawn_thread");
    let endpoint = mock.endpoint_url();
    assert!(health(&endpoint).unwrap().starts_with("HTTP/1.1 200"));
    let arn = mock.ensure_alias("alias/credstash").unwrap();
    mock.faults()
        .add(FaultRule::new("*").latency_ms(1))
        .unwrap();
    assert_eq!(mock.faults().list().len(), 1);
    drop(mock);
    // Stopped, and its data dir released: a new emulator may take it at once.
    assert!(health(&endpoint).is_err(), "still answering after drop");
    let again = lockbox_mock::spawn_thread(config()).expect("the data dir is free");
    assert_eq!(
        again.state().key_arn_in("us-east-1", "alias/credstash"),
        Some(arn)
    );
    assert!(
        again.faults().list().is_empty(),
        "fault rules are not state"
    );
    // A second emulator on a data dir in use is refused, as with start_with.
    let err = lockbox_mock::spawn_thread(config()).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
}
