//! `doctor`: a report on the table an operator can act on. No value is printed.

use anyhow::{Context as _, Result};
use lockbox::lifecycle::doctor::{DoctorOptions, DoctorReport, Finding, RegionKeys, Severity};
use lockbox::lifecycle::ItemRef;

use super::lifecycle::{self, INCOMPLETE};
use super::Ctx;
use crate::args::{DoctorArgs, FailOn, OutputMode};

pub async fn run(ctx: &Ctx, args: &DoctorArgs) -> Result<()> {
    let options = lifecycle::run_options(ctx, Some(&args.select), None, false)?;
    let mut doctor = DoctorOptions::new(args.verify);
    doctor.regions = replica_regions(ctx).await?;
    let report = ctx
        .lockbox
        .doctor(&doctor, &options)
        .await
        .with_context(|| format!("cannot inspect table {}", ctx.table))?;
    drop(options);
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&crate::output::json::Doctor::of(&report))?,
        OutputMode::Text => print_text(&report),
    }
    let threshold = match args.fail_on {
        FailOn::Warning => Severity::Warning,
        FailOn::Error => Severity::Error,
    };
    match report.worst() {
        Some(worst) if worst >= threshold => Err(crate::exit::coded(
            INCOMPLETE,
            format!(
                "doctor found {} at or above --fail-on {} in table {} (listed above)",
                counts(&report),
                threshold,
                ctx.table
            ),
        )),
        _ => Ok(()),
    }
}

/// The key readers use in each other region the table is read in: its
/// replicas, and the regions of --regions.
async fn replica_regions(ctx: &Ctx) -> Result<Vec<RegionKeys>> {
    let Ok(description) = ctx.lockbox.secret_store().describe_table().await else {
        // Doctor reports why itself.
        return Ok(Vec::new());
    };
    let here = description.region.clone().unwrap_or_default();
    let mut others: Vec<String> = Vec::new();
    let named = description.replicas.iter().map(|r| &r.region);
    for region in named.chain(&ctx.aws.regions) {
        if *region != here && !others.contains(region) {
            others.push(region.clone());
        }
    }
    let mut out = Vec::new();
    for region in others {
        // The key as readers there name it: a multi-Region key's ARN becomes
        // its replica's there; an alias is resolved there. One that does not
        // exist there is checked anyway, and fails.
        let key = lockbox::backend::key_in_region(&ctx.aws.kms_key, &region);
        let lockbox =
            lifecycle::lockbox_for(ctx, &ctx.table, &key, Some(&region), None, &ctx.reading)
                .await?;
        out.push(RegionKeys {
            region,
            keys: lockbox.key_service(),
        });
    }
    Ok(out)
}

fn counts(report: &DoctorReport) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {}",
        plural(report.count(Severity::Error), "error", "errors"),
        plural(report.count(Severity::Warning), "warning", "warnings")
    )
}

fn print_text(report: &DoctorReport) {
    let esc = |s: &str| lockbox::escape_untrusted(s).into_owned();
    let opt = |v: &Option<String>| v.as_deref().map_or("-".into(), esc);
    println!("Table {}", esc(&report.table));
    if let Some(d) = &report.description {
        println!(
            "  {} · {} · billing {} · point-in-time recovery {} · deletion protection {}",
            opt(&d.arn),
            opt(&d.status),
            opt(&d.billing_mode),
            on_off(d.point_in_time_recovery),
            on_off(d.deletion_protection),
        );
        if !d.replicas.is_empty() {
            let regions: Vec<String> = d.replicas.iter().map(|r| esc(&r.region)).collect();
            println!("  replicas: {}", regions.join(", "));
        }
    }
    if let Some(r) = &report.record {
        println!(
            "  records mode {} · store {} · key {}",
            opt(&r.mode),
            opt(&r.store),
            opt(&r.key_arn)
        );
    }
    for k in &report.keys {
        let place = k
            .region
            .as_deref()
            .map(|r| format!(" in {r}"))
            .unwrap_or_default();
        match &k.error {
            None => println!(
                "Key{place}: {} ({}), round trip ok",
                opt(&k.arn),
                opt(&k.state)
            ),
            Some(e) => println!("Key{place}: {} — {}", opt(&k.arn), esc(e)),
        }
    }
    let inv = &report.inventory;
    let map = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, n)| format!("{} {n}", esc(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("Items: {} ({})", inv.items, map(&inv.formats));
    if inv.hmac_string + inv.hmac_binary > 0 {
        println!(
            "  credstash: hmac as string {}, as binary {}, upper-case {}; digests: {}",
            inv.hmac_string,
            inv.hmac_binary,
            inv.hmac_uppercase,
            map(&inv.digests)
        );
    }
    println!(
        "  versions: padded {}, unpadded {}, not numbers {}, zero {}; comments {}; sealed \
         with a context {}",
        inv.versions_padded,
        inv.versions_unpadded,
        inv.versions_non_numeric,
        inv.versions_zero,
        inv.comments,
        inv.context_bound
    );
    if !inv.stores.is_empty() {
        println!("  sealed items by store: {}", map(&inv.stores));
    }
    if report.verified {
        println!(
            "  verified: {} decrypted and checked; {} credstash values not UTF-8",
            inv.verified, inv.binary_values
        );
    }
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        println!();
        println!(
            "{} ({}):",
            match severity {
                Severity::Error => "Errors",
                Severity::Warning => "Warnings",
                Severity::Info => "Notes",
            },
            group.len()
        );
        for f in group {
            let count = if f.items.is_empty() {
                String::new()
            } else {
                format!(
                    " [{} item{}]",
                    f.items.len(),
                    if f.items.len() == 1 { "" } else { "s" }
                )
            };
            println!("  {}{count}: {}", f.code, esc(&f.message));
            if !f.items.is_empty() {
                let shown: Vec<String> = f.items.iter().take(10).map(ItemRef::to_string).collect();
                let more = f.items.len().saturating_sub(10);
                println!(
                    "    {}{}",
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more (-o json lists them all)")
                    } else {
                        String::new()
                    }
                );
            }
            if let Some(h) = &f.hint {
                println!("    fix: {}", esc(h));
            }
        }
    }
    println!();
    println!(
        "{}, {}",
        counts(report),
        match report.count(Severity::Info) {
            1 => "1 note".to_owned(),
            n => format!("{n} notes"),
        }
    );
}

fn on_off(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    }
}
