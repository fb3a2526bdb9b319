//! What a KMS or DynamoDB request asks IAM for: the (action, resource, condition
//! keys) checks AWS evaluates for it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::policy::Request;
use crate::dynamodb::DynamoDbRegions;
use crate::kms::Kms;

/// The checks of one KMS operation.
pub fn kms_checks(kms: &Kms, operation: &str, body: &Value, region: &str) -> Vec<Request> {
    let action = format!("kms:{operation}");
    let key = |field: &str| {
        body.get(field)
            .and_then(Value::as_str)
            .map(|k| kms.authz_key_arn(region, k))
    };
    let context = |field: &str| {
        let mut ctx: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(map) = body.get(field).and_then(Value::as_object) {
            let mut keys = Vec::new();
            for (k, v) in map {
                if let Some(v) = v.as_str() {
                    ctx.insert(format!("kms:EncryptionContext:{k}"), vec![v.to_owned()]);
                    keys.push(k.clone());
                }
            }
            ctx.insert("kms:EncryptionContextKeys".to_owned(), keys);
        }
        ctx
    };
    let one = |action: String, resource: Option<String>, context| Request {
        action,
        resource: resource.unwrap_or_else(|| "*".to_owned()),
        context,
    };
    match operation {
        "CreateKey" | "ListKeys" | "ListAliases" => vec![one(action, None, BTreeMap::new())],
        "Decrypt" => {
            let resource = key("KeyId").or_else(|| {
                body.get("CiphertextBlob")
                    .and_then(Value::as_str)
                    .and_then(|b| kms.authz_blob_key_arn(region, b))
            });
            vec![one(action, resource, context("EncryptionContext"))]
        }
        "ReEncrypt" => {
            let source = key("SourceKeyId").or_else(|| {
                body.get("CiphertextBlob")
                    .and_then(Value::as_str)
                    .and_then(|b| kms.authz_blob_key_arn(region, b))
            });
            vec![
                one(
                    "kms:ReEncryptFrom".to_owned(),
                    source,
                    context("SourceEncryptionContext"),
                ),
                one(
                    "kms:ReEncryptTo".to_owned(),
                    key("DestinationKeyId"),
                    context("DestinationEncryptionContext"),
                ),
            ]
        }
        "CreateAlias" | "DeleteAlias" => {
            let alias = body
                .get("AliasName")
                .and_then(Value::as_str)
                .map(|a| kms.authz_alias_arn(region, a));
            let mut checks = vec![one(action.clone(), alias.clone(), BTreeMap::new())];
            let target = key("TargetKeyId").or_else(|| {
                body.get("AliasName")
                    .and_then(Value::as_str)
                    .map(|a| kms.authz_key_arn(region, a))
                    .filter(|arn| Some(arn) != alias.as_ref())
            });
            if target.is_some() {
                checks.push(one(action, target, BTreeMap::new()));
            }
            checks
        }
        _ => vec![one(action, key("KeyId"), context("EncryptionContext"))],
    }
}

/// The checks of one DynamoDB operation.
pub fn dynamodb_checks(
    ddb: &DynamoDbRegions,
    account: &str,
    operation: &str,
    body: &Value,
    region: &str,
) -> Vec<Request> {
    let mut leading = BTreeMap::new();
    let keys = ddb.leading_keys(region, operation, body);
    if !keys.is_empty() {
        leading.insert("dynamodb:LeadingKeys".to_owned(), keys);
    }
    // The table the operation runs on: an ARN in `TableName` names a table of
    // the signed region and account, whatever region or account it spells.
    let table_arn = |t: &str| {
        let t = crate::protocol::bare_table_name(t);
        format!("arn:aws:dynamodb:{region}:{account}:table/{t}")
    };
    let check = |action: &str, resource: String| Request {
        action: format!("dynamodb:{action}"),
        resource,
        context: leading.clone(),
    };
    let tables_of = |field: &str| -> Vec<String> {
        body.get(field)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    match operation {
        "ListTables" => vec![check(operation, "*".to_owned())],
        "TagResource" | "UntagResource" | "ListTagsOfResource" => {
            let arn = body
                .get("ResourceArn")
                .and_then(Value::as_str)
                .unwrap_or("*");
            vec![check(operation, arn.to_owned())]
        }
        "BatchGetItem" | "BatchWriteItem" => tables_of("RequestItems")
            .iter()
            .map(|t| check(operation, table_arn(t)))
            .collect(),
        "TransactWriteItems" | "TransactGetItems" => {
            let mut out = Vec::new();
            for entry in body["TransactItems"].as_array().into_iter().flatten() {
                for (kind, action) in [
                    ("ConditionCheck", "ConditionCheckItem"),
                    ("Put", "PutItem"),
                    ("Delete", "DeleteItem"),
                    ("Update", "UpdateItem"),
                    ("Get", "GetItem"),
                ] {
                    if let Some(t) = entry.get(kind).and_then(|s| s["TableName"].as_str()) {
                        out.push(check(action, table_arn(t)));
                    }
                }
            }
            if out.is_empty() {
                out.push(check(operation, "*".to_owned()));
            }
            out
        }
        "UpdateTable" => {
            let table = body.get("TableName").and_then(Value::as_str).unwrap_or("*");
            let mut out = vec![check(
                operation,
                if table == "*" {
                    table.to_owned()
                } else {
                    table_arn(table)
                },
            )];
            // A replica is made or removed in its own region: AWS asks for the
            // table-level actions there, on that region's table (Using IAM with
            // global tables, version 2019.11.21).
            let bare = crate::protocol::bare_table_name(table);
            for (target, actions) in replica_updates(body) {
                let arn = format!("arn:aws:dynamodb:{target}:{account}:table/{bare}");
                for action in actions {
                    out.push(check(action, arn.clone()));
                }
            }
            out
        }
        _ => {
            let table = body.get("TableName").and_then(Value::as_str).unwrap_or("*");
            let mut arn = if table == "*" {
                table.to_owned()
            } else {
                table_arn(table)
            };
            if let Some(index) = body.get("IndexName").and_then(Value::as_str) {
                arn = format!("{arn}/index/{index}");
            }
            vec![check(operation, arn)]
        }
    }
}

/// The regions `UpdateTable`'s `ReplicaUpdates` creates or deletes a replica in,
/// each with the actions AWS requires in that region. Malformed updates and
/// region names are left out: the operation refuses them after authorization.
fn replica_updates(body: &Value) -> Vec<(&str, [&'static str; 2])> {
    body.get("ReplicaUpdates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|update| {
            let action = |name: &str| update.get(name).filter(|v| !v.is_null());
            let (spec, actions) = if let Some(spec) = action("Create") {
                (spec, ["CreateTable", "CreateTableReplica"])
            } else if let Some(spec) = action("Delete") {
                (spec, ["DeleteTable", "DeleteTableReplica"])
            } else {
                return None;
            };
            let region = spec.get("RegionName").and_then(Value::as_str)?;
            crate::protocol::valid_region(region).then_some((region, actions))
        })
        .collect()
}
