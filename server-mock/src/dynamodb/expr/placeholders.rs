//! A request's `ExpressionAttributeNames` and `ExpressionAttributeValues`, checked
//! as AWS checks them, and which of them the request's expressions used.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::super::value::AttrValue;
use crate::error::AwsError;

/// A request's `ExpressionAttributeNames`/`Values`, and which of them were used.
#[derive(Debug, Default)]
pub(crate) struct Placeholders {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, AttrValue>,
    names_given: bool,
    values_given: bool,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Placeholders {
    /// Read the placeholders of a request body.
    pub(crate) fn from_request(body: &Value) -> Result<Self, AwsError> {
        let mut p = Placeholders::default();
        if let Some(names) = body
            .get("ExpressionAttributeNames")
            .filter(|v| !v.is_null())
        {
            let obj = names
                .as_object()
                .ok_or_else(|| AwsError::serialization("ExpressionAttributeNames must be a map"))?;
            if obj.is_empty() {
                return Err(AwsError::validation(
                    "ExpressionAttributeNames must not be empty",
                ));
            }
            for (k, v) in obj {
                check_placeholder_key(k, '#', "ExpressionAttributeNames")?;
                let v = v.as_str().ok_or_else(|| {
                    AwsError::serialization("ExpressionAttributeNames values must be strings")
                })?;
                p.names.insert(k.clone(), v.to_owned());
            }
            p.names_given = true;
        }
        if let Some(values) = body
            .get("ExpressionAttributeValues")
            .filter(|v| !v.is_null())
        {
            let obj = values.as_object().ok_or_else(|| {
                AwsError::serialization("ExpressionAttributeValues must be a map")
            })?;
            if obj.is_empty() {
                return Err(AwsError::validation(
                    "ExpressionAttributeValues must not be empty",
                ));
            }
            for (k, v) in obj {
                check_placeholder_key(k, ':', "ExpressionAttributeValues")?;
                let value = AttrValue::from_json(v).map_err(|e| {
                    AwsError::validation(format!(
                        "ExpressionAttributeValues contains invalid value: {} for key {k}",
                        e.message
                    ))
                })?;
                p.values.insert(k.clone(), value);
            }
            p.values_given = true;
        }
        Ok(p)
    }

    /// Whether the request supplied any placeholders at all.
    pub(crate) fn any_given(&self) -> bool {
        self.names_given || self.values_given
    }

    /// The attribute name `#key` stands for, now counted as used.
    pub(crate) fn name(&mut self, key: &str) -> Option<String> {
        let name = self.names.get(key).cloned()?;
        self.used_names.insert(key.to_owned());
        Some(name)
    }

    /// The value `:key` stands for, now counted as used.
    pub(crate) fn value(&mut self, key: &str) -> Option<AttrValue> {
        let value = self.values.get(key).cloned()?;
        self.used_values.insert(key.to_owned());
        Some(value)
    }

    /// After parsing every expression of a request: reject unused placeholders.
    pub(crate) fn check_all_used(&self) -> Result<(), AwsError> {
        let unused = |all: Vec<&String>, used: &BTreeSet<String>| -> Vec<String> {
            all.into_iter()
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect()
        };
        let names = unused(self.names.keys().collect(), &self.used_names);
        if !names.is_empty() {
            return Err(AwsError::validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            )));
        }
        let values = unused(self.values.keys().collect(), &self.used_values);
        if !values.is_empty() {
            return Err(AwsError::validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.join(", ")
            )));
        }
        Ok(())
    }
}

/// Placeholder keys are `#word` or `:word`.
fn check_placeholder_key(key: &str, sigil: char, member: &str) -> Result<(), AwsError> {
    let ok = key.strip_prefix(sigil).is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(AwsError::validation(format!(
            "{member} contains invalid key: Syntax error; key: \"{key}\""
        )))
    }
}
