//! TransactWriteItems and TransactGetItems: all-or-nothing groups of item actions.
//!
//! Every condition is checked and every write applied under one write lock, and the
//! writes are journaled as one `batch` record, so a crash never leaves half a
//! transaction behind. A failed condition cancels the whole transaction with
//! `TransactionCanceledException`, whose message lists one reason per action in
//! request order, as AWS words it.

use serde_json::{json, Value};

use super::expr::{eval, project, Cond, Placeholders};
use super::items::{too_big, write_condition};
use super::request::{
    check_placeholders_need_expression, opt_str, projection, req_item, table_name,
};
use super::table::StoredKey;
use super::update::{apply_update, parse_update, Update};
use super::value::{item_size, map_to_json, Item, MAX_ITEM_SIZE};
use super::{not_found, DynamoDb};
use crate::error::AwsError;

/// What one transactional action does once its condition holds.
enum Action {
    Check,
    Put(Item),
    Delete,
    Update(Update),
}

struct Step<'a> {
    table: &'a str,
    key_source: Item,
    is_put: bool,
    cond: Option<Cond>,
    action: Action,
}

fn list(body: &Value) -> Result<&Vec<Value>, AwsError> {
    let items = body
        .get("TransactItems")
        .and_then(Value::as_array)
        .ok_or_else(|| AwsError::missing_member("transactItems"))?;
    if items.is_empty() || items.len() > 100 {
        return Err(AwsError::validation(
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1",
        ));
    }
    Ok(items)
}

fn parse_step(entry: &Value) -> Result<Step<'_>, AwsError> {
    let kinds = ["ConditionCheck", "Put", "Delete", "Update"];
    let mut present = kinds
        .iter()
        .filter_map(|k| entry.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)));
    let (kind, spec) = match (present.next(), present.next()) {
        (Some(one), None) => one,
        _ => {
            return Err(AwsError::validation(
                "TransactItems can only contain one of Check, Put, Update or Delete",
            ))
        }
    };
    let table = table_name(spec)?;
    let mut ph = Placeholders::from_request(spec)?;
    check_placeholders_need_expression(spec, &ph, &["ConditionExpression", "UpdateExpression"])?;
    let cond = write_condition(spec, &mut ph)?;
    let (key_source, is_put, action) = match kind {
        "ConditionCheck" => {
            if cond.is_none() {
                return Err(AwsError::validation(
                    "The ConditionExpression must be specified for a ConditionCheck",
                ));
            }
            (req_item(spec, "Key")?, false, Action::Check)
        }
        "Put" => {
            let item = req_item(spec, "Item")?;
            if item_size(&item) > MAX_ITEM_SIZE {
                return Err(too_big());
            }
            (item.clone(), true, Action::Put(item))
        }
        "Delete" => (req_item(spec, "Key")?, false, Action::Delete),
        _ => {
            let text = opt_str(spec, "UpdateExpression")?.ok_or_else(|| {
                AwsError::missing_member("transactItems.1.member.update.updateExpression")
            })?;
            let u = parse_update(text, &mut ph)?;
            (req_item(spec, "Key")?, false, Action::Update(u))
        }
    };
    ph.check_all_used()?;
    Ok(Step {
        table,
        key_source,
        is_put,
        cond,
        action,
    })
}

impl DynamoDb {
    pub(super) fn transact_write_items(&self, body: &Value) -> Result<Value, AwsError> {
        let steps = list(body)?
            .iter()
            .map(parse_step)
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = self.write();
        let mut keys: Vec<(&str, StoredKey)> = Vec::new();
        for s in &steps {
            let table = st.tables.get(s.table).ok_or_else(not_found)?;
            let key = table.key_of(&s.key_source, !s.is_put)?;
            if keys.iter().any(|(t, k)| *t == s.table && *k == key) {
                return Err(AwsError::validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            keys.push((s.table, key));
        }
        // Check every condition first; any failure cancels everything.
        let mut reasons = Vec::new();
        let mut failed = false;
        for (s, (t, key)) in steps.iter().zip(&keys) {
            let current = st.tables.get(*t).and_then(|tb| tb.get(key));
            let ok = s
                .cond
                .as_ref()
                .is_none_or(|c| eval(c, current.unwrap_or(&Item::new())));
            failed |= !ok;
            reasons.push(if ok { "None" } else { "ConditionalCheckFailed" });
        }
        if failed {
            return Err(AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "TransactionCanceledException",
                format!(
                    "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                    reasons.join(", ")
                ),
            ));
        }
        let mut records = Vec::new();
        for (s, (t, key)) in steps.iter().zip(&keys) {
            let table = st.tables.get(*t).ok_or_else(not_found)?;
            match &s.action {
                Action::Check => {}
                Action::Put(item) => {
                    records.push(json!({"op": "put", "table": t, "item": map_to_json(item)}));
                }
                Action::Delete => {
                    if table.get(key).is_some() {
                        records.push(json!({"op": "delete", "table": t,
                            "key": map_to_json(&table.key_item(key))}));
                    }
                }
                Action::Update(u) => {
                    let mut new = table
                        .get(key)
                        .cloned()
                        .unwrap_or_else(|| table.key_item(key));
                    apply_update(
                        u,
                        &mut new,
                        &table.hash.0,
                        table.range.as_ref().map(|r| &r.0),
                    )?;
                    if item_size(&new) > MAX_ITEM_SIZE {
                        return Err(too_big());
                    }
                    records.push(json!({"op": "put", "table": t, "item": map_to_json(&new)}));
                }
            }
        }
        if !records.is_empty() {
            self.commit(
                &mut st,
                json!({"op": "batch", "table": "", "records": records}),
            )?;
        }
        Ok(json!({}))
    }

    pub(super) fn transact_get_items(&self, body: &Value) -> Result<Value, AwsError> {
        let mut gets = Vec::new();
        for entry in list(body)? {
            let spec = entry
                .get("Get")
                .filter(|v| !v.is_null())
                .ok_or_else(|| AwsError::validation("TransactItems can only contain Get"))?;
            let table = table_name(spec)?;
            let mut ph = Placeholders::from_request(spec)?;
            check_placeholders_need_expression(spec, &ph, &["ProjectionExpression"])?;
            let proj = projection(spec, &mut ph)?;
            ph.check_all_used()?;
            gets.push((table, req_item(spec, "Key")?, proj));
        }
        let st = self.read();
        let mut responses = Vec::new();
        for (table, key_item, proj) in gets {
            let t = st.tables.get(table).ok_or_else(not_found)?;
            let key = t.key_of(&key_item, true)?;
            responses.push(match t.get(&key) {
                Some(item) => {
                    let shown = proj
                        .as_ref()
                        .map_or_else(|| item.clone(), |p| project(item, p));
                    json!({"Item": map_to_json(&shown)})
                }
                None => json!({}),
            });
        }
        Ok(json!({"Responses": responses}))
    }
}
