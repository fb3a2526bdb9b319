//! Reading DynamoDB request fields, with the validation messages its front end
//! uses; the generic member readers are `protocol/input.rs`'s.

use serde_json::Value;

use super::expr::{parse_projection, Path, PathElem, Placeholders};
use super::value::{item_from_json, Item};
use crate::error::AwsError;
use crate::protocol::Input;

/// An optional string member.
pub(crate) fn opt_str<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, AwsError> {
    Input::new(body).str(field)
}

/// A required string member.
pub(crate) fn req_str<'a>(body: &'a Value, field: &str) -> Result<&'a str, AwsError> {
    Input::new(body).required_str(field)
}

/// The `TableName` member, checked for length and characters. DynamoDB also accepts
/// the table's ARN here.
pub(crate) fn table_name(body: &Value) -> Result<&str, AwsError> {
    let name = crate::protocol::bare_table_name(req_str(body, "TableName")?);
    check_table_name(name, "tableName")?;
    Ok(name)
}

/// A required map of attribute values (`Item`, `Key`).
pub(crate) fn req_item(body: &Value, field: &str) -> Result<Item, AwsError> {
    let value = Input::new(body)
        .get(field)
        .ok_or_else(|| AwsError::missing_member(field))?;
    item_from_json(value)
}

/// Table names: 3–255 characters of `[a-zA-Z0-9_.-]`.
pub(crate) fn check_table_name(name: &str, member: &str) -> Result<(), AwsError> {
    if name.len() < 3 {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to 3"
        )));
    }
    if name.len() > 255 {
        return Err(AwsError::constraint(
            member,
            "Member must have length less than or equal to 255",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(())
}

/// An optional boolean member (absent is false).
pub(crate) fn opt_bool(body: &Value, field: &str) -> Result<bool, AwsError> {
    Ok(Input::new(body).bool(field)?.unwrap_or(false))
}

/// The optional `Limit` member (at least 1).
pub(crate) fn limit(body: &Value) -> Result<Option<usize>, AwsError> {
    match Input::new(body).int("Limit")? {
        None => Ok(None),
        Some(n) => {
            if n < 1 {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
                )));
            }
            Ok(Some(n as usize))
        }
    }
}

/// `ReturnValues` for PutItem/DeleteItem: NONE (default) or ALL_OLD.
pub(crate) fn return_all_old(body: &Value) -> Result<bool, AwsError> {
    match opt_str(body, "ReturnValues")? {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(_) => Err(AwsError::validation(
            "ReturnValues can only be ALL_OLD or NONE",
        )),
    }
}

/// Reject a legacy parameter combined with its expression counterpart.
pub(crate) fn not_both(body: &Value, legacy: &str, expression: &str) -> Result<(), AwsError> {
    let has = |f: &str| body.get(f).is_some_and(|v| !v.is_null());
    if has(legacy) && has(expression) {
        return Err(AwsError::validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{legacy}}} Expression parameters: {{{expression}}}"
        )));
    }
    Ok(())
}

/// Placeholders given without any expression to use them.
pub(crate) fn check_placeholders_need_expression(
    body: &Value,
    ph: &Placeholders,
    expression_fields: &[&str],
) -> Result<(), AwsError> {
    let any_expr = expression_fields
        .iter()
        .any(|f| body.get(*f).is_some_and(|v| !v.is_null()));
    if ph.any_given() && !any_expr {
        let which = if body
            .get("ExpressionAttributeNames")
            .is_some_and(|v| !v.is_null())
        {
            "ExpressionAttributeNames"
        } else {
            "ExpressionAttributeValues"
        };
        return Err(AwsError::validation(format!(
            "{which} can only be specified when using expressions"
        )));
    }
    Ok(())
}

/// The projection of a read: `ProjectionExpression` or legacy `AttributesToGet`.
pub(crate) fn projection(
    body: &Value,
    ph: &mut Placeholders,
) -> Result<Option<Vec<Path>>, AwsError> {
    not_both(body, "AttributesToGet", "ProjectionExpression")?;
    if let Some(text) = opt_str(body, "ProjectionExpression")? {
        return parse_projection(text, ph).map(Some);
    }
    match body.get("AttributesToGet") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(names)) => {
            if names.is_empty() {
                return Err(AwsError::validation(
                    "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1",
                ));
            }
            let mut paths = Vec::new();
            for n in names {
                let n = n
                    .as_str()
                    .ok_or_else(|| AwsError::serialization("AttributesToGet must hold strings"))?;
                let p = vec![PathElem::Attr(n.to_owned())];
                if paths.contains(&p) {
                    return Err(AwsError::validation(
                        "One or more parameter values were invalid: Duplicate value in attribute name",
                    ));
                }
                paths.push(p);
            }
            Ok(Some(paths))
        }
        Some(_) => Err(AwsError::serialization("AttributesToGet must be a list")),
    }
}

/// `ReturnConsumedCapacity` asks for a `ConsumedCapacity` member.
pub(crate) fn wants_capacity(body: &Value) -> Result<bool, AwsError> {
    Ok(matches!(
        opt_str(body, "ReturnConsumedCapacity")?,
        Some("TOTAL" | "INDEXES")
    ))
}
