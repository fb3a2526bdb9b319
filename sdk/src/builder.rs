//! [`LockboxBuilder`]: a [`Lockbox`] from a key service, a store and the
//! settings of reads, writes and the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::{KeyService, SecretStore};
use crate::cache::{Cache, CacheConfig};
use crate::lockbox::{FormatPolicy, Inner, Lockbox, DEFAULT_CONCURRENCY};
use crate::table::{Expect, RecordCell, TableMode};
use crate::{Error, Result};

/// Builds a [`Lockbox`]: on AWS from the application's configuration
/// ([`Lockbox::aws`]), from the standard AWS configuration chain
/// ([`Lockbox::from_env`]), or from any key service and secret store
/// ([`Lockbox::builder`]).
#[derive(Debug, Default)]
pub struct LockboxBuilder {
    keys: Option<Arc<dyn KeyService>>,
    store: Option<Arc<dyn SecretStore>>,
    aws: Option<crate::aws::AwsTarget>,
    scratch: Option<crate::aws::AwsTarget>,
    misused: Option<&'static str>,
    policy: FormatPolicy,
    expect: Expect,
    concurrency: Option<usize>,
    cache: Option<CacheConfig>,
    one_shot: bool,
}

impl LockboxBuilder {
    /// The key service (required).
    pub fn key_service(mut self, keys: impl KeyService + 'static) -> Self {
        self.keys = Some(Arc::new(keys));
        self
    }

    /// The key service, shared.
    pub fn key_service_arc(mut self, keys: Arc<dyn KeyService>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The secret store (required).
    pub fn secret_store(mut self, store: impl SecretStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The secret store, shared.
    pub fn secret_store_arc(mut self, store: Arc<dyn SecretStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The format new versions are written in (default: follow the table's mode).
    pub fn format(mut self, policy: FormatPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Refuse to read credstash-format items from any table, whatever its mode
    /// (off by default: a sealed table refuses them anyway, a credstash table
    /// serves them).
    pub fn require_sealed(mut self, yes: bool) -> Self {
        self.expect.require_sealed = yes;
        self
    }

    /// The mode every table used must record. A table that records another mode,
    /// or none while `sealed` is expected (its tag removed), is refused for reads
    /// and writes. When the table's record cannot be read (no
    /// `dynamodb:DescribeTable`/`dynamodb:ListTagsOfResource`), this mode is taken
    /// as the table's; `credstash` also lets credstash-format items be read
    /// without waiting for the record.
    pub fn table_mode(mut self, mode: TableMode) -> Self {
        self.expect.mode = Some(mode);
        self
    }

    /// Serve credstash-format items from a sealed table too: for a migration
    /// window only (off by default: a sealed table never serves them).
    pub fn accept_credstash_items(mut self, yes: bool) -> Self {
        self.expect.accept_credstash_items = yes;
        self
    }

    /// Serve items in the first sealed format, `lockbox-sealed-1`, which binds no
    /// store (an item sealed for another table on the same key opens too): for a
    /// migration window only (off by default).
    pub fn accept_sealed_v1(mut self, yes: bool) -> Self {
        self.expect.accept_sealed_v1 = yes;
        self
    }

    /// How many secrets are fetched at once through this `Lockbox` and its clones,
    /// whichever calls they come from (`get`, `get_many`, `get_each`, ...; default
    /// [`DEFAULT_CONCURRENCY`]): a bound per instance, which protects the KMS and
    /// DynamoDB quotas however many tasks share it.
    pub fn concurrency(mut self, n: usize) -> Self {
        // At least one, at most what a semaphore can count.
        self.concurrency = Some(n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS));
        self
    }

    /// Cache decrypted secrets in memory for `ttl` ([`CacheConfig::new`]; off by
    /// default, and the CLI never turns it on). See [`LockboxBuilder::cache`].
    pub fn cache_ttl(self, ttl: Duration) -> Self {
        self.cache(CacheConfig::new(ttl))
    }

    /// Cache decrypted secrets in memory (off by default). An entry is keyed by
    /// name, version (or "latest") and the exact encryption context, so a cached
    /// value is never served for another context; concurrent misses of one key
    /// make one fetch; nothing stays in memory past its TTL (plus the stale
    /// window, when set). Writes through this `Lockbox` (`put`, `rollback`,
    /// `delete`, `prune`) drop the name's entries at once; another writer's new
    /// version is seen after the TTL, or after [`Lockbox::invalidate`] or
    /// [`Lockbox::refresh`].
    pub fn cache(mut self, config: CacheConfig) -> Self {
        self.cache = Some(config);
        self
    }

    /// For a process that fetches one batch and then exits or `exec`s (a CLI
    /// command, a container entrypoint); off by default. Once a
    /// [`get_each`](Lockbox::get_each) or [`get_many`](Lockbox::get_many) has
    /// started its last fetch, the key service is told ([`KeyService::finishing`]),
    /// and KMS closes each connection after its last `Decrypt` instead of keeping
    /// it for later calls. The sockets are then closed while the last answers
    /// are awaited instead of at exit. Calls made after that still work, on new
    /// connections, so leave this off in a process that keeps fetching.
    pub fn one_shot(mut self, yes: bool) -> Self {
        self.one_shot = yes;
        self
    }

    /// The DynamoDB table (default `credential-store`). For [`Lockbox::aws`].
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.aws_target("table()").table = table.into();
        self
    }

    /// The KMS key new secrets are written under, and the one trusted when reading:
    /// a key id, key ARN, alias or alias ARN (default `alias/credstash`; a key ARN
    /// is best in production: an alias can be repointed). For [`Lockbox::aws`].
    pub fn kms_key(mut self, key: impl Into<String>) -> Self {
        self.aws_target("kms_key()").kms_key = key.into();
        self
    }

    /// More KMS keys to trust when reading (a key rotation window). For
    /// [`Lockbox::aws`].
    pub fn trust_keys(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.aws_target("trust_keys()")
            .trusted
            .extend(keys.into_iter().map(Into::into));
        self
    }

    /// A region for KMS other than DynamoDB's (credstash's `--kms-region`). For
    /// [`Lockbox::aws`].
    pub fn kms_region(mut self, region: aws_types::region::Region) -> Self {
        self.aws_target("kms_region()").kms_region = Some(region);
        self
    }

    /// Several regions, in read order, for a global table (and multi-Region KMS
    /// keys): each secret is read, and its data key unwrapped, in the first
    /// region that is available; a region that fails with an availability error
    /// (5xx, timeout, throttling after retries) is skipped for a while. Denied,
    /// not found and integrity errors are answers, never a reason to ask another
    /// region. Writes go to the first region unless
    /// [`write_region`](LockboxBuilder::write_region) names another. Each secret
    /// read names the regions that served it ([`Secret::region`](crate::Secret::region),
    /// [`Secret::kms_region`](crate::Secret::kms_region)); a secret or version not
    /// found in a region read in place of an unavailable one is
    /// [`Error::NotReplicated`](crate::Error::NotReplicated). A key named
    /// by a multi-Region key ARN (`key/mrk-...`) is used through its replica in
    /// each region. For [`Lockbox::aws`]; `docs/MULTI-REGION.md` is the runbook.
    ///
    /// ```no_run
    /// # async fn run() -> lockbox::Result<()> {
    /// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let lockbox = lockbox::Lockbox::aws(&config)
    ///     .table("prod-secrets")
    ///     // Read in eu-west-1, else in us-east-1; write in us-east-1.
    ///     .regions(["eu-west-1", "us-east-1"])
    ///     .write_region("us-east-1")
    ///     .kms_key("arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab")
    ///     .build()?;
    /// // `setup` adds the missing replicas and records the table in each.
    /// lockbox.setup(lockbox::TableMode::Sealed, &[]).await?;
    /// # Ok(()) }
    /// ```
    pub fn regions(mut self, regions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.aws_target("regions()").regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// The home region for writes, one of [`regions`](LockboxBuilder::regions)
    /// (default: the first). Naming another than the first is a manual write
    /// failover; it is logged. For [`Lockbox::aws`].
    pub fn write_region(mut self, region: impl Into<String>) -> Self {
        self.aws_target("write_region()").write_region = Some(region.into());
        self
    }

    /// Make [`setup`](crate::Lockbox::setup) create the replicas of
    /// [`regions`](LockboxBuilder::regions) with multi-Region strong consistency
    /// (exactly three regions of one region set; the table must be empty).
    /// For [`Lockbox::aws`].
    pub fn strong_consistency(mut self, strong: bool) -> Self {
        self.aws_target("strong_consistency()").strong = strong;
        self
    }

    /// How long a region that failed is skipped before it is tried again
    /// (default 30 s). For [`Lockbox::aws`].
    pub fn failover_cool_down(mut self, cool_down: std::time::Duration) -> Self {
        self.aws_target("failover_cool_down()").cool_down = Some(cool_down);
        self
    }

    /// The table's AWS account, so its record is read in one call (see
    /// [`DynamoDbSecretStore::account`](crate::backend::DynamoDbSecretStore::account)).
    /// For [`Lockbox::aws`].
    pub fn account_id(mut self, account: impl Into<String>) -> Self {
        self.aws_target("account_id()").account_id = Some(account.into());
        self
    }

    pub(crate) fn with_aws(mut self, target: crate::aws::AwsTarget) -> Self {
        self.aws = Some(target);
        self
    }

    pub(crate) fn aws_target_mut(&mut self) -> &mut crate::aws::AwsTarget {
        self.aws_target("aws")
    }

    /// The AWS settings; without [`Lockbox::aws`], a scratch copy whose use
    /// `build` reports as a mistake.
    fn aws_target(&mut self, what: &'static str) -> &mut crate::aws::AwsTarget {
        if self.aws.is_none() {
            self.misused.get_or_insert(what);
            return self
                .scratch
                .get_or_insert_with(crate::aws::AwsTarget::scratch);
        }
        self.aws.as_mut().expect("checked above")
    }

    /// Build. Fails if the key service or the store is missing, or if an AWS
    /// configuration names no region.
    pub fn build(self) -> Result<Lockbox> {
        let missing = |what: &str| Error::InvalidValue {
            reason: format!("Lockbox::builder() needs a {what}"),
        };
        if let Some(what) = self.misused {
            return Err(Error::InvalidValue {
                reason: format!(
                    "LockboxBuilder::{what} configures the AWS backends of Lockbox::aws(config) \
                     (or Lockbox::from_env); this builder has none"
                ),
            });
        }
        let (mut keys, mut store) = (self.keys, self.store);
        if let Some(aws) = &self.aws {
            let (k, s) = aws.backends()?;
            keys = keys.or(Some(k));
            store = store.or(Some(s));
        }
        let concurrency = self.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        Ok(Lockbox {
            inner: Arc::new(Inner {
                keys: keys.ok_or_else(|| missing("key service"))?,
                store: store.ok_or_else(|| missing("secret store"))?,
                policy: self.policy,
                expect: self.expect,
                concurrency,
                slots: tokio::sync::Semaphore::new(concurrency),
                record: RecordCell::default(),
                cache: self.cache.map(Cache::new),
                one_shot: self.one_shot,
                seen: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Lockbox {
    /// A builder.
    pub fn builder() -> LockboxBuilder {
        LockboxBuilder::default()
    }
}
