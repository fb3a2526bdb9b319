//! A report on a table an operator can act on: the table's settings, what it
//! records (mode, store identity, key), its key in each region read, and every
//! item's format and the historical variants that break one client or another;
//! with `verify`, every item decrypted and checked. No value is ever returned.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use super::{round_trip, scan_all, ItemRef, Pacer, RunOptions, Unopened};
use crate::backend::{KeyService, TableDescription};
use crate::envelope::{Envelope, ItemFormat};
use crate::format::sealed::Revision;
use crate::format::{attr, credstash, sealed, Attr, Attributes};
use crate::table::{self, TableMode, TableRecord};
use crate::{Error, Lockbox, Result, Version};

mod regions;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; nothing breaks.
    Info,
    /// Something breaks for some client, or a recommended setting is off.
    Warning,
    /// Readers refuse items, or the table or key cannot be used as configured.
    Error,
}

impl Severity {
    /// `info`, `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing doctor found, with the items it concerns (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// A stable identifier (`credstash-item-in-sealed-table`, `hmac-binary`, ...).
    pub code: &'static str,
    /// What was found, for people.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The items concerned, sorted.
    pub items: Vec<ItemRef>,
}

/// What one key check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyCheck {
    /// The region checked (`None`: the lockbox's own).
    pub region: Option<String>,
    /// The key's ARN, when it resolved.
    pub arn: Option<String>,
    /// Its state, as KMS reports it.
    pub state: Option<String>,
    /// Whether a data key was wrapped and unwrapped with it.
    pub round_trip: bool,
    /// What failed, if anything did.
    pub error: Option<String>,
}

/// Counts of every variant found, so that each is named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inventory {
    /// Items scanned (after `names`).
    pub items: usize,
    /// By format id: `credstash`, `lockbox-sealed-2`, `lockbox-sealed-1`, `unknown`.
    pub formats: BTreeMap<String, usize>,
    /// credstash items whose `hmac` is a string (S).
    pub hmac_string: usize,
    /// credstash items whose `hmac` is binary (B).
    pub hmac_binary: usize,
    /// credstash items whose `hmac` hex has upper-case letters.
    pub hmac_uppercase: usize,
    /// credstash items by `digest` as stored (`(missing)` when absent).
    pub digests: BTreeMap<String, usize>,
    /// Versions in the padded 19-digit form.
    pub versions_padded: usize,
    /// Versions in an unpadded numeric form (credstash before December 2015).
    pub versions_unpadded: usize,
    /// Versions that are not numbers.
    pub versions_non_numeric: usize,
    /// Version 0 (credstash `putall`'s default).
    pub versions_zero: usize,
    /// Items with a comment.
    pub comments: usize,
    /// Sealed items bound to a user encryption context (context keys recorded).
    pub context_bound: usize,
    /// Sealed items by the store identity they bind.
    pub stores: BTreeMap<String, usize>,
    /// With `verify`: items decrypted and checked.
    pub verified: usize,
    /// With `verify`: credstash items whose value is not UTF-8 text.
    pub binary_values: usize,
    /// Label documents (one per labelled secret of a sealed table; not
    /// versions, and not counted in `formats`).
    pub label_documents: usize,
}

/// What [`Lockbox::doctor`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DoctorReport {
    /// The table's name.
    pub table: String,
    /// Its settings, when they could be read.
    pub description: Option<TableDescription>,
    /// What it records, when that could be read.
    pub record: Option<TableRecord>,
    /// The key checks: the lockbox's own region first, then each other region read.
    pub keys: Vec<KeyCheck>,
    /// Every variant, counted.
    pub inventory: Inventory,
    /// What was found, most severe first.
    pub findings: Vec<Finding>,
    /// Whether items were decrypted and checked.
    pub verified: bool,
}

impl DoctorReport {
    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The finding with `code`, if any.
    pub fn finding(&self, code: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }
}

/// A key service for another region the table is read in (a replica's).
#[derive(Clone)]
pub struct RegionKeys {
    /// The region.
    pub region: String,
    /// A key service of that region, with the key readers there use.
    pub keys: Arc<dyn KeyService>,
}

impl fmt::Debug for RegionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionKeys")
            .field("region", &self.region)
            .field("keys", &self.keys)
            .finish()
    }
}

/// Options of [`Lockbox::doctor`] beyond the common ones.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// Decrypt and check every item (one KMS call each).
    pub verify: bool,
    /// The key in the other regions the table is read in.
    pub regions: Vec<RegionKeys>,
}

impl DoctorOptions {
    /// Options, verifying items or not.
    pub fn new(verify: bool) -> Self {
        Self {
            verify,
            regions: Vec::new(),
        }
    }
}

/// Findings being gathered, by code.
#[derive(Default)]
struct Findings {
    by_code: HashMap<&'static str, Finding>,
}

impl Findings {
    /// A finding about the table or the key (no items).
    fn note(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: String,
        hint: Option<&str>,
    ) {
        self.by_code.insert(
            code,
            Finding {
                severity,
                code,
                message,
                hint: hint.map(str::to_owned),
                items: Vec::new(),
            },
        );
    }

    /// `item` is concerned by the finding `code` (made with `message` and `hint`
    /// the first time).
    fn item(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: &str,
        hint: Option<&str>,
        item: ItemRef,
    ) {
        self.by_code
            .entry(code)
            .or_insert_with(|| Finding {
                severity,
                code,
                message: message.to_owned(),
                hint: hint.map(str::to_owned),
                items: Vec::new(),
            })
            .items
            .push(item);
    }

    fn into_sorted(self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self.by_code.into_values().collect();
        for f in &mut out {
            f.items.sort();
            f.items.dedup();
        }
        out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(b.code)));
        out
    }
}

impl Lockbox {
    /// Inspect this table, its record, its key and every item (or
    /// `options.names`'), as the [module documentation](self) says; with
    /// `doctor.verify`, decrypt and check every item too.
    ///
    /// Fails when the table does not exist, or cannot be described for another
    /// reason than a missing permission (no credentials, the service unavailable);
    /// anything else that fails is a finding.
    pub async fn doctor(
        &self,
        doctor: &DoctorOptions,
        options: &RunOptions,
    ) -> Result<DoctorReport> {
        let pacer = Arc::new(Pacer::new());
        let table_name = self.inner.store.table().to_owned();
        let mut findings = Findings::default();
        let mut report = DoctorReport {
            table: table_name.clone(),
            verified: doctor.verify,
            ..DoctorReport::default()
        };

        // The table.
        match pacer.run(|| self.inner.store.describe_table()).await {
            Ok(d) => {
                table_findings(&d, &mut findings);
                report.description = Some(d);
            }
            Err(e @ Error::TableNotFound { .. }) => return Err(e),
            // No credentials, an unreachable service: nothing else would work either.
            Err(e)
                if e.kind() != crate::ErrorKind::Denied
                    || matches!(e, Error::NoCredentials { .. } | Error::ClockSkew { .. }) =>
            {
                return Err(e)
            }
            Err(e) => findings.note(
                Severity::Error,
                "table-unreadable",
                format!("the table's settings cannot be read: {e}"),
                Some("grant dynamodb:DescribeTable to run doctor"),
            ),
        }

        // What it records.
        self.forget_record();
        let mode = match self.table_record().await {
            Ok(record) => {
                let mode = record_findings(&record, &table_name, &mut findings);
                report.record = Some(record);
                mode
            }
            Err(e) => {
                findings.note(
                    Severity::Error,
                    "record-unreadable",
                    format!("what the table records cannot be read: {e}"),
                    None,
                );
                None
            }
        };

        // The key, here and in each other region read.
        let pin = report.record.as_ref().and_then(|r| r.key_arn.clone());
        let here = check_key(self.inner.keys.as_ref(), None, &pacer).await;
        if let (Some(pin), Some(arn)) = (&pin, &here.arn) {
            if !table::same_key(pin, arn) {
                findings.note(
                    Severity::Error,
                    "key-pin-mismatch",
                    format!(
                        "the table is pinned to KMS key {pin}, but the configured key resolves to \
                         {arn}: writers with this key are refused, and readers refuse the items \
                         it wraps"
                    ),
                    Some(
                        "use the pinned key (-k with its ARN, or point the alias back at it); if \
                         the key is to change, move the items with `lockbox rewrap --to-key`",
                    ),
                );
            }
        }
        let mut unusable: Vec<String> = here
            .error
            .iter()
            .map(|e| format!("the KMS key cannot be used: {e}"))
            .collect();
        report.keys.push(here);
        // Each other region read: its replica of the table and of the key.
        let regional = regions::check(
            &doctor.regions,
            &report,
            pin.as_deref(),
            &pacer,
            &mut findings,
        )
        .await;
        for (check, explained) in regional {
            if let (Some(error), false) = (&check.error, explained) {
                let region = check.region.as_deref().unwrap_or("?");
                unusable.push(format!("the KMS key cannot be used in {region}: {error}"));
            }
            report.keys.push(check);
        }
        if !unusable.is_empty() {
            findings.note(
                Severity::Error,
                "key-unusable",
                unusable.join("; "),
                Some(
                    "check the key with `aws kms describe-key`, its state, and the caller's \
                     kms:GenerateDataKey and kms:Decrypt permissions",
                ),
            );
        }

        // Every item.
        options.progress.phase(
            "scanning",
            report
                .description
                .as_ref()
                .and_then(|d| d.item_count)
                .map(|n| n.max(0) as u64),
        );
        let record_store = report.record.as_ref().and_then(|r| r.store.clone());
        let items = match scan_all(&self.inner.store, options, false, &pacer).await {
            Ok(items) => items,
            Err(e) => {
                findings.note(
                    Severity::Error,
                    "scan-failed",
                    format!("the items cannot be read: {e}"),
                    Some("grant dynamodb:Scan to run doctor"),
                );
                Vec::new()
            }
        };
        report.inventory.items = items.len();
        let (docs, items): (Vec<Attributes>, Vec<Attributes>) = items
            .into_iter()
            .partition(crate::format::labels::is_document);
        label_findings(&docs, &items, mode, &mut report.inventory, &mut findings);
        let mut to_verify = Vec::new();
        for item in items {
            if inspect(
                &item,
                mode,
                record_store.as_deref(),
                &mut report.inventory,
                &mut findings,
            ) {
                to_verify.push(item);
            }
        }

        if doctor.verify {
            options
                .progress
                .phase("verifying", Some(to_verify.len() as u64));
            self.verify(
                &to_verify,
                options,
                &pacer,
                &mut report.inventory,
                &mut findings,
            )
            .await;
        }
        report.findings = findings.into_sorted();
        Ok(report)
    }

    /// Decrypt and check every item of `items`.
    async fn verify(
        &self,
        items: &[Attributes],
        options: &RunOptions,
        pacer: &Pacer,
        inventory: &mut Inventory,
        findings: &mut Findings,
    ) {
        let outcomes: Vec<(ItemRef, Result<std::result::Result<bool, Unopened>>)> =
            stream::iter(items)
                .map(|item| async move {
                    let r = ItemRef::of(item);
                    let outcome = match Envelope::parse(item) {
                        Ok(env) => self
                            .open_with(item, &env, &options.contexts, pacer)
                            .await
                            .map(|o| {
                                o.map(|(secret, _)| {
                                    secret.format == ItemFormat::Credstash
                                        && secret.value.expose_str().is_err()
                                })
                            }),
                        Err(e) => Ok(Err(Unopened::Refused(e))),
                    };
                    options.progress.advance(1);
                    (r, outcome)
                })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        let mut stopped = None;
        for (r, outcome) in outcomes {
            match outcome {
                Ok(Ok(binary)) => {
                    inventory.verified += 1;
                    if binary {
                        inventory.binary_values += 1;
                        findings.item(
                            Severity::Warning,
                            "binary-value-in-credstash-format",
                            "credstash-format items whose value is not UTF-8 text: credstash \
                             cannot read them, and one breaks its getall",
                            Some("store such values in a sealed-mode table (lockbox migrate)"),
                            r,
                        );
                    }
                }
                Ok(Err(Unopened::NeedsContext(_))) => {
                    let message = "items that could not be checked without their encryption \
                                   context (this is not corruption): give it with --contexts \
                                   FILE or K=V pairs";
                    findings.item(Severity::Warning, "needs-context", message, None, r);
                }
                Ok(Err(Unopened::Refused(e))) => {
                    let (code, message, hint) = match &e {
                        Error::UntrustedKey { .. } => (
                            "untrusted-key",
                            "items whose data key is under a KMS key this reader does not trust \
                             (or not the table's pinned key)",
                            Some(
                                "if the key is yours, trust it (--trust-key) or move the items \
                                 with `lockbox rewrap`",
                            ),
                        ),
                        _ => (
                            "verify-failed",
                            "items that failed to decrypt and authenticate: altered, copied from \
                             elsewhere, or corrupt",
                            Some("restore them from a backup or write new versions"),
                        ),
                    };
                    findings.item(Severity::Error, code, message, hint, r);
                }
                Err(e) => {
                    stopped.get_or_insert(e);
                }
            }
        }
        if let Some(e) = stopped {
            findings.note(
                Severity::Error,
                "verify-stopped",
                format!("verification could not check every item: {e}"),
                Some("grant kms:Decrypt on the table's key(s), then run doctor --verify again"),
            );
        }
    }
}

/// The table's own settings.
fn table_findings(d: &TableDescription, findings: &mut Findings) {
    if let Some(status) = d.status.as_deref().filter(|s| *s != "ACTIVE") {
        findings.note(
            Severity::Warning,
            "table-not-active",
            format!("the table is {status}, not ACTIVE"),
            None,
        );
    }
    match d.point_in_time_recovery {
        Some(true) => {}
        Some(false) => findings.note(
            Severity::Warning,
            "no-point-in-time-recovery",
            "point-in-time recovery is off: a deleted or overwritten version cannot be restored"
                .into(),
            Some(
                "aws dynamodb update-continuous-backups --table-name TABLE \
                 --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true",
            ),
        ),
        None => findings.note(
            Severity::Info,
            "point-in-time-recovery-unknown",
            format!(
                "point-in-time recovery could not be checked{}",
                d.point_in_time_recovery_note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
            Some("grant dynamodb:DescribeContinuousBackups to check it"),
        ),
    }
    if d.deletion_protection == Some(false) {
        findings.note(
            Severity::Warning,
            "no-deletion-protection",
            "deletion protection is off: one DeleteTable call loses every secret".into(),
            Some("aws dynamodb update-table --table-name TABLE --deletion-protection-enabled"),
        );
    }
    if d.billing_mode.as_deref() == Some("PROVISIONED") {
        findings.note(
            Severity::Info,
            "billing-provisioned",
            format!(
                "provisioned capacity ({} reads, {} writes per second): a fleet starting at once, \
                 a getall or a migration may be throttled",
                d.read_capacity.map_or("?".into(), |n| n.to_string()),
                d.write_capacity.map_or("?".into(), |n| n.to_string())
            ),
            Some("on-demand billing (PAY_PER_REQUEST) follows the load"),
        );
    }
    let regions: Vec<&str> = d.replicas.iter().map(|r| r.region.as_str()).collect();
    if regions.len() > 1 {
        let strong = d.multi_region_consistency.as_deref() == Some("STRONG");
        findings.note(
            if strong {
                Severity::Info
            } else {
                Severity::Warning
            },
            "global-table",
            if strong {
                format!(
                    "a global table with strong consistency, in {}",
                    regions.join(", ")
                )
            } else {
                format!(
                    "a global table with eventual consistency, in {}: two regions can each \
                     accept the same new version, and one value then silently replaces the \
                     other",
                    regions.join(", ")
                )
            },
            (!strong).then_some(
                "write in one region only (readers may read in any); check the key in each \
                 region (a multi-region key)",
            ),
        );
    }
}

/// What the table records; returns its mode.
fn record_findings(
    record: &TableRecord,
    table: &str,
    findings: &mut Findings,
) -> Option<TableMode> {
    if record.mode.is_none() && record.store.is_none() && record.key_arn.is_none() {
        findings.note(
            Severity::Error,
            "record-missing",
            "the table records no mode, store identity or key (a table lockbox did not create): \
             readers take it for a credstash table and check no key"
                .into(),
            Some(
                "record it: `lockbox setup --compat credstash` for a table credstash clients \
                 share; or migrate its secrets to a sealed table (`lockbox migrate`)",
            ),
        );
        return None;
    }
    let mode = match record.table_mode(table) {
        Ok(m) => m,
        Err(e) => {
            findings.note(
                Severity::Error,
                "record-unknown-mode",
                e.to_string(),
                Some("set the lockbox:format tag to `sealed` or `credstash`"),
            );
            None
        }
    };
    let mut missing = Vec::new();
    for (tag, value) in [
        (table::TAG_MODE, &record.mode),
        (table::TAG_STORE, &record.store),
        (table::TAG_KEY, &record.key_arn),
    ] {
        if value.is_none() {
            missing.push(tag);
        }
    }
    if !missing.is_empty() {
        findings.note(
            Severity::Error,
            "record-partial",
            format!(
                "the table records only part of what it should: {} missing",
                missing.join(", ")
            ),
            Some(match mode {
                Some(TableMode::Credstash) => {
                    "run `lockbox setup --compat credstash` on it, which fills in what is missing \
                     (the key: what -k resolves to; check first with doctor --verify that its \
                     items are under that key)"
                }
                _ => "run `lockbox setup` on it, which fills in what is missing",
            }),
        );
    }
    if let Err(e) = record.store_id(table) {
        findings.note(Severity::Error, "record-bad-store", e.to_string(), None);
    }
    mode
}

/// Describe `keys`' key and wrap and unwrap a data key with it.
async fn check_key(keys: &dyn KeyService, region: Option<String>, pacer: &Pacer) -> KeyCheck {
    probe_key(keys, region, pacer).await.0
}

/// [`check_key`], and the key asked for when KMS says it does not exist.
async fn probe_key(
    keys: &dyn KeyService,
    region: Option<String>,
    pacer: &Pacer,
) -> (KeyCheck, Option<String>) {
    let mut check = KeyCheck {
        region,
        ..KeyCheck::default()
    };
    match pacer.run(|| keys.describe_key()).await {
        Ok(d) => {
            check.arn = Some(d.arn.clone());
            check.state = d.state.clone();
            if !d.enabled {
                check.error = Some(format!(
                    "key {} is {}",
                    d.arn,
                    d.state.as_deref().unwrap_or("not enabled")
                ));
                return (check, None);
            }
        }
        Err(e) => {
            check.error = Some(e.to_string());
            let missing = match e {
                Error::KeyUnavailable { key, reason, .. }
                    if reason.starts_with(crate::backend::NO_SUCH_KEY) =>
                {
                    Some(key)
                }
                _ => None,
            };
            return (check, missing);
        }
    }
    match round_trip(keys, pacer).await {
        Ok(_) => check.round_trip = true,
        Err(e) => check.error = Some(format!("a test round trip failed: {e}")),
    }
    (check, None)
}

/// Count `item`'s variants and note what is wrong with it; whether it is worth
/// verifying (nothing already refuses it).
fn inspect(
    item: &Attributes,
    mode: Option<TableMode>,
    table_store: Option<&str>,
    inventory: &mut Inventory,
    findings: &mut Findings,
) -> bool {
    use Severity::{Error as E, Info as I, Warning as W};
    let r = ItemRef::of(item);
    let shared_with_credstash = mode != Some(TableMode::Sealed);

    // The version, as stored.
    match item.get(attr::VERSION).and_then(Attr::as_s) {
        Some(v) if Version::is_canonical_sort_key(v) => {
            inventory.versions_padded += 1;
            if v.bytes().all(|b| b == b'0') {
                inventory.versions_zero += 1;
                findings.item(
                    W,
                    "version-zero",
                    "version 0 (credstash putall's default without -v): the sealed format \
                     cannot hold it, so migrate leaves it out",
                    Some("store its value again as a new version"),
                    r.clone(),
                );
            }
        }
        Some(v) if !v.is_empty() && v.len() < 19 && v.bytes().all(|b| b.is_ascii_digit()) => {
            inventory.versions_unpadded += 1;
            findings.item(
                W,
                "version-unpadded",
                "unpadded versions (credstash before December 2015): credstash orders versions \
                 as text, so its latest of such a name may not be the highest (lockbox orders \
                 them by number), and `credstash get -v N` cannot address them",
                Some("migrate the table (versions are padded in the copy)"),
                r.clone(),
            );
        }
        _ => {
            inventory.versions_non_numeric += 1;
            findings.item(
                W,
                "version-non-numeric",
                "versions that are not numbers (`put -v v5`): lockbox cannot address them, and \
                 migrate leaves them out",
                Some("store their values again as numbered versions"),
                r.clone(),
            );
        }
    }
    if item.get(attr::COMMENT).and_then(Attr::as_s).is_some() {
        inventory.comments += 1;
    }

    // The format.
    let mut worth_verifying = true;
    let format = match item.get(sealed::FORMAT) {
        Some(Attr::S(id)) => match Revision::from_format_id(id) {
            Some(rev) => Some(ItemFormat::Sealed).zip(Some(Some(rev))),
            None => None,
        },
        Some(_) => None,
        None if item.contains_key(credstash::HMAC) => Some((ItemFormat::Credstash, None)),
        None => None,
    };
    let format_id = match format {
        Some((ItemFormat::Credstash, _)) => "credstash",
        Some((_, Some(rev))) => rev.format_id(),
        _ => "unknown",
    };
    *inventory.formats.entry(format_id.to_owned()).or_default() += 1;
    match format {
        None => {
            findings.item(
                E,
                "unknown-format",
                "items in no format this lockbox reads (an unknown format id, or neither a \
                 format id nor a credstash hmac): no reader can use them",
                Some("written by a newer lockbox or another tool; find out which, or delete them"),
                r.clone(),
            );
            return false;
        }
        Some((ItemFormat::Credstash, _)) => {
            match item.get(credstash::HMAC) {
                Some(Attr::S(h)) => {
                    inventory.hmac_string += 1;
                    if h.bytes().any(|b| b.is_ascii_uppercase()) {
                        inventory.hmac_uppercase += 1;
                        findings.item(
                            W,
                            "hmac-uppercase",
                            "credstash items whose hmac is upper-case hex: clients that compare \
                             the hex as text (credstash before 1.13) refuse them",
                            None,
                            r.clone(),
                        );
                    }
                }
                Some(Attr::B(h)) => {
                    inventory.hmac_binary += 1;
                    if h.iter().any(u8::is_ascii_uppercase) {
                        inventory.hmac_uppercase += 1;
                        findings.item(
                            W,
                            "hmac-uppercase",
                            "credstash items whose hmac is upper-case hex: clients that compare \
                             the hex as text (credstash before 1.13) refuse them",
                            None,
                            r.clone(),
                        );
                    }
                    findings.item(
                        W,
                        "hmac-binary",
                        "credstash items whose hmac is stored as binary (B, as credstash 1.13.1+ \
                         on Python 3 writes it): credstash on Python 2 or before 1.13.1 and \
                         nodecredstash 3 cannot read them",
                        None,
                        r.clone(),
                    );
                }
                _ => {}
            }
            match item.get(credstash::DIGEST) {
                None => {
                    *inventory.digests.entry("(missing)".into()).or_default() += 1;
                    findings.item(
                        I,
                        "digest-missing",
                        "credstash items with no digest (written by unicreds or gcredstash): \
                         read as SHA256, as credstash 1.17 and lockbox do",
                        None,
                        r.clone(),
                    );
                }
                Some(Attr::S(d)) => {
                    *inventory.digests.entry(d.clone()).or_default() += 1;
                    match d.parse::<credstash::Digest>() {
                        Err(_) => {
                            findings.item(
                                E,
                                "digest-unsupported",
                                "credstash items whose HMAC digest (RIPEMD, WHIRLPOOL, ...) \
                                 neither credstash 1.15+ nor lockbox can read",
                                Some(
                                    "read them with credstash 1.14 and store their values \
                                     again",
                                ),
                                r.clone(),
                            );
                            return false;
                        }
                        Ok(credstash::Digest::Sha256) => {}
                        Ok(digest) => {
                            let (code, message) = digest_note(d, digest);
                            findings.item(W, code, message, None, r.clone());
                        }
                    }
                }
                Some(_) => {}
            }
            if mode == Some(TableMode::Sealed) {
                findings.item(
                    E,
                    "credstash-item-in-sealed-table",
                    "credstash-format items in a sealed-mode table: readers refuse them (they were \
                     copied in, or written around lockbox)",
                    Some(
                        "if they are genuine, move them to a sealed table with `lockbox migrate` \
                         (or re-store their values); otherwise delete them",
                    ),
                    r.clone(),
                );
                worth_verifying = false;
            }
        }
        Some((ItemFormat::Sealed, rev)) => {
            if shared_with_credstash {
                findings.item(
                    W,
                    "sealed-item-in-credstash-table",
                    "sealed items in a table credstash clients read: credstash cannot read them, \
                     and one breaks its getall",
                    Some("keep sealed items in a sealed-mode table (lockbox migrate)"),
                    r.clone(),
                );
            }
            if item.contains_key(sealed::CONTEXT_KEYS) {
                inventory.context_bound += 1;
            }
            match rev {
                Some(Revision::V1) => {
                    findings.item(
                        E,
                        "sealed-v1",
                        "items in the first sealed format, lockbox-sealed-1, which binds no \
                         store: readers refuse them unless told to accept them",
                        Some(
                            "migrate them (`lockbox migrate` re-seals them as lockbox-sealed-2), \
                             or re-seal each with `lockbox --accept-sealed-v1 rollback`",
                        ),
                        r.clone(),
                    );
                    worth_verifying = false;
                }
                _ => {
                    if let Some(Attr::S(store)) = item.get(sealed::STORE) {
                        *inventory.stores.entry(store.clone()).or_default() += 1;
                        if table_store.is_some_and(|t| t != store) {
                            findings.item(
                                E,
                                "foreign-store",
                                "sealed items bound to another store identity than the \
                                 table's: readers refuse them (copied from another table)",
                                Some(
                                    "copy tables with `lockbox sync` into a table of the same \
                                     identity; delete items that do not belong",
                                ),
                                r.clone(),
                            );
                            worth_verifying = false;
                        }
                    }
                }
            }
        }
    }
    // Everything else a reader checks before any KMS call.
    if Envelope::parse(item).is_err() {
        findings.item(
            E,
            "malformed",
            "items that cannot be parsed (an attribute missing, of the wrong type or length, an \
             invalid name): readers refuse them",
            None,
            r,
        );
        return false;
    }
    worth_verifying
}

/// Label documents: each must parse, sit in a sealed table, and name only
/// versions that exist.
fn label_findings(
    docs: &[Attributes],
    items: &[Attributes],
    mode: Option<TableMode>,
    inventory: &mut Inventory,
    findings: &mut Findings,
) {
    use crate::format::labels::LabelDocument;
    inventory.label_documents = docs.len();
    let stored: std::collections::HashSet<ItemRef> = items.iter().map(ItemRef::of).collect();
    for item in docs {
        let r = ItemRef::of(item);
        if mode != Some(TableMode::Sealed) {
            findings.item(
                Severity::Error,
                "label-document-outside-sealed-table",
                "label documents in a table that is not in sealed mode: lockbox writes them \
                 only in sealed tables, readers refuse them, and credstash clients cannot read \
                 them",
                Some(
                    "delete them; a table shared with credstash keeps labels in a companion table",
                ),
                r,
            );
            continue;
        }
        let doc = match LabelDocument::parse(item) {
            Ok(doc) => doc,
            Err(_) => {
                findings.item(
                    Severity::Error,
                    "label-document-malformed",
                    "label documents that cannot be read: un-pinned reads of their secrets fail",
                    Some("set the secret's labels again with `lockbox label`"),
                    r,
                );
                continue;
            }
        };
        let dangling = doc.labels.values().any(|v| {
            !stored.contains(&ItemRef {
                name: doc.name.to_string(),
                sort_key: v.sort_key(),
            })
        });
        if dangling {
            findings.item(
                Severity::Error,
                "dangling-label",
                "labels naming a version that does not exist (deleted around lockbox): reads \
                 through them fail",
                Some("move the label to a version that exists with `lockbox label`"),
                r,
            );
        }
    }
}

/// The finding for an item with a credstash digest other than SHA256.
fn digest_note(stored: &str, digest: credstash::Digest) -> (&'static str, &'static str) {
    use credstash::Digest as D;
    if stored.eq_ignore_ascii_case("SHA1") {
        return (
            "digest-sha1-name",
            "credstash items whose digest is named `SHA1` (rucredstash's name): credstash \
             cannot read them (it names SHA-1 `SHA`)",
        );
    }
    match digest {
        D::Sha1 => (
            "digest-sha",
            "credstash items with HMAC-SHA1 (`SHA`): unicreds, gcredstash and rucredstash cannot \
             read them",
        ),
        D::Md5 => (
            "digest-md5",
            "credstash items with HMAC-MD5: unicreds, gcredstash and rucredstash cannot read \
             them",
        ),
        D::Sha224 => (
            "digest-sha224",
            "credstash items with HMAC-SHA224: unicreds, gcredstash and rucredstash cannot read \
             them",
        ),
        D::Sha384 => (
            "digest-sha384",
            "credstash items with HMAC-SHA384: unicreds and gcredstash (SHA256 only) cannot read \
             them",
        ),
        D::Sha512 => (
            "digest-sha512",
            "credstash items with HMAC-SHA512: unicreds and gcredstash (SHA256 only) cannot read \
             them",
        ),
        D::Sha256 => ("digest-sha256", "credstash items with HMAC-SHA256"),
    }
}
