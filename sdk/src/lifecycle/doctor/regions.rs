//! Doctor's checks of each other region a global table is read in: the table
//! has a replica there, the key has one (a multi-Region key's replica, under
//! the same `mrk-` id), and the key readers there name (an alias is resolved
//! in each region) is the same multi-Region key as everywhere else. Each
//! finding names the regions and the keys.

use super::{probe_key, DoctorReport, Findings, KeyCheck, RegionKeys, Severity};
use crate::backend::{is_multi_region_key, key_in_region, same_key_any_region};
use crate::lifecycle::Pacer;

/// Checks the key in each of `regions` against `pin` (the table's key), else
/// the key the lockbox's own region resolved; returns each region's key check
/// and whether a finding of its own already says what is wrong with it.
pub(super) async fn check(
    regions: &[RegionKeys],
    report: &DoctorReport,
    pin: Option<&str>,
    pacer: &Pacer,
    findings: &mut Findings,
) -> Vec<(KeyCheck, bool)> {
    let reference: Option<String> = pin
        .map(str::to_owned)
        .or_else(|| report.keys.first().and_then(|k| k.arn.clone()));
    let mut no_table: Vec<&str> = Vec::new();
    let mut no_key: Vec<String> = Vec::new();
    let mut differs: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for r in regions {
        if let Some(d) = &report.description {
            let listed = d.replicas.iter().any(|x| x.region == r.region)
                || d.region.as_deref() == Some(r.region.as_str());
            if !listed {
                no_table.push(&r.region);
            }
        }
        let (check, missing) = probe_key(r.keys.as_ref(), Some(r.region.clone()), pacer).await;
        let mut explained = false;
        if let Some(key) = missing {
            no_key.push(format!("{} ({key} does not exist there)", r.region));
            explained = true;
        } else if let (Some(want), Some(got)) = (&reference, &check.arn) {
            if !same_key_any_region(want, got) {
                differs.push(format!("in {} it is {got}", r.region));
            }
        }
        out.push((check, explained));
    }
    if !no_table.is_empty() {
        findings.note(
            Severity::Error,
            "region-no-table-replica",
            format!(
                "the table has no replica in {}, where it is read: reads there fail",
                no_table.join(", ")
            ),
            Some("`lockbox setup --regions HOME,R2,...` adds the missing replicas"),
        );
    }
    if !no_key.is_empty() {
        let hint = match &reference {
            Some(key) if is_multi_region_key(key) => format!(
                "replicate the key into each region: `aws kms replicate-key --key-id {key} \
                 --replica-region REGION` (and create the alias there, if readers name one)"
            ),
            Some(key) => format!(
                "{key} is a single-Region key, which has no replicas: move the table to a \
                 multi-Region key (`aws kms create-key --multi-region`, then `lockbox rewrap \
                 --to-key`), or read with --kms-region set to the key's region"
            ),
            None => "create the key (or the alias readers name) in each region".to_owned(),
        };
        findings.note(
            Severity::Error,
            "key-no-replica",
            format!(
                "the KMS key has no replica in {}: readers there cannot unwrap any data key \
                 (they fail closed)",
                no_key.join(", ")
            ),
            Some(&hint),
        );
    }
    if let (false, Some(want)) = (differs.is_empty(), &reference) {
        findings.note(
            Severity::Error,
            "key-differs-by-region",
            format!(
                "the key readers name is not the same multi-Region key in every region: the \
                 table's key is {want}, but {}; reads there are refused (untrusted key)",
                differs.join(", ")
            ),
            Some(&format!(
                "point the alias in each region at the replica of the same mrk- key (`aws kms \
                 update-alias --region REGION`), or name the key by its ARN with -k ({})",
                key_in_region(want, "REGION")
            )),
        );
    }
    out
}
