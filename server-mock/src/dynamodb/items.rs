//! Single-item and batch operations: PutItem, GetItem, DeleteItem, UpdateItem,
//! BatchGetItem, BatchWriteItem.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::expr::{eval, parse_condition, project, Cond, Kind, Path, Placeholders};
use super::legacy;
use super::request::{
    check_placeholders_need_expression, not_both, opt_str, projection, req_item, return_all_old,
    table_name, wants_capacity,
};
use super::table::StoredKey;
use super::update::{apply_update, parse_update};
use super::value::{item_from_json, item_size, map_to_json, Item, MAX_ITEM_SIZE};
use super::{not_found, DynamoDb};
use crate::error::AwsError;

fn conditional_failed() -> AwsError {
    AwsError::new(
        http::StatusCode::BAD_REQUEST,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    )
}

pub(super) fn too_big() -> AwsError {
    AwsError::validation("Item size has exceeded the maximum allowed size")
}

/// The write condition of a request: `ConditionExpression` or legacy `Expected`.
pub(super) fn write_condition(
    body: &Value,
    ph: &mut Placeholders,
) -> Result<Option<Cond>, AwsError> {
    not_both(body, "Expected", "ConditionExpression")?;
    if let Some(text) = opt_str(body, "ConditionExpression")? {
        return parse_condition(text, Kind::Condition, ph).map(Some);
    }
    match body.get("Expected").filter(|v| !v.is_null()) {
        Some(e) => legacy::conditions(e, opt_str(body, "ConditionalOperator")?, true),
        None => Ok(None),
    }
}

/// `ConsumedCapacity` for a write of `size` bytes.
fn write_capacity(table: &str, size: usize) -> Value {
    json!({"TableName": table, "CapacityUnits": size.div_ceil(1024).max(1) as f64})
}

/// `ConsumedCapacity` for reading `size` bytes.
pub(super) fn read_capacity(table: &str, size: usize, consistent: bool) -> Value {
    let units = size.div_ceil(4096).max(1) as f64;
    json!({"TableName": table, "CapacityUnits": if consistent { units } else { units / 2.0 }})
}

impl DynamoDb {
    pub(super) fn put_item(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        let mut ph = Placeholders::from_request(body)?;
        check_placeholders_need_expression(body, &ph, &["ConditionExpression"])?;
        let cond = write_condition(body, &mut ph)?;
        ph.check_all_used()?;
        let all_old = return_all_old(body)?;
        let capacity = wants_capacity(body)?;
        let item = req_item(body, "Item")?;
        let size = item_size(&item);
        if size > MAX_ITEM_SIZE {
            return Err(too_big());
        }
        let mut st = self.write();
        let table = st.tables.get(name).ok_or_else(not_found)?;
        let key = table.key_of(&item, false)?;
        let old = table.get(&key).cloned();
        if let Some(c) = &cond {
            if !eval(c, old.as_ref().unwrap_or(&Item::new())) {
                return Err(conditional_failed());
            }
        }
        self.commit_put(&mut st, name, &item)?;
        let mut out = json!({});
        if let (true, Some(old)) = (all_old, old) {
            out["Attributes"] = Value::Object(map_to_json(&old));
        }
        if capacity {
            out["ConsumedCapacity"] = write_capacity(name, size);
        }
        Ok(out)
    }

    pub(super) fn get_item(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        let mut ph = Placeholders::from_request(body)?;
        check_placeholders_need_expression(body, &ph, &["ProjectionExpression"])?;
        let proj = projection(body, &mut ph)?;
        ph.check_all_used()?;
        let consistent = super::request::opt_bool(body, "ConsistentRead")?;
        let capacity = wants_capacity(body)?;
        let key_item = req_item(body, "Key")?;
        let st = self.read();
        let table = st.tables.get(name).ok_or_else(not_found)?;
        let key = table.key_of(&key_item, true)?;
        let mut out = json!({});
        let found = table.get(&key);
        if let Some(item) = found {
            let shown = match &proj {
                Some(p) => project(item, p),
                None => item.clone(),
            };
            out["Item"] = Value::Object(map_to_json(&shown));
        }
        if capacity {
            out["ConsumedCapacity"] = read_capacity(name, found.map_or(0, item_size), consistent);
        }
        Ok(out)
    }

    pub(super) fn delete_item(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        let mut ph = Placeholders::from_request(body)?;
        check_placeholders_need_expression(body, &ph, &["ConditionExpression"])?;
        let cond = write_condition(body, &mut ph)?;
        ph.check_all_used()?;
        let all_old = return_all_old(body)?;
        let capacity = wants_capacity(body)?;
        let key_item = req_item(body, "Key")?;
        let mut st = self.write();
        let table = st.tables.get(name).ok_or_else(not_found)?;
        let key = table.key_of(&key_item, true)?;
        let old = table.get(&key).cloned();
        if let Some(c) = &cond {
            if !eval(c, old.as_ref().unwrap_or(&Item::new())) {
                return Err(conditional_failed());
            }
        }
        if old.is_some() {
            self.commit_delete(&mut st, name, &key)?;
        }
        let mut out = json!({});
        if let (true, Some(old)) = (all_old, &old) {
            out["Attributes"] = Value::Object(map_to_json(old));
        }
        if capacity {
            out["ConsumedCapacity"] = write_capacity(name, old.as_ref().map_or(0, item_size));
        }
        Ok(out)
    }

    pub(super) fn update_item(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        if body.get("AttributeUpdates").is_some_and(|v| !v.is_null()) {
            return Err(AwsError::validation(
                "lockbox-mock does not support the legacy AttributeUpdates parameter; use UpdateExpression",
            ));
        }
        let mut ph = Placeholders::from_request(body)?;
        check_placeholders_need_expression(
            body,
            &ph,
            &["ConditionExpression", "UpdateExpression"],
        )?;
        let cond = write_condition(body, &mut ph)?;
        let update = match opt_str(body, "UpdateExpression")? {
            Some(text) => Some(parse_update(text, &mut ph)?),
            None => None,
        };
        ph.check_all_used()?;
        let return_values = opt_str(body, "ReturnValues")?.unwrap_or("NONE");
        if !matches!(
            return_values,
            "NONE" | "ALL_OLD" | "ALL_NEW" | "UPDATED_OLD" | "UPDATED_NEW"
        ) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{return_values}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
            )));
        }
        let key_item = req_item(body, "Key")?;
        let mut st = self.write();
        let table = st.tables.get(name).ok_or_else(not_found)?;
        let key = table.key_of(&key_item, true)?;
        let old = table.get(&key).cloned();
        if let Some(c) = &cond {
            if !eval(c, old.as_ref().unwrap_or(&Item::new())) {
                return Err(conditional_failed());
            }
        }
        let mut new = old.clone().unwrap_or_else(|| key_item.clone());
        let mut touched: Vec<String> = Vec::new();
        if let Some(u) = &update {
            touched = apply_update(
                u,
                &mut new,
                &table.hash.0,
                table.range.as_ref().map(|r| &r.0),
            )?;
        }
        if item_size(&new) > MAX_ITEM_SIZE {
            return Err(too_big());
        }
        self.commit_put(&mut st, name, &new)?;
        let pick = |item: &Item| -> Item {
            item.iter()
                .filter(|(k, _)| touched.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let attrs = match (return_values, &old) {
            ("ALL_OLD", Some(o)) => Some(o.clone()),
            ("UPDATED_OLD", Some(o)) => Some(pick(o)),
            ("ALL_NEW", _) => Some(new.clone()),
            ("UPDATED_NEW", _) => Some(pick(&new)),
            _ => None,
        };
        let mut out = json!({});
        if let Some(a) = attrs.filter(|a| !a.is_empty()) {
            out["Attributes"] = Value::Object(map_to_json(&a));
        }
        Ok(out)
    }

    /// BatchGetItem; with `key_cap`, only that many keys are processed and the rest
    /// are returned as `UnprocessedKeys`.
    pub(super) fn batch_get_item(
        &self,
        body: &Value,
        key_cap: Option<usize>,
    ) -> Result<Value, AwsError> {
        let requests = request_items(body)?;
        struct Plan<'a> {
            name: &'a str,
            keys: Vec<(Item, &'a Value)>,
            proj: Option<Vec<Path>>,
        }
        let mut plans = Vec::new();
        let mut total = 0;
        for (name, spec) in requests {
            super::request::check_table_name(name, "requestItems.key")?;
            let mut ph = Placeholders::from_request(spec)?;
            check_placeholders_need_expression(spec, &ph, &["ProjectionExpression"])?;
            let proj = projection(spec, &mut ph)?;
            ph.check_all_used()?;
            let keys = spec
                .get("Keys")
                .and_then(Value::as_array)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    AwsError::validation(
                        "1 validation error detected: Value at 'requestItems.1.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1",
                    )
                })?;
            total += keys.len();
            let keys = keys
                .iter()
                .map(|k| item_from_json(k).map(|i| (i, k)))
                .collect::<Result<Vec<_>, _>>()?;
            plans.push(Plan { name, keys, proj });
        }
        if total > 100 {
            return Err(AwsError::validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        let st = self.read();
        let mut responses = Map::new();
        let mut unprocessed = Map::new();
        // A response holds at most 16 MB; the rest is returned as UnprocessedKeys.
        let mut budget: usize = 16 * 1024 * 1024;
        let mut keys_left = key_cap.unwrap_or(usize::MAX);
        for plan in plans {
            let table = st.tables.get(plan.name).ok_or_else(not_found)?;
            let mut seen: Vec<StoredKey> = Vec::new();
            let mut found = Vec::new();
            let mut left = Vec::new();
            for (k, raw) in &plan.keys {
                let key = table.key_of(k, true)?;
                if seen.contains(&key) {
                    return Err(AwsError::validation(
                        "Provided list of item keys contains duplicates",
                    ));
                }
                seen.push(key.clone());
                if keys_left == 0 {
                    left.push((*raw).clone());
                    continue;
                }
                keys_left -= 1;
                if let Some(item) = table.get(&key) {
                    let size = item_size(item);
                    if size > budget {
                        left.push((*raw).clone());
                        budget = 0;
                        continue;
                    }
                    budget -= size;
                    let shown = match &plan.proj {
                        Some(p) => project(item, p),
                        None => item.clone(),
                    };
                    found.push(Value::Object(map_to_json(&shown)));
                }
            }
            responses.insert(plan.name.to_owned(), Value::Array(found));
            if !left.is_empty() {
                let mut spec = requests[plan.name].clone();
                spec["Keys"] = Value::Array(left);
                unprocessed.insert(plan.name.to_owned(), spec);
            }
        }
        Ok(json!({"Responses": responses, "UnprocessedKeys": unprocessed}))
    }

    pub(super) fn batch_write_item(&self, body: &Value) -> Result<Value, AwsError> {
        let requests = request_items(body)?;
        enum Write {
            Put(Item),
            Delete(Item),
        }
        let mut writes: Vec<(&str, Write)> = Vec::new();
        for (name, list) in requests {
            super::request::check_table_name(name, "requestItems.key")?;
            let list = list.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                AwsError::validation(
                    "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
                )
            })?;
            for req in list {
                let put = req.get("PutRequest").filter(|v| !v.is_null());
                let del = req.get("DeleteRequest").filter(|v| !v.is_null());
                let w = match (put, del) {
                    (Some(p), None) => {
                        let item = req_item(p, "Item")?;
                        if item_size(&item) > MAX_ITEM_SIZE {
                            return Err(too_big());
                        }
                        Write::Put(item)
                    }
                    (None, Some(d)) => Write::Delete(req_item(d, "Key")?),
                    _ => {
                        return Err(AwsError::validation(
                            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                        ))
                    }
                };
                writes.push((name.as_str(), w));
            }
        }
        if writes.len() > 25 {
            return Err(AwsError::validation(
                "Too many items requested for the BatchWriteItem call",
            ));
        }
        let mut st = self.write();
        // Validate every request before applying any, so a bad one applies nothing.
        let mut keys: BTreeMap<&str, Vec<StoredKey>> = BTreeMap::new();
        for (name, w) in &writes {
            let table = st.tables.get(*name).ok_or_else(not_found)?;
            let key = match w {
                Write::Put(item) => table.key_of(item, false)?,
                Write::Delete(k) => table.key_of(k, true)?,
            };
            let seen = keys.entry(name).or_default();
            if seen.contains(&key) {
                return Err(AwsError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
            seen.push(key);
        }
        for (name, w) in &writes {
            match w {
                Write::Put(item) => self.commit_put(&mut st, name, item)?,
                Write::Delete(k) => {
                    let table = st.tables.get(*name).ok_or_else(not_found)?;
                    let key = table.key_of(k, true)?;
                    if table.get(&key).is_some() {
                        self.commit_delete(&mut st, name, &key)?;
                    }
                }
            }
        }
        Ok(json!({"UnprocessedItems": {}}))
    }
}

/// The non-empty `RequestItems` map of a batch request.
fn request_items(body: &Value) -> Result<&serde_json::Map<String, Value>, AwsError> {
    body.get("RequestItems")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| AwsError::missing_member("requestItems"))
}
