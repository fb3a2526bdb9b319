//! Durability: acknowledged writes survive a restart and a `kill -9`; a damaged
//! journal stops the start-up with a clear error instead of an empty store.

use std::ffi::OsStr;
use std::fs;

use crate::common::{self, create_credstash_table, ddb_client, kms_client, MockProcess};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use lockbox_mock::{Config, StartError};

async fn key_with_alias(client: &aws_sdk_kms::Client, alias: &str) -> (String, Blob) {
    let key = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    client
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let blob = client
        .encrypt()
        .key_id(alias)
        .plaintext(Blob::new("kept"))
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    (key, blob)
}

async fn assert_still_there(client: &aws_sdk_kms::Client, alias: &str, key: &str, blob: Blob) {
    let meta = client.describe_key().key_id(alias).send().await.unwrap();
    assert_eq!(meta.key_metadata.unwrap().key_id, key);
    let out = client
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"kept");
}

#[tokio::test]
async fn state_survives_a_restart_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::builder().data_dir(dir.path());
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let client = kms_client(&mock.endpoint_url());
    let (key, blob) = key_with_alias(&client, "alias/kept").await;
    client.disable_key().key_id(&key).send().await.unwrap();
    client.enable_key().key_id(&key).send().await.unwrap();
    mock.shutdown().await;

    // Twice: the second start reads the journal compacted by the first.
    for _ in 0..2 {
        let mock = lockbox_mock::start_with(config()).await.unwrap();
        let client = kms_client(&mock.endpoint_url());
        assert_still_there(&client, "alias/kept", &key, blob.clone()).await;
        mock.shutdown().await;
    }
}

#[tokio::test]
async fn reset_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::builder().data_dir(dir.path());
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let url = mock.endpoint_url();
    key_with_alias(&kms_client(&url), "alias/gone").await;
    common::http(&url, "POST", "/_mock/reset", &[], "")
        .await
        .unwrap();
    mock.shutdown().await;
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let keys = kms_client(&mock.endpoint_url())
        .list_keys()
        .send()
        .await
        .unwrap();
    assert!(keys.keys().is_empty());
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let args = [OsStr::new("--data-dir"), dir.path().as_os_str()];
    let first = MockProcess::spawn(&args).expect("spawn");
    let client = kms_client(&first.endpoint);
    let (key, blob) = key_with_alias(&client, "alias/credstash").await;
    let ddb = ddb_client(&first.endpoint);
    create_credstash_table(&ddb, "credential-store").await;
    ddb.put_item()
        .table_name("credential-store")
        .item("name", AttributeValue::S("db".into()))
        .item("version", AttributeValue::S(format!("{:019}", 1)))
        .item("contents", AttributeValue::S("c2VjcmV0".into()))
        .send()
        .await
        .unwrap();
    first.kill9();

    let second = MockProcess::spawn(&args).expect("restart");
    let client = kms_client(&second.endpoint);
    assert_still_there(&client, "alias/credstash", &key, blob).await;
    let item = ddb_client(&second.endpoint)
        .get_item()
        .table_name("credential-store")
        .key("name", AttributeValue::S("db".into()))
        .key("version", AttributeValue::S(format!("{:019}", 1)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the acknowledged item survived kill -9");
    assert_eq!(item["contents"], AttributeValue::S("c2VjcmV0".into()));
}

#[tokio::test]
async fn a_damaged_journal_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let mock = lockbox_mock::start_with(Config::builder().data_dir(dir.path()))
        .await
        .unwrap();
    let client = kms_client(&mock.endpoint_url());
    key_with_alias(&client, "alias/a").await;
    key_with_alias(&client, "alias/b").await;
    mock.shutdown().await;

    let journal = dir.path().join("journal.log");
    let text = fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replacen("alias", "alibi", 1);
    fs::write(&journal, lines.join("\n") + "\n").unwrap();

    let err = lockbox_mock::start_with(Config::builder().data_dir(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::Store(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("journal.log is damaged at line 3"),
        "{message}"
    );

    let args = [OsStr::new("--data-dir"), dir.path().as_os_str()];
    let stderr = MockProcess::spawn(&args)
        .err()
        .expect("the binary refuses to start");
    assert!(stderr.contains("damaged at line 3"), "{stderr}");
}

#[tokio::test]
async fn a_torn_last_line_is_dropped_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mock = lockbox_mock::start_with(Config::builder().data_dir(dir.path()))
        .await
        .unwrap();
    let client = kms_client(&mock.endpoint_url());
    let (key, blob) = key_with_alias(&client, "alias/a").await;
    mock.shutdown().await;
    let journal = dir.path().join("journal.log");
    let mut bytes = fs::read(&journal).unwrap();
    bytes.extend_from_slice(b"0011223344556677 {\"s\":\"kms\",\"r\":{\"ty");
    fs::write(&journal, bytes).unwrap();

    let mock = lockbox_mock::start_with(Config::builder().data_dir(dir.path()))
        .await
        .unwrap();
    assert_still_there(&kms_client(&mock.endpoint_url()), "alias/a", &key, blob).await;
}

/// A shared emulator that cannot apply a record another emulator appended (one
/// from a newer version, say) has moved its journal offset past it: it refuses
/// every later operation, naming the remedy, rather than serve a store without it.
#[tokio::test]
async fn a_shared_emulator_that_cannot_apply_a_record_stops_serving() {
    use sha2::Digest as _;
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::builder().data_dir(dir.path()).shared();
    let a = lockbox_mock::start_with(config()).await.expect("first");
    let b = lockbox_mock::start_with(config()).await.expect("second");
    create_credstash_table(&ddb_client(&a.endpoint_url()), "shared-table").await;
    let ddb_b = ddb_client(&b.endpoint_url());
    ddb_b
        .describe_table()
        .table_name("shared-table")
        .send()
        .await
        .expect("b serves the shared store");
    // A well-formed record for a service this emulator does not know.
    let json = serde_json::json!({"s": "nonesuch", "r": {}}).to_string();
    let sum = hex::encode(&sha2::Sha256::digest(json.as_bytes())[..8]);
    fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("journal.log"))
        .unwrap()
        .write_all(format!("{sum} {json}\n").as_bytes())
        .unwrap();
    for _ in 0..2 {
        let err = ddb_b
            .describe_table()
            .table_name("shared-table")
            .send()
            .await
            .expect_err("refused");
        let text = format!("{:?}", err.into_service_error());
        assert!(text.contains("restart it"), "{text}");
        assert!(text.contains("nonesuch"), "{text}");
    }
}

/// Two emulators sharing one data dir (`Config::shared`, as each `lockbox --local`
/// process runs one) serve one store: what a client writes through one, a client
/// of the other reads at once, a key created by one decrypts through the other,
/// and after both stop the state is all there.
#[tokio::test]
async fn shared_emulators_serve_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::builder().data_dir(dir.path()).shared();
    let a = lockbox_mock::start_with(config()).await.expect("first");
    let b = lockbox_mock::start_with(config()).await.expect("second");
    let sole = lockbox_mock::start_with(Config::builder().data_dir(dir.path())).await;
    assert!(
        matches!(sole, Err(StartError::Store(_))),
        "an emulator that holds the dir alone cannot join shared ones"
    );
    let (ddb_a, ddb_b) = (ddb_client(&a.endpoint_url()), ddb_client(&b.endpoint_url()));
    create_credstash_table(&ddb_a, "shared-table").await;
    let (_, blob) = key_with_alias(&kms_client(&b.endpoint_url()), "alias/shared").await;
    for (i, client) in [&ddb_b, &ddb_a, &ddb_b].into_iter().enumerate() {
        client
            .put_item()
            .table_name("shared-table")
            .item("name", AttributeValue::S(format!("n{i}")))
            .item("version", AttributeValue::S("1".into()))
            .send()
            .await
            .expect("PutItem");
    }
    let plain = kms_client(&a.endpoint_url())
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("k", "v")
        .send()
        .await
        .expect("Decrypt through the other emulator");
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"kept");
    let count = |client: aws_sdk_dynamodb::Client| async move {
        client
            .scan()
            .table_name("shared-table")
            .send()
            .await
            .unwrap()
            .count
    };
    assert_eq!(count(ddb_a.clone()).await, 3);
    a.shutdown().await;
    b.shutdown().await;
    let again = lockbox_mock::start_with(config()).await.expect("restart");
    assert_eq!(count(ddb_client(&again.endpoint_url())).await, 3);
    again.shutdown().await;
}

/// Replication controls of an emulator sharing its data dir take their turn on
/// the journal like any write: a flush applies the queued copies durably, and
/// the other emulator sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_emulators_flush_replication_in_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        Config::builder()
            .data_dir(dir.path())
            .shared()
            .replication_lag(lockbox_mock::MAX_REPLICATION_LAG)
    };
    let a = lockbox_mock::start_with(config()).await.expect("first");
    let b = lockbox_mock::start_with(config()).await.expect("second");
    let east = ddb_client(&a.endpoint_url());
    global_table(&east, "global").await;
    put_value(&east, "global", "a", "1").await;
    let state = a.state().clone();
    let status = tokio::task::spawn_blocking(move || {
        assert_eq!(state.replication_status().pending, 1);
        state.pause_replication(false);
        state.flush_replication();
        state.replication_status()
    })
    .await
    .unwrap();
    assert_eq!(status.pending, 0);
    let west_b = common::ddb_client_in(&b.endpoint_url(), "eu-west-1");
    let items = west_b.scan().table_name("global").send().await.unwrap();
    assert_eq!(items.count, 1, "the copy, through the other emulator");
    a.shutdown().await;
    b.shutdown().await;
}

/// `name` in us-east-1, with a replica in eu-west-1.
async fn global_table(east: &aws_sdk_dynamodb::Client, name: &str) {
    create_credstash_table(east, name).await;
    east.update_table()
        .table_name(name)
        .replica_updates(crate::common::replica_create("eu-west-1"))
        .send()
        .await
        .unwrap();
}

async fn put_value(client: &aws_sdk_dynamodb::Client, table: &str, name: &str, value: &str) {
    client
        .put_item()
        .table_name(table)
        .item("name", AttributeValue::S(name.into()))
        .item("version", AttributeValue::S("1".into()))
        .item("contents", AttributeValue::S(value.into()))
        .send()
        .await
        .unwrap();
}

/// Each item of `table` as (name, contents), read consistently.
async fn values(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<(String, String)> {
    let out = client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let text = |i: &std::collections::HashMap<String, AttributeValue>, k: &str| {
        i.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let mut v: Vec<(String, String)> = out
        .items()
        .iter()
        .map(|i| (text(i, "name"), text(i, "contents")))
        .collect();
    v.sort();
    v
}

/// Runs a blocking replication control of `mock` off the async workers.
async fn replication<T: Send + 'static>(
    mock: &lockbox_mock::RunningMock,
    f: impl FnOnce(&lockbox_mock::MockState) -> T + Send + 'static,
) -> T {
    let state = mock.state().clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .unwrap()
}

/// Global-table copies still on their way are journaled with the writes: a
/// restart (and the compaction of the next one) delivers them, with last writer
/// wins decided by the journaled stamps, deleted items included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_on_their_way_survive_restarts_and_keep_last_writer_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        Config::builder()
            .data_dir(dir.path())
            .replication_lag(lockbox_mock::MAX_REPLICATION_LAG)
    };
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let (east, west) = (
        ddb_client(&mock.endpoint_url()),
        common::ddb_client_in(&mock.endpoint_url(), "eu-west-1"),
    );
    global_table(&east, "global").await;
    // "a": east first, then west; "b": east, then deleted in west; "c": east only.
    put_value(&east, "global", "a", "east").await;
    put_value(&west, "global", "a", "west").await;
    put_value(&east, "global", "b", "east").await;
    put_value(&west, "global", "b", "west").await;
    west.delete_item()
        .table_name("global")
        .key("name", AttributeValue::S("b".into()))
        .key("version", AttributeValue::S("1".into()))
        .send()
        .await
        .unwrap();
    put_value(&east, "global", "c", "east").await;
    let pending = replication(&mock, |s| s.replication_status().pending).await;
    assert_eq!(
        pending, 6,
        "each of the six writes owes the other region a copy"
    );
    mock.shutdown().await;

    // The first restart replays the writes, the second the compacted journal.
    for _ in 0..2 {
        let mock = lockbox_mock::start_with(config()).await.unwrap();
        assert_eq!(
            replication(&mock, |s| s.replication_status().pending).await,
            6
        );
        mock.shutdown().await;
    }
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let status = replication(&mock, |s| {
        s.flush_replication();
        s.replication_status()
    })
    .await;
    assert_eq!(status.pending, 0);
    let (east, west) = (
        ddb_client(&mock.endpoint_url()),
        common::ddb_client_in(&mock.endpoint_url(), "eu-west-1"),
    );
    let expected = vec![
        ("a".to_owned(), "west".to_owned()),
        ("c".to_owned(), "east".to_owned()),
    ];
    assert_eq!(values(&east, "global").await, expected);
    assert_eq!(values(&west, "global").await, expected);
    mock.shutdown().await;
    // Delivered copies stay delivered.
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    assert_eq!(
        replication(&mock, |s| s.replication_status().pending).await,
        0
    );
    mock.shutdown().await;
}

/// Emulators sharing a data dir share the copies on their way: one queues, the
/// other sees the copy owed and may deliver it, and the first then knows it
/// arrived, even after the first has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_emulators_share_the_copies_on_their_way() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        Config::builder()
            .data_dir(dir.path())
            .shared()
            .replication_lag(lockbox_mock::MAX_REPLICATION_LAG)
    };
    let a = lockbox_mock::start_with(config()).await.expect("first");
    let b = lockbox_mock::start_with(config()).await.expect("second");
    let east_a = ddb_client(&a.endpoint_url());
    global_table(&east_a, "global").await;
    put_value(&east_a, "global", "x", "1").await;
    put_value(&east_a, "global", "y", "1").await;
    assert_eq!(replication(&b, |s| s.replication_status().pending).await, 2);
    a.shutdown().await;
    let west_b = common::ddb_client_in(&b.endpoint_url(), "eu-west-1");
    assert_eq!(values(&west_b, "global").await, vec![]);
    let status = replication(&b, |s| {
        s.flush_replication();
        s.replication_status()
    })
    .await;
    assert_eq!(status.pending, 0);
    assert_eq!(values(&west_b, "global").await.len(), 2);
    let a = lockbox_mock::start_with(config()).await.expect("again");
    assert_eq!(replication(&a, |s| s.replication_status().pending).await, 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_global_tables_and_multi_region_keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config::builder().data_dir(dir.path());
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let url = mock.endpoint_url();
    mock.state()
        .set_replication_lag(std::time::Duration::ZERO, std::time::Duration::ZERO);
    let east = ddb_client(&url);
    let west = common::ddb_client_in(&url, "eu-west-1");
    create_credstash_table(&east, "global").await;
    east.update_table()
        .table_name("global")
        .replica_updates(crate::common::replica_create("eu-west-1"))
        .send()
        .await
        .unwrap();
    west.put_item()
        .table_name("global")
        .item("name", AttributeValue::S("a".into()))
        .item("version", AttributeValue::S("1".into()))
        .send()
        .await
        .unwrap();
    let kms_east = kms_client(&url);
    let key = kms_east
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms_east
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let blob = kms_east
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("kept"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    mock.shutdown().await;

    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let url = mock.endpoint_url();
    for client in [ddb_client(&url), common::ddb_client_in(&url, "eu-west-1")] {
        let table = client
            .describe_table()
            .table_name("global")
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert_eq!(table.global_table_version(), Some("2019.11.21"));
        assert_eq!(table.replicas().len(), 2);
        let item = client
            .get_item()
            .table_name("global")
            .key("name", AttributeValue::S("a".into()))
            .key("version", AttributeValue::S("1".into()))
            .send()
            .await
            .unwrap();
        assert!(item.item.is_some());
    }
    // Still one table per region: us-west-2 has none.
    let other = common::ddb_client_in(&url, "us-west-2");
    assert!(other
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .is_empty());
    let kms_west = common::kms_client_in(&url, "eu-west-1");
    let out = kms_west
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"kept");
    let meta = kms_west.describe_key().key_id(&key).send().await.unwrap();
    assert!(meta
        .key_metadata
        .unwrap()
        .multi_region_configuration
        .is_some());
}
