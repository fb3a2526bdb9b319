//! The real `aws-sdk-dynamodb` client against the emulator: credstash's access
//! patterns, conditional writes, pagination, size limits, batches, concurrency,
//! validation errors, tags, and items read back whole or projected.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
    KeysAndAttributes, ProvisionedThroughput, PutRequest, ScalarAttributeType, Select, Tag,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;

const TABLE: &str = "credential-store";

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

async fn emulator() -> (lockbox_mock::RunningMock, Client) {
    let mock = lockbox_mock::start().await.expect("start emulator");
    let c = client(&mock.endpoint_url());
    (mock, c)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn version(v: u64) -> String {
    format!("{v:019}")
}

/// Create the table exactly as `credstash setup` does.
async fn credstash_setup(c: &Client) {
    let existing = c.list_tables().send().await.unwrap();
    assert!(!existing.table_names().contains(&TABLE.to_owned()));
    c.create_table()
        .table_name(TABLE)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("name")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("version")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("name")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("version")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let d = c.describe_table().table_name(TABLE).send().await.unwrap();
    let t = d.table().unwrap();
    assert_eq!(t.table_status().unwrap().as_str(), "ACTIVE");
    c.tag_resource()
        .resource_arn(t.table_arn().unwrap())
        .tags(
            Tag::builder()
                .key("Name")
                .value("credstash")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// credstash's `put`: PutItem guarded by `attribute_not_exists(#n)`.
async fn put_version(c: &Client, name: &str, v: u64) -> Result<(), String> {
    c.put_item()
        .table_name(TABLE)
        .item("name", s(name))
        .item("version", s(version(v)))
        .item("key", s("a2V5"))
        .item("contents", s("Y29udGVudHM="))
        .item("hmac", AttributeValue::B(b"abcdef".to_vec().into()))
        .item("digest", s("SHA256"))
        .condition_expression("attribute_not_exists(#n)")
        .expression_attribute_names("#n", "name")
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().unwrap_or("no code").to_owned())
}

#[tokio::test]
async fn credstash_access_patterns() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    for v in 1..=3 {
        put_version(&c, "db.password", v).await.unwrap();
    }
    put_version(&c, "api.token", 1).await.unwrap();
    assert_eq!(
        put_version(&c, "db.password", 3).await.unwrap_err(),
        "ConditionalCheckFailedException"
    );

    // get NAME: the latest version.
    let latest = c
        .query()
        .table_name(TABLE)
        .limit(1)
        .scan_index_forward(false)
        .consistent_read(true)
        .key_condition_expression("#n = :n")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":n", s("db.password"))
        .send()
        .await
        .unwrap();
    assert_eq!(latest.count(), 1);
    assert_eq!(latest.items()[0]["version"], s(version(3)));

    // get -v: GetItem.
    let got = c
        .get_item()
        .table_name(TABLE)
        .key("name", s("db.password"))
        .key("version", s(version(2)))
        .send()
        .await
        .unwrap();
    let item = got.item().unwrap();
    assert_eq!(item["hmac"], AttributeValue::B(b"abcdef".to_vec().into()));

    // list / get 'pat*': Scan with projection, paginated.
    let mut listed = Vec::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name(TABLE)
            .projection_expression("#N, version, #C")
            .expression_attribute_names("#N", "name")
            .expression_attribute_names("#C", "comment")
            .limit(2)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        for i in page.items() {
            assert!(i.get("contents").is_none());
            listed.push((i["name"].clone(), i["version"].clone()));
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(listed.len(), 4);

    // delete NAME: Query paginated with projection, then DeleteItem per version.
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let page = c
            .query()
            .table_name(TABLE)
            .key_condition_expression("#N = :n")
            .projection_expression("#N, version")
            .expression_attribute_names("#N", "name")
            .expression_attribute_values(":n", s("db.password"))
            .limit(1)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        keys.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) => {
                assert!(k.contains_key("name") && k.contains_key("version"));
                start = Some(k.clone());
            }
            None => break,
        }
    }
    assert_eq!(keys.len(), 3);
    for k in keys {
        c.delete_item()
            .table_name(TABLE)
            .set_key(Some(k))
            .send()
            .await
            .unwrap();
    }
    let left = c.scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(left.count(), 1);

    let tags = c
        .list_tags_of_resource()
        .resource_arn(format!(
            "arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "Name");
}

#[tokio::test]
async fn pagination_returns_every_item_exactly_once() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    // 2,000 items in 80 BatchWriteItem calls of 25, across 40 partitions.
    let mut requests = Vec::new();
    for i in 0..2000u64 {
        let put = PutRequest::builder()
            .item("name", s(format!("secret-{:02}", i % 40)))
            .item("version", s(version(i)))
            .build()
            .unwrap();
        requests.push(WriteRequest::builder().put_request(put).build());
    }
    for chunk in requests.chunks(25) {
        let out = c
            .batch_write_item()
            .request_items(TABLE, chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
    let mut seen = BTreeSet::new();
    let mut start = None;
    let mut pages = 0;
    loop {
        let page = c
            .scan()
            .table_name(TABLE)
            .limit(7)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        pages += 1;
        for i in page.items() {
            let AttributeValue::S(v) = &i["version"] else {
                panic!("version is not S")
            };
            assert!(seen.insert(v.clone()), "item returned twice");
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2000);
    assert!(pages >= 2000 / 7);

    // Query one partition backwards, 3 at a time: 50 versions in descending order.
    let mut versions = Vec::new();
    let mut start = None;
    loop {
        let page = c
            .query()
            .table_name(TABLE)
            .key_condition_expression("#n = :n")
            .expression_attribute_names("#n", "name")
            .expression_attribute_values(":n", s("secret-07"))
            .scan_index_forward(false)
            .limit(3)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        versions.extend(page.items().iter().map(|i| i["version"].clone()));
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(versions.len(), 50);
    let mut sorted = versions.clone();
    sorted.sort_by(|a, b| b.as_s().unwrap().cmp(a.as_s().unwrap()));
    assert_eq!(versions, sorted);

    let count = c
        .scan()
        .table_name(TABLE)
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(count.count(), 2000);
    assert_eq!(count.scanned_count(), 2000);
    assert!(count.items().is_empty());
}

#[tokio::test]
async fn one_megabyte_page_limit_and_item_size_limit() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    let blob = "x".repeat(300 * 1024);
    for i in 0..10 {
        c.put_item()
            .table_name(TABLE)
            .item("name", s("big"))
            .item("version", s(version(i)))
            .item("contents", s(blob.clone()))
            .send()
            .await
            .unwrap();
    }
    let page = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("#n = :n")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":n", s("big"))
        .send()
        .await
        .unwrap();
    assert!(page.count() < 10);
    assert!(page.count() as usize * 300 * 1024 <= 1024 * 1024 + 300 * 1024);
    assert!(page.last_evaluated_key().is_some());

    let too_big = "x".repeat(400 * 1024);
    let e = c
        .put_item()
        .table_name(TABLE)
        .item("name", s("big"))
        .item("version", s(version(99)))
        .item("contents", s(too_big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert_eq!(
        e.message(),
        Some("Item size has exceeded the maximum allowed size")
    );
}

#[tokio::test]
async fn batch_get_item() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    for v in 1..=5 {
        put_version(&c, "b", v).await.unwrap();
    }
    let mut keys = KeysAndAttributes::builder().projection_expression("version");
    for v in 1..=7 {
        keys = keys.keys(HashMap::from([
            ("name".to_owned(), s("b")),
            ("version".to_owned(), s(version(v))),
        ]));
    }
    let out = c
        .batch_get_item()
        .request_items(TABLE, keys.build().unwrap())
        .send()
        .await
        .unwrap();
    let items = &out.responses().unwrap()[TABLE];
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|i| i.len() == 1));
    assert!(out.unprocessed_keys().is_none_or(|u| u.is_empty()));

    let delete = WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .key("name", s("b"))
                .key("version", s(version(1)))
                .build()
                .unwrap(),
        )
        .build();
    c.batch_write_item()
        .request_items(TABLE, vec![delete])
        .send()
        .await
        .unwrap();
    let left = c.scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(left.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_puts() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    let c = Arc::new(c);
    // 16 writers × 20 distinct versions of one name: every put succeeds once.
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..20u64 {
                put_version(&c, "shared", t * 20 + k + 1).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("#n = :n")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":n", s("shared"))
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(all.count(), 320);

    // 16 writers race for the same key, 10 rounds: exactly one wins each round.
    for round in 1..=10u64 {
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let c = c.clone();
            tasks.push(tokio::spawn(
                async move { put_version(&c, "race", round).await },
            ));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => wins += 1,
                Err(code) => assert_eq!(code, "ConditionalCheckFailedException"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

#[tokio::test]
async fn validation_errors() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;

    let e = c
        .get_item()
        .table_name("no-such-table")
        .key("name", s("x"))
        .send()
        .await
        .unwrap_err();
    assert!(e
        .as_service_error()
        .is_some_and(|e| e.is_resource_not_found_exception()));

    let e = c
        .put_item()
        .table_name(TABLE)
        .item("name", s("x"))
        .item("version", s("1"))
        .condition_expression("attribute_not_exists(#n) AND")
        .expression_attribute_names("#n", "name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert!(e
        .message()
        .unwrap()
        .starts_with("Invalid ConditionExpression: Syntax error; token: "));

    let e = c
        .put_item()
        .table_name(TABLE)
        .item("name", s("x"))
        .item("version", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));

    let e = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("#n = :n")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":n", s("x"))
        .expression_attribute_values(":unused", s("y"))
        .send()
        .await
        .unwrap_err();
    assert!(e.message().unwrap().contains("unused in expressions"));

    let e = c
        .scan()
        .table_name(TABLE)
        .projection_expression("name")
        .send()
        .await
        .unwrap_err();
    assert!(e.message().unwrap().contains("reserved keyword"));

    let e = c
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(e
        .as_service_error()
        .is_some_and(|e| e.is_resource_in_use_exception()));
}

#[tokio::test]
async fn tags_round_trip() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    let arn = format!("arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}");
    c.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("team").value("infra").build().unwrap())
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("Name")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let pairs: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("team", "infra")]);
    c.delete_table().table_name(TABLE).send().await.unwrap();
    let e = c
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn transactions_and_updates() {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, ReturnValue, TransactWriteItem};
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    put_version(&c, "tx", 1).await.unwrap();
    let put = |name: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(TABLE)
                    .item("name", s(name))
                    .item("version", s(version(1)))
                    .condition_expression("attribute_not_exists(#n)")
                    .expression_attribute_names("#n", "name")
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let check_absent = TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(TABLE)
                .key("name", s("tx"))
                .key("version", s(version(1)))
                .condition_expression("attribute_not_exists(version)")
                .build()
                .unwrap(),
        )
        .build();
    let e = c
        .transact_write_items()
        .transact_items(put("tx-a"))
        .transact_items(check_absent)
        .send()
        .await
        .unwrap_err();
    assert!(e
        .as_service_error()
        .is_some_and(|e| e.is_transaction_canceled_exception()));
    c.transact_write_items()
        .transact_items(put("tx-a"))
        .transact_items(put("tx-b"))
        .send()
        .await
        .unwrap();
    let all = c.scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(all.count(), 3);

    let out = c
        .update_item()
        .table_name(TABLE)
        .key("name", s("tx-a"))
        .key("version", s(version(1)))
        .update_expression("SET hits = if_not_exists(hits, :zero) + :one")
        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes().unwrap()["hits"],
        AttributeValue::N("1".into())
    );
}

/// What Scan and Query return is what GetItem returns: every attribute type,
/// names and values that JSON escapes, projections of them, and an item after
/// an update (Scan and Query copy each item's JSON as written at its last write).
#[tokio::test]
async fn scans_and_queries_return_items_as_stored_whole_or_projected() {
    let (_mock, c) = emulator().await;
    credstash_setup(&c).await;
    let weird = "we\"ird\\name";
    let item = |n: u64| {
        HashMap::from([
            ("name".to_owned(), s("app")),
            ("version".to_owned(), s(version(n))),
            ("n".to_owned(), AttributeValue::N("-12.50".into())),
            (
                "b".to_owned(),
                AttributeValue::B(vec![0, 1, n as u8].into()),
            ),
            (
                "ss".to_owned(),
                AttributeValue::Ss(vec!["a\\".into(), "q\"".into()]),
            ),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([
                    ("k\n".to_owned(), AttributeValue::Null(true)),
                    (
                        "l".to_owned(),
                        AttributeValue::L(vec![s("x"), AttributeValue::Bool(false)]),
                    ),
                ])),
            ),
            ("u".to_owned(), s("é \u{202e} \u{1} tab\t")),
            (weird.to_owned(), s("w")),
        ])
    };
    for n in 1..=3 {
        c.put_item()
            .table_name(TABLE)
            .set_item(Some(item(n)))
            .send()
            .await
            .unwrap();
    }
    c.update_item()
        .table_name(TABLE)
        .key("name", s("app"))
        .key("version", s(version(2)))
        .update_expression("SET u = :v, added = :a REMOVE b")
        .expression_attribute_values(":v", s("updated"))
        .expression_attribute_values(":a", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();

    let scanned = c.scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(scanned.items().len(), 3);
    for got in scanned.items() {
        let stored = c
            .get_item()
            .table_name(TABLE)
            .key("name", got["name"].clone())
            .key("version", got["version"].clone())
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        assert_eq!(Some(got), stored.item());
    }
    let updated = &scanned.items()[1];
    assert_eq!(updated["u"], s("updated"));
    assert_eq!(updated["added"], AttributeValue::N("7".into()));
    assert!(!updated.contains_key("b"));

    let projected = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("#N = :n")
        .expression_attribute_names("#N", "name")
        .expression_attribute_names("#W", weird)
        .expression_attribute_values(":n", s("app"))
        .projection_expression("#W, n, u, absent")
        .send()
        .await
        .unwrap();
    assert_eq!(projected.items().len(), 3);
    for got in projected.items() {
        let names: BTreeSet<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(names, BTreeSet::from([weird, "n", "u"]));
        assert_eq!(got[weird], s("w"));
        assert_eq!(got["n"], AttributeValue::N("-12.5".into()));
    }
    assert_eq!(projected.items()[0]["u"], s("é \u{202e} \u{1} tab\t"));
    assert_eq!(projected.items()[1]["u"], s("updated"));

    let nested = c
        .scan()
        .table_name(TABLE)
        .projection_expression("m.l[1], version")
        .send()
        .await
        .unwrap();
    for got in nested.items() {
        assert_eq!(
            got["m"],
            AttributeValue::M(HashMap::from([(
                "l".to_owned(),
                AttributeValue::L(vec![AttributeValue::Bool(false)])
            )]))
        );
    }
}
