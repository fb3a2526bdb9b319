//! Moving every item's wrapped data key to a new KMS key, in place.
//!
//! KMS `ReEncrypt` moves a data key from one master key to another without the
//! key leaving KMS, under the item's own encryption context on both sides (for a
//! sealed item, its binding context: [`Envelope::kms_context`]). Only the `key`
//! attribute changes, with a conditional update (`key = :old`): the ciphertext,
//! the versions, the comments and credstash's ability to read the table stay as
//! they were, and an item changed meanwhile is left for the next pass.
//!
//! **Readers must trust both keys while this runs.** An item moved to the new
//! key is read with it; the table stays pinned to the old key until every item
//! has moved, and then the pin moves to the new key. A reader that trusts both
//! keys explicitly ([`AwsOptions::trusted_keys`](crate::AwsOptions::trusted_keys),
//! `--trust-key`) reads every item before, during and after. Writers keep
//! writing under the old key until the pin moves; after it, a writer must write
//! under the new key (point the alias at it, or change `-k`), and a writer still
//! on the old key is refused rather than writing an item readers would refuse.
//!
//! The run goes in passes: scan, move every item not yet under the new key,
//! scan again (items written meanwhile), until a pass finds nothing to move.
//! Then the pin moves, and a last pass moves what writers that had not yet seen
//! the new pin wrote. Run again after an interruption, it goes on where it
//! stopped: an item already under the new key is recognised (its `ReEncrypt`
//! from the new key succeeds) and left as it is.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{item_error, round_trip, scan_all, ItemRef, Pacer, RunOptions};
use crate::backend::KeyService;
use crate::envelope::{Envelope, ItemFormat};
use crate::format::labels::{self, LabelDocument};
use crate::format::{credstash, Attr, Attributes};
use crate::table::{self, TableRecord};
use crate::{Error, ErrorKind, Lockbox, Result};

/// Passes before the pin moves, at most: each one after the first only moves
/// what was written (or changed) while the previous one ran.
const MAX_PASSES: u32 = 5;

/// Options of [`Lockbox::rewrap`] beyond the common ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapOptions {
    /// The keys items may be moved from (ARNs, ids or aliases), tried in order.
    /// Default: the key the table is pinned to, or else this lockbox's key. An
    /// item under any other key is reported and left alone, so that a rewrap
    /// never moves an item someone wrapped under a key the table does not trust.
    pub from_keys: Vec<String>,
    /// Move the table's key pin to the new key once every item is under it
    /// (default true).
    pub move_pin: bool,
}

impl RewrapOptions {
    /// Move items from the table's key, and the pin once they are all moved.
    pub fn new() -> Self {
        Self {
            from_keys: Vec::new(),
            move_pin: true,
        }
    }
}

/// What a rewrap did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Items considered (after `names`), in the first pass.
    pub considered: usize,
    /// The new key's ARN.
    pub to_key: String,
    /// The keys items were moved from.
    pub from_keys: Vec<String>,
    /// Items moved to the new key.
    pub rewrapped: Vec<ItemRef>,
    /// Items that were under the new key already.
    pub unchanged: Vec<ItemRef>,
    /// Items that need an encryption context that was not given.
    pub needs_context: Vec<(ItemRef, Option<Vec<String>>)>,
    /// Items that could not be moved, with why (unreadable, under a key not
    /// among `from_keys`, changed on every pass).
    pub failed: Vec<(ItemRef, String)>,
    /// With `dry_run`: the items that would be moved (or checked).
    pub to_rewrap: Vec<ItemRef>,
    /// The pin before the run (`None`: the table records no key).
    pub pin_before: Option<String>,
    /// Whether the pin was moved to the new key by this run.
    pub pin_moved: bool,
    /// Why the pin was not moved, when the table records one that is not the new key.
    pub pin_kept: Option<String>,
    /// Items moved after the pin moved (written by writers that had not seen it).
    pub moved_after_pin: usize,
    /// Passes run.
    pub passes: u32,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl RewrapReport {
    /// Whether every item considered is under the new key.
    pub fn is_complete(&self) -> bool {
        self.needs_context.is_empty() && self.failed.is_empty()
    }
}

/// One item's outcome.
enum Outcome {
    /// Moved; its `key` is now this.
    Rewrapped(ItemRef, Attr),
    /// Under the new key already.
    Unchanged(ItemRef, Attr),
    /// Its key changed (or it was deleted) between the scan and the update.
    Raced(ItemRef),
    NeedsContext(ItemRef, Option<Vec<String>>),
    Failed(ItemRef, String),
}

impl Lockbox {
    /// Move every item's data key (or `options.names`') to the key of `to` with
    /// KMS `ReEncrypt`, as the [module documentation](self) describes, and then
    /// the table's pin. `to` is a key service writing under the new key.
    ///
    /// Checks first that the new key is enabled and wraps and unwraps a data key;
    /// nothing is changed otherwise.
    pub async fn rewrap(
        &self,
        to: &dyn KeyService,
        rewrap: &RewrapOptions,
        options: &RunOptions,
    ) -> Result<RewrapReport> {
        let pacer = Arc::new(Pacer::new());
        pacer.run(|| self.inner.store.describe_table()).await?;
        let described = pacer.run(|| to.describe_key()).await?;
        if !described.enabled {
            return Err(Error::KeyUnavailable {
                key: described.arn.clone(),
                reason: format!(
                    "it is {}; enable it before moving items to it",
                    described.state.as_deref().unwrap_or("not enabled")
                ),
                source: None,
            });
        }
        let new_key = described.arn;
        round_trip(to, &pacer)
            .await
            .map_err(|e| Error::KeyUnavailable {
                key: new_key.clone(),
                reason: format!(
                    "a test round trip (GenerateDataKey, Decrypt) failed: {e}; nothing was changed"
                ),
                source: Some(Box::new(e)),
            })?;
        self.forget_record();
        let record = self.table_record().await?;
        let mut from: Vec<String> = if rewrap.from_keys.is_empty() {
            match &record.key_arn {
                Some(pin) => vec![pin.clone()],
                None => vec![pacer.run(|| self.inner.keys.writer_key_arn()).await?],
            }
        } else {
            rewrap.from_keys.clone()
        };
        let mut seen = HashSet::new();
        from.retain(|k| !table::same_key(k, &new_key) && seen.insert(k.clone()));
        // The new key last: a ReEncrypt from it recognises an item already moved.
        let mut sources = from.clone();
        sources.push(new_key.clone());
        let mut report = RewrapReport {
            to_key: new_key.clone(),
            from_keys: from,
            pin_before: record.key_arn.clone(),
            dry_run: options.dry_run,
            ..RewrapReport::default()
        };
        let run = Run {
            lockbox: self,
            sources: &sources,
            new_key: &new_key,
            options,
            pacer: &pacer,
        };
        // Items known to be under the new key (by their `key` attribute), and
        // items that cannot be moved whatever the pass.
        let mut done: HashMap<ItemRef, Attr> = HashMap::new();
        let mut stuck: HashSet<ItemRef> = HashSet::new();
        let mut raced: HashSet<ItemRef> = HashSet::new();
        loop {
            report.passes += 1;
            let moved = run
                .pass(&mut report, &mut done, &mut stuck, &mut raced)
                .await?;
            if options.dry_run {
                break;
            }
            if moved == 0 || report.passes >= MAX_PASSES {
                break;
            }
        }
        for r in raced.iter().filter(|r| !done.contains_key(*r)) {
            report.failed.push((
                r.clone(),
                "it changed between reading and updating on every pass; run again".into(),
            ));
        }
        let pin_to_move = record
            .key_arn
            .as_ref()
            .filter(|pin| !table::same_key(pin, &new_key));
        report.pin_kept = match pin_to_move {
            None => None,
            Some(_) if options.dry_run => Some("a dry run changes nothing".into()),
            Some(_) if !rewrap.move_pin => Some("asked to keep it".into()),
            Some(_) if options.names.is_some() => Some(
                "only the secrets matching --names were moved; the others may still be under \
                 the old key"
                    .into(),
            ),
            Some(_) if !report.is_complete() => {
                Some("some items are not under the new key (listed)".into())
            }
            Some(_) => None,
        };
        if pin_to_move.is_some() && report.pin_kept.is_none() {
            let moved = pin_record(new_key.clone());
            pacer.run(|| self.inner.store.update_record(&moved)).await?;
            self.forget_record();
            report.pin_moved = true;
            // Writers that read the old pin before it moved may still have written
            // under the old key: move those too.
            let before = report.rewrapped.len();
            report.passes += 1;
            run.pass(&mut report, &mut done, &mut stuck, &mut raced)
                .await?;
            report.moved_after_pin = report.rewrapped.len() - before;
        }
        report.rewrapped.sort();
        report.rewrapped.dedup();
        report.unchanged.retain(|r| !report.rewrapped.contains(r));
        report.unchanged.sort();
        report.unchanged.dedup();
        report.needs_context.sort();
        report.failed.sort();
        report.to_rewrap.sort();
        Ok(report)
    }
}

/// The wrapped data key an item carries (a label document: its copy's).
fn wrapped_key(item: &Attributes) -> Option<&Attr> {
    if labels::is_document(item) {
        item.get(&format!("{}{}", labels::COPY_PREFIX, credstash::KEY))
    } else {
        item.get(credstash::KEY)
    }
}

fn pin_record(key: String) -> TableRecord {
    TableRecord {
        mode: None,
        store: None,
        key_arn: Some(key),
        labels: None,
    }
}

/// What every pass of one rewrap shares.
struct Run<'a> {
    lockbox: &'a Lockbox,
    sources: &'a [String],
    new_key: &'a str,
    options: &'a RunOptions,
    pacer: &'a Arc<Pacer>,
}

impl Run<'_> {
    /// Scan and move every item not known to be under the new key; the number
    /// of items moved or found changed meanwhile (0: nothing left to do).
    async fn pass(
        &self,
        report: &mut RewrapReport,
        done: &mut HashMap<ItemRef, Attr>,
        stuck: &mut HashSet<ItemRef>,
        raced: &mut HashSet<ItemRef>,
    ) -> Result<usize> {
        let options = self.options;
        options
            .progress
            .phase(&format!("scanning (pass {})", report.passes), None);
        let items = scan_all(&self.lockbox.inner.store, options, false, self.pacer).await?;
        if report.passes == 1 {
            report.considered = items.len();
        }
        let todo: Vec<Attributes> = items
            .into_iter()
            .filter(|item| {
                let r = ItemRef::of(item);
                // A label document without a copy wraps nothing.
                let nothing = labels::is_document(item) && wrapped_key(item).is_none();
                !nothing && !stuck.contains(&r) && done.get(&r) != wrapped_key(item)
            })
            .collect();
        if options.dry_run {
            report.to_rewrap = todo.iter().map(ItemRef::of).collect();
            return Ok(0);
        }
        options.progress.phase(
            &format!("rewrapping (pass {})", report.passes),
            Some(todo.len() as u64),
        );
        let outcomes: Vec<Outcome> = stream::iter(todo)
            .map(|item| async move {
                let outcome = self.rewrap_one(&item).await;
                options.progress.advance(1);
                outcome
            })
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        let mut moved = 0;
        for outcome in outcomes {
            match outcome {
                Outcome::Rewrapped(r, key) => {
                    moved += 1;
                    raced.remove(&r);
                    report.rewrapped.push(r.clone());
                    done.insert(r, key);
                }
                Outcome::Unchanged(r, key) => {
                    raced.remove(&r);
                    report.unchanged.push(r.clone());
                    done.insert(r, key);
                }
                Outcome::Raced(r) => {
                    moved += 1;
                    raced.insert(r);
                }
                Outcome::NeedsContext(r, keys) => {
                    stuck.insert(r.clone());
                    report.needs_context.push((r, keys));
                }
                Outcome::Failed(r, why) => {
                    stuck.insert(r.clone());
                    report.failed.push((r, why));
                }
            }
        }
        Ok(moved)
    }

    async fn rewrap_one(&self, item: &Attributes) -> Result<Outcome> {
        let r = ItemRef::of(item);
        // A label document carries a copy of its `current` version, wrapped
        // key included: that key moves like the version's own.
        let document = if labels::is_document(item) {
            match LabelDocument::parse(item) {
                Ok(doc) => Some(doc),
                Err(e) => return Ok(Outcome::Failed(r, format!("cannot be read: {e}"))),
            }
        } else {
            None
        };
        let copied;
        let item = match &document {
            Some(doc) => match doc.current_item() {
                Some(current) => {
                    copied = current;
                    &copied
                }
                // No copy (too large, or no `current`): nothing wrapped in it.
                None => return Ok(Outcome::Unchanged(r, Attr::S(String::new()))),
            },
            None => item,
        };
        let env = match Envelope::parse(item) {
            Ok(env) => env,
            Err(e) => return Ok(Outcome::Failed(r, format!("cannot be read: {e}"))),
        };
        let Some(old) = item.get(credstash::KEY).cloned() else {
            return Ok(Outcome::Failed(r, "it has no wrapped key".into()));
        };
        let candidates = self.options.contexts.candidates_for(&env);
        if candidates.is_empty() {
            return Ok(Outcome::NeedsContext(
                r,
                env.context_keys().map(<[String]>::to_vec),
            ));
        }
        let keys = &self.lockbox.inner.keys;
        let mut moved = None;
        for context in candidates {
            let kms = match env.kms_context(context) {
                Ok(k) => k,
                Err(_) => continue,
            };
            match self
                .pacer
                .run(|| {
                    keys.re_encrypt(
                        env.name(),
                        env.wrapped_key(),
                        kms.as_context(),
                        self.sources,
                        self.new_key,
                    )
                })
                .await
            {
                Ok(out) => {
                    moved = Some(out);
                    break;
                }
                Err(Error::ContextMismatch { .. }) => {}
                Err(e @ Error::UntrustedKey { .. }) => {
                    return Ok(Outcome::Failed(
                        r,
                        format!(
                            "left alone: its data key is not under a key it may be moved from \
                             ({e})"
                        ),
                    ))
                }
                Err(e) if item_error(&e) => {
                    return Ok(Outcome::Failed(r, format!("cannot be moved: {e}")))
                }
                Err(e) => return Err(e),
            }
        }
        let Some(moved) = moved else {
            return Ok(Outcome::NeedsContext(
                r,
                env.context_keys().map(<[String]>::to_vec),
            ));
        };
        if moved
            .source_key_id
            .as_deref()
            .is_some_and(|s| table::same_key(s, self.new_key))
        {
            return Ok(Outcome::Unchanged(r, old));
        }
        if let Some(k) = moved
            .key_id
            .as_deref()
            .filter(|k| !table::same_key(k, self.new_key))
        {
            return Err(Error::Table {
                table: self.lockbox.inner.store.table().to_owned(),
                kind: ErrorKind::Integrity,
                reason: format!(
                    "KMS re-encrypted under {k}, not the new key {}; nothing more is changed",
                    self.new_key
                ),
            });
        }
        // The attribute keeps its type: base64 text for credstash (which credstash
        // reads), binary for sealed items.
        let new = match env.format() {
            ItemFormat::Credstash => {
                Attr::S(base64::engine::general_purpose::STANDARD.encode(&moved.wrapped))
            }
            ItemFormat::Sealed => Attr::B(moved.wrapped),
        };
        let store = &self.lockbox.inner.store;
        let replaced = match document {
            Some(mut doc) => {
                // One conditional write of the document, as a label move.
                let expected = doc.revision;
                if let Some(copy) = doc.copy.as_mut() {
                    copy.insert(credstash::KEY.into(), new.clone());
                }
                doc.revision += 1;
                let updated = doc.to_item();
                self.pacer
                    .run(|| store.put_revision(&updated, Some(expected)))
                    .await?
            }
            None => {
                self.pacer
                    .run(|| store.replace_key(&r.name, &r.sort_key, &old, &new))
                    .await?
            }
        };
        Ok(if replaced {
            Outcome::Rewrapped(r, new)
        } else {
            Outcome::Raced(r)
        })
    }
}
