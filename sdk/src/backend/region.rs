//! Several regions behind one [`SecretStore`] and one [`KeyService`]: reads in the
//! first healthy region of an ordered list, writes in one home region.
//!
//! A read fails over to the next region only when a region is *unavailable*
//! ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], or [`ErrorKind::Throttled`]
//! once the AWS SDK's retries are spent). Every other failure (denied, not found,
//! integrity, context, usage) is the answer and is returned as it is: a refused
//! read must not be retried somewhere else. A region that failed is skipped for a
//! cool-down (a per-process circuit breaker), so a batch of reads pays for the
//! outage once, not once per secret; when every region is cooling down they are
//! all tried again, in order.
//!
//! While another region can serve a read, its region gets one chance: the AWS
//! client does not retry a timeout there (and retries a 5xx once), see
//! `failover.rs`, and every call in flight in a region is abandoned, and made
//! in the next region, as soon as any call finds the region unavailable. A
//! batch of reads sent to a region that hangs waits for one attempt timeout,
//! not for each call's retries.
//!
//! Writes (and `setup`, `re_encrypt`, label moves) go to the home region only:
//! on an eventually consistent global table two regions accepting writes can
//! silently lose one of them, so lockbox never moves writes by itself.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{
    DataKey, ItemSummary, KeyDescription, KeyService, ReEncrypted, ScanPage, ScanRequest,
    SecretStore, SetupOutcome, TableDescription, TableRecord, UnwrappedKey,
};
use crate::format::{Attr, Attributes};
use crate::{EncryptionContext, Error, ErrorKind, Result, SecretName, Version};

/// How long a region that failed is skipped when none is given.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);

/// Whether an error means "this region cannot serve now", so another may.
pub fn fails_over(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Throttled
    )
}

/// Per-region "skip until" marks, shared by every call of one process, and a
/// signal to the calls in flight in a region when it is found unavailable.
#[derive(Debug)]
struct Breaker {
    regions: Vec<String>,
    cool_down: Duration,
    until: Mutex<Vec<Option<Instant>>>,
    trips: Vec<Trips>,
}

/// How often one region was found unavailable, and the calls waiting there.
#[derive(Debug, Default)]
struct Trips {
    count: AtomicU64,
    calls: Notify,
}

/// One region of a read's failover order.
#[derive(Debug, Clone, Copy)]
struct Step {
    region: usize,
    /// Whether a region that is not cooling down comes after this one: then a
    /// call here is not retried in place when the region does not answer
    /// (`failover.rs`), and is abandoned when another call finds the region
    /// unavailable.
    elsewhere: bool,
    /// The region's trip count when the order was made.
    trips: u64,
}

/// How a call in one region ended.
enum Attempt<T> {
    /// The region answered, or failed.
    Done(Result<T>),
    /// Another call found the region unavailable meanwhile: this one was
    /// dropped, to be made in the next region.
    Abandoned,
}

impl Breaker {
    fn new(regions: Vec<String>, cool_down: Duration) -> Self {
        let until = Mutex::new(vec![None; regions.len()]);
        let trips = regions.iter().map(|_| Trips::default()).collect();
        Self {
            regions,
            cool_down,
            until,
            trips,
        }
    }

    /// The order to try: `first` (if any), then healthy regions in the
    /// configured order, then those cooling down.
    #[cfg(test)]
    fn order(&self, first: Option<usize>) -> Vec<usize> {
        self.plan(first).into_iter().map(|s| s.region).collect()
    }

    /// [`Breaker::order`], each region with what a call there needs to know.
    fn plan(&self, first: Option<usize>) -> Vec<Step> {
        let now = Instant::now();
        let until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let cooling = |i: usize| until[i].is_some_and(|t| t > now);
        let mut order: Vec<usize> = first.into_iter().collect();
        let rest = (0..self.regions.len()).filter(|i| Some(*i) != first);
        let (healthy, cold): (Vec<usize>, Vec<usize>) = rest.partition(|i| !cooling(*i));
        order.extend(healthy);
        order.extend(cold);
        (0..order.len())
            .map(|at| Step {
                region: order[at],
                elsewhere: order[at + 1..].iter().any(|&j| !cooling(j)),
                trips: self.trips[order[at]].count.load(Ordering::SeqCst),
            })
            .collect()
    }

    /// Runs `call` in the region of `step`. With another region to go to, the
    /// call's AWS client does not retry in place what that region can retry,
    /// and the call is dropped as soon as any call finds the region unavailable
    /// (a batch pays for a hanging region once, not once per call).
    async fn attempt<T>(
        &self,
        step: Step,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Attempt<T> {
        if !step.elsewhere {
            return Attempt::Done(call.await);
        }
        let trips = &self.trips[step.region];
        let mut tripped = std::pin::pin!(trips.calls.notified());
        tripped.as_mut().enable();
        if trips.count.load(Ordering::SeqCst) != step.trips {
            return Attempt::Abandoned;
        }
        let call = std::pin::pin!(crate::failover::in_region(true, call));
        // The call first: an answer that came with the signal is kept.
        match futures::future::select(call, tripped).await {
            futures::future::Either::Left((result, _)) => Attempt::Done(result),
            futures::future::Either::Right(((), _)) => Attempt::Abandoned,
        }
    }

    fn trip(&self, i: usize, err: &Error) {
        tracing::warn!(
            region = %self.regions[i],
            error = %err,
            cool_down_s = self.cool_down.as_secs(),
            "region unavailable: reading from the next region"
        );
        self.until.lock().unwrap_or_else(|p| p.into_inner())[i] =
            Some(Instant::now() + self.cool_down);
        self.trips[i].count.fetch_add(1, Ordering::SeqCst);
        self.trips[i].calls.notify_waiters();
    }

    fn heal(&self, i: usize) {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if until[i].is_some() {
            tracing::info!(region = %self.regions[i], "region serves again");
            until[i] = None;
        }
    }

    /// The error of a call to `service` dropped because another call found
    /// its region, number `i`, unavailable.
    fn abandoned(&self, service: crate::Service, i: usize) -> Error {
        Error::Unavailable {
            service,
            message: format!(
                "region {} was found unavailable while this call waited for it",
                self.regions[i]
            ),
            source: None,
        }
    }
}

/// Runs `$call` (with `$s` bound to each region's backend) in failover order,
/// returning from the enclosing function.
macro_rules! failover {
    ($self:ident, $first:expr, |$s:ident| $call:expr) => {{
        let mut last: Option<Error> = None;
        let first: Option<usize> = $first;
        for step in $self.breaker.plan(first) {
            let i = step.region;
            let $s = &*$self.backends[i];
            match $self.breaker.attempt(step, $call).await {
                Attempt::Done(Ok(value)) => {
                    $self.breaker.heal(i);
                    $self.answered(i, first.unwrap_or(0));
                    return Ok(value);
                }
                Attempt::Done(Err(err)) if fails_over(&err) => {
                    $self.breaker.trip(i, &err);
                    last = Some(err);
                }
                Attempt::Done(Err(err)) => return Err(err),
                Attempt::Abandoned => last = Some($self.breaker.abandoned($self.service(), i)),
            }
        }
        return Err(last.unwrap_or_else(|| Error::InvalidValue {
            reason: "no region to read from".into(),
        }));
    }};
}

/// Checks a region list and the home region: names that look like regions,
/// no duplicates, the home region among them. Returns the home region's index.
pub(crate) fn check_regions(regions: &[String], home: Option<&str>) -> Result<usize> {
    if regions.is_empty() {
        return Err(Error::InvalidValue {
            reason: "the list of regions is empty: name at least one (--regions R1,R2)".into(),
        });
    }
    for r in regions {
        if !valid_region(r) {
            return Err(Error::InvalidValue {
                reason: format!(
                    "{r:?} is not a region name (such as us-east-1): fix --regions / LOCKBOX_REGIONS"
                ),
            });
        }
    }
    let mut seen = HashSet::new();
    if let Some(dup) = regions.iter().find(|r| !seen.insert(r.as_str())) {
        return Err(Error::InvalidValue {
            reason: format!("region {dup} is listed twice in --regions"),
        });
    }
    match home {
        None => Ok(0),
        Some(h) => regions
            .iter()
            .position(|r| r == h)
            .ok_or_else(|| Error::InvalidValue {
                reason: format!(
                    "the write region {h} is not one of the regions read ({}): add it to --regions",
                    regions.join(",")
                ),
            }),
    }
}

/// Whether `name` has the shape of an AWS region name.
pub(crate) fn valid_region(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_digit())
        && name.contains('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A [`SecretStore`] over one store per region: reads fail over, writes go home.
#[derive(Debug)]
pub struct RegionalSecretStore {
    backends: Vec<Arc<dyn SecretStore>>,
    regions: Vec<String>,
    home: usize,
    breaker: Arc<Breaker>,
    /// Names this process wrote: read from the home region first
    /// (read-your-writes while replicas lag).
    written: Mutex<HashSet<String>>,
    /// Whether `setup` makes the table strongly consistent across its regions.
    strong: bool,
}

impl RegionalSecretStore {
    /// Stores `(region, store)` in read order; writes go to `regions[home]`.
    pub fn new(stores: Vec<(String, Arc<dyn SecretStore>)>, home: usize) -> Result<Self> {
        Self::with_cool_down(stores, home, DEFAULT_COOL_DOWN)
    }

    /// [`RegionalSecretStore::new`] skipping a failed region for `cool_down`.
    pub fn with_cool_down(
        stores: Vec<(String, Arc<dyn SecretStore>)>,
        home: usize,
        cool_down: Duration,
    ) -> Result<Self> {
        let (regions, backends): (Vec<String>, Vec<Arc<dyn SecretStore>>) =
            stores.into_iter().unzip();
        check_regions(&regions, Some(home_region(&regions, home)?))?;
        Ok(Self {
            breaker: Arc::new(Breaker::new(regions.clone(), cool_down)),
            backends,
            regions,
            home,
            written: Mutex::new(HashSet::new()),
            strong: false,
        })
    }

    /// Make `setup` create the replicas with multi-Region strong consistency
    /// (three regions of one region set, an empty table).
    pub fn strong_consistency(mut self, strong: bool) -> Self {
        self.strong = strong;
        self
    }

    /// The regions in read order.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// The region writes go to.
    pub fn write_region(&self) -> &str {
        &self.regions[self.home]
    }

    fn home(&self) -> &dyn SecretStore {
        &*self.backends[self.home]
    }

    fn service(&self) -> crate::Service {
        crate::Service::DynamoDb
    }

    /// Region `i` answered a read whose first region is `first`: noted for the
    /// read ([`crate::served`]), with the region it stood in for.
    fn answered(&self, i: usize, first: usize) {
        crate::served::table(Some(&self.regions[i]));
        crate::served::fallback(
            (i != first).then(|| (self.regions[first].as_str(), self.regions[i].as_str())),
        );
    }

    /// Runs `read`, a read that must come whole from one replica (a scan of
    /// the table: its pages from one region), against each region's store in
    /// failover order until one serves it. A region found unavailable part-way
    /// is left, and the next region's store starts the read again. `read` is
    /// told whether another region can take over (then it should not wait out
    /// an unavailable region: see [`crate::lifecycle::Pacer`]). The region that
    /// served it is noted for the read (`served.rs`).
    pub async fn read_whole<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: Fn(Arc<dyn SecretStore>, bool) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last: Option<Error> = None;
        for step in self.breaker.plan(None) {
            let i = step.region;
            let call = read(self.backends[i].clone(), step.elsewhere);
            match self.breaker.attempt(step, call).await {
                Attempt::Done(Ok(value)) => {
                    self.breaker.heal(i);
                    self.answered(i, 0);
                    return Ok(value);
                }
                Attempt::Done(Err(err)) if fails_over(&err) => {
                    self.breaker.trip(i, &err);
                    last = Some(err);
                }
                Attempt::Done(Err(err)) => {
                    // An answer all the same (a pinned version the scan did not
                    // find): noted, so that it can say it may not have replicated.
                    self.answered(i, 0);
                    return Err(err);
                }
                Attempt::Abandoned => last = Some(self.breaker.abandoned(self.service(), i)),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidValue {
            reason: "no region to read from".into(),
        }))
    }

    /// The home region first for a name this process wrote.
    fn first_for(&self, name: &str) -> Option<usize> {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
            .then_some(self.home)
    }

    fn wrote(&self, item: &Attributes) {
        if let Some(name) = item.get(crate::format::attr::NAME).and_then(Attr::as_s) {
            self.written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_owned());
        }
    }
}

#[async_trait]
impl SecretStore for RegionalSecretStore {
    async fn put_new(&self, item: &Attributes) -> Result<()> {
        self.wrote(item);
        self.home().put_new(item).await
    }

    async fn get_latest(&self, name: &SecretName) -> Result<Option<Attributes>> {
        failover!(self, self.first_for(name.as_str()), |s| s.get_latest(name))
    }

    async fn latest_version(&self, name: &SecretName) -> Result<Option<ItemSummary>> {
        failover!(self, self.first_for(name.as_str()), |s| s
            .latest_version(name))
    }

    async fn top_versions(&self, name: &SecretName, limit: usize) -> Result<Vec<ItemSummary>> {
        failover!(self, self.first_for(name.as_str()), |s| s
            .top_versions(name, limit))
    }

    async fn get_version(&self, name: &SecretName, version: Version) -> Result<Option<Attributes>> {
        failover!(self, self.first_for(name.as_str()), |s| s
            .get_version(name, version))
    }

    async fn get_versions(
        &self,
        keys: &[(SecretName, Version)],
    ) -> Result<Vec<Option<Attributes>>> {
        let first = keys
            .iter()
            .find_map(|(name, _)| self.first_for(name.as_str()));
        failover!(self, first, |s| s.get_versions(keys))
    }

    async fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        failover!(self, self.first_for(name.as_str()), |s| s.history(name))
    }

    async fn list(&self) -> Result<Vec<ItemSummary>> {
        failover!(self, None, |s| s.list())
    }

    async fn delete(&self, name: &SecretName, sort_key: &str) -> Result<bool> {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.as_str().to_owned());
        self.home().delete(name, sort_key).await
    }

    /// Sets the table up in the home region, adds a replica in every other
    /// region that has none, and records the table's record in each replica
    /// (tags belong to each replica). Idempotent: what exists is left as it is.
    async fn setup(&self, record: &TableRecord, tags: &[(String, String)]) -> Result<SetupOutcome> {
        if self.strong && self.regions.len() != 3 {
            return Err(Error::InvalidValue {
                reason: format!(
                    "strong consistency needs exactly three regions of one region set (such as \
                     --regions us-east-1,us-east-2,us-west-2), not {}",
                    self.regions.join(",")
                ),
            });
        }
        let outcome = self.home().setup(record, tags).await?;
        let others: Vec<String> = self
            .regions
            .iter()
            .filter(|r| **r != self.regions[self.home])
            .cloned()
            .collect();
        self.home().add_replicas(&others, self.strong).await?;
        let recorded = self.home().table_record().await?;
        for (i, backend) in self.backends.iter().enumerate() {
            if i != self.home {
                backend.update_record(&recorded).await?;
            }
        }
        Ok(outcome)
    }

    /// The record of the first region that answers; a replica that records
    /// nothing (added outside `lockbox setup --regions`: tags belong to each
    /// replica) never stands in for the home region's record, whose mode and
    /// key pin it would drop.
    async fn table_record(&self) -> Result<TableRecord> {
        let mut unrecorded: Option<usize> = None;
        let mut last: Option<Error> = None;
        for step in self.breaker.plan(None) {
            let i = step.region;
            match self
                .breaker
                .attempt(step, self.backends[i].table_record())
                .await
            {
                Attempt::Done(Ok(record)) => {
                    self.breaker.heal(i);
                    if i == self.home || record != TableRecord::default() {
                        return Ok(record);
                    }
                    unrecorded.get_or_insert(i);
                }
                Attempt::Done(Err(err)) if fails_over(&err) => {
                    self.breaker.trip(i, &err);
                    last = Some(err);
                }
                Attempt::Done(Err(err)) => return Err(err),
                Attempt::Abandoned => {
                    last = Some(self.breaker.abandoned(crate::Service::DynamoDb, i))
                }
            }
        }
        if let Some(i) = unrecorded {
            return Err(Error::Table {
                table: self.table().to_owned(),
                kind: ErrorKind::Unavailable,
                reason: format!(
                    "its home region {} is unavailable and its replica in {} records no mode, \
                     store or key (its tags); nothing is read until the home region answers. \
                     `lockbox setup --regions ...` records them in every replica",
                    self.regions[self.home], self.regions[i]
                ),
            });
        }
        Err(last.unwrap_or_else(|| Error::InvalidValue {
            reason: "no region to read from".into(),
        }))
    }

    /// Records `record` in every region: tags belong to each replica.
    async fn update_record(&self, record: &TableRecord) -> Result<()> {
        for backend in &self.backends {
            backend.update_record(record).await?;
        }
        Ok(())
    }

    fn table(&self) -> &str {
        self.home().table()
    }

    async fn scan_page(&self, request: &ScanRequest) -> Result<ScanPage> {
        // A scan's pages must come from one replica: the home region's.
        self.home().scan_page(request).await
    }

    async fn get_item(&self, name: &str, sort_key: &str) -> Result<Option<Attributes>> {
        self.home().get_item(name, sort_key).await
    }

    async fn put_if_absent(&self, item: &Attributes) -> Result<bool> {
        self.wrote(item);
        self.home().put_if_absent(item).await
    }

    async fn replace_key(
        &self,
        name: &str,
        sort_key: &str,
        old: &Attr,
        new: &Attr,
    ) -> Result<bool> {
        self.home().replace_key(name, sort_key, old, new).await
    }

    async fn put_revision(&self, item: &Attributes, expected: Option<u64>) -> Result<bool> {
        self.wrote(item);
        self.home().put_revision(item, expected).await
    }

    async fn delete_returning(
        &self,
        name: &SecretName,
        sort_key: &str,
    ) -> Result<Option<Attributes>> {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.as_str().to_owned());
        self.home().delete_returning(name, sort_key).await
    }

    fn label_store(&self) -> Option<Arc<dyn SecretStore>> {
        let stores: Option<Vec<(String, Arc<dyn SecretStore>)>> = self
            .regions
            .iter()
            .zip(&self.backends)
            .map(|(r, b)| b.label_store().map(|l| (r.clone(), l)))
            .collect();
        let store = Self {
            breaker: self.breaker.clone(),
            backends: stores?.into_iter().map(|(_, s)| s).collect(),
            regions: self.regions.clone(),
            home: self.home,
            written: Mutex::new(HashSet::new()),
            strong: self.strong,
        };
        Some(Arc::new(store))
    }

    async fn describe_table(&self) -> Result<TableDescription> {
        self.home().describe_table().await
    }

    fn regional(&self) -> Option<&RegionalSecretStore> {
        Some(self)
    }

    async fn add_replicas(&self, regions: &[String], strong: bool) -> Result<()> {
        self.home().add_replicas(regions, strong).await
    }
}

/// A store and a key service over the same regions that share one circuit
/// breaker: a region found unavailable by either is skipped by both, so a read
/// whose item came from the next region does not wait for the failed region's
/// KMS too (a whole-region outage costs one timeout, not two).
pub fn regional_pair(
    stores: Vec<(String, Arc<dyn SecretStore>)>,
    keys: Vec<(String, Arc<dyn KeyService>)>,
    home: usize,
    cool_down: Duration,
) -> Result<(RegionalSecretStore, RegionalKeyService)> {
    let store = RegionalSecretStore::with_cool_down(stores, home, cool_down)?;
    let mut key = RegionalKeyService::with_cool_down(keys, home, cool_down)?;
    if key.breaker.regions != store.breaker.regions {
        return Err(Error::InvalidValue {
            reason: "the key services and the stores name different regions".into(),
        });
    }
    key.breaker = store.breaker.clone();
    Ok((store, key))
}

/// A [`KeyService`] over one key service per region: unwraps fail over, new data
/// keys and re-encryption use the home region.
#[derive(Debug)]
pub struct RegionalKeyService {
    backends: Vec<Arc<dyn KeyService>>,
    home: usize,
    breaker: Arc<Breaker>,
}

impl RegionalKeyService {
    /// Key services `(region, service)` in read order; writes use `regions[home]`.
    pub fn new(services: Vec<(String, Arc<dyn KeyService>)>, home: usize) -> Result<Self> {
        Self::with_cool_down(services, home, DEFAULT_COOL_DOWN)
    }

    /// [`RegionalKeyService::new`] skipping a failed region for `cool_down`.
    pub fn with_cool_down(
        services: Vec<(String, Arc<dyn KeyService>)>,
        home: usize,
        cool_down: Duration,
    ) -> Result<Self> {
        let (regions, backends): (Vec<String>, Vec<Arc<dyn KeyService>>) =
            services.into_iter().unzip();
        check_regions(&regions, Some(home_region(&regions, home)?))?;
        Ok(Self {
            breaker: Arc::new(Breaker::new(regions, cool_down)),
            backends,
            home,
        })
    }

    fn home(&self) -> &dyn KeyService {
        &*self.backends[self.home]
    }

    fn service(&self) -> crate::Service {
        crate::Service::Kms
    }

    /// Region `i` unwrapped a data key: noted for the read ([`crate::served`]).
    fn answered(&self, i: usize, _first: usize) {
        crate::served::kms(Some(&self.breaker.regions[i]));
    }
}

#[async_trait]
impl KeyService for RegionalKeyService {
    async fn generate_data_key(
        &self,
        bytes: usize,
        context: &EncryptionContext,
    ) -> Result<DataKey> {
        self.home().generate_data_key(bytes, context).await
    }

    async fn decrypt_data_key(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<UnwrappedKey> {
        failover!(self, None, |s| s.decrypt_data_key(name, wrapped, context))
    }

    async fn writer_key_arn(&self) -> Result<String> {
        self.home().writer_key_arn().await
    }

    async fn describe_key(&self) -> Result<KeyDescription> {
        self.home().describe_key().await
    }

    async fn re_encrypt(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
        from: &[String],
        to: &str,
    ) -> Result<ReEncrypted> {
        self.home()
            .re_encrypt(name, wrapped, context, from, to)
            .await
    }

    fn finishing(&self) {
        for b in &self.backends {
            b.finishing();
        }
    }

    async fn open_connections(&self, calls: usize) {
        // Where the unwraps will go first: the first region not cooling down.
        if let Some(step) = self.breaker.plan(None).first() {
            self.backends[step.region].open_connections(calls).await;
        }
    }
}

// ---- multi-Region KMS keys -----------------------------------------------------------

/// Whether `key` identifies a multi-Region KMS key, by the AWS Encryption SDK's
/// rule: a key ARN whose resource id starts with `mrk-`, or a bare `mrk-` id.
/// An alias is never one, whatever its name.
pub fn is_multi_region_key(key: &str) -> bool {
    match key.strip_prefix("arn:") {
        Some(_) => arn_parts(key).is_some_and(|p| p.resource.starts_with("key/mrk-")),
        None => key.starts_with("mrk-"),
    }
}

struct ArnParts<'a> {
    partition: &'a str,
    service: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn arn_parts(arn: &str) -> Option<ArnParts<'_>> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    Some(ArnParts {
        partition: parts.next()?,
        service: parts.next()?,
        // The region is what the match rule leaves out and the rewrite replaces.
        account: {
            parts.next()?;
            parts.next()?
        },
        resource: parts.next()?,
    })
}

/// Whether two key identifiers name the same key for a reader, by the AWS
/// Encryption SDK's "MRK match for decrypt": identical identifiers match; two
/// multi-Region key ARNs match when all but their regions are equal; nothing
/// else does.
pub fn same_key_any_region(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if !(is_multi_region_key(a) && is_multi_region_key(b)) {
        return false;
    }
    match (arn_parts(a), arn_parts(b)) {
        (Some(x), Some(y)) => {
            (x.partition, x.service, x.account, x.resource)
                == (y.partition, y.service, y.account, y.resource)
        }
        _ => false,
    }
}

/// `key` as a reader in `region` must name it: a multi-Region key ARN of another
/// region becomes the ARN of its replica in `region` (the AWS Encryption SDK's
/// rule); anything else (an alias, a single-region key) is left as it is.
pub fn key_in_region(key: &str, region: &str) -> String {
    if !key.starts_with("arn:") || !is_multi_region_key(key) {
        return key.to_owned();
    }
    match arn_parts(key) {
        Some(p) => format!(
            "arn:{}:{}:{region}:{}:{}",
            p.partition, p.service, p.account, p.resource
        ),
        None => key.to_owned(),
    }
}

/// The name of the home region, number `home` of `regions`; refused when there
/// is no such region (a caller's index out of range).
fn home_region(regions: &[String], home: usize) -> Result<&str> {
    regions
        .get(home)
        .map(String::as_str)
        .ok_or_else(|| Error::InvalidValue {
            reason: format!(
                "the home region is number {home}, of {} regions given",
                regions.len()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{MemoryKeyService, MemorySecretStore};
    use crate::format::attr;

    const MRK_EAST: &str =
        "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";
    const MRK_WEST: &str =
        "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";

    #[test]
    fn multi_region_keys_are_matched_as_the_encryption_sdk_does() {
        assert!(is_multi_region_key(MRK_EAST));
        assert!(is_multi_region_key("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_multi_region_key("alias/mrk-looks-like-one"));
        assert!(!is_multi_region_key(
            "arn:aws:kms:us-east-1:111122223333:alias/mrk-x"
        ));
        assert!(!is_multi_region_key(
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
        assert!(same_key_any_region(MRK_EAST, MRK_WEST));
        assert!(!same_key_any_region(
            MRK_EAST,
            &MRK_WEST.replace("111122223333", "444455556666")
        ));
        assert!(!same_key_any_region(
            MRK_EAST,
            &MRK_WEST.replace("mrk-1", "mrk-2")
        ));
        let single = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(same_key_any_region(single, single));
        assert!(!same_key_any_region(
            single,
            &single.replace("us-east-1", "eu-west-1")
        ));
        assert_eq!(key_in_region(MRK_EAST, "eu-west-1"), MRK_WEST);
        assert_eq!(key_in_region(single, "eu-west-1"), single);
        assert_eq!(key_in_region("alias/lockbox", "eu-west-1"), "alias/lockbox");
    }

    #[test]
    fn bad_region_lists_are_refused_with_what_to_do() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_regions(&r(&["us-east-1", "eu-west-1"]), None).unwrap(),
            0
        );
        assert_eq!(
            check_regions(&r(&["us-east-1", "eu-west-1"]), Some("eu-west-1")).unwrap(),
            1
        );
        let err = check_regions(&r(&["us-east-1"]), Some("eu-west-1")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.to_string().contains("add it to --regions"), "{err}");
        let err = check_regions(&r(&["us-east-1", "Mars"]), None).unwrap_err();
        assert!(
            err.to_string().contains("\"Mars\" is not a region name"),
            "{err}"
        );
        assert!(check_regions(&r(&["us-east-1", "us-east-1"]), None).is_err());
        assert!(check_regions(&[], None).is_err());
    }

    /// A store that fails every call with `err`'s class, counting calls.
    #[derive(Debug)]
    struct Failing {
        kind: ErrorKind,
        calls: std::sync::atomic::AtomicUsize,
    }

    fn failure(kind: ErrorKind) -> Error {
        match kind {
            ErrorKind::Unavailable => Error::Unavailable {
                service: crate::Service::DynamoDb,
                message: "503".into(),
                source: None,
            },
            _ => Error::AccessDenied {
                service: crate::Service::DynamoDb,
                message: "denied".into(),
                source: None,
            },
        }
    }

    #[async_trait]
    impl SecretStore for Failing {
        async fn put_new(&self, _: &Attributes) -> Result<()> {
            Err(failure(self.kind))
        }
        async fn get_latest(&self, _: &SecretName) -> Result<Option<Attributes>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(failure(self.kind))
        }
        async fn get_version(&self, _: &SecretName, _: Version) -> Result<Option<Attributes>> {
            Err(failure(self.kind))
        }
        async fn history(&self, _: &SecretName) -> Result<Vec<ItemSummary>> {
            Err(failure(self.kind))
        }
        async fn list(&self) -> Result<Vec<ItemSummary>> {
            Err(failure(self.kind))
        }
        async fn delete(&self, _: &SecretName, _: &str) -> Result<bool> {
            Err(failure(self.kind))
        }
        async fn setup(&self, _: &TableRecord, _: &[(String, String)]) -> Result<SetupOutcome> {
            Err(failure(self.kind))
        }
        async fn table_record(&self) -> Result<TableRecord> {
            Err(failure(self.kind))
        }
        async fn update_record(&self, _: &TableRecord) -> Result<()> {
            Err(failure(self.kind))
        }
        fn table(&self) -> &str {
            "t"
        }
    }

    fn item(name: &str) -> Attributes {
        let mut item = Attributes::new();
        item.insert(attr::NAME.into(), Attr::S(name.into()));
        item.insert(
            attr::VERSION.into(),
            Attr::S(Version::new(1).unwrap().sort_key()),
        );
        item
    }

    #[tokio::test]
    async fn a_replica_that_records_nothing_never_stands_in_for_the_home_record() {
        let down = || {
            Arc::new(Failing {
                kind: ErrorKind::Unavailable,
                calls: Default::default(),
            }) as Arc<dyn SecretStore>
        };
        let recorded = TableRecord::new(crate::TableMode::Sealed, Some("acct/t".into()), None);
        let bare = || Arc::new(MemorySecretStore::with_record(TableRecord::default()));
        // Home down, the replica untagged: refused, not read without a mode.
        let store = RegionalSecretStore::new(
            vec![("us-east-1".into(), down()), ("eu-west-1".into(), bare())],
            0,
        )
        .unwrap();
        let err = store.table_record().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains("records no mode"), "{err}");
        // Home up: its record, even when the replica is read first.
        let home = Arc::new(MemorySecretStore::with_record(recorded.clone()));
        let store = RegionalSecretStore::new(
            vec![
                ("eu-west-1".into(), bare() as Arc<dyn SecretStore>),
                ("us-east-1".into(), home as Arc<dyn SecretStore>),
            ],
            1,
        )
        .unwrap();
        assert_eq!(store.table_record().await.unwrap(), recorded);
        // Home down, the replica tagged as setup tags it: its record.
        let tagged = Arc::new(MemorySecretStore::with_record(recorded.clone()));
        let store = RegionalSecretStore::new(
            vec![("us-east-1".into(), down()), ("eu-west-1".into(), tagged)],
            0,
        )
        .unwrap();
        assert_eq!(store.table_record().await.unwrap(), recorded);
        // A home index out of range is refused, not a panic at the first write.
        assert!(RegionalSecretStore::new(vec![("us-east-1".into(), bare())], 3).is_err());
    }

    #[tokio::test]
    async fn reads_fail_over_only_when_a_region_is_unavailable() {
        let name = SecretName::new("db").unwrap();
        let down = Arc::new(Failing {
            kind: ErrorKind::Unavailable,
            calls: Default::default(),
        });
        let backup = Arc::new(MemorySecretStore::with_record(TableRecord::default()));
        backup.put_new(&item("db")).await.unwrap();
        let store = RegionalSecretStore::new(
            vec![
                ("us-east-1".into(), down.clone() as Arc<dyn SecretStore>),
                ("eu-west-1".into(), backup.clone() as Arc<dyn SecretStore>),
            ],
            0,
        )
        .unwrap();
        assert!(store.get_latest(&name).await.unwrap().is_some());
        assert!(store.get_latest(&name).await.unwrap().is_some());
        // The failed region is skipped while it cools down: one failed call, not two.
        assert_eq!(down.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Writes never move to the other region.
        let err = store.put_new(&item("other")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(backup
            .get_latest(&SecretName::new("other").unwrap())
            .await
            .unwrap()
            .is_none());

        // Denied is an answer, not an outage: no failover.
        let denied = Arc::new(Failing {
            kind: ErrorKind::Denied,
            calls: Default::default(),
        });
        let store = RegionalSecretStore::new(
            vec![
                ("us-east-1".into(), denied as Arc<dyn SecretStore>),
                ("eu-west-1".into(), backup as Arc<dyn SecretStore>),
            ],
            0,
        )
        .unwrap();
        let err = store.get_latest(&name).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied);
    }

    #[tokio::test]
    async fn a_read_notes_the_region_that_answered_and_whom_it_stood_in_for() {
        let name = SecretName::new("db").unwrap();
        let up = || Arc::new(MemorySecretStore::with_record(TableRecord::default()));
        let down = Arc::new(Failing {
            kind: ErrorKind::Unavailable,
            calls: Default::default(),
        });
        let store = RegionalSecretStore::new(
            vec![
                ("us-east-1".into(), down as Arc<dyn SecretStore>),
                ("eu-west-1".into(), up() as Arc<dyn SecretStore>),
            ],
            0,
        )
        .unwrap();
        let (found, served) =
            crate::served::noting(Default::default(), store.get_version(&name, Version::FIRST))
                .await;
        assert!(found.unwrap().is_none());
        assert_eq!(served.table.as_deref(), Some("eu-west-1"));
        assert_eq!(
            served.fallback,
            Some(("us-east-1".to_owned(), "eu-west-1".to_owned()))
        );
        // The first region answering is no fallback.
        let store = RegionalSecretStore::new(
            vec![("us-east-1".into(), up()), ("eu-west-1".into(), up())],
            0,
        )
        .unwrap();
        let (_, served) = crate::served::noting(Default::default(), store.get_latest(&name)).await;
        assert_eq!(served.table.as_deref(), Some("us-east-1"));
        assert_eq!(served.fallback, None);
    }

    #[tokio::test]
    async fn a_region_down_for_the_store_is_skipped_by_the_key_service_too() {
        let down = Arc::new(Failing {
            kind: ErrorKind::Unavailable,
            calls: Default::default(),
        });
        let backup = Arc::new(MemorySecretStore::with_record(TableRecord::default()));
        let keys = |_| Arc::new(MemoryKeyService::new(&["k"])) as Arc<dyn KeyService>;
        let (store, key) = regional_pair(
            vec![
                ("us-east-1".into(), down as Arc<dyn SecretStore>),
                ("eu-west-1".into(), backup as Arc<dyn SecretStore>),
            ],
            vec![("us-east-1".into(), keys(0)), ("eu-west-1".into(), keys(1))],
            0,
            DEFAULT_COOL_DOWN,
        )
        .unwrap();
        store
            .get_latest(&SecretName::new("db").unwrap())
            .await
            .unwrap();
        assert_eq!(key.breaker.order(None), vec![1, 0]);
    }

    /// A store whose first read never answers and whose later reads fail as
    /// unavailable: one call hanging in a region while another finds it down.
    #[derive(Debug, Default)]
    struct Hanging {
        calls: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl SecretStore for Hanging {
        async fn put_new(&self, _: &Attributes) -> Result<()> {
            Err(failure(ErrorKind::Unavailable))
        }
        async fn get_latest(&self, _: &SecretName) -> Result<Option<Attributes>> {
            if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                std::future::pending::<()>().await;
            }
            Err(failure(ErrorKind::Unavailable))
        }
        async fn get_version(&self, _: &SecretName, _: Version) -> Result<Option<Attributes>> {
            Err(failure(ErrorKind::Unavailable))
        }
        async fn history(&self, _: &SecretName) -> Result<Vec<ItemSummary>> {
            Err(failure(ErrorKind::Unavailable))
        }
        async fn list(&self) -> Result<Vec<ItemSummary>> {
            Err(failure(ErrorKind::Unavailable))
        }
        async fn delete(&self, _: &SecretName, _: &str) -> Result<bool> {
            Err(failure(ErrorKind::Unavailable))
        }
        async fn setup(&self, _: &TableRecord, _: &[(String, String)]) -> Result<SetupOutcome> {
            Err(failure(ErrorKind::Unavailable))
        }
        async fn table_record(&self) -> Result<TableRecord> {
            Err(failure(ErrorKind::Unavailable))
        }
        async fn update_record(&self, _: &TableRecord) -> Result<()> {
            Err(failure(ErrorKind::Unavailable))
        }
        fn table(&self) -> &str {
            "t"
        }
    }

    #[tokio::test]
    async fn a_call_in_flight_in_a_region_found_down_moves_to_the_next_region() {
        let hanging = Arc::new(Hanging::default());
        let backup = Arc::new(MemorySecretStore::with_record(TableRecord::default()));
        backup.put_new(&item("a")).await.unwrap();
        backup.put_new(&item("b")).await.unwrap();
        let store = RegionalSecretStore::new(
            vec![
                ("us-east-1".into(), hanging.clone() as Arc<dyn SecretStore>),
                ("eu-west-1".into(), backup as Arc<dyn SecretStore>),
            ],
            0,
        )
        .unwrap();
        let (a, b) = (SecretName::new("a").unwrap(), SecretName::new("b").unwrap());
        // `a` waits in us-east-1; `b` finds it unavailable, which sends `a`
        // on to eu-west-1 instead of leaving it to wait there.
        let (a, b) = futures::join!(store.get_latest(&a), async {
            tokio::task::yield_now().await;
            store.get_latest(&b).await
        });
        assert!(a.unwrap().is_some());
        assert!(b.unwrap().is_some());
        assert_eq!(hanging.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_call_can_fail_over_only_to_a_region_not_cooling_down() {
        let regions = vec!["us-east-1".to_owned(), "eu-west-1".to_owned()];
        let breaker = Breaker::new(regions, DEFAULT_COOL_DOWN);
        let elsewhere = |plan: Vec<Step>| -> Vec<(usize, bool)> {
            plan.iter().map(|s| (s.region, s.elsewhere)).collect()
        };
        assert_eq!(elsewhere(breaker.plan(None)), vec![(0, true), (1, false)]);
        breaker.trip(0, &failure(ErrorKind::Unavailable));
        assert_eq!(elsewhere(breaker.plan(None)), vec![(1, false), (0, false)]);
        // A name this process wrote reads home first, even cooling down.
        assert_eq!(
            elsewhere(breaker.plan(Some(0))),
            vec![(0, true), (1, false)]
        );
        breaker.trip(1, &failure(ErrorKind::Unavailable));
        assert_eq!(elsewhere(breaker.plan(None)), vec![(0, false), (1, false)]);
    }

    #[tokio::test]
    async fn every_region_down_is_unavailable() {
        let down = |_| {
            Arc::new(Failing {
                kind: ErrorKind::Unavailable,
                calls: Default::default(),
            }) as Arc<dyn SecretStore>
        };
        let store = RegionalSecretStore::new(
            vec![("us-east-1".into(), down(0)), ("eu-west-1".into(), down(1))],
            0,
        )
        .unwrap();
        let err = store
            .get_latest(&SecretName::new("db").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        let keys = RegionalKeyService::new(
            vec![(
                "us-east-1".into(),
                Arc::new(MemoryKeyService::new(&["k"])) as Arc<dyn KeyService>,
            )],
            0,
        );
        assert!(keys.is_ok());
    }

    /// A key service that notes the connections it is asked to open.
    #[derive(Debug)]
    struct Warming {
        inner: MemoryKeyService,
        opened: std::sync::Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl KeyService for Warming {
        async fn generate_data_key(
            &self,
            bytes: usize,
            context: &EncryptionContext,
        ) -> Result<DataKey> {
            self.inner.generate_data_key(bytes, context).await
        }

        async fn decrypt_data_key(
            &self,
            name: &SecretName,
            wrapped: &[u8],
            context: &EncryptionContext,
        ) -> Result<UnwrappedKey> {
            self.inner.decrypt_data_key(name, wrapped, context).await
        }

        async fn writer_key_arn(&self) -> Result<String> {
            self.inner.writer_key_arn().await
        }

        async fn open_connections(&self, calls: usize) {
            self.opened.lock().unwrap().push(calls);
        }
    }

    #[tokio::test]
    async fn connections_are_opened_in_the_region_the_unwraps_will_use() {
        let warming = || {
            Arc::new(Warming {
                inner: MemoryKeyService::new(&["k"]),
                opened: std::sync::Mutex::default(),
            })
        };
        let (east, west) = (warming(), warming());
        let keys = RegionalKeyService::new(
            vec![
                ("us-east-1".into(), east.clone() as Arc<dyn KeyService>),
                ("eu-west-1".into(), west.clone() as Arc<dyn KeyService>),
            ],
            0,
        )
        .unwrap();
        keys.open_connections(5).await;
        assert_eq!(*east.opened.lock().unwrap(), [5]);
        assert!(west.opened.lock().unwrap().is_empty());
        // The home region found unavailable: the next batch unwraps in eu-west-1.
        keys.breaker.trip(0, &failure(ErrorKind::Unavailable));
        keys.open_connections(3).await;
        assert_eq!(*east.opened.lock().unwrap(), [5]);
        assert_eq!(*west.opened.lock().unwrap(), [3]);
    }
}
