//! Copying every version of every secret of a table (credstash-format items,
//! `lockbox-sealed-1` items, sealed items of another store) into a sealed-mode
//! table, re-sealed for it, with the same version numbers and comments.
//!
//! Each version is read from the source (which is never written), sealed for the
//! target under the target's pinned key, written with a conditional put, read
//! back and opened with the data key just generated, and compared with the
//! source's value before it counts. A version the target already holds counts
//! as done when its value is the same, and is reported (never overwritten) when
//! it is not: run again after an interruption, a migration finishes the rest.

use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{
    item_error, round_trip, same_table, scan_all, scan_keys, table_error, ItemRef, Pacer,
    RunOptions, Unopened,
};
use crate::envelope::{self, DataKey, Envelope, Metadata, Sealing, WriteFormat};
use crate::format::Attributes;
use crate::table::{self, TableMode};
use crate::{EncryptionContext, Error, ErrorKind, ExposeSecret, Lockbox, Result, Secret};

/// What a migration did (or, with `dry_run`, would do), version by version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrateReport {
    /// Versions the source holds that were considered (after `names`).
    pub considered: usize,
    /// Versions written to the target, read back and compared.
    pub copied: Vec<ItemRef>,
    /// Versions the target held already, with the same value.
    pub unchanged: Vec<ItemRef>,
    /// Versions the target holds with another value, or in a form it cannot
    /// read: left alone, with why.
    pub conflicts: Vec<(ItemRef, String)>,
    /// Versions that need an encryption context that was not given (the stored
    /// context keys, when the format records them).
    pub needs_context: Vec<(ItemRef, Option<Vec<String>>)>,
    /// Versions that cannot be migrated (unreadable, refused, not a version the
    /// sealed format can hold), with why.
    pub failed: Vec<(ItemRef, String)>,
    /// With `dry_run`: versions that would be copied.
    pub to_copy: Vec<ItemRef>,
    /// With `dry_run`: versions the target holds already, which would be compared.
    pub to_check: Vec<ItemRef>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The target's store identity, which every copied item binds.
    pub target_store: String,
}

impl MigrateReport {
    /// Whether every version considered is in the target with its value.
    pub fn is_complete(&self) -> bool {
        self.conflicts.is_empty() && self.needs_context.is_empty() && self.failed.is_empty()
    }

    fn sort(&mut self) {
        self.copied.sort();
        self.unchanged.sort();
        self.conflicts.sort();
        self.needs_context.sort();
        self.failed.sort();
        self.to_copy.sort();
        self.to_check.sort();
    }
}

/// One version's outcome.
enum Outcome {
    Copied(ItemRef),
    Unchanged(ItemRef),
    Conflict(ItemRef, String),
    NeedsContext(ItemRef, Option<Vec<String>>),
    Failed(ItemRef, String),
}

/// What a migration writes with: the target's store identity and pinned key.
struct Target<'a> {
    lockbox: &'a Lockbox,
    store: String,
    pin: String,
}

impl Lockbox {
    /// Copy every version of every secret of this table (or of `options.names`)
    /// into `target`, a sealed-mode table, as described in the
    /// [module documentation](self). Nothing is written to this table.
    ///
    /// This lockbox must be able to read every item it should copy: build it
    /// with [`accept_credstash_items`](crate::LockboxBuilder::accept_credstash_items)
    /// and [`accept_sealed_v1`](crate::LockboxBuilder::accept_sealed_v1) when
    /// this table is in sealed mode. `target` writes under the key its table is
    /// pinned to.
    ///
    /// Fails before anything is written when the target is this table, does not
    /// exist, is not a sealed-mode table with a store identity and a key, or its
    /// key cannot wrap and unwrap a data key. Versions that cannot be migrated
    /// are reported; the run goes on. A failure of the run itself (access
    /// denied, the service unavailable for good) stops it with an error; what was
    /// copied before stays, and a new run finishes the rest.
    pub async fn migrate_to(
        &self,
        target: &Lockbox,
        options: &RunOptions,
    ) -> Result<MigrateReport> {
        let pacer = Arc::new(Pacer::new());
        let target = self.migrate_preflight(target, &pacer).await?;
        options.progress.phase("scanning", None);
        let (items, existing) = futures::try_join!(
            scan_all(&self.inner.store, options, false, &pacer),
            scan_keys(&target.lockbox.inner.store, options, &pacer)
        )?;
        let mut report = MigrateReport {
            considered: items.len(),
            dry_run: options.dry_run,
            target_store: target.store.clone(),
            ..MigrateReport::default()
        };
        // Parse everything first: what cannot be migrated is known before any call.
        let mut work = Vec::new();
        for item in items {
            let source = ItemRef::of(&item);
            if crate::format::labels::is_document(&item) {
                report.failed.push((
                    source,
                    "a label document: labels are not migrated (the target's versions are new \
                     items); set them again in the target with `lockbox label`"
                        .into(),
                ));
                continue;
            }
            let env = match Envelope::parse(&item) {
                Ok(env) => env,
                Err(e) => {
                    report.failed.push((source, format!("cannot be read: {e}")));
                    continue;
                }
            };
            if env.version().get() == 0 {
                report.failed.push((
                    source,
                    "version 0 (credstash putall's default) has no place in the sealed format, \
                     whose versions start at 1; store its value again as a new version"
                        .into(),
                ));
                continue;
            }
            let dest = ItemRef {
                name: env.name().to_string(),
                sort_key: env.version().sort_key(),
            };
            let present = existing.contains_key(&dest);
            if options.dry_run {
                if present {
                    report.to_check.push(source);
                } else {
                    report.to_copy.push(source);
                }
                continue;
            }
            work.push((item, env, source, dest, present));
        }
        if options.dry_run {
            report.sort();
            return Ok(report);
        }
        options.progress.phase("migrating", Some(work.len() as u64));
        let outcomes: Vec<Outcome> = stream::iter(work)
            .map(|(item, env, source, dest, present)| {
                let (target, pacer) = (&target, &pacer);
                async move {
                    let outcome = self
                        .migrate_one(target, &item, &env, source, dest, present, options, pacer)
                        .await;
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
                Outcome::NeedsContext(r, keys) => report.needs_context.push((r, keys)),
                Outcome::Failed(r, why) => report.failed.push((r, why)),
            }
        }
        report.sort();
        Ok(report)
    }

    /// Check the target before anything is written: another table, in sealed
    /// mode, recording a store identity and a key that wraps and unwraps.
    async fn migrate_preflight<'a>(
        &self,
        target: &'a Lockbox,
        pacer: &Pacer,
    ) -> Result<Target<'a>> {
        let name = target.inner.store.table().to_owned();
        let (source_table, target_table) = futures::try_join!(
            pacer.run(|| self.inner.store.describe_table()),
            pacer.run(|| target.inner.store.describe_table())
        )?;
        if same_table(
            self,
            target,
            source_table.arn.as_deref(),
            target_table.arn.as_deref(),
        )
        .await
        {
            return Err(table_error(
                &name,
                ErrorKind::Usage,
                "it is the source table: migrate into another table (a sealed-mode table \
                 made with `lockbox setup -t TABLE`)"
                    .into(),
            ));
        }
        target.forget_record();
        let record = target.table_record().await?;
        match record.table_mode(&name)? {
            Some(TableMode::Sealed) => {}
            Some(TableMode::Credstash) => {
                return Err(table_error(
                    &name,
                    ErrorKind::Usage,
                    "it is in credstash mode (shared with credstash clients, which cannot read \
                     sealed items): migrate into a sealed-mode table, made with `lockbox setup -t \
                     TABLE`"
                        .into(),
                ))
            }
            None => {
                return Err(table_error(
                    &name,
                    ErrorKind::Usage,
                    format!(
                        "it records no mode (no {} tag): migrate into a sealed-mode table, made \
                         with `lockbox setup -t TABLE` (which also records an empty table \
                         lockbox did not create)",
                        table::TAG_MODE
                    ),
                ))
            }
        }
        let store = record.store_id(&name)?.map(str::to_owned).ok_or_else(|| {
            table_error(
                &name,
                ErrorKind::Usage,
                format!(
                    "it records no store identity ({} tag), which every sealed item binds; run \
                     `lockbox -t TABLE setup` on it first",
                    table::TAG_STORE
                ),
            )
        })?;
        let pin = record.key_arn.clone().ok_or_else(|| {
            table_error(
                &name,
                ErrorKind::Usage,
                format!(
                    "it records no KMS key ({} tag); run `lockbox -t TABLE setup` on it first",
                    table::TAG_KEY
                ),
            )
        })?;
        let writer = pacer.run(|| target.inner.keys.writer_key_arn()).await?;
        if !table::same_key(&pin, &writer) {
            return Err(table_error(
                &name,
                ErrorKind::Usage,
                format!(
                    "it is pinned to KMS key {pin}, but the key for writing to it is {writer}; \
                     write with the pinned key (-k {pin})"
                ),
            ));
        }
        let used = round_trip(target.inner.keys.as_ref(), pacer)
            .await
            .map_err(|e| Error::KeyUnavailable {
                key: pin.clone(),
                reason: format!("a test round trip (GenerateDataKey, Decrypt) failed: {e}"),
                source: Some(Box::new(e)),
            })?;
        if let Some(used) = used.filter(|u| !table::same_key(&pin, u)) {
            return Err(table_error(
                &name,
                ErrorKind::Integrity,
                format!("it is pinned to {pin}, but KMS generated a data key under {used}"),
            ));
        }
        Ok(Target {
            lockbox: target,
            store,
            pin,
        })
    }

    #[allow(clippy::too_many_arguments)] // one version's inputs, each distinct
    async fn migrate_one(
        &self,
        target: &Target<'_>,
        item: &Attributes,
        env: &Envelope,
        source: ItemRef,
        dest: ItemRef,
        present: bool,
        options: &RunOptions,
        pacer: &Pacer,
    ) -> Result<Outcome> {
        let (secret, context) = match self.open_with(item, env, &options.contexts, pacer).await? {
            Ok(opened) => opened,
            Err(Unopened::NeedsContext(keys)) => return Ok(Outcome::NeedsContext(source, keys)),
            Err(Unopened::Refused(e)) => {
                return Ok(Outcome::Failed(source, format!("cannot be read: {e}")))
            }
        };
        if present {
            if let Some(outcome) =
                compare_existing(target, &dest, &secret, &context, &source, pacer).await?
            {
                return Ok(outcome);
            }
            // Gone since the scan: write it.
        }
        let metadata = Metadata {
            comment: env.metadata().comment.clone().filter(|c| !c.is_empty()),
            created_at: Some(env.metadata().created_at.unwrap_or_else(unix_now)),
        };
        let sealing = Sealing {
            format: WriteFormat::Sealed,
            name: env.name(),
            version: env.version(),
            context: &context,
            store: Some(&target.store),
            metadata: &metadata,
        };
        let request = match envelope::data_key_request(&sealing) {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::Failed(source, format!("cannot be sealed: {e}"))),
        };
        let keys = &target.lockbox.inner.keys;
        let key: DataKey = pacer
            .run(|| keys.generate_data_key(request.bytes(), request.context()))
            .await?;
        if let Some(used) = key
            .key_id
            .as_deref()
            .filter(|u| !table::same_key(&target.pin, u))
        {
            return Err(table_error(
                target.lockbox.inner.store.table(),
                ErrorKind::Integrity,
                format!(
                    "it is pinned to {}, but KMS generated a data key under {used} (the key's \
                     alias was repointed?); nothing more is written",
                    target.pin
                ),
            ));
        }
        let sealed = match envelope::seal(&request, secret.value.expose_secret(), &key) {
            Ok(i) => i,
            Err(e) => return Ok(Outcome::Failed(source, format!("cannot be sealed: {e}"))),
        };
        let store = &target.lockbox.inner.store;
        let written = pacer.run(|| store.put_if_absent(&sealed)).await?;
        let back = pacer
            .run(|| store.get_item(&dest.name, &dest.sort_key))
            .await?;
        let Some(back) = back else {
            return Ok(Outcome::Failed(
                source,
                "written, but not found when read back; run the migration again".into(),
            ));
        };
        if back != sealed {
            if written {
                return Ok(Outcome::Conflict(
                    source,
                    "written, then found changed when read back (another writer?); left alone"
                        .into(),
                ));
            }
            // Someone else's version under this number (written since the scan).
            return Ok(
                compare_existing(target, &dest, &secret, &context, &source, pacer)
                    .await?
                    .unwrap_or_else(|| {
                        Outcome::Failed(
                            source.clone(),
                            "the target's version vanished while compared; run again".into(),
                        )
                    }),
            );
        }
        // Ours (written now, or by an attempt whose answer was lost): it must open
        // with the data key we hold and give the source's value.
        let check = Envelope::parse(&back)
            .and_then(|env| {
                let kms = env.kms_context(&context)?;
                env.open(&kms, &key.plaintext)
            })
            .map(|value| value == secret.value);
        match check {
            Ok(true) => Ok(Outcome::Copied(source)),
            Ok(false) => Ok(Outcome::Failed(
                source,
                "read back with another value than the source's; the target's version needs \
                 checking"
                    .into(),
            )),
            Err(e) => Ok(Outcome::Failed(
                source,
                format!("read back, but does not open: {e}"),
            )),
        }
    }
}

/// Compare the target's version with the source's value: unchanged, a conflict,
/// or `None` when the target holds no such version (any more).
async fn compare_existing(
    target: &Target<'_>,
    dest: &ItemRef,
    secret: &Secret,
    context: &EncryptionContext,
    source: &ItemRef,
    pacer: &Pacer,
) -> Result<Option<Outcome>> {
    let store = &target.lockbox.inner.store;
    let Some(existing) = pacer
        .run(|| store.get_item(&dest.name, &dest.sort_key))
        .await?
    else {
        return Ok(None);
    };
    let opened = pacer
        .run(|| target.lockbox.open_item(&existing, context))
        .await;
    Ok(Some(match opened {
        Ok(theirs) if theirs.value == secret.value => Outcome::Unchanged(source.clone()),
        Ok(_) => Outcome::Conflict(
            source.clone(),
            format!(
                "the target holds version {} with another value; it is never overwritten",
                secret.version
            ),
        ),
        Err(e) if item_error(&e) => Outcome::Conflict(
            source.clone(),
            format!(
                "the target holds version {} and it cannot be read ({e}); it is never \
                 overwritten",
                secret.version
            ),
        ),
        Err(e) => return Err(e),
    }))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
