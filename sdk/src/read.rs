//! Reading: one secret (latest or pinned), and the rules that decide whether the
//! table may serve an item — its mode, its store identity, its pinned key — and
//! that a latest read never goes back below a version already read.

use std::sync::Arc;

use crate::envelope::{Envelope, KmsContext};
use crate::format::sealed::Revision;
use crate::format::Attributes;
use crate::table::{self, TableMode, TableRecord};
use crate::{
    EncryptionContext, Error, ErrorKind, Lockbox, Result, Secret, SecretName, SecretRef, Version,
};

impl Lockbox {
    /// The mode the table records (`None` for a table lockbox did not create).
    pub async fn table_mode(&self) -> Result<Option<TableMode>> {
        self.inner
            .record
            .get(&self.inner.store)
            .await?
            .table_mode(self.inner.store.table())
    }

    /// What the table records about itself: mode, store identity and key.
    pub async fn table_record(&self) -> Result<TableRecord> {
        Ok((*self.inner.record.get(&self.inner.store).await?).clone())
    }

    /// The mode a read or write follows: the table's record, checked against what
    /// this client expects; the expected mode when the record cannot be read for
    /// lack of permission. Unrecorded is `None`.
    pub(crate) async fn effective_record(
        &self,
    ) -> Result<(Option<TableMode>, Option<Arc<TableRecord>>)> {
        let table = self.inner.store.table();
        let record = match self.inner.record.get(&self.inner.store).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::Denied && self.inner.expect.mode.is_some() => {
                return Ok((self.inner.expect.mode, None));
            }
            Err(e) => return Err(e),
        };
        let recorded = record.table_mode(table)?;
        match (self.inner.expect.mode, recorded) {
            (Some(want), Some(got)) if want != got => Err(Error::Table {
                table: table.to_owned(),
                kind: ErrorKind::Integrity,
                reason: format!(
                    "it records mode {got}, but this client expects {want} (--table-mode / \
                     LOCKBOX_TABLE_MODE); nothing is read or written"
                ),
            }),
            (Some(TableMode::Sealed), None) => Err(Error::Table {
                table: table.to_owned(),
                kind: ErrorKind::Integrity,
                reason: format!(
                    "this client expects a sealed table, but it records no mode (its {} tag \
                     is missing: removed?); nothing is read or written until `lockbox setup` \
                     records it again",
                    table::TAG_MODE
                ),
            }),
            (_, recorded) => Ok((recorded.or(self.inner.expect.mode), Some(record))),
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

    /// Fetch one secret. It takes one of this `Lockbox`'s slots for calls in
    /// flight (see [`LockboxBuilder::concurrency`](crate::LockboxBuilder::concurrency)).
    pub async fn fetch(&self, r: &SecretRef, context: &EncryptionContext) -> Result<Secret> {
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.fetch_unbounded(r, context).await
    }

    /// Fetch one secret from the table, bypassing the cache (and refilling it): for
    /// a caller that knows the secret changed. Takes a slot like [`Lockbox::fetch`].
    pub async fn refresh(&self, r: &SecretRef, context: &EncryptionContext) -> Result<Secret> {
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let secret = self.fetch_from_store(r, context).await?;
        if let Some(cache) = &self.inner.cache {
            cache.put(r, context, &secret);
        }
        Ok(secret)
    }

    /// What the cache has done (`None` without a cache).
    pub fn cache_stats(&self) -> Option<crate::CacheStats> {
        self.inner.cache.as_ref().map(crate::cache::Cache::stats)
    }

    /// [`Lockbox::fetch`] for a caller that holds a slot already: the cache if it
    /// has the secret, else one fetch however many callers miss it at once, and
    /// the last good value (marked stale) when that fetch finds the backend
    /// unavailable and the cache may serve it.
    pub(crate) async fn fetch_unbounded(
        &self,
        r: &SecretRef,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        let Some(cache) = &self.inner.cache else {
            return self.fetch_from_store(r, context).await;
        };
        if let Some(hit) = cache.get(r, context) {
            return Ok(hit);
        }
        let _fetching = cache.fetching(r, context).await;
        // Another caller may have fetched it while this one waited.
        if let Some(hit) = cache.get(r, context) {
            return Ok(hit);
        }
        cache.count_miss();
        match self.fetch_from_store(r, context).await {
            Ok(secret) => {
                cache.put(r, context, &secret);
                Ok(secret)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Unavailable | ErrorKind::Throttled | ErrorKind::Timeout
                ) =>
            {
                cache.stale(r, context).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Read and open one secret from the table.
    async fn fetch_from_store(&self, r: &SecretRef, context: &EncryptionContext) -> Result<Secret> {
        let read = async {
            match r.version {
                None => self.inner.store.get_latest(&r.name).await,
                Some(v) => self.inner.store.get_version(&r.name, v).await,
            }
        };
        let (item, ()) = futures::join!(read, self.prefetch_record());
        let item = item?.ok_or_else(|| Error::NotFound {
            name: r.name.clone(),
            version: r.version,
        })?;
        let secret = self.open_item(&item, context).await?;
        if r.version.is_none() {
            self.check_fresh(&secret)?;
        }
        Ok(secret)
    }

    /// Start reading the table's record while items are read, so that checking an
    /// item against it costs no round trip of its own (its outcome is kept, or
    /// reported by the check that needs it).
    pub(crate) async fn prefetch_record(&self) {
        if self.inner.expect.mode != Some(TableMode::Credstash) {
            let _ = self.inner.record.get(&self.inner.store).await;
        }
    }

    /// A latest read never goes back below a version this `Lockbox` has read of
    /// the same name (unless it deleted versions itself).
    pub(crate) fn check_fresh(&self, secret: &Secret) -> Result<()> {
        let mut seen = self.inner.seen.lock().expect("seen lock");
        match seen.get(&secret.name) {
            Some(&high) if secret.version < high => Err(Error::Rollback {
                name: secret.name.clone(),
                seen: high,
                got: secret.version,
            }),
            _ => {
                seen.insert(secret.name.clone(), secret.version);
                Ok(())
            }
        }
    }

    /// Authenticate and decrypt one stored item, if this table may serve it: a
    /// sealed table never serves a credstash-format item, a `lockbox-sealed-2` item
    /// only in the store it was sealed for, and a `lockbox-sealed-1` item only when
    /// this reader accepts it. Nothing refused reaches KMS, except a
    /// `lockbox-sealed-2` item, which is unwrapped while the table's record is read
    /// and refused before anything is decrypted with its key.
    pub async fn open_item(
        &self,
        item: &Attributes,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        let env = Envelope::parse(item)?;
        // Derived once: checks the context keys before any call, is what KMS
        // unwraps under, and is what `open` authenticates against.
        let kms_context = env.kms_context(context)?;
        let name = env.name();
        let table = self.inner.store.table();
        let refused = |reason: String| Error::Integrity {
            name: name.to_string(),
            reason,
        };
        let (record, data_key) = match env.sealed_revision() {
            None if self.inner.expect.require_sealed => {
                return Err(Error::UnsupportedFormat {
                    name: name.to_string(),
                    reason: "the item is in credstash's format and this reader requires the \
                             sealed format (--require-sealed); nothing was decrypted"
                        .into(),
                });
            }
            None => {
                // The mode decides before any KMS call; a client that says the
                // table is a credstash table need not wait for its record.
                let (mode, record) = match self.inner.expect.mode {
                    Some(TableMode::Credstash) => (Some(TableMode::Credstash), None),
                    _ => self.effective_record().await?,
                };
                if mode == Some(TableMode::Sealed) && !self.inner.expect.accept_credstash_items {
                    return Err(refused(format!(
                        "the item is in credstash's format, in table {table} whose mode is \
                         sealed: a sealed table never serves a credstash-format item, so it was \
                         not decrypted (it was copied in, or written around lockbox); find such \
                         items with `lockbox doctor`"
                    )));
                }
                (record, self.unwrap_key(&env, &kms_context).await?)
            }
            Some(Revision::V1) => {
                if !self.inner.expect.accept_sealed_v1 {
                    return Err(Error::UnsupportedFormat {
                        name: name.to_string(),
                        reason: format!(
                            "the item is in {}, which binds no store (an item from another \
                             table on the same key would open too), so it was not decrypted; \
                             re-seal it with `lockbox rollback --to {}` while accepting the \
                             format for the migration (--accept-sealed-v1)",
                            Revision::V1.format_id(),
                            env.version()
                        ),
                    });
                }
                (None, self.unwrap_key(&env, &kms_context).await?)
            }
            Some(Revision::V2) => {
                let (record, data_key) =
                    futures::join!(self.effective_record(), self.unwrap_key(&env, &kms_context));
                let (_, record) = record?;
                let expected = match &record {
                    Some(r) => r.store_id(table)?,
                    None => None,
                };
                let claimed = env
                    .store()
                    .expect("a lockbox-sealed-2 item names its store");
                match expected {
                    Some(store) if store == claimed => {}
                    Some(store) => {
                        return Err(refused(format!(
                            "the item was sealed for store {claimed:?}, but table {table} is \
                             store {store:?}: an item copied from another table is never served"
                        )))
                    }
                    None => {
                        return Err(refused(format!(
                            "table {table} records no store identity ({} tag), so its \
                             sealed item cannot be checked; run `lockbox setup` on it",
                            table::TAG_STORE
                        )))
                    }
                }
                (record, data_key?)
            }
        };
        if let Some(pin) = record.as_ref().and_then(|r| r.key_arn.as_deref()) {
            let used = data_key.key_id.as_deref().unwrap_or("(unnamed)");
            if !table::same_key(pin, used) && !data_key.trusted_explicitly {
                return Err(Error::UntrustedKey {
                    name: name.to_string(),
                    key: format!(
                        "{used}; table {table} is pinned to {pin} ({} tag)",
                        table::TAG_KEY
                    ),
                });
            }
        }
        let value = env.open(&kms_context, &data_key.plaintext)?;
        Ok(Secret {
            name: name.clone(),
            version: env.version(),
            value,
            format: env.format(),
            metadata: env.metadata().clone(),
            stale: false,
        })
    }

    /// Ask the key service for `env`'s data key, naming the stored context keys
    /// when the context does not match.
    async fn unwrap_key(
        &self,
        env: &Envelope,
        kms_context: &KmsContext,
    ) -> Result<crate::backend::UnwrappedKey> {
        match self
            .inner
            .keys
            .decrypt_data_key(env.name(), env.wrapped_key(), kms_context)
            .await
        {
            Err(Error::ContextMismatch {
                name,
                stored_keys: None,
            }) => Err(Error::ContextMismatch {
                name,
                stored_keys: env.context_keys().map(<[String]>::to_vec),
            }),
            other => other,
        }
    }
}
