//! Version labels on a [`Lockbox`]: where a table keeps them, reading them, and
//! moving them with one conditional write each.
//!
//! A **sealed** table keeps a secret's labels in its own partition, in a label
//! document at the highest version's sort key (`format::labels`): the query an
//! un-pinned read already makes returns it first, with a copy of `current`, so
//! reading a labelled secret costs the calls an unlabelled one does.
//!
//! A table **shared with credstash** must not hold anything credstash clients
//! would read (they read every item), so there `current` is always the highest
//! version (what credstash reads too) and `previous` the one below it, derived
//! rather than recorded; `pending` (a staged value, outside the table until its
//! rotation finishes) and the user's labels live in a companion table
//! ([`Lockbox::setup_labels`]). `docs/FORMAT.md` §7 has both layouts.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::backend::{ItemSummary, SecretStore};
use crate::format::labels::{self as doc_format, LabelDocument};
use crate::format::Attributes;
use crate::label::{LabelCondition, LabelMove, Labels, RotationState};
use crate::table::{self, TableMode};
use crate::{Error, ErrorKind, Label, Lockbox, Result, SecretName, Version};

/// Conditional writes a label change tries before reporting that the labels
/// kept changing under it.
pub(crate) const LABEL_ATTEMPTS: u32 = 50;

/// Where a table keeps its labels.
#[derive(Clone)]
pub(crate) enum Home {
    /// In each secret's own partition (a sealed table).
    InTable,
    /// In a companion table (a table shared with credstash).
    Companion(Arc<dyn SecretStore>),
}

/// The top of a secret's partition: its label document (without the copy) and
/// its highest version.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub(crate) document: Option<Box<LabelDocument>>,
    pub(crate) latest: Option<ItemSummary>,
}

impl Lockbox {
    /// Where this table's labels live: in the partitions of a sealed table, in
    /// the companion table of any other.
    pub(crate) async fn label_home(&self) -> Result<Home> {
        let (mode, _) = self.effective_record().await?;
        if mode == Some(TableMode::Sealed) {
            return Ok(Home::InTable);
        }
        match self.inner.store.label_store() {
            Some(store) => Ok(Home::Companion(store)),
            None => Err(Error::Table {
                table: self.inner.store.table().to_owned(),
                kind: ErrorKind::Usage,
                reason: "it is shared with credstash clients, who read every item, so its \
                         labels need a companion table, which this store cannot have"
                    .into(),
            }),
        }
    }

    /// The label document of `name` in `store`, whole (with its copy).
    pub(crate) async fn read_document(
        &self,
        store: &Arc<dyn SecretStore>,
        name: &SecretName,
    ) -> Result<Option<LabelDocument>> {
        let item = match store.get_item(name.as_str(), doc_format::SORT_KEY).await {
            Ok(item) => item,
            Err(Error::TableNotFound { .. }) if !Arc::ptr_eq(store, &self.inner.store) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let Some(item) = item else { return Ok(None) };
        if !doc_format::is_document(&item) {
            return Err(Error::Label {
                name: name.clone(),
                kind: ErrorKind::Usage,
                reason: format!(
                    "its version {} is a version, stored where its label document belongs, so \
                     it cannot have labels",
                    crate::MAX_VERSION
                ),
            });
        }
        checked_document(name, LabelDocument::parse(&item)?).map(Some)
    }

    /// Write `doc` unless its stored revision is no longer `expected`.
    pub(crate) async fn write_document(
        &self,
        store: &Arc<dyn SecretStore>,
        doc: &LabelDocument,
        expected: Option<u64>,
    ) -> Result<bool> {
        match store.put_revision(&doc.to_item(), expected).await {
            Err(Error::TableNotFound { .. }) if !Arc::ptr_eq(store, &self.inner.store) => {
                Err(no_companion(&doc.name, store.table()))
            }
            other => other,
        }
    }

    /// Write `doc` as its next revision (now), unless the stored revision is no
    /// longer `expected`: `false` then (another writer was first).
    pub(crate) async fn commit_document(
        &self,
        store: &Arc<dyn SecretStore>,
        doc: &mut LabelDocument,
        expected: Option<u64>,
    ) -> Result<bool> {
        doc.revision += 1;
        doc.updated_at = Some(crate::lockbox::unix_now());
        self.write_document(store, doc, expected).await
    }

    /// The label document (without its copy) and the highest version of `name`
    /// in this table, from one query in the common case.
    pub(crate) async fn head(&self, name: &SecretName) -> Result<Head> {
        let top = self.inner.store.top_versions(name, 2).await?;
        let legacy = top
            .iter()
            .any(|s| !s.is_label_document() && !crate::Version::is_canonical_sort_key(&s.sort_key));
        let items = if legacy {
            // An unpadded (pre-2015 credstash) sort key sorts apart from the
            // padded ones: order the whole history by number.
            self.inner.store.history(name).await?
        } else {
            top
        };
        let mut head = Head::default();
        for s in items.iter().rev() {
            if s.is_label_document() {
                head.document = Some(self.document_of(name, s).await?);
            } else if s.version.is_some()
                && head.latest.as_ref().is_none_or(|l| l.version < s.version)
            {
                head.latest = Some(s.clone());
            }
        }
        Ok(head)
    }

    /// The label document a summary describes; when it did not parse, the
    /// document read again whole, for the error.
    pub(crate) async fn document_of(
        &self,
        name: &SecretName,
        summary: &ItemSummary,
    ) -> Result<Box<LabelDocument>> {
        match &summary.document {
            Some(d) => Ok(Box::new(checked_document(name, (**d).clone())?)),
            None => {
                let item = self
                    .inner
                    .store
                    .get_item(name.as_str(), doc_format::SORT_KEY)
                    .await?
                    .ok_or_else(|| Error::integrity(name, "its label document vanished"))?;
                Ok(Box::new(checked_document(
                    name,
                    LabelDocument::parse(&item)?,
                )?))
            }
        }
    }

    /// A label document found in this table, which only a sealed table may hold.
    pub(crate) async fn document_in_table(
        &self,
        name: &SecretName,
        item: Attributes,
    ) -> Result<LabelDocument> {
        let (mode, _) = self.effective_record().await?;
        if mode != Some(TableMode::Sealed) {
            return Err(Error::Integrity {
                name: name.to_string(),
                reason: format!(
                    "table {} (mode {}) holds a label document for it, which lockbox writes \
                     only in sealed tables (credstash clients cannot read one); it is not used",
                    self.inner.store.table(),
                    mode.map_or("unrecorded", TableMode::as_str)
                ),
            });
        }
        checked_document(name, LabelDocument::from_item(item)?)
    }

    /// The highest version of `name` other than those in `except`, if any.
    pub(crate) async fn highest_except(
        &self,
        name: &SecretName,
        except: &[Version],
    ) -> Result<Option<Version>> {
        let top = self
            .inner
            .store
            .top_versions(name, 2 + except.len())
            .await?;
        let pick = |items: &[ItemSummary]| {
            items
                .iter()
                .filter(|s| !s.is_label_document())
                .filter_map(|s| s.version)
                .filter(|v| v.get() > 0 && !except.contains(v))
                .max()
        };
        if top
            .iter()
            .all(|s| s.is_label_document() || crate::Version::is_canonical_sort_key(&s.sort_key))
        {
            if let Some(v) = pick(&top) {
                return Ok(Some(v));
            }
            if top.len() < 2 + except.len() {
                return Ok(None);
            }
        }
        Ok(pick(&self.inner.store.history(name).await?))
    }

    /// The labels of `name`: the versions they name, their revision, and the
    /// staged rotation recorded. A secret without labels has none (revision 0).
    /// In a table shared with credstash, `current` and `previous` are derived
    /// from the versions ([`Labels::derived`]).
    pub async fn labels(&self, name: &SecretName) -> Result<Labels> {
        match self.label_home().await? {
            Home::InTable => {
                let head = self.head(name).await?;
                Ok(match head.document {
                    Some(doc) => labels_of(&doc, false),
                    None => Labels::none(name.clone()),
                })
            }
            Home::Companion(store) => {
                let (doc, top) = futures::try_join!(
                    self.read_document(&store, name),
                    self.inner.store.top_versions(name, 2)
                )?;
                let mut labels = match &doc {
                    Some(doc) => labels_of(doc, true),
                    None => Labels::none(name.clone()),
                };
                labels.derived = true;
                let (current, previous) = self.derived_labels(name, &top).await?;
                if let Some(v) = current {
                    labels.labels.insert(Label::CURRENT, v);
                }
                if let Some(v) = previous {
                    labels.labels.insert(Label::PREVIOUS, v);
                }
                Ok(labels)
            }
        }
    }

    /// `current` and `previous` in a table shared with credstash: the highest
    /// version and the one below it (`top` is the first items of the partition).
    pub(crate) async fn derived_labels(
        &self,
        name: &SecretName,
        top: &[ItemSummary],
    ) -> Result<(Option<Version>, Option<Version>)> {
        let canonical = top
            .iter()
            .all(|s| crate::Version::is_canonical_sort_key(&s.sort_key));
        let mut versions: Vec<Version> = if canonical {
            top.iter().filter_map(|s| s.version).collect()
        } else {
            self.inner
                .store
                .history(name)
                .await?
                .iter()
                .filter_map(|s| s.version)
                .collect()
        };
        versions.sort_unstable_by(|a, b| b.cmp(a));
        Ok((versions.first().copied(), versions.get(1).copied()))
    }

    /// Make `label` name `version` of `name`, if the label is where `condition`
    /// says (default: where this call finds it, so of two operators moving one
    /// label at once exactly one wins and the other gets
    /// [`ErrorKind::Conflict`]). One conditional write: moving `current` moves
    /// the version it left to `previous` in the same write. The version must
    /// exist; nothing is written if the label already names it
    /// ([`LabelMove::changed`] is `false`).
    ///
    /// The first label of a secret also records `current` where un-pinned reads
    /// find it now (its highest version), so labelling changes nothing they read.
    /// In a table shared with credstash, `current` is always the highest version
    /// (move it with [`Lockbox::rollback`], which writes an older value as a new
    /// version), `previous` is derived and `pending` is staged by
    /// [`Lockbox::rotate_start`]: only the user's own labels are set here.
    pub async fn set_label(
        &self,
        name: &SecretName,
        label: &Label,
        version: Version,
        condition: LabelCondition,
    ) -> Result<LabelMove> {
        let (store, in_table) = match self.label_home().await? {
            Home::InTable if version.get() == crate::MAX_VERSION => {
                return Err(crate::lockbox::reserved_version(name))
            }
            Home::InTable => (self.inner.store.clone(), true),
            Home::Companion(store) => {
                if *label == Label::CURRENT {
                    let labels = self.labels(name).await?;
                    if labels.current() == Some(version) {
                        check_position(name, label, &mut None, Some(version), condition)?;
                        return Ok(LabelMove {
                            labels,
                            moved: Vec::new(),
                        });
                    }
                }
                if label.is_reserved() {
                    return Err(companion_rule(name, label));
                }
                (store, false)
            }
        };
        let mut first: Option<Option<Version>> = None;
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let stored = self.read_document(&store, name).await?;
            let expected = stored.as_ref().map(|d| d.revision);
            let mut doc = stored
                .clone()
                .unwrap_or_else(|| LabelDocument::new(name.clone()));
            let before = doc.labels.get(label).copied();
            check_position(name, label, &mut first, before, condition)?;
            if before == Some(version) {
                return Ok(unchanged(&doc, !in_table));
            }
            let item = self.version_item(name, version).await?;
            let mut moved = Vec::new();
            if in_table && doc.revision == 0 && *label != Label::CURRENT {
                // The first label pins `current` where un-pinned reads are now.
                if let Some(highest) = self.highest_except(name, &[]).await? {
                    let current = self.version_item(name, highest).await?;
                    doc.labels.insert(Label::CURRENT, highest);
                    doc.set_copy(&current);
                    moved.push((Label::CURRENT, None, Some(highest)));
                }
            }
            if *label == Label::CURRENT {
                move_current(&mut doc, version, &item, &mut moved);
            } else {
                doc.labels.insert(label.clone(), version);
                moved.push((label.clone(), before, Some(version)));
            }
            check_count(name, &doc)?;
            if !self.commit_document(&store, &mut doc, expected).await? {
                continue;
            }
            self.invalidate(name);
            // A version deleted meanwhile (by a prune that read the labels before
            // this move) must not stay labelled: put the labels back.
            if self.inner.store.get_version(name, version).await?.is_none() {
                self.restore_document(&store, stored, &doc).await;
                return Err(missing_version(name, version));
            }
            return Ok(LabelMove {
                labels: labels_of(&doc, !in_table),
                moved,
            });
        }
        Err(kept_changing(name))
    }

    /// Remove `label` from `name`, if it is where `condition` says. `current`
    /// can be moved but not removed; removing `pending` abandons the rotation
    /// that staged it (the version stays, unlabelled: see
    /// [`Lockbox::rotate_abort`], which also deletes it).
    pub async fn remove_label(
        &self,
        name: &SecretName,
        label: &Label,
        condition: LabelCondition,
    ) -> Result<LabelMove> {
        if *label == Label::CURRENT {
            return Err(label_error(
                name,
                ErrorKind::Usage,
                "`current` can be moved to another version but not removed: un-pinned reads \
                 follow it",
            ));
        }
        let store = match self.label_home().await? {
            Home::InTable => self.inner.store.clone(),
            Home::Companion(store) => {
                if label.is_reserved() {
                    return Err(companion_rule(name, label));
                }
                store
            }
        };
        let in_table = Arc::ptr_eq(&store, &self.inner.store);
        let mut first: Option<Option<Version>> = None;
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let stored = self.read_document(&store, name).await?;
            let Some(mut doc) = stored.clone() else {
                check_position(name, label, &mut first, None, condition)?;
                return Ok(unchanged(&LabelDocument::new(name.clone()), !in_table));
            };
            let before = doc.labels.get(label).copied();
            check_position(name, label, &mut first, before, condition)?;
            if before.is_none() {
                return Ok(unchanged(&doc, !in_table));
            }
            doc.labels.remove(label);
            if *label == Label::PENDING {
                if let Some(r) = doc.rotation.as_mut() {
                    if r.state == RotationState::Pending {
                        r.state = RotationState::Aborted;
                    }
                }
            }
            if !self
                .commit_document(&store, &mut doc, Some(stored_revision(&stored)))
                .await?
            {
                continue;
            }
            self.invalidate(name);
            return Ok(LabelMove {
                labels: labels_of(&doc, !in_table),
                moved: vec![(label.clone(), before, None)],
            });
        }
        Err(kept_changing(name))
    }

    /// Move `current` back to the version labelled `previous` (and `previous` to
    /// the version `current` left): undoing the last move of `current` without
    /// writing a version. In a table shared with credstash, where `current` is
    /// always the highest version, use [`Lockbox::rollback`] instead.
    pub async fn rollback_current(
        &self,
        name: &SecretName,
        condition: LabelCondition,
    ) -> Result<LabelMove> {
        if let Home::Companion(_) = self.label_home().await? {
            return Err(companion_rule(name, &Label::CURRENT));
        }
        let labels = self.labels(name).await?;
        let (Some(current), Some(previous)) = (labels.current(), labels.previous()) else {
            return Err(label_error(
                name,
                ErrorKind::NotFound,
                "it has no `previous` label to move `current` back to",
            ));
        };
        let condition = match condition {
            LabelCondition::AsFound => LabelCondition::At(current),
            other => other,
        };
        self.set_label(name, &Label::CURRENT, previous, condition)
            .await
    }

    /// After `put` wrote `version` (whose item is `item`) of a labelled secret
    /// in a sealed table: move `current` to it unless a newer version is current
    /// already, as a put makes its value the one un-pinned reads get.
    pub(crate) async fn current_follows_put(
        &self,
        name: &SecretName,
        version: Version,
        item: &Attributes,
    ) -> Result<()> {
        let store = self.inner.store.clone();
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let Some(mut doc) = self.read_document(&store, name).await? else {
                return Ok(());
            };
            let expected = doc.revision;
            if doc.current().is_some_and(|c| c >= version) {
                return Ok(());
            }
            let mut moved = Vec::new();
            move_current(&mut doc, version, item, &mut moved);
            if self
                .commit_document(&store, &mut doc, Some(expected))
                .await?
            {
                return Ok(());
            }
        }
        Err(label_error(
            name,
            ErrorKind::Conflict,
            &format!(
                "version {version} was written, but `current` could not be moved to it: its \
                 labels kept changing; move it with `lockbox label` (set_label)"
            ),
        ))
    }

    /// The item of `version` of `name`, which must exist (and not be the label
    /// document's slot).
    pub(crate) async fn version_item(
        &self,
        name: &SecretName,
        version: Version,
    ) -> Result<Attributes> {
        self.inner
            .store
            .get_version(name, version)
            .await?
            .filter(|i| !doc_format::is_document(i))
            .ok_or_else(|| missing_version(name, version))
    }

    /// Put the labels back as they were before `written` (a move that must not
    /// stand), unless someone moved them since.
    async fn restore_document(
        &self,
        store: &Arc<dyn SecretStore>,
        before: Option<LabelDocument>,
        written: &LabelDocument,
    ) {
        let mut back = before.unwrap_or_else(|| LabelDocument::new(written.name.clone()));
        back.revision = written.revision;
        let _ = self
            .commit_document(store, &mut back, Some(written.revision))
            .await;
        self.invalidate(&written.name);
    }

    /// The labels naming each version of `name` that must not be deleted:
    /// those recorded in its label document, wherever the table keeps it.
    pub(crate) async fn protected_versions(
        &self,
        name: &SecretName,
    ) -> Result<Vec<(Label, Version)>> {
        let mut out: Vec<(Label, Version)> = self
            .head(name)
            .await?
            .document
            .map(|d| d.labels.into_iter().collect())
            .unwrap_or_default();
        if let Some(companion) = self.recorded_companion().await {
            if let Some(doc) = self.read_document(&companion, name).await? {
                // `pending` names a staged item of the companion table there, not
                // a version of this one.
                out.extend(doc.labels.into_iter().filter(|(l, _)| *l != Label::PENDING));
            }
        }
        Ok(out)
    }

    /// Delete version `version` of `name` (stored under `sort_key`) unless a
    /// label names it, and put it back if a label moved to it while it was
    /// being deleted. `Ok(false)`: there was no such item.
    pub(crate) async fn delete_unlabelled(
        &self,
        name: &SecretName,
        version: Version,
        sort_key: &str,
    ) -> Result<bool> {
        let labelled = |labels: &[(Label, Version)]| {
            labels
                .iter()
                .filter(|(_, v)| *v == version)
                .map(|(l, _)| l.to_string())
                .collect::<Vec<_>>()
        };
        if sort_key == doc_format::SORT_KEY {
            let item = self.inner.store.get_item(name.as_str(), sort_key).await?;
            if item.as_ref().is_some_and(doc_format::is_document) {
                // That is the label document, not a version.
                return Ok(false);
            }
        }
        let before = labelled(&self.protected_versions(name).await?);
        if !before.is_empty() {
            return Err(label_error(
                name,
                ErrorKind::Usage,
                &format!(
                    "version {version} is labelled {}: move or remove the label first \
                     (no label may name a missing version)",
                    before.join(", ")
                ),
            ));
        }
        let Some(item) = self.inner.store.delete_returning(name, sort_key).await? else {
            return Ok(false);
        };
        let after = labelled(&self.protected_versions(name).await?);
        if !after.is_empty() {
            self.inner.store.put_if_absent(&item).await?;
            return Err(label_error(
                name,
                ErrorKind::Conflict,
                &format!(
                    "label {} moved to version {version} while it was being deleted; the \
                     version was put back",
                    after.join(", ")
                ),
            ));
        }
        Ok(true)
    }

    /// Create the companion table that keeps the labels of this table, which is
    /// shared with credstash clients, and record it (`lockbox:labels` tag). A
    /// sealed table needs none: its labels live in each secret's partition.
    pub async fn setup_labels(&self) -> Result<crate::backend::SetupOutcome> {
        let Home::Companion(store) = self.label_home().await? else {
            return Err(Error::Table {
                table: self.inner.store.table().to_owned(),
                kind: ErrorKind::Usage,
                reason: "it is a sealed table, which keeps labels in each secret's own \
                         partition: there is nothing to set up"
                    .into(),
            });
        };
        let outcome = store.setup(&table::TableRecord::default(), &[]).await?;
        let record = table::TableRecord {
            labels: Some(store.table().to_owned()),
            ..table::TableRecord::default()
        };
        self.inner.store.update_record(&record).await?;
        self.inner.record.forget();
        Ok(outcome)
    }
}

/// The label document checked to belong to `name`.
fn checked_document(name: &SecretName, doc: LabelDocument) -> Result<LabelDocument> {
    if doc.name != *name {
        return Err(Error::integrity(
            name,
            "its label document names another secret",
        ));
    }
    Ok(doc)
}

/// Move `current` to `version` (whose item is `item`) in `doc`; the version it
/// left becomes `previous`.
fn move_current(
    doc: &mut LabelDocument,
    version: Version,
    item: &Attributes,
    moved: &mut Vec<(Label, Option<Version>, Option<Version>)>,
) {
    let old = doc.current();
    if let Some(old) = old.filter(|o| *o != version) {
        moved.push((
            Label::PREVIOUS,
            doc.labels.get(&Label::PREVIOUS).copied(),
            Some(old),
        ));
        doc.labels.insert(Label::PREVIOUS, old);
    }
    doc.labels.insert(Label::CURRENT, version);
    doc.set_copy(item);
    moved.push((Label::CURRENT, old, Some(version)));
}

/// Check `before` (where the label is now) against `condition` on the first
/// attempt, and against where the first attempt found it on later ones.
fn check_position(
    name: &SecretName,
    label: &Label,
    first: &mut Option<Option<Version>>,
    before: Option<Version>,
    condition: LabelCondition,
) -> Result<()> {
    let at = |v: Option<Version>| v.map_or("absent".to_owned(), |v| format!("on version {v}"));
    match *first {
        None => {
            let ok = match condition {
                LabelCondition::AsFound => true,
                LabelCondition::Absent => before.is_none(),
                LabelCondition::At(v) => before == Some(v),
            };
            if !ok {
                let wanted = match condition {
                    LabelCondition::At(v) => at(Some(v)),
                    _ => at(None),
                };
                return Err(label_error(
                    name,
                    ErrorKind::Conflict,
                    &format!(
                        "label {label} was expected {wanted} but is {}; nothing was changed",
                        at(before)
                    ),
                ));
            }
            *first = Some(before);
            Ok(())
        }
        Some(found) if found != before => Err(label_error(
            name,
            ErrorKind::Conflict,
            &format!(
                "label {label} moved from {} to {} while this move was being written (another \
                 operator moved it first); nothing was changed",
                at(found),
                at(before)
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn check_count(name: &SecretName, doc: &LabelDocument) -> Result<()> {
    if doc.labels.len() > crate::MAX_LABELS {
        return Err(label_error(
            name,
            ErrorKind::Usage,
            &format!("a secret carries at most {} labels", crate::MAX_LABELS),
        ));
    }
    Ok(())
}

fn stored_revision(doc: &Option<LabelDocument>) -> u64 {
    doc.as_ref().map_or(0, |d| d.revision)
}

fn unchanged(doc: &LabelDocument, derived: bool) -> LabelMove {
    LabelMove {
        labels: labels_of(doc, derived),
        moved: Vec::new(),
    }
}

/// The public view of a label document.
pub(crate) fn labels_of(doc: &LabelDocument, derived: bool) -> Labels {
    let mut labels = Labels::none(doc.name.clone());
    labels.revision = doc.revision;
    labels.labels = doc.labels.clone();
    labels.rotation = doc.rotation.clone();
    labels.updated_at = doc.updated_at;
    labels.derived = derived;
    labels
}

pub(crate) fn label_error(name: &SecretName, kind: ErrorKind, reason: &str) -> Error {
    Error::Label {
        name: name.clone(),
        kind,
        reason: reason.to_owned(),
    }
}

pub(crate) fn missing_version(name: &SecretName, version: Version) -> Error {
    label_error(
        name,
        ErrorKind::NotFound,
        &format!("it has no version {version}, so no label can name it"),
    )
}

fn kept_changing(name: &SecretName) -> Error {
    label_error(
        name,
        ErrorKind::Conflict,
        &format!(
            "its labels kept changing under {LABEL_ATTEMPTS} attempts to write them; nothing \
             was changed"
        ),
    )
}

pub(crate) fn companion_rule(name: &SecretName, label: &Label) -> Error {
    let why = if *label == Label::CURRENT {
        "`current` is always the highest version, which is what credstash clients read: move \
         it by writing a version (rollback writes an older value as a new version)"
    } else if *label == Label::PREVIOUS {
        "`previous` is always the version below `current`"
    } else {
        "`pending` is a staged value outside the table: stage it with rotate start and drop it \
         with rotate abort"
    };
    label_error(
        name,
        ErrorKind::Usage,
        &format!("in a table shared with credstash clients, {why}"),
    )
}

pub(crate) fn no_companion(name: &SecretName, companion: &str) -> Error {
    label_error(
        name,
        ErrorKind::Usage,
        &format!(
            "its table is shared with credstash clients, so its labels live in the companion \
             table {companion}, which does not exist: create it with `lockbox setup --labels` \
             (Lockbox::setup_labels)"
        ),
    )
}

/// A short random pause before another attempt at a contended write.
pub(crate) async fn backoff(attempt: u32) {
    let cap_ms = (1u64 << attempt.min(6)).min(50);
    let ms = rand::thread_rng().gen_range(0..=cap_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
