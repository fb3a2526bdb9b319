//! Keeping a copy of a table in step (a DR copy, another region): items copied
//! as they are stored, nothing decrypted, nothing overwritten.
//!
//! Every item of the source missing from the target is written with a
//! conditional put (`attribute_not_exists`). An item present on both sides is
//! compared by its authenticated attributes (for a sealed item: name, version,
//! format, store, wrapped key, salt, nonce, commitment, ciphertext, context keys;
//! for a credstash item: name, version, wrapped key, ciphertext, HMAC, digest):
//! the same, it is unchanged; different, it is a conflict, reported and left
//! alone. Comments and creation times are not authenticated and not compared.
//!
//! Sealed items bind the store identity, so the target must record the same one
//! as the source (and the same mode): a table set up with `lockbox setup --store
//! ID`, or one this operation creates with the source's mode and identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{item_error, same_table, scan_all, scan_keys, table_error, ItemRef, Pacer, RunOptions};
use crate::format::{attr, credstash, sealed, Attr, Attributes};
use crate::table::{self, TableMode};
use crate::{Error, ErrorKind, Lockbox, Result, SetupOptions, SetupResult};

/// Options of [`Lockbox::sync_to`] beyond the common ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Create the target when it does not exist, with the source's mode and
    /// store identity, pinned to the target's key (default true).
    pub create_target: bool,
    /// Refuse unless the target's key service can use its key (default true):
    /// copied items are of no use where their key cannot unwrap them.
    pub require_usable_key: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            create_target: true,
            require_usable_key: true,
        }
    }
}

/// What a sync did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Items of the source considered (after `names`).
    pub considered: usize,
    /// Items written to the target.
    pub copied: Vec<ItemRef>,
    /// Items the target held already, the same.
    pub unchanged: Vec<ItemRef>,
    /// Items the target holds with other contents: left alone, with how they differ.
    pub conflicts: Vec<(ItemRef, String)>,
    /// Items that could not be written, with why.
    pub failed: Vec<(ItemRef, String)>,
    /// With `dry_run`: items that would be copied.
    pub to_copy: Vec<ItemRef>,
    /// With `dry_run`: items present on both sides, which would be compared.
    pub to_check: Vec<ItemRef>,
    /// Whether the target was created (with `dry_run`: would be).
    pub created_target: bool,
    /// The store identity both tables record.
    pub store: Option<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl SyncReport {
    /// Whether the target holds every item considered, the same.
    pub fn is_complete(&self) -> bool {
        self.conflicts.is_empty() && self.failed.is_empty()
    }
}

enum Outcome {
    Copied(ItemRef),
    Unchanged(ItemRef),
    Conflict(ItemRef, String),
    Failed(ItemRef, String),
}

impl Lockbox {
    /// Copy every item of this table (or of `options.names`) into `target` as
    /// stored, as the [module documentation](self) describes.
    ///
    /// Refused before anything is written when the target is this table, records
    /// another store identity or mode, or (with `require_usable_key`) its key
    /// cannot be described as enabled by the target's key service.
    pub async fn sync_to(
        &self,
        target: &Lockbox,
        sync: &SyncOptions,
        options: &RunOptions,
    ) -> Result<SyncReport> {
        let pacer = Arc::new(Pacer::new());
        let name = target.inner.store.table().to_owned();
        let source_table = pacer.run(|| self.inner.store.describe_table()).await?;
        self.forget_record();
        let source_record = self.table_record().await?;
        let mut report = SyncReport {
            dry_run: options.dry_run,
            store: source_record.store.clone(),
            ..SyncReport::default()
        };
        let target_table = match pacer.run(|| target.inner.store.describe_table()).await {
            Ok(t) => Some(t),
            Err(Error::TableNotFound { .. }) if sync.create_target => None,
            Err(e) => return Err(e),
        };
        if let Some(t) = &target_table {
            if same_table(self, target, source_table.arn.as_deref(), t.arn.as_deref()).await {
                return Err(table_error(
                    &name,
                    ErrorKind::Usage,
                    "it is the source table: sync into another table, or the same name in \
                     another region (--to-region)"
                        .into(),
                ));
            }
            if let Some(region) = &t.region {
                if source_table.replicas.iter().any(|r| &r.region == region)
                    && target.inner.store.table() == self.inner.store.table()
                {
                    return Err(table_error(
                        &name,
                        ErrorKind::Usage,
                        format!(
                            "it is the source's own replica in {region} (a global table): \
                             DynamoDB keeps it in step; there is nothing to sync"
                        ),
                    ));
                }
            }
        }
        let source_mode = source_record.table_mode(self.inner.store.table())?;
        if sync.require_usable_key {
            let key = pacer
                .run(|| target.inner.keys.describe_key())
                .await
                .map_err(|e| Error::KeyUnavailable {
                    key: "the target's key".into(),
                    reason: format!(
                        "the target cannot decrypt what would be copied: {e}; give the target a \
                         key that can (a replica of a multi-region key), or copy anyway"
                    ),
                    source: Some(Box::new(e)),
                })?;
            if !key.enabled {
                return Err(Error::KeyUnavailable {
                    key: key.arn,
                    reason: "the target's key is not enabled, so it cannot decrypt what would be \
                             copied"
                        .into(),
                    source: None,
                });
            }
        }
        match &target_table {
            Some(_) => {
                target.forget_record();
                let target_record = target.table_record().await?;
                let target_mode = target_record.table_mode(&name)?;
                if target_record.store != source_record.store {
                    return Err(table_error(
                        &name,
                        ErrorKind::Usage,
                        format!(
                            "it records store identity {}, the source {}: sealed items bind the \
                             source's identity and would not open there. Sync into a table set \
                             up with `lockbox -t TABLE setup --store {}` (or one that does not \
                             exist yet, which sync creates)",
                            shown(target_record.store.as_deref()),
                            shown(source_record.store.as_deref()),
                            source_record.store.as_deref().unwrap_or("ID"),
                        ),
                    ));
                }
                if target_mode != source_mode {
                    return Err(table_error(
                        &name,
                        ErrorKind::Usage,
                        format!(
                            "it records mode {}, the source {}: a copy keeps its source's mode",
                            shown(target_mode.map(TableMode::as_str)),
                            shown(source_mode.map(TableMode::as_str)),
                        ),
                    ));
                }
            }
            None => {
                let Some(mode) = source_mode else {
                    return Err(table_error(
                        self.inner.store.table(),
                        ErrorKind::Usage,
                        format!(
                            "the source records no mode ({} tag), so a copy cannot be set up \
                             like it; record it first with `lockbox setup` (--compat credstash \
                             for a credstash table)",
                            table::TAG_MODE
                        ),
                    ));
                };
                report.created_target = true;
                if !options.dry_run {
                    let mut setup = SetupOptions::new(mode);
                    setup.store = source_record.store.clone();
                    let done = target.setup_with(&setup).await?;
                    if let SetupResult::Refused(why) = done.result {
                        return Err(table_error(&name, ErrorKind::Usage, why));
                    }
                }
            }
        }
        options.progress.phase("scanning", None);
        let (items, existing) = if report.created_target && options.dry_run {
            (
                scan_all(&self.inner.store, options, false, &pacer).await?,
                Default::default(),
            )
        } else {
            futures::try_join!(
                scan_all(&self.inner.store, options, false, &pacer),
                scan_keys(&target.inner.store, options, &pacer)
            )?
        };
        report.considered = items.len();
        if options.dry_run {
            for item in &items {
                let r = ItemRef::of(item);
                if existing.contains_key(&r) {
                    report.to_check.push(r);
                } else {
                    report.to_copy.push(r);
                }
            }
            report.to_copy.sort();
            report.to_check.sort();
            return Ok(report);
        }
        options.progress.phase("copying", Some(items.len() as u64));
        let existing = &existing;
        let outcomes: Vec<Outcome> = stream::iter(items)
            .map(|item| {
                let pacer = &pacer;
                async move {
                    let r = ItemRef::of(&item);
                    let present = existing.contains_key(&r);
                    let outcome = copy_one(target, item, r, present, pacer).await;
                    options.progress.advance(1);
                    outcome
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        for outcome in outcomes {
            match outcome {
                Outcome::Copied(r) => report.copied.push(r),
                Outcome::Unchanged(r) => report.unchanged.push(r),
                Outcome::Conflict(r, why) => report.conflicts.push((r, why)),
                Outcome::Failed(r, why) => report.failed.push((r, why)),
            }
        }
        report.copied.sort();
        report.unchanged.sort();
        report.conflicts.sort();
        report.failed.sort();
        Ok(report)
    }
}

fn shown(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("{:?}", crate::escape_untrusted(v)),
        None => "none".into(),
    }
}

async fn copy_one(
    target: &Lockbox,
    item: Attributes,
    r: ItemRef,
    present: bool,
    pacer: &Pacer,
) -> Result<Outcome> {
    let store = &target.inner.store;
    if crate::format::labels::is_document(&item) {
        return copy_labels(target, item, r, pacer).await;
    }
    if !present {
        match pacer.run(|| store.put_if_absent(&item)).await {
            Ok(true) => return Ok(Outcome::Copied(r)),
            Ok(false) => {}
            Err(e) if item_error(&e) => return Ok(Outcome::Failed(r, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    let theirs = pacer.run(|| store.get_item(&r.name, &r.sort_key)).await?;
    let Some(theirs) = theirs else {
        // Deleted from the target since the scan: copy it.
        return Ok(match pacer.run(|| store.put_if_absent(&item)).await? {
            true => Outcome::Copied(r),
            false => Outcome::Conflict(r, "it changed in the target while compared".into()),
        });
    };
    Ok(match difference(&item, &theirs) {
        None => Outcome::Unchanged(r),
        Some(why) => Outcome::Conflict(r, why),
    })
}

/// A label document is copied like a label move: written over the target's
/// when the target's is an older revision (the source moved a label since the
/// last sync), left alone as a conflict when the target's has moved on its own.
async fn copy_labels(
    target: &Lockbox,
    item: Attributes,
    r: ItemRef,
    pacer: &Pacer,
) -> Result<Outcome> {
    use crate::format::labels::LabelDocument;
    let store = &target.inner.store;
    let ours = match LabelDocument::parse(&item) {
        Ok(doc) => doc,
        Err(e) => return Ok(Outcome::Failed(r, format!("cannot be read: {e}"))),
    };
    for _ in 0..crate::labels::LABEL_ATTEMPTS {
        let theirs = pacer.run(|| store.get_item(&r.name, &r.sort_key)).await?;
        let expected = match &theirs {
            None => None,
            Some(t) if *t == item => return Ok(Outcome::Unchanged(r)),
            Some(t) => match LabelDocument::parse(t) {
                Ok(doc) if doc.revision < ours.revision => Some(doc.revision),
                Ok(doc) => {
                    return Ok(Outcome::Conflict(
                        r,
                        format!(
                            "its labels are at revision {} in the target, {} in the source: \
                             moved in the target since; left alone",
                            doc.revision, ours.revision
                        ),
                    ))
                }
                Err(_) => {
                    return Ok(Outcome::Conflict(
                        r,
                        "the target holds something else where the label document goes".into(),
                    ))
                }
            },
        };
        match pacer.run(|| store.put_revision(&item, expected)).await {
            Ok(true) => return Ok(Outcome::Copied(r)),
            Ok(false) => continue,
            Err(e) if item_error(&e) => return Ok(Outcome::Failed(r, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome::Conflict(
        r,
        "its labels kept changing in the target while copied".into(),
    ))
}

/// The authenticated attributes of an item's format (all but the unauthenticated
/// metadata for an item in no known format).
fn authenticated(item: &Attributes) -> BTreeMap<&str, Option<&Attr>> {
    const SEALED: [&str; 10] = [
        attr::NAME,
        attr::VERSION,
        sealed::FORMAT,
        sealed::STORE,
        sealed::KEY,
        sealed::SALT,
        sealed::NONCE,
        sealed::COMMITMENT,
        sealed::CONTENTS,
        sealed::CONTEXT_KEYS,
    ];
    const CREDSTASH: [&str; 6] = [
        attr::NAME,
        attr::VERSION,
        credstash::KEY,
        credstash::CONTENTS,
        credstash::HMAC,
        credstash::DIGEST,
    ];
    let names: Vec<&str> = if item.contains_key(sealed::FORMAT) {
        SEALED.to_vec()
    } else if item.contains_key(credstash::HMAC) {
        CREDSTASH.to_vec()
    } else {
        item.keys()
            .map(String::as_str)
            .filter(|k| *k != attr::COMMENT && *k != attr::CREATED_AT)
            .collect()
    };
    names.into_iter().map(|n| (n, item.get(n))).collect()
}

/// How two stored items differ in what is authenticated, if they do.
pub(crate) fn difference(ours: &Attributes, theirs: &Attributes) -> Option<String> {
    let (a, b) = (authenticated(ours), authenticated(theirs));
    if a == b {
        return None;
    }
    let mut differing: Vec<&str> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k).copied().flatten() != b.get(*k).copied().flatten())
        .copied()
        .collect();
    differing.sort_unstable();
    differing.dedup();
    if differing == [credstash::KEY] {
        return Some(
            "the target holds it with another wrapped data key (one side was rewrapped): left \
             alone; rewrap the other side to the same key"
                .into(),
        );
    }
    Some(format!(
        "the target holds another item under this name and version (differing: {}): left alone",
        differing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, Attr)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn items_differ_only_in_what_is_authenticated() {
        let a = item(&[
            ("name", Attr::S("n".into())),
            ("version", Attr::S("0000000000000000001".into())),
            ("key", Attr::S("a2V5".into())),
            ("contents", Attr::S("Y29u".into())),
            ("hmac", Attr::S("00".into())),
            ("comment", Attr::S("one".into())),
        ]);
        let mut b = a.clone();
        b.insert("comment".into(), Attr::S("two".into()));
        b.insert("created_at".into(), Attr::N("1".into()));
        assert_eq!(difference(&a, &b), None);
        b.insert("key".into(), Attr::S("b3RoZXI=".into()));
        assert!(difference(&a, &b).unwrap().contains("rewrapped"));
        b.insert("hmac".into(), Attr::B(b"00".to_vec()));
        let why = difference(&a, &b).unwrap();
        assert!(why.contains("hmac") && why.contains("key"), "{why}");
    }
}
