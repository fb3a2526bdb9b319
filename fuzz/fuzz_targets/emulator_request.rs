//! The emulator's request path, in process through its router: `X-Amz-Target`,
//! the JSON body and every KMS and DynamoDB operation, on a state holding a
//! credstash table with an item and a KMS key with an alias. Never a panic, and
//! never a server error: every answer is 2xx, or a 4xx whose JSON body carries an
//! AWS `__type`, so real SDKs classify it.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use lockbox_mock::MockState;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

const WORDS: &[&str] = &[
    "TableName",
    "Key",
    "Item",
    "Items",
    "ConditionExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
    "KeyConditionExpression",
    "ProjectionExpression",
    "UpdateExpression",
    "FilterExpression",
    "Limit",
    "ExclusiveStartKey",
    "RequestItems",
    "TransactItems",
    "Put",
    "Delete",
    "Update",
    "ConditionCheck",
    "Get",
    "Keys",
    "ReturnValues",
    "ConsistentRead",
    "Select",
    "ScanIndexForward",
    "AttributesToGet",
    "IndexName",
    "ReturnValuesOnConditionCheckFailure",
    "ReturnConsumedCapacity",
    "Expected",
    "KeyConditions",
    "ScanFilter",
    "QueryFilter",
    "ConditionalOperator",
    "Segment",
    "TotalSegments",
    "KeyId",
    "Plaintext",
    "CiphertextBlob",
    "EncryptionContext",
    "NumberOfBytes",
    "KeySpec",
    "AliasName",
    "TargetKeyId",
    "Description",
    "KeyUsage",
    "GrantTokens",
    "EncryptionAlgorithm",
    "SourceKeyId",
    "DestinationKeyId",
    "DestinationEncryptionContext",
    "Tags",
    "TagKey",
    "TagValue",
    "S",
    "N",
    "B",
    "SS",
    "NS",
    "BS",
    "M",
    "L",
    "BOOL",
    "NULL",
    "name",
    "version",
    "contents",
    "AttributeDefinitions",
    "KeySchema",
    "AttributeName",
    "KeyType",
    "AttributeType",
    "BillingMode",
    "ProvisionedThroughput",
    "ResourceArn",
    "TagKeys",
    "Value",
    "PutRequest",
    "DeleteRequest",
    "credential-store",
    "alias/credstash",
    "HASH",
    "RANGE",
    "PAY_PER_REQUEST",
    "ALL_NEW",
    "ALL_OLD",
    "UPDATED_NEW",
    "NONE",
    "COUNT",
    "ALL_ATTRIBUTES",
    ":v",
    "#n",
    "#v",
    "name = :v",
    "attribute_not_exists(#n)",
    "begins_with(#n, :v)",
    "SET #n = :v",
    "ADD #v :v",
    "0000000000000000001",
    "AES_256",
    "SYMMETRIC_DEFAULT",
    "ENCRYPT_DECRYPT",
];

const DDB_OPS: &[&str] = &[
    "CreateTable",
    "DescribeTable",
    "ListTables",
    "DeleteTable",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "PutItem",
    "GetItem",
    "DeleteItem",
    "UpdateItem",
    "BatchGetItem",
    "BatchWriteItem",
    "Query",
    "Scan",
    "TransactWriteItems",
    "TransactGetItems",
    "DescribeTimeToLive",
];

const KMS_OPS: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "CreateAlias",
    "ListAliases",
    "DeleteAlias",
    "UpdateAlias",
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "TagResource",
    "ListResourceTags",
];

#[derive(Arbitrary, Debug)]
enum Text {
    Word(u8),
    Any(String),
}

impl Text {
    fn get(&self) -> String {
        match self {
            Text::Word(i) => WORDS[usize::from(*i) % WORDS.len()].to_owned(),
            Text::Any(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    Arr(Vec<J>),
    Obj(Vec<(Text, J)>),
}

impl J {
    fn json(&self, depth: usize) -> Value {
        if depth > 10 {
            return Value::Null;
        }
        match self {
            J::Null => Value::Null,
            J::Bool(b) => json!(b),
            J::Int(i) => json!(i),
            J::Float(f) => json!(f),
            J::Str(t) => Value::String(t.get()),
            J::Arr(v) => Value::Array(v.iter().map(|j| j.json(depth + 1)).collect()),
            J::Obj(v) => Value::Object(
                v.iter()
                    .map(|(k, j)| (k.get(), j.json(depth + 1)))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Target {
    DynamoDb(u8),
    Kms(u8),
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum BodyIn {
    Json(J),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Call {
    target: Target,
    body: BodyIn,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

async fn call(state: &MockState, target: &str, body: Vec<u8>) -> (u16, Value) {
    let json_version = if target.starts_with("TrentService.") {
        "1.1"
    } else {
        "1.0"
    };
    let request = Request::post("/")
        .header("x-amz-target", target)
        .header(
            "content-type",
            format!("application/x-amz-json-{json_version}"),
        )
        .body(Body::from(body))
        .unwrap();
    let response = lockbox_mock::router(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn setup(state: &MockState) {
    let table = json!({
        "TableName": "credential-store",
        "AttributeDefinitions": [
            {"AttributeName": "name", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "S"}],
        "KeySchema": [
            {"AttributeName": "name", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST"});
    let item = json!({"TableName": "credential-store", "Item": {
        "name": {"S": "app/key"}, "version": {"S": "0000000000000000001"},
        "contents": {"S": "x"}, "hmac": {"S": "y"}, "key": {"S": "z"}}});
    for (target, body) in [
        ("DynamoDB_20120810.CreateTable", table),
        ("DynamoDB_20120810.PutItem", item),
        ("TrentService.CreateKey", json!({})),
    ] {
        let (status, out) = call(state, target, body.to_string().into_bytes()).await;
        assert_eq!(status, 200, "{target}: {out}");
        if target == "TrentService.CreateKey" {
            let key = out["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
            let alias = json!({"AliasName": "alias/credstash", "TargetKeyId": key});
            let (status, out) = call(
                state,
                "TrentService.CreateAlias",
                alias.to_string().into_bytes(),
            )
            .await;
            assert_eq!(status, 200, "CreateAlias: {out}");
        }
    }
}

fuzz_target!(|calls: Vec<Call>| {
    runtime().block_on(async {
        let state = MockState::in_memory();
        setup(&state).await;
        for c in calls.iter().take(16) {
            let target = match &c.target {
                Target::DynamoDb(i) => {
                    format!(
                        "DynamoDB_20120810.{}",
                        DDB_OPS[usize::from(*i) % DDB_OPS.len()]
                    )
                }
                Target::Kms(i) => {
                    format!("TrentService.{}", KMS_OPS[usize::from(*i) % KMS_OPS.len()])
                }
                Target::Any(s) => s.clone(),
            };
            if target.parse::<axum::http::HeaderValue>().is_err() {
                continue;
            }
            let body = match &c.body {
                BodyIn::Json(j) => j.json(0).to_string().into_bytes(),
                BodyIn::Raw(b) => b.clone(),
            };
            let (status, out) = call(&state, &target, body).await;
            assert!(status < 500, "{target}: {status} {out}");
            if status >= 400 {
                assert!(
                    out["__type"].is_string(),
                    "{target}: {status} without __type: {out}"
                );
            }
        }
    });
});
