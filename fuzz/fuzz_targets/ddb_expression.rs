//! The emulator's DynamoDB expression parsers (condition, filter, key condition,
//! projection, update) with arbitrary placeholders, used on an arbitrary item:
//! never a panic, and every refusal is a client error (4xx) with an AWS code, as
//! a real SDK must see it. A projection only keeps attributes of the item; an
//! update never changes the key attributes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockbox_mock::fuzzing::{expression, ExpressionKind};
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum Kind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

/// A DynamoDB JSON attribute value (including invalid ones).
#[derive(Arbitrary, Debug)]
enum Av {
    S(String),
    N(String),
    B(String),
    Bool(bool),
    Null,
    Ss(Vec<String>),
    Ns(Vec<String>),
    L(Vec<Av>),
    M(Vec<(String, Av)>),
    Raw(String),
}

impl Av {
    fn json(&self, depth: usize) -> Value {
        if depth > 8 {
            return json!({"NULL": true});
        }
        match self {
            Av::S(s) => json!({ "S": s }),
            Av::N(n) => json!({ "N": n }),
            Av::B(b) => json!({ "B": b }),
            Av::Bool(b) => json!({ "BOOL": b }),
            Av::Null => json!({"NULL": true}),
            Av::Ss(v) => json!({ "SS": v }),
            Av::Ns(v) => json!({ "NS": v }),
            Av::L(v) => json!({ "L": v.iter().map(|a| a.json(depth + 1)).collect::<Vec<_>>() }),
            Av::M(v) => json!({ "M": map(v, depth + 1) }),
            Av::Raw(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        }
    }
}

fn map(v: &[(String, Av)], depth: usize) -> Map<String, Value> {
    v.iter().map(|(k, a)| (k.clone(), a.json(depth))).collect()
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    text: String,
    names: Option<Vec<(String, String)>>,
    values: Option<Vec<(String, Av)>>,
    item: Vec<(String, Av)>,
}

fuzz_target!(|input: Input| {
    let kind = match input.kind {
        Kind::Condition => ExpressionKind::Condition,
        Kind::Filter => ExpressionKind::Filter,
        Kind::KeyCondition => ExpressionKind::KeyCondition,
        Kind::Projection => ExpressionKind::Projection,
        Kind::Update => ExpressionKind::Update,
    };
    let mut request = Map::new();
    if let Some(names) = &input.names {
        let names: Map<String, Value> = names
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        request.insert("ExpressionAttributeNames".into(), Value::Object(names));
    }
    if let Some(values) = &input.values {
        request.insert(
            "ExpressionAttributeValues".into(),
            Value::Object(map(values, 0)),
        );
    }
    let mut item = map(&input.item, 0);
    item.insert("name".into(), json!({"S": "app/key"}));
    item.insert("version".into(), json!({"S": "0000000000000000001"}));
    let item = Value::Object(item);
    match expression(kind, &input.text, &Value::Object(request), &item) {
        Err(e) => {
            assert!(
                e.status.is_client_error(),
                "{} {}: {}",
                e.status,
                e.code,
                e.message
            );
            assert!(!e.code.is_empty());
        }
        Ok(out) => match kind {
            ExpressionKind::Projection => {
                for k in out.as_object().unwrap().keys() {
                    assert!(item.get(k).is_some(), "projected {k:?}, not in the item");
                }
            }
            ExpressionKind::Update => {
                assert_eq!(out["name"], item["name"]);
                assert_eq!(out["version"], item["version"]);
            }
            _ => assert!(out.is_boolean()),
        },
    }
});
