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
//! the copies that are due), so no thread runs in the background. Copies not yet
//! applied are not journaled: a restart forgets them, and the replicas keep the
//! difference.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use super::request::{opt_str, req_str, table_name};
use super::value::{item_from_json, map_to_json};
use super::{Change, DynamoDb};
use crate::error::AwsError;
use crate::faults::{Faults, ReadCaps};
use crate::journal::Journal;
use crate::protocol::{bare_table_name, valid_region, RequestContext, DEFAULT_REGION};
use crate::services::JsonService;

/// The replication lag when nobody sets one: AWS says items "typically" reach the
/// other replicas within a second.
pub const DEFAULT_REPLICATION_LAG: Duration = Duration::from_secs(1);

/// The region sets a `STRONG` global table must stay within (three regions of one).
const STRONG_REGION_SETS: [&[&str]; 3] = [
    &["us-east-1", "us-east-2", "us-west-2"],
    &["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"],
    &["ap-northeast-1", "ap-northeast-2", "ap-northeast-3"],
];

/// The DynamoDB service of every region, with global-table replication.
pub struct DynamoDbRegions {
    journal: Arc<dyn Journal>,
    account: String,
    faults: Arc<Faults>,
    clock: Arc<AtomicU64>,
    regions: RwLock<BTreeMap<String, Arc<DynamoDb>>>,
    replication: Mutex<Replication>,
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
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    due: Instant,
    to: String,
    change: Change,
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
                pending: Vec::new(),
            }),
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

    /// The replication settings and how many copies are queued.
    pub fn replication_status(&self) -> ReplicationStatus {
        self.deliver(false);
        let r = lock(&self.replication);
        ReplicationStatus {
            lag_ms: r.lag.as_millis() as u64,
            jitter_ms: r.jitter.as_millis() as u64,
            paused: r.paused,
            pending: r.pending.len(),
        }
    }

    /// Applies the copies that are due (all of them with `all`), except into
    /// regions that are down.
    fn deliver(&self, all: bool) {
        let due: Vec<Pending> = {
            let mut r = lock(&self.replication);
            if r.paused || r.pending.is_empty() {
                return;
            }
            let now = Instant::now();
            let (mut due, rest): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut r.pending)
                .into_iter()
                .partition(|p| (all || p.due <= now) && !self.faults.region_down(&p.to));
            r.pending = rest;
            due.sort_by_key(|p| p.due);
            due
        };
        for p in due {
            if let Err(err) = self.region(&p.to).apply_replicated(&p.change) {
                // Only a journal failure gets here: keep the copy for later.
                tracing::warn!(region = %p.to, code = %err.code, "replication copy failed");
                lock(&self.replication).pending.push(p);
            }
        }
    }

    /// Sends the writes `from` made to global tables on their way.
    fn replicate(&self, from: &DynamoDb) {
        let changes = std::mem::take(&mut *from.lock_outbox());
        if changes.is_empty() {
            return;
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
                let jitter = if r.jitter.is_zero() {
                    Duration::ZERO
                } else {
                    rand::thread_rng().gen_range(Duration::ZERO..=r.jitter)
                };
                // A lag too long for the clock holds the copy back "for ever".
                let now = Instant::now();
                let due = now
                    .checked_add(r.lag.saturating_add(jitter))
                    .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
                    .unwrap_or(now);
                r.pending.push(Pending {
                    due,
                    to: to.clone(),
                    change: change.clone(),
                });
                queued = true;
            }
        }
        if queued && lock(&self.replication).lag.is_zero() {
            self.deliver(false);
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
    ) -> Result<Value, AwsError> {
        self.deliver(false);
        let region = self.region(&ctx.region);
        if !body.is_object() {
            return region.handle_capped(operation, body, caps);
        }
        let out = match operation {
            "UpdateTable" if super::capacity::is_throughput_update(body) => {
                region.update_throughput(body)
            }
            "UpdateTable" => self.update_table(&region, body),
            "DeleteTable" => self.delete_table(&region, body, caps),
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
                let out = region.handle_capped(operation, body, caps);
                self.replicate(&region);
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
    ) -> Result<Value, AwsError> {
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
        let out = {
            let _serial = lock(&self.strong);
            let out = region.handle_capped(operation, body, caps);
            self.replicate(region);
            out
        };
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
    fn mark_disabled(&self, mut out: Value) -> Value {
        for field in ["Table", "TableDescription"] {
            let replicas = out
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

    fn delete_table(
        &self,
        region: &DynamoDb,
        body: &Value,
        caps: ReadCaps,
    ) -> Result<Value, AwsError> {
        let _control = lock(&self.control);
        let name = table_name(body)?.to_owned();
        let before = region.replicas_of(&name);
        let out = region.handle_capped("DeleteTable", body, caps)?;
        // Deleting a replica's table removes it from the others' replica lists.
        if let Some((replicas, _)) = before.filter(|(r, _)| r.len() > 1) {
            let rest: Vec<String> = replicas
                .into_iter()
                .filter(|r| *r != region.region)
                .collect();
            for other in &rest {
                self.region(other).set_replicas(&name, &rest)?;
            }
        }
        Ok(out)
    }

    /// `UpdateTable`: replica and witness changes (the only changes emulated).
    fn update_table(&self, local: &DynamoDb, body: &Value) -> Result<Value, AwsError> {
        let _control = lock(&self.control);
        let name = table_name(body)?.to_owned();
        let supported = [
            "TableName",
            "ReplicaUpdates",
            "MultiRegionConsistency",
            "GlobalTableWitnessUpdates",
        ];
        if let Some(other) = body
            .as_object()
            .into_iter()
            .flat_map(|o| o.iter())
            .find(|(k, v)| !supported.contains(&k.as_str()) && !v.is_null())
        {
            return Err(AwsError::validation(format!(
                "lockbox-mock supports UpdateTable only for ReplicaUpdates, MultiRegionConsistency and GlobalTableWitnessUpdates, not {}",
                other.0
            )));
        }
        let consistency = opt_str(body, "MultiRegionConsistency")?;
        if let Some(c) = consistency {
            if c != "EVENTUAL" && c != "STRONG" {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{c}' at 'multiRegionConsistency' failed to satisfy constraint: Member must satisfy enum value set: [EVENTUAL, STRONG]"
                )));
            }
        }
        let (creates, deletes) = region_updates(body, "ReplicaUpdates", "replicaUpdates", true)?;
        let (witness_creates, witness_deletes) = region_updates(
            body,
            "GlobalTableWitnessUpdates",
            "globalTableWitnessUpdates",
            false,
        )?;
        if consistency.is_some() && creates.is_empty() {
            return Err(AwsError::validation(
                "MultiRegionConsistency can only be specified with a Create action in ReplicaUpdates",
            ));
        }
        if creates.is_empty()
            && deletes.is_empty()
            && witness_creates.is_empty()
            && witness_deletes.is_empty()
        {
            return Err(AwsError::validation(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, ReplicaUpdates or SSESpecification or TableClass or DeletionProtectionEnabled or GlobalTableWitnessUpdates is required",
            ));
        }
        let Some((current, _)) = local.replicas_of(&name) else {
            return Err(AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "ResourceNotFoundException",
                format!("Requested resource not found: Table: {name} not found"),
            ));
        };
        let here = local.region.as_str();
        if creates.iter().chain(&deletes).any(|r| r == here) {
            return Err(AwsError::validation(
                "Cannot add, delete, or update the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.",
            ));
        }
        let global = current.len() > 1;
        let existing_mode = local.consistency_of(&name);
        if let (Some(c), true) = (consistency, global) {
            if existing_mode.as_deref() != Some(c) {
                return Err(AwsError::validation(
                    "The consistency mode of a global table cannot be changed",
                ));
            }
        }
        let mode = consistency
            .map(str::to_owned)
            .or(existing_mode)
            .unwrap_or_else(|| "EVENTUAL".to_owned());
        for r in &creates {
            if current.contains(r) {
                return Err(AwsError::validation(format!(
                    "Failed to create a new replica of table with name: '{name}' because one or more replicas already existed as tables."
                )));
            }
            if self.region(r).replicas_of(&name).is_some() {
                return Err(AwsError::validation(format!(
                    "Failed to create a new replica of table with name: '{name}' because one or more replicas already existed as tables."
                )));
            }
        }
        for r in &deletes {
            if !current.contains(r) {
                return Err(AwsError::validation(format!(
                    "Cannot delete a replica that does not exist: table '{name}' has no replica in {r}"
                )));
            }
        }
        let mut witnesses = local.witnesses_of(&name);
        if mode == "STRONG" {
            if global && !creates.is_empty() {
                return Err(AwsError::validation(
                    "Replicas cannot be added to a global table with multi-Region strong consistency",
                ));
            }
            if witness_creates.len() + witness_deletes.len() > 1 {
                return Err(AwsError::validation(
                    "Only one witness can be created or deleted per UpdateTable operation",
                ));
            }
        } else if !witness_creates.is_empty() || !witness_deletes.is_empty() {
            return Err(AwsError::validation(
                "GlobalTableWitnessUpdates are only supported for global tables with multi-Region strong consistency (MultiRegionConsistency STRONG)",
            ));
        }
        let mut replicas: Vec<String> = current
            .iter()
            .filter(|r| !deletes.contains(r))
            .chain(&creates)
            .cloned()
            .collect();
        replicas.sort();
        replicas.dedup();
        witnesses.retain(|w| !witness_deletes.contains(w));
        witnesses.extend(witness_creates.iter().cloned());
        if mode == "STRONG" && !creates.is_empty() {
            let regions: Vec<&String> = replicas.iter().chain(&witnesses).collect();
            if regions.len() != 3 {
                return Err(AwsError::validation(
                    "A global table with multi-Region strong consistency must have exactly three regions: three replicas, or two replicas and one witness",
                ));
            }
            let one_set = STRONG_REGION_SETS
                .iter()
                .any(|set| regions.iter().all(|r| set.contains(&r.as_str())));
            if !one_set {
                return Err(AwsError::validation(
                    "All regions of a global table with multi-Region strong consistency must be in the same region set",
                ));
            }
            if local.item_count(&name) > 0 {
                return Err(AwsError::validation(
                    "The table must be empty to create a global table with multi-Region strong consistency",
                ));
            }
            if witnesses.iter().any(|w| replicas.contains(w)) {
                return Err(AwsError::validation(
                    "A witness cannot be in a region that holds a replica",
                ));
            }
        }
        // Validated: apply. New replicas start as copies of this one.
        let single = replicas.len() < 2;
        let (replicas, mode, witnesses) = if single {
            (Vec::new(), None, Vec::new())
        } else {
            (replicas, Some(mode), witnesses)
        };
        let settings = json!({
            "replicas": replicas, "consistency": mode, "witnesses": witnesses,
        });
        for r in &creates {
            local.copy_to(&name, &self.region(r), &settings)?;
        }
        for r in &deletes {
            self.region(r).handle_capped(
                "DeleteTable",
                &json!({"TableName": name}),
                ReadCaps::default(),
            )?;
        }
        for r in replicas.iter().filter(|r| !creates.contains(r)) {
            self.region(r).set_settings(&name, &settings)?;
        }
        if single {
            local.set_settings(&name, &settings)?;
        }
        let mut out = local.describe_table(&json!({"TableName": name}))?;
        let mut description = out["Table"].take();
        description["TableStatus"] = json!("UPDATING");
        for replica in description["Replicas"].as_array_mut().into_iter().flatten() {
            if replica["RegionName"]
                .as_str()
                .is_some_and(|r| creates.iter().any(|c| c == r))
            {
                replica["ReplicaStatus"] = json!("CREATING");
            }
        }
        Ok(json!({"TableDescription": description}))
    }
}

/// The regions of the `Create` and `Delete` actions of a list of region updates
/// (`ReplicaUpdates` or `GlobalTableWitnessUpdates`).
fn region_updates(
    body: &Value,
    field: &str,
    member: &str,
    replicas: bool,
) -> Result<(Vec<String>, Vec<String>), AwsError> {
    let list = match body.get(field) {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(AwsError::serialization(format!("{field} must be a list")));
        }
    };
    let mut creates = Vec::new();
    let mut deletes = Vec::new();
    for (i, update) in list.iter().enumerate() {
        let actions: Vec<(&String, &Value)> = update
            .as_object()
            .into_iter()
            .flat_map(|o| o.iter())
            .filter(|(_, v)| !v.is_null())
            .collect();
        let [(action, spec)] = actions.as_slice() else {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at '{member}.{}.member' failed to satisfy constraint: Exactly one of Create, Update or Delete must be specified",
                i + 1
            )));
        };
        let region = req_str(spec, "RegionName")?;
        if !valid_region(region) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Invalid region name: {region}"
            )));
        }
        match action.as_str() {
            "Create" => creates.push(region.to_owned()),
            "Delete" => deletes.push(region.to_owned()),
            "Update" if replicas => {
                return Err(AwsError::validation(
                    "lockbox-mock does not support Update actions in ReplicaUpdates",
                ))
            }
            other => {
                return Err(AwsError::serialization(format!(
                    "unknown action {other} in {field}"
                )))
            }
        }
    }
    let mut all: Vec<&String> = creates.iter().chain(&deletes).collect();
    all.sort();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err(AwsError::validation(format!(
            "{field} names a region more than once"
        )));
    }
    Ok((creates, deletes))
}

/// What the region-level service offers the global one.
impl DynamoDb {
    /// The regions of a table's replicas (itself alone when not global) and
    /// whether it is `STRONG`; `None` if the table does not exist here.
    pub(super) fn replicas_of(&self, table: &str) -> Option<(Vec<String>, bool)> {
        let st = self.read();
        let t = st.tables.get(table)?;
        if t.is_global() {
            Some((t.replicas.clone(), t.is_strong()))
        } else {
            Some((vec![self.region.clone()], false))
        }
    }

    fn consistency_of(&self, table: &str) -> Option<String> {
        let st = self.read();
        st.tables
            .get(table)
            .filter(|t| t.is_global())
            .and_then(|t| t.consistency.clone())
    }

    fn witnesses_of(&self, table: &str) -> Vec<String> {
        self.read()
            .tables
            .get(table)
            .map(|t| t.witnesses.clone())
            .unwrap_or_default()
    }

    fn item_count(&self, table: &str) -> usize {
        self.read().tables.get(table).map_or(0, |t| t.count)
    }

    /// Whether a write request names a `STRONG` table.
    fn touches_strong(&self, operation: &str, body: &Value) -> bool {
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
    fn write_keys(&self, operation: &str, body: &Value) -> Vec<String> {
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
    fn apply_replicated(&self, change: &Change) -> Result<(), AwsError> {
        let mut st = self.write();
        let Some(t) = st.tables.get(&change.table) else {
            return Ok(());
        };
        let op = change.record["op"].as_str().unwrap_or_default();
        let field = if op == "put" { "item" } else { "key" };
        let Some(key) = item_from_json(&change.record[field])
            .ok()
            .and_then(|item| t.key_of(&item, false).ok())
        else {
            return Ok(());
        };
        if t.stamps.get(&key).is_some_and(|s| *s >= change.stamp) {
            return Ok(());
        }
        self.journal_apply(&mut st, change.record.clone())?;
        if let Some(t) = st.tables.get_mut(&change.table) {
            t.stamps.insert(key, change.stamp);
        }
        Ok(())
    }

    /// Creates `table`'s replica in `to`, with every item, and `settings`.
    fn copy_to(&self, table: &str, to: &DynamoDb, settings: &Value) -> Result<(), AwsError> {
        let st = self.read();
        let t = st.tables.get(table).ok_or_else(super::not_found)?;
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
        let mut out = to.write();
        to.journal_apply(&mut out, copy.to_record())?;
        for part in t.items.values() {
            for item in part.values() {
                to.journal_apply(
                    &mut out,
                    json!({"op": "put", "table": table, "item": map_to_json(item)}),
                )?;
            }
        }
        if let Some(c) = out.tables.get_mut(table) {
            c.stamps = t.stamps.clone();
        }
        Ok(())
    }

    /// Records new replica settings for `table`.
    fn set_settings(&self, table: &str, settings: &Value) -> Result<(), AwsError> {
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
    fn set_replicas(&self, table: &str, replicas: &[String]) -> Result<(), AwsError> {
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

impl JsonService for DynamoDbRegions {
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        ctx: &RequestContext,
    ) -> Result<Value, AwsError> {
        self.handle_capped(operation, body, ReadCaps::default(), ctx)
    }

    /// Replays one record into the region it names (`us-east-1` for records of
    /// journals written before regions existed).
    fn restore(&self, record: &Value) -> Result<(), String> {
        let region = record
            .get("region")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_REGION);
        self.region(region).restore(record)
    }

    fn reset(&self) {
        self.regions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        lock(&self.replication).pending.clear();
    }

    fn snapshot(&self) -> Vec<Value> {
        let regions: Vec<Arc<DynamoDb>> = self.read_regions().values().cloned().collect();
        regions.iter().flat_map(|r| r.snapshot()).collect()
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

    fn call(db: &DynamoDbRegions, region: &str, op: &str, body: Value) -> Value {
        let ctx = RequestContext {
            region: region.to_owned(),
        };
        db.handle(op, &body, &ctx)
            .unwrap_or_else(|e| panic!("{op}: {e}"))
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
        call(
            &db,
            "us-east-1",
            "CreateTable",
            serde_json::from_str(TABLE).unwrap(),
        );
        call(
            &db,
            "us-east-1",
            "UpdateTable",
            json!({"TableName": "tbl", "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}]}),
        );
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
        call(
            &db,
            "us-east-1",
            "CreateTable",
            serde_json::from_str(TABLE).unwrap(),
        );
        call(
            &db,
            "us-east-1",
            "UpdateTable",
            json!({"TableName": "tbl", "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}]}),
        );
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
}
