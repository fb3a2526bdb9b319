//! The legacy conditional parameters (`Expected`, `KeyConditions`, `ScanFilter`,
//! `QueryFilter`), translated into the expression AST so one evaluator serves both.

use serde_json::Value;

use super::expr::{CmpOp, Cond, Operand, PathElem};
use super::value::AttrValue;
use crate::error::AwsError;

/// Translate a legacy condition map. `expected` selects the `Expected` flavour
/// (which also accepts `Exists`/`Value`).
pub(crate) fn conditions(
    map: &Value,
    conditional_operator: Option<&str>,
    expected: bool,
) -> Result<Option<Cond>, AwsError> {
    let obj = map
        .as_object()
        .ok_or_else(|| AwsError::serialization("Legacy conditions must be a map"))?;
    let or = match conditional_operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(_) => {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]",
            ))
        }
    };
    let mut out: Option<Cond> = None;
    for (name, spec) in obj {
        let c = one(name, spec, expected)?;
        out = Some(match out {
            None => c,
            Some(prev) if or => Cond::Or(Box::new(prev), Box::new(c)),
            Some(prev) => Cond::And(Box::new(prev), Box::new(c)),
        });
    }
    Ok(out)
}

fn one(name: &str, spec: &Value, expected: bool) -> Result<Cond, AwsError> {
    let path = || Operand::Path(vec![PathElem::Attr(name.to_owned())]);
    let op = spec.get("ComparisonOperator").and_then(Value::as_str);
    if expected && op.is_none() {
        let exists = spec.get("Exists").and_then(Value::as_bool).unwrap_or(true);
        let value = spec.get("Value").filter(|v| !v.is_null());
        return match (exists, value) {
            (true, Some(v)) => Ok(Cond::Cmp(
                path(),
                CmpOp::Eq,
                Operand::Value(AttrValue::from_json(v)?),
            )),
            (false, None) => Ok(Cond::NotExists(vec![PathElem::Attr(name.to_owned())])),
            (true, None) => Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: {name}"
            ))),
            (false, Some(_)) => Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: {name}"
            ))),
        };
    }
    let op = op.ok_or_else(|| AwsError::missing_member("comparisonOperator"))?;
    let values: Vec<AttrValue> = match spec.get("AttributeValueList") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(AttrValue::from_json)
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(AwsError::serialization("AttributeValueList must be a list")),
    };
    let arity = |n: usize| -> Result<(), AwsError> {
        if values.len() != n {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Invalid number of argument(s) for the {op} ComparisonOperator"
            )));
        }
        Ok(())
    };
    let v = |i: usize| Operand::Value(values[i].clone());
    let cmp = |o| -> Result<Cond, AwsError> {
        arity(1)?;
        Ok(Cond::Cmp(path(), o, v(0)))
    };
    match op {
        "EQ" => cmp(CmpOp::Eq),
        // Legacy NE is true for a missing attribute, as the expression `<>` is.
        "NE" => cmp(CmpOp::Ne),
        "LT" => cmp(CmpOp::Lt),
        "LE" => cmp(CmpOp::Le),
        "GT" => cmp(CmpOp::Gt),
        "GE" => cmp(CmpOp::Ge),
        "NOT_NULL" => {
            arity(0)?;
            Ok(Cond::Exists(vec![PathElem::Attr(name.to_owned())]))
        }
        "NULL" => {
            arity(0)?;
            Ok(Cond::NotExists(vec![PathElem::Attr(name.to_owned())]))
        }
        "CONTAINS" => {
            arity(1)?;
            Ok(Cond::Contains(path(), v(0)))
        }
        "NOT_CONTAINS" => {
            arity(1)?;
            Ok(Cond::And(
                Box::new(Cond::Exists(vec![PathElem::Attr(name.to_owned())])),
                Box::new(Cond::Not(Box::new(Cond::Contains(path(), v(0))))),
            ))
        }
        "BEGINS_WITH" => {
            arity(1)?;
            Ok(Cond::BeginsWith(path(), v(0)))
        }
        "BETWEEN" => {
            arity(2)?;
            Ok(Cond::Between(path(), v(0), v(1)))
        }
        "IN" => {
            if values.is_empty() {
                arity(1)?;
            }
            Ok(Cond::In(path(), (0..values.len()).map(v).collect()))
        }
        _ => Err(AwsError::validation(format!(
            "1 validation error detected: Value '{op}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        ))),
    }
}
