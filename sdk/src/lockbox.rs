//! The [`Lockbox`] facade: versioning, retries, concurrency, caching and format
//! choice over a [`KeyService`] and a [`SecretStore`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::backend::{ItemSummary, KeyService, SecretStore};
use crate::cache::Cache;
use crate::envelope::{
    self, DataKey, Digest, Envelope, ItemFormat, Metadata, Sealing, WriteFormat,
};
use crate::format::labels::LabelDocument;
use crate::format::Attributes;
use crate::table::{self, Expect, RecordCell, TableMode};
use crate::{
    EncryptionContext, Error, ErrorKind, ExposeSecret, Result, SecretName, SecretValue, Version,
};

/// The table credstash and lockbox use by default.
pub const DEFAULT_TABLE: &str = "credential-store";

/// The KMS key credstash and lockbox write under by default.
pub const DEFAULT_KMS_KEY: &str = "alias/credstash";

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
#[non_exhaustive]
pub enum FormatPolicy {
    /// Follow the table's mode: the sealed format in a sealed table, credstash's
    /// format in a credstash table or one that records no mode (a table lockbox
    /// did not create, so credstash clients keep working).
    #[default]
    Auto,
    /// Always the lockbox sealed format.
    Sealed,
    /// Always credstash's format, with this HMAC digest (refused in a sealed
    /// table, which never serves credstash-format items).
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
///
/// A cheap handle: clones share one key service, store, table record, cache and
/// bound on the calls in flight, so build one per process and clone it into each
/// task or handler. `Send + Sync`, and every future it returns is `Send`.
#[derive(Clone)]
pub struct Lockbox {
    pub(crate) inner: Arc<Inner>,
}

/// What every clone of a [`Lockbox`] shares.
pub(crate) struct Inner {
    pub(crate) keys: Arc<dyn KeyService>,
    pub(crate) store: Arc<dyn SecretStore>,
    pub(crate) policy: FormatPolicy,
    pub(crate) expect: Expect,
    pub(crate) concurrency: usize,
    /// At most `concurrency` secrets in flight through this `Lockbox` and its
    /// clones, whichever calls they come from.
    pub(crate) slots: tokio::sync::Semaphore,
    pub(crate) record: RecordCell,
    pub(crate) cache: Option<Cache>,
    pub(crate) one_shot: bool,
    /// What un-pinned reads returned of each name (the highest version, or the
    /// revision of its labels): a later read never goes back.
    pub(crate) seen: Mutex<HashMap<SecretName, Seen>>,
}

impl std::fmt::Debug for Lockbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Lockbox")
            .field("keys", &inner.keys)
            .field("store", &inner.store)
            .field("policy", &inner.policy)
            .field("expect", &inner.expect)
            .field("concurrency", &inner.concurrency)
            .field("one_shot", &inner.one_shot)
            .finish_non_exhaustive()
    }
}

impl Lockbox {
    /// The format, store identity and pinned key of a new version of `name`.
    pub(crate) async fn write_target(
        &self,
        policy: FormatPolicy,
    ) -> Result<(WriteFormat, Option<String>, Option<String>)> {
        let table = self.inner.store.table();
        let (mode, record) = self.effective_record().await?;
        let store = match &record {
            Some(r) => r.store_id(table)?.map(str::to_owned),
            None => None,
        };
        let pin = record.as_ref().and_then(|r| r.key_arn.clone());
        let format = match (policy, mode) {
            (FormatPolicy::Credstash(_), Some(TableMode::Sealed)) => {
                return Err(Error::Table {
                    table: table.to_owned(),
                    kind: ErrorKind::Usage,
                    reason: "it is a sealed table, which never serves credstash-format items: \
                             writing one (-d/--digest, FormatPolicy::Credstash) is refused; \
                             leave the digest out"
                        .into(),
                })
            }
            (FormatPolicy::Credstash(d), _) => WriteFormat::Credstash(d),
            (FormatPolicy::Sealed, _) | (FormatPolicy::Auto, Some(TableMode::Sealed)) => {
                WriteFormat::Sealed
            }
            (FormatPolicy::Auto, _) => WriteFormat::Credstash(Digest::Sha256),
        };
        if format == WriteFormat::Sealed && store.is_none() {
            return Err(Error::Table {
                table: table.to_owned(),
                kind: ErrorKind::Usage,
                reason: format!(
                    "it records no store identity (its {} tag), which every sealed item binds; \
                     run `lockbox setup` on it to record one",
                    table::TAG_STORE
                ),
            });
        }
        Ok((format, store, pin))
    }

    /// Store `value` as a new version of `name` and return the version.
    ///
    /// Without an explicit version, writes the next one: concurrent writers each
    /// get their own version and none is overwritten (a lost conditional write is
    /// retried with the next number). An explicit version that exists is refused.
    ///
    /// When the secret has labels (in a sealed table), the new version becomes
    /// `current` (and the version `current` left becomes `previous`), unless a
    /// newer version is `current` already: a put is live at once, as without
    /// labels. To store a value that is not live yet, stage it with
    /// [`Lockbox::rotate_start`].
    pub async fn put(
        &self,
        name: &SecretName,
        value: &SecretValue,
        options: &PutOptions,
    ) -> Result<Version> {
        self.write_version(name, value, options, true)
            .await
            .map(|(v, _)| v)
    }

    /// Store a new version (see [`Lockbox::put`]); with `follow`, a labelled
    /// secret's `current` moves to it. Returns the version and its item.
    pub(crate) async fn write_version(
        &self,
        name: &SecretName,
        value: &SecretValue,
        options: &PutOptions,
        follow: bool,
    ) -> Result<(Version, Attributes)> {
        check_new_identity(name, &options.context)?;
        // Before the write as well as after: a caller that drops this future while
        // the write is in flight must not be served the old latest from the cache.
        self.invalidate(name);
        let policy = options.format.unwrap_or(self.inner.policy);
        let ((format, store, pin), head) =
            futures::try_join!(self.write_target(policy), self.head(name))?;
        let sealed = matches!(format, WriteFormat::Sealed | WriteFormat::SealedV1);
        if let (WriteFormat::Credstash(_), Some(_)) = (format, &head.document) {
            return Err(Error::Table {
                table: self.inner.store.table().to_owned(),
                kind: ErrorKind::Integrity,
                reason: format!(
                    "{name} has a label document, which lockbox writes only in sealed tables, \
                     but the table records no sealed mode (its {} tag is missing or changed): \
                     refusing to write a credstash-format item; run `lockbox setup` to record \
                     the mode again",
                    table::TAG_MODE
                ),
            });
        }
        // A put to a labelled secret makes its version `current`, as a put to an
        // unlabelled one makes it the highest.
        let mut labelled = follow && sealed && head.document.is_some();
        let latest = head.latest;
        if let (WriteFormat::Credstash(_), Some(latest)) = (format, &latest) {
            // A table that records no mode is written in credstash's format; if this
            // name's newest version is sealed, the mode tag was probably removed.
            if latest.format != ItemFormat::Credstash.as_str() {
                return Err(Error::Table {
                    table: self.inner.store.table().to_owned(),
                    kind: ErrorKind::Integrity,
                    reason: format!(
                        "{name}'s newest version is {}, not credstash's format, but the table \
                         records no mode (its \
                         {} tag is missing): refusing to write a credstash-format item over a \
                         sealed one; run `lockbox setup` to record the mode again",
                        crate::escape_untrusted(&latest.format),
                        table::TAG_MODE
                    ),
                });
            }
        }
        let metadata = Metadata {
            comment: options.comment.clone().filter(|c| !c.is_empty()),
            created_at: match format {
                WriteFormat::Sealed | WriteFormat::SealedV1 => Some(unix_now()),
                // credstash items carry exactly the attributes credstash writes.
                WriteFormat::Credstash(_) => None,
            },
        };
        let mut version = match options.version {
            Some(v) => v,
            None => next_after(name, latest.as_ref())?,
        };
        if sealed && version.get() == crate::MAX_VERSION {
            return Err(reserved_version(name));
        }
        // credstash's data key does not depend on the version, so one key serves
        // every attempt; the sealed format binds the version and needs a fresh one.
        let mut data_key = None;
        for attempt in 1..=PUT_ATTEMPTS {
            let sealing = Sealing {
                format,
                name,
                version,
                context: &options.context,
                store: store.as_deref(),
                metadata: &metadata,
            };
            let request = envelope::data_key_request(&sealing)?;
            if data_key.is_none() || !matches!(format, WriteFormat::Credstash(_)) {
                let key = self
                    .inner
                    .keys
                    .generate_data_key(request.bytes(), request.context())
                    .await?;
                self.check_writer_key(pin.as_deref(), key.key_id.as_deref())?;
                data_key = Some(key);
            }
            let key = data_key.as_ref().expect("set above");
            let item = envelope::seal(&request, value.expose_secret(), key)?;
            match self.inner.store.put_new(&item).await {
                Ok(()) => {
                    if labelled {
                        self.current_follows_put(name, version, &item).await?;
                    }
                    self.invalidate(name);
                    return Ok((version, item));
                }
                Err(Error::VersionExists { .. }) => {
                    // The write may have been applied with its answer lost (and the
                    // SDK's retry then failed the condition): it is ours if the
                    // stored item carries our wrapped key, which no one else has.
                    if self.is_our_item(name, version, key).await? {
                        if labelled {
                            self.current_follows_put(name, version, &item).await?;
                        }
                        self.invalidate(name);
                        return Ok((version, item));
                    }
                    if options.version.is_some() {
                        return Err(Error::VersionExists {
                            name: name.clone(),
                            version,
                        });
                    }
                    let head = self.head(name).await?;
                    labelled |= follow && sealed && head.document.is_some();
                    version = next_after(name, head.latest.as_ref())?.max(version.next()?);
                    if sealed && version.get() == crate::MAX_VERSION {
                        return Err(reserved_version(name));
                    }
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
        ours: &DataKey,
    ) -> Result<bool> {
        let Some(stored) = self.inner.store.get_version(name, version).await? else {
            return Ok(false);
        };
        Ok(Envelope::parse(&stored).is_ok_and(|env| env.wrapped_key() == ours.wrapped.as_slice()))
    }

    /// Refuse to write under a key other than the one the table is pinned to: the
    /// alias named was repointed (or `-k` names another key).
    pub(crate) fn check_writer_key(&self, pin: Option<&str>, used: Option<&str>) -> Result<()> {
        let Some(pin) = pin else { return Ok(()) };
        let used = used.unwrap_or("(a key the service did not name)");
        if table::same_key(pin, used) {
            return Ok(());
        }
        Err(Error::Table {
            table: self.inner.store.table().to_owned(),
            kind: ErrorKind::Integrity,
            reason: format!(
                "it is pinned to KMS key {pin} ({} tag, recorded at setup), but the key named \
                 for writing is {used}: the alias was repointed, or -k names another key; \
                 nothing was written",
                table::TAG_KEY
            ),
        })
    }

    /// Every stored version of every secret, without decrypting anything, with
    /// the labels its table keeps beside the versions ([`ItemSummary::labels`];
    /// the label documents themselves are not listed). The same calls as
    /// without labels (one scan); a table shared with credstash keeps its labels
    /// elsewhere: [`Lockbox::fill_labels`] adds them.
    pub async fn list(&self) -> Result<Vec<ItemSummary>> {
        let mut items = self.inner.store.list().await?;
        let docs = take_documents(&mut items);
        attach_labels(&mut items, &docs);
        Ok(items)
    }

    /// Every stored version of every secret as a stream, page by page, for tables
    /// too big to hold in memory at once: the table is read in parallel segments,
    /// so items come in no particular order. A throttled page is read again
    /// after a backoff while the listing makes progress; the stream ends with the
    /// error otherwise. Nothing is decrypted. Label documents are left out, and
    /// versions come without their labels (which [`Lockbox::list`] and
    /// [`Lockbox::labels`] give).
    pub fn list_stream(&self) -> impl futures::Stream<Item = Result<ItemSummary>> + Send + 'static {
        use futures::StreamExt as _;
        crate::lifecycle::scan_store(
            self.inner.store.clone(),
            crate::lifecycle::ScanOptions::default(),
            Arc::new(crate::lifecycle::Pacer::new()),
        )
        .flat_map(|page| {
            let summaries: Vec<Result<ItemSummary>> = match page {
                Ok(items) => items
                    .into_iter()
                    .filter_map(ItemSummary::from_owned)
                    .filter(|s| !s.is_label_document())
                    .map(Ok)
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(summaries)
        })
    }

    /// The name of every secret, sorted, each once: a parallel scan that reads
    /// only the items' keys, a fraction of what [`Lockbox::list`] reads on a
    /// big table. A name is any that has an item (a version or its labels).
    /// A throttled page is read again as in [`Lockbox::list_stream`].
    pub async fn names(&self) -> Result<Vec<String>> {
        use futures::StreamExt as _;
        let options = crate::lifecycle::ScanOptions {
            keys_only: true,
            segments: crate::backend::LISTING_SEGMENTS,
            ..crate::lifecycle::ScanOptions::default()
        };
        let mut pages = std::pin::pin!(crate::lifecycle::scan_store(
            self.inner.store.clone(),
            options,
            Arc::new(crate::lifecycle::Pacer::new()),
        ));
        let mut names = std::collections::BTreeSet::new();
        while let Some(page) = pages.next().await {
            for item in page? {
                if let Some(crate::format::Attr::S(name)) = item.get(crate::format::attr::NAME) {
                    if !names.contains(name) {
                        names.insert(name.clone());
                    }
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Every stored version of `name`, oldest first, without decrypting, with
    /// the labels naming each (as [`Lockbox::list`]).
    pub async fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        let mut versions = self.inner.store.history(name).await?;
        let docs = take_documents(&mut versions);
        if versions.is_empty() {
            return Err(Error::NotFound {
                name: name.clone(),
                version: None,
            });
        }
        attach_labels(&mut versions, &docs);
        Ok(versions)
    }

    /// Fill in the labels of `items` (from [`Lockbox::list`] or
    /// [`Lockbox::history`]) that a table shared with credstash keeps in its
    /// companion table, with `current` and `previous` derived for each secret
    /// that has labels there. Reads the table's record and scans the companion
    /// table; does nothing for a sealed table (whose labels `list` and `history`
    /// give already) or one whose labels were never set up.
    pub async fn fill_labels(&self, items: &mut [ItemSummary]) -> Result<()> {
        let docs = self.companion_documents().await?;
        add_companion_labels(docs, items);
        Ok(())
    }

    /// [`Lockbox::list`] with every label, those a table shared with credstash
    /// keeps in its companion table included: the table's record and the
    /// companion table are read while the table is listed, not after it (one
    /// round trip instead of two or three). The second result is what
    /// [`Lockbox::fill_labels`] would have answered: when it is an error, the
    /// versions are listed without the companion table's labels.
    pub async fn list_labelled(&self) -> Result<(Vec<ItemSummary>, Result<()>)> {
        let (items, docs) = futures::join!(self.list(), self.companion_documents());
        let mut items = items?;
        let filled = docs.map(|docs| add_companion_labels(docs, &mut items));
        Ok((items, filled))
    }

    /// [`Lockbox::history`] with every label, as [`Lockbox::list_labelled`].
    pub async fn history_labelled(
        &self,
        name: &SecretName,
    ) -> Result<(Vec<ItemSummary>, Result<()>)> {
        let (items, docs) = futures::join!(self.history(name), self.companion_documents());
        let mut items = items?;
        let filled = docs.map(|docs| add_companion_labels(docs, &mut items));
        Ok((items, filled))
    }

    /// The label documents of the companion table, when the table records one;
    /// `None` for a sealed table, one whose labels were never set up, or whose
    /// companion table is gone.
    async fn companion_documents(&self) -> Result<Option<Vec<LabelDocument>>> {
        if self.inner.expect.mode == Some(TableMode::Sealed) {
            return Ok(None);
        }
        let Some(companion) = self.recorded_companion().await else {
            return Ok(None);
        };
        let mut theirs = match companion.list().await {
            Ok(theirs) => theirs,
            Err(Error::TableNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(take_documents(&mut theirs)))
    }

    /// The companion table of labels, when the table records one (a table
    /// shared with credstash whose labels were set up), and its record can be
    /// read.
    pub(crate) async fn recorded_companion(&self) -> Option<Arc<dyn SecretStore>> {
        let (mode, record) = self.effective_record().await.ok()?;
        if mode == Some(TableMode::Sealed) {
            return None;
        }
        record?.labels.as_ref()?;
        self.inner.store.label_store()
    }

    /// Delete one version of `name`, or all of them; returns the deleted
    /// versions' sort keys. A version a label names is not deleted (move the
    /// label first): no label ever names a missing version. Deleting all of
    /// them deletes the labels too.
    pub async fn delete(&self, name: &SecretName, version: Option<Version>) -> Result<Vec<String>> {
        self.invalidate(name);
        // Deleting the newest versions on purpose may make the latest go back.
        self.inner.seen.lock().expect("seen lock").remove(name);
        let deleted = match version {
            Some(v) => {
                let mut deleted = Vec::new();
                // Found under the padded key: no unpadded legacy copy to try.
                for key in [v.sort_key(), v.get().to_string()] {
                    if self.delete_unlabelled(name, v, &key).await? {
                        deleted.push(key);
                        break;
                    }
                }
                deleted
            }
            None => self.delete_all(name).await?,
        };
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

    /// Delete every item of `name`, in an order that never shows an un-pinned
    /// reader a version labelled `pending`: versions above `current` first,
    /// then the label document, then the rest. Returns the versions' sort keys
    /// in version order.
    async fn delete_all(&self, name: &SecretName) -> Result<Vec<String>> {
        let mut items = self.inner.store.history(name).await?;
        let docs = take_documents(&mut items);
        let current = docs.first().and_then(|d| d.current());
        let order: Vec<String> = items.iter().map(|s| s.sort_key.clone()).collect();
        let (above, rest): (Vec<ItemSummary>, Vec<ItemSummary>) = items
            .into_iter()
            .partition(|s| current.is_some_and(|c| s.version.is_some_and(|v| v > c)));
        let mut deleted = Vec::new();
        for s in &above {
            if self.inner.store.delete(name, &s.sort_key).await? {
                deleted.push(s.sort_key.clone());
            }
        }
        if !docs.is_empty() {
            self.inner
                .store
                .delete(name, crate::format::labels::SORT_KEY)
                .await?;
        }
        for s in &rest {
            if self.inner.store.delete(name, &s.sort_key).await? {
                deleted.push(s.sort_key.clone());
            }
        }
        if let Some(companion) = self.recorded_companion().await {
            match companion.history(name).await {
                Ok(theirs) => {
                    for s in theirs {
                        companion.delete(name, &s.sort_key).await?;
                    }
                }
                Err(Error::TableNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        deleted.sort_by_key(|k| order.iter().position(|o| o == k));
        Ok(deleted)
    }

    /// Delete all but the newest `keep` versions of `name`, and never a version
    /// a label names (those are kept besides); returns the deleted sort keys.
    pub async fn prune(&self, name: &SecretName, keep: usize) -> Result<Vec<String>> {
        self.invalidate(name);
        self.inner.seen.lock().expect("seen lock").remove(name);
        let versions = self.history(name).await?;
        let excess = versions.len().saturating_sub(keep);
        let mut deleted = Vec::new();
        for s in versions.into_iter().take(excess) {
            if !s.labels.is_empty() {
                continue;
            }
            if let Some(item) = self.inner.store.delete_returning(name, &s.sort_key).await? {
                deleted.push((s, item));
            }
        }
        // A label moved meanwhile to a version deleted here (its mover read the
        // labels before): put that version back.
        let protected = self.protected_versions(name).await?;
        let mut kept = Vec::new();
        for (s, item) in deleted {
            if s.version
                .is_some_and(|v| protected.iter().any(|(_, p)| *p == v))
            {
                self.inner.store.put_if_absent(&item).await?;
            } else {
                kept.push(s.sort_key);
            }
        }
        self.invalidate(name);
        Ok(kept)
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
        if let Some(c) = &self.inner.cache {
            c.invalidate(name);
        }
    }

    /// Drop the whole cache.
    pub fn invalidate_all(&self) {
        if let Some(c) = &self.inner.cache {
            c.clear();
        }
    }
}

/// Refuse to store a name, or a context, that reads as something it is not: a
/// character that prints as something else or not at all (format, bidirectional or
/// zero-width characters, separators) in a name or a context key, or text not in
/// Unicode normal form C, which another keyboard or file system would type as other
/// bytes (another secret, another context). Existing items with such names are
/// still read.
pub(crate) fn check_new_identity(name: &SecretName, context: &EncryptionContext) -> Result<()> {
    use unicode_normalization::is_nfc;
    let shown = || crate::escape_untrusted(name.as_str()).into_owned();
    if crate::has_unsafe_characters(name.as_str()) {
        return Err(Error::InvalidName {
            name: shown(),
            reason: "it holds a character that prints as something else or not at all \
                     (a format, bidirectional or zero-width character, or a separator)"
                .into(),
        });
    }
    if !is_nfc(name.as_str()) {
        return Err(Error::InvalidName {
            name: shown(),
            reason: "it is not in Unicode normal form C (NFC), so the same name typed \
                     elsewhere would be other bytes: write it in NFC"
                .into(),
        });
    }
    for (key, value) in context.iter() {
        if crate::has_unsafe_characters(key) || !is_nfc(key) || !is_nfc(value) {
            return Err(Error::InvalidContext {
                reason: format!(
                    "the pair {}={} holds an invisible or look-alike character, or text not \
                     in Unicode normal form C (NFC): write it in NFC, printable",
                    crate::escape_untrusted(key),
                    crate::escape_untrusted(value)
                ),
            });
        }
    }
    Ok(())
}

/// Take the label documents out of `items` (summaries, as a store lists them).
fn take_documents(items: &mut Vec<ItemSummary>) -> Vec<LabelDocument> {
    let mut docs = Vec::new();
    items.retain(|s| {
        if !s.is_label_document() {
            return true;
        }
        if let Some(d) = &s.document {
            docs.push((**d).clone());
        }
        false
    });
    docs
}

/// In a table shared with credstash: add the derived `current` and `previous`
/// (the highest version and the one below it, from `items`) to each document.
fn derive_labels(docs: &mut [LabelDocument], items: &[ItemSummary]) {
    // One pass over the items, not one per document: a big table has a
    // document for many of its secrets.
    if docs.is_empty() {
        return;
    }
    let mut versions: HashMap<&str, Vec<Version>> = HashMap::new();
    for item in items {
        if let Some(v) = item.version {
            versions.entry(item.name.as_str()).or_default().push(v);
        }
    }
    for doc in docs {
        let mut versions = versions.remove(doc.name.as_str()).unwrap_or_default();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        doc.labels.remove(&crate::Label::PENDING);
        for (label, v) in [crate::Label::CURRENT, crate::Label::PREVIOUS]
            .into_iter()
            .zip(versions)
        {
            doc.labels.insert(label, v);
        }
    }
}

/// Add the labels of a companion table's documents (if any) to `items`, with
/// `current` and `previous` derived from them.
fn add_companion_labels(docs: Option<Vec<LabelDocument>>, items: &mut [ItemSummary]) {
    if let Some(mut docs) = docs {
        derive_labels(&mut docs, items);
        attach_labels(items, &docs);
    }
}

/// Fill in each version's labels from the documents.
fn attach_labels(items: &mut [ItemSummary], docs: &[LabelDocument]) {
    if docs.is_empty() {
        return;
    }
    let by_name: HashMap<&str, &LabelDocument> =
        docs.iter().map(|d| (d.name.as_str(), d)).collect();
    for item in items {
        if let (Some(doc), Some(v)) = (by_name.get(item.name.as_str()), item.version) {
            item.labels = doc
                .labels
                .iter()
                .filter(|(_, lv)| **lv == v)
                .map(|(l, _)| l.clone())
                .collect();
        }
    }
}

/// The version after `latest` (the newest stored version of a name), or the first.
/// The version after the newest stored one. The newest item is not authenticated
/// here (that would need a KMS call), so a table writer can store one at the
/// highest version; the error then says which item blocks the name and how to
/// remove it.
pub(crate) fn next_after(name: &SecretName, latest: Option<&ItemSummary>) -> Result<Version> {
    let Some(latest) = latest else {
        return Ok(Version::FIRST);
    };
    match latest.version {
        // A sort key that is not a number: refused as it always was.
        None => Version::from_sort_key(&latest.sort_key),
        Some(v) if v.get() == 0 => Ok(Version::FIRST),
        Some(v) => v.next().map_err(|_| Error::InvalidVersion {
            version: v.get().to_string(),
            reason: format!(
                "the newest stored version of {name} is the highest a version can be, so no \
                 next version exists; if nobody meant to write it, inspect it with `lockbox \
                 history {name}` and remove it with `lockbox delete {name} -v {v}`",
                name = crate::escape_untrusted(name.as_str()),
                v = v.get()
            ),
        }),
    }
}

/// What a [`Lockbox`] has read of one name, so a later read never goes back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    /// The highest version an un-pinned read returned while the name had no
    /// labels.
    pub(crate) version: Option<Version>,
    /// The highest revision of its labels read, and the version an un-pinned
    /// read got at that revision.
    pub(crate) revision: Option<(u64, Option<Version>)>,
    /// The highest revision of its labels read from the companion table of a
    /// table shared with credstash (which un-pinned reads never consult).
    pub(crate) companion: Option<u64>,
}

/// Version `9999999999999999999` of a sealed table holds the label document.
pub(crate) fn reserved_version(name: &SecretName) -> Error {
    Error::Label {
        name: name.clone(),
        kind: ErrorKind::Usage,
        reason: format!(
            "version {} is reserved in a sealed table: its sort key holds the secret's label \
             document",
            crate::MAX_VERSION
        ),
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{MemoryKeyService, MemorySecretStore};

    async fn lockbox() -> Lockbox {
        let lb = Lockbox::builder()
            .key_service(MemoryKeyService::new(&["k"]))
            .secret_store(MemorySecretStore::new())
            .build()
            .unwrap();
        lb.setup(TableMode::Sealed, &[]).await.unwrap();
        lb
    }

    #[tokio::test]
    async fn names_and_contexts_that_read_as_something_else_are_refused_on_write() {
        let lb = lockbox().await;
        let value = SecretValue::from("v");
        let put = |name: &str, pairs: &[&str]| {
            let lb = lb.clone();
            let name = SecretName::new(name).unwrap();
            let options = PutOptions {
                context: EncryptionContext::from_pairs(pairs).unwrap(),
                ..PutOptions::default()
            };
            let value = value.duplicate();
            async move { lb.put(&name, &value, &options).await }
        };
        for name in [
            "prod/db/password\u{200b}", // zero-width space
            "prod/db/\u{202e}drowssap", // right-to-left override
            "prod/pa\u{308}sswort",     // NFD: a + combining diaeresis
        ] {
            let err = put(name, &[]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{name:?}: {err}");
            assert!(
                !err.to_string().contains('\u{202e}'),
                "shown escaped: {err}"
            );
        }
        for pair in ["e\u{301}nv=prod", "env=pro\u{301}d", "en\u{200d}v=prod"] {
            let err = put("ok", &[pair]).await.unwrap_err();
            assert!(
                matches!(err, Error::InvalidContext { .. }),
                "{pair:?}: {err}"
            );
        }
        // NFC text, non-ASCII included, is fine.
        put("prod/p\u{e4}sswort", &["r\u{e9}gion=\u{e9}u"])
            .await
            .unwrap();
    }
}
