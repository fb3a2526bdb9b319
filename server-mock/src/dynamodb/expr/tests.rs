//! Unit tests of the expression language: parsed and evaluated as operations do.

use serde_json::{json, Value};

use super::*;
use crate::dynamodb::value::item_from_json;

fn ph(names: Value, values: Value) -> Placeholders {
    Placeholders::from_request(&json!({
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values
    }))
    .unwrap()
}

fn check(expr: &str, item: Value, values: Value) -> bool {
    let mut p = ph(json!({"#n": "name"}), values);
    let c = parse_condition(expr, Kind::Condition, &mut p).unwrap();
    eval(&c, &item_from_json(&item).unwrap())
}

#[test]
fn functions_and_comparisons() {
    let item = json!({"name": {"S": "app.db"}, "v": {"N": "10"}, "tags": {"SS": ["a", "b"]},
                      "m": {"M": {"x": {"L": [{"N": "1"}, {"S": "q"}]}}}});
    let vals = json!({":a": {"S": "app"}, ":n": {"N": "9.5"}, ":m": {"N": "10.0"},
                      ":t": {"S": "SS"}, ":b": {"S": "b"}, ":one": {"N": "1"}});
    assert!(check(
        "attribute_exists(#n)",
        item.clone(),
        json!({":x": {"S": "1"}})
    ));
    assert!(check("begins_with(#n, :a)", item.clone(), vals.clone()));
    assert!(check("v > :n AND v = :m", item.clone(), vals.clone()));
    assert!(check("v BETWEEN :n AND :m", item.clone(), vals.clone()));
    assert!(check("v IN (:n, :m)", item.clone(), vals.clone()));
    assert!(check(
        "attribute_type(tags, :t)",
        item.clone(),
        vals.clone()
    ));
    assert!(check("contains(tags, :b)", item.clone(), vals.clone()));
    assert!(check("m.x[0] = :one", item.clone(), vals.clone()));
    assert!(check("size(tags) > :one", item.clone(), vals.clone()));
    assert!(check(
        "NOT attribute_exists(nope) AND nope <> :a",
        item.clone(),
        vals.clone()
    ));
    assert!(!check("nope = :a OR nope < :a", item.clone(), vals.clone()));
    // Comparing different types is false, not an error.
    assert!(!check("#n < :n", item, vals));
}

#[test]
fn precedence_and_binds_tighter_than_or() {
    let item = json!({"a": {"N": "1"}});
    let vals = json!({":one": {"N": "1"}, ":two": {"N": "2"}});
    // true OR (false AND false)
    assert!(check(
        "a = :one OR a = :two AND a = :two",
        item.clone(),
        vals.clone()
    ));
    // NOT binds tighter than AND: (NOT false) AND true
    assert!(check(
        "NOT a = :two AND a = :one",
        item.clone(),
        vals.clone()
    ));
    assert!(!check("(a = :one OR a = :two) AND a = :two", item, vals));
}

#[test]
fn errors_are_validation_errors_with_useful_messages() {
    let mut p = ph(json!({"#n": "name"}), json!({":v": {"S": "secret-canary"}}));
    let e = parse_condition("#n = = :v", Kind::Condition, &mut p).unwrap_err();
    assert_eq!(e.code, "ValidationException");
    assert!(
        e.message
            .starts_with("Invalid ConditionExpression: Syntax error; token: \"=\""),
        "{}",
        e.message
    );
    let e = parse_condition("name = :v", Kind::Condition, &mut p).unwrap_err();
    assert!(e
        .message
        .contains("reserved keyword; reserved keyword: name"));
    let e = parse_condition("#x = :v", Kind::Condition, &mut p).unwrap_err();
    assert!(e.message.contains("attribute name: #x"));
    let e = parse_condition("a = :w", Kind::Filter, &mut p).unwrap_err();
    assert!(e.message.starts_with("Invalid FilterExpression"));
    assert!(e.message.contains("attribute value: :w"));
    let mut pb = ph(json!({"#n": "x"}), json!({":b": {"BOOL": true}}));
    let e = parse_condition("a < :b", Kind::Condition, &mut pb).unwrap_err();
    assert!(
        e.message.contains("operator: <, operand type: BOOL"),
        "{}",
        e.message
    );
    let long = format!("a = :v{}", " OR a = :v".repeat(500));
    let e = parse_condition(&long, Kind::Condition, &mut p).unwrap_err();
    assert!(e.message.contains("Expression size has exceeded"));
    let e = parse_condition("frob(a)", Kind::Condition, &mut p).unwrap_err();
    assert!(e.message.contains("Invalid function name; function: frob"));
    let e = parse_condition("a = :v AND", Kind::Condition, &mut p).unwrap_err();
    assert!(e.message.contains("<EOF>"));
    let e = parse_condition("", Kind::Condition, &mut p).unwrap_err();
    assert!(e.message.contains("can not be empty"));
    let e = parse_condition("a = $", Kind::Condition, &mut p).unwrap_err();
    assert!(e.message.contains("token: \"$\""));
    let e = parse_condition(
        "begins_with(a, :n)",
        Kind::Condition,
        &mut ph(json!({"#n":"x"}), json!({":n": {"N": "1"}})),
    )
    .unwrap_err();
    assert!(e.message.contains("operand type: N"));
    // No message quotes a value.
    assert!(!e.message.contains("secret-canary"));
}

#[test]
fn lexer_errors_next_to_multibyte_characters() {
    // Found by fuzzing (fuzz/regressions/ddb_expression): the "near" excerpt
    // was cut at byte offsets, inside a character, and panicked.
    let mut p = Placeholders::default();
    let e = parse_condition("éé", Kind::Condition, &mut p).unwrap_err();
    assert!(
        e.message.ends_with("token: \"é\", near: \"éé\""),
        "{}",
        e.message
    );
    let e = parse_condition("a = é$é", Kind::Condition, &mut p).unwrap_err();
    assert!(
        e.message.ends_with("token: \"é\", near: \" é$\""),
        "{}",
        e.message
    );
    let e = parse_condition("a = $", Kind::Condition, &mut p).unwrap_err();
    assert!(
        e.message.ends_with("token: \"$\", near: \" $\""),
        "{}",
        e.message
    );
}

#[test]
fn unused_placeholders_are_rejected() {
    let mut p = ph(
        json!({"#n": "name", "#c": "comment"}),
        json!({":v": {"S": "x"}}),
    );
    parse_condition("attribute_not_exists(#n)", Kind::Condition, &mut p).unwrap();
    let e = p.check_all_used().unwrap_err();
    assert_eq!(
        e.message,
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#c}"
    );
}

#[test]
fn projection_of_nested_paths() {
    let item = item_from_json(&json!({"a": {"M": {"b": {"N": "1"}, "c": {"N": "2"}}},
        "l": {"L": [{"S": "x"}, {"S": "y"}, {"S": "z"}]}, "d": {"S": "d"}}))
    .unwrap();
    let mut p = Placeholders::default();
    let paths = parse_projection("a.b, l[2], l[0], absent", &mut p).unwrap();
    let out = project(&item, &paths);
    let json = serde_json::Value::Object(crate::dynamodb::value::map_to_json(&out));
    assert_eq!(
        json,
        json!({"a": {"M": {"b": {"N": "1"}}}, "l": {"L": [{"S": "x"}, {"S": "z"}]}})
    );
    assert!(parse_projection("a, a.b", &mut p).is_err());
}
