//! Unit tests of the DynamoDB service through `handle`, with JSON bodies as the SDKs
//! send them.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::DynamoDb;
use crate::error::AwsError;
use crate::journal::{Journal, NoJournal};
use crate::protocol::RequestContext;
use crate::services::{JsonService, Reply};

fn db() -> DynamoDb {
    DynamoDb::new(Arc::new(NoJournal))
}

/// One operation, as the server runs it for a request signed in `us-east-1`.
fn call(db: &DynamoDb, op: &str, body: &Value) -> Result<Value, AwsError> {
    let ctx = RequestContext {
        region: "us-east-1".into(),
    };
    db.handle(op, body, &ctx).map(Reply::into_value)
}

fn ok(db: &DynamoDb, op: &str, body: Value) -> Value {
    call(db, op, &body).unwrap_or_else(|e| panic!("{op} failed: {e}"))
}

fn err(db: &DynamoDb, op: &str, body: Value) -> AwsError {
    call(db, op, &body).expect_err("expected an error")
}

/// The credstash table: `name` HASH, `version` RANGE, both S.
fn credstash_table(db: &DynamoDb) {
    ok(
        db,
        "CreateTable",
        json!({
            "TableName": "credential-store",
            "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"},
                          {"AttributeName": "version", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"},
                                     {"AttributeName": "version", "AttributeType": "S"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
        }),
    );
}

fn put_secret(db: &DynamoDb, name: &str, version: u64) -> Result<Value, AwsError> {
    call(
        db,
        "PutItem",
        &json!({
            "TableName": "credential-store",
            "Item": {"name": {"S": name}, "version": {"S": format!("{version:019}")},
                     "key": {"S": "k"}, "contents": {"S": "c"}, "hmac": {"B": "aGV4"}},
            "ConditionExpression": "attribute_not_exists(#n)",
            "ExpressionAttributeNames": {"#n": "name"}
        }),
    )
}

#[test]
fn create_describe_list_delete() {
    let db = db();
    credstash_table(&db);
    let d = ok(
        &db,
        "DescribeTable",
        json!({"TableName": "credential-store"}),
    );
    let t = &d["Table"];
    assert_eq!(t["TableStatus"], "ACTIVE");
    assert_eq!(
        t["TableArn"],
        "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store"
    );
    assert_eq!(t["ItemCount"], 0);
    assert_eq!(t["ProvisionedThroughput"]["ReadCapacityUnits"], 1);
    assert_eq!(t["BillingModeSummary"]["BillingMode"], "PROVISIONED");
    assert_eq!(t["KeySchema"][1]["KeyType"], "RANGE");
    let e = err(
        &db,
        "CreateTable",
        json!({
            "TableName": "credential-store",
            "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    );
    assert_eq!(e.code, "ResourceInUseException");
    for n in ["t-a", "t-b", "t-c"] {
        ok(
            &db,
            "CreateTable",
            json!({"TableName": n, "BillingMode": "PAY_PER_REQUEST",
               "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}]}),
        );
    }
    let page = ok(&db, "ListTables", json!({"Limit": 2}));
    assert_eq!(page["TableNames"], json!(["credential-store", "t-a"]));
    assert_eq!(page["LastEvaluatedTableName"], "t-a");
    let page = ok(
        &db,
        "ListTables",
        json!({"Limit": 2, "ExclusiveStartTableName": "t-a"}),
    );
    assert_eq!(page["TableNames"], json!(["t-b", "t-c"]));
    assert!(page.get("LastEvaluatedTableName").is_none());
    ok(&db, "DeleteTable", json!({"TableName": "t-b"}));
    let e = err(&db, "DescribeTable", json!({"TableName": "t-b"}));
    assert_eq!(e.code, "ResourceNotFoundException");
}

#[test]
fn create_table_validation() {
    let db = db();
    let e = err(
        &db,
        "CreateTable",
        json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
           "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
           "AttributeDefinitions": [{"AttributeName": "other", "AttributeType": "S"}]}),
    );
    assert!(e.message.contains("not defined in AttributeDefinitions"));
    let e = err(
        &db,
        "CreateTable",
        json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
           "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
           "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "X"}]}),
    );
    assert_eq!(e.code, "ValidationException");
    let e = err(
        &db,
        "CreateTable",
        json!({"TableName": "tbl",
           "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
           "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}),
    );
    assert!(e.message.contains("PROVISIONED"));
    let e = err(&db, "CreateTable", json!({"TableName": "x"}));
    assert_eq!(e.code, "ValidationException");
}

#[test]
fn conditional_put_and_errors() {
    let db = db();
    credstash_table(&db);
    put_secret(&db, "db.password", 1).unwrap();
    let e = put_secret(&db, "db.password", 1).unwrap_err();
    assert_eq!(e.code, "ConditionalCheckFailedException");
    assert_eq!(e.message, "The conditional request failed");
    put_secret(&db, "db.password", 2).unwrap();
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "nope", "Item": {"name": {"S": "a"}}}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
    assert_eq!(e.message, "Requested resource not found");
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store", "Item": {"name": {"S": "a"}}}),
    );
    assert!(e.message.contains("Missing the key version"));
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
                 "Item": {"name": {"S": "a"}, "version": {"N": "1"}}}),
    );
    assert!(e
        .message
        .contains("Type mismatch for key version expected: S actual: N"));
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
                 "Item": {"name": {"S": ""}, "version": {"S": "1"}}}),
    );
    assert!(e.message.contains("empty string value. Key: name"));
    // Unused placeholder.
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
                 "Item": {"name": {"S": "a"}, "version": {"S": "1"}},
                 "ConditionExpression": "attribute_not_exists(#n)",
                 "ExpressionAttributeNames": {"#n": "name", "#x": "x"}}),
    );
    assert!(e.message.contains("unused in expressions: keys: {#x}"));
    // ReturnValues ALL_OLD.
    let out = ok(
        &db,
        "PutItem",
        json!({"TableName": "credential-store", "ReturnValues": "ALL_OLD",
                 "Item": {"name": {"S": "db.password"}, "version": {"S": format!("{:019}", 2)}}}),
    );
    assert_eq!(out["Attributes"]["key"], json!({"S": "k"}));
}

#[test]
fn item_size_limit_counts_names_and_values() {
    let db = db();
    credstash_table(&db);
    let base = "name".len() + 1 + "version".len() + 1 + "pad".len();
    let fits = "x".repeat(400 * 1024 - base);
    ok(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
                 "Item": {"name": {"S": "a"}, "version": {"S": "1"}, "pad": {"S": fits}}}),
    );
    let too_big = "x".repeat(400 * 1024 - base + 1);
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
                 "Item": {"name": {"S": "a"}, "version": {"S": "2"}, "pad": {"S": too_big}}}),
    );
    assert_eq!(e.message, "Item size has exceeded the maximum allowed size");
}

#[test]
fn query_latest_and_pagination() {
    let db = db();
    credstash_table(&db);
    for v in 1..=5 {
        put_secret(&db, "a", v).unwrap();
    }
    put_secret(&db, "b", 1).unwrap();
    let latest = ok(
        &db,
        "Query",
        json!({"TableName": "credential-store", "Limit": 1, "ScanIndexForward": false,
               "ConsistentRead": true, "KeyConditionExpression": "#n = :n",
               "ExpressionAttributeNames": {"#n": "name"},
               "ExpressionAttributeValues": {":n": {"S": "a"}}}),
    );
    assert_eq!(latest["Items"][0]["version"]["S"], format!("{:019}", 5));
    assert_eq!(
        latest["LastEvaluatedKey"],
        json!({"name": {"S": "a"}, "version": {"S": format!("{:019}", 5)}})
    );
    // Paginate forwards two at a time with a projection.
    let mut seen = Vec::new();
    let mut start: Option<Value> = None;
    loop {
        let mut body = json!({"TableName": "credential-store", "Limit": 2,
            "KeyConditionExpression": "#n = :n", "ProjectionExpression": "#n, version",
            "ExpressionAttributeNames": {"#n": "name"},
            "ExpressionAttributeValues": {":n": {"S": "a"}}});
        if let Some(s) = start.take() {
            body["ExclusiveStartKey"] = s;
        }
        let page = ok(&db, "Query", body);
        for item in page["Items"].as_array().unwrap() {
            assert!(item.get("contents").is_none());
            seen.push(item["version"]["S"].as_str().unwrap().to_owned());
        }
        match page.get("LastEvaluatedKey") {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=5).map(|v| format!("{v:019}")).collect();
    assert_eq!(seen, expected);
    // Sort-key conditions.
    let page = ok(
        &db,
        "Query",
        json!({"TableName": "credential-store",
            "KeyConditionExpression": "#n = :n AND version BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#n": "name"},
            "ExpressionAttributeValues": {":n": {"S": "a"}, ":lo": {"S": format!("{:019}", 2)},
                                          ":hi": {"S": format!("{:019}", 4)}}}),
    );
    assert_eq!(page["Count"], 3);
    let page = ok(
        &db,
        "Query",
        json!({"TableName": "credential-store", "Select": "COUNT",
            "KeyConditionExpression": "#n = :n AND begins_with(version, :p)",
            "ExpressionAttributeNames": {"#n": "name"},
            "ExpressionAttributeValues": {":n": {"S": "a"}, ":p": {"S": "0000"}}}),
    );
    assert_eq!(page["Count"], 5);
    assert!(page.get("Items").is_none());
}

#[test]
fn query_validation() {
    let db = db();
    credstash_table(&db);
    let e = err(
        &db,
        "Query",
        json!({"TableName": "credential-store", "KeyConditionExpression": "version = :v",
               "ExpressionAttributeValues": {":v": {"S": "1"}}}),
    );
    assert!(
        e.message.contains("missed key schema element: name"),
        "{}",
        e.message
    );
    let e = err(
        &db,
        "Query",
        json!({"TableName": "credential-store", "KeyConditionExpression": "#n = :v OR #n = :v",
               "ExpressionAttributeNames": {"#n": "name"},
               "ExpressionAttributeValues": {":v": {"S": "1"}}}),
    );
    assert!(e.message.contains("OR"));
    let e = err(
        &db,
        "Query",
        json!({"TableName": "credential-store", "KeyConditionExpression": "#n = :v",
               "ExpressionAttributeNames": {"#n": "name"},
               "ExpressionAttributeValues": {":v": {"N": "1"}}}),
    );
    assert!(e
        .message
        .contains("Condition parameter type does not match schema type"));
    let e = err(&db, "Query", json!({"TableName": "credential-store"}));
    assert!(e.message.contains("KeyConditionExpression"));
    let e = err(
        &db,
        "Query",
        json!({"TableName": "credential-store", "KeyConditionExpression": "#n = :v", "Limit": 0,
               "ExpressionAttributeNames": {"#n": "name"},
               "ExpressionAttributeValues": {":v": {"S": "1"}}}),
    );
    assert!(e.message.contains("limit"));
}

#[test]
fn numeric_sort_keys_order_numerically() {
    let db = db();
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "nums", "BillingMode": "PAY_PER_REQUEST",
           "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                         {"AttributeName": "s", "KeyType": "RANGE"}],
           "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"},
                                    {"AttributeName": "s", "AttributeType": "N"}]}),
    );
    for s in ["10", "9", "-1", "0.5", "100", "-20"] {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "nums", "Item": {"p": {"S": "x"}, "s": {"N": s}}}),
        );
    }
    // 1.0E1 names the same key as 10.
    ok(
        &db,
        "PutItem",
        json!({"TableName": "nums", "Item": {"p": {"S": "x"}, "s": {"N": "1.0E1"}, "dup": {"BOOL": true}}}),
    );
    let page = ok(
        &db,
        "Query",
        json!({"TableName": "nums", "KeyConditionExpression": "p = :p AND s > :z",
               "ExpressionAttributeValues": {":p": {"S": "x"}, ":z": {"N": "0"}}}),
    );
    let order: Vec<&str> = page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["s"]["N"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["0.5", "9", "10", "100"]);
    assert_eq!(page["Items"][2]["dup"], json!({"BOOL": true}));
}

#[test]
fn scan_filter_counts_evaluated_items_against_limit() {
    let db = db();
    credstash_table(&db);
    for v in 1..=10 {
        put_secret(&db, "a", v).unwrap();
    }
    let page = ok(
        &db,
        "Scan",
        json!({"TableName": "credential-store", "Limit": 4,
               "FilterExpression": "version > :v",
               "ExpressionAttributeValues": {":v": {"S": format!("{:019}", 2)}}}),
    );
    assert_eq!(page["ScannedCount"], 4);
    assert_eq!(page["Count"], 2);
    assert!(page.get("LastEvaluatedKey").is_some());
    // Legacy AttributesToGet, as unicreds uses it.
    let page = ok(
        &db,
        "Scan",
        json!({"TableName": "credential-store", "AttributesToGet": ["name", "version"],
               "ConsistentRead": true}),
    );
    assert_eq!(page["Count"], 10);
    assert_eq!(page["Items"][0].as_object().unwrap().len(), 2);
    assert!(page.get("LastEvaluatedKey").is_none());
}

#[test]
fn scan_stops_at_one_megabyte() {
    let db = db();
    credstash_table(&db);
    let blob = "x".repeat(100 * 1024);
    for v in 0..25 {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "credential-store",
                     "Item": {"name": {"S": format!("n{v:02}")}, "version": {"S": "1"}, "b": {"S": blob}}}),
        );
    }
    let mut total = 0;
    let mut pages = 0;
    let mut start: Option<Value> = None;
    loop {
        let mut body = json!({"TableName": "credential-store"});
        if let Some(s) = start.take() {
            body["ExclusiveStartKey"] = s;
        }
        let page = ok(&db, "Scan", body);
        let n = page["Count"].as_u64().unwrap();
        assert!(n <= 11, "a page of {n} items exceeds 1 MB");
        total += n;
        pages += 1;
        match page.get("LastEvaluatedKey") {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(total, 25);
    assert!(pages >= 3);
}

#[test]
fn get_delete_and_batches() {
    let db = db();
    credstash_table(&db);
    let writes: Vec<Value> = (0..25)
        .map(|i| json!({"PutRequest": {"Item": {"name": {"S": format!("s{i}")}, "version": {"S": "1"}}}}))
        .collect();
    ok(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"credential-store": writes}}),
    );
    let too_many: Vec<Value> = (0..26)
        .map(|i| json!({"DeleteRequest": {"Key": {"name": {"S": format!("s{i}")}, "version": {"S": "1"}}}}))
        .collect();
    let e = err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"credential-store": too_many}}),
    );
    assert_eq!(e.code, "ValidationException");
    let keys: Vec<Value> = (0..30)
        .map(|i| json!({"name": {"S": format!("s{i}")}, "version": {"S": "1"}}))
        .collect();
    let got = ok(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {"credential-store": {"Keys": keys}}}),
    );
    assert_eq!(
        got["Responses"]["credential-store"]
            .as_array()
            .unwrap()
            .len(),
        25
    );
    assert_eq!(got["UnprocessedKeys"], json!({}));
    let item = ok(
        &db,
        "GetItem",
        json!({"TableName": "credential-store", "Key": {"name": {"S": "s3"}, "version": {"S": "1"}}}),
    );
    assert_eq!(item["Item"]["name"]["S"], "s3");
    let e = err(
        &db,
        "GetItem",
        json!({"TableName": "credential-store", "Key": {"name": {"S": "s3"}}}),
    );
    assert_eq!(
        e.message,
        "The provided key element does not match the schema"
    );
    let old = ok(
        &db,
        "DeleteItem",
        json!({"TableName": "credential-store", "ReturnValues": "ALL_OLD",
               "Key": {"name": {"S": "s3"}, "version": {"S": "1"}}}),
    );
    assert_eq!(old["Attributes"]["name"]["S"], "s3");
    let item = ok(
        &db,
        "GetItem",
        json!({"TableName": "credential-store", "Key": {"name": {"S": "s3"}, "version": {"S": "1"}}}),
    );
    assert!(item.get("Item").is_none());
    let d = ok(
        &db,
        "DescribeTable",
        json!({"TableName": "credential-store"}),
    );
    assert_eq!(d["Table"]["ItemCount"], 24);
}

#[test]
fn update_item_set_and_remove() {
    let db = db();
    credstash_table(&db);
    let key = json!({"name": {"S": "c"}, "version": {"S": "1"}});
    ok(
        &db,
        "UpdateItem",
        json!({"TableName": "credential-store", "Key": key,
               "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one, tmp = :one",
               "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}}}),
    );
    let out = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "credential-store", "Key": key, "ReturnValues": "ALL_NEW",
               "UpdateExpression": "SET n = n + :one REMOVE tmp",
               "ExpressionAttributeValues": {":one": {"N": "1"}}}),
    );
    assert_eq!(out["Attributes"]["n"], json!({"N": "2"}));
    assert!(out["Attributes"].get("tmp").is_none());
    let out = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "credential-store", "Key": key, "ReturnValues": "UPDATED_NEW",
               "UpdateExpression": "ADD n :five, tags :ab",
               "ExpressionAttributeValues": {":five": {"N": "5"}, ":ab": {"SS": ["a", "b"]}}}),
    );
    assert_eq!(out["Attributes"]["n"], json!({"N": "7"}));
    assert_eq!(out["Attributes"]["tags"], json!({"SS": ["a", "b"]}));
    let out = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "credential-store", "Key": key, "ReturnValues": "ALL_NEW",
               "UpdateExpression": "DELETE tags :ab",
               "ExpressionAttributeValues": {":ab": {"SS": ["a", "b"]}}}),
    );
    assert!(out["Attributes"].get("tags").is_none());
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "credential-store", "Key": key,
               "UpdateExpression": "SET #n = :v",
               "ExpressionAttributeNames": {"#n": "name"},
               "ExpressionAttributeValues": {":v": {"S": "x"}}}),
    );
    assert!(e.message.contains("part of the key"));
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "credential-store", "Key": key,
               "ConditionExpression": "attribute_not_exists(n)",
               "UpdateExpression": "REMOVE n"}),
    );
    assert_eq!(e.code, "ConditionalCheckFailedException");
}

#[test]
fn tags() {
    let db = db();
    credstash_table(&db);
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store";
    ok(
        &db,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "Name", "Value": "credstash"}, {"Key": "x", "Value": "y"}]}),
    );
    ok(
        &db,
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": ["x"]}),
    );
    let tags = ok(&db, "ListTagsOfResource", json!({"ResourceArn": arn}));
    assert_eq!(tags["Tags"], json!([{"Key": "Name", "Value": "credstash"}]));
    let e = err(
        &db,
        "ListTagsOfResource",
        json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/none"}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
}

/// A journal that keeps records, or fails every append.
#[derive(Debug, Default)]
struct MemJournal {
    records: Mutex<Vec<Value>>,
    fail: bool,
}

impl Journal for MemJournal {
    fn append(&self, service: &str, record: &Value) -> Result<(), AwsError> {
        assert_eq!(service, "dynamodb");
        if self.fail {
            return Err(AwsError::internal("disk full"));
        }
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

#[test]
fn journal_replay_and_snapshot_rebuild_state() {
    let journal = Arc::new(MemJournal::default());
    let db = DynamoDb::new(journal.clone());
    credstash_table(&db);
    for v in 1..=3 {
        put_secret(&db, "a", v).unwrap();
    }
    ok(
        &db,
        "DeleteItem",
        json!({"TableName": "credential-store", "Key": {"name": {"S": "a"}, "version": {"S": format!("{:019}", 2)}}}),
    );
    let replayed = DynamoDb::new(Arc::new(NoJournal));
    for r in journal.records.lock().unwrap().iter() {
        replayed.restore(r).unwrap();
    }
    let scan = |d: &DynamoDb| ok(d, "Scan", json!({"TableName": "credential-store"}));
    assert_eq!(scan(&replayed), scan(&db));
    let compacted = DynamoDb::new(Arc::new(NoJournal));
    for r in db.snapshot() {
        compacted.restore(&r).unwrap();
    }
    assert_eq!(scan(&compacted), scan(&db));
    assert_eq!(scan(&db)["Count"], 2);
    db.reset();
    assert_eq!(
        err(&db, "Scan", json!({"TableName": "credential-store"})).code,
        "ResourceNotFoundException"
    );
}

#[test]
fn failed_journal_append_fails_the_write() {
    let journal = Arc::new(MemJournal {
        fail: false,
        ..Default::default()
    });
    let db = DynamoDb::new(journal);
    credstash_table(&db);
    let failing = DynamoDb::new(Arc::new(MemJournal {
        fail: true,
        ..Default::default()
    }));
    for r in db.snapshot() {
        failing.restore(&r).unwrap();
    }
    let e = call(
        &failing,
        "PutItem",
        &json!({"TableName": "credential-store",
                 "Item": {"name": {"S": "a"}, "version": {"S": "1"}}}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InternalFailure");
    let scan = ok(&failing, "Scan", json!({"TableName": "credential-store"}));
    assert_eq!(scan["Count"], 0);
}

#[test]
fn concurrent_conditional_puts_each_win_once() {
    let db = Arc::new(db());
    credstash_table(&db);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                (1..=50)
                    .filter(|v| put_secret(&db, "race", *v).is_ok())
                    .count()
            })
        })
        .collect();
    let wins: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(wins, 50);
}

#[test]
fn continuous_backups_are_described_with_point_in_time_recovery_off() {
    let db = db();
    credstash_table(&db);
    let out = ok(
        &db,
        "DescribeContinuousBackups",
        json!({"TableName": "credential-store"}),
    );
    let d = &out["ContinuousBackupsDescription"];
    assert_eq!(d["ContinuousBackupsStatus"], "ENABLED");
    assert_eq!(
        d["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "DISABLED"
    );
    let e = err(
        &db,
        "DescribeContinuousBackups",
        json!({"TableName": "nope"}),
    );
    assert_eq!(e.code, "TableNotFoundException");
}

#[test]
fn errors_never_quote_item_values() {
    let db = db();
    credstash_table(&db);
    let canary = "CANARY-s3cr3t";
    let bodies = [
        json!({"TableName": "credential-store", "Item": {"name": {"S": canary}, "version": {"N": canary}}}),
        json!({"TableName": "credential-store", "Item": {"name": {"S": canary}, "version": {"S": "1"}},
               "ConditionExpression": "contents = :v AND", "ExpressionAttributeValues": {":v": {"S": canary}}}),
        json!({"TableName": "credential-store", "Item": {"name": {"S": canary}, "version": {"S": "1"}, "s": {"SS": [canary, canary]}}}),
    ];
    for b in bodies {
        let e = err(&db, "PutItem", b);
        assert!(!e.message.contains(canary), "{}", e.message);
    }
}

#[test]
fn legacy_parameters() {
    let db = db();
    credstash_table(&db);
    for v in 1..=4 {
        put_secret(&db, "l", v).unwrap();
    }
    // Expected with Exists=false, as older clients write conditionally.
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
               "Item": {"name": {"S": "l"}, "version": {"S": format!("{:019}", 1)}},
               "Expected": {"name": {"Exists": false}}}),
    );
    assert_eq!(e.code, "ConditionalCheckFailedException");
    let page = ok(
        &db,
        "Query",
        json!({"TableName": "credential-store",
               "KeyConditions": {
                   "name": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "l"}]},
                   "version": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": format!("{:019}", 2)}]}},
               "QueryFilter": {"digest": {"ComparisonOperator": "NULL"}}}),
    );
    assert_eq!(page["Count"], 2);
    let page = ok(
        &db,
        "Scan",
        json!({"TableName": "credential-store",
               "ScanFilter": {"version": {"ComparisonOperator": "IN",
                   "AttributeValueList": [{"S": format!("{:019}", 1)}, {"S": format!("{:019}", 4)}]}}}),
    );
    assert_eq!(page["Count"], 2);
    let e = err(
        &db,
        "Scan",
        json!({"TableName": "credential-store", "AttributesToGet": ["name"],
               "ProjectionExpression": "version"}),
    );
    assert!(e
        .message
        .contains("Can not use both expression and non-expression parameters"));
}

#[test]
fn parallel_scan_segments_partition_the_table() {
    let db = db();
    credstash_table(&db);
    for i in 0..60 {
        put_secret(&db, &format!("p{i}"), 1).unwrap();
    }
    let mut total = 0;
    for seg in 0..4 {
        let page = ok(
            &db,
            "Scan",
            json!({"TableName": "credential-store", "Segment": seg, "TotalSegments": 4}),
        );
        total += page["Count"].as_u64().unwrap();
    }
    assert_eq!(total, 60);
    let e = err(
        &db,
        "Scan",
        json!({"TableName": "credential-store", "Segment": 4, "TotalSegments": 4}),
    );
    assert_eq!(e.code, "ValidationException");
}

#[test]
fn request_shape_validation() {
    let db = db();
    credstash_table(&db);
    // A table ARN works wherever a table name does.
    ok(
        &db,
        "DescribeTable",
        json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store"}),
    );
    let e = err(&db, "PutItem", json!({"TableName": "credential-store"}));
    assert!(e.message.contains("'item'"), "{}", e.message);
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
               "Item": {"name": {"S": "a"}, "version": {"S": "1"}},
               "ConditionExpression": "attribute_not_exists(n)",
               "ExpressionAttributeNames": {"n": "name"}}),
    );
    assert!(e
        .message
        .contains("ExpressionAttributeNames contains invalid key"));
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "credential-store",
               "Item": {"name": {"S": "a"}, "version": {"S": "1"}},
               "ConditionExpression": "attribute_not_exists(#n) AND",
               "ExpressionAttributeNames": {"#n": "name"}}),
    );
    assert_eq!(
        e.message,
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \") AND\""
    );
    let e = err(
        &db,
        "GetItem",
        json!({"TableName": "credential-store",
               "Key": {"name": {"S": "a"}, "version": {"S": "1"}},
               "ExpressionAttributeNames": {"#n": "name"}}),
    );
    assert_eq!(
        e.message,
        "ExpressionAttributeNames can only be specified when using expressions"
    );
    let e = err(&db, "Frobnicate", json!({}));
    assert_eq!(e.code, "UnknownOperationException");
}

#[test]
fn transactions_are_all_or_nothing() {
    let journal = Arc::new(MemJournal::default());
    let db = DynamoDb::new(journal.clone());
    credstash_table(&db);
    put_secret(&db, "t", 1).unwrap();
    let put = |name: &str| {
        json!({"Put": {"TableName": "credential-store",
            "Item": {"name": {"S": name}, "version": {"S": "1"}},
            "ConditionExpression": "attribute_not_exists(#n)",
            "ExpressionAttributeNames": {"#n": "name"}}})
    };
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [put("x"), {"ConditionCheck": {"TableName": "credential-store",
            "Key": {"name": {"S": "t"}, "version": {"S": format!("{:019}", 1)}},
            "ConditionExpression": "attribute_not_exists(version)"}}]}),
    );
    assert_eq!(e.code, "TransactionCanceledException");
    assert!(
        e.message.ends_with("[None, ConditionalCheckFailed]"),
        "{}",
        e.message
    );
    assert_eq!(
        ok(&db, "Scan", json!({"TableName": "credential-store"}))["Count"],
        1
    );
    ok(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [put("x"), put("y"), {"Delete": {"TableName": "credential-store",
            "Key": {"name": {"S": "t"}, "version": {"S": format!("{:019}", 1)}}}}]}),
    );
    let got = ok(
        &db,
        "TransactGetItems",
        json!({"TransactItems": [
            {"Get": {"TableName": "credential-store", "Key": {"name": {"S": "x"}, "version": {"S": "1"}}}},
            {"Get": {"TableName": "credential-store", "Key": {"name": {"S": "t"}, "version": {"S": format!("{:019}", 1)}}}}]}),
    );
    assert_eq!(got["Responses"][0]["Item"]["name"]["S"], "x");
    assert_eq!(got["Responses"][1], json!({}));
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [put("z"), put("z")]}),
    );
    assert!(e.message.contains("multiple operations on one item"));
    // The transaction was journaled as one record and replays whole.
    let replayed = DynamoDb::new(Arc::new(NoJournal));
    for r in journal.records.lock().unwrap().iter() {
        replayed.restore(r).unwrap();
    }
    let scan = |d: &DynamoDb| ok(d, "Scan", json!({"TableName": "credential-store"}));
    assert_eq!(scan(&replayed), scan(&db));
    assert_eq!(scan(&db)["Count"], 2);
}

#[test]
fn random_pagination_matches_a_sorted_model() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let db = db();
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "model", "BillingMode": "PAY_PER_REQUEST",
           "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                         {"AttributeName": "s", "KeyType": "RANGE"}],
           "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"},
                                    {"AttributeName": "s", "AttributeType": "N"}]}),
    );
    let mut model: Vec<(String, i64, i64)> = Vec::new();
    for _ in 0..400 {
        let p = format!("p{}", rng.gen_range(0..5));
        let s: i64 = rng.gen_range(-500..500);
        let tag: i64 = rng.gen_range(0..3);
        ok(
            &db,
            "PutItem",
            json!({"TableName": "model", "Item": {"p": {"S": p}, "s": {"N": s.to_string()},
                   "tag": {"N": tag.to_string()}}}),
        );
        model.retain(|(mp, ms, _)| !(*mp == p && *ms == s));
        model.push((p, s, tag));
    }
    for _ in 0..40 {
        let p = format!("p{}", rng.gen_range(0..5));
        let lo: i64 = rng.gen_range(-500..0);
        let forward = rng.gen_bool(0.5);
        let limit = rng.gen_range(1..30);
        let mut expected: Vec<i64> = model
            .iter()
            .filter(|(mp, ms, tag)| *mp == p && *ms >= lo && *tag != 1)
            .map(|(_, s, _)| *s)
            .collect();
        expected.sort();
        if !forward {
            expected.reverse();
        }
        let mut got = Vec::new();
        let mut start: Option<Value> = None;
        loop {
            let mut body = json!({"TableName": "model", "Limit": limit,
                "ScanIndexForward": forward,
                "KeyConditionExpression": "p = :p AND s >= :lo",
                "FilterExpression": "tag <> :one",
                "ExpressionAttributeValues": {":p": {"S": p}, ":lo": {"N": lo.to_string()},
                                              ":one": {"N": "1"}}});
            if let Some(s) = start.take() {
                body["ExclusiveStartKey"] = s;
            }
            let page = ok(&db, "Query", body);
            assert!(page["ScannedCount"].as_u64().unwrap() <= limit as u64);
            for item in page["Items"].as_array().unwrap() {
                got.push(item["s"]["N"].as_str().unwrap().parse::<i64>().unwrap());
            }
            match page.get("LastEvaluatedKey") {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        assert_eq!(got, expected, "partition {p}, from {lo}, forward {forward}");
    }
}

#[test]
fn leading_keys_name_the_partition_keys_a_request_touches() {
    let db = db();
    credstash_table(&db);
    let q = json!({"TableName": "credential-store", "KeyConditionExpression": "#n = :n AND version > :v",
                   "ExpressionAttributeNames": {"#n": "name"},
                   "ExpressionAttributeValues": {":n": {"S": "app.db"}, ":v": {"S": "0"}}});
    assert_eq!(db.leading_keys("Query", &q), ["app.db"]);
    let g = json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store",
                   "Key": {"name": {"S": "x"}, "version": {"S": "1"}}});
    assert_eq!(db.leading_keys("GetItem", &g), ["x"]);
    let b = json!({"RequestItems": {"credential-store": {"Keys": [
        {"name": {"S": "b"}, "version": {"S": "1"}}, {"name": {"S": "a"}, "version": {"S": "1"}},
        {"name": {"S": "a"}, "version": {"S": "2"}}]}}});
    assert_eq!(db.leading_keys("BatchGetItem", &b), ["a", "b"]);
    assert!(db
        .leading_keys("Scan", &json!({"TableName": "credential-store"}))
        .is_empty());
    assert!(db
        .leading_keys("GetItem", &json!({"TableName": "nope", "Key": {}}))
        .is_empty());
}
