//! Several regions through the real AWS SDK clients: tables per region, global
//! tables in both consistency modes with their replication and validation
//! errors, multi-Region KMS keys, and a region taken down by a fault rule.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, MultiRegionConsistency, Put, ReplicaStatus, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_kms::primitives::Blob;
use lockbox_mock::FaultRule;

use crate::common::{
    create_credstash_table, ddb_client_in, kms_client_in, replica_create, replica_delete,
};

const TABLE: &str = "credential-store";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

async fn put(c: &Client, name: &str, version: &str, value: &str) -> Result<(), String> {
    c.put_item()
        .table_name(TABLE)
        .item("name", s(name))
        .item("version", s(version))
        .item("contents", s(value))
        .condition_expression("attribute_not_exists(#n)")
        .expression_attribute_names("#n", "name")
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error().code().unwrap_or("?").to_owned())
}

/// The `contents` of an item, read with `ConsistentRead`.
async fn get(c: &Client, name: &str, version: &str) -> Option<String> {
    let out = c
        .get_item()
        .table_name(TABLE)
        .key("name", s(name))
        .key("version", s(version))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem");
    out.item().map(|i| i["contents"].as_s().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_live_in_the_region_of_the_signature() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let east = ddb_client_in(&url, "us-east-1");
    let west = ddb_client_in(&url, "eu-west-1");
    create_credstash_table(&east, TABLE).await;
    let listed = west.list_tables().send().await.unwrap();
    assert!(listed.table_names().is_empty(), "{listed:?}");
    let err = west
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    // The same name in another region is another table.
    create_credstash_table(&west, TABLE).await;
    put(&east, "a", "1", "east").await.unwrap();
    assert_eq!(get(&west, "a", "1").await, None);
    put(&west, "a", "1", "west").await.unwrap();
    assert_eq!(get(&east, "a", "1").await.as_deref(), Some("east"));
    let arn = west
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn
        .unwrap();
    assert_eq!(
        arn,
        "arn:aws:dynamodb:eu-west-1:000000000000:table/credential-store"
    );
    // A table of one region says nothing about replicas.
    let table = east
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(table.global_table_version.is_none() && table.replicas.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_is_stale_until_the_replication_lag_passes() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let east = ddb_client_in(&url, "us-east-1");
    let west = ddb_client_in(&url, "eu-west-1");
    create_credstash_table(&east, TABLE).await;
    put(&east, "before", "1", "old").await.unwrap();
    let updated = east
        .update_table()
        .table_name(TABLE)
        .replica_updates(replica_create("eu-west-1"))
        .send()
        .await
        .unwrap()
        .table_description
        .unwrap();
    assert_eq!(updated.table_status().unwrap().as_str(), "UPDATING");
    let status = |t: &aws_sdk_dynamodb::types::TableDescription, region: &str| {
        t.replicas()
            .iter()
            .find(|r| r.region_name() == Some(region))
            .and_then(|r| r.replica_status().cloned())
    };
    assert_eq!(status(&updated, "eu-west-1"), Some(ReplicaStatus::Creating));
    assert_eq!(status(&updated, "us-east-1"), Some(ReplicaStatus::Active));
    for client in [&east, &west] {
        let table = client
            .describe_table()
            .table_name(TABLE)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert_eq!(table.global_table_version(), Some("2019.11.21"));
        assert_eq!(table.table_status().unwrap().as_str(), "ACTIVE");
        assert_eq!(
            table.multi_region_consistency(),
            Some(&MultiRegionConsistency::Eventual)
        );
        let replicas: Vec<_> = table
            .replicas()
            .iter()
            .map(|r| {
                (
                    r.region_name().unwrap(),
                    r.replica_status().unwrap().as_str(),
                )
            })
            .collect();
        // Every replica, the described one included.
        assert_eq!(
            replicas,
            vec![("eu-west-1", "ACTIVE"), ("us-east-1", "ACTIVE")]
        );
    }
    // The new replica starts with the table's items.
    assert_eq!(get(&west, "before", "1").await.as_deref(), Some("old"));

    mock.state().pause_replication(true);
    put(&east, "db", "1", "new").await.unwrap();
    assert_eq!(get(&east, "db", "1").await.as_deref(), Some("new"));
    assert_eq!(get(&west, "db", "1").await, None, "stale before the lag");
    assert_eq!(mock.state().replication_status().pending, 1);
    mock.state().pause_replication(false);
    mock.state().flush_replication();
    assert_eq!(get(&west, "db", "1").await.as_deref(), Some("new"));
    assert_eq!(mock.state().replication_status().pending, 0);

    // Deletes replicate too, both ways.
    west.delete_item()
        .table_name(TABLE)
        .key("name", s("db"))
        .key("version", s("1"))
        .send()
        .await
        .unwrap();
    mock.state().flush_replication();
    assert_eq!(get(&east, "db", "1").await, None);

    // With no lag, a copy is applied before the write is answered.
    mock.state()
        .set_replication_lag(Duration::ZERO, Duration::ZERO);
    put(&west, "fast", "1", "x").await.unwrap();
    assert_eq!(get(&east, "fast", "1").await.as_deref(), Some("x"));

    // Removing the replica leaves a table of one region.
    east.update_table()
        .table_name(TABLE)
        .replica_updates(replica_delete("eu-west-1"))
        .send()
        .await
        .unwrap();
    assert!(west
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .is_empty());
    let table = east
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(table.replicas.is_none(), "{table:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventual_mode_loses_one_of_two_regions_creating_the_same_version() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let east = ddb_client_in(&url, "us-east-1");
    let west = ddb_client_in(&url, "eu-west-1");
    create_credstash_table(&east, TABLE).await;
    east.update_table()
        .table_name(TABLE)
        .replica_updates(replica_create("eu-west-1"))
        .send()
        .await
        .unwrap();
    mock.state().pause_replication(true);
    // Each region checks `attribute_not_exists` against itself only: both succeed.
    put(&east, "db", "8", "from-east").await.unwrap();
    put(&west, "db", "8", "from-west").await.unwrap();
    mock.state().pause_replication(false);
    mock.state().flush_replication();
    // Last writer wins everywhere, silently.
    assert_eq!(get(&east, "db", "8").await.as_deref(), Some("from-west"));
    assert_eq!(get(&west, "db", "8").await.as_deref(), Some("from-west"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_updates_are_validated_as_aws_does() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let east = ddb_client_in(&url, "us-east-1");
    create_credstash_table(&east, TABLE).await;
    let fails =
        |request: aws_sdk_dynamodb::operation::update_table::builders::UpdateTableFluentBuilder| async move {
            let err = request.send().await.unwrap_err().into_service_error();
            (
                err.code().unwrap_or_default().to_owned(),
                err.message().unwrap_or_default().to_owned(),
            )
        };
    let base = || east.update_table().table_name(TABLE);
    let (code, message) = fails(base().replica_updates(replica_create("us-east-1"))).await;
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "Cannot add, delete, or update the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required."
    );
    let (code, message) =
        fails(base().multi_region_consistency(MultiRegionConsistency::Strong)).await;
    assert_eq!(code, "ValidationException");
    assert!(message.contains("Create action"), "{message}");
    let (code, message) = fails(
        base()
            .replica_updates(replica_create("us-east-2"))
            .multi_region_consistency(MultiRegionConsistency::Strong),
    )
    .await;
    assert_eq!(code, "ValidationException");
    assert!(message.contains("exactly three regions"), "{message}");
    let (_, message) = fails(
        base()
            .replica_updates(replica_create("us-east-2"))
            .replica_updates(replica_create("eu-west-1"))
            .multi_region_consistency(MultiRegionConsistency::Strong),
    )
    .await;
    assert!(message.contains("same region set"), "{message}");
    put(&east, "x", "1", "v").await.unwrap();
    let (_, message) = fails(
        base()
            .replica_updates(replica_create("us-east-2"))
            .replica_updates(replica_create("us-west-2"))
            .multi_region_consistency(MultiRegionConsistency::Strong),
    )
    .await;
    assert!(message.contains("must be empty"), "{message}");
    let (code, _) = fails(base().replica_updates(replica_delete("eu-west-1"))).await;
    assert_eq!(code, "ValidationException");
    let (code, _) = fails(
        east.update_table()
            .table_name("missing")
            .replica_updates(replica_create("eu-west-1")),
    )
    .await;
    assert_eq!(code, "ResourceNotFoundException");
    let (code, message) = fails(base()).await;
    assert_eq!(code, "ValidationException", "{message}");
    // A replica where a table of that name exists already.
    create_credstash_table(&ddb_client_in(&url, "eu-west-1"), TABLE).await;
    let (code, message) = fails(base().replica_updates(replica_create("eu-west-1"))).await;
    assert_eq!(code, "ValidationException");
    assert!(message.contains("already existed"), "{message}");
    // Bad input is refused with an answer, not a dropped connection.
    let (code, _) = fails(base().replica_updates(replica_create("not a region"))).await;
    assert_eq!(code, "ValidationException");
}

/// A table in `STRONG` mode across the three US regions.
async fn strong_table(url: &str) -> [Client; 3] {
    let regions = ["us-east-1", "us-east-2", "us-west-2"];
    let clients = regions.map(|r| ddb_client_in(url, r));
    create_credstash_table(&clients[0], TABLE).await;
    clients[0]
        .update_table()
        .table_name(TABLE)
        .replica_updates(replica_create("us-east-2"))
        .replica_updates(replica_create("us-west-2"))
        .multi_region_consistency(MultiRegionConsistency::Strong)
        .send()
        .await
        .unwrap();
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strong_mode_checks_conditions_against_every_region() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let [east, east2, west2] = strong_table(&url).await;
    let table = west2
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        table.multi_region_consistency(),
        Some(&MultiRegionConsistency::Strong)
    );
    assert_eq!(table.replicas().len(), 3);
    // Copied before the answer, even with replication paused.
    mock.state().pause_replication(true);
    put(&east, "db", "1", "a").await.unwrap();
    assert_eq!(get(&west2, "db", "1").await.as_deref(), Some("a"));
    assert_eq!(
        put(&east2, "db", "1", "b").await,
        Err("ConditionalCheckFailedException".to_owned())
    );
    let err = east2
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(TABLE)
                        .item("name", s("t"))
                        .item("version", s("1"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    // Replicas cannot be added later, nor the mode changed.
    let err = east
        .update_table()
        .table_name(TABLE)
        .replica_updates(replica_create("eu-west-1"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));

    // Writers in all three regions racing for versions: each version is
    // claimed once, none overwritten.
    let clients = Arc::new([east, east2, west2]);
    let mut tasks = Vec::new();
    for w in 0..6 {
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let c = &clients[w % 3];
            let mut mine = Vec::new();
            let mut next = 0u32;
            while mine.len() < 5 {
                let version = format!("{next:019}");
                match put(c, "race", &version, &format!("writer-{w}")).await {
                    Ok(()) => mine.push(version),
                    Err(code)
                        if code == "ConditionalCheckFailedException"
                            || code == "ReplicatedWriteConflictException" =>
                    {
                        next += 1
                    }
                    Err(code) => panic!("unexpected {code}"),
                }
            }
            (w, mine)
        }));
    }
    let mut claimed = BTreeMap::new();
    for t in tasks {
        let (w, mine) = t.await.unwrap();
        for v in mine {
            assert!(claimed.insert(v, w).is_none(), "a version claimed twice");
        }
    }
    assert_eq!(claimed.len(), 30);
    for c in clients.iter() {
        for (v, w) in &claimed {
            let got = get(c, "race", v).await;
            assert_eq!(got.as_deref(), Some(format!("writer-{w}").as_str()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_taken_down_answers_503_and_catches_up_when_back() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let east = ddb_client_in(&url, "us-east-1");
    let west = ddb_client_in(&url, "eu-west-1");
    let west_kms = kms_client_in(&url, "eu-west-1");
    create_credstash_table(&east, TABLE).await;
    east.update_table()
        .table_name(TABLE)
        .replica_updates(replica_create("eu-west-1"))
        .send()
        .await
        .unwrap();
    mock.state()
        .set_replication_lag(Duration::ZERO, Duration::ZERO);
    mock.faults()
        .add(
            FaultRule::new("*")
                .region("eu-west-1")
                .error("ServiceUnavailable"),
        )
        .unwrap();
    let err = west
        .get_item()
        .table_name(TABLE)
        .key("name", s("db"))
        .key("version", s("1"))
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(503));
    assert_eq!(err.into_service_error().code(), Some("ServiceUnavailable"));
    let err = west_kms.list_keys().send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    // The other region serves, and sees the replica as disabled.
    put(&east, "db", "1", "during").await.unwrap();
    let table = east
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let statuses: Vec<_> = table
        .replicas()
        .iter()
        .map(|r| {
            (
                r.region_name().unwrap(),
                r.replica_status().unwrap().as_str(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![("eu-west-1", "REGION_DISABLED"), ("us-east-1", "ACTIVE")]
    );
    // The copy waits for the region.
    mock.state().flush_replication();
    assert_eq!(mock.state().replication_status().pending, 1);
    mock.faults().clear();
    mock.state().flush_replication();
    assert_eq!(get(&west, "db", "1").await.as_deref(), Some("during"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_region_keys_decrypt_in_every_region_holding_a_replica() {
    use aws_sdk_kms::error::ProvideErrorMetadata as _;
    use aws_sdk_kms::types::MultiRegionKeyType;
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let east = kms_client_in(&url, "us-east-1");
    let west = kms_client_in(&url, "eu-west-1");
    let meta = east
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let id = meta.key_id().to_owned();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    assert_eq!(meta.multi_region(), Some(true));
    let config = meta.multi_region_configuration().unwrap();
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Primary)
    );
    let blob = east
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new("hi"))
        .encryption_context("store", "a/b")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let decrypt = |client: &aws_sdk_kms::Client| {
        client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("store", "a/b")
            .send()
    };
    // No replica in eu-west-1 yet.
    let err = decrypt(&west).await.unwrap_err().into_service_error();
    assert_eq!(err.code(), Some("InvalidCiphertextException"));
    let replica = east
        .replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap()
        .replica_key_metadata
        .unwrap();
    assert_eq!(
        replica.arn(),
        Some(format!("arn:aws:kms:eu-west-1:000000000000:key/{id}").as_str())
    );
    assert_eq!(replica.key_state().unwrap().as_str(), "Creating");
    let out = decrypt(&west).await.unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"hi");
    assert_eq!(out.key_id(), replica.arn());
    // The context still binds in the replica region.
    let err = west
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidCiphertextException"));
    // Pinned to the local replica: accepted; pinned to another region's ARN: refused.
    west.decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("store", "a/b")
        .key_id(replica.arn().unwrap())
        .send()
        .await
        .unwrap();
    let err = west
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("store", "a/b")
        .key_id(meta.arn().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("NotFoundException"));
    let described = west
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let config = described.multi_region_configuration().unwrap();
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(config.primary_key().unwrap().region(), Some("us-east-1"));
    let primary = east.describe_key().key_id(&id).send().await.unwrap();
    let replicas: BTreeSet<_> = primary
        .key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap()
        .replica_keys()
        .iter()
        .map(|r| r.region().unwrap().to_owned())
        .collect();
    assert_eq!(replicas, BTreeSet::from(["eu-west-1".to_owned()]));
    // Key state is per region.
    west.disable_key().key_id(&id).send().await.unwrap();
    let err = decrypt(&west).await.unwrap_err().into_service_error();
    assert_eq!(err.code(), Some("DisabledException"));
    decrypt(&east).await.unwrap();
    // One replica per region; only multi-Region primaries replicate.
    let err = east
        .replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AlreadyExistsException"));
    let single = east
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert!(!single.key_id().starts_with("mrk-"));
    let err = east
        .replicate_key()
        .key_id(single.key_id())
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("UnsupportedOperationException"));
    let err = west
        .replicate_key()
        .key_id(&id)
        .replica_region("us-west-2")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("UnsupportedOperationException"));
    // The primary moves to eu-west-1; the keys stay the same keys.
    let err = east
        .update_primary_region()
        .key_id(&id)
        .primary_region("ap-south-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("NotFoundException"));
    east.update_primary_region()
        .key_id(&id)
        .primary_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let config = |client: &aws_sdk_kms::Client| {
        let client = client.clone();
        let id = id.clone();
        async move {
            client
                .describe_key()
                .key_id(id)
                .send()
                .await
                .unwrap()
                .key_metadata
                .unwrap()
                .multi_region_configuration
                .unwrap()
        }
    };
    assert_eq!(
        config(&west).await.multi_region_key_type(),
        Some(&MultiRegionKeyType::Primary)
    );
    let east_config = config(&east).await;
    assert_eq!(
        east_config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(
        east_config.primary_key().unwrap().region(),
        Some("eu-west-1")
    );
    // Only the primary moves it.
    let err = east
        .update_primary_region()
        .key_id(&id)
        .primary_region("us-east-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("UnsupportedOperationException"));
}

/// A credential scope that names no region is refused, as AWS refuses it, rather
/// than opening a store for whatever text it holds.
#[tokio::test]
async fn a_scope_without_a_region_name_is_refused() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    for region in ["not a region", "US-EAST-1", "x"] {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDLOCKBOXTEST/20260101/{region}/dynamodb/aws4_request, \
             SignedHeaders=host, Signature=00"
        );
        let (status, body) = crate::common::http(
            &url,
            "POST",
            "/",
            &[
                ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
                ("Content-Type", "application/x-amz-json-1.0"),
                ("Authorization", &auth),
            ],
            "{}",
        )
        .await
        .expect("an answer");
        assert_eq!(status, 400, "{region}: {body}");
        assert!(
            body.contains("InvalidSignatureException"),
            "{region}: {body}"
        );
    }
    // A region name is served.
    let tables = ddb_client_in(&url, "ap-south-1")
        .list_tables()
        .send()
        .await
        .unwrap();
    assert!(tables.table_names().is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn the_replication_lag_is_set_at_start_up_within_a_day() {
    let config = lockbox_mock::Config::builder()
        .replication_lag(Duration::ZERO)
        .replication_jitter(Duration::from_millis(40));
    let mock = lockbox_mock::start_with(config).await.unwrap();
    let status = mock.state().replication_status();
    assert_eq!((status.lag_ms, status.jitter_ms), (0, 40));
    let default = lockbox_mock::start().await.unwrap();
    assert_eq!(
        default.state().replication_status().lag_ms,
        lockbox_mock::DEFAULT_REPLICATION_LAG.as_millis() as u64
    );
    let too_long = lockbox_mock::MAX_REPLICATION_LAG + Duration::from_millis(1);
    for config in [
        lockbox_mock::Config::builder().replication_lag(too_long),
        lockbox_mock::Config::builder().replication_jitter(too_long),
    ] {
        let err = lockbox_mock::start_with(config).await.unwrap_err();
        assert!(
            matches!(&err, lockbox_mock::StartError::Config(m) if m.contains("at most 86400000 ms")),
            "{err}"
        );
    }
}
