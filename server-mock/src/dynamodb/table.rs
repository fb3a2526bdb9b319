//! Tables: key schema, metadata, and items kept in key order.
//!
//! Items live in one ordered map keyed by (partition key, sort key), so a Query is a
//! range over one partition and a Scan walks partitions in a stable order, each in
//! sort-key order — the order DynamoDB guarantees within a partition.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde_json::{json, Value};

use super::number::Number;
use super::value::{item_size, AttrValue, Item, Rendered};
use crate::error::AwsError;

/// A key attribute's scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "S" => Some(Self::S),
            "N" => Some(Self::N),
            "B" => Some(Self::B),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::S => "S",
            Self::N => "N",
            Self::B => "B",
        }
    }
}

/// A key attribute value, ordered as DynamoDB orders keys: S by UTF-8 bytes,
/// N numerically, B by bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KeyValue {
    S(String),
    N(Number),
    B(Vec<u8>),
}

impl KeyValue {
    pub(crate) fn to_attr(&self) -> AttrValue {
        match self {
            KeyValue::S(s) => AttrValue::S(s.clone()),
            KeyValue::N(n) => AttrValue::N(n.clone()),
            KeyValue::B(b) => AttrValue::B(b.clone()),
        }
    }
}

/// The stored key of an item: partition key, then sort key (if the table has one).
pub(crate) type StoredKey = (KeyValue, Option<KeyValue>);

/// A [`StoredKey`] borrowed from a table.
pub(crate) type KeyRef<'a> = (&'a KeyValue, &'a Option<KeyValue>);

/// One partition: its items in sort-key order, and the hash that assigns it to
/// a parallel-scan segment (computed once, when the partition is made: a scan
/// of one segment passes over every other segment's partitions).
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    pub(crate) scan_hash: u64,
    pub(crate) items: BTreeMap<Option<KeyValue>, Stored>,
}

impl Partition {
    fn new(pk: &KeyValue) -> Self {
        Self {
            scan_hash: scan_hash(pk),
            items: BTreeMap::new(),
        }
    }

    /// Whether the partition falls in `segment` of a scan in `total` segments.
    pub(crate) fn in_segment(&self, segment: u64, total: u64) -> bool {
        self.scan_hash % total == segment
    }
}

/// A stored item, with its size as DynamoDB counts it and its JSON (both
/// computed at the write: a Query or Scan adds up the size of every item it
/// reads, and writes them out).
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) item: Item,
    pub(crate) size: usize,
    pub(crate) json: Rendered,
}

/// A stable hash of a partition key, to assign it to a parallel-scan segment.
fn scan_hash(pk: &KeyValue) -> u64 {
    let text;
    let bytes: &[u8] = match pk {
        KeyValue::S(s) => s.as_bytes(),
        KeyValue::B(b) => b,
        KeyValue::N(n) => {
            text = n.to_string();
            text.as_bytes()
        }
    };
    // FNV-1a: stable across runs and processes, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One table.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub name: String,
    pub hash: (String, KeyType),
    pub range: Option<(String, KeyType)>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    pub read_capacity: u64,
    pub write_capacity: u64,
    /// `OnDemandThroughput`: the maximum read and write request units per second
    /// of a `PAY_PER_REQUEST` table (`None`: no maximum).
    pub on_demand: (Option<u64>, Option<u64>),
    pub created: f64,
    pub arn: String,
    pub table_id: String,
    pub tags: BTreeMap<String, String>,
    /// Partition key → sort key (`None` without one) → item.
    pub items: BTreeMap<KeyValue, Partition>,
    pub count: usize,
    pub size_bytes: usize,
    /// Global tables: every region holding a replica, this one included, sorted;
    /// empty for a table of one region.
    pub replicas: Vec<String>,
    /// Global tables: `EVENTUAL` or `STRONG`.
    pub consistency: Option<String>,
    /// Global tables in `STRONG` mode: the witness region, if any.
    pub witnesses: Vec<String>,
    /// Global tables: the replication clock's reading at each item's last write
    /// (deletes included), for last-writer-wins; journaled with the writes.
    pub stamps: BTreeMap<StoredKey, u64>,
}

impl Table {
    /// Extract and check the key of an item or key map. `exact` demands no other
    /// attributes (GetItem/DeleteItem keys); otherwise other attributes are allowed.
    pub(crate) fn key_of(&self, item: &Item, exact: bool) -> Result<StoredKey, AwsError> {
        let mismatch =
            || AwsError::validation("The provided key element does not match the schema");
        let expected = 1 + usize::from(self.range.is_some());
        if exact && item.len() != expected {
            return Err(mismatch());
        }
        let part = |(name, kt): &(String, KeyType)| -> Result<KeyValue, AwsError> {
            let v = item.get(name).ok_or_else(|| {
                if exact {
                    mismatch()
                } else {
                    AwsError::validation(format!(
                        "One or more parameter values were invalid: Missing the key {name} in the item"
                    ))
                }
            })?;
            let kv = match (kt, v) {
                (KeyType::S, AttrValue::S(s)) => KeyValue::S(s.clone()),
                (KeyType::N, AttrValue::N(n)) => KeyValue::N(n.clone()),
                (KeyType::B, AttrValue::B(b)) => KeyValue::B(b.clone()),
                (kt, v) => {
                    return Err(if exact {
                        mismatch()
                    } else {
                        AwsError::validation(format!(
                            "One or more parameter values were invalid: Type mismatch for key {name} expected: {} actual: {}",
                            kt.name(),
                            v.type_name()
                        ))
                    })
                }
            };
            match &kv {
                KeyValue::S(s) if s.is_empty() => Err(AwsError::validation(format!(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {name}"
                ))),
                KeyValue::B(b) if b.is_empty() => Err(AwsError::validation(format!(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: {name}"
                ))),
                _ => Ok(kv),
            }
        };
        let h = part(&self.hash)?;
        // AWS caps key sizes: 2048 bytes partition, 1024 bytes sort.
        if key_len(&h) > 2048 {
            return Err(AwsError::validation(
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
            ));
        }
        let r = match &self.range {
            Some(r) => {
                let v = part(r)?;
                if key_len(&v) > 1024 {
                    return Err(AwsError::validation(
                        "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
                    ));
                }
                Some(v)
            }
            None => None,
        };
        Ok((h, r))
    }

    /// The key attributes of a stored key, as an item (for LastEvaluatedKey).
    pub(crate) fn key_item(&self, key: &StoredKey) -> Item {
        self.key_item_of((&key.0, &key.1))
    }

    /// [`Table::key_item`] of a borrowed key.
    pub(crate) fn key_item_of(&self, key: KeyRef<'_>) -> Item {
        let mut out = Item::new();
        out.insert(self.hash.0.clone(), key.0.to_attr());
        if let (Some((name, _)), Some(v)) = (&self.range, &key.1) {
            out.insert(name.clone(), v.to_attr());
        }
        out
    }

    /// Store an item, returning the one it replaced.
    pub(crate) fn put(&mut self, key: StoredKey, item: Item) -> Option<Item> {
        let size = item_size(&item);
        self.size_bytes += size;
        let old = self
            .items
            .entry(key.0)
            .or_insert_with_key(Partition::new)
            .items
            .insert(
                key.1,
                Stored {
                    json: Rendered::of(&item),
                    item,
                    size,
                },
            );
        if let Some(o) = &old {
            self.size_bytes -= o.size;
        } else {
            self.count += 1;
        }
        old.map(|o| o.item)
    }

    /// Remove an item, returning it.
    pub(crate) fn delete(&mut self, key: &StoredKey) -> Option<Item> {
        let part = self.items.get_mut(&key.0)?;
        let old = part.items.remove(&key.1);
        if part.items.is_empty() {
            self.items.remove(&key.0);
        }
        let old = old?;
        self.size_bytes -= old.size;
        self.count -= 1;
        Some(old.item)
    }

    /// The item stored under a key.
    pub(crate) fn get(&self, key: &StoredKey) -> Option<&Item> {
        Some(&self.items.get(&key.0)?.items.get(&key.1)?.item)
    }

    /// Items of one partition after (or before, walking backwards) an exclusive start
    /// sort key.
    pub(crate) fn partition_range<'a>(
        &'a self,
        pk: &KeyValue,
        start: Option<&Option<KeyValue>>,
        forward: bool,
    ) -> Box<dyn Iterator<Item = (&'a Option<KeyValue>, &'a Stored)> + 'a> {
        let Some(part) = self.items.get(pk) else {
            return Box::new(std::iter::empty());
        };
        let part = &part.items;
        match (start, forward) {
            (None, true) => Box::new(part.iter()),
            (None, false) => Box::new(part.iter().rev()),
            (Some(s), true) => Box::new(part.range((Bound::Excluded(s.clone()), Bound::Unbounded))),
            (Some(s), false) => Box::new(
                part.range((Bound::Unbounded, Bound::Excluded(s.clone())))
                    .rev(),
            ),
        }
    }

    /// Every item after an exclusive start key, in scan order, with its key, of the
    /// partitions `keep` accepts (a scan segment's: the others are skipped whole,
    /// their items never visited).
    pub(crate) fn scan_from<'a>(
        &'a self,
        start: Option<&'a StoredKey>,
        keep: impl Fn(&Partition) -> bool + 'a,
    ) -> Box<dyn Iterator<Item = (KeyRef<'a>, &'a Stored)> + 'a> {
        let flat = |(pk, part): (&'a KeyValue, &'a Partition)| {
            part.items.iter().map(move |(sk, item)| ((pk, sk), item))
        };
        match start {
            None => Box::new(
                self.items
                    .iter()
                    .filter(move |(_, part)| keep(part))
                    .flat_map(flat),
            ),
            Some((pk, sk)) => {
                let rest_of_first = self
                    .items
                    .get_key_value(pk)
                    .filter(|(_, part)| keep(part))
                    .into_iter()
                    .flat_map(move |(pk, part)| {
                        part.items
                            .range((Bound::Excluded(sk.clone()), Bound::Unbounded))
                            .map(move |(s, item)| ((pk, s), item))
                    });
                let later = self
                    .items
                    .range((Bound::Excluded(pk.clone()), Bound::Unbounded))
                    .filter(move |(_, part)| keep(part))
                    .flat_map(flat);
                Box::new(rest_of_first.chain(later))
            }
        }
    }

    fn key_schema_json(&self) -> Value {
        let mut ks = vec![json!({"AttributeName": self.hash.0, "KeyType": "HASH"})];
        if let Some((n, _)) = &self.range {
            ks.push(json!({"AttributeName": n, "KeyType": "RANGE"}));
        }
        Value::Array(ks)
    }

    fn attr_defs_json(&self) -> Value {
        let mut ad =
            vec![json!({"AttributeName": self.hash.0, "AttributeType": self.hash.1.name()})];
        if let Some((n, t)) = &self.range {
            ad.push(json!({"AttributeName": n, "AttributeType": t.name()}));
        }
        Value::Array(ad)
    }

    /// Whether the table has replicas in other regions.
    pub(crate) fn is_global(&self) -> bool {
        self.replicas.len() > 1
    }

    /// Whether writes must be checked against every replica (`STRONG` mode).
    pub(crate) fn is_strong(&self) -> bool {
        self.is_global() && self.consistency.as_deref() == Some("STRONG")
    }

    /// The `TableDescription` DescribeTable (and CreateTable/DeleteTable) return.
    pub(crate) fn describe(&self, status: &str) -> Value {
        let mut out = self.describe_local(status);
        if self.is_global() {
            // Every replica, this one included (ACTIVE here; the service marks a
            // region that is down as REGION_DISABLED).
            let replicas: Vec<Value> = self
                .replicas
                .iter()
                .map(|r| json!({"RegionName": r, "ReplicaStatus": "ACTIVE"}))
                .collect();
            out["GlobalTableVersion"] = json!("2019.11.21");
            out["Replicas"] = Value::Array(replicas);
            out["MultiRegionConsistency"] =
                json!(self.consistency.as_deref().unwrap_or("EVENTUAL"));
            if !self.witnesses.is_empty() {
                out["GlobalTableWitnesses"] = Value::Array(
                    self.witnesses
                        .iter()
                        .map(|r| json!({"RegionName": r, "WitnessStatus": "ACTIVE"}))
                        .collect(),
                );
            }
        }
        out
    }

    fn describe_local(&self, status: &str) -> Value {
        let mut out = json!({
            "TableName": self.name,
            "TableStatus": status,
            "TableArn": self.arn,
            "TableId": self.table_id,
            "KeySchema": self.key_schema_json(),
            "AttributeDefinitions": self.attr_defs_json(),
            "CreationDateTime": self.created,
            "ItemCount": self.count,
            "TableSizeBytes": self.size_bytes,
            "BillingModeSummary": {"BillingMode": self.billing_mode},
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": self.read_capacity,
                "WriteCapacityUnits": self.write_capacity,
            },
            "DeletionProtectionEnabled": false,
        });
        if self.on_demand != (None, None) {
            // -1 is how DynamoDB shows "no maximum" for one of the two.
            let show = |v: Option<u64>| v.map_or(-1, |u| u as i64);
            out["OnDemandThroughput"] = json!({
                "MaxReadRequestUnits": show(self.on_demand.0),
                "MaxWriteRequestUnits": show(self.on_demand.1),
            });
        }
        out
    }

    /// The journal record that recreates this table's metadata (without items).
    pub(crate) fn to_record(&self) -> Value {
        json!({
            "op": "create_table",
            "table": self.name,
            "hash": [self.hash.0, self.hash.1.name()],
            "range": self.range.as_ref().map(|(n, t)| json!([n, t.name()])),
            "billing_mode": self.billing_mode,
            "read_capacity": self.read_capacity,
            "write_capacity": self.write_capacity,
            "on_demand_read": self.on_demand.0,
            "on_demand_write": self.on_demand.1,
            "created": self.created,
            "arn": self.arn,
            "table_id": self.table_id,
            "tags": self.tags,
            "replicas": self.replicas,
            "consistency": self.consistency,
            "witnesses": self.witnesses,
        })
    }

    /// Applies the replica settings of a `replicas` or `create_table` record
    /// (older journals have none: a table of one region).
    pub(crate) fn set_replicas_from(&mut self, r: &Value) -> Option<()> {
        let regions = |field: &str| -> Option<Vec<String>> {
            match r.get(field) {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(v) => serde_json::from_value(v.clone()).ok(),
            }
        };
        self.replicas = regions("replicas")?;
        self.witnesses = regions("witnesses")?;
        self.consistency = match r.get("consistency") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str()?.to_owned()),
        };
        Some(())
    }

    /// Rebuild a table from [`Table::to_record`].
    pub(crate) fn from_record(r: &Value) -> Option<Table> {
        let pair = |v: &Value| -> Option<(String, KeyType)> {
            Some((
                v.get(0)?.as_str()?.to_owned(),
                KeyType::parse(v.get(1)?.as_str()?)?,
            ))
        };
        let range = match r.get("range") {
            None | Some(Value::Null) => None,
            Some(v) => Some(pair(v)?),
        };
        let mut table = Table {
            name: r.get("table")?.as_str()?.to_owned(),
            hash: pair(r.get("hash")?)?,
            range,
            billing_mode: r.get("billing_mode")?.as_str()?.to_owned(),
            read_capacity: r.get("read_capacity")?.as_u64()?,
            write_capacity: r.get("write_capacity")?.as_u64()?,
            // Older journals have no maxima: none.
            on_demand: (
                r.get("on_demand_read").and_then(Value::as_u64),
                r.get("on_demand_write").and_then(Value::as_u64),
            ),
            created: r.get("created")?.as_f64()?,
            arn: r.get("arn")?.as_str()?.to_owned(),
            table_id: r.get("table_id")?.as_str()?.to_owned(),
            tags: serde_json::from_value(r.get("tags")?.clone()).ok()?,
            items: BTreeMap::new(),
            count: 0,
            size_bytes: 0,
            replicas: Vec::new(),
            consistency: None,
            witnesses: Vec::new(),
            stamps: BTreeMap::new(),
        };
        table.set_replicas_from(r)?;
        Some(table)
    }
}

fn key_len(k: &KeyValue) -> usize {
    match k {
        KeyValue::S(s) => s.len(),
        KeyValue::N(n) => n.size(),
        KeyValue::B(b) => b.len(),
    }
}
