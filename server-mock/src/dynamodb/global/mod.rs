//! Regions and global tables (version 2019.11.21).
//!
//! [`DynamoDbRegions`] is the DynamoDB service as clients see it: one [`DynamoDb`]
//! per region, chosen by the request's SigV4 scope, with `UpdateTable`'s
//! `ReplicaUpdates` to make a table global and replication between its replicas.
//!
//! - **EVENTUAL** (the default): each item write is copied to every other replica
//!   after the replication lag (plus a random jitter, so items arrive in no
//!   particular order), applied last-writer-wins by the replication clock. A
//!   conditional write is checked against its own region only, so two regions can
//!   both "create" the same item within the lag, and one of them is silently lost,
//!   as in AWS.
//! - **STRONG**: writes to the table are serialized across its regions and copied
//!   to every replica before they are acknowledged, so a condition sees the global
//!   state. A write of an item another region is writing at the same moment fails
//!   with `ReplicatedWriteConflictException`; transactions are refused.
//!
//! Replication happens as requests arrive (any request to DynamoDB first applies
//! the copies that are due), so no thread runs in the background. The copies on
//! their way are not journaled apart: each write to a global table records its
//! stamp and time, each applied copy records that it is one (or `delivered`, when
//! a later write won), so a replay (a restart, or catching up with the emulators
//! sharing a data dir) rebuilds the queue (`DynamoDbRegions::restore_queue`).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use serde_json::{json, Value};

use super::{unix_ms, Change, DynamoDb};
use crate::error::AwsError;
use crate::faults::{Faults, ReadCaps};
use crate::journal::Journal;
use crate::protocol::{RequestContext, DEFAULT_REGION};
use crate::services::{JsonService, Reply};
use queue::Queue;

mod queue;
mod regional;
mod replicas;

/// The replication lag when nobody sets one: AWS says items "typically" reach the
/// other replicas within a second.
pub const DEFAULT_REPLICATION_LAG: Duration = Duration::from_secs(1);

/// The longest replication lag, and the longest jitter, the emulator takes (a day).
pub const MAX_REPLICATION_LAG: Duration = Duration::from_secs(86_400);

/// The DynamoDB service of every region, with global-table replication.
pub struct DynamoDbRegions {
    journal: Arc<dyn Journal>,
    account: String,
    faults: Arc<Faults>,
    clock: Arc<AtomicU64>,
    regions: RwLock<BTreeMap<String, Arc<DynamoDb>>>,
    replication: Mutex<Replication>,
    /// Held shared by every operation from its first write to the queueing of
    /// its copies, and by every delivery; held exclusively by a change of a
    /// table's replicas, which so sees no write or copy half done.
    topology: RwLock<()>,
    /// Serializes writes to `STRONG` tables (and their copies) across regions.
    strong: Mutex<()>,
    /// `STRONG` item writes in progress: (table, key) → (region, count).
    in_flight: Mutex<BTreeMap<String, (String, usize)>>,
    /// Serializes replica changes (`UpdateTable`, `DeleteTable`).
    control: Mutex<()>,
}

/// How replication behaves, and the copies on their way.
#[derive(Debug)]
struct Replication {
    lag: Duration,
    jitter: Duration,
    paused: bool,
    queue: Queue,
}

impl Replication {
    /// The time a new copy waits: the lag and a random jitter.
    fn delay(&self) -> Duration {
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            rand::thread_rng().gen_range(Duration::ZERO..=self.jitter)
        };
        self.lag.saturating_add(jitter)
    }
}

/// `delay` after `now`; a delay too long for the clock holds a copy back "for
/// ever".
fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// The instant of `at_ms` (milliseconds since the Unix epoch) on this
/// process's clock: now if it has passed.
fn instant_at(at_ms: u64) -> Instant {
    let wall = unix_ms(SystemTime::now());
    later(
        Instant::now(),
        Duration::from_millis(at_ms.saturating_sub(wall)),
    )
}

/// The replication settings and backlog, as `/_mock/replication` shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReplicationStatus {
    /// Time from a write to its copy in another region, in milliseconds.
    pub lag_ms: u64,
    /// A random extra of up to this many milliseconds per copy.
    pub jitter_ms: u64,
    /// Whether copies are held back.
    pub paused: bool,
    /// Copies written in one region and not yet applied in another.
    pub pending: usize,
}

impl std::fmt::Debug for DynamoDbRegions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let regions: Vec<Arc<DynamoDb>> = self.read_regions().values().cloned().collect();
        f.debug_struct("DynamoDbRegions")
            .field("regions", &regions)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DynamoDbRegions {
    /// An empty service for `account`, taking regions down as `faults` say.
    pub(crate) fn new(journal: Arc<dyn Journal>, account: String, faults: Arc<Faults>) -> Self {
        Self {
            journal,
            account,
            faults,
            clock: Arc::default(),
            regions: RwLock::new(BTreeMap::new()),
            replication: Mutex::new(Replication {
                lag: DEFAULT_REPLICATION_LAG,
                jitter: Duration::ZERO,
                paused: false,
                queue: Queue::default(),
            }),
            topology: RwLock::new(()),
            strong: Mutex::new(()),
            in_flight: Mutex::new(BTreeMap::new()),
            control: Mutex::new(()),
        }
    }

    fn read_regions(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<DynamoDb>>> {
        self.regions.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The service of `region`, created empty on first use.
    pub(super) fn region(&self, region: &str) -> Arc<DynamoDb> {
        if let Some(r) = self.read_regions().get(region) {
            return r.clone();
        }
        let mut regions = self.regions.write().unwrap_or_else(|p| p.into_inner());
        regions
            .entry(region.to_owned())
            .or_insert_with(|| {
                Arc::new(DynamoDb::with_clock(
                    self.journal.clone(),
                    region,
                    self.account.clone(),
                    self.clock.clone(),
                ))
            })
            .clone()
    }

    /// The shared hold on the regions' replica sets (see `topology`).
    fn steady(&self) -> RwLockReadGuard<'_, ()> {
        self.topology.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The exclusive hold on the regions' replica sets, to change them.
    fn changing(&self) -> RwLockWriteGuard<'_, ()> {
        self.topology.write().unwrap_or_else(|p| p.into_inner())
    }

    // ---- replication knobs --------------------------------------------------------

    /// Sets the replication lag and jitter for copies queued from now on.
    pub fn set_replication_lag(&self, lag: Duration, jitter: Duration) {
        let mut r = lock(&self.replication);
        r.lag = lag;
        r.jitter = jitter;
    }

    /// Holds back (`true`) or releases copies to other regions.
    pub fn set_replication_paused(&self, paused: bool) {
        lock(&self.replication).paused = paused;
        if !paused {
            self.deliver(false);
        }
    }

    /// Applies every queued copy now, due or not (a paused replication and
    /// regions that are down still hold theirs back).
    pub fn flush_replication(&self) {
        self.deliver(true);
    }

    /// The replication settings and how many copies are queued, after applying
    /// the copies that are due.
    #[cfg(test)]
    pub fn replication_status(&self) -> ReplicationStatus {
        self.deliver_due();
        self.replication_settings()
    }

    /// Applies the copies that are due.
    pub(crate) fn deliver_due(&self) {
        self.deliver(false);
    }

    /// The replication settings and how many copies are queued, as they are.
    pub(crate) fn replication_settings(&self) -> ReplicationStatus {
        let r = lock(&self.replication);
        ReplicationStatus {
            lag_ms: r.lag.as_millis() as u64,
            jitter_ms: r.jitter.as_millis() as u64,
            paused: r.paused,
            pending: r.queue.len(),
        }
    }

    /// Applies the copies that are due (all of them with `all`), except into
    /// regions that are down.
    fn deliver(&self, all: bool) {
        let _steady = self.steady();
        let due = {
            let mut r = lock(&self.replication);
            if r.paused || r.queue.len() == 0 {
                return;
            }
            let now = (!all).then(Instant::now);
            r.queue.take_due(now, |to| !self.faults.region_down(to))
        };
        for p in due {
            if let Err(err) = self.region(&p.to).apply_replicated(&p.change) {
                // Only a journal failure gets here: keep the copy for later.
                tracing::warn!(region = %p.to, code = %err.code, "replication copy failed");
                lock(&self.replication).queue.put_back(p);
            }
        }
    }

    /// Sends the writes `from` made to global tables on their way; call holding
    /// [`DynamoDbRegions::steady`]. Whether copies were queued with no lag, to
    /// deliver before the write is answered.
    #[must_use]
    fn replicate(&self, from: &DynamoDb) -> bool {
        let changes = std::mem::take(&mut *from.lock_outbox());
        if changes.is_empty() {
            return false;
        }
        let mut queued = false;
        for change in changes {
            let Some((replicas, strong)) = from.replicas_of(&change.table) else {
                continue;
            };
            for to in replicas.iter().filter(|r| **r != from.region) {
                if strong && !self.faults.region_down(to) {
                    // Under the STRONG lock: acknowledged only once copied.
                    if self.region(to).apply_replicated(&change).is_ok() {
                        continue;
                    }
                }
                let mut r = lock(&self.replication);
                let due = later(Instant::now(), r.delay());
                r.queue.push(to, due, change.clone());
                queued = true;
            }
        }
        queued && lock(&self.replication).lag.is_zero()
    }

    /// Keeps the queue as the journal says, record by record: a write to a
    /// global table (it has `at`) owes each other replica a copy, which a
    /// `copy` or `delivered` record in that replica settles; a new replica
    /// inherits its source's copies, a deleted one drops its own; `queued` is a
    /// copy of a compacted journal.
    fn restore_queue(&self, db: &DynamoDb, record: &Value) {
        let op = record["op"].as_str().unwrap_or_default();
        let table = record["table"].as_str().unwrap_or_default();
        let stamp = record["stamp"].as_u64();
        let here = db.region.as_str();
        match (op, stamp) {
            ("batch", _) => {
                if let Some(from) = record["inherit_from"].as_str() {
                    lock(&self.replication).queue.also_for(table, from, here);
                }
                for inner in record["records"].as_array().into_iter().flatten() {
                    self.restore_queue(db, inner);
                }
            }
            ("put" | "delete", Some(stamp)) if record["copy"] == true => {
                lock(&self.replication).queue.remove(here, stamp);
            }
            ("put" | "delete", Some(stamp)) => {
                let Some(at) = record["at"].as_u64() else {
                    return;
                };
                let Some((replicas, _)) = db.replicas_of(table) else {
                    return;
                };
                let mut change = record.clone();
                if let Some(obj) = change.as_object_mut() {
                    obj.remove("region");
                }
                let change = Change {
                    table: table.to_owned(),
                    record: change,
                    stamp,
                };
                let mut r = lock(&self.replication);
                for to in replicas.iter().filter(|r| **r != here) {
                    let due = at.saturating_add(r.delay().as_millis() as u64);
                    r.queue.push(to, instant_at(due), change.clone());
                }
            }
            ("delivered", Some(stamp)) => lock(&self.replication).queue.remove(here, stamp),
            ("queued", Some(stamp)) => {
                let due = instant_at(record["due"].as_u64().unwrap_or_default());
                let change = Change {
                    table: table.to_owned(),
                    record: record["change"].clone(),
                    stamp,
                };
                lock(&self.replication).queue.push(here, due, change);
            }
            ("delete_table", _) => lock(&self.replication).queue.drop_for(table, here),
            _ => {}
        }
    }

    // ---- requests -----------------------------------------------------------------

    /// [`JsonService::handle`] with the read limits of an injected fault.
    pub(crate) fn handle_capped(
        &self,
        operation: &str,
        body: &Value,
        caps: ReadCaps,
        ctx: &RequestContext,
    ) -> Result<Reply, AwsError> {
        self.deliver(false);
        let region = self.region(&ctx.region);
        if !body.is_object() {
            return region.handle_capped(operation, body, caps);
        }
        let out = match operation {
            "UpdateTable" if super::capacity::is_throughput_update(body) => {
                region.update_throughput(body).map(Reply::from)
            }
            "UpdateTable" => self.update_table(&region, body).map(Reply::from),
            "DeleteTable" => self.delete_table(&region, body, caps).map(Reply::from),
            "TransactWriteItems" if region.touches_strong(operation, body) => {
                Err(AwsError::validation(
                    "Transactions are not supported on global tables with multi-Region strong consistency",
                ))
            }
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem"
                if region.touches_strong(operation, body) =>
            {
                self.strong_write(&region, operation, body, caps)
            }
            _ => {
                let (out, now) = {
                    let _steady = self.steady();
                    let out = region.handle_capped(operation, body, caps);
                    (out, self.replicate(&region))
                };
                if now {
                    self.deliver(false);
                }
                out
            }
        }?;
        Ok(self.mark_disabled(out))
    }

    /// A write to a `STRONG` table: refused while another region writes one of its
    /// items, else serialized with every other such write and copied before the
    /// answer.
    fn strong_write(
        &self,
        region: &DynamoDb,
        operation: &str,
        body: &Value,
        caps: ReadCaps,
    ) -> Result<Reply, AwsError> {
        let keys = region.write_keys(operation, body);
        {
            let mut in_flight = lock(&self.in_flight);
            if keys.iter().any(|k| {
                in_flight
                    .get(k)
                    .is_some_and(|(other, _)| *other != region.region)
            }) {
                return Err(AwsError::with_code(
                    "ReplicatedWriteConflictException",
                    "The request was rejected because one or more items in the request are being modified by a request in another Region.",
                ));
            }
            for k in &keys {
                in_flight
                    .entry(k.clone())
                    .or_insert_with(|| (region.region.clone(), 0))
                    .1 += 1;
            }
        }
        let (out, now) = {
            let _steady = self.steady();
            let _serial = lock(&self.strong);
            let out = region.handle_capped(operation, body, caps);
            (out, self.replicate(region))
        };
        if now {
            // Copies into regions that were down, queued.
            self.deliver(false);
        }
        let mut in_flight = lock(&self.in_flight);
        for k in &keys {
            if let Some(entry) = in_flight.get_mut(k) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    in_flight.remove(k);
                }
            }
        }
        out
    }

    /// Marks the replicas of regions that are down as `REGION_DISABLED` in a table
    /// description.
    fn mark_disabled(&self, mut out: Reply) -> Reply {
        for field in ["Table", "TableDescription"] {
            let replicas = out
                .body
                .get_mut(field)
                .and_then(|t| t.get_mut("Replicas"))
                .and_then(Value::as_array_mut);
            for replica in replicas.into_iter().flatten() {
                let down = replica["RegionName"]
                    .as_str()
                    .is_some_and(|r| self.faults.region_down(r));
                if down && replica["ReplicaStatus"] == "ACTIVE" {
                    replica["ReplicaStatus"] = json!("REGION_DISABLED");
                }
            }
        }
        out
    }
}

impl JsonService for DynamoDbRegions {
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        ctx: &RequestContext,
    ) -> Result<Reply, AwsError> {
        self.handle_capped(operation, body, ReadCaps::default(), ctx)
    }

    /// Replays one record into the region it names (`us-east-1` for records of
    /// journals written before regions existed).
    fn restore(&self, record: &Value) -> Result<(), String> {
        let region = record
            .get("region")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_REGION);
        let db = self.region(region);
        db.restore(record)?;
        self.restore_queue(&db, record);
        Ok(())
    }

    fn reset(&self) {
        self.regions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        lock(&self.replication).queue.clear();
    }

    fn snapshot(&self) -> Vec<Value> {
        let regions: Vec<Arc<DynamoDb>> = self.read_regions().values().cloned().collect();
        let mut out: Vec<Value> = regions.iter().flat_map(|r| r.snapshot()).collect();
        // The copies on their way, after the tables they go to.
        let (now, wall) = (Instant::now(), unix_ms(SystemTime::now()));
        let r = lock(&self.replication);
        for (to, due, change) in r.queue.iter() {
            let wait = u64::try_from(due.saturating_duration_since(now).as_millis());
            out.push(json!({
                "op": "queued", "region": to, "table": change.table, "stamp": change.stamp,
                "due": wall.saturating_add(wait.unwrap_or(u64::MAX)), "change": change.record,
            }));
        }
        out
    }
}

impl DynamoDbRegions {
    /// The partition-key values `operation` would read or write in `region`, for
    /// `dynamodb:LeadingKeys`.
    pub fn leading_keys(&self, region: &str, operation: &str, body: &Value) -> Vec<String> {
        self.region(region).leading_keys(operation, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::NoJournal;

    fn service() -> DynamoDbRegions {
        DynamoDbRegions::new(
            Arc::new(NoJournal),
            "000000000000".to_owned(),
            Arc::default(),
        )
    }

    /// Table `tbl` in us-east-1 with a replica in eu-west-1.
    fn replicated(db: &DynamoDbRegions) {
        call(
            db,
            "us-east-1",
            "CreateTable",
            serde_json::from_str(TABLE).unwrap(),
        );
        call(
            db,
            "us-east-1",
            "UpdateTable",
            json!({"TableName": "tbl", "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}]}),
        );
    }

    fn call(db: &DynamoDbRegions, region: &str, op: &str, body: Value) -> Value {
        let ctx = RequestContext {
            region: region.to_owned(),
        };
        db.handle(op, &body, &ctx)
            .unwrap_or_else(|e| panic!("{op}: {e}"))
            .into_value()
    }

    fn tables(db: &DynamoDbRegions, region: &str) -> Value {
        call(db, region, "ListTables", json!({}))["TableNames"].clone()
    }

    const TABLE: &str = r#"{"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}]}"#;

    #[test]
    fn records_without_a_region_are_us_east_1s() {
        // As journals written before regions existed hold them.
        let db = service();
        let mut record = json!({
            "op": "create_table", "table": "old", "hash": ["k", "S"], "range": null,
            "billing_mode": "PAY_PER_REQUEST", "read_capacity": 0, "write_capacity": 0,
            "created": 0.0, "arn": "arn:aws:dynamodb:us-east-1:000000000000:table/old",
            "table_id": "x", "tags": {},
        });
        db.restore(&record).unwrap();
        db.restore(&json!({"op": "put", "table": "old", "item": {"k": {"S": "a"}}}))
            .unwrap();
        assert_eq!(tables(&db, "us-east-1"), json!(["old"]));
        assert_eq!(tables(&db, "eu-west-1"), json!([]));
        record["region"] = json!("eu-west-1");
        db.restore(&record).unwrap();
        assert_eq!(tables(&db, "eu-west-1"), json!(["old"]));
    }

    #[test]
    fn a_lag_beyond_the_clock_holds_copies_back_without_a_panic() {
        let db = service();
        replicated(&db);
        db.set_replication_lag(Duration::MAX, Duration::MAX);
        call(
            &db,
            "us-east-1",
            "PutItem",
            json!({"TableName": "tbl", "Item": {"k": {"S": "a"}}}),
        );
        assert_eq!(db.replication_status().pending, 1);
        db.flush_replication();
        assert_eq!(db.replication_status().pending, 0);
    }

    #[test]
    fn a_snapshot_restores_every_region_and_replica_settings() {
        let db = service();
        db.set_replication_lag(Duration::ZERO, Duration::ZERO);
        replicated(&db);
        call(
            &db,
            "eu-west-1",
            "PutItem",
            json!({"TableName": "tbl", "Item": {"k": {"S": "a"}}}),
        );
        let copy = service();
        for record in db.snapshot() {
            copy.restore(&record).unwrap();
        }
        for region in ["us-east-1", "eu-west-1"] {
            let t = &call(&copy, region, "DescribeTable", json!({"TableName": "tbl"}))["Table"];
            assert_eq!(t["ItemCount"], 1, "{region}");
            assert_eq!(t["GlobalTableVersion"], "2019.11.21", "{region}");
            assert!(t["TableArn"].as_str().unwrap().contains(region));
        }
    }

    fn put(db: &DynamoDbRegions, region: &str, k: &str) {
        call(
            db,
            region,
            "PutItem",
            json!({"TableName": "tbl", "Item": {"k": {"S": k}}}),
        );
    }

    fn keys(db: &DynamoDbRegions, region: &str) -> std::collections::BTreeSet<String> {
        let out = call(db, region, "Scan", json!({"TableName": "tbl"}));
        out["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["k"]["S"].as_str().unwrap().to_owned())
            .collect()
    }

    fn add_replica(db: &DynamoDbRegions, from: &str, to: &str) {
        call(
            db,
            from,
            "UpdateTable",
            json!({"TableName": "tbl", "ReplicaUpdates": [{"Create": {"RegionName": to}}]}),
        );
    }

    #[test]
    fn a_replica_created_during_writes_receives_every_acknowledged_write() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for round in 0..5 {
            let db = Arc::new(service());
            call(
                &db,
                "us-east-1",
                "CreateTable",
                serde_json::from_str(TABLE).unwrap(),
            );
            let acked = Arc::new(AtomicUsize::new(0));
            let writers: Vec<_> = (0..3)
                .map(|w| {
                    let (db, acked) = (db.clone(), acked.clone());
                    std::thread::spawn(move || {
                        for i in 0..400 {
                            put(&db, "us-east-1", &format!("{w}-{i}"));
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            // Created while the writers are under way (after some writes, not
            // after all: the writers have 1200 to do).
            while acked.load(Ordering::SeqCst) < 100 {
                std::thread::yield_now();
            }
            add_replica(&db, "us-east-1", "eu-west-1");
            for w in writers {
                w.join().unwrap();
            }
            db.flush_replication();
            assert_eq!(db.replication_status().pending, 0);
            let (east, west) = (keys(&db, "us-east-1"), keys(&db, "eu-west-1"));
            assert_eq!(east.len(), 1200, "round {round}");
            let missing: Vec<&String> = east.difference(&west).collect();
            assert!(
                missing.is_empty(),
                "round {round}: missing in the replica: {missing:?}"
            );
        }
    }

    #[test]
    fn a_new_replica_receives_what_its_source_has_yet_to_receive() {
        let db = service();
        call(
            &db,
            "us-east-1",
            "CreateTable",
            serde_json::from_str(TABLE).unwrap(),
        );
        add_replica(&db, "us-east-1", "eu-west-1");
        db.set_replication_paused(true);
        put(&db, "eu-west-1", "from-west");
        assert!(keys(&db, "us-east-1").is_empty());
        // Made from us-east-1, which has not received eu-west-1's write yet.
        add_replica(&db, "us-east-1", "ap-south-1");
        db.set_replication_paused(false);
        db.flush_replication();
        for region in ["us-east-1", "eu-west-1", "ap-south-1"] {
            assert_eq!(
                keys(&db, region),
                ["from-west".to_owned()].into(),
                "{region}"
            );
        }
    }

    #[test]
    fn a_deleted_replica_drops_the_copies_queued_for_it() {
        let db = service();
        call(
            &db,
            "us-east-1",
            "CreateTable",
            serde_json::from_str(TABLE).unwrap(),
        );
        add_replica(&db, "us-east-1", "eu-west-1");
        db.set_replication_paused(true);
        put(&db, "us-east-1", "a");
        assert_eq!(db.replication_status().pending, 1);
        call(
            &db,
            "us-east-1",
            "UpdateTable",
            json!({"TableName": "tbl", "ReplicaUpdates": [{"Delete": {"RegionName": "eu-west-1"}}]}),
        );
        assert_eq!(db.replication_status().pending, 0);
    }
}
