//! Throughput quotas as AWS enforces them: provisioned DynamoDB tables (read and
//! write capacity units with up to 300 s of unused capacity as burst credit,
//! `ProvisionedThroughputExceededException`), on-demand tables' maximum throughput
//! (`ThrottlingException`), and KMS's requests-per-second quota shared by the
//! cryptographic operations (`ThrottlingException`, "Rate exceeded").
//!
//! Every quota is a token bucket. A DynamoDB request is admitted while its table's
//! bucket holds credit (half a unit, the smallest charge) and is then charged what it really consumed (the size it
//! read or wrote, as `ConsumedCapacity` reports it), so a large Query may leave
//! the bucket in debt that later requests wait out, as DynamoDB's own accounting
//! does. A KMS request takes one token or is refused. Buckets start full.
//!
//! Everything is off by default ([`Quotas::default`] is unlimited), so an emulator
//! behaves as before unless a quota is asked for: at start
//! ([`Config::quotas`](crate::Config::quotas), the binary's flags) or at run time
//! (`POST /_mock/quotas`). A table's own settings (`ProvisionedThroughput` of a
//! `PROVISIONED` table once `provisioned` is on, `OnDemandThroughput` always) come
//! from `CreateTable`/`UpdateTable`, as AWS clients send them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AwsError;

/// The burst credit DynamoDB keeps for a provisioned table: 300 s of its rate.
pub const DEFAULT_BURST_SECONDS: u64 = 300;

/// The quotas an emulator enforces. `Quotas::default()` enforces none.
///
/// Posted as JSON to `/_mock/quotas` (every field optional; absent fields keep
/// their value), or built in process:
/// `Quotas::default().provisioned(true).burst_seconds(0).kms_rps(50)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Quotas {
    /// Enforce the `ProvisionedThroughput` of `PROVISIONED` tables.
    pub provisioned: bool,
    /// The burst credit of a provisioned table, in seconds of its capacity
    /// (AWS: 300). At least one second's worth is always held.
    pub burst_seconds: u64,
    /// The maximum read request units per second of an on-demand table that sets
    /// none itself (`OnDemandThroughput`); unlimited when absent.
    pub on_demand_read_units: Option<u64>,
    /// The maximum write request units per second of an on-demand table that sets
    /// none itself; unlimited when absent.
    pub on_demand_write_units: Option<u64>,
    /// Requests per second shared by KMS's cryptographic operations in a region
    /// (`Decrypt`, `Encrypt`, `GenerateDataKey`, ...); unlimited when absent.
    pub kms_rps: Option<u64>,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            provisioned: false,
            burst_seconds: DEFAULT_BURST_SECONDS,
            on_demand_read_units: None,
            on_demand_write_units: None,
            kms_rps: None,
        }
    }
}

impl Quotas {
    /// Enforce (`true`) the provisioned capacity of `PROVISIONED` tables.
    pub fn provisioned(mut self, on: bool) -> Self {
        self.provisioned = on;
        self
    }

    /// The burst credit of provisioned tables, in seconds of their capacity.
    pub fn burst_seconds(mut self, seconds: u64) -> Self {
        self.burst_seconds = seconds;
        self
    }

    /// The default maximum read and write request units per second of on-demand
    /// tables (`None`: unlimited).
    pub fn on_demand(mut self, read_units: Option<u64>, write_units: Option<u64>) -> Self {
        self.on_demand_read_units = read_units;
        self.on_demand_write_units = write_units;
        self
    }

    /// KMS cryptographic requests per second per region (`None`: unlimited).
    pub fn kms_rps(mut self, rps: impl Into<Option<u64>>) -> Self {
        self.kms_rps = rps.into();
        self
    }
}

/// The KMS operations that share the cryptographic request quota.
const KMS_CRYPTO: [&str; 8] = [
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "ReEncrypt",
    "GenerateMac",
    "VerifyMac",
];

/// The credit a DynamoDB request needs to be admitted: the smallest charge (an
/// eventually consistent read of up to 4 KB).
const MIN_CREDIT: f64 = 0.5;

/// How a table is billed, as far as quotas care.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Throughput {
    /// `PROVISIONED` with these read and write capacity units.
    Provisioned { read: u64, write: u64 },
    /// `PAY_PER_REQUEST`, with the table's `OnDemandThroughput` maxima if it set any.
    OnDemand {
        read: Option<u64>,
        write: Option<u64>,
    },
}

/// Reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Read,
    Write,
}

/// One token bucket.
#[derive(Debug)]
struct Bucket {
    /// Tokens per second.
    rate: f64,
    /// The most tokens it holds.
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, capacity: f64, now: Instant) -> Self {
        Self {
            rate,
            capacity,
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = now;
    }

    /// Keeps the credit it has, within a new rate and capacity.
    fn reshape(&mut self, rate: f64, capacity: f64) {
        if self.rate != rate || self.capacity != capacity {
            self.rate = rate;
            self.capacity = capacity;
            self.tokens = self.tokens.min(capacity);
        }
    }
}

/// What a DynamoDB request was admitted against, to charge once it has run.
#[derive(Debug)]
pub(crate) struct Charge {
    region: String,
    /// The tables whose buckets pay, with the kind of capacity.
    tables: Vec<(String, Kind)>,
    /// The client did not ask for `ConsumedCapacity`: remove it from the answer.
    strip: bool,
}

/// The quota settings and every bucket.
#[derive(Debug)]
pub(crate) struct QuotaState {
    settings: Mutex<Quotas>,
    /// (region, table, kind) for DynamoDB; (region, "", Read) for KMS.
    buckets: Mutex<HashMap<(String, String, Kind), Bucket>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ProvisionedThroughputExceededException`, worded as DynamoDB words it.
fn provisioned_exceeded(arn: &str, kind: Kind) -> AwsError {
    AwsError::with_code(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    )
    .with_throttling_reason(
        match kind {
            Kind::Read => "TableReadProvisionedThroughputExceeded",
            Kind::Write => "TableWriteProvisionedThroughputExceeded",
        },
        arn,
    )
}

/// `ThrottlingException` of an on-demand table over its maximum throughput.
fn on_demand_exceeded(arn: &str, kind: Kind) -> AwsError {
    AwsError::with_code(
        "ThrottlingException",
        "Throughput exceeds the maximum OnDemandThroughput configured on table or index",
    )
    .with_throttling_reason(
        match kind {
            Kind::Read => "TableReadMaxOnDemandThroughputExceeded",
            Kind::Write => "TableWriteMaxOnDemandThroughputExceeded",
        },
        arn,
    )
}

/// KMS's answer to a request over the request quota.
fn kms_rate_exceeded() -> AwsError {
    AwsError::with_code("ThrottlingException", "Rate exceeded")
}

impl QuotaState {
    pub(crate) fn new(settings: Quotas) -> Self {
        Self {
            settings: Mutex::new(settings),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The current settings.
    pub(crate) fn get(&self) -> Quotas {
        lock(&self.settings).clone()
    }

    /// Replaces the settings; buckets keep their credit within the new limits.
    pub(crate) fn set(&self, quotas: Quotas) {
        *lock(&self.settings) = quotas;
    }

    /// Admits a KMS call or refuses it with KMS's throttling error.
    pub(crate) fn admit_kms(&self, operation: &str, region: &str) -> Result<(), AwsError> {
        if !KMS_CRYPTO.contains(&operation) {
            return Ok(());
        }
        let Some(rps) = lock(&self.settings).kms_rps else {
            return Ok(());
        };
        let rate = rps as f64;
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        let bucket = buckets
            .entry((region.to_owned(), String::new(), Kind::Read))
            .or_insert_with(|| Bucket::new(rate, rate, now));
        bucket.reshape(rate, rate);
        bucket.refill(now);
        if bucket.tokens < 1.0 {
            return Err(kms_rate_exceeded());
        }
        bucket.tokens -= 1.0;
        Ok(())
    }

    /// Admits a DynamoDB call or refuses it with DynamoDB's throttling error.
    /// `throughput` says how a table is billed (`None`: no such table, left to
    /// the operation to answer) and its ARN. On admission, `body` may gain
    /// `ReturnConsumedCapacity` so that [`settle`](Self::settle) can charge.
    pub(crate) fn admit_dynamodb(
        &self,
        operation: &str,
        body: &mut Value,
        region: &str,
        throughput: impl Fn(&str) -> Option<(Throughput, String)>,
    ) -> Result<Option<Charge>, AwsError> {
        let settings = lock(&self.settings).clone();
        let tables = tables_of(operation, body);
        if tables.is_empty() {
            return Ok(None);
        }
        let now = Instant::now();
        let mut charged = Vec::new();
        let mut buckets = lock(&self.buckets);
        for (table, kind) in tables {
            let Some((billing, arn)) = throughput(&table) else {
                continue;
            };
            let Some((rate, capacity, provisioned)) = limit(&settings, billing, kind) else {
                continue;
            };
            let bucket = buckets
                .entry((region.to_owned(), table.clone(), kind))
                .or_insert_with(|| Bucket::new(rate, capacity, now));
            bucket.reshape(rate, capacity);
            bucket.refill(now);
            if bucket.tokens < MIN_CREDIT {
                return Err(if provisioned {
                    provisioned_exceeded(&arn, kind)
                } else {
                    on_demand_exceeded(&arn, kind)
                });
            }
            charged.push((table, kind));
        }
        if charged.is_empty() {
            return Ok(None);
        }
        let strip = match body.get("ReturnConsumedCapacity").and_then(Value::as_str) {
            Some("TOTAL") | Some("INDEXES") => false,
            _ => {
                if let Some(obj) = body.as_object_mut() {
                    obj.insert("ReturnConsumedCapacity".into(), "TOTAL".into());
                }
                true
            }
        };
        Ok(Some(Charge {
            region: region.to_owned(),
            tables: charged,
            strip,
        }))
    }

    /// Charges what an admitted call consumed and takes `ConsumedCapacity` out of
    /// its answer if the client did not ask for it.
    pub(crate) fn settle(&self, charge: Charge, operation: &str, out: &mut Value) {
        let consumed = consumed_units(operation, out, &charge.tables);
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        for ((table, kind), units) in charge.tables.iter().zip(consumed) {
            if let Some(bucket) = buckets.get_mut(&(charge.region.clone(), table.clone(), *kind)) {
                bucket.refill(now);
                bucket.tokens -= units;
            }
        }
        if charge.strip {
            if let Some(obj) = out.as_object_mut() {
                obj.remove("ConsumedCapacity");
            }
        }
    }
}

/// A table's rate and bucket capacity for `kind`, and whether it is provisioned;
/// `None` when no quota applies.
fn limit(settings: &Quotas, billing: Throughput, kind: Kind) -> Option<(f64, f64, bool)> {
    match billing {
        Throughput::Provisioned { read, write } => {
            if !settings.provisioned {
                return None;
            }
            let rate = match kind {
                Kind::Read => read,
                Kind::Write => write,
            } as f64;
            let burst = rate * settings.burst_seconds.max(1) as f64;
            Some((rate, burst, true))
        }
        Throughput::OnDemand { read, write } => {
            let max = match kind {
                Kind::Read => read.or(settings.on_demand_read_units),
                Kind::Write => write.or(settings.on_demand_write_units),
            }? as f64;
            // On-demand maxima hold no burst credit beyond one second's worth.
            Some((max, max, false))
        }
    }
}

/// The tables a DynamoDB operation reads or writes.
fn tables_of(operation: &str, body: &Value) -> Vec<(String, Kind)> {
    let one = |kind| {
        body.get("TableName")
            .and_then(Value::as_str)
            .map(|t| vec![(crate::protocol::bare_table_name(t).to_owned(), kind)])
            .unwrap_or_default()
    };
    let keys = |field: &str, kind| -> Vec<(String, Kind)> {
        body.get(field)
            .and_then(Value::as_object)
            .map(|m| m.keys().map(|t| (t.clone(), kind)).collect())
            .unwrap_or_default()
    };
    let transact = |kind| -> Vec<(String, Kind)> {
        let mut out: Vec<(String, Kind)> = body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|step| step.as_object()?.values().next()?.get("TableName"))
            .filter_map(Value::as_str)
            .map(|t| (crate::protocol::bare_table_name(t).to_owned(), kind))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    match operation {
        "GetItem" | "Query" | "Scan" => one(Kind::Read),
        "PutItem" | "UpdateItem" | "DeleteItem" => one(Kind::Write),
        "BatchGetItem" => keys("RequestItems", Kind::Read),
        "BatchWriteItem" => keys("RequestItems", Kind::Write),
        "TransactGetItems" => transact(Kind::Read),
        "TransactWriteItems" => transact(Kind::Write),
        _ => Vec::new(),
    }
}

/// The units each charged table consumed: `ConsumedCapacity` where the operation
/// reports it, else one unit per item of the request (two for transactions, as
/// DynamoDB charges them).
fn consumed_units(operation: &str, out: &Value, tables: &[(String, Kind)]) -> Vec<f64> {
    if let Some(units) = out
        .get("ConsumedCapacity")
        .and_then(|c| c.get("CapacityUnits"))
        .and_then(Value::as_f64)
    {
        return vec![units; tables.len()];
    }
    let per_item = if operation.starts_with("Transact") {
        2.0
    } else {
        1.0
    };
    // Without a breakdown, each table is charged one unit per call at least.
    tables.iter().map(|_| per_item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provisioned(read: u64, write: u64) -> impl Fn(&str) -> Option<(Throughput, String)> {
        move |t| {
            Some((
                Throughput::Provisioned { read, write },
                format!("arn:aws:dynamodb:us-east-1:000000000000:table/{t}"),
            ))
        }
    }

    #[test]
    fn a_provisioned_table_spends_its_burst_then_throttles() {
        let q = QuotaState::new(Quotas::default().provisioned(true).burst_seconds(2));
        // 1 RCU, 2 s of burst: two strongly consistent 4 KB reads, then debt.
        let mut admitted = 0;
        for _ in 0..10 {
            let mut body = json!({"TableName": "t", "Key": {}, "ConsistentRead": true});
            match q.admit_dynamodb("GetItem", &mut body, "us-east-1", provisioned(1, 1)) {
                Ok(Some(charge)) => {
                    assert_eq!(body["ReturnConsumedCapacity"], "TOTAL");
                    let mut out =
                        json!({"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}});
                    q.settle(charge, "GetItem", &mut out);
                    assert_eq!(out, json!({}));
                    admitted += 1;
                }
                Ok(None) => panic!("a provisioned table with quotas on was not charged"),
                Err(e) => {
                    assert_eq!(e.code, "ProvisionedThroughputExceededException");
                    assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
                }
            }
        }
        assert_eq!(admitted, 2);
        // Writes have a bucket of their own.
        let mut body = json!({"TableName": "t", "Item": {}});
        assert!(q
            .admit_dynamodb("PutItem", &mut body, "us-east-1", provisioned(1, 1))
            .is_ok());
    }

    #[test]
    fn nothing_is_limited_by_default() {
        let q = QuotaState::new(Quotas::default());
        for _ in 0..1000 {
            let mut body = json!({"TableName": "t"});
            assert!(q
                .admit_dynamodb("Query", &mut body, "us-east-1", provisioned(1, 1))
                .unwrap()
                .is_none());
            assert!(body.get("ReturnConsumedCapacity").is_none());
            q.admit_kms("Decrypt", "us-east-1").unwrap();
        }
    }

    #[test]
    fn kms_crypto_operations_share_one_quota_per_region() {
        let q = QuotaState::new(Quotas::default().kms_rps(3));
        q.admit_kms("Decrypt", "us-east-1").unwrap();
        q.admit_kms("Encrypt", "us-east-1").unwrap();
        q.admit_kms("GenerateDataKey", "us-east-1").unwrap();
        let err = q.admit_kms("Decrypt", "us-east-1").unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str(), err.message.as_str()),
            (400, "ThrottlingException", "Rate exceeded")
        );
        // Control-plane calls and other regions are not counted.
        q.admit_kms("DescribeKey", "us-east-1").unwrap();
        q.admit_kms("Decrypt", "eu-west-1").unwrap();
    }

    #[test]
    fn an_on_demand_maximum_throttles_with_throttling_exception() {
        let q = QuotaState::new(Quotas::default());
        let table = |_: &str| {
            Some((
                Throughput::OnDemand {
                    read: Some(1),
                    write: None,
                },
                "arn:aws:dynamodb:us-east-1:000000000000:table/t".to_owned(),
            ))
        };
        let mut body = json!({"TableName": "t"});
        let charge = q
            .admit_dynamodb("Query", &mut body, "us-east-1", table)
            .unwrap()
            .unwrap();
        let mut out = json!({"Items": [], "ConsumedCapacity": {"CapacityUnits": 3.0}});
        q.settle(charge, "Query", &mut out);
        let err = q
            .admit_dynamodb("Query", &mut json!({"TableName": "t"}), "us-east-1", table)
            .unwrap_err();
        assert_eq!(err.code, "ThrottlingException");
        assert_eq!(
            err.message,
            "Throughput exceeds the maximum OnDemandThroughput configured on table or index"
        );
        // Writes are unlimited on this table.
        assert!(q
            .admit_dynamodb(
                "PutItem",
                &mut json!({"TableName": "t"}),
                "us-east-1",
                table
            )
            .unwrap()
            .is_none());
    }
}
