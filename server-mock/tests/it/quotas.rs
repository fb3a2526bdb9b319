//! Throughput quotas answer as AWS does (`ProvisionedThroughputExceededException`
//! for provisioned tables, `ThrottlingException` for on-demand maxima and KMS's
//! request quota), and the AWS SDK for Rust and boto3 retry them until they pass.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use serde_json::{json, Value};

use crate::common::{faults, http, python, venv, MockProcess};

const DDB: &str = "application/x-amz-json-1.0";

/// One DynamoDB call over raw HTTP (open mode needs no signature): status and body.
async fn ddb(endpoint: &str, operation: &str, body: Value) -> (u16, Value) {
    let target = format!("DynamoDB_20120810.{operation}");
    let (status, text) = http(
        endpoint,
        "POST",
        "/",
        &[("X-Amz-Target", &target), ("Content-Type", DDB)],
        &body.to_string(),
    )
    .await
    .expect("answer");
    (status, serde_json::from_str(&text).expect("JSON"))
}

/// One KMS call over raw HTTP: status and body.
async fn kms(endpoint: &str, operation: &str, body: Value) -> (u16, Value) {
    let target = format!("TrentService.{operation}");
    let (status, text) = http(
        endpoint,
        "POST",
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        &body.to_string(),
    )
    .await
    .expect("answer");
    (status, serde_json::from_str(&text).expect("JSON"))
}

fn table(name: &str, billing: Value) -> Value {
    let mut t = json!({
        "TableName": name,
        "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"}],
    });
    for (k, v) in billing.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

/// Calls `operation` until it is refused (at most 1,000 times) and returns the refusal.
async fn until_refused(endpoint: &str, operation: &str, body: Value) -> (u16, Value) {
    for _ in 0..1000 {
        let (status, out) = ddb(endpoint, operation, body.clone()).await;
        if status != 200 {
            return (status, out);
        }
    }
    panic!("{operation} was never throttled");
}

async fn started(quotas: lockbox_mock::Quotas) -> lockbox_mock::RunningMock {
    lockbox_mock::start_with(lockbox_mock::Config::builder().quotas(quotas))
        .await
        .unwrap()
}

/// Counts the attempts of `target` (a rule that delays by nothing fires on each).
async fn count_attempts(endpoint: &str, target: &str) {
    crate::common::add_fault(
        endpoint,
        &json!({"target": target, "latency_ms": 0}).to_string(),
    )
    .await;
}

async fn attempts(endpoint: &str) -> u64 {
    faults(endpoint).await["rules"][0]["fired"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_provisioned_table_over_its_capacity_answers_as_dynamodb_does() {
    let mock = started(
        lockbox_mock::Quotas::default()
            .provisioned(true)
            .burst_seconds(1),
    )
    .await;
    let url = mock.endpoint_url();
    let pt = json!({"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}});
    assert_eq!(ddb(&url, "CreateTable", table("tbl", pt)).await.0, 200);
    let (status, err) = until_refused(
        &url,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"name": {"S": "a"}}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        err,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
            "ThrottlingReasons": [{
                "reason": "TableWriteProvisionedThroughputExceeded",
                "resource": "arn:aws:dynamodb:us-east-1:000000000000:table/tbl",
            }],
        })
    );
    let (status, err) = until_refused(
        &url,
        "GetItem",
        json!({"TableName": "tbl", "Key": {"name": {"S": "a"}}, "ConsistentRead": true}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        err["ThrottlingReasons"][0]["reason"],
        "TableReadProvisionedThroughputExceeded"
    );
    // Query and Scan are throttled by the same read capacity.
    let (status, err) = ddb(&url, "Scan", json!({"TableName": "tbl"})).await;
    assert_eq!(status, 400, "{err}");

    // Capacity an UpdateTable raises is in force at once; DescribeTable shows it.
    let (status, out) = ddb(
        &url,
        "UpdateTable",
        json!({"TableName": "tbl", "ProvisionedThroughput": {"ReadCapacityUnits": 1000, "WriteCapacityUnits": 1000}}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["TableDescription"]["ProvisionedThroughput"]["ReadCapacityUnits"],
        1000
    );
    // ... once the debt of the reads before it is paid (at most a few units).
    let mut ok = false;
    for _ in 0..200 {
        if ddb(&url, "Query", json!({"TableName": "tbl", "KeyConditionExpression": "#n = :n",
            "ExpressionAttributeNames": {"#n": "name"}, "ExpressionAttributeValues": {":n": {"S": "a"}}}))
        .await
        .0 == 200
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "reads stayed throttled after the capacity was raised");

    // Capacity the client asked for is reported; not asked for, not shown.
    let (_, out) = ddb(
        &url,
        "GetItem",
        json!({"TableName": "tbl", "Key": {"name": {"S": "a"}}, "ReturnConsumedCapacity": "TOTAL"}),
    )
    .await;
    assert_eq!(out["ConsumedCapacity"]["CapacityUnits"], 0.5, "{out}");
    let (_, out) = ddb(
        &url,
        "GetItem",
        json!({"TableName": "tbl", "Key": {"name": {"S": "a"}}}),
    )
    .await;
    assert!(out.get("ConsumedCapacity").is_none(), "{out}");
}

#[tokio::test]
async fn provisioned_capacity_is_not_enforced_unless_asked() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let pt = json!({"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}});
    assert_eq!(ddb(&url, "CreateTable", table("tbl", pt)).await.0, 200);
    for i in 0..50 {
        let put = json!({"TableName": "tbl", "Item": {"name": {"S": format!("k{i}")}}});
        assert_eq!(ddb(&url, "PutItem", put).await.0, 200);
    }
    let (status, out) = ddb(&url, "Scan", json!({"TableName": "tbl"})).await;
    assert_eq!((status, out["Count"].as_u64()), (200, Some(50)));
}

#[tokio::test]
async fn an_on_demand_maximum_throttles_with_throttling_exception() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let billing = json!({"BillingMode": "PAY_PER_REQUEST",
        "OnDemandThroughput": {"MaxReadRequestUnits": 1, "MaxWriteRequestUnits": -1}});
    let (status, out) = ddb(&url, "CreateTable", table("odt", billing)).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["TableDescription"]["OnDemandThroughput"],
        json!({"MaxReadRequestUnits": 1, "MaxWriteRequestUnits": -1})
    );
    // Writes have no maximum.
    for i in 0..20 {
        let put = json!({"TableName": "odt", "Item": {"name": {"S": format!("k{i}")}}});
        assert_eq!(ddb(&url, "PutItem", put).await.0, 200);
    }
    let (status, err) = until_refused(&url, "Scan", json!({"TableName": "odt"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        err,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            "message": "Throughput exceeds the maximum OnDemandThroughput configured on table or index",
            "ThrottlingReasons": [{
                "reason": "TableReadMaxOnDemandThroughputExceeded",
                "resource": "arn:aws:dynamodb:us-east-1:000000000000:table/odt",
            }],
        })
    );
    // Removing the maximum lifts it.
    let (status, out) = ddb(
        &url,
        "UpdateTable",
        json!({"TableName": "odt", "OnDemandThroughput": {"MaxReadRequestUnits": -1}}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(ddb(&url, "Scan", json!({"TableName": "odt"})).await.0, 200);
    // A maximum only on-demand tables may have.
    let bad = json!({"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        "OnDemandThroughput": {"MaxReadRequestUnits": 1}});
    let (status, out) = ddb(&url, "CreateTable", table("pro", bad)).await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (
            400,
            Some("com.amazonaws.dynamodb.v20120810#ValidationException")
        ),
        "{out}"
    );
    let bad =
        json!({"BillingMode": "PAY_PER_REQUEST", "OnDemandThroughput": {"MaxReadRequestUnits": 0}});
    assert_eq!(ddb(&url, "CreateTable", table("zzz", bad)).await.0, 400);
}

#[tokio::test]
async fn the_start_up_on_demand_maximum_applies_to_every_on_demand_table() {
    let mock = started(lockbox_mock::Quotas::default().on_demand(None, Some(1))).await;
    let url = mock.endpoint_url();
    let billing = json!({"BillingMode": "PAY_PER_REQUEST"});
    assert_eq!(ddb(&url, "CreateTable", table("tbl", billing)).await.0, 200);
    let (status, err) = until_refused(
        &url,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"name": {"S": "a"}}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        err["ThrottlingReasons"][0]["reason"],
        "TableWriteMaxOnDemandThroughputExceeded"
    );
    // Reads have no maximum.
    for _ in 0..50 {
        assert_eq!(ddb(&url, "Scan", json!({"TableName": "tbl"})).await.0, 200);
    }
}

#[tokio::test]
async fn kms_cryptographic_calls_share_one_request_quota() {
    let mock = started(lockbox_mock::Quotas::default().kms_rps(2)).await;
    let url = mock.endpoint_url();
    let (_, key) = kms(&url, "CreateKey", json!({})).await;
    let key = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let mut refusal = None;
    for i in 0..1000 {
        // Encrypt and GenerateDataKey draw on the same quota.
        let (status, out) = if i % 2 == 0 {
            kms(&url, "Encrypt", json!({"KeyId": key, "Plaintext": "aGk="})).await
        } else {
            kms(
                &url,
                "GenerateDataKey",
                json!({"KeyId": key, "NumberOfBytes": 32}),
            )
            .await
        };
        if status != 200 {
            refusal = Some((status, out));
            break;
        }
    }
    let (status, out) = refusal.expect("KMS was never throttled");
    assert_eq!(
        (status, out),
        (
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
        )
    );
    // Control-plane calls are not counted.
    for _ in 0..20 {
        assert_eq!(kms(&url, "DescribeKey", json!({"KeyId": key})).await.0, 200);
    }
}

#[tokio::test]
async fn quotas_change_at_run_time_through_mock_quotas() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let (status, body) = http(&url, "GET", "/_mock/quotas", &[], "").await.unwrap();
    assert_eq!(status, 200);
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        shown,
        json!({"provisioned": false, "burst_seconds": 300, "on_demand_read_units": null,
               "on_demand_write_units": null, "kms_rps": null})
    );
    let (status, body) = http(&url, "POST", "/_mock/quotas", &[], r#"{"kms_rps": 7}"#)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (shown["kms_rps"].clone(), shown["burst_seconds"].clone()),
        (json!(7), json!(300))
    );
    for bad in [r#"{"kms_rps": -1}"#, r#"{"kms_rate": 1}"#, "[]", "not json"] {
        let (status, body) = http(&url, "POST", "/_mock/quotas", &[], bad).await.unwrap();
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("invalid quotas"), "{body}");
    }
}

#[tokio::test]
async fn the_binary_takes_quotas_as_flags() {
    let args: Vec<&std::ffi::OsStr> = [
        "--enforce-capacity",
        "--burst-seconds",
        "5",
        "--on-demand-max-read",
        "100",
        "--kms-rps",
        "50",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .collect();
    let mock = MockProcess::spawn(&args).expect("spawn");
    let (_, body) = http(&mock.endpoint, "GET", "/_mock/quotas", &[], "")
        .await
        .unwrap();
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        shown,
        json!({"provisioned": true, "burst_seconds": 5, "on_demand_read_units": 100,
               "on_demand_write_units": null, "kms_rps": 50})
    );
    mock.kill9();
    let bad = MockProcess::spawn(&[std::ffi::OsStr::new("--kms-rps"), std::ffi::OsStr::new("0")]);
    assert!(bad.is_err());
}

/// A client with the SDK's standard retry mode and room to wait out a quota.
fn patient_ddb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = crate::common::ddb_client(endpoint)
        .config()
        .to_builder()
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(20)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(1)),
        )
        // A partition of its own: the SDK's retry budget is shared by the clients
        // of a partition, and other tests' retries must not spend it.
        .retry_partition(aws_sdk_dynamodb::config::retry::RetryPartition::new(
            "quotas-test-dynamodb",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_retries_dynamodb_throttling_until_it_passes() {
    let mock = started(
        lockbox_mock::Quotas::default()
            .provisioned(true)
            .burst_seconds(1),
    )
    .await;
    let url = mock.endpoint_url();
    let pt = json!({"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 100}});
    assert_eq!(ddb(&url, "CreateTable", table("tbl", pt)).await.0, 200);
    assert_eq!(
        ddb(
            &url,
            "PutItem",
            json!({"TableName": "tbl", "Item": {"name": {"S": "a"}}})
        )
        .await
        .0,
        200
    );
    // Without retries, the SDK's typed error.
    let once = crate::common::ddb_client(&url)
        .config()
        .to_builder()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let once = aws_sdk_dynamodb::Client::from_conf(once);
    let mut throttled = false;
    for _ in 0..1000 {
        let got = once
            .get_item()
            .table_name("tbl")
            .key("name", AttributeValue::S("a".into()))
            .consistent_read(true)
            .send()
            .await;
        if let Err(e) = got {
            let e = e.into_service_error();
            assert!(e.is_provisioned_throughput_exceeded_exception(), "{e:?}");
            throttled = true;
            break;
        }
    }
    assert!(throttled);
    // With them, 10 reads at once against 5 a second all succeed, after retries.
    count_attempts(&url, "dynamodb:GetItem").await;
    let client = patient_ddb(&url);
    let reads = (0..10).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get_item()
                .table_name("tbl")
                .key("name", AttributeValue::S("a".into()))
                .consistent_read(true)
                .send()
                .await
        })
    });
    for read in futures::future::join_all(reads).await {
        let out = read.unwrap().expect("a read failed after retries");
        assert!(out.item.is_some());
    }
    let tries = attempts(&url).await;
    assert!(tries > 10, "no read was retried ({tries} attempts)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_retries_kms_throttling_until_it_passes() {
    let mock = started(lockbox_mock::Quotas::default().kms_rps(5)).await;
    let url = mock.endpoint_url();
    let client = crate::common::kms_client(&url);
    let key = client.create_key().send().await.unwrap();
    let key = key.key_metadata.unwrap().key_id;
    count_attempts(&url, "kms:Encrypt").await;
    let config = client
        .config()
        .to_builder()
        .retry_config(
            aws_sdk_kms::config::retry::RetryConfig::standard()
                .with_max_attempts(20)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(1)),
        )
        .retry_partition(aws_sdk_kms::config::retry::RetryPartition::new(
            "quotas-test-kms",
        ))
        .build();
    let patient = aws_sdk_kms::Client::from_conf(config);
    let calls = (0..10).map(|_| {
        let client = patient.clone();
        let key = key.clone();
        tokio::spawn(async move {
            client
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(b"hi".to_vec()))
                .send()
                .await
        })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().expect("an Encrypt failed after retries");
    }
    let tries = attempts(&url).await;
    assert!(tries > 10, "no Encrypt was retried ({tries} attempts)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_sees_aws_errors_and_retries_them() {
    let Some(venv) = venv() else { return };
    let mock = started(
        lockbox_mock::Quotas::default()
            .provisioned(true)
            .burst_seconds(1)
            .kms_rps(2),
    )
    .await;
    let url = mock.endpoint_url();
    let script = r#"
import boto3
from botocore.config import Config
once = Config(retries={"mode": "standard", "max_attempts": 1})
patient = Config(retries={"mode": "standard", "max_attempts": 20})
ddb = boto3.client("dynamodb", config=once)
ddb_patient = boto3.client("dynamodb", config=patient)
ddb.create_table(TableName="tbl", KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
    ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 100})
ddb.put_item(TableName="tbl", Item={"name": {"S": "a"}})
for _ in range(1000):
    try:
        ddb.get_item(TableName="tbl", Key={"name": {"S": "a"}}, ConsistentRead=True)
    except ddb.exceptions.ProvisionedThroughputExceededException as e:
        r = e.response
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 400, r
        assert r["Error"]["Message"].startswith("The level of configured provisioned throughput"), r
        assert r["ThrottlingReasons"][0]["reason"] == "TableReadProvisionedThroughputExceeded", r
        break
else:
    raise SystemExit("never throttled")
retries = 0
for _ in range(3):
    out = ddb_patient.get_item(TableName="tbl", Key={"name": {"S": "a"}}, ConsistentRead=True)
    assert out["Item"]["name"]["S"] == "a"
    retries += out["ResponseMetadata"]["RetryAttempts"]
assert retries > 0, "boto3 never retried DynamoDB"

kms = boto3.client("kms", config=once)
kms_patient = boto3.client("kms", config=patient)
key = kms.create_key()["KeyMetadata"]["KeyId"]
for _ in range(1000):
    try:
        kms.encrypt(KeyId=key, Plaintext=b"hi")
    except kms.exceptions.ClientError as e:
        r = e.response
        assert r["Error"]["Code"] == "ThrottlingException", r
        assert r["Error"]["Message"] == "Rate exceeded", r
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 400, r
        break
else:
    raise SystemExit("KMS never throttled")
retries = 0
for _ in range(3):
    out = kms_patient.encrypt(KeyId=key, Plaintext=b"hi")
    retries += out["ResponseMetadata"]["RetryAttempts"]
assert retries > 0, "boto3 never retried KMS"
print("ok")
"#;
    let url2 = url.clone();
    let (ok, output) = tokio::task::spawn_blocking(move || python(&venv, &url2, script))
        .await
        .unwrap();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn throughput_settings_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || lockbox_mock::Config::builder().data_dir(dir.path());
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let url = mock.endpoint_url();
    let pt = json!({"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}});
    assert_eq!(ddb(&url, "CreateTable", table("tbl", pt)).await.0, 200);
    let (status, out) = ddb(
        &url,
        "UpdateTable",
        json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
               "OnDemandThroughput": {"MaxWriteRequestUnits": 7}}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    mock.shutdown().await;
    let mock = lockbox_mock::start_with(config()).await.unwrap();
    let (_, out) = ddb(
        &mock.endpoint_url(),
        "DescribeTable",
        json!({"TableName": "tbl"}),
    )
    .await;
    assert_eq!(
        out["Table"]["BillingModeSummary"]["BillingMode"],
        "PAY_PER_REQUEST"
    );
    assert_eq!(
        out["Table"]["OnDemandThroughput"],
        json!({"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": 7})
    );
}
