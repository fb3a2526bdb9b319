//! The DynamoDB expression entry point of the fuzz targets (`fuzz/`): not an API.

use serde_json::Value;

use super::expr::{eval, parse_condition, parse_projection, project, Kind, Placeholders};
use super::update::{apply_update, parse_update};
use super::value::{item_from_json, map_to_json};
use crate::error::AwsError;

/// Which expression parameter a text is parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpressionKind {
    /// `ConditionExpression`.
    Condition,
    /// `FilterExpression`.
    Filter,
    /// `KeyConditionExpression`, parsed as a condition (as `Query` starts).
    KeyCondition,
    /// `ProjectionExpression`.
    Projection,
    /// `UpdateExpression`.
    Update,
}

/// Parses `text` as an expression of `kind` with the placeholders of `request` (its
/// `ExpressionAttributeNames`/`Values`), as an operation does, then uses it on `item`
/// (a DynamoDB JSON item): a condition answers whether it holds, a projection the
/// projected item, an update the updated item (key attributes `name` and `version`).
pub fn expression(
    kind: ExpressionKind,
    text: &str,
    request: &Value,
    item: &Value,
) -> Result<Value, AwsError> {
    let mut ph = Placeholders::from_request(request)?;
    let mut item = item_from_json(item)?;
    let condition = |kind, ph: &mut Placeholders| parse_condition(text, kind, ph);
    let out = match kind {
        ExpressionKind::Condition => {
            Value::Bool(eval(&condition(Kind::Condition, &mut ph)?, &item))
        }
        ExpressionKind::Filter => Value::Bool(eval(&condition(Kind::Filter, &mut ph)?, &item)),
        ExpressionKind::KeyCondition => {
            Value::Bool(eval(&condition(Kind::KeyCondition, &mut ph)?, &item))
        }
        ExpressionKind::Projection => {
            let paths = parse_projection(text, &mut ph)?;
            Value::Object(map_to_json(&project(&item, &paths)))
        }
        ExpressionKind::Update => {
            let update = parse_update(text, &mut ph)?;
            apply_update(&update, &mut item, "name", Some(&"version".to_owned()))?;
            Value::Object(map_to_json(&item))
        }
    };
    ph.check_all_used()?;
    Ok(out)
}
