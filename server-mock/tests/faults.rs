//! Fault injection seen through real clients: retries on throttling, no retry on
//! client errors, dropped responses applied exactly once, latency.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use common::{add_fault, create_credstash_table, ddb_client, faults, http, kms_client};

#[tokio::test]
async fn throttled_decrypt_succeeds_through_sdk_retries() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let client = kms_client(&url);
    let key = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("v"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    add_fault(
        &url,
        r#"{"target":"kms:Decrypt","error":"ThrottlingException","count":2}"#,
    )
    .await;
    let out = client.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"v");
    assert_eq!(faults(&url).await["rules"][0]["fired"], 2);
}

#[tokio::test]
async fn injected_errors_have_aws_status_and_client_errors_are_not_retried() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    add_fault(
        &url,
        r#"{"target":"kms:*","error":"ThrottlingException","count":1}"#,
    )
    .await;
    let headers = [("X-Amz-Target", "TrentService.ListKeys")];
    let (status, body) = http(&url, "POST", "/", &headers, "{}").await.unwrap();
    assert_eq!(status, 400);
    assert!(body.contains(r#""__type":"ThrottlingException""#), "{body}");

    add_fault(
        &url,
        r#"{"target":"dynamodb:Query","error":"ProvisionedThroughputExceededException"}"#,
    )
    .await;
    let headers = [("X-Amz-Target", "DynamoDB_20120810.Query")];
    let (status, body) = http(&url, "POST", "/", &headers, "{}").await.unwrap();
    assert_eq!(status, 400);
    assert!(
        body.contains("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
        "{body}"
    );

    let (status, _) = http(&url, "DELETE", "/_mock/faults", &[], "")
        .await
        .unwrap();
    assert_eq!(status, 204);
    add_fault(
        &url,
        r#"{"target":"kms:ListKeys","error":"AccessDeniedException"}"#,
    )
    .await;
    let client = kms_client(&url);
    let err = client.list_keys().send().await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(faults(&url).await["rules"][0]["fired"], 1, "not retried");

    http(&url, "DELETE", "/_mock/faults", &[], "")
        .await
        .unwrap();
    add_fault(
        &url,
        r#"{"target":"*","error":"InternalFailure","count":1}"#,
    )
    .await;
    client.list_keys().send().await.expect("a 500 is retried");
    let rule = &faults(&url).await["rules"][0];
    assert_eq!(
        (rule["fired"].as_u64(), rule["remaining"].as_u64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn a_dropped_response_applies_the_write_exactly_once() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let client = kms_client(&url);
    let key = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;

    // Seen on the wire: the connection closes with no response at all.
    add_fault(
        &url,
        r#"{"target":"kms:CreateAlias","drop_response":true,"count":1}"#,
    )
    .await;
    let body = format!(r#"{{"AliasName":"alias/once","TargetKeyId":"{key}"}}"#);
    let headers = [("X-Amz-Target", "TrentService.CreateAlias")];
    assert_eq!(http(&url, "POST", "/", &headers, &body).await, None);
    let aliases = client.list_aliases().send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1, "the write was applied");

    // Through the SDK: the retry of a dropped CreateAlias finds the alias there.
    add_fault(
        &url,
        r#"{"target":"kms:CreateAlias","drop_response":true,"count":1}"#,
    )
    .await;
    let result = client
        .create_alias()
        .alias_name("alias/twice")
        .target_key_id(&key)
        .send()
        .await;
    if let Err(err) = &result {
        let code = err.code();
        assert!(
            code == Some("AlreadyExistsException") || code.is_none(),
            "unexpected {err:?}"
        );
    }
    let names: Vec<_> = client
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name.clone())
        .collect();
    assert_eq!(names, ["alias/once", "alias/twice"]);
    assert_eq!(faults(&url).await["rules"][1]["fired"], 1);
}

#[tokio::test]
async fn latency_applies_from_rules_and_config() {
    let mock = lockbox_mock::start_with(
        lockbox_mock::Config::builder().latency(Duration::from_millis(30)),
    )
    .await
    .unwrap();
    let url = mock.endpoint_url();
    let client = kms_client(&url);
    let started = Instant::now();
    client.list_keys().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(30));
    add_fault(&url, r#"{"target":"kms:ListKeys","latency_ms":50}"#).await;
    let started = Instant::now();
    client.list_keys().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80));
}

#[tokio::test]
async fn bad_rules_are_refused_with_a_reason() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    for rule in [
        r#"{"error":"X"}"#,
        r#"{"target":"kms"}"#,
        r#"{"target":"*","probability":1.5}"#,
    ] {
        let (status, body) = http(&url, "POST", "/_mock/faults", &[], rule)
            .await
            .unwrap();
        assert_eq!(status, 400, "{rule}");
        assert!(body.contains("error"), "{body}");
    }
}

#[tokio::test]
async fn dynamodb_throttling_is_retried_and_a_dropped_conditional_put_lands_once() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let ddb = ddb_client(&url);
    create_credstash_table(&ddb, "credential-store").await;
    add_fault(
        &url,
        r#"{"target":"dynamodb:Query","error":"ProvisionedThroughputExceededException","count":2}"#,
    )
    .await;
    add_fault(
        &url,
        r#"{"target":"dynamodb:PutItem","drop_response":true,"count":1}"#,
    )
    .await;

    // The put is applied, its answer lost; the SDK's retry then fails the condition.
    let put = ddb
        .put_item()
        .table_name("credential-store")
        .item("name", AttributeValue::S("db".into()))
        .item("version", AttributeValue::S(format!("{:019}", 1)))
        .condition_expression("attribute_not_exists(#n)")
        .expression_attribute_names("#n", "name")
        .send()
        .await;
    if let Err(err) = &put {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata;
        let code = err.code();
        assert!(
            code == Some("ConditionalCheckFailedException") || code.is_none(),
            "unexpected {err:?}"
        );
    }
    let found = ddb
        .query()
        .table_name("credential-store")
        .key_condition_expression("#n = :n")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":n", AttributeValue::S("db".into()))
        .send()
        .await
        .expect("throttled twice, then answered");
    assert_eq!(found.count, 1, "the write landed exactly once");
    let rules = faults(&url).await;
    assert_eq!(rules["rules"][0]["fired"], 2);
    assert_eq!(rules["rules"][1]["fired"], 1);
}
