//! Reading: one secret (latest or pinned), and the rules that decide whether the
//! table may serve an item — its mode, its store identity, its pinned key — and
//! that a latest read never goes back below a version already read.

use std::sync::Arc;

use crate::envelope::{Envelope, KmsContext};
use crate::format::labels as doc_format;
use crate::format::sealed::Revision;
use crate::format::Attributes;
use crate::labels::{label_error, Home};
use crate::table::{self, TableMode, TableRecord};
use crate::{
    EncryptionContext, Error, ErrorKind, Label, Lockbox, Reference, Result, Secret, SecretName,
    SecretRef, Selector, Version,
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

    /// The un-pinned version of `name`: the one labelled `current` when it has
    /// labels, its highest version otherwise (never one labelled `pending`).
    pub async fn get(&self, name: &SecretName, context: &EncryptionContext) -> Result<Secret> {
        self.fetch(&SecretRef::latest(name.clone()), context).await
    }

    /// The version of `name` that `label` names. `current` is what [`Lockbox::get`]
    /// returns (the highest version of a secret without labels); another label
    /// the secret does not carry, or one naming a version that does not exist,
    /// is [`Error::Label`] of class not found.
    pub async fn get_label(
        &self,
        name: &SecretName,
        label: &Label,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        self.fetch_target(&Reference::label(name.clone(), label.clone()), context)
            .await
    }

    /// What `reference` names: its secret at the version its selector picks,
    /// and, when it has a pointer, only the field of the JSON value that the
    /// pointer names (the returned [`Secret::value`] is then that field, as
    /// [`Secret::field`] takes it).
    pub async fn resolve(
        &self,
        reference: &Reference,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        let mut secret = self.fetch_target(&target_of(reference), context).await?;
        if let Some(pointer) = &reference.pointer {
            secret.value = secret.field(pointer)?;
        }
        Ok(secret)
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
        self.fetch_target(&Reference::from(r.clone()), context)
            .await
    }

    /// [`Lockbox::fetch`] of a secret and selector (a reference without a pointer).
    pub(crate) async fn fetch_target(
        &self,
        r: &Reference,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        alongside(
            self.fetch_unbounded(r, context),
            self.inner.keys.open_connections(1),
        )
        .await
    }

    /// Fetch one secret from the table, bypassing the cache (and refilling it): for
    /// a caller that knows the secret changed. Takes a slot like [`Lockbox::fetch`].
    pub async fn refresh(&self, r: &SecretRef, context: &EncryptionContext) -> Result<Secret> {
        let r = Reference::from(r.clone());
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let secret = self.fetch_from_store(&r, context).await?;
        if let Some(cache) = &self.inner.cache {
            cache.put(&r, context, &secret);
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
        r: &Reference,
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

    /// Read and open one secret from the table, with the regions that served
    /// it; not found in a region read in place of an unavailable one is
    /// [`Error::NotReplicated`].
    async fn fetch_from_store(&self, r: &Reference, context: &EncryptionContext) -> Result<Secret> {
        let (result, served) =
            crate::served::noting(Default::default(), self.read_from_store(r, context)).await;
        crate::served::apply(result, served)
    }

    async fn read_from_store(&self, r: &Reference, context: &EncryptionContext) -> Result<Secret> {
        match &r.selector {
            Selector::Latest => self.read_unpinned(&r.name, context, false).await,
            Selector::Label(l) if *l == Label::CURRENT => {
                self.read_unpinned(&r.name, context, true).await
            }
            Selector::Label(l) => self.read_label(&r.name, l, context).await,
            Selector::Version(v) => {
                let (item, ()) = futures::join!(
                    self.inner.store.get_version(&r.name, *v),
                    self.prefetch_record()
                );
                let item = item?.ok_or_else(|| Error::NotFound {
                    name: r.name.clone(),
                    version: Some(*v),
                })?;
                self.open_item(&item, context).await
            }
        }
    }

    /// The un-pinned read: one query, whose first item is the label document
    /// when the secret has labels (carrying `current`), its highest version
    /// otherwise. With `strict`, a secret with labels but no `current` is not
    /// found (a read of `@current`) instead of read at its highest version that
    /// is not `pending`.
    async fn read_unpinned(
        &self,
        name: &SecretName,
        context: &EncryptionContext,
        strict: bool,
    ) -> Result<Secret> {
        let (top, ()) = futures::join!(self.inner.store.get_latest(name), self.prefetch_record());
        let top = top?.ok_or_else(|| Error::NotFound {
            name: name.clone(),
            version: None,
        })?;
        self.open_unpinned(name, top, context, strict).await
    }

    /// Open what an un-pinned read of `name` found first in its partition,
    /// `top`: its highest version, or its label document (then the version
    /// labelled `current`, from the document's copy).
    pub(crate) async fn open_unpinned(
        &self,
        name: &SecretName,
        top: Attributes,
        context: &EncryptionContext,
        strict: bool,
    ) -> Result<Secret> {
        if !doc_format::is_document(&top) {
            let secret = self.open_item(&top, context).await?;
            self.check_fresh(&secret.name, secret.version, None)?;
            return Ok(secret);
        }
        let doc = self.document_in_table(name, top).await?;
        let version = match doc.current() {
            Some(v) => v,
            None if strict => {
                return Err(label_error(
                    name,
                    ErrorKind::NotFound,
                    "it has labels, but none is `current`",
                ))
            }
            None if rotating(&doc) => {
                return Err(label_error(
                    name,
                    ErrorKind::NotFound,
                    "it has no version to read un-pinned: its only version is `pending` (a \
                     rotation in progress; read it with @pending)",
                ))
            }
            None => {
                let except: Vec<Version> = doc.pending().into_iter().collect();
                self.highest_except(name, &except).await?.ok_or_else(|| {
                    label_error(
                        name,
                        ErrorKind::NotFound,
                        "it has no version to read un-pinned: its only version is `pending` (a \
                         rotation in progress; read it with @pending)",
                    )
                })?
            }
        };
        let revision = doc.revision;
        let copied = match doc.current() == Some(version) {
            true => doc.into_current_item(),
            false => None,
        };
        let item = match copied {
            Some(item) => item,
            None => self
                .inner
                .store
                .get_version(name, version)
                .await?
                .filter(|i| !doc_format::is_document(i))
                .ok_or_else(|| dangling(name, &Label::CURRENT, version))?,
        };
        let secret = self.open_item(&item, context).await?;
        self.check_fresh(name, secret.version, Some(revision))?;
        Ok(secret)
    }

    /// The version a label other than `current` names: the label document's
    /// summary (no copy), then that version.
    async fn read_label(
        &self,
        name: &SecretName,
        label: &Label,
        context: &EncryptionContext,
    ) -> Result<Secret> {
        let no_label = || {
            label_error(
                name,
                ErrorKind::NotFound,
                &format!("it has no label {label}"),
            )
        };
        match self.label_home().await? {
            Home::InTable => {
                let top = self
                    .inner
                    .store
                    .latest_version(name)
                    .await?
                    .ok_or_else(|| Error::NotFound {
                        name: name.clone(),
                        version: None,
                    })?;
                if !top.is_label_document() {
                    return Err(no_label());
                }
                let doc = self.document_of(name, &top).await?;
                let version = doc.labels.get(label).copied().ok_or_else(no_label)?;
                let item = self
                    .inner
                    .store
                    .get_version(name, version)
                    .await?
                    .filter(|i| !doc_format::is_document(i))
                    .ok_or_else(|| dangling(name, label, version))?;
                let secret = self.open_item(&item, context).await?;
                self.check_revision(name, doc.revision, true)?;
                Ok(secret)
            }
            Home::Companion(store) => {
                if *label == Label::PREVIOUS {
                    let top = self.inner.store.top_versions(name, 2).await?;
                    let (_, previous) = self.derived_labels(name, &top).await?;
                    let version = previous.ok_or_else(no_label)?;
                    let item = self.inner.store.get_version(name, version).await?;
                    let item = item.ok_or_else(|| dangling(name, label, version))?;
                    return self.open_item(&item, context).await;
                }
                let doc = self
                    .read_document(&store, name)
                    .await?
                    .ok_or_else(no_label)?;
                let version = doc.labels.get(label).copied().ok_or_else(no_label)?;
                // `pending` is staged in the companion table until it is finished.
                let home = if *label == Label::PENDING {
                    &store
                } else {
                    &self.inner.store
                };
                let item = home
                    .get_version(name, version)
                    .await?
                    .ok_or_else(|| dangling(name, label, version))?;
                let secret = self.open_item(&item, context).await?;
                self.check_revision(name, doc.revision, false)?;
                Ok(secret)
            }
        }
    }

    /// Start reading the table's record while items are read, so that checking an
    /// item against it costs no round trip of its own (its outcome is kept, or
    /// reported by the check that needs it).
    pub(crate) async fn prefetch_record(&self) {
        if self.inner.expect.mode != Some(TableMode::Credstash) {
            let _ = self.inner.record.get(&self.inner.store).await;
        }
    }

    /// An un-pinned read never goes back below a version this `Lockbox` has
    /// read of the same name (unless it deleted versions itself). Once the name
    /// has labels, their revision decides instead: `current` may move back (a
    /// label move is a new revision), but the labels may not (an older revision,
    /// or none, is [`Error::LabelRollback`]), and one revision names one
    /// `current`.
    pub(crate) fn check_fresh(
        &self,
        name: &SecretName,
        version: Version,
        revision: Option<u64>,
    ) -> Result<()> {
        let mut seen = self.inner.seen.lock().expect("seen lock");
        let s = seen.entry(name.clone()).or_default();
        match revision {
            Some(r) => {
                if let Some((p, at)) = s.revision {
                    if r < p {
                        return Err(Error::LabelRollback {
                            name: name.clone(),
                            seen: p,
                            got: Some(r),
                        });
                    }
                    if r == p && at.is_some_and(|v| v != version) {
                        return Err(Error::Integrity {
                            name: name.to_string(),
                            reason: format!(
                                "revision {r} of its labels named version {} as current and now \
                                 names version {version}: a label document is never changed \
                                 without a new revision, so this one was replaced",
                                at.expect("checked")
                            ),
                        });
                    }
                }
                s.revision = Some((r, Some(version)));
            }
            None => {
                if let Some((p, _)) = s.revision {
                    return Err(Error::LabelRollback {
                        name: name.clone(),
                        seen: p,
                        got: None,
                    });
                }
                if let Some(high) = s.version.filter(|h| version < *h) {
                    return Err(Error::Rollback {
                        name: name.clone(),
                        seen: high,
                        got: version,
                    });
                }
                s.version = Some(version);
            }
        }
        Ok(())
    }

    /// A read through the labels never goes back to an older revision of them.
    pub(crate) fn check_revision(
        &self,
        name: &SecretName,
        revision: u64,
        in_table: bool,
    ) -> Result<()> {
        let mut seen = self.inner.seen.lock().expect("seen lock");
        let s = seen.entry(name.clone()).or_default();
        if !in_table {
            return match s.companion {
                Some(p) if revision < p => Err(Error::LabelRollback {
                    name: name.clone(),
                    seen: p,
                    got: Some(revision),
                }),
                _ => {
                    s.companion = Some(revision);
                    Ok(())
                }
            };
        }
        match s.revision {
            Some((p, _)) if revision < p => Err(Error::LabelRollback {
                name: name.clone(),
                seen: p,
                got: Some(revision),
            }),
            Some((p, _)) if revision == p => Ok(()),
            _ => {
                s.revision = Some((revision, None));
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
        if doc_format::is_document(item) {
            let name = SecretName::new(
                item.get(crate::format::attr::NAME)
                    .and_then(crate::format::Attr::as_s)
                    .unwrap_or("?"),
            )?;
            return Err(Error::NotFound {
                name,
                version: Some(Version::new(crate::MAX_VERSION)?),
            });
        }
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
            region: None,
            kms_region: None,
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

/// `reference` without its pointer: what is fetched.
pub(crate) fn target_of(reference: &Reference) -> Reference {
    Reference {
        pointer: None,
        ..reference.clone()
    }
}

fn dangling(name: &SecretName, label: &Label, version: Version) -> Error {
    label_error(
        name,
        ErrorKind::NotFound,
        &format!("label {label} names version {version}, which does not exist"),
    )
}

/// Whether a rotation is in progress (its version may not be labelled yet).
pub(crate) fn rotating(doc: &crate::format::labels::LabelDocument) -> bool {
    doc.rotation
        .as_ref()
        .is_some_and(|r| r.state == crate::RotationState::Pending)
}

/// `main`'s output, with `side` run alongside it until `main` is done (then
/// dropped, if it is still running): work that may help `main` but must never
/// delay it.
pub(crate) async fn alongside<T>(
    main: impl std::future::Future<Output = T>,
    side: impl std::future::Future<Output = ()>,
) -> T {
    futures::pin_mut!(main, side);
    match futures::future::select(main, side).await {
        futures::future::Either::Left((out, _)) => out,
        futures::future::Either::Right(((), main)) => main.await,
    }
}
