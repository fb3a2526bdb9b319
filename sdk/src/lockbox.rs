//! The [`Lockbox`] facade: versioning, retries, concurrency, caching and format
//! choice over a [`KeyService`] and a [`SecretStore`].

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::OnceCell;

use crate::backend::{ItemSummary, KeyService, SecretStore, SetupOutcome, TableMode};
use crate::cache::Cache;
use crate::envelope::{self, Digest, Envelope, ItemFormat, Metadata, WriteFormat};
use crate::format::{Attr, Attributes};
use crate::{
    EncryptionContext, Error, ExposeSecret, Result, Secret, SecretName, SecretRef, SecretValue,
    Version,
};

/// Default number of secrets fetched at once by [`Lockbox::get_many`].
///
/// 128 lets a container with up to 128 secrets resolve them in one wave of
/// reads and one of decrypts (two round trips); at 64, 100 secrets took two waves
/// (`docs/BENCHMARKS.md`). Far below KMS's and DynamoDB's request quotas.
pub const DEFAULT_CONCURRENCY: usize = 128;

/// How many conditional writes `put` tries before giving up on a contended name.
const PUT_ATTEMPTS: u32 = 1000;

/// The longest pause between two attempts of a contended `put`.
const PUT_BACKOFF_CAP_MS: u64 = 100;

/// Which format new versions are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatPolicy {
    /// Follow the table's mode: sealed if `lockbox setup` created it in sealed
    /// mode, credstash's format otherwise (so credstash clients keep working).
    #[default]
    Auto,
    /// Always the lockbox sealed format.
    Sealed,
    /// Always credstash's format, with this HMAC digest.
    Credstash(Digest),
}

/// Options for [`Lockbox::put`].
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Write exactly this version (refused if it exists); the next one otherwise.
    pub version: Option<Version>,
    /// The encryption context to bind.
    pub context: EncryptionContext,
    /// A comment stored beside the secret (not encrypted).
    pub comment: Option<String>,
    /// Override the lockbox's format policy for this write.
    pub format: Option<FormatPolicy>,
}

/// A secrets store: the common operations on one table with one key service.
pub struct Lockbox {
    pub(crate) keys: Arc<dyn KeyService>,
    pub(crate) store: Arc<dyn SecretStore>,
    pub(crate) policy: FormatPolicy,
    pub(crate) require_sealed: bool,
    pub(crate) concurrency: usize,
    pub(crate) table_mode: OnceCell<Option<TableMode>>,
    pub(crate) cache: Option<Cache>,
    pub(crate) one_shot: bool,
}

impl std::fmt::Debug for Lockbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lockbox")
            .field("keys", &self.keys)
            .field("store", &self.store)
            .field("policy", &self.policy)
            .field("require_sealed", &self.require_sealed)
            .field("concurrency", &self.concurrency)
            .field("one_shot", &self.one_shot)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Lockbox`] from a key service and a secret store.
#[derive(Debug, Default)]
pub struct LockboxBuilder {
    keys: Option<Arc<dyn KeyService>>,
    store: Option<Arc<dyn SecretStore>>,
    policy: FormatPolicy,
    require_sealed: bool,
    concurrency: Option<usize>,
    cache_ttl: Option<Duration>,
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

    /// Refuse to read credstash-format items (off by default, for compatibility).
    pub fn require_sealed(mut self, yes: bool) -> Self {
        self.require_sealed = yes;
        self
    }

    /// How many secrets `get_many` and `get_each` fetch at once, pinned and latest
    /// versions together (default [`DEFAULT_CONCURRENCY`]).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Cache decrypted secrets in memory for `ttl` (off by default; the CLI never
    /// turns it on). An entry is keyed by name, version (or "latest") and the
    /// exact encryption context, so a cached value is never served for another
    /// context. Writes through this `Lockbox` (`put`, `rollback`, `delete`,
    /// `prune`) drop the name's entries at once; another writer's new version is
    /// seen after `ttl`, or after [`Lockbox::invalidate`].
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
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

    /// Build. Fails if the key service or the store is missing.
    pub fn build(self) -> Result<Lockbox> {
        let missing = |what: &str| Error::InvalidValue {
            reason: format!("Lockbox::builder() needs a {what}"),
        };
        Ok(Lockbox {
            keys: self.keys.ok_or_else(|| missing("key service"))?,
            store: self.store.ok_or_else(|| missing("secret store"))?,
            policy: self.policy,
            require_sealed: self.require_sealed,
            concurrency: self.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            table_mode: OnceCell::new(),
            cache: self.cache_ttl.map(Cache::new),
            one_shot: self.one_shot,
        })
    }
}

impl Lockbox {
    /// A builder.
    pub fn builder() -> LockboxBuilder {
        LockboxBuilder::default()
    }

    /// Create the table (credstash's key schema, on-demand billing) in `mode`.
    pub async fn setup(&self, mode: TableMode, tags: &[(String, String)]) -> Result<SetupOutcome> {
        self.store.setup(mode, tags).await
    }

    /// The mode the table records, read once.
    pub async fn table_mode(&self) -> Result<Option<TableMode>> {
        self.table_mode
            .get_or_try_init(|| self.store.table_mode())
            .await
            .copied()
    }

    async fn write_format(&self, policy: FormatPolicy) -> Result<WriteFormat> {
        Ok(match policy {
            FormatPolicy::Sealed => WriteFormat::Sealed,
            FormatPolicy::Credstash(d) => WriteFormat::Credstash(d),
            FormatPolicy::Auto => match self.table_mode().await? {
                Some(TableMode::Sealed) => WriteFormat::Sealed,
                _ => WriteFormat::Credstash(Digest::Sha256),
            },
        })
    }

    /// Store `value` as a new version of `name` and return the version.
    ///
    /// Without an explicit version, writes the next one: concurrent writers each
    /// get their own version and none is overwritten (a lost conditional write is
    /// retried with the next number). An explicit version that exists is refused.
    pub async fn put(
        &self,
        name: &SecretName,
        value: &SecretValue,
        options: &PutOptions,
    ) -> Result<Version> {
        let format = self
            .write_format(options.format.unwrap_or(self.policy))
            .await?;
        let metadata = Metadata {
            comment: options.comment.clone().filter(|c| !c.is_empty()),
            created_at: match format {
                WriteFormat::Sealed => Some(unix_now()),
                // credstash items carry exactly the attributes credstash writes.
                WriteFormat::Credstash(_) => None,
            },
        };
        let mut version = match options.version {
            Some(v) => v,
            None => self.next_version(name).await?,
        };
        // credstash's data key does not depend on the version, so one key serves
        // every attempt; the sealed format binds the version and needs a fresh one.
        let mut data_key = None;
        for attempt in 1..=PUT_ATTEMPTS {
            let request = envelope::data_key_request(format, name, version, &options.context);
            if data_key.is_none() || format == WriteFormat::Sealed {
                data_key = Some(
                    self.keys
                        .generate_data_key(request.bytes, &request.context)
                        .await?,
                );
            }
            let key = data_key.as_ref().expect("set above");
            let item = envelope::seal(
                format,
                name,
                version,
                &options.context,
                value.expose_secret(),
                &key.plaintext,
                &key.wrapped,
                &metadata,
            )?;
            match self.store.put_new(&item).await {
                Ok(()) => {
                    self.invalidate(name);
                    return Ok(version);
                }
                Err(Error::VersionExists { .. }) => {
                    // The write may have been applied with its answer lost (and the
                    // SDK's retry then failed the condition): it is ours if the
                    // stored item carries our wrapped key, which no one else has.
                    if self.is_our_item(name, version, &item).await? {
                        self.invalidate(name);
                        return Ok(version);
                    }
                    if options.version.is_some() {
                        return Err(Error::VersionExists {
                            name: name.clone(),
                            version,
                        });
                    }
                    version = self.next_version(name).await?.max(version.next()?);
                    // Exponential backoff with full jitter: under heavy contention
                    // it spreads writers out instead of letting them collide again.
                    let cap_ms = (1u64 << attempt.min(7)).min(PUT_BACKOFF_CAP_MS);
                    let ms = rand::thread_rng().gen_range(0..=cap_ms);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Contention {
            name: name.clone(),
            attempts: PUT_ATTEMPTS,
        })
    }

    async fn is_our_item(
        &self,
        name: &SecretName,
        version: Version,
        ours: &Attributes,
    ) -> Result<bool> {
        let Some(stored) = self.store.get_version(name, version).await? else {
            return Ok(false);
        };
        let key_of = |item: &Attributes| match item.get(crate::format::sealed::KEY) {
            Some(Attr::B(b)) => Some(b.clone()),
            Some(Attr::S(s)) => Some(s.as_bytes().to_vec()),
            _ => None,
        };
        Ok(key_of(&stored).is_some() && key_of(&stored) == key_of(ours))
    }

    async fn next_version(&self, name: &SecretName) -> Result<Version> {
        match self.store.get_latest(name).await? {
            None => Ok(Version::FIRST),
            Some(item) => {
                let key = item
                    .get(crate::format::attr::VERSION)
                    .and_then(Attr::as_s)
                    .unwrap_or_default();
                let latest = Version::from_sort_key(key)?;
                if latest.get() == 0 {
                    Ok(Version::FIRST)
                } else {
                    latest.next()
                }
            }
        }
    }

    /// The latest version of `name`.
    pub async fn get(&self, name: &SecretName, context: &EncryptionContext) -> Result<Secret> {
        self.fetch(&SecretRef::latest(name.clone()), context).await
    }

    /// Version `version` of `name`.
    pub async fn get_version(
        &self,
        name: &SecretName,
        version: Version,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        self.fetch(&SecretRef::pinned(name.clone(), version), context)
            .await
    }

    /// Fetch one secret.
    pub async fn fetch(&self, r: &SecretRef, context: &EncryptionContext) -> Result<Secret> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(r, context)) {
            return Ok(hit);
        }
        let item = match r.version {
            None => self.store.get_latest(&r.name).await?,
            Some(v) => self.store.get_version(&r.name, v).await?,
        }
        .ok_or_else(|| Error::NotFound {
            name: r.name.clone(),
            version: r.version,
        })?;
        let secret = self.open_item(&item, context).await?;
        if let Some(cache) = &self.cache {
            cache.put(r, context, &secret);
        }
        Ok(secret)
    }

    /// Authenticate and decrypt one stored item.
    pub async fn open_item(
        &self,
        item: &Attributes,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        let env = Envelope::parse(item)?;
        if self.require_sealed && env.format() == ItemFormat::Credstash {
            return Err(Error::UnsupportedFormat {
                name: env.name().to_string(),
                reason:
                    "the item is in credstash's format and this reader requires the sealed format"
                        .into(),
            });
        }
        let kms_context = env.kms_context(context)?;
        let data_key = match self
            .keys
            .decrypt_data_key(env.name(), env.wrapped_key(), &kms_context)
            .await
        {
            Err(Error::ContextMismatch {
                name,
                stored_keys: None,
            }) => {
                return Err(Error::ContextMismatch {
                    name,
                    stored_keys: env.context_keys().map(<[String]>::to_vec),
                })
            }
            other => other?,
        };
        let value = env.open(context, &data_key)?;
        Ok(Secret {
            name: env.name().clone(),
            version: env.version(),
            value,
            format: env.format(),
            metadata: env.metadata().clone(),
        })
    }

    /// Every stored version of every secret, without decrypting anything.
    pub async fn list(&self) -> Result<Vec<ItemSummary>> {
        self.store.list().await
    }

    /// Every stored version of `name`, oldest first, without decrypting.
    pub async fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        let versions = self.store.history(name).await?;
        if versions.is_empty() {
            return Err(Error::NotFound {
                name: name.clone(),
                version: None,
            });
        }
        Ok(versions)
    }

    /// Delete one version of `name`, or all of them; returns the deleted versions' sort keys.
    pub async fn delete(&self, name: &SecretName, version: Option<Version>) -> Result<Vec<String>> {
        self.invalidate(name);
        let keys: Vec<String> = match version {
            Some(v) => vec![v.sort_key(), v.get().to_string()],
            None => self
                .store
                .history(name)
                .await?
                .into_iter()
                .map(|s| s.sort_key)
                .collect(),
        };
        let single = version.is_some();
        let mut deleted = Vec::new();
        for key in keys {
            if self.store.delete(name, &key).await? {
                deleted.push(key);
                if single {
                    // Found under the padded key: no unpadded legacy copy to try.
                    break;
                }
            }
        }
        // Again after the deletes: a read in flight meanwhile may have cached a
        // version that is now gone.
        self.invalidate(name);
        if deleted.is_empty() {
            return Err(Error::NotFound {
                name: name.clone(),
                version,
            });
        }
        Ok(deleted)
    }

    /// Delete all but the newest `keep` versions of `name`; returns the deleted sort keys.
    pub async fn prune(&self, name: &SecretName, keep: usize) -> Result<Vec<String>> {
        self.invalidate(name);
        let versions = self.history(name).await?;
        let excess = versions.len().saturating_sub(keep);
        let mut deleted = Vec::new();
        for s in versions.into_iter().take(excess) {
            if self.store.delete(name, &s.sort_key).await? {
                deleted.push(s.sort_key);
            }
        }
        self.invalidate(name);
        Ok(deleted)
    }

    /// Write version `to`'s value as a new latest version; history stays intact.
    pub async fn rollback(
        &self,
        name: &SecretName,
        to: Version,
        context: &EncryptionContext,
    ) -> Result<Version> {
        let old = self.get_version(name, to, context).await?;
        let options = PutOptions {
            version: None,
            context: context.clone(),
            comment: Some(format!("rollback to version {to}")),
            format: None,
        };
        self.put(name, &old.value, &options).await
    }

    /// Drop cached entries of `name` (no-op without a cache).
    pub fn invalidate(&self, name: &SecretName) {
        if let Some(c) = &self.cache {
            c.invalidate(name);
        }
    }

    /// Drop the whole cache.
    pub fn invalidate_all(&self) {
        if let Some(c) = &self.cache {
            c.clear();
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
