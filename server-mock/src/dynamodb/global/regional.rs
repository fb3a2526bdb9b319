//! What each region's [`DynamoDb`] offers the global service: its replicas,
//! the keys a write touches, copies applied from other regions, new replicas.

use serde_json::{json, Value};

use crate::dynamodb::item_records;
use crate::dynamodb::value::item_from_json;
use crate::dynamodb::{Change, DynamoDb};
use crate::error::AwsError;
use crate::protocol::bare_table_name;

/// What the region-level service offers the global one.
impl DynamoDb {
    /// The regions of a table's replicas (itself alone when not global) and
    /// whether it is `STRONG`; `None` if the table does not exist here.
    pub(in crate::dynamodb) fn replicas_of(&self, table: &str) -> Option<(Vec<String>, bool)> {
        let st = self.read();
        let t = st.tables.get(table)?;
        if t.is_global() {
            Some((t.replicas.clone(), t.is_strong()))
        } else {
            Some((vec![self.region.clone()], false))
        }
    }

    pub(super) fn consistency_of(&self, table: &str) -> Option<String> {
        let st = self.read();
        st.tables
            .get(table)
            .filter(|t| t.is_global())
            .and_then(|t| t.consistency.clone())
    }

    pub(super) fn witnesses_of(&self, table: &str) -> Vec<String> {
        self.read()
            .tables
            .get(table)
            .map(|t| t.witnesses.clone())
            .unwrap_or_default()
    }

    pub(super) fn item_count(&self, table: &str) -> usize {
        self.read().tables.get(table).map_or(0, |t| t.count)
    }

    /// Whether a write request names a `STRONG` table.
    pub(super) fn touches_strong(&self, operation: &str, body: &Value) -> bool {
        let st = self.read();
        let strong = |t: &str| st.tables.get(t).is_some_and(|t| t.is_strong());
        match operation {
            "BatchWriteItem" => body["RequestItems"]
                .as_object()
                .is_some_and(|m| m.keys().any(|t| strong(t))),
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|o| o.values())
                .any(|spec| {
                    spec["TableName"]
                        .as_str()
                        .map(bare_table_name)
                        .is_some_and(strong)
                }),
            _ => body["TableName"]
                .as_str()
                .map(bare_table_name)
                .is_some_and(strong),
        }
    }

    /// The (table, key) of each item a write request names, as text; items it
    /// cannot make sense of are left out (the operation then reports the error).
    pub(super) fn write_keys(&self, operation: &str, body: &Value) -> Vec<String> {
        let st = self.read();
        let key = |table: &str, item: &Value| -> Option<String> {
            let t = st.tables.get(table)?;
            let item = item_from_json(item).ok()?;
            let key = t.key_of(&item, false).ok()?;
            Some(format!("{table}\u{0}{key:?}"))
        };
        match operation {
            "BatchWriteItem" => body["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.iter())
                .flat_map(|(table, writes)| {
                    writes
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|w| {
                            let item = w
                                .pointer("/PutRequest/Item")
                                .or_else(|| w.pointer("/DeleteRequest/Key"))?;
                            key(table, item)
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
            _ => {
                let table = bare_table_name(body["TableName"].as_str().unwrap_or_default());
                let item = if operation == "PutItem" {
                    &body["Item"]
                } else {
                    &body["Key"]
                };
                key(table, item).into_iter().collect()
            }
        }
    }

    /// Applies a write copied from another replica, unless this replica holds a
    /// later write of the item (last writer wins) or no longer holds the table.
    /// Either way the journal says the copy arrived (a `copy` of the write, or
    /// `delivered`), so that a replay does not queue it again.
    pub(super) fn apply_replicated(&self, change: &Change) -> Result<(), AwsError> {
        let mut st = self.write();
        let op = change.record["op"].as_str().unwrap_or_default();
        let field = if op == "put" { "item" } else { "key" };
        let newer_here = st.tables.get(&change.table).is_none_or(|t| {
            item_from_json(&change.record[field])
                .ok()
                .and_then(|item| t.key_of(&item, false).ok())
                .is_none_or(|key| t.stamps.get(&key).is_some_and(|s| *s >= change.stamp))
        });
        let record = if newer_here {
            json!({"op": "delivered", "table": change.table, "stamp": change.stamp})
        } else {
            let mut copy = change.record.clone();
            copy["copy"] = json!(true);
            copy
        };
        self.journal_apply(&mut st, record)
    }

    /// Creates `table`'s replica in `to`, with every item, and `settings`.
    pub(super) fn copy_to(
        &self,
        table: &str,
        to: &DynamoDb,
        settings: &Value,
    ) -> Result<(), AwsError> {
        let st = self.read();
        let t = st
            .tables
            .get(table)
            .ok_or_else(crate::dynamodb::not_found)?;
        let mut copy = t.clone();
        copy.arn = format!(
            "arn:aws:dynamodb:{}:{}:table/{table}",
            to.region, to.account
        );
        copy.table_id = uuid::Uuid::new_v4().to_string();
        // Tags belong to each replica's ARN: a new replica starts with none.
        copy.tags.clear();
        copy.set_replicas_from(settings)
            .ok_or_else(|| AwsError::internal("malformed replica settings"))?;
        // One record: a crash leaves no replica with part of the items. It
        // names the source, whose queued copies the replica inherits.
        let mut records = vec![copy.to_record()];
        records.extend(item_records(t));
        let mut out = to.write();
        to.journal_apply(
            &mut out,
            json!({"op": "batch", "table": table, "inherit_from": self.region, "records": records}),
        )
    }

    /// Records new replica settings for `table`.
    pub(super) fn set_settings(&self, table: &str, settings: &Value) -> Result<(), AwsError> {
        let mut st = self.write();
        if !st.tables.contains_key(table) {
            return Ok(());
        }
        let mut record = settings.clone();
        record["op"] = json!("replicas");
        record["table"] = json!(table);
        self.journal_apply(&mut st, record)
    }

    /// Records that `table`'s replicas are now `replicas` (same mode and witnesses).
    pub(super) fn set_replicas(&self, table: &str, replicas: &[String]) -> Result<(), AwsError> {
        let (consistency, witnesses) = {
            let st = self.read();
            let Some(t) = st.tables.get(table) else {
                return Ok(());
            };
            (t.consistency.clone(), t.witnesses.clone())
        };
        let settings = if replicas.len() < 2 {
            json!({"replicas": [], "consistency": null, "witnesses": []})
        } else {
            json!({"replicas": replicas, "consistency": consistency, "witnesses": witnesses})
        };
        self.set_settings(table, &settings)
    }
}
