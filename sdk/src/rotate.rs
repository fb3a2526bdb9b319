//! Staged rotation, as AWS Secrets Manager's rotation runs it in four steps:
//! **create** the new value as a `pending` version ([`Lockbox::rotate_start`]),
//! **set** it where it is used (the caller: `ALTER USER ... PASSWORD`), **test**
//! it (the caller reads it with [`Lockbox::get_label`] `pending` and logs in),
//! then **finish** ([`Lockbox::rotate_finish`]: `pending` becomes `current`, the
//! old `current` becomes `previous`) or **abort** ([`Lockbox::rotate_abort`]).
//! Un-pinned readers never get the pending value: they read `current` until the
//! rotation finishes.
//!
//! Every step is idempotent and names its rotation by a token: starting again
//! with the token of the rotation in progress returns it, finishing or aborting
//! one already finished or aborted is a no-op that says so
//! ([`RotationStep::changed`]), and a step given another rotation's token
//! fails with [`ErrorKind::Conflict`] rather than act on it.
//!
//! In a table shared with credstash, the pending value is staged in the
//! companion table (credstash clients never see it) and `finish` writes it into
//! the table as the next version, so `current` stays the highest version.

use std::sync::Arc;

use rand::RngCore;

use crate::backend::SecretStore;
use crate::envelope::{self, Metadata, Sealing, WriteFormat};
use crate::format::labels::LabelDocument;
use crate::format::{attr, credstash, Attr, Attributes};
use crate::label::{RotationRecord, RotationState};
use crate::labels::{backoff, label_error, labels_of, no_companion, Home, LABEL_ATTEMPTS};
use crate::lockbox::check_new_identity;
use crate::{
    EncryptionContext, Error, ErrorKind, ExposeSecret, FormatPolicy, Label, Labels, Lockbox,
    PutOptions, Result, SecretName, SecretValue, Version,
};

/// The longest rotation token, in bytes.
pub const MAX_TOKEN_LEN: usize = 128;

/// Options for [`Lockbox::rotate_start`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RotateOptions {
    /// The rotation's token (letters, digits, `-`, `_`, `.`, `:`; at most
    /// [`MAX_TOKEN_LEN`] bytes), which makes a re-run of the step a no-op; one
    /// is drawn at random when absent (a re-run then finds a rotation in
    /// progress and says so).
    pub token: Option<String>,
    /// The encryption context to bind.
    pub context: EncryptionContext,
    /// A comment stored beside the new version (not encrypted).
    pub comment: Option<String>,
}

/// Where a staged rotation stands after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationStep {
    /// The secret.
    pub name: SecretName,
    /// The rotation's token.
    pub token: String,
    /// Where it is now.
    pub state: RotationState,
    /// The version staged (`pending`), made `current` by finishing, or dropped
    /// by aborting; in a table shared with credstash, finishing writes the value
    /// as the next version, which this names.
    pub version: Option<Version>,
    /// The secret's labels afterwards.
    pub labels: Labels,
    /// Whether this step changed anything (`false`: it had been done already).
    pub changed: bool,
}

impl Lockbox {
    /// Step 1 of a staged rotation: store `value` as a new version of `name`
    /// labelled `pending`, leaving `current` where it is (the secret's highest
    /// version, for a secret that had no labels), so un-pinned readers keep the
    /// old value. Fails with [`ErrorKind::Conflict`] while another rotation of
    /// the secret is in progress. With the token of the one in progress, or of
    /// the last one if it is finished or aborted, returns it unchanged
    /// ([`RotationStep::changed`] is `false`; its state says where it is).
    pub async fn rotate_start(
        &self,
        name: &SecretName,
        value: &SecretValue,
        options: &RotateOptions,
    ) -> Result<RotationStep> {
        check_new_identity(name, &options.context)?;
        let token = match &options.token {
            Some(t) => check_token(t)?.to_owned(),
            None => random_token(),
        };
        match self.label_home().await? {
            Home::InTable => self.start_in_table(name, value, options, token).await,
            Home::Companion(store) => self.start_staged(&store, name, value, options, token).await,
        }
    }

    /// Step 4 of a staged rotation: `pending` becomes `current`, and the version
    /// `current` left becomes `previous`, in one conditional write. With a
    /// token, only that rotation is finished. Finishing one already finished is
    /// a no-op ([`RotationStep::changed`] is `false`). Refused (conflict) when a
    /// version newer than the pending one was made `current` since the rotation
    /// started (a `put`): abort the rotation and start again.
    pub async fn rotate_finish(
        &self,
        name: &SecretName,
        token: Option<&str>,
    ) -> Result<RotationStep> {
        match self.label_home().await? {
            Home::InTable => self.finish_in_table(name, token).await,
            Home::Companion(store) => self.finish_staged(&store, name, token).await,
        }
    }

    /// Abandon a staged rotation: `pending` is removed and the version it named
    /// (whose value must never be used) deleted; `current` stays. With a token,
    /// only that rotation is aborted. Aborting one already aborted is a no-op.
    pub async fn rotate_abort(
        &self,
        name: &SecretName,
        token: Option<&str>,
    ) -> Result<RotationStep> {
        let home = self.label_home().await?;
        let store = match &home {
            Home::InTable => self.inner.store.clone(),
            Home::Companion(store) => store.clone(),
        };
        let in_table = matches!(home, Home::InTable);
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let stored = self.read_document(&store, name).await?;
            let Some(mut doc) = stored else {
                return Err(no_rotation(name));
            };
            let record = check_rotation(name, &doc, token)?;
            if record.state != RotationState::Pending {
                if record.state == RotationState::Aborted {
                    return Ok(step(&doc, &record, None, false, !in_table));
                }
                return Err(no_rotation(name));
            }
            let expected = doc.revision;
            let pending = doc.labels.remove(&Label::PENDING);
            doc.rotation = Some(RotationRecord {
                token: record.token.clone(),
                state: RotationState::Aborted,
            });
            if !self
                .commit_document(&store, &mut doc, Some(expected))
                .await?
            {
                continue;
            }
            self.invalidate(name);
            if let Some(p) = pending {
                if in_table {
                    // Unlabelled now; deleted unless a label moved to it meanwhile.
                    let _ = self.delete_unlabelled(name, p, &p.sort_key()).await;
                } else {
                    store.delete(name, &p.sort_key()).await?;
                }
            }
            let state = RotationRecord {
                token: record.token,
                state: RotationState::Aborted,
            };
            return Ok(step(&doc, &state, pending, true, !in_table));
        }
        Err(kept_changing(name))
    }

    async fn start_in_table(
        &self,
        name: &SecretName,
        value: &SecretValue,
        options: &RotateOptions,
        token: String,
    ) -> Result<RotationStep> {
        let store = self.inner.store.clone();
        // Record the rotation (and pin `current`) before its version exists, so
        // that no un-pinned reader ever takes the new version for the highest.
        let mut recorded = false;
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let stored = self.read_document(&store, name).await?;
            let expected = stored.as_ref().map(|d| d.revision);
            let mut doc = stored.unwrap_or_else(|| LabelDocument::new(name.clone()));
            if let Some(done) = done_before(&doc, &token) {
                return Ok(done);
            }
            if let Some(r) = in_progress(&doc) {
                if r.token != token {
                    return Err(busy(name, &doc, r));
                }
                if doc.pending().is_some() {
                    return Ok(step(&doc, r, doc.pending(), false, false));
                }
                // Started with this token, interrupted before its version was
                // labelled: carry on.
                recorded = true;
                break;
            }
            if doc.current().is_none() {
                if let Some(highest) = self.highest_except(name, &[]).await? {
                    let item = self.version_item(name, highest).await?;
                    doc.labels.insert(Label::CURRENT, highest);
                    doc.set_copy(&item);
                }
            }
            doc.rotation = Some(RotationRecord {
                token: token.clone(),
                state: RotationState::Pending,
            });
            if self.commit_document(&store, &mut doc, expected).await? {
                recorded = true;
                break;
            }
        }
        if !recorded {
            return Err(kept_changing(name));
        }
        let put = PutOptions {
            version: None,
            context: options.context.clone(),
            comment: options.comment.clone(),
            format: None,
        };
        let (version, _) = self.write_version(name, value, &put, false).await?;
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let Some(mut doc) = self.read_document(&store, name).await? else {
                return Err(label_error(
                    name,
                    ErrorKind::Conflict,
                    &format!(
                        "its labels were deleted while version {version} was being staged; \
                         that version is left unlabelled"
                    ),
                ));
            };
            let record = match in_progress(&doc) {
                Some(r) if r.token == token => r.clone(),
                _ => {
                    let _ = self
                        .delete_unlabelled(name, version, &version.sort_key())
                        .await;
                    return Err(label_error(
                        name,
                        ErrorKind::Conflict,
                        "its rotation was finished or aborted by someone else while the new \
                         value was being stored; the new version was removed",
                    ));
                }
            };
            let expected = doc.revision;
            doc.labels.insert(Label::PENDING, version);
            if self
                .commit_document(&store, &mut doc, Some(expected))
                .await?
            {
                self.invalidate(name);
                return Ok(step(&doc, &record, Some(version), true, false));
            }
        }
        Err(kept_changing(name))
    }

    async fn finish_in_table(
        &self,
        name: &SecretName,
        token: Option<&str>,
    ) -> Result<RotationStep> {
        let store = self.inner.store.clone();
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let Some(mut doc) = self.read_document(&store, name).await? else {
                return Err(no_rotation(name));
            };
            let record = check_rotation(name, &doc, token)?;
            match record.state {
                RotationState::Finished => {
                    return Ok(step(&doc, &record, doc.current(), false, false))
                }
                RotationState::Aborted => return Err(no_rotation(name)),
                RotationState::Pending => {}
            }
            let Some(pending) = doc.pending() else {
                return Err(label_error(
                    name,
                    ErrorKind::Conflict,
                    "its rotation has no pending version yet (its start did not complete): \
                     start it again with the same token, or abort it",
                ));
            };
            if let Some(current) = doc.current().filter(|c| *c > pending) {
                return Err(label_error(
                    name,
                    ErrorKind::Conflict,
                    &format!(
                        "version {current} was made current after the rotation staged version \
                         {pending}; finishing would put the older value back: abort the \
                         rotation and start it again"
                    ),
                ));
            }
            let item = self.version_item(name, pending).await?;
            let expected = doc.revision;
            let old = doc.current();
            if let Some(old) = old.filter(|o| *o != pending) {
                doc.labels.insert(Label::PREVIOUS, old);
            }
            doc.labels.insert(Label::CURRENT, pending);
            doc.labels.remove(&Label::PENDING);
            doc.set_copy(&item);
            let finished = RotationRecord {
                token: record.token.clone(),
                state: RotationState::Finished,
            };
            doc.rotation = Some(finished.clone());
            if self
                .commit_document(&store, &mut doc, Some(expected))
                .await?
            {
                self.invalidate(name);
                return Ok(step(&doc, &finished, Some(pending), true, false));
            }
        }
        Err(kept_changing(name))
    }

    /// Step 1 in a table shared with credstash: the value is sealed in
    /// credstash's format and staged in the companion table, at the version it
    /// would take now.
    async fn start_staged(
        &self,
        store: &Arc<dyn SecretStore>,
        name: &SecretName,
        value: &SecretValue,
        options: &RotateOptions,
        token: String,
    ) -> Result<RotationStep> {
        if let Some(doc) = self.read_document(store, name).await? {
            if let Some(mut done) = done_before(&doc, &token) {
                done.labels.derived = true;
                if done.state == RotationState::Finished {
                    done.version = self.highest_version(name).await?;
                }
                return Ok(done);
            }
            if let Some(r) = in_progress(&doc) {
                if r.token != token || doc.pending().is_none() {
                    return Err(busy(name, &doc, r));
                }
                return Ok(step(&doc, r, doc.pending(), false, true));
            }
        }
        let (format, store_id, pin) = self.write_target(FormatPolicy::Auto).await?;
        if !matches!(format, WriteFormat::Credstash(_)) {
            return Err(label_error(
                name,
                ErrorKind::Usage,
                "its table writes sealed items, which credstash clients cannot read, so its \
                 labels are not kept in a companion table",
            ));
        }
        let version = crate::lockbox::next_after(name, self.head(name).await?.latest.as_ref())?;
        let metadata = Metadata {
            comment: options.comment.clone().filter(|c| !c.is_empty()),
            created_at: None,
        };
        let sealing = Sealing {
            format,
            name,
            version,
            context: &options.context,
            store: store_id.as_deref(),
            metadata: &metadata,
        };
        let request = envelope::data_key_request(&sealing)?;
        let key = self
            .inner
            .keys
            .generate_data_key(request.bytes(), request.context())
            .await?;
        self.check_writer_key(pin.as_deref(), key.key_id.as_deref())?;
        let item = envelope::seal(&request, value.expose_secret(), &key)?;
        let staged = match store.put_new(&item).await {
            Ok(()) => true,
            Err(Error::TableNotFound { .. }) => return Err(no_companion(name, store.table())),
            Err(Error::VersionExists { .. }) => false,
            Err(e) => return Err(e),
        };
        if !staged {
            // What an interrupted start left there (no document names it): replace it.
            store.delete(name, &version.sort_key()).await?;
            store.put_new(&item).await?;
        }
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let stored = self.read_document(store, name).await?;
            let expected = stored.as_ref().map(|d| d.revision);
            let mut doc = stored.unwrap_or_else(|| LabelDocument::new(name.clone()));
            if let Some(r) = in_progress(&doc) {
                store.delete(name, &version.sort_key()).await?;
                return Err(busy(name, &doc, r));
            }
            doc.labels.insert(Label::PENDING, version);
            let record = RotationRecord {
                token: token.clone(),
                state: RotationState::Pending,
            };
            doc.rotation = Some(record.clone());
            if self.commit_document(store, &mut doc, expected).await? {
                self.invalidate(name);
                return Ok(step(&doc, &record, Some(version), true, true));
            }
        }
        Err(kept_changing(name))
    }

    /// Step 4 in a table shared with credstash: the staged item is written into
    /// the table as its next version (credstash's format binds no version, so it
    /// moves as it is), then the rotation is recorded as finished.
    async fn finish_staged(
        &self,
        store: &Arc<dyn SecretStore>,
        name: &SecretName,
        token: Option<&str>,
    ) -> Result<RotationStep> {
        for attempt in 0..LABEL_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let Some(mut doc) = self.read_document(store, name).await? else {
                return Err(no_rotation(name));
            };
            let record = check_rotation(name, &doc, token)?;
            match record.state {
                RotationState::Finished => {
                    let current = self.highest_version(name).await?;
                    return Ok(step(&doc, &record, current, false, true));
                }
                RotationState::Aborted => return Err(no_rotation(name)),
                RotationState::Pending => {}
            }
            let Some(pending) = doc.pending() else {
                return Err(no_rotation(name));
            };
            let staged = store.get_version(name, pending).await?.ok_or_else(|| {
                label_error(
                    name,
                    ErrorKind::NotFound,
                    &format!(
                        "its pending value (staged as version {pending}) is missing from \
                             the companion table {}; abort the rotation",
                        store.table()
                    ),
                )
            })?;
            let written = self.write_staged(name, &staged, pending).await?;
            let expected = doc.revision;
            doc.labels.remove(&Label::PENDING);
            let finished = RotationRecord {
                token: record.token.clone(),
                state: RotationState::Finished,
            };
            doc.rotation = Some(finished.clone());
            if !self
                .commit_document(store, &mut doc, Some(expected))
                .await?
            {
                continue;
            }
            store.delete(name, &pending.sort_key()).await?;
            self.invalidate(name);
            return Ok(step(&doc, &finished, Some(written), true, true));
        }
        Err(kept_changing(name))
    }

    /// Write the staged credstash item `staged` into the table at the version
    /// it was staged as, `pending` (the one after the highest when the
    /// rotation started), or find it written already by a finish that was
    /// interrupted (the version then carries its wrapped key, which no one else
    /// has). A version written since the rotation started is live (credstash
    /// clients write too) and would be buried: that is a conflict.
    async fn write_staged(
        &self,
        name: &SecretName,
        staged: &Attributes,
        pending: Version,
    ) -> Result<Version> {
        let key = staged.get(credstash::KEY);
        let ours = |item: Option<Attributes>| {
            item.as_ref().and_then(|t| t.get(credstash::KEY)) == key && key.is_some()
        };
        let overtaken = |v: Version| {
            label_error(
                name,
                ErrorKind::Conflict,
                &format!(
                    "version {v} was written after the rotation staged its value (as version \
                     {pending}); finishing would put the staged value over it: abort the \
                     rotation and start it again"
                ),
            )
        };
        if let Some(v) = self.head(name).await?.latest.and_then(|l| l.version) {
            if v >= pending {
                if v == pending && ours(self.inner.store.get_version(name, v).await?) {
                    return Ok(v);
                }
                return Err(overtaken(v));
            }
        }
        let mut item = staged.clone();
        item.insert(attr::VERSION.into(), Attr::S(pending.sort_key()));
        match self.inner.store.put_new(&item).await {
            Ok(()) => Ok(pending),
            Err(Error::VersionExists { .. }) => {
                if ours(self.inner.store.get_version(name, pending).await?) {
                    Ok(pending)
                } else {
                    Err(overtaken(pending))
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// The rotation `token` names, when it is the one recorded and it is over: a
/// re-run of its first step, which does nothing more.
fn done_before(doc: &LabelDocument, token: &str) -> Option<RotationStep> {
    let r = doc.rotation.as_ref().filter(|r| r.token == token)?;
    let version = match r.state {
        RotationState::Pending => return None,
        RotationState::Finished => doc.current(),
        RotationState::Aborted => None,
    };
    Some(step(doc, r, version, false, false))
}

fn in_progress(doc: &LabelDocument) -> Option<&RotationRecord> {
    doc.rotation
        .as_ref()
        .filter(|r| r.state == RotationState::Pending)
}

/// The rotation recorded in `doc`, which must be the one `token` names.
fn check_rotation(
    name: &SecretName,
    doc: &LabelDocument,
    token: Option<&str>,
) -> Result<RotationRecord> {
    let record = doc.rotation.clone().ok_or_else(|| no_rotation(name))?;
    if let Some(t) = token {
        if t != record.token {
            return Err(label_error(
                name,
                ErrorKind::Conflict,
                &format!(
                    "its rotation is {:?} ({}), not {:?}; nothing was changed",
                    crate::escape_untrusted(&record.token),
                    record.state,
                    crate::escape_untrusted(t)
                ),
            ));
        }
    }
    Ok(record)
}

fn busy(name: &SecretName, doc: &LabelDocument, r: &RotationRecord) -> Error {
    label_error(
        name,
        ErrorKind::Conflict,
        &format!(
            "a rotation is in progress ({}token {:?}): finish or abort it first",
            doc.pending()
                .map(|p| format!("pending version {p}, "))
                .unwrap_or_default(),
            crate::escape_untrusted(&r.token)
        ),
    )
}

fn no_rotation(name: &SecretName) -> Error {
    label_error(name, ErrorKind::NotFound, "it has no rotation in progress")
}

fn kept_changing(name: &SecretName) -> Error {
    label_error(
        name,
        ErrorKind::Conflict,
        &format!("its labels kept changing under {LABEL_ATTEMPTS} attempts to write them"),
    )
}

fn step(
    doc: &LabelDocument,
    record: &RotationRecord,
    version: Option<Version>,
    changed: bool,
    derived: bool,
) -> RotationStep {
    RotationStep {
        name: doc.name.clone(),
        token: record.token.clone(),
        state: record.state,
        version,
        labels: labels_of(doc, derived),
        changed,
    }
}

fn check_token(token: &str) -> Result<&str> {
    let ok = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(token)
    } else {
        Err(Error::InvalidValue {
            reason: format!(
                "a rotation token is 1 to {MAX_TOKEN_LEN} letters, digits, `-`, `_`, `.` or `:`"
            ),
        })
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
