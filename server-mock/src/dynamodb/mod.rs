//! DynamoDB (awsJson1.0, `X-Amz-Target: DynamoDB_20120810.*`).
//!
//! [`DynamoDb`] holds every table behind one lock: a conditional write checks and
//! writes under the write lock, so concurrent conditional puts are atomic. Each state
//! change is appended to the [`Journal`] before it is applied; the records describe
//! resulting state (`put` of a whole item, `delete` of a key), so replay is exact.

mod capacity;
mod control;
mod expr;
#[doc(hidden)]
pub mod fuzzing;
mod global;
mod items;
mod leading;
mod legacy;
mod number;
mod read;
mod request;
mod reserved;
mod table;
mod transact;
mod update;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{json, Value};

use crate::error::AwsError;
use crate::faults::ReadCaps;
use crate::journal::Journal;
use crate::protocol::RequestContext;
use crate::services::{JsonService, Reply};
use table::{StoredKey, Table};
use value::{item_from_json, map_to_json, Item};

pub use global::{
    DynamoDbRegions, ReplicationStatus, DEFAULT_REPLICATION_LAG, MAX_REPLICATION_LAG,
};

/// The name the journal files DynamoDB records under.
const SERVICE: &str = "dynamodb";

/// All tables.
#[derive(Debug, Default)]
struct State {
    tables: BTreeMap<String, Table>,
}

/// One region of the DynamoDB service: tables and items in memory, journaled
/// writes. [`DynamoDbRegions`] holds one per region and replicates between them.
pub struct DynamoDb {
    state: RwLock<State>,
    journal: Arc<dyn Journal>,
    region: String,
    account: String,
    /// The replication clock, shared by every region: stamps item writes of
    /// global tables for last-writer-wins.
    clock: Arc<AtomicU64>,
    /// Item writes to global tables, waiting for the service to replicate them.
    outbox: Mutex<Vec<Change>>,
}

/// One item write to a global table, to apply in the other replicas.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub table: String,
    /// A `put` or `delete` journal record.
    pub record: Value,
    /// The replication clock's reading at the write.
    pub stamp: u64,
}

impl fmt::Debug for DynamoDb {
    /// Table names only: items may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables: Vec<String> = self.read().tables.keys().cloned().collect();
        f.debug_struct("DynamoDb")
            .field("region", &self.region)
            .field("tables", &tables)
            .finish_non_exhaustive()
    }
}

impl DynamoDb {
    /// An empty service in `us-east-1`, account `000000000000`.
    #[cfg(test)]
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        Self::with_clock(journal, "us-east-1", "000000000000", Arc::default())
    }

    /// An empty region sharing the replication `clock` of its service.
    pub(crate) fn with_clock(
        journal: Arc<dyn Journal>,
        region: impl Into<String>,
        account: impl Into<String>,
        clock: Arc<AtomicU64>,
    ) -> Self {
        Self {
            state: RwLock::new(State::default()),
            journal,
            region: region.into(),
            account: account.into(),
            clock,
            outbox: Mutex::new(Vec::new()),
        }
    }

    /// [`JsonService::handle`] with the read limits of an injected fault.
    pub(crate) fn handle_capped(
        &self,
        operation: &str,
        body: &Value,
        caps: ReadCaps,
    ) -> Result<Reply, AwsError> {
        if !body.is_object() {
            return Err(AwsError::serialization(
                "Request body must be a JSON object",
            ));
        }
        let out = match operation {
            "CreateTable" => self.create_table(body),
            "DescribeTable" => self.describe_table(body),
            "ListTables" => self.list_tables(body),
            "DeleteTable" => self.delete_table(body),
            "TagResource" => self.tag_resource(body),
            "UntagResource" => self.untag_resource(body),
            "ListTagsOfResource" => self.list_tags(body),
            "PutItem" => self.put_item(body),
            "GetItem" => self.get_item(body),
            "DeleteItem" => self.delete_item(body),
            "UpdateItem" => self.update_item(body),
            "BatchGetItem" => self.batch_get_item(body, caps.batch_keys),
            "BatchWriteItem" => self.batch_write_item(body),
            "Query" => return self.query(body, caps.page_items),
            "Scan" => return self.scan(body, caps.page_items),
            "TransactWriteItems" => self.transact_write_items(body),
            "TransactGetItems" => self.transact_get_items(body),
            "DescribeTimeToLive" => self.describe_ttl(body),
            "DescribeContinuousBackups" => self.describe_continuous_backups(body),
            _ => Err(AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("Unknown operation: {operation}"),
            )),
        };
        out.map(Reply::from)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (we never panic
        // mid-mutation), so poisoning is not fatal.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Journal a record, then apply it; item writes to a global table are
    /// stamped and queued for replication. Call with the write lock held.
    fn commit(&self, st: &mut State, mut record: Value) -> Result<(), AwsError> {
        let mut changes = Vec::new();
        let at = unix_ms(std::time::SystemTime::now());
        self.stamp_writes(st, &mut record, at, &mut changes);
        self.journal_apply(st, record)?;
        self.lock_outbox().extend(changes);
        Ok(())
    }

    /// Journal a record (naming this region), then apply it.
    fn journal_apply(&self, st: &mut State, mut record: Value) -> Result<(), AwsError> {
        record["region"] = Value::String(self.region.clone());
        self.journal.append(SERVICE, &record)?;
        apply(st, &record).map_err(AwsError::internal)
    }

    /// Gives each item write of `record` to a global table its replication
    /// stamp and the time it was made (`at`, milliseconds since the Unix epoch),
    /// so that a replay knows the copies it owes the other replicas, and
    /// collects those writes.
    fn stamp_writes(&self, st: &State, record: &mut Value, at: u64, out: &mut Vec<Change>) {
        let op = record.get("op").and_then(Value::as_str).unwrap_or("");
        if op == "batch" {
            for inner in record["records"].as_array_mut().into_iter().flatten() {
                self.stamp_writes(st, inner, at, out);
            }
            return;
        }
        if op != "put" && op != "delete" {
            return;
        }
        let Some(name) = record.get("table").and_then(Value::as_str) else {
            return;
        };
        if !st.tables.get(name).is_some_and(Table::is_global) {
            return;
        }
        let name = name.to_owned();
        let stamp = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        record["stamp"] = json!(stamp);
        record["at"] = json!(at);
        out.push(Change {
            table: name,
            record: record.clone(),
            stamp,
        });
    }

    fn lock_outbox(&self) -> std::sync::MutexGuard<'_, Vec<Change>> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Store an item (already validated, key extracted) durably.
    fn commit_put(&self, st: &mut State, table: &str, item: &Item) -> Result<(), AwsError> {
        self.commit(
            st,
            json!({"op": "put", "table": table, "item": map_to_json(item)}),
        )
    }

    /// Delete an item durably.
    fn commit_delete(&self, st: &mut State, table: &str, key: &StoredKey) -> Result<(), AwsError> {
        let key_item = st
            .tables
            .get(table)
            .map(|t| t.key_item(key))
            .unwrap_or_default();
        self.commit(
            st,
            json!({"op": "delete", "table": table, "key": map_to_json(&key_item)}),
        )
    }
}

impl JsonService for DynamoDb {
    /// Handle one awsJson1.0 operation; `operation` is the part after `DynamoDB_20120810.`.
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        _ctx: &RequestContext,
    ) -> Result<Reply, AwsError> {
        self.handle_capped(operation, body, ReadCaps::default())
    }

    /// Re-apply one journal record at start-up.
    fn restore(&self, record: &Value) -> Result<(), String> {
        let mut st = self.write();
        apply(&mut st, record)?;
        // Stamps made after the replay come after every stamp replayed (and in a
        // shared data dir, after those of the other emulators).
        if let Some(stamp) = max_stamp(record) {
            self.clock.fetch_max(stamp, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Records that rebuild the current state (for compaction).
    fn snapshot(&self) -> Vec<Value> {
        let st = self.read();
        let mut out = Vec::new();
        let region = &self.region;
        for t in st.tables.values() {
            let mut table = t.to_record();
            table["region"] = json!(region);
            out.push(table);
            for mut record in item_records(t) {
                record["region"] = json!(region);
                out.push(record);
            }
        }
        out
    }

    /// Empty all state.
    fn reset(&self) {
        self.write().tables.clear();
    }
}

/// `ResourceNotFoundException` as DynamoDB words it for item operations.
fn not_found() -> AwsError {
    AwsError::new(
        http::StatusCode::BAD_REQUEST,
        "ResourceNotFoundException",
        "Requested resource not found",
    )
}

/// Records that rebuild a table's items and replication stamps: a `put` of each
/// item (with its stamp), and a `stamp` of each deleted item's key, so that an
/// older copy still on its way does not bring it back.
fn item_records(t: &Table) -> Vec<Value> {
    let mut out = Vec::with_capacity(t.count);
    for part in t.items.values() {
        for item in part.items.values().map(|s| &s.item) {
            let mut put = json!({"op": "put", "table": t.name, "item": map_to_json(item)});
            if let Some(stamp) = t.key_of(item, false).ok().and_then(|k| t.stamps.get(&k)) {
                put["stamp"] = json!(stamp);
            }
            out.push(put);
        }
    }
    for (key, stamp) in &t.stamps {
        if t.get(key).is_none() {
            out.push(json!({
                "op": "stamp", "table": t.name, "key": map_to_json(&t.key_item(key)),
                "stamp": stamp,
            }));
        }
    }
    out
}

/// Milliseconds since the Unix epoch.
fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The largest replication stamp a record (or the records of its batch) holds.
fn max_stamp(r: &Value) -> Option<u64> {
    let own = r.get("stamp").and_then(Value::as_u64);
    let inner = r
        .get("records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(max_stamp)
        .max();
    own.max(inner)
}

/// Apply one journal record to the state.
fn apply(st: &mut State, r: &Value) -> Result<(), String> {
    let op = r.get("op").and_then(Value::as_str).unwrap_or("");
    if op == "batch" {
        // A transaction: its records were journaled together and apply together.
        let records = r
            .get("records")
            .and_then(Value::as_array)
            .ok_or("malformed dynamodb batch record")?;
        for rec in records {
            apply(st, rec)?;
        }
        return Ok(());
    }
    let name = r
        .get("table")
        .and_then(Value::as_str)
        .ok_or("dynamodb record without a table name")?;
    match op {
        "create_table" => {
            let t = Table::from_record(r).ok_or("malformed dynamodb create_table record")?;
            st.tables.insert(name.to_owned(), t);
        }
        "delete_table" => {
            st.tables.remove(name);
        }
        "replicas" => {
            st.tables
                .get_mut(name)
                .ok_or("replicas for an unknown table")?
                .set_replicas_from(r)
                .ok_or("malformed dynamodb replicas record")?;
        }
        "throughput" => {
            st.tables
                .get_mut(name)
                .ok_or("throughput for an unknown table")?
                .set_throughput_from(r)
                .ok_or("malformed dynamodb throughput record")?;
        }
        "tags" => {
            let t = st.tables.get_mut(name).ok_or("tags for an unknown table")?;
            t.tags = serde_json::from_value(r.get("tags").cloned().unwrap_or_default())
                .map_err(|e| format!("malformed dynamodb tags record: {e}"))?;
        }
        // Replication bookkeeping, which DynamoDbRegions keeps.
        "delivered" | "queued" => {}
        "put" | "delete" | "stamp" => {
            let t = st
                .tables
                .get_mut(name)
                .ok_or("item record for an unknown table")?;
            let field = if op == "put" { "item" } else { "key" };
            let item = item_from_json(r.get(field).unwrap_or(&Value::Null))
                .map_err(|e| format!("malformed dynamodb {op} record: {}", e.message))?;
            let key = t
                .key_of(&item, false)
                .map_err(|e| format!("malformed dynamodb {op} record: {}", e.message))?;
            if let Some(stamp) = r.get("stamp").and_then(Value::as_u64) {
                t.stamps.insert(key.clone(), stamp);
            }
            match op {
                "put" => {
                    t.put(key, item);
                }
                "delete" => {
                    t.delete(&key);
                }
                _ => {}
            }
        }
        other => return Err(format!("unknown dynamodb record op {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
