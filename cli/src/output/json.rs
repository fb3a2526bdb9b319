//! The documents `-o json` prints: the contract scripts rely on, one type per
//! document. Every key is always present (`null` when there is nothing to say),
//! and keys are printed in alphabetical order, as fields are declared here; a
//! test holds each document to that order, so adding a field never moves another.
//! Versions are numbers; a version as stored (a sort key) is a string.

use std::collections::BTreeMap;

use lockbox::lifecycle::doctor::{DoctorReport, Severity};
use lockbox::lifecycle::migrate::MigrateReport;
use lockbox::lifecycle::rewrap::RewrapReport;
use lockbox::lifecycle::sync::SyncReport;
use lockbox::lifecycle::ItemRef;
use lockbox::ItemSummary;
use serde::Serialize;

/// Any failure under `-o json`, printed on stdout (stderr has the same as text).
#[derive(Debug, Serialize)]
pub struct ErrorDocument<'a> {
    pub error: ErrorBody<'a>,
}

/// What failed, its class and exit code, and what to do.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// The `caused by:` lines, outermost first.
    pub causes: Vec<&'a str>,
    /// `not_found`, `access_denied`, `bad_credentials`, `usage`, ... (docs/JSON.md).
    pub class: &'a str,
    /// The exit code.
    pub code: u8,
    /// What to do next.
    pub hints: Vec<&'a str>,
    /// What happened.
    pub message: &'a str,
}

/// `put` (and `putall`, per secret): the version stored.
#[derive(Debug, Serialize)]
pub struct Stored<'a> {
    pub name: &'a str,
    pub version: u64,
}

/// `get NAME`: one secret with a text value, and the regions that served it.
#[derive(Serialize)]
pub struct Value<'a> {
    /// The region whose KMS unwrapped its data key.
    pub kms_region: Option<&'a str>,
    pub name: &'a str,
    /// The region whose table it was read from (with `--regions`, the first
    /// that was available).
    pub region: Option<&'a str>,
    pub value: &'a str,
    pub version: u64,
}

/// One stored version (`list`, `history`): nothing decrypted.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub comment: Option<&'a str>,
    /// RFC 3339 UTC.
    pub created_at: Option<String>,
    pub format: &'a str,
    /// The labels naming this version, sorted (`[]` for none).
    pub labels: Vec<&'a str>,
    pub name: &'a str,
    /// The version as stored.
    pub sort_key: &'a str,
    /// `null` for a sort key that is not a number.
    pub version: Option<u64>,
}

impl<'a> Summary<'a> {
    /// The summary of `item`.
    pub fn of(item: &'a ItemSummary) -> Self {
        Self {
            comment: item.comment.as_deref(),
            created_at: item.created_at.map(super::rfc3339),
            format: &item.format,
            labels: item.labels.iter().map(|l| l.as_str()).collect(),
            name: &item.name,
            sort_key: &item.sort_key,
            version: item.version.map(|v| v.get()),
        }
    }
}

/// `delete`, `prune`: the versions deleted (`null` for a sort key that is not a
/// number).
#[derive(Debug, Serialize)]
pub struct Deleted<'a> {
    pub deleted: Vec<Option<u64>>,
    pub name: &'a str,
}

/// `rollback`: the version un-pinned reads now get, and the one whose value it
/// holds (the same when `current` moved back to `previous`).
#[derive(Debug, Serialize)]
pub struct RolledBack<'a> {
    pub from: u64,
    /// The labels afterwards, when `current` moved (`null` when a version was
    /// written).
    pub labels: Option<BTreeMap<&'a str, u64>>,
    pub name: &'a str,
    /// Whether a new version was written (`--to`, a table shared with
    /// credstash), rather than `current` moved.
    pub new_version: bool,
    pub version: u64,
}

/// A secret that was not stored, and why (never its value).
#[derive(Debug, Serialize)]
pub struct Failure<'a> {
    pub error: &'a str,
    pub name: &'a str,
}

/// `import`.
#[derive(Debug, Serialize)]
pub struct Imported<'a> {
    pub failed: Vec<Failure<'a>>,
    pub stored: Vec<Stored<'a>>,
    /// Secrets whose latest version already held the file's value.
    pub unchanged: Vec<Stored<'a>>,
}

/// `put-all`.
#[derive(Debug, Serialize)]
pub struct PutAll<'a> {
    pub failed: Vec<Failure<'a>>,
    pub stored: Vec<Stored<'a>>,
}

/// `setup`.
#[derive(Debug, Serialize)]
pub struct Setup<'a> {
    pub created: bool,
    /// The format new items are written in: the recorded mode, else
    /// `credstash` (a table lockbox did not create).
    pub format: Option<&'a str>,
    pub kms_key: Option<&'a str>,
    /// With `--labels`: where labels are kept; `null` without it.
    pub labels: Option<SetupLabels<'a>>,
    pub mode: Option<&'a str>,
    /// Tags recorded on an existing table.
    pub recorded: &'a [String],
    /// `created`, `unchanged`, `recorded` or `refused`.
    pub result: &'a str,
    /// `--save-kms-region`'s region, saved in `~/.credstash`; only with that flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_kms_region: Option<&'a str>,
    pub store: Option<&'a str>,
    pub table: &'a str,
}

/// An item of a lifecycle report: its name and version, as every list of
/// stored versions gives them (`list`'s [`Summary`] too): the version as stored
/// (`sort_key`) and as a number (`null` for a sort key that is not one).
#[derive(Debug, Serialize)]
pub struct Item<'a> {
    pub name: &'a str,
    pub sort_key: &'a str,
    pub version: Option<u64>,
}

/// The version number of a sort key, if it is one.
fn number(sort_key: &str) -> Option<u64> {
    lockbox::Version::from_sort_key(sort_key)
        .ok()
        .map(|v| v.get())
}

/// The items `refs` names.
pub fn items(refs: &[ItemRef]) -> Vec<Item<'_>> {
    refs.iter()
        .map(|r| Item {
            name: &r.name,
            sort_key: &r.sort_key,
            version: number(&r.sort_key),
        })
        .collect()
}

/// An item with the reason it was left.
#[derive(Debug, Serialize)]
pub struct Reasoned<'a> {
    pub name: &'a str,
    pub reason: &'a str,
    pub sort_key: &'a str,
    pub version: Option<u64>,
}

/// Items with a reason each.
pub fn reasoned(items: &[(ItemRef, String)]) -> Vec<Reasoned<'_>> {
    items
        .iter()
        .map(|(r, why)| Reasoned {
            name: &r.name,
            reason: why,
            sort_key: &r.sort_key,
            version: number(&r.sort_key),
        })
        .collect()
}

/// An item that needs the encryption context it was stored with.
#[derive(Debug, Serialize)]
pub struct NeedsContext<'a> {
    /// The context keys stored with it, where its format records them.
    pub context_keys: Option<&'a [String]>,
    pub name: &'a str,
    pub sort_key: &'a str,
    pub version: Option<u64>,
}

/// Items that need a context.
pub fn needs_context(items: &[(ItemRef, Option<Vec<String>>)]) -> Vec<NeedsContext<'_>> {
    items
        .iter()
        .map(|(r, keys)| NeedsContext {
            context_keys: keys.as_deref(),
            name: &r.name,
            sort_key: &r.sort_key,
            version: number(&r.sort_key),
        })
        .collect()
}

/// `migrate`.
#[derive(Debug, Serialize)]
pub struct Migrated<'a> {
    pub complete: bool,
    pub conflicts: Vec<Reasoned<'a>>,
    pub considered: usize,
    pub copied: Vec<Item<'a>>,
    pub dry_run: bool,
    pub failed: Vec<Reasoned<'a>>,
    pub needs_context: Vec<NeedsContext<'a>>,
    pub source: &'a str,
    pub target: &'a str,
    pub target_store: &'a str,
    pub to_check: Vec<Item<'a>>,
    pub to_copy: Vec<Item<'a>>,
    pub unchanged: Vec<Item<'a>>,
}

impl<'a> Migrated<'a> {
    /// The report of a migration from `source` to `target`.
    pub fn of(source: &'a str, target: &'a str, r: &'a MigrateReport) -> Self {
        Self {
            complete: r.is_complete(),
            conflicts: reasoned(&r.conflicts),
            considered: r.considered,
            copied: items(&r.copied),
            dry_run: r.dry_run,
            failed: reasoned(&r.failed),
            needs_context: needs_context(&r.needs_context),
            source,
            target,
            target_store: &r.target_store,
            to_check: items(&r.to_check),
            to_copy: items(&r.to_copy),
            unchanged: items(&r.unchanged),
        }
    }
}

/// `rewrap`.
#[derive(Debug, Serialize)]
pub struct Rewrapped<'a> {
    pub complete: bool,
    pub considered: usize,
    pub dry_run: bool,
    pub failed: Vec<Reasoned<'a>>,
    pub from_keys: &'a [String],
    pub moved_after_pin: usize,
    pub needs_context: Vec<NeedsContext<'a>>,
    pub passes: u32,
    pub pin_before: Option<&'a str>,
    pub pin_kept: Option<&'a str>,
    pub pin_moved: bool,
    pub rewrapped: Vec<Item<'a>>,
    pub table: &'a str,
    pub to_key: &'a str,
    pub to_rewrap: Vec<Item<'a>>,
    pub unchanged: Vec<Item<'a>>,
}

impl<'a> Rewrapped<'a> {
    /// The report of rewrapping `table`.
    pub fn of(table: &'a str, r: &'a RewrapReport) -> Self {
        Self {
            complete: r.is_complete(),
            considered: r.considered,
            dry_run: r.dry_run,
            failed: reasoned(&r.failed),
            from_keys: &r.from_keys,
            moved_after_pin: r.moved_after_pin,
            needs_context: needs_context(&r.needs_context),
            passes: r.passes,
            pin_before: r.pin_before.as_deref(),
            pin_kept: r.pin_kept.as_deref(),
            pin_moved: r.pin_moved,
            rewrapped: items(&r.rewrapped),
            table,
            to_key: &r.to_key,
            to_rewrap: items(&r.to_rewrap),
            unchanged: items(&r.unchanged),
        }
    }
}

/// `sync`.
#[derive(Debug, Serialize)]
pub struct Synced<'a> {
    pub complete: bool,
    pub conflicts: Vec<Reasoned<'a>>,
    pub considered: usize,
    pub copied: Vec<Item<'a>>,
    pub created_target: bool,
    pub dry_run: bool,
    pub failed: Vec<Reasoned<'a>>,
    pub source: &'a str,
    pub store: Option<&'a str>,
    pub target: &'a str,
    pub target_region: Option<&'a str>,
    pub to_check: Vec<Item<'a>>,
    pub to_copy: Vec<Item<'a>>,
    pub unchanged: Vec<Item<'a>>,
}

impl<'a> Synced<'a> {
    /// The report of a sync from `source` to `target` (in `target_region`).
    pub fn of(
        source: &'a str,
        target: &'a str,
        target_region: Option<&'a str>,
        r: &'a SyncReport,
    ) -> Self {
        Self {
            complete: r.is_complete(),
            conflicts: reasoned(&r.conflicts),
            considered: r.considered,
            copied: items(&r.copied),
            created_target: r.created_target,
            dry_run: r.dry_run,
            failed: reasoned(&r.failed),
            source,
            store: r.store.as_deref(),
            target,
            target_region,
            to_check: items(&r.to_check),
            to_copy: items(&r.to_copy),
            unchanged: items(&r.unchanged),
        }
    }
}

/// `doctor`.
#[derive(Debug, Serialize)]
pub struct Doctor<'a> {
    pub description: Option<Description<'a>>,
    pub findings: Vec<Finding<'a>>,
    pub inventory: Inventory<'a>,
    pub keys: Vec<KeyCheck<'a>>,
    pub record: Option<Record<'a>>,
    pub summary: Counts,
    pub table: &'a str,
    pub verified: bool,
}

/// The table as DynamoDB describes it.
#[derive(Debug, Serialize)]
pub struct Description<'a> {
    pub arn: Option<&'a str>,
    pub billing_mode: Option<&'a str>,
    pub deletion_protection: Option<bool>,
    pub item_count: Option<i64>,
    pub multi_region_consistency: Option<&'a str>,
    pub point_in_time_recovery: Option<bool>,
    pub read_capacity: Option<i64>,
    pub replicas: Vec<Replica<'a>>,
    pub status: Option<&'a str>,
    pub write_capacity: Option<i64>,
}

/// A replica of the table.
#[derive(Debug, Serialize)]
pub struct Replica<'a> {
    pub region: &'a str,
    pub status: Option<&'a str>,
}

/// What the table records (its tags).
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub kms_key: Option<&'a str>,
    pub mode: Option<&'a str>,
    pub store: Option<&'a str>,
}

/// A KMS key checked in one region.
#[derive(Debug, Serialize)]
pub struct KeyCheck<'a> {
    pub arn: Option<&'a str>,
    pub error: Option<&'a str>,
    pub region: Option<&'a str>,
    pub round_trip: bool,
    pub state: Option<&'a str>,
}

/// What the items are.
#[derive(Debug, Serialize)]
pub struct Inventory<'a> {
    pub binary_values: usize,
    pub comments: usize,
    pub context_bound: usize,
    pub digests: &'a BTreeMap<String, usize>,
    pub formats: &'a BTreeMap<String, usize>,
    pub hmac_binary: usize,
    pub hmac_string: usize,
    pub hmac_uppercase: usize,
    pub items: usize,
    pub stores: &'a BTreeMap<String, usize>,
    pub verified: usize,
    pub versions_non_numeric: usize,
    pub versions_padded: usize,
    pub versions_unpadded: usize,
    pub versions_zero: usize,
}

/// One finding.
#[derive(Debug, Serialize)]
pub struct Finding<'a> {
    pub code: &'a str,
    pub hint: Option<&'a str>,
    pub items: Vec<Item<'a>>,
    pub message: &'a str,
    /// `error`, `warning` or `info`.
    pub severity: &'a str,
}

/// How many findings of each severity.
#[derive(Debug, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub notes: usize,
    pub warnings: usize,
}

impl<'a> Doctor<'a> {
    /// `report` as JSON.
    pub fn of(report: &'a DoctorReport) -> Self {
        let inv = &report.inventory;
        Self {
            description: report.description.as_ref().map(|d| Description {
                arn: d.arn.as_deref(),
                billing_mode: d.billing_mode.as_deref(),
                deletion_protection: d.deletion_protection,
                item_count: d.item_count,
                multi_region_consistency: d.multi_region_consistency.as_deref(),
                point_in_time_recovery: d.point_in_time_recovery,
                read_capacity: d.read_capacity,
                replicas: d
                    .replicas
                    .iter()
                    .map(|r| Replica {
                        region: &r.region,
                        status: r.status.as_deref(),
                    })
                    .collect(),
                status: d.status.as_deref(),
                write_capacity: d.write_capacity,
            }),
            findings: report
                .findings
                .iter()
                .map(|f| Finding {
                    code: f.code,
                    hint: f.hint.as_deref(),
                    items: items(&f.items),
                    message: &f.message,
                    severity: f.severity.as_str(),
                })
                .collect(),
            inventory: Inventory {
                binary_values: inv.binary_values,
                comments: inv.comments,
                context_bound: inv.context_bound,
                digests: &inv.digests,
                formats: &inv.formats,
                hmac_binary: inv.hmac_binary,
                hmac_string: inv.hmac_string,
                hmac_uppercase: inv.hmac_uppercase,
                items: inv.items,
                stores: &inv.stores,
                verified: inv.verified,
                versions_non_numeric: inv.versions_non_numeric,
                versions_padded: inv.versions_padded,
                versions_unpadded: inv.versions_unpadded,
                versions_zero: inv.versions_zero,
            },
            keys: report
                .keys
                .iter()
                .map(|k| KeyCheck {
                    arn: k.arn.as_deref(),
                    error: k.error.as_deref(),
                    region: k.region.as_deref(),
                    round_trip: k.round_trip,
                    state: k.state.as_deref(),
                })
                .collect(),
            record: report.record.as_ref().map(|r| Record {
                kms_key: r.key_arn.as_deref(),
                mode: r.mode.as_deref(),
                store: r.store.as_deref(),
            }),
            summary: Counts {
                errors: report.count(Severity::Error),
                notes: report.count(Severity::Info),
                warnings: report.count(Severity::Warning),
            },
            table: &report.table,
            verified: report.verified,
        }
    }
}

/// `setup --labels`.
#[derive(Debug, Serialize)]
pub struct SetupLabels<'a> {
    /// Whether the companion table was created now.
    pub created: bool,
    /// The companion table of a table shared with credstash; `null` for a
    /// sealed table, which keeps labels in each secret's partition.
    pub table: Option<&'a str>,
}

/// `get` of a label or a field (`--label`, `--field`, `lockbox://...`): `get
/// NAME`'s keys and what was selected.
#[derive(Serialize)]
pub struct Selected<'a> {
    /// The JSON pointer read; `null` for the whole value.
    pub field: Option<&'a str>,
    /// The region whose KMS unwrapped its data key.
    pub kms_region: Option<&'a str>,
    /// The label read; `null` for a version or the latest.
    pub label: Option<&'a str>,
    pub name: &'a str,
    /// The region whose table it was read from.
    pub region: Option<&'a str>,
    pub value: &'a str,
    pub version: u64,
}

/// Labels and the versions they name.
pub fn label_map(labels: &lockbox::Labels) -> BTreeMap<&str, u64> {
    labels
        .labels
        .iter()
        .map(|(l, v)| (l.as_str(), v.get()))
        .collect()
}

/// A staged rotation a secret records.
#[derive(Debug, Serialize)]
pub struct Rotation<'a> {
    /// `pending`, `finished` or `aborted`.
    pub state: &'a str,
    pub token: &'a str,
}

/// `label NAME`: every label of a secret.
#[derive(Debug, Serialize)]
pub struct LabelList<'a> {
    /// Whether `current` and `previous` are derived from the versions (a table
    /// shared with credstash) rather than recorded.
    pub derived: bool,
    pub labels: BTreeMap<&'a str, u64>,
    pub name: &'a str,
    /// The revision of its labels (0: it has none); every change adds one.
    pub revision: u64,
    /// The last staged rotation, if any.
    pub rotation: Option<Rotation<'a>>,
}

impl<'a> LabelList<'a> {
    /// The document of `labels`.
    pub fn of(labels: &'a lockbox::Labels) -> Self {
        Self {
            derived: labels.derived,
            labels: label_map(labels),
            name: labels.name.as_str(),
            revision: labels.revision,
            rotation: labels.rotation.as_ref().map(|r| Rotation {
                state: r.state.as_str(),
                token: &r.token,
            }),
        }
    }
}

/// `label NAME LABEL`: the version one label names.
#[derive(Debug, Serialize)]
pub struct LabelShown<'a> {
    pub label: &'a str,
    pub name: &'a str,
    pub version: u64,
}

/// One label that moved: from and to a version (`null`: absent).
#[derive(Debug, Serialize)]
pub struct Moved<'a> {
    pub from: Option<u64>,
    pub label: &'a str,
    pub to: Option<u64>,
}

/// `label NAME LABEL=VERSION`, `label NAME LABEL --remove`.
#[derive(Debug, Serialize)]
pub struct LabelChanged<'a> {
    /// Whether anything was written (`false`: the labels already were so).
    pub changed: bool,
    /// The labels afterwards.
    pub labels: BTreeMap<&'a str, u64>,
    /// Each label that moved (`current` moving also moves `previous`).
    pub moved: Vec<Moved<'a>>,
    pub name: &'a str,
    pub revision: u64,
}

impl<'a> LabelChanged<'a> {
    /// The document of `change`.
    pub fn of(change: &'a lockbox::LabelMove) -> Self {
        Self {
            changed: change.changed(),
            labels: label_map(&change.labels),
            moved: change
                .moved
                .iter()
                .map(|(label, from, to)| Moved {
                    from: from.map(|v| v.get()),
                    label: label.as_str(),
                    to: to.map(|v| v.get()),
                })
                .collect(),
            name: change.labels.name.as_str(),
            revision: change.labels.revision,
        }
    }
}

/// `rotate start|finish|abort`: where the rotation stands after the step.
#[derive(Debug, Serialize)]
pub struct RotationStepDoc<'a> {
    /// Whether this run did anything (`false`: the step was done already).
    pub changed: bool,
    pub labels: BTreeMap<&'a str, u64>,
    pub name: &'a str,
    /// `pending`, `finished` or `aborted`.
    pub state: &'a str,
    /// `start`, `finish` or `abort`.
    pub step: &'a str,
    pub token: &'a str,
    /// The version staged, made current, or dropped.
    pub version: Option<u64>,
}

impl<'a> RotationStepDoc<'a> {
    /// The document of `step` (the step named `what`).
    pub fn of(what: &'a str, step: &'a lockbox::RotationStep) -> Self {
        Self {
            changed: step.changed,
            labels: label_map(&step.labels),
            name: step.name.as_str(),
            state: step.state.as_str(),
            step: what,
            token: &step.token,
            version: step.version.map(|v| v.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printed as declared is printed sorted: serde_json's own map (without
    /// `preserve_order`) sorts keys at every level.
    fn assert_sorted(doc: &impl Serialize) {
        let direct = serde_json::to_string_pretty(doc).unwrap();
        let sorted = serde_json::to_string_pretty(&serde_json::to_value(doc).unwrap()).unwrap();
        assert_eq!(direct, sorted, "fields out of alphabetical order");
    }

    fn item() -> ItemRef {
        ItemRef {
            name: "a".into(),
            sort_key: "0000000000000000001".into(),
        }
    }

    /// A sample of every document, by its name in docs/JSON.md.
    fn samples() -> BTreeMap<&'static str, serde_json::Value> {
        let v = |doc: &dyn erased::Doc| doc.value();
        let mut out = BTreeMap::new();
        out.insert(
            "ErrorDocument",
            v(&ErrorDocument {
                error: ErrorBody {
                    causes: vec![],
                    class: "usage",
                    code: 2,
                    hints: vec![],
                    message: "m",
                },
            }),
        );
        out.insert(
            "ErrorBody",
            v(&ErrorDocument {
                error: ErrorBody {
                    causes: vec![],
                    class: "usage",
                    code: 2,
                    hints: vec![],
                    message: "m",
                },
            })["error"]
                .clone(),
        );
        out.insert(
            "Stored",
            v(&Stored {
                name: "a",
                version: 1,
            }),
        );
        out.insert(
            "Value",
            v(&Value {
                kms_region: Some("us-east-1"),
                name: "a",
                region: Some("us-east-1"),
                value: "v",
                version: 1,
            }),
        );
        out.insert(
            "Summary",
            v(&Summary {
                comment: None,
                created_at: None,
                format: "f",
                labels: vec![],
                name: "a",
                sort_key: "1",
                version: None,
            }),
        );
        out.insert(
            "Deleted",
            v(&Deleted {
                deleted: vec![Some(1)],
                name: "a",
            }),
        );
        out.insert(
            "RolledBack",
            v(&RolledBack {
                from: 1,
                labels: None,
                name: "a",
                new_version: true,
                version: 2,
            }),
        );
        out.insert(
            "Failure",
            v(&Failure {
                error: "e",
                name: "a",
            }),
        );
        out.insert(
            "Imported",
            v(&Imported {
                failed: vec![],
                stored: vec![],
                unchanged: vec![],
            }),
        );
        out.insert(
            "PutAll",
            v(&PutAll {
                failed: vec![],
                stored: vec![],
            }),
        );
        out.insert(
            "Setup",
            v(&Setup {
                created: true,
                format: None,
                kms_key: None,
                labels: Some(SetupLabels {
                    created: true,
                    table: None,
                }),
                mode: None,
                recorded: &[],
                result: "created",
                saved_kms_region: Some("r"),
                store: None,
                table: "t",
            }),
        );
        let item = item();
        out.insert("Item", v(&items(std::slice::from_ref(&item))[0]));
        let why = vec![(item.clone(), "why".to_owned())];
        out.insert("Reasoned", v(&reasoned(&why)[0]));
        let ctx = vec![(item.clone(), None)];
        out.insert("NeedsContext", v(&needs_context(&ctx)[0]));
        out.insert(
            "Migrated",
            v(&Migrated::of("s", "t", &MigrateReport::default())),
        );
        out.insert(
            "Rewrapped",
            v(&Rewrapped::of("t", &RewrapReport::default())),
        );
        let sync = SyncReport::default();
        out.insert("Synced", v(&Synced::of("s", "t", None, &sync)));
        let mut doctor = DoctorReport::default();
        doctor.description = Some(Default::default());
        doctor.record = Some(Default::default());
        doctor.keys.push(Default::default());
        let doc = v(&Doctor::of(&doctor));
        out.insert("Description", doc["description"].clone());
        out.insert("Record", doc["record"].clone());
        out.insert("KeyCheck", doc["keys"][0].clone());
        out.insert("Inventory", doc["inventory"].clone());
        out.insert("Counts", doc["summary"].clone());
        out.insert("Doctor", doc);
        out.insert(
            "Replica",
            v(&Replica {
                region: "r",
                status: None,
            }),
        );
        let setup_labels = out["Setup"]["labels"].clone();
        out.insert("SetupLabels", setup_labels);
        out.insert(
            "Selected",
            v(&Selected {
                field: Some("/a"),
                kms_region: None,
                label: None,
                name: "a",
                region: None,
                value: "v",
                version: 1,
            }),
        );
        let list = v(&LabelList {
            derived: false,
            labels: BTreeMap::from([("current", 1)]),
            name: "a",
            revision: 1,
            rotation: Some(Rotation {
                state: "pending",
                token: "t",
            }),
        });
        out.insert("Rotation", list["rotation"].clone());
        out.insert("LabelList", list);
        out.insert(
            "LabelShown",
            v(&LabelShown {
                label: "current",
                name: "a",
                version: 1,
            }),
        );
        let changed = v(&LabelChanged {
            changed: true,
            labels: BTreeMap::from([("stable", 1)]),
            moved: vec![Moved {
                from: None,
                label: "stable",
                to: Some(1),
            }],
            name: "a",
            revision: 1,
        });
        out.insert("Moved", changed["moved"][0].clone());
        out.insert("LabelChanged", changed);
        out.insert(
            "RotationStepDoc",
            v(&RotationStepDoc {
                changed: true,
                labels: BTreeMap::new(),
                name: "a",
                state: "pending",
                step: "start",
                token: "t",
                version: Some(1),
            }),
        );
        out.insert(
            "Finding",
            v(&Finding {
                code: "c",
                hint: None,
                items: vec![],
                message: "m",
                severity: "error",
            }),
        );
        out
    }

    /// Serialize any document to a value.
    mod erased {
        pub trait Doc {
            fn value(&self) -> serde_json::Value;
        }
        impl<T: serde::Serialize> Doc for T {
            fn value(&self) -> serde_json::Value {
                serde_json::to_value(self).unwrap()
            }
        }
    }

    /// The documents and their keys as docs/JSON.md's contract table lists them.
    fn documented() -> BTreeMap<String, Vec<(String, Option<String>)>> {
        let doc = include_str!("../../../docs/JSON.md");
        let table = doc
            .split("<!-- contract:begin -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- contract:end -->").next())
            .expect("docs/JSON.md has its contract table");
        let mut out = BTreeMap::new();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let keys = cells[3]
                .split(", ")
                .map(|k| {
                    let (key, nested) = k.split_once(" (").unwrap_or((k, ""));
                    let nested = nested.trim_end_matches(')').trim_matches('*');
                    (
                        key.trim_matches('`').to_owned(),
                        (!nested.is_empty()).then(|| nested.to_owned()),
                    )
                })
                .collect();
            out.insert(name, keys);
        }
        out
    }

    /// docs/JSON.md is the contract: it lists every document the CLI prints, each
    /// with exactly the keys its struct prints, in order, and names the document a
    /// nested object or list holds.
    #[test]
    fn the_documented_contract_is_what_is_printed() {
        let documented = documented();
        let samples = samples();
        assert_eq!(
            documented.keys().map(String::as_str).collect::<Vec<_>>(),
            samples.keys().copied().collect::<Vec<_>>(),
            "docs/JSON.md and the structs name different documents"
        );
        for (name, sample) in &samples {
            let keys: Vec<&str> = sample
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let listed: Vec<&str> = documented[*name].iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, listed, "docs/JSON.md's keys of {name}");
            for (key, nested) in &documented[*name] {
                let Some(nested) = nested else { continue };
                assert!(
                    samples.contains_key(nested.as_str()),
                    "{name}.{key}: {nested}"
                );
            }
        }
    }

    #[test]
    fn every_document_prints_its_keys_in_order() {
        assert_sorted(&Summary {
            comment: None,
            created_at: Some(super::super::rfc3339(0)),
            format: "credstash",
            labels: vec!["current"],
            name: "a",
            sort_key: "1",
            version: None,
        });
        assert_sorted(&Stored {
            name: "a",
            version: 1,
        });
        assert_sorted(&Value {
            kms_region: None,
            name: "a",
            region: None,
            value: "v",
            version: 1,
        });
        assert_sorted(&Deleted {
            deleted: vec![Some(1), None],
            name: "a",
        });
        assert_sorted(&RolledBack {
            from: 1,
            labels: Some(BTreeMap::from([("current", 1)])),
            name: "a",
            new_version: false,
            version: 2,
        });
        let failures = || {
            vec![Failure {
                error: "e",
                name: "a",
            }]
        };
        let stored = || {
            vec![Stored {
                name: "b",
                version: 1,
            }]
        };
        assert_sorted(&Imported {
            failed: failures(),
            stored: stored(),
            unchanged: vec![Stored {
                name: "c",
                version: 2,
            }],
        });
        assert_sorted(&PutAll {
            failed: failures(),
            stored: stored(),
        });
        let recorded = vec!["lockbox:store".to_owned()];
        for saved in [None, Some("eu-west-1")] {
            assert_sorted(&Setup {
                created: true,
                format: Some("sealed"),
                kms_key: Some("arn"),
                labels: Some(SetupLabels {
                    created: true,
                    table: Some("t.lockbox-labels"),
                }),
                mode: Some("sealed"),
                recorded: &recorded,
                result: "created",
                saved_kms_region: saved,
                store: Some("s"),
                table: "t",
            });
        }
        let reasons = vec![(item(), "why".to_owned())];
        let contexts = vec![(item(), Some(vec!["env".to_owned()])), (item(), None)];
        let mut migrate = MigrateReport::default();
        migrate.copied.push(item());
        migrate.conflicts = reasons.clone();
        migrate.needs_context = contexts.clone();
        assert_sorted(&Migrated::of("s", "t", &migrate));
        let mut rewrap = RewrapReport::default();
        rewrap.failed = reasons.clone();
        rewrap.needs_context = contexts;
        rewrap.pin_before = Some("k".into());
        assert_sorted(&Rewrapped::of("t", &rewrap));
        let mut sync = SyncReport::default();
        sync.failed = reasons;
        sync.to_copy.push(item());
        assert_sorted(&Synced::of("s", "t", Some("r"), &sync));
        let mut doctor = DoctorReport::default();
        doctor.description = Some(Default::default());
        doctor.record = Some(Default::default());
        doctor.keys.push(Default::default());
        assert_sorted(&Doctor::of(&doctor));
        assert_sorted(&Finding {
            code: "c",
            hint: None,
            items: items(&[item()]),
            message: "m",
            severity: "error",
        });
        assert_sorted(&Replica {
            region: "r",
            status: None,
        });
    }

    #[test]
    fn label_documents_print_their_keys_in_order() {
        assert_sorted(&Selected {
            field: Some("/p"),
            kms_region: Some("eu-west-1"),
            label: Some("stable"),
            name: "a",
            region: Some("eu-west-1"),
            value: "v",
            version: 1,
        });
        assert_sorted(&LabelShown {
            label: "stable",
            name: "a",
            version: 1,
        });
        assert_sorted(&LabelList {
            derived: false,
            labels: BTreeMap::from([("current", 2), ("stable", 1)]),
            name: "a",
            revision: 3,
            rotation: Some(Rotation {
                state: "pending",
                token: "t",
            }),
        });
        assert_sorted(&LabelChanged {
            changed: true,
            labels: BTreeMap::from([("current", 2), ("previous", 1)]),
            moved: vec![Moved {
                from: Some(1),
                label: "current",
                to: Some(2),
            }],
            name: "a",
            revision: 4,
        });
        assert_sorted(&RotationStepDoc {
            changed: false,
            labels: BTreeMap::new(),
            name: "a",
            state: "finished",
            step: "finish",
            token: "t",
            version: Some(2),
        });
    }
}
