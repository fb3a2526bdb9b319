//! Fault injection seen through real clients: retries on throttling, no retry on
//! client errors, dropped responses applied exactly once, latency.

use std::time::{Duration, Instant};

use crate::common::{add_fault, create_credstash_table, ddb_client, faults, http, kms_client};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;

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

/// Items `name`=`p`, `version`=`v001`.. in `credential-store`, plus `q`'s.
async fn paged_table(url: &str, p_items: usize) -> aws_sdk_dynamodb::Client {
    let ddb = ddb_client(url);
    create_credstash_table(&ddb, "credential-store").await;
    for (name, n) in [("p", p_items), ("q", 3)] {
        for i in 1..=n {
            ddb.put_item()
                .table_name("credential-store")
                .item("name", AttributeValue::S(name.into()))
                .item("version", AttributeValue::S(format!("v{i:03}")))
                .item("odd", AttributeValue::Bool(i % 2 == 1))
                .send()
                .await
                .unwrap();
        }
    }
    ddb
}

type Key = std::collections::HashMap<String, AttributeValue>;

/// One page as (versions returned, ScannedCount, LastEvaluatedKey).
type Page = (Vec<String>, i32, Option<Key>);

fn versions_of(items: &[Key]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["name"].as_s().unwrap(),
                i["version"].as_s().unwrap()
            )
        })
        .collect()
}

/// Every page of a Query of `p`, following `LastEvaluatedKey`.
async fn query_pages(
    ddb: &aws_sdk_dynamodb::Client,
    forward: bool,
    limit: Option<i32>,
    filter: bool,
) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut start = None;
    loop {
        let mut q = ddb
            .query()
            .table_name("credential-store")
            .key_condition_expression("#n = :n")
            .expression_attribute_names("#n", "name")
            .expression_attribute_values(":n", AttributeValue::S("p".into()))
            .scan_index_forward(forward)
            .set_limit(limit)
            .set_exclusive_start_key(start.take());
        if filter {
            q = q
                .filter_expression("odd = :t")
                .expression_attribute_values(":t", AttributeValue::Bool(true));
        }
        let out = q.send().await.unwrap();
        let last = out.last_evaluated_key.clone();
        pages.push((versions_of(out.items()), out.scanned_count, last.clone()));
        match last {
            Some(k) => start = Some(k),
            None => return pages,
        }
        assert!(pages.len() < 100, "pagination ends");
    }
}

#[tokio::test]
async fn a_page_size_fault_ends_query_and_scan_pages_after_n_evaluated_items() {
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    // 21 = 3 × 7: the third page is full, so it carries a LastEvaluatedKey and an
    // empty fourth page follows, as DynamoDB does when a page stops exactly at the end.
    let ddb = paged_table(&url, 21).await;
    add_fault(&url, r#"{"target":"dynamodb:Query","page_size":7}"#).await;
    add_fault(&url, r#"{"target":"dynamodb:Scan","page_size":7}"#).await;
    let all: Vec<String> = (1..=21).map(|i| format!("p/v{i:03}")).collect();

    for forward in [true, false] {
        let pages = query_pages(&ddb, forward, None, false).await;
        let sizes: Vec<usize> = pages.iter().map(|p| p.0.len()).collect();
        assert_eq!(sizes, [7, 7, 7, 0], "forward={forward}");
        for (items, scanned, last) in &pages[..3] {
            assert_eq!(*scanned, 7);
            let last = last
                .as_ref()
                .expect("a stopped page has a LastEvaluatedKey");
            assert_eq!(last.len(), 2, "the key only");
            assert_eq!(
                format!("p/{}", last["version"].as_s().unwrap()),
                *items.last().unwrap(),
                "the key of the last evaluated item"
            );
        }
        assert!(pages[3].2.is_none());
        let seen: Vec<String> = pages.into_iter().flat_map(|p| p.0).collect();
        let mut want = all.clone();
        if !forward {
            want.reverse();
        }
        assert_eq!(seen, want, "every item once, in order (forward={forward})");
    }

    // A smaller Limit wins; a larger one is cut at the page size.
    let pages = query_pages(&ddb, true, Some(3), false).await;
    assert!(pages[..7].iter().all(|p| p.0.len() == 3 && p.2.is_some()));
    assert_eq!(pages.len(), 8);
    let pages = query_pages(&ddb, false, Some(10), false).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.0.len()).collect();
    assert_eq!(sizes, [7, 7, 7, 0]);

    // The cap counts evaluated items, before the filter.
    let pages = query_pages(&ddb, true, None, true).await;
    let scanned: Vec<i32> = pages.iter().map(|p| p.1).collect();
    assert_eq!(scanned, [7, 7, 7, 0]);
    let odd: Vec<String> = pages.into_iter().flat_map(|p| p.0).collect();
    assert_eq!(odd.len(), 11);
    assert!(odd.iter().all(|v| v[3..].parse::<u32>().unwrap() % 2 == 1));

    // Scan: 24 items in pages of at most 7, each item once.
    let mut seen = Vec::new();
    let mut start = None;
    let mut pages = 0;
    loop {
        let out = ddb
            .scan()
            .table_name("credential-store")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(out.scanned_count <= 7);
        seen.extend(versions_of(out.items()));
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted.len()), (24, 24));

    // Other operations ignore the cap; without the rule, one page holds everything.
    http(&url, "DELETE", "/_mock/faults", &[], "")
        .await
        .unwrap();
    assert_eq!(query_pages(&ddb, true, None, false).await.len(), 1);
}

#[tokio::test]
async fn an_unprocessed_after_fault_returns_the_other_keys_as_unprocessed() {
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let ddb = paged_table(&url, 10).await;
    add_fault(
        &url,
        r#"{"target":"dynamodb:BatchGetItem","unprocessed_after":4}"#,
    )
    .await;
    // Ten stored keys and one that does not exist.
    let mut request = KeysAndAttributes::builder().consistent_read(true);
    for i in 1..=11 {
        request = request.keys(Key::from([
            ("name".to_owned(), AttributeValue::S("p".into())),
            ("version".to_owned(), AttributeValue::S(format!("v{i:03}"))),
        ]));
    }
    let mut pending = Some(std::collections::HashMap::from([(
        "credential-store".to_owned(),
        request.build().unwrap(),
    )]));
    let mut seen = Vec::new();
    let mut calls = 0;
    while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
        let out = ddb
            .batch_get_item()
            .set_request_items(Some(items))
            .send()
            .await
            .unwrap();
        calls += 1;
        let got = versions_of(&out.responses.unwrap_or_default()["credential-store"]);
        assert!(got.len() <= 4, "{got:?}");
        seen.extend(got);
        let left = out.unprocessed_keys.unwrap_or_default();
        if let Some(spec) = left.get("credential-store") {
            assert_eq!(
                spec.consistent_read,
                Some(true),
                "the request's options kept"
            );
        }
        pending = Some(left);
        assert!(calls < 10);
    }
    assert_eq!(calls, 3, "4 + 4 + 3 keys");
    seen.sort();
    let want: Vec<String> = (1..=10).map(|i| format!("p/v{i:03}")).collect();
    assert_eq!(seen, want, "every stored item exactly once");
}
