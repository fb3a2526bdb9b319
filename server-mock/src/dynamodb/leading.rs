//! The partition-key values a request names, for IAM's `dynamodb:LeadingKeys`
//! condition key. Authorization runs before the operation, so this reads the request
//! leniently: anything it cannot make sense of contributes no value, and the
//! operation itself then reports the error.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value;

use super::expr::{parse_condition, CmpOp, Cond, Kind, Operand, PathElem, Placeholders};
use super::legacy;
use super::value::{item_from_json, AttrValue};
use super::DynamoDb;

/// A partition-key value as IAM compares it: strings as-is, numbers normalized,
/// binary base64.
fn render(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::S(s) => Some(s.clone()),
        AttrValue::N(n) => Some(n.to_string()),
        AttrValue::B(b) => Some(BASE64.encode(b)),
        _ => None,
    }
}

/// The value a key condition gives the attribute `hash` with `=`.
fn hash_eq(cond: &Cond, hash: &str) -> Option<String> {
    match cond {
        Cond::And(a, b) => hash_eq(a, hash).or_else(|| hash_eq(b, hash)),
        Cond::Cmp(Operand::Path(p), CmpOp::Eq, Operand::Value(v))
            if p.len() == 1 && p[0] == PathElem::Attr(hash.to_owned()) =>
        {
            render(v)
        }
        _ => None,
    }
}

impl DynamoDb {
    /// The partition-key values `operation` would read or write, for evaluating
    /// `dynamodb:LeadingKeys`. Empty for operations that name no key (Scan, table
    /// operations) or requests too malformed to say.
    pub fn leading_keys(&self, operation: &str, body: &Value) -> Vec<String> {
        let st = self.read();
        let hash_of = |table: &Value| {
            table
                .as_str()
                .map(|t| t.split_once(":table/").map_or(t, |(_, n)| n))
                .and_then(|t| st.tables.get(t))
                .map(|t| t.hash.0.clone())
        };
        let from_map = |map: Option<&Value>, hash: &Option<String>| -> Option<String> {
            let item = item_from_json(map?).ok()?;
            render(item.get(hash.as_ref()?)?)
        };
        let mut out = Vec::new();
        match operation {
            "GetItem" | "DeleteItem" | "UpdateItem" => {
                out.extend(from_map(body.get("Key"), &hash_of(&body["TableName"])));
            }
            "PutItem" => out.extend(from_map(body.get("Item"), &hash_of(&body["TableName"]))),
            "Query" => {
                let Some(hash) = hash_of(&body["TableName"]) else {
                    return out;
                };
                let Ok(mut ph) = Placeholders::from_request(body) else {
                    return out;
                };
                let cond = match body.get("KeyConditionExpression").and_then(Value::as_str) {
                    Some(text) => parse_condition(text, Kind::KeyCondition, &mut ph).ok(),
                    None => body
                        .get("KeyConditions")
                        .and_then(|k| legacy::conditions(k, None, false).ok().flatten()),
                };
                out.extend(cond.and_then(|c| hash_eq(&c, &hash)));
            }
            "BatchGetItem" => {
                if let Some(reqs) = body.get("RequestItems").and_then(Value::as_object) {
                    for (table, spec) in reqs {
                        let hash = hash_of(&Value::String(table.clone()));
                        for k in spec["Keys"].as_array().into_iter().flatten() {
                            out.extend(from_map(Some(k), &hash));
                        }
                    }
                }
            }
            "BatchWriteItem" => {
                if let Some(reqs) = body.get("RequestItems").and_then(Value::as_object) {
                    for (table, list) in reqs {
                        let hash = hash_of(&Value::String(table.clone()));
                        for r in list.as_array().into_iter().flatten() {
                            out.extend(from_map(r.pointer("/PutRequest/Item"), &hash));
                            out.extend(from_map(r.pointer("/DeleteRequest/Key"), &hash));
                        }
                    }
                }
            }
            "TransactWriteItems" | "TransactGetItems" => {
                for entry in body["TransactItems"].as_array().into_iter().flatten() {
                    for kind in ["ConditionCheck", "Put", "Delete", "Update", "Get"] {
                        if let Some(spec) = entry.get(kind) {
                            let hash = hash_of(&spec["TableName"]);
                            let field = if kind == "Put" { "Item" } else { "Key" };
                            out.extend(from_map(spec.get(field), &hash));
                        }
                    }
                }
            }
            _ => {}
        }
        out.sort();
        out.dedup();
        out
    }
}
